"""Every CPU backend against plain NumPy formulas, on awkward shapes.

The references below are written out here (not taken from the numpy
backend), so the numpy backend is tested too.  Shapes include 1s, primes,
non-multiples of every tile size, the MLP's shapes, non-contiguous and
read-only inputs, and both float dtypes.  Derivatives are checked against
central finite differences in float64.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tapegrad.kernels as K
from tapegrad.kernels import _dispatch

CPU_BACKENDS = ["numpy", "numba", "cython"]
DTYPES = [np.float32, np.float64]

SHAPES = [  # (m, k, n) for op(a) (m x k) @ op(b) (k x n)
    (1, 1, 1), (1, 7, 1), (3, 1, 5), (17, 31, 33), (129, 257, 65),
    (8, 16, 16), (13, 384, 17), (97, 1000, 23),
    (128, 784, 512), (784, 128, 512), (128, 512, 10), (128, 10, 512),
]


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    return request.param


def rng(seed=0):
    return np.random.default_rng(seed)


def tolerance(dtype, k=1):
    """Relative-to-scale tolerance for a sum of k products."""
    eps = np.finfo(dtype).eps
    return 8 * eps * max(1.0, np.sqrt(k)) * 4


def assert_close_gemm(ours, ref, a_abs_b_abs, dtype, k):
    """|ours - ref| within a few ulps of sum |a||b|, element by element."""
    assert ours.shape == ref.shape
    assert ours.dtype == dtype
    err = np.abs(ours.astype(np.float64) - ref)
    bound = tolerance(dtype, k) * a_abs_b_abs + np.finfo(dtype).tiny
    worst = np.max(err - bound) if err.size else -1
    assert worst <= 0, f"max error {err.max():.3g} exceeds bound (k={k}, dtype={np.dtype(dtype)})"


def operands(m, k, n, ta, tb, dtype, seed=0):
    r = rng(seed)
    a = r.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = r.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return a, b


def reference_matmul(a, b, ta, tb):
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    a64 = a64.T if ta else a64
    b64 = b64.T if tb else b64
    return a64 @ b64, np.abs(a64) @ np.abs(b64)


# ------------------------------------------------------------------ matmul
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_matmul_matches_reference(backend, dtype, m, k, n):
    a, b = operands(m, k, n, False, False, dtype)
    ref, scale = reference_matmul(a, b, False, False)
    assert_close_gemm(K.matmul(a, b, backend=backend), ref, scale, dtype, k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, True), (True, False), (True, True)])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (17, 31, 33), (129, 257, 65),
                                   (784, 128, 512), (128, 512, 10), (512, 128, 10)])
def test_matmul_transposes(backend, dtype, ta, tb, m, k, n):
    a, b = operands(m, k, n, ta, tb, dtype, seed=1)
    ref, scale = reference_matmul(a, b, ta, tb)
    ours = K.matmul(a, b, transpose_a=ta, transpose_b=tb, backend=backend)
    assert_close_gemm(ours, ref, scale, dtype, k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_noncontiguous_and_readonly(backend, dtype):
    r = rng(2)
    big_a = r.standard_normal((40, 70)).astype(dtype)
    big_b = r.standard_normal((70, 90)).astype(dtype)
    a = big_a[::2, 1::3]          # strided view, neither C nor F ordered
    b = big_b[:a.shape[1], ::2]
    a_f = np.asfortranarray(r.standard_normal((19, 23)).astype(dtype))
    b_ro = r.standard_normal((23, 11)).astype(dtype)
    b_ro.flags.writeable = False
    for x, y in ((a, b), (a_f, b_ro), (a_f.T.T, b_ro), (b_ro.T, a_f.T)):
        ref, scale = reference_matmul(x, y, False, False)
        assert_close_gemm(K.matmul(x, y, backend=backend), ref, scale, dtype, x.shape[1])


def test_matmul_out_argument(backend):
    a, b = operands(5, 6, 7, False, False, np.float32)
    out = np.full((5, 7), np.nan, np.float32)
    result = K.matmul(a, b, out=out, backend=backend)
    assert result is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"out has shape \(5, 6\)"):
        K.matmul(a, b, out=np.empty((5, 6), np.float32), backend=backend)
    with pytest.raises(ValueError, match="C-contiguous"):
        K.matmul(a, b, out=np.empty((7, 5), np.float32).T, backend=backend)


@pytest.mark.parametrize("m,k,n", [(0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0)])
def test_matmul_empty_dimensions(backend, m, k, n):
    a = np.ones((m, k), np.float32)
    b = np.ones((k, n), np.float32)
    out = K.matmul(a, b, backend=backend)
    assert out.shape == (m, n)
    np.testing.assert_array_equal(out, np.zeros((m, n), np.float32))


def test_matmul_bad_input(backend):
    a = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"inner dimensions differ.*3x4.*5x2"):
        K.matmul(a, np.ones((5, 2), np.float32), backend=backend)
    with pytest.raises(ValueError, match=r"b must be 2-D, got shape \(4,\)"):
        K.matmul(a, np.ones(4, np.float32), backend=backend)
    with pytest.raises(TypeError, match="int64"):
        K.matmul(np.ones((3, 4), np.int64), np.ones((4, 2), np.int64), backend=backend)
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        K.matmul(a, np.ones((4, 2), np.float64), backend=backend)
    with pytest.raises(TypeError, match="float16"):
        K.matmul(a.astype(np.float16), a.T.astype(np.float16), backend=backend)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 70), k=st.integers(1, 70), n=st.integers(1, 70),
       ta=st.booleans(), tb=st.booleans(), dtype=st.sampled_from(DTYPES),
       backend=st.sampled_from(CPU_BACKENDS))
def test_matmul_property_random_shapes(m, k, n, ta, tb, dtype, backend):
    a, b = operands(m, k, n, ta, tb, dtype, seed=m * 10007 + k * 101 + n)
    ref, scale = reference_matmul(a, b, ta, tb)
    ours = K.matmul(a, b, transpose_a=ta, transpose_b=tb, backend=backend)
    assert_close_gemm(ours, ref, scale, dtype, k)


# ------------------------------------------------------------------ relu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (128, 512), (2, 3, 5), (70001,)])
def test_relu_and_backward(backend, dtype, shape):
    r = rng(3)
    x = r.standard_normal(shape).astype(dtype)
    x.flat[0] = 0.0  # the kink: relu'(0) is taken as 0
    g = r.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(K.relu(x, backend=backend), np.maximum(x, 0))
    np.testing.assert_array_equal(K.relu_backward(g, x, backend=backend), np.where(x > 0, g, 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_propagates_nan_like_numpy(backend, dtype):
    """A NaN in must stay a NaN out (np.maximum, torch.relu): silently zeroing it
    would hide a diverged model.  Checked in relu and in dense_forward's fused
    epilogue, on wide (vector) tiles, narrow outputs and edge tiles."""
    x = np.array([np.nan, -1.0, 2.0, -np.inf, np.inf], dtype)
    np.testing.assert_array_equal(K.relu(x, backend=backend), np.maximum(x, 0))
    for n in (3, 10, 37, 64):
        w = np.eye(5, n, dtype=dtype)
        inp = np.tile(np.array([[np.nan, -1.0, 2.0, 0.5, -3.0]], dtype), (13, 1))
        inp[1:, 0] = 1.0
        got = K.dense_forward(inp, w, None, "relu", backend=backend)
        ref = np.maximum(inp @ w, 0)
        np.testing.assert_array_equal(got, ref)
        assert np.isnan(got[0]).all() and not np.isnan(got[1:]).any()


def test_relu_noncontiguous(backend):
    x = rng(4).standard_normal((9, 8))[:, ::3]
    np.testing.assert_array_equal(K.relu(x, backend=backend), np.maximum(x, 0))
    g = np.ones_like(x)
    with pytest.raises(ValueError, match=r"grad_out has shape \(3,\) but x has \(9, 3\)"):
        K.relu_backward(g[0], x, backend=backend)


def test_relu_backward_finite_differences(backend):
    r = rng(5)
    x = r.standard_normal((6, 7))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink
    g = r.standard_normal((6, 7))
    analytic = K.relu_backward(g, x, backend=backend)
    numeric = numerical_grad(lambda z: np.sum(K.relu(z, backend=backend) * g), x)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ softmax
def reference_softmax(z):
    z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def reference_ce(z, labels):
    z = z.astype(np.float64)
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(labels)), labels]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,c", [(1, 1), (1, 10), (7, 3), (128, 10), (33, 1000)])
def test_softmax(backend, dtype, n, c):
    z = (rng(6).standard_normal((n, c)) * 5).astype(dtype)
    ours = K.softmax(z, backend=backend)
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, reference_softmax(z), rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-7 if dtype == np.float32 else 1e-15)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,c", [(1, 1), (1, 10), (7, 3), (128, 10), (31, 257)])
def test_softmax_cross_entropy(backend, dtype, n, c):
    r = rng(7)
    z = (r.standard_normal((n, c)) * 3).astype(dtype)
    labels = r.integers(0, c, n)
    loss, grad = K.softmax_cross_entropy(z, labels, backend=backend)
    ref = reference_ce(z, labels)
    onehot = np.eye(c)[labels]
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, ref.mean(), rtol=rtol, atol=rtol)
    assert grad.dtype == dtype and grad.shape == (n, c)
    np.testing.assert_allclose(grad, (reference_softmax(z) - onehot) / n, rtol=rtol, atol=rtol / n)
    per_row, grad_sum = K.softmax_cross_entropy(z, labels, reduction="none", backend=backend)
    np.testing.assert_allclose(per_row, ref, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(grad_sum, reference_softmax(z) - onehot, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_is_stable_for_huge_logits(backend, dtype):
    z = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4], [5e3, 5e3, 5e3]], dtype)
    labels = np.array([0, 2, 1])
    per_row, grad = K.softmax_cross_entropy(z, labels, reduction="none", backend=backend)
    assert np.all(np.isfinite(per_row)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(per_row, [0.0, np.log(2), np.log(3)], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad[1], [0.0, 0.5, -0.5], atol=1e-6)
    assert np.all(np.isfinite(K.softmax(z, backend=backend)))


def test_softmax_cross_entropy_finite_differences(backend):
    r = rng(8)
    z = r.standard_normal((5, 4))
    labels = np.array([3, 0, 1, 1, 2])
    _, grad = K.softmax_cross_entropy(z, labels, backend=backend)
    numeric = numerical_grad(lambda q: K.softmax_cross_entropy(q, labels, backend=backend)[0], z)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_softmax_cross_entropy_bad_labels(backend):
    z = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"label 4 is out of range for 4 classes"):
        K.softmax_cross_entropy(z, [0, 1, 4], backend=backend)
    with pytest.raises(ValueError, match=r"label -1 is out of range"):
        K.softmax_cross_entropy(z, [0, -1, 2], backend=backend)
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\).*got \(2,\)"):
        K.softmax_cross_entropy(z, [0, 1], backend=backend)
    with pytest.raises(TypeError, match="integer class ids"):
        K.softmax_cross_entropy(z, [0.5, 1, 2], backend=backend)
    with pytest.raises(ValueError, match="reduction"):
        K.softmax_cross_entropy(z, [0, 1, 2], reduction="sum", backend=backend)
    with pytest.raises(ValueError, match="2-D"):
        K.softmax_cross_entropy(z[0], [0], backend=backend)
    # whole-number float labels and (N, 1) labels are accepted, as in Keras
    loss, _ = K.softmax_cross_entropy(z, np.array([[0.0], [1.0], [3.0]]), backend=backend)
    assert loss == pytest.approx(np.log(4), rel=1e-6)


# ------------------------------------------------------------------ dense
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("n,k,m", [(1, 1, 1), (17, 31, 33), (128, 784, 512), (128, 512, 10)])
def test_dense_forward(backend, dtype, activation, n, k, m):
    r = rng(9)
    x = r.standard_normal((n, k)).astype(dtype)
    w = r.standard_normal((k, m)).astype(dtype)
    b = r.standard_normal(m).astype(dtype)
    ref, scale = reference_matmul(x, w, False, False)
    ref = ref + b
    if activation == "relu":
        ref = np.maximum(ref, 0)
    ours = K.dense_forward(x, w, b, activation, backend=backend)
    assert_close_gemm(ours, ref, scale + np.abs(b), dtype, k)
    no_bias = K.dense_forward(x, w, None, None, backend=backend)
    assert_close_gemm(no_bias, x.astype(np.float64) @ w, scale, dtype, k)


def test_dense_backward_finite_differences(backend):
    """The engine's Dense gradient, composed from the kernels, vs numerics."""
    r = rng(10)
    x, w, b = r.standard_normal((6, 5)), r.standard_normal((5, 4)), r.standard_normal(4)
    upstream = r.standard_normal((6, 4))

    def objective(x_, w_, b_):
        return np.sum(K.dense_forward(x_, w_, b_, "relu", backend=backend) * upstream)

    out = K.dense_forward(x, w, b, "relu", backend=backend)
    g = K.relu_backward(upstream, out, backend=backend)
    grads = {
        "x": K.matmul(g, w, transpose_b=True, backend=backend),
        "w": K.matmul(x, g, transpose_a=True, backend=backend),
        "b": K.bias_grad(g, backend=backend),
    }
    np.testing.assert_allclose(grads["x"], numerical_grad(lambda v: objective(v, w, b), x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grads["w"], numerical_grad(lambda v: objective(x, v, b), w), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grads["b"], numerical_grad(lambda v: objective(x, w, v), b), rtol=1e-6, atol=1e-8)


def test_dense_bad_input(backend):
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"x has shape \(2, 3\) but w has \(4, 5\)"):
        K.dense_forward(x, np.ones((4, 5), np.float32), backend=backend)
    with pytest.raises(ValueError, match=r"b has shape \(4,\), expected \(5,\)"):
        K.dense_forward(x, np.ones((3, 5), np.float32), np.ones(4, np.float32), backend=backend)
    with pytest.raises(ValueError, match="activation"):
        K.dense_forward(x, np.ones((3, 5), np.float32), activation="tanh", backend=backend)


