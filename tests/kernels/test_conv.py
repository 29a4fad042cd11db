"""The convolution family (kernels/conv/) on every CPU backend, against the loops.

The contract is kernels/conv/reference.py's loops (one output position at a
time); every backend, the numpy one included (im2col + matmul), is checked
against them in float64 on awkward shapes: 1x1 and even kernels, odd sizes,
strides larger than the kernel, "same" with even kernels, 1, 3 and odd channel
counts, batch 1, and the chapter 8 convnet's layers.  The derivatives are
checked against central finite differences, and conv2d / max_pool2d against an
independent formula written from Keras's documented layout and padding rule.
"""

import math

import numpy as np
import pytest

import tapegrad.kernels as K
from tapegrad.kernels.conv import reference as ref
from tapegrad.kernels.conv.geometry import output_shape_2d

from finite_differences import central_differences

CPU_BACKENDS = ["numpy", "numba", "cython"]
DTYPES = [np.float32, np.float64]

# (N, H, W, C, KH, KW, F, strides, padding)
CONV_CASES = [
    (1, 5, 5, 1, 1, 1, 1, 1, "valid"),          # 1x1 kernel, one channel, one filter
    (2, 6, 7, 3, 2, 2, 5, 1, "valid"),          # even kernel, odd width
    (2, 7, 6, 3, 2, 2, 4, 1, "same"),           # "same" with an even kernel: odd pad after
    (3, 9, 8, 5, 3, 3, 7, 2, "same"),
    (1, 10, 11, 3, 2, 3, 6, (3, 4), "valid"),   # stride larger than the kernel
    (2, 11, 10, 7, 1, 1, 33, (2, 3), "same"),   # 1x1 strided, "same"
    (1, 5, 5, 7, 5, 5, 3, 1, "valid"),          # kernel as large as the input
    (2, 4, 4, 3, 3, 3, 17, (1, 2), "same"),
    (1, 3, 3, 2, 4, 4, 5, 1, "same"),           # kernel larger than the input, "same"
    (2, 28, 28, 1, 3, 3, 32, 1, "valid"),       # conv1 of chapter 8
    (3, 13, 13, 32, 3, 3, 64, 1, "valid"),      # conv2
    (2, 5, 5, 64, 3, 3, 128, 1, "valid"),       # conv3
    (5, 12, 9, 13, 3, 3, 37, 1, "same"),        # odd channels, filters past a register tile
    (9, 16, 15, 3, 5, 4, 50, 2, "same"),        # a larger batch, odd everything
]

POOL_CASES = [  # (N, H, W, C, pool, strides, padding)
    (2, 6, 6, 3, (2, 2), None, "valid"),
    (1, 7, 5, 1, (2, 2), None, "valid"),        # odd sizes: the last row/column dropped
    (2, 7, 5, 4, (2, 2), None, "same"),         # odd sizes, "same": edge windows are short
    (3, 9, 8, 5, (3, 3), (2, 2), "same"),       # overlapping windows
    (2, 8, 9, 3, (3, 2), (1, 3), "valid"),      # stride larger than the pool
    (1, 4, 4, 2, (1, 1), None, "valid"),        # 1x1 pool: identity
    (4, 26, 26, 32, (2, 2), None, "valid"),     # after conv1 of chapter 8
    (3, 5, 6, 7, (5, 6), None, "valid"),        # the whole image
]


def available(backend):
    if backend not in K.available_backends():
        pytest.skip(f"backend {backend!r} is not available here")
    return backend


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    return available(request.param)


def conv_args(case, dtype, seed=0):
    n, h, w, c, kh, kw, f, strides, padding = case
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, h, w, c)).astype(dtype)
    k = r.standard_normal((kh, kw, c, f)).astype(dtype)
    b = r.standard_normal(f).astype(dtype)
    return x, k, b, strides, padding


def geometry(x_shape, window, strides, padding):
    s = (strides, strides) if isinstance(strides, int) else strides
    return s, output_shape_2d(x_shape[1], x_shape[2], window, s, padding)


