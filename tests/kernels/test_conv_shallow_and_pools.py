"""The shallow convolution path (K = KH*KW*C <= SHALLOW_K: chapter 8's first
layer) and the pools, on shapes that reach every branch of the Numba kernels
of kernels/conv/numba_shallow.py and numba_pools.py, against the loops of
kernels/conv/reference.py (float64) and central finite differences.

The kernel gradient for K = 10..16 gathers patches for runs of pixels whose windows lie
inside the image and tests the rest: the cases mix both (padding, strides,
odd widths), take K past one MR = 12 row panel (K = 13..16, the kernel
gradient's second A panel), F past one NR panel (33 float32 filters; 17
float64) and below it (1), and runs shorter than a tile (width 1, 2, 5).
The forward and the kernel gradient with K <= PIXEL_K = 9 (W or dW in
registers, pixel by pixel) have their own cases (PIXEL_CASES: every K loop
they reach, masked filter panels, one and two threads, NaN and Inf); the
forward with K = 10..16 runs the implicit GEMM.  The
max-pool forward's whole-2x2 path and its general one: MAX_POOL_CASES.
"""

import numpy as np
import pytest

import tapegrad.kernels as K
from tapegrad.kernels.conv import reference as ref
from tapegrad.kernels.conv.geometry import output_shape_2d

from finite_differences import central_differences
from test_conv import CPU_BACKENDS, DTYPES, assert_close, available, conv_args, geometry

# (N, H, W, C, KH, KW, F, strides, padding): all with K <= 16
SHALLOW_CASES = [
    (2, 28, 28, 1, 3, 3, 32, 1, "valid"),       # conv1 of chapter 8
    (3, 13, 11, 1, 3, 3, 32, 1, "same"),        # padded edges on all four sides, odd sizes
    (2, 17, 19, 1, 3, 3, 33, 2, "same"),        # stride 2, a 33rd filter (the narrow panel)
    (1, 7, 5, 1, 4, 4, 17, 1, "same"),          # K = 16: two A panels in the kernel gradient; even kernel
    (2, 11, 13, 4, 2, 2, 7, (1, 3), "valid"),   # K = 16 from C = 4, stride larger than the kernel
    (1, 9, 1, 1, 3, 1, 5, 1, "valid"),          # width 1: runs of one pixel
    (5, 3, 2, 3, 2, 2, 1, 1, "same"),           # one filter, tiny images
    (1, 31, 23, 13, 1, 1, 3, 1, "valid"),       # 1x1, K = 13 channels
    (2, 5, 29, 2, 1, 3, 16, (2, 1), "same"),    # a wide row: several tiles per run, 16 filters
    (1, 2, 2, 1, 3, 3, 8, 1, "same"),           # kernel larger than the image: every window padded
]

# (N, H, W, C, pool, strides, padding)
POOL_CASES = [
    (2, 26, 26, 32, (2, 2), None, "valid"),     # after conv1: windows tile the image exactly
    (3, 11, 11, 64, (2, 2), None, "valid"),     # after conv2: the last row and column in no window
    (2, 7, 9, 5, (2, 2), None, "same"),         # "same": short edge windows
    (2, 9, 8, 3, (3, 3), (2, 2), "same"),       # overlapping windows
    (1, 10, 11, 7, (2, 3), (3, 4), "valid"),    # stride larger than the pool: gaps
    (1, 1, 1, 1, (1, 1), None, "valid"),        # one element
    (4, 5, 3, 17, (5, 3), None, "valid"),       # the whole image, odd channels
    (2, 6, 7, 33, (3, 2), (1, 1), "same"),      # heavy overlap, channels past a vector
]


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    return available(request.param)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SHALLOW_CASES, ids=str)
def test_shallow_conv2d_and_kernel_grad_match_loops(backend, case, dtype):
    x, w, b, strides, padding = conv_args(case, dtype, seed=11)
    assert w.shape[0] * w.shape[1] * w.shape[2] <= 16
    s, ((oh, ow), pads) = geometry(x.shape, w.shape[:2], strides, padding)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    for bias, act in ((b, "relu"), (None, None), (b, None)):
        ours = K.conv2d(x, w, bias, strides=strides, padding=padding, activation=act, backend=backend)
        b64 = None if bias is None else bias.astype(np.float64)
        exact = ref.conv2d_loops(x64, w64, b64, s, pads, act == "relu", np.empty((x.shape[0], oh, ow, w.shape[3])))
        scale = ref.conv2d_loops(np.abs(x64), np.abs(w64), None if bias is None else np.abs(b64), s, pads, False,
                                 np.empty_like(exact))
        assert_close(ours, exact, scale, dtype, w.shape[0] * w.shape[1] * w.shape[2])
    g = np.random.default_rng(12).standard_normal((x.shape[0], oh, ow, w.shape[3])).astype(dtype)
    dw = K.conv2d_kernel_grad(g, x, w.shape, strides=strides, padding=padding, backend=backend)
    exact = ref.conv2d_kernel_grad_loops(g.astype(np.float64), x64, s, pads, np.empty(w.shape))
    scale = ref.conv2d_kernel_grad_loops(np.abs(g).astype(np.float64), np.abs(x64), s, pads, np.empty(w.shape))
    assert_close(dw, exact, scale, dtype, x.shape[0] * oh * ow)


