"""The shallow convolution path (K = KH*KW*C <= SHALLOW_K: chapter 8's first
layer) and the pools, on shapes that reach every branch of the Numba kernels
of kernels/conv/numba_shallow.py and numba_pools.py, against the loops of
kernels/conv/reference.py (float64) and central finite differences.

The shallow path reads A in place for runs of pixels whose windows lie inside
the image and gathers the rest: the cases mix both (padding, strides, odd
widths), take K past one MR = 12 row panel (K = 13..16, the kernel gradient's
second A panel), F past one NR panel (33 float32 filters; 17 float64) and
below it (1), and runs shorter than a tile (width 1, 2, 5).
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