def assert_close(ours, exact, scale, dtype, terms):
    """|ours - exact| within a few ulps of ``scale`` (the sum of |products|)."""
    assert ours.dtype == dtype
    assert ours.shape == exact.shape
    bound = 32 * np.finfo(dtype).eps * max(1.0, math.sqrt(terms)) * scale + np.finfo(dtype).tiny
    excess = np.abs(ours.astype(np.float64) - exact) - bound
    assert excess.size == 0 or excess.max() <= 0, f"max error {np.abs(ours - exact).max():.3g}"


# ---------------------------------------------------------------- convolution
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_matches_loops(backend, case, dtype):
    x, w, b, strides, padding = conv_args(case, dtype)
    s, ((oh, ow), pads) = geometry(x.shape, w.shape[:2], strides, padding)
    for bias, act in ((b, "relu"), (None, None)):
        ours = K.conv2d(x, w, bias, strides=strides, padding=padding, activation=act, backend=backend)
        out = np.empty((x.shape[0], oh, ow, w.shape[3]))
        exact = ref.conv2d_loops(x.astype(np.float64), w.astype(np.float64),
                                 None if bias is None else bias.astype(np.float64), s, pads, act == "relu", out)
        scale = ref.conv2d_loops(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64),
                                 None if bias is None else np.abs(bias).astype(np.float64), s, pads, False,
                                 np.empty_like(out))
        assert_close(ours, exact, scale, dtype, w.shape[0] * w.shape[1] * w.shape[2])
        if act == "relu":
            assert (ours >= 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_input_grad_matches_loops(backend, case, dtype):
    x, w, _, strides, padding = conv_args(case, dtype)
    s, ((oh, ow), pads) = geometry(x.shape, w.shape[:2], strides, padding)
    g = np.random.default_rng(1).standard_normal((x.shape[0], oh, ow, w.shape[3])).astype(dtype)
    ours = K.conv2d_input_grad(g, w, x.shape, strides=strides, padding=padding, backend=backend)
    exact = ref.conv2d_input_grad_loops(g.astype(np.float64), w.astype(np.float64), s, pads,
                                        np.empty(x.shape))
    scale = ref.conv2d_input_grad_loops(np.abs(g).astype(np.float64), np.abs(w).astype(np.float64), s, pads,
                                        np.empty(x.shape))
    assert_close(ours, exact, scale, dtype, w.shape[0] * w.shape[1] * w.shape[3])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_kernel_grad_matches_loops(backend, case, dtype):
    x, w, _, strides, padding = conv_args(case, dtype)
    s, ((oh, ow), pads) = geometry(x.shape, w.shape[:2], strides, padding)
    g = np.random.default_rng(1).standard_normal((x.shape[0], oh, ow, w.shape[3])).astype(dtype)
    ours = K.conv2d_kernel_grad(g, x, w.shape, strides=strides, padding=padding, backend=backend)
    exact = ref.conv2d_kernel_grad_loops(g.astype(np.float64), x.astype(np.float64), s, pads,
                                         np.empty(w.shape))
    scale = ref.conv2d_kernel_grad_loops(np.abs(g).astype(np.float64), np.abs(x).astype(np.float64), s, pads,
                                         np.empty(w.shape))
    assert_close(ours, exact, scale, dtype, x.shape[0] * oh * ow)


@pytest.mark.parametrize("case", [CONV_CASES[1], CONV_CASES[2], CONV_CASES[4], CONV_CASES[8]], ids=str)
def test_conv2d_derivatives_match_finite_differences(backend, case):
    """d/dx and d/dw of sum(conv2d(x, w) * g) against central differences."""
    x, w, b, strides, padding = conv_args(case, np.float64, seed=3)
    out = K.conv2d(x, w, b, strides=strides, padding=padding, backend=backend)
    g = np.random.default_rng(4).standard_normal(out.shape)

    def loss_x(xv):
        return float(np.sum(K.conv2d(xv, w, b, strides=strides, padding=padding, backend=backend) * g))

    def loss_w(wv):
        return float(np.sum(K.conv2d(x, wv, b, strides=strides, padding=padding, backend=backend) * g))

    dx = K.conv2d_input_grad(g, w, x.shape, strides=strides, padding=padding, backend=backend)
    dw = K.conv2d_kernel_grad(g, x, w.shape, strides=strides, padding=padding, backend=backend)
    np.testing.assert_allclose(dx, central_differences(loss_x, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dw, central_differences(loss_w, w), rtol=1e-6, atol=1e-7)


def test_conv2d_out_argument_and_aliasing(backend):
    x, w, b, strides, padding = conv_args(CONV_CASES[3], np.float32)
    expected = K.conv2d(x, w, b, strides=strides, padding=padding, backend="numpy")
    out = np.full(expected.shape, np.nan, np.float32)
    got = K.conv2d(x, w, b, strides=strides, padding=padding, out=out, backend=backend)
    assert got is out
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    # out over the input's own memory: computed into a temporary, then copied
    x2 = np.random.default_rng(0).standard_normal((1, 4, 4, 2)).astype(np.float32)
    w2 = np.random.default_rng(1).standard_normal((1, 1, 2, 2)).astype(np.float32)
    expected = K.conv2d(x2, w2, backend="numpy")
    K.conv2d(x2, w2, out=x2, backend=backend)
    np.testing.assert_allclose(x2, expected, rtol=1e-5, atol=1e-5)


def test_conv2d_non_contiguous_inputs(backend):
    r = np.random.default_rng(5)
    x = r.standard_normal((2, 7, 7, 6))[:, :, :, ::2]        # strided channels
    w = np.asfortranarray(r.standard_normal((3, 3, 3, 4)))
    np.testing.assert_allclose(K.conv2d(x, w, backend=backend),
                               ref.conv2d_loops(x, w, None, (1, 1), (0, 0), False, np.empty((2, 5, 5, 4))),
                               rtol=1e-12, atol=1e-12)


def test_conv2d_zero_sizes(backend):
    x = np.zeros((0, 5, 5, 3)); w = np.ones((3, 3, 3, 2))
    assert K.conv2d(x, w, backend=backend).shape == (0, 3, 3, 2)
    x = np.ones((2, 5, 5, 0)); w = np.ones((3, 3, 0, 2)); b = np.array([-1.0, 2.0])
    np.testing.assert_array_equal(K.conv2d(x, w, b, activation="relu", backend=backend),
                                  np.broadcast_to([0.0, 2.0], (2, 3, 3, 2)))
    g = np.zeros((0, 3, 3, 2))
    assert K.conv2d_kernel_grad(g, np.zeros((0, 5, 5, 3)), (3, 3, 3, 2), backend=backend).tolist() == \
        np.zeros((3, 3, 3, 2)).tolist()


# ---------------------------------------------------------------- pooling
def pool_input(case, dtype, seed=0):
    n, h, w, c = case[:4]
    # distinct values: no ties, so finite differences see one maximum per window
    x = np.random.default_rng(seed).permutation(n * h * w * c).reshape(n, h, w, c)
    return (x / x.size - 0.5).astype(dtype)


def pool_geometry(case, x_shape):
    pool, strides, padding = case[4:]
    s = pool if strides is None else strides
    return s, output_shape_2d(x_shape[1], x_shape[2], pool, s, padding)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pools_match_loops(backend, case, dtype):
    x = pool_input(case, dtype)
    pool, strides, padding = case[4:]
    s, ((oh, ow), pads) = pool_geometry(case, x.shape)
    kw = dict(pool_size=pool, strides=strides, padding=padding, backend=backend)
    g = np.random.default_rng(2).standard_normal((x.shape[0], oh, ow, x.shape[3])).astype(dtype)
    out_shape = (x.shape[0], oh, ow, x.shape[3])
    np.testing.assert_array_equal(K.max_pool2d(x, **kw), ref.max_pool2d(x, pool, s, pads, np.empty(out_shape, dtype)))
    tol = dict(rtol=4 * np.finfo(dtype).eps * pool[0] * pool[1], atol=4 * np.finfo(dtype).eps)
    np.testing.assert_allclose(K.max_pool2d_backward(g, x, **kw),
                               ref.max_pool2d_backward(g, x, pool, s, pads, np.empty(x.shape, dtype)), **tol)
    np.testing.assert_allclose(K.avg_pool2d(x, **kw),
                               ref.avg_pool2d(x.astype(np.float64), pool, s, pads, np.empty(out_shape)), **tol)
    np.testing.assert_allclose(K.avg_pool2d_backward(g, x.shape, **kw),
                               ref.avg_pool2d_backward(g.astype(np.float64), pool, s, pads, np.empty(x.shape)),
                               **tol)


@pytest.mark.parametrize("case", [POOL_CASES[2], POOL_CASES[3], POOL_CASES[4]], ids=str)
def test_pool_derivatives_match_finite_differences(backend, case):
    x = pool_input(case, np.float64, seed=7)
    pool, strides, padding = case[4:]
    kw = dict(pool_size=pool, strides=strides, padding=padding, backend=backend)
    g = np.random.default_rng(8).standard_normal(K.max_pool2d(x, **kw).shape)
    eps = 0.1 / x.size   # below half the gap between distinct values: the argmax never moves
    fd_max = central_differences(lambda v: float(np.sum(K.max_pool2d(v, **kw) * g)), x, eps=eps)
    fd_avg = central_differences(lambda v: float(np.sum(K.avg_pool2d(v, **kw) * g)), x, eps=eps)
    np.testing.assert_allclose(K.max_pool2d_backward(g, x, **kw), fd_max, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(K.avg_pool2d_backward(g, x.shape, **kw), fd_avg, rtol=1e-6, atol=1e-8)


def test_max_pool_ties_and_nan(backend):
    """Ties: the gradient goes to the first maximum in row-major order; a NaN
    in a window makes its output NaN and takes the gradient (np.argmax)."""
    x = np.zeros((1, 2, 4, 1))
    x[0, :, :, 0] = [[1.0, 3.0, 2.0, np.nan],
                     [3.0, 3.0, 5.0, np.nan]]
    kw = dict(pool_size=2, strides=2, padding="valid", backend=backend)
    out = K.max_pool2d(x, **kw)
    assert out[0, 0, 0, 0] == 3.0 and np.isnan(out[0, 0, 1, 0])
    dx = K.max_pool2d_backward(np.array([[[[10.0], [20.0]]]]), x, **kw)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 10, 0, 20], [0, 0, 0, 0]])