@pytest.mark.parametrize("case", [SHALLOW_CASES[1], SHALLOW_CASES[3], SHALLOW_CASES[4]], ids=str)
def test_shallow_derivatives_match_finite_differences(backend, case):
    x, w, b, strides, padding = conv_args(case, np.float64, seed=13)
    out = K.conv2d(x, w, b, strides=strides, padding=padding, backend=backend)
    g = np.random.default_rng(14).standard_normal(out.shape)

    def loss_w(wv):
        return float(np.sum(K.conv2d(x, wv, b, strides=strides, padding=padding, backend=backend) * g))

    def loss_b(bv):
        return float(np.sum(K.conv2d(x, w, bv, strides=strides, padding=padding, backend=backend) * g))

    dw = K.conv2d_kernel_grad(g, x, w.shape, strides=strides, padding=padding, backend=backend)
    np.testing.assert_allclose(dw, central_differences(loss_w, w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g.sum(axis=(0, 1, 2)), central_differences(loss_b, b), rtol=1e-6, atol=1e-7)


def pool_case(case, dtype, seed=21):
    n, h, w, c, pool, strides, padding = case
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, h, w, c)).astype(dtype)
    x[:, ::2, 1::3] = np.round(x[:, ::2, 1::3])   # ties inside windows: the first maximum must win
    s = pool if strides is None else strides
    (oh, ow), pads = output_shape_2d(h, w, pool, s, padding)
    g = r.standard_normal((n, oh, ow, c)).astype(dtype)
    return x, g, pool, s, pads, dict(pool_size=pool, strides=strides, padding=padding)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pools_match_loops(backend, case, dtype):
    x, g, pool, s, pads, kw = pool_case(case, dtype)
    out_shape = g.shape
    np.testing.assert_array_equal(K.max_pool2d(x, backend=backend, **kw),
                                  ref.max_pool2d(x, pool, s, pads, np.empty(out_shape, dtype)))
    tol = dict(rtol=4 * np.finfo(dtype).eps * pool[0] * pool[1], atol=4 * np.finfo(dtype).eps)
    np.testing.assert_allclose(K.max_pool2d_backward(g, x, backend=backend, **kw),
                               ref.max_pool2d_backward(g, x, pool, s, pads, np.empty(x.shape, dtype)), **tol)
    np.testing.assert_allclose(K.avg_pool2d(x, backend=backend, **kw),
                               ref.avg_pool2d(x.astype(np.float64), pool, s, pads, np.empty(out_shape)), **tol)
    np.testing.assert_allclose(K.avg_pool2d_backward(g, x.shape, backend=backend, **kw),
                               ref.avg_pool2d_backward(g.astype(np.float64), pool, s, pads, np.empty(x.shape)),
                               **tol)


def test_max_pool_backward_overwrites_garbage_and_handles_nan(backend):
    """The backward writes every element of its output (also those in no
    window, and without a zero-fill pass where windows tile the image), and a
    NaN in a window takes that window's gradient, as np.argmax picks it."""
    x = np.random.default_rng(5).standard_normal((2, 6, 7, 3))
    x[0, 2, 3, 1] = np.nan
    g = np.random.default_rng(6).standard_normal((2, 3, 3, 3))
    for _ in range(3):   # fresh outputs come from memory that held other numbers
        np.full((2, 6, 7, 3), 7.0)
        dx = K.max_pool2d_backward(g, x, pool_size=2, backend=backend)
        np.testing.assert_array_equal(dx, ref.max_pool2d_backward(g, x, (2, 2), (2, 2), (0, 0), np.empty(x.shape)))
    assert dx[0, 2, 3, 1] == g[0, 1, 1, 1]
    assert np.all(dx[:, :, 6] == 0)     # the last column is in no window