def test_dense_with_no_inputs_is_bias(backend):
    out = K.dense_forward(np.ones((2, 0)), np.ones((0, 3)), np.array([1.0, -1.0, 2.0]), "relu",
                          backend=backend)
    np.testing.assert_array_equal(out, [[1, 0, 2], [1, 0, 2]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,m", [(1, 1), (7, 5), (8, 5), (9, 17), (128, 10), (128, 512), (1000, 3), (1003, 37),
                                 (3, 1000)])  # rows in blocks of 8, and the rows left over
def test_bias_grad(backend, dtype, n, m):
    g = rng(11).standard_normal((n, m)).astype(dtype)
    ours = K.bias_grad(g, backend=backend)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ours, g.astype(np.float64).sum(axis=0), rtol=rtol,
                               atol=rtol * np.sqrt(n) * 4)
    np.testing.assert_array_equal(K.bias_grad(np.zeros((0, 3), dtype), backend=backend), np.zeros(3))


# ------------------------------------------------------------------ optimizers
def _state(shape, dtype, seed):
    r = rng(seed)
    return [r.standard_normal(shape).astype(dtype) for _ in range(3)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
@pytest.mark.parametrize("shape", [(1,), (5, 3), (784, 512), (100003,)])
def test_sgd_update(backend, dtype, momentum, nesterov, shape):
    w, g, v = _state(shape, dtype, 12)
    w_ref, v_ref = w.astype(np.float64), v.astype(np.float64)
    lr = 0.1
    for _ in range(3):
        if momentum:
            v_ref = momentum * v_ref - lr * g
            w_ref = w_ref + (momentum * v_ref - lr * g if nesterov else v_ref)
        else:
            w_ref = w_ref - lr * g
        K.sgd_update(w, g, v if momentum else None, learning_rate=lr, momentum=momentum,
                     nesterov=nesterov, backend=backend)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(w, w_ref, rtol=rtol, atol=rtol)
    if momentum:
        np.testing.assert_allclose(v, v_ref, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (5, 3), (784, 512), (100003,)])