# ---------------------------------------------------------------- Keras's rules
def keras_conv2d(x, w, b, stride, padding):
    """Conv2D as Keras documents it, written independently: output size
    ceil((H - KH + 1) / s) for "valid" and ceil(H / s) for "same", where the
    input is padded by max((out-1)*s + KH - H, 0) split with the extra row at
    the bottom/right; out[n,i,j,f] = b[f] + sum x[n, i*s+p-top, j*s+q-left, c] w[p,q,c,f]."""
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    def axis(size, k):
        if padding == "valid":
            return math.ceil((size - k + 1) / stride), 0
        o = math.ceil(size / stride)
        return o, max((o - 1) * stride + k - size, 0) // 2
    (oh, top), (ow, left) = axis(h, kh), axis(wd, kw)
    out = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            for p in range(kh):
                for q in range(kw):
                    r, s = i * stride + p - top, j * stride + q - left
                    if 0 <= r < h and 0 <= s < wd:
                        out[:, i, j, :] += x[:, r, s, :] @ w[p, q]
    return out + b


def keras_max_pool(x, pool, stride, padding):
    n, h, wd, c = x.shape
    def axis(size):
        if padding == "valid":
            return math.ceil((size - pool + 1) / stride), 0
        o = math.ceil(size / stride)
        return o, max((o - 1) * stride + pool - size, 0) // 2
    (oh, top), (ow, left) = axis(h), axis(wd)
    out = np.full((n, oh, ow, c), -np.inf)
    for i in range(oh):
        for j in range(ow):
            for p in range(pool):
                for q in range(pool):
                    r, s = i * stride + p - top, j * stride + q - left
                    if 0 <= r < h and 0 <= s < wd:
                        out[:, i, j, :] = np.maximum(out[:, i, j, :], x[:, r, s, :])
    return out


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("kernel", [1, 2, 3, 4])
def test_conv2d_and_max_pool_follow_keras_rules(backend, padding, stride, kernel):
    r = np.random.default_rng(kernel * 10 + stride)
    x = r.standard_normal((2, 9, 8, 3))
    w = r.standard_normal((kernel, kernel, 3, 4))
    b = r.standard_normal(4)
    np.testing.assert_allclose(K.conv2d(x, w, b, strides=stride, padding=padding, backend=backend),
                               keras_conv2d(x, w, b, stride, padding), rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(
        K.max_pool2d(x, pool_size=kernel, strides=stride, padding=padding, backend=backend),
        keras_max_pool(x, kernel, stride, padding))


def test_keras_mnist_convnet_shapes():
    """The book's convnet: 28 -> 26 -> 13 -> 11 -> 5 -> 3 (Keras's summary)."""
    x = np.zeros((1, 28, 28, 1), np.float32)
    x = K.conv2d(x, np.zeros((3, 3, 1, 32), np.float32), backend="numpy")
    assert x.shape == (1, 26, 26, 32)
    x = K.max_pool2d(x, backend="numpy")
    assert x.shape == (1, 13, 13, 32)
    x = K.max_pool2d(K.conv2d(x, np.zeros((3, 3, 32, 64), np.float32), backend="numpy"), backend="numpy")
    assert x.shape == (1, 5, 5, 64)
    assert K.conv2d(x, np.zeros((3, 3, 64, 128), np.float32), backend="numpy").shape == (1, 3, 3, 128)


# ---------------------------------------------------------------- bad input
X = np.zeros((2, 5, 5, 3), np.float32)
W = np.zeros((3, 3, 3, 4), np.float32)


@pytest.mark.parametrize("call, error, message", [
    (lambda: K.conv2d(X, np.zeros((6, 3, 3, 4), np.float32)), ValueError, r"kernel 6x3 is larger than the input 5x5"),
    (lambda: K.conv2d(X, np.zeros((3, 3, 2, 4), np.float32)), ValueError, r"3 channels .* expects 2"),
    (lambda: K.conv2d(X[0], W), ValueError, r"x must be 4-D"),
    (lambda: K.conv2d(X, W[0]), ValueError, r"w must be 4-D"),
    (lambda: K.conv2d(X, W, strides=0), ValueError, r"strides must be positive"),
    (lambda: K.conv2d(X, W, strides=(1, -2)), ValueError, r"strides must be positive"),
    (lambda: K.conv2d(X, W, strides=(1, 2, 3)), ValueError, r"strides must be an int or a pair"),
    (lambda: K.conv2d(X, W, strides=1.5), TypeError, r"strides must be an int"),
    (lambda: K.conv2d(X, W, padding="full"), ValueError, r"padding must be 'valid' or 'same'"),
    (lambda: K.conv2d(X, W.astype(np.float64)), TypeError, r"w has dtype float64 .* float32"),
    (lambda: K.conv2d(X, W, np.zeros(4)), TypeError, r"b has dtype float64"),
    (lambda: K.conv2d(X, W, np.zeros(5, np.float32)), ValueError, r"b has shape \(5,\), expected \(4,\)"),
    (lambda: K.conv2d(X.astype(int), W), TypeError, r"x has dtype int64"),
    (lambda: K.conv2d(X, W, activation="tanh"), ValueError, r"activation must be 'relu' or None"),
    (lambda: K.conv2d(X, W, out=np.zeros((2, 3, 3, 5), np.float32)), ValueError, r"out has shape"),
    (lambda: K.conv2d_input_grad(np.zeros((2, 3, 3, 4), np.float32), W, (2, 5, 5, 2)), ValueError, r"channels"),
    (lambda: K.conv2d_input_grad(np.zeros((2, 4, 3, 4), np.float32), W, X.shape), ValueError,
     r"grad_out has shape \(2, 4, 3, 4\), expected \(2, 3, 3, 4\)"),
    (lambda: K.conv2d_input_grad(np.zeros((2, 3, 3, 4)), W, X.shape), TypeError, r"grad_out has dtype float64"),
    (lambda: K.conv2d_input_grad(np.zeros((2, 3, 3, 4), np.float32), W, (2, 5, 5)), ValueError, r"input_shape"),
    (lambda: K.conv2d_kernel_grad(np.zeros((2, 3, 3, 4), np.float32), X, (3, 3, 3, 5)), ValueError,
     r"grad_out has shape"),
    (lambda: K.conv2d_kernel_grad(np.zeros((2, 3, 3, 4), np.float32), X, (9, 3, 3, 4)), ValueError,
     r"larger than the input"),
    (lambda: K.max_pool2d(X, pool_size=6), ValueError, r"pool window 6x6 is larger than the input 5x5"),
    (lambda: K.max_pool2d(X, pool_size=0), ValueError, r"pool_size must be positive"),
    (lambda: K.max_pool2d(X, strides=(0, 1)), ValueError, r"strides must be positive"),
    (lambda: K.max_pool2d(X[0]), ValueError, r"x must be 4-D"),
    (lambda: K.avg_pool2d(X, padding="SAMEISH"), ValueError, r"padding must be"),
    (lambda: K.max_pool2d_backward(np.zeros((2, 2, 2, 3)), X), TypeError, r"grad_out has dtype float64"),
    (lambda: K.max_pool2d_backward(np.zeros((2, 3, 2, 3), np.float32), X), ValueError, r"grad_out has shape"),
    (lambda: K.avg_pool2d_backward(np.zeros((2, 2, 2, 3), np.float32), (2, 5, 5, 4)), ValueError,
     r"grad_out has shape"),
])
def test_bad_input_is_a_clear_error(backend, call, error, message):
    with K.use(backend):
        with pytest.raises(error, match=message):
            call()


def test_padding_is_case_insensitive_and_strides_default_to_pool():
    x = np.random.default_rng(0).standard_normal((1, 6, 6, 2))
    np.testing.assert_array_equal(K.max_pool2d(x, pool_size=3, padding="VALID", backend="numpy"),
                                  K.max_pool2d(x, pool_size=3, strides=3, backend="numpy"))


# ---------------------------------------------------------------- threads, CUDA
@pytest.mark.parametrize("name", ["numba", "cython"])
def test_one_and_two_threads_agree(name):
    """The parallel paths (row blocks; the kernel gradient's per-thread
    partial sums) give the one-thread answer, on the convnet's middle layer."""
    available(name)
    x, w, b, strides, padding = conv_args(CONV_CASES[10], np.float64)
    g = np.random.default_rng(1).standard_normal((3, 11, 11, 64))
    results = []
    try:
        for threads in (1, 2):
            K.set_num_threads(threads)
            results.append((K.conv2d(x, w, b, backend=name), K.conv2d_input_grad(g, w, x.shape, backend=name),
                            K.conv2d_kernel_grad(g, x, w.shape, backend=name)))
    finally:
        K.set_num_threads("auto")
    for one, two in zip(*results):
        np.testing.assert_allclose(one, two, rtol=1e-12, atol=1e-12)


@pytest.mark.cudasim
def test_cuda_conv_kernels_under_the_simulator():
    """tests/kernels/cuda_sim_conv_cases.py in a child pytest (the simulator must be on
    before numba is imported, and this process has imported it)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("TAPEGRAD_BACKEND", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", str(here / "cuda_sim_conv_cases.py"), "-q",
                           "-p", "no:cacheprovider", "-o", "addopts=-ra"],
                          cwd=here.parent, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"simulator cases failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert " passed" in proc.stdout and "skipped" not in proc.stdout.splitlines()[-1], proc.stdout[-2000:]