@pytest.mark.parametrize("case", [POOL_CASES[2], POOL_CASES[3], POOL_CASES[4]], ids=str)
def test_pool_derivatives_match_finite_differences(backend, case):
    x, g, pool, s, pads, kw = pool_case(case, np.float64, seed=31)
    x = np.random.default_rng(32).permutation(x.size).reshape(x.shape) / x.size   # distinct: no ties
    fd_max = central_differences(lambda v: float(np.sum(K.max_pool2d(v, backend=backend, **kw) * g)), x, eps=1e-5)
    fd_avg = central_differences(lambda v: float(np.sum(K.avg_pool2d(v, backend=backend, **kw) * g)), x, eps=1e-5)
    np.testing.assert_allclose(K.max_pool2d_backward(g, x, backend=backend, **kw), fd_max, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(K.avg_pool2d_backward(g, x.shape, backend=backend, **kw), fd_avg, rtol=1e-6,
                               atol=1e-8)


# ---------------------------------------------------------------- K <= 9: W (or dW) in registers
# (N, H, W, C, KH, KW, F, strides, padding): every case has K = KH*KW*C <= PIXEL_K, so the
# Numba backend runs numba_shallow.conv_shallow (_pixels_kernel: one loop per K, whole and
# masked stores) and kernel_grad_pixels (_pixel_grad_kernel: whole and masked loads)
PIXEL_CASES = [
    (1, 9, 15, 1, 3, 3, 32, 1, "valid"),        # batch 1, a 7 x 13 output
    (2, 15, 31, 1, 3, 3, 64, 1, "valid"),       # 13 x 29 output, two filter panels
    (3, 7, 29, 3, 1, 1, 10, 1, "valid"),        # 1x1 on RGB (K = 3), 10 filters: a masked panel
    (2, 14, 13, 1, 2, 2, 17, 1, "same"),        # "same" with an even kernel (pad after), 17 filters
    (1, 20, 21, 1, 3, 3, 33, 3, "same"),        # stride 3, 33 filters: a full panel and a masked one
    (2, 16, 27, 3, 1, 3, 48, (2, 1), "valid"),  # K = 9 from three RGB pixels, a stride per axis
    (2, 11, 12, 2, 2, 2, 5, 2, "same"),         # K = 8, stride 2, padded
    (1, 5, 6, 9, 1, 1, 1, 1, "valid"),          # K = 9 from nine channels, one filter
    (1, 1, 1, 1, 1, 1, 3, 1, "valid"),          # one pixel, K = 1
    (4, 40, 58, 1, 3, 3, 32, 1, "valid"),       # 4.9 MFLOP: past PARALLEL_FLOPS, so 2 threads split it
]


def _count_shallow_calls(monkeypatch, name="conv_shallow"):
    """Count the Numba backend's calls of numba_shallow's ``name`` (the test must reach it)."""
    from tapegrad.kernels.conv import numba as conv_numba
    calls = []
    real = getattr(conv_numba, name)

    def counted(*args):
        calls.append(args[1].shape)
        return real(*args)
    monkeypatch.setattr(conv_numba, name, counted)
    return calls


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", PIXEL_CASES, ids=str)
def test_pixel_forward_and_kernel_grad_match_loops(monkeypatch, case, dtype, threads):
    available("numba")
    from tapegrad.kernels.conv.numba_shallow import PIXEL_K
    x, w, b, strides, padding = conv_args(case, dtype, seed=41)
    assert w.shape[0] * w.shape[1] * w.shape[2] <= PIXEL_K
    s, ((oh, ow), pads) = geometry(x.shape, w.shape[:2], strides, padding)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    calls = _count_shallow_calls(monkeypatch)
    grad_calls = _count_shallow_calls(monkeypatch, "kernel_grad_pixels")
    g = np.random.default_rng(42).standard_normal((x.shape[0], oh, ow, w.shape[3])).astype(dtype)
    try:
        K.set_num_threads(threads)
        dw = K.conv2d_kernel_grad(g, x, w.shape, strides=strides, padding=padding, backend="numba")
        for bias, act in ((b, "relu"), (None, None), (b, None)):
            ours = K.conv2d(x, w, bias, strides=strides, padding=padding, activation=act, backend="numba")
            b64 = None if bias is None else bias.astype(np.float64)
            exact = ref.conv2d_loops(x64, w64, b64, s, pads, act == "relu", np.empty((x.shape[0], oh, ow, w.shape[3])))
            scale = ref.conv2d_loops(np.abs(x64), np.abs(w64), None if bias is None else np.abs(b64), s, pads, False,
                                     np.empty_like(exact))
            assert_close(ours, exact, scale, dtype, w.shape[0] * w.shape[1] * w.shape[2])
    finally:
        K.set_num_threads("auto")
    assert len(calls) == 3 and len(grad_calls) == 1
    exact = ref.conv2d_kernel_grad_loops(g.astype(np.float64), x64, s, pads, np.empty(w.shape))
    scale = ref.conv2d_kernel_grad_loops(np.abs(g).astype(np.float64), np.abs(x64), s, pads, np.empty(w.shape))
    assert_close(dw, exact, scale, dtype, x.shape[0] * oh * ow)


def test_pixel_forward_two_threads_equal_one_bit_for_bit():
    """Each output pixel is computed by one thread in one order: the split cannot change a bit."""
    available("numba")
    x, w, b, strides, padding = conv_args(PIXEL_CASES[-1], np.float32, seed=43)
    outs = []
    try:
        for threads in (1, 2):
            K.set_num_threads(threads)
            outs.append(K.conv2d(x, w, b, strides=strides, padding=padding, activation="relu", backend="numba"))
    finally:
        K.set_num_threads("auto")
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_pixel_forward_propagates_nan_and_inf(monkeypatch, dtype):
    """NaN and Inf in the image, the kernel and the bias spread as in the float64 loops:
    NaN wherever a NaN is in the window (relu keeps it), Inf * 0 = NaN (an all-zero filter),
    +Inf through relu, -Inf to 0, Inf - Inf = NaN."""
    available("numba")
    x, w, b, strides, padding = conv_args((2, 9, 11, 1, 3, 3, 40, 1, "same"), dtype, seed=45)
    x[0, 2, 3, 0] = np.nan
    x[0, 6, 6, 0] = np.inf
    x[1, 1, 1, 0] = -np.inf
    x[1, 5, 8, 0] = np.inf
    x[1, 5, 9, 0] = -np.inf      # a window with both: Inf - Inf
    w[:, :, :, 4] = 0            # Inf * 0
    w[1, 1, 0, 7] = np.nan       # a NaN weight: filter 7 is NaN everywhere
    b[9] = np.inf                # a bias of Inf: filter 9 is Inf (or NaN where the sum is -Inf or NaN)
    s, ((oh, ow), pads) = geometry(x.shape, w.shape[:2], strides, padding)
    calls = _count_shallow_calls(monkeypatch)
    for act in ("relu", None):
        ours = K.conv2d(x, w, b, strides=strides, padding=padding, activation=act, backend="numba")
        with np.errstate(invalid="ignore"):
            exact = ref.conv2d_loops(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), s, pads,
                                     act == "relu", np.empty((2, oh, ow, 40)))
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(exact))
        np.testing.assert_array_equal(np.isposinf(ours), np.isposinf(exact))
        np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(exact))
        assert np.isnan(exact).any() and np.isposinf(exact).any() and (act or np.isneginf(exact).any())
        finite = np.isfinite(exact)
        np.testing.assert_allclose(ours[finite], exact[finite], rtol=1e-4 if dtype == np.float32 else 1e-12,
                                   atol=1e-4 if dtype == np.float32 else 1e-12)
    assert len(calls) == 2


