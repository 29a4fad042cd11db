"""The implicit-GEMM convolutions (kernels/conv/numba_implicit.py and the Cython
conv kernels) on the shapes that reach each of their paths, on one and on two
threads, against the loops of kernels/conv/reference.py (float64).

test_conv.py checks every backend on awkward shapes; these cases add what the
drivers split or pad: several blocks of pixels per thread (the kernel
gradient's per-thread sums), whole images per thread (the input gradient's
scatter-add), channels that do not fill a vector (the input gradient's padded
buffer), filters that are not a multiple of 4 or fewer than 8 (the kernel
gradient's padded G), a kernel row deeper than one depth block (the forward's
accumulating blocks), "same" padding with strides (the padded image), and a
single image on two threads.
"""

import math

import numpy as np
import pytest

import tapegrad.kernels as K
from tapegrad.kernels.conv import reference as ref
from tapegrad.kernels.conv.geometry import output_shape_2d

# (N, H, W, C, KH, KW, F, strides, padding)
CASES = [
    (7, 13, 13, 32, 3, 3, 64, 1, "valid"),      # conv2 with 7 images: 3 pixel blocks, an odd image split
    (5, 9, 10, 48, 3, 3, 20, 1, "same"),        # 48 channels; 20 filters = tiles of 12 + 8, F < NR
    (4, 8, 7, 5, 3, 2, 6, 2, "valid"),          # 5 channels (padded to a vector), 6 filters (padded to 8)
    (3, 6, 6, 300, 3, 3, 40, 1, "same"),        # a kernel row of 900 numbers: one depth block per row
    (2, 6, 6, 16, 2, 2, 33, (2, 2), "same"),    # an even kernel, strided "same", 33 filters
    (1, 20, 20, 24, 3, 3, 36, 1, "valid"),      # one image on two threads
    (6, 5, 5, 64, 3, 3, 128, 1, "valid"),       # conv3
]


def backend_or_skip(name):
    if name not in K.available_backends():
        pytest.skip(f"backend {name!r} is not available here")
    return name


def close(ours, exact, scale, dtype, terms):
    """|ours - exact| within a few ulps of ``scale`` (the sum of |products|), as test_conv.py."""
    bound = 32 * np.finfo(dtype).eps * max(1.0, math.sqrt(terms)) * scale + np.finfo(dtype).tiny
    assert ours.shape == exact.shape and ours.dtype == dtype
    worst = (np.abs(ours.astype(np.float64) - exact) - bound).max()
    assert worst <= 0, f"max error {np.abs(ours - exact).max():.3g}"


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("name", ["numba", "cython"])
def test_implicit_gemm_paths_match_the_loops(name, case, dtype, threads):
    backend_or_skip(name)
    n, h, w, c, kh, kw, f, strides, padding = case
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    wt = rng.standard_normal((kh, kw, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    s = (strides, strides) if isinstance(strides, int) else strides
    (oh, ow), pads = output_shape_2d(h, w, (kh, kw), s, padding)
    g = rng.standard_normal((n, oh, ow, f)).astype(dtype)
    x64, w64, g64 = (a.astype(np.float64) for a in (x, wt, g))
    try:
        K.set_num_threads(threads)
        y = K.conv2d(x, wt, b, strides=strides, padding=padding, activation="relu", backend=name)
        dx = K.conv2d_input_grad(g, wt, x.shape, strides=strides, padding=padding, backend=name)
        dw = K.conv2d_kernel_grad(g, x, wt.shape, strides=strides, padding=padding, backend=name)
    finally:
        K.set_num_threads("auto")
    out = np.empty((n, oh, ow, f))
    close(y, ref.conv2d_loops(x64, w64, b.astype(np.float64), s, pads, True, out.copy()),
          ref.conv2d_loops(np.abs(x64), np.abs(w64), np.abs(b).astype(np.float64), s, pads, False, out.copy()),
          dtype, kh * kw * c)
    close(dx, ref.conv2d_input_grad_loops(g64, w64, s, pads, np.empty(x.shape)),
          ref.conv2d_input_grad_loops(np.abs(g64), np.abs(w64), s, pads, np.empty(x.shape)), dtype, kh * kw * f)
    close(dw, ref.conv2d_kernel_grad_loops(g64, x64, s, pads, np.empty(wt.shape)),
          ref.conv2d_kernel_grad_loops(np.abs(g64), np.abs(x64), s, pads, np.empty(wt.shape)), dtype, n * oh * ow)


def test_input_grad_overwrites_what_the_buffer_held():
    """The input gradient's scatter-add starts from zeros it writes itself: a
    buffer left full of NaN by an earlier call does not leak into the result
    (``conv2d_input_grad`` returns fresh memory, which may hold anything)."""
    backend_or_skip("numba")
    from tapegrad.kernels.conv import numba_implicit
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 3, 32, 64)).astype(np.float32)
    g = rng.standard_normal((2, 5, 5, 64)).astype(np.float32)
    out = np.full((2, 7, 7, 32), np.nan, np.float32)
    numba_implicit.conv_input_grad(g, w, (1, 1), (0, 0), out, 2)
    exact = ref.conv2d_input_grad_loops(g.astype(np.float64), w.astype(np.float64), (1, 1), (0, 0),
                                        np.empty(out.shape))
    np.testing.assert_allclose(out, exact, rtol=1e-4, atol=1e-4)