def test_rmsprop_update(backend, dtype, shape):
    w, g, _ = _state(shape, dtype, 13)
    v = np.zeros(shape, dtype)
    w_ref, v_ref = w.astype(np.float64), v.astype(np.float64)
    lr, rho, eps = 1e-3, 0.9, 1e-7
    for _ in range(3):
        v_ref = rho * v_ref + (1 - rho) * g.astype(np.float64) ** 2
        w_ref = w_ref - lr * g / np.sqrt(v_ref + eps)
        K.rmsprop_update(w, g, v, learning_rate=lr, rho=rho, epsilon=eps, backend=backend)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(v, v_ref, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(w, w_ref, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (5, 3), (100003,)])
def test_adam_update(backend, dtype, shape):
    w, g, _ = _state(shape, dtype, 14)
    m, v = np.zeros(shape, dtype), np.zeros(shape, dtype)
    w_ref, m_ref, v_ref = w.astype(np.float64), m.astype(np.float64), v.astype(np.float64)
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-7
    for step in range(1, 4):
        alpha = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
        m_ref = m_ref + (g - m_ref) * (1 - b1)
        v_ref = v_ref + (g.astype(np.float64) ** 2 - v_ref) * (1 - b2)
        w_ref = w_ref - alpha * m_ref / (np.sqrt(v_ref) + eps)
        K.adam_update(w, g, m, v, step=step, learning_rate=lr, beta_1=b1, beta_2=b2,
                      epsilon=eps, backend=backend)
    rtol = 1e-5 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(m, m_ref, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(w, w_ref, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizer_epsilon_placement_with_tiny_gradients(backend, dtype):
    """g ~ 1e-7, so sqrt(v) ~ 3e-8 is smaller than eps = 1e-7: Keras 3 puts eps inside the root
    for RMSprop, sqrt(v + eps), and outside for Adam, sqrt(v) + eps; either one moved changes
    the step 30-fold or more, far outside the tolerance (the tests above, with g ~ 1, cannot see it)."""
    g = np.array([1e-7, -3e-7, 2e-8, 5e-7, -1e-8], dtype)
    g64 = g.astype(np.float64)
    lr, rho, b1, b2, eps = 1e-2, 0.9, 0.9, 0.999, 1e-7
    w_rms, v_rms = np.zeros(5, dtype), np.zeros(5, dtype)
    w_adam, m_adam, v_adam = np.zeros(5, dtype), np.zeros(5, dtype), np.zeros(5, dtype)
    ref_rms, ref_v = np.zeros(5), np.zeros(5)
    ref_adam, ref_m, ref_va = np.zeros(5), np.zeros(5), np.zeros(5)
    for step in range(1, 4):
        K.rmsprop_update(w_rms, g, v_rms, learning_rate=lr, rho=rho, epsilon=eps, backend=backend)
        ref_v = rho * ref_v + (1 - rho) * g64**2
        ref_rms = ref_rms - lr * g64 / np.sqrt(ref_v + eps)
        K.adam_update(w_adam, g, m_adam, v_adam, step=step, learning_rate=lr, beta_1=b1, beta_2=b2,
                      epsilon=eps, backend=backend)
        ref_m = ref_m + (g64 - ref_m) * (1 - b1)
        ref_va = ref_va + (g64**2 - ref_va) * (1 - b2)
        ref_adam = ref_adam - lr * np.sqrt(1 - b2**step) / (1 - b1**step) * ref_m / (np.sqrt(ref_va) + eps)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(w_rms, ref_rms, rtol=rtol)
    np.testing.assert_allclose(w_adam, ref_adam, rtol=rtol)


def test_update_bad_input(backend):
    w = np.ones(4, np.float32)
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but param has \(4,\)"):
        K.sgd_update(w, np.ones(3, np.float32), backend=backend)
    with pytest.raises(ValueError, match="needs a velocity"):
        K.sgd_update(w, w.copy(), momentum=0.9, backend=backend)
    with pytest.raises(ValueError, match="nesterov"):
        K.sgd_update(w, w.copy(), nesterov=True, backend=backend)
    ro = np.ones(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="updated in place"):
        K.rmsprop_update(ro, w, np.zeros(4, np.float32), backend=backend)
    with pytest.raises(ValueError, match=r"v has shape \(3,\)"):
        K.rmsprop_update(w, w.copy(), np.zeros(3, np.float32), backend=backend)
    with pytest.raises(ValueError, match="learning_rate"):
        K.rmsprop_update(w, w.copy(), np.zeros(4, np.float32), learning_rate=-1, backend=backend)
    with pytest.raises(ValueError, match="step"):
        K.adam_update(w, w.copy(), np.zeros(4, np.float32), np.zeros(4, np.float32), step=0,
                      backend=backend)


# ------------------------------------------------------------------ dispatch
# ------------------------------------------------------------------ metric totals
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (1,), (7, 3), (100003,)])
def test_accumulate_sum_adds_in_float64(backend, dtype, shape):
    values = rng(11).standard_normal(shape).astype(dtype)
    total = np.zeros(1)
    K.accumulate_sum(values, total, weight=3, backend=backend)
    K.accumulate_sum(values, total, weight=0.5, backend=backend)
    expected = 3.5 * values.astype(np.float64).sum()
    assert total.dtype == np.float64
    np.testing.assert_allclose(total[0], expected, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,c", [(1, 1), (1, 10), (128, 10), (97, 3), (5, 1000)])
def test_accumulate_correct_counts_argmax_hits(backend, dtype, n, c):
    r = rng(12)
    scores = r.standard_normal((n, c)).astype(dtype)
    labels = r.integers(0, c, n)
    labels[: n // 2] = scores[: n // 2].argmax(axis=1)   # some certain hits
    total = np.full(1, 2.0)
    K.accumulate_correct(scores, labels, total=total, backend=backend)
    assert total[0] == 2 + np.count_nonzero(scores.argmax(axis=1) == labels)


def test_accumulate_correct_ties_follow_argmax_and_nan_rows_miss(backend):
    scores = np.array([[1, 3, 3], [2, 2, 2], [0, np.nan, 5], [np.nan, np.nan, 1], [0, 0, 9]], np.float32)
    total = np.zeros(1)
    K.accumulate_correct(scores, [1, 0, 1, 0, 2], total=total, backend=backend)   # np.argmax: 1, 0, 1, 0, 2
    assert total[0] == 3          # the two rows with a NaN miss, whatever np.argmax says
    total[0] = 0
    K.accumulate_correct(scores, [2, 1, 2, 2, 2], total=total, backend=backend)   # the later ties miss
    assert total[0] == 1
    total[0] = 0
    K.accumulate_correct(scores, np.array([1.0, 0.0, 1.0, 0.0, 2.0]), total=total, backend=backend)  # float ids
    assert total[0] == 3
    for label in range(3):        # an all-NaN row is never a hit, for any label
        K.accumulate_correct(np.full((1, 3), np.nan, np.float32), [label], total=total, backend=backend)
    assert total[0] == 3


def test_accumulate_bad_input(backend):
    scores = np.zeros((4, 3), np.float32)
    with pytest.raises(TypeError, match=r"total must be a \(1,\) float64 array"):
        K.accumulate_correct(scores, [0, 1, 2, 0], total=np.zeros(1, np.float32), backend=backend)
    with pytest.raises(TypeError, match=r"total must be a \(1,\) float64 array"):
        K.accumulate_sum(scores, np.zeros(2), backend=backend)
    with pytest.raises(ValueError, match="label 3 is out of range for 3 classes"):
        K.accumulate_correct(scores, [0, 1, 3, 0], total=np.zeros(1), backend=backend)
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        K.accumulate_correct(scores, [0, 1], total=np.zeros(1), backend=backend)
    with pytest.raises(ValueError, match="scores must be 2-D"):
        K.accumulate_correct(np.zeros(3, np.float32), [0], total=np.zeros(1), backend=backend)
    with pytest.raises(TypeError, match="weight must be a number"):
        K.accumulate_sum(scores, np.zeros(1), weight="x", backend=backend)
    frozen = np.zeros(1)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="total is updated in place"):
        K.accumulate_sum(scores, frozen, backend=backend)


def test_available_backends_lists_every_cpu_backend():
    names = K.available_backends()
    for name in CPU_BACKENDS:
        assert name in names, f"{name} backend failed to load: {names}"


def test_use_sets_and_scopes_the_default():
    before = K.get_backend().name
    with K.use("numpy") as be:
        assert be.name == "numpy" and K.get_backend().name == "numpy"
    assert K.get_backend().name == before
    saved = _dispatch._global_default[0]
    K.use("numpy")
    try:
        assert K.get_backend().name == "numpy"
    finally:
        _dispatch._global_default[0] = saved


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown backend 'blas'.*cuda.*cython.*numba.*numpy"):
        K.matmul(np.ones((1, 1)), np.ones((1, 1)), backend="blas")


def test_env_var_picks_the_default(monkeypatch):
    monkeypatch.setattr(_dispatch, "_global_default", [None])
    monkeypatch.setenv("TAPEGRAD_BACKEND", "numpy")
    assert K.get_backend().name == "numpy"


def test_to_numpy_and_set_num_threads():
    x = np.arange(3.0)
    assert K.to_numpy(x) is x
    K.set_num_threads(1)
    with pytest.raises(ValueError):
        K.set_num_threads(0)
    K.set_num_threads("auto")   # the default, for the tests after this one


# ------------------------------------------------------------------ helpers
def numerical_grad(f, x, h=1e-6):
    """Central finite differences of scalar f at x (float64)."""
    x = x.astype(np.float64).copy()
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        saved = x[i]
        x[i] = saved + h
        up = f(x)
        x[i] = saved - h
        down = f(x)
        x[i] = saved
        grad[i] = (up - down) / (2 * h)
    return grad