# ---------------------------------------------------------------- the max-pool forward's whole-2x2 path
# (N, H, W, C, pool, strides, padding): whole 2x2 windows (one pass over the channels) beside
# windows cut by the edge ("same", odd sizes) and other pool sizes (folded element by element)
MAX_POOL_CASES = [
    (64, 26, 26, 32, (2, 2), None, "valid"),    # after conv1: 2x2 windows tile the image
    (1, 7, 13, 1, (2, 2), None, "same"),        # one channel, an odd width: a last column of 1x2... windows
    (3, 9, 29, 3, (2, 2), None, "same"),        # RGB, odd sizes: a last row and column of cut windows
    (2, 8, 9, 17, (2, 2), (1, 1), "valid"),     # overlapping 2x2 windows, channels past a vector
    (2, 11, 14, 33, (2, 2), (3, 3), "valid"),   # stride 3: gaps between windows
    (1, 6, 6, 64, (2, 2), (1, 2), "same"),      # a stride per axis, "same" (even pool: pad after)
    (2, 9, 10, 5, (3, 3), (2, 2), "same"),      # 3x3 windows
    (1, 5, 8, 7, (1, 2), None, "valid"),        # 1x2 windows
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", MAX_POOL_CASES, ids=str)
def test_max_pool_forward_paths_match_loops(case, dtype, threads):
    available("numba")
    n, h, w, c, pool, strides, padding = case
    x = np.random.default_rng(51).standard_normal((n, h, w, c)).astype(dtype)
    x[:, ::3, 1::2] = np.round(x[:, ::3, 1::2])   # ties
    s = pool if strides is None else strides
    (oh, ow), pads = output_shape_2d(h, w, pool, s, padding)
    try:
        K.set_num_threads(threads)
        ours = K.max_pool2d(x, pool_size=pool, strides=strides, padding=padding, backend="numba")
    finally:
        K.set_num_threads("auto")
    np.testing.assert_array_equal(ours, ref.max_pool2d(x, pool, s, pads, np.empty((n, oh, ow, c), dtype)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pool", [(2, 2), (3, 2)])
def test_max_pool_forward_nan_and_inf_at_every_window_position(pool, dtype):
    """A NaN anywhere in a window pools to NaN (np.max), whichever of the window's elements
    holds it and whatever the others are (+Inf included); +Inf wins over numbers, -Inf loses."""
    available("numba")
    ph, pw = pool
    per = ph * pw
    x = np.random.default_rng(53).standard_normal((2, ph * 4, pw * per, 3)).astype(dtype)
    for q in range(per):   # window (row block 0, column block q): a NaN at position q
        x[0, q // pw, q * pw + q % pw, 0] = np.nan
        x[0, ph + q // pw, q * pw + q % pw, 1] = np.inf                       # +Inf at position q
        x[0, ph + (q + 1) % per // pw, q * pw + (q + 1) % per % pw, 1] = np.nan   # and a NaN beside it
        x[0, 2 * ph + q // pw, q * pw + q % pw, 2] = np.inf
        x[1, q // pw, q * pw + q % pw, :] = -np.inf                            # -Inf at position q
    x[1, 3 * ph:4 * ph, :, :] = -np.inf                                       # windows of -Inf only
    ours = K.max_pool2d(x, pool_size=pool, backend="numba")
    exact = ref.max_pool2d(x, pool, pool, (0, 0), np.empty(ours.shape, dtype))
    np.testing.assert_array_equal(ours, exact)   # NaN == NaN for assert_array_equal
    assert np.isnan(ours[0, 0, :, 0]).all() and np.isnan(ours[0, 1, :, 1]).all()
    assert np.isposinf(ours[0, 2, :, 2]).all() and np.isneginf(ours[1, 3]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_pixel_kernel_grad_propagates_nan_and_inf(monkeypatch, dtype):
    """An Inf in the image's corner reaches only the corner tap of dW (Inf, or NaN where the
    window's Inf meets a -Inf product), a NaN in grad_out reaches every tap of its filter."""
    available("numba")
    x, w, _, _, _ = conv_args((2, 9, 11, 1, 3, 3, 40, 1, "valid"), dtype, seed=47)
    x[0, 0, 0, 0] = np.inf
    x[1, 8, 10, 0] = -np.inf                   # the last pixel: only the last tap sees it
    g = np.random.default_rng(48).standard_normal((2, 7, 9, 40)).astype(dtype)
    g[1, 3, 4, 5] = np.nan
    calls = _count_shallow_calls(monkeypatch, "kernel_grad_pixels")
    dw = K.conv2d_kernel_grad(g, x, w.shape, backend="numba")
    with np.errstate(invalid="ignore"):
        exact = ref.conv2d_kernel_grad_loops(g.astype(np.float64), x.astype(np.float64), (1, 1), (0, 0),
                                             np.empty(w.shape))
    assert len(calls) == 1
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(dw), test(exact))
    assert np.isnan(exact[:, :, 0, 5]).all() and np.isinf(exact[0, 0, 0, :]).sum() >= 30
    finite = np.isfinite(exact)
    assert finite[1, 1, 0, :5].all() and finite[1, 1, 0, 6:].all()   # the centre tap sees neither corner
    np.testing.assert_allclose(dw[finite], exact[finite], rtol=1e-3 if dtype == np.float32 else 1e-10,
                               atol=1e-3 if dtype == np.float32 else 1e-10)
