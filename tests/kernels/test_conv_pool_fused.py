"""The backward of Conv2D(relu) -> MaxPooling2D in one call (kernels/conv/numba_pool_fused.py).

``max_pool_relu_backward`` and ``max_pool_relu_weight_grads`` against a NumPy
formula written here (each window's first maximum by ``np.argmax``, relu's
mask, the sums in float64), against the unfused sequence of kernels they
replace, and against central finite differences.  The shapes reach every
branch: the convnet's exact 2x2 tiling, odd sizes whose last row/column no
window covers, pools 2 and 3, pool strides 1/2/3 (overlapping windows and
gaps), "same" on the pool and on the conv (patches on the padding), conv
strides 1/2/3, C = 1 and 3, F past a vector, batch 1; ties, NaN and
all-negative pre-activations; 1 and 2 threads.
"""

import numpy as np
import pytest

import tapegrad.kernels as K
from tapegrad.kernels.conv.geometry import output_shape_2d

from finite_differences import central_differences
from test_conv import CPU_BACKENDS, DTYPES, available
from test_conv_shallow_and_pools import POOL_CASES

# (N, H, W, C, KH, KW, F, conv strides, conv padding, pool, pool strides, pool padding)
BLOCK_CASES = [
    (3, 28, 28, 1, 3, 3, 32, 1, "valid", 2, None, "valid"),     # chapter 8's conv1: 26x26 tiled exactly
    (1, 12, 11, 1, 3, 3, 5, 1, "valid", 2, None, "valid"),      # batch 1; 10x9: the last column in no window
    (2, 9, 10, 3, 3, 3, 4, 1, "same", 3, 2, "valid"),           # pool 3, stride 2: overlapping windows; C = 3
    (2, 11, 9, 1, 2, 2, 7, 2, "same", 2, 1, "same"),            # conv stride 2; pool stride 1, "same"
    (1, 13, 14, 3, 3, 3, 6, 3, "same", 2, 3, "valid"),          # conv stride 3; pool stride 3 > 2: gaps
    (2, 8, 8, 1, 3, 3, 3, 1, "same", (2, 3), None, "same"),     # a 2x3 pool, short edge windows
    (1, 5, 5, 1, 5, 5, 2, 1, "valid", 1, None, "valid"),        # one conv output; pool 1
    (2, 10, 10, 2, 3, 3, 33, 1, "same", 2, None, "valid"),      # 2x2 windows whose patches touch the padding
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _block(case, dtype, seed=0, kind="random"):
    """x, the kernel shape, y (a relu conv's output) and the pooled gradient for ``case``.
    ``kind``: "random"; "ties" (y on a coarse grid, many zeros and equal maxima);
    "nan" (a few NaN in y); "negative" (every pre-activation negative: y = 0)."""
    n, h, w, c, kh, kw, f, cs, cp, pool, ps, pp = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    kernel = rng.standard_normal((kh, kw, c, f)).astype(dtype)
    pre = K.conv2d(x, kernel, strides=cs, padding=cp, backend="numpy")
    if kind == "ties":
        pre = np.round(pre).astype(dtype)
    elif kind == "negative":
        pre = -np.abs(pre) - 1
    y = np.maximum(pre, 0).astype(dtype)
    if kind == "nan":
        flat = y.reshape(-1)
        flat[rng.choice(flat.size, max(1, flat.size // 50), replace=False)] = np.nan
    pool = _pair(pool)
    strides = pool if ps is None else _pair(ps)
    (oh, ow), _ = output_shape_2d(y.shape[1], y.shape[2], pool, strides, pp)
    g = rng.standard_normal((n, oh, ow, f)).astype(dtype)
    return x, kernel.shape, y, g, dict(pool_size=pool, strides=strides, padding=pp), dict(strides=cs, padding=cp)


def _expected(g, y, pool, x=None, kernel_shape=None, conv=None):
    """The block's backward written from its definition, in float64: each pooled
    gradient sent to its window's first maximum (np.argmax: row-major, the first
    NaN), relu's mask y > 0, then db = its sums and dw = patches.T @ it."""
    n, h, w, f = y.shape
    (oh, ow), (top, left) = output_shape_2d(h, w, pool["pool_size"], pool["strides"], pool["padding"])
    dz = np.zeros(y.shape)
    for i in range(oh):
        r0 = max(i * pool["strides"][0] - top, 0)
        r1 = min(i * pool["strides"][0] - top + pool["pool_size"][0], h)
        for j in range(ow):
            c0 = max(j * pool["strides"][1] - left, 0)
            c1 = min(j * pool["strides"][1] - left + pool["pool_size"][1], w)
            win = y[:, r0:r1, c0:c1, :].reshape(n, -1, f)
            first = np.argmax(win, axis=1)                         # (N, F)
            for img in range(n):
                for ch in range(f):
                    r, q = divmod(first[img, ch], c1 - c0)
                    dz[img, r0 + r, c0 + q, ch] += g[img, i, j, ch]
    g2 = np.where(y > 0, dz, 0.0)
    db = g2.sum(axis=(0, 1, 2))
    if x is None:
        return g2, db
    kh, kw, c, _ = kernel_shape
    cs = _pair(conv["strides"])
    (_, _), (ctop, cleft) = output_shape_2d(x.shape[1], x.shape[2], (kh, kw), cs, conv["padding"])
    xp = np.zeros((n, x.shape[1] + kh + h * cs[0], x.shape[2] + kw + w * cs[1], c))
    xp[:, ctop:ctop + x.shape[1], cleft:cleft + x.shape[2]] = x
    dw = np.zeros(kernel_shape)
    for p in range(kh):
        for q in range(kw):
            patch = xp[:, p:p + h * cs[0]:cs[0], q:q + w * cs[1]:cs[1], :]     # (N, H, W, C)
            dw[p, q] = np.einsum("nijc,nijf->cf", patch, g2)
    return g2, db, dw


def _assert_close(ours, exact, scale, dtype, terms):
    assert ours.dtype == dtype and ours.shape == exact.shape
    bound = 32 * np.finfo(dtype).eps * max(1.0, np.sqrt(terms)) * scale + np.finfo(dtype).tiny
    err = np.abs(ours.astype(np.float64) - exact)
    assert err.max(initial=0) <= bound, f"max error {err.max():.3g} > {bound:.3g}"


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    return available(request.param)


@pytest.fixture(params=[1, 2])
def threads(request):
    K.set_num_threads(request.param)
    yield request.param
    K.set_num_threads("auto")


# ---------------------------------------------------------------- against the formula
@pytest.mark.parametrize("kind", ["random", "ties", "nan", "negative"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", BLOCK_CASES, ids=str)
def test_weight_grads_match_the_formula(backend, case, dtype, kind):
    x, kshape, y, g, pool, conv = _block(case, dtype, seed=3, kind=kind)
    dw, db = K.max_pool_relu_weight_grads(g, y, x, kshape, pool_size=pool["pool_size"],
                                          pool_strides=pool["strides"], pool_padding=pool["padding"],
                                          **conv, backend=backend)
    _, db_exact, dw_exact = _expected(g.astype(np.float64), y.astype(np.float64), pool, x.astype(np.float64),
                                      kshape, conv)
    terms = y.shape[0] * y.shape[1] * y.shape[2]
    _assert_close(db, db_exact, np.abs(g).sum(axis=(0, 1, 2)).max() + 1, dtype, terms)
    _assert_close(dw, dw_exact, np.abs(g).sum() * max(1.0, np.abs(x).max()), dtype, terms)
    if kind == "negative":
        assert not dw.any() and not db.any()


@pytest.mark.parametrize("kind", ["random", "ties", "nan"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", BLOCK_CASES, ids=str)
def test_pool_relu_backward_matches_the_formula_and_routes_exactly_as_the_unfused_kernels(backend, case, dtype,
                                                                                           kind):
    _, _, y, g, pool, _ = _block(case, dtype, seed=5, kind=kind)
    g2, db = K.max_pool_relu_backward(g, y, **pool, backend=backend)
    g2_exact, db_exact = _expected(g.astype(np.float64), y.astype(np.float64), pool)
    _assert_close(g2, g2_exact, np.abs(g).max() * 9, dtype, 9)
    _assert_close(db, db_exact, np.abs(g).sum(axis=(0, 1, 2)).max() + 1, dtype, y.size)
    # the same element receives each gradient as with max_pool2d_backward's tie and NaN rule
    dz = K.max_pool2d_backward(g, y, **pool, backend=backend)
    unfused = K.relu_backward(dz, y, backend=backend)
    assert np.array_equal(g2, unfused)


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pool_relu_backward_on_the_pool_cases(backend, case):
    n, h, w, c, pool_size, strides, padding = case
    rng = np.random.default_rng(13)
    y = np.maximum(np.round(rng.standard_normal((n, h, w, c)) * 2), 0)        # ties and zeros, float64
    pool = dict(pool_size=pool_size, strides=pool_size if strides is None else strides, padding=padding)
    (oh, ow), _ = output_shape_2d(h, w, pool["pool_size"], pool["strides"], padding)
    g = rng.standard_normal((n, oh, ow, c))
    g2, db = K.max_pool_relu_backward(g, y, **pool, backend=backend)
    g2_exact, db_exact = _expected(g, y, pool)
    _assert_close(g2, g2_exact, np.abs(g).max() * 25, np.float64, 25)
    _assert_close(db, db_exact, np.abs(g).sum() + 1, np.float64, y.size)


# ---------------------------------------------------------------- against the unfused kernels, threads
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", BLOCK_CASES[:4] + BLOCK_CASES[7:], ids=str)
def test_numba_fused_matches_the_unfused_sequence_on_1_and_2_threads(case, dtype, threads):
    available("numba")
    x, kshape, y, g, pool, conv = _block(case, dtype, seed=7, kind="ties")
    dz = K.max_pool2d_backward(g, y, **pool, backend="numba")
    f = y.shape[3]
    g2_seq, db_seq = K.relu_bias_grad(dz.reshape(-1, f), y.reshape(-1, f), backend="numba")
    dw_seq = K.conv2d_kernel_grad(g2_seq.reshape(y.shape), x, kshape, **conv, backend="numba")
    g2, db = K.max_pool_relu_backward(g, y, **pool, backend="numba")
    dw, db2 = K.max_pool_relu_weight_grads(g, y, x, kshape, pool_size=pool["pool_size"],
                                           pool_strides=pool["strides"], pool_padding=pool["padding"],
                                           **conv, backend="numba")
    assert np.array_equal(g2, g2_seq.reshape(y.shape))
    terms = y.shape[0] * y.shape[1] * y.shape[2]
    scale = np.abs(g).sum(axis=(0, 1, 2)).max() + 1
    _assert_close(db, db_seq.astype(np.float64), scale, dtype, terms)
    assert np.array_equal(db, db2)                    # one bias sum, whichever entry made it
    _assert_close(dw, dw_seq.astype(np.float64), np.abs(g).sum() * np.abs(x).max(), dtype, terms)


def test_numba_gives_the_same_numbers_on_1_and_2_threads():
    """Each image's sums go to a row of their own, added in image order: no dependence on threads."""
    available("numba")
    x, kshape, y, g, pool, conv = _block(BLOCK_CASES[0], np.float32, seed=9)
    runs = []
    for n_threads in (1, 2):
        K.set_num_threads(n_threads)
        try:
            runs.append(K.max_pool_relu_weight_grads(g, y, x, kshape, backend="numba")
                        + K.max_pool_relu_backward(g, y, backend="numba"))
        finally:
            K.set_num_threads("auto")
    for a, b in zip(*runs):
        assert np.array_equal(a, b)


# ---------------------------------------------------------------- finite differences through the block
@pytest.mark.parametrize("case", [BLOCK_CASES[1], BLOCK_CASES[2], BLOCK_CASES[4]], ids=str)
def test_the_block_gradients_match_finite_differences(backend, case):
    """L(w, b) = sum(max_pool2d(relu(conv2d(x, w) + b)) * G): dw and db from the fused
    call against central differences of L computed with the forward kernels (float64)."""
    x, kshape, _, _, pool, conv = _block(case, np.float64, seed=11)
    rng = np.random.default_rng(12)
    w0 = rng.standard_normal(kshape)
    b0 = rng.standard_normal(kshape[3]) * 0.3

    def forward(w, b):
        y = K.conv2d(x, w, b, **conv, activation="relu", backend="numpy")
        return y, K.max_pool2d(y, **pool, backend="numpy")

    y, pooled = forward(w0, b0)
    G = rng.standard_normal(pooled.shape)
    dw, db = K.max_pool_relu_weight_grads(G, y, x, kshape, pool_size=pool["pool_size"],
                                          pool_strides=pool["strides"], pool_padding=pool["padding"],
                                          **conv, backend=backend)
    numeric_w = central_differences(lambda w: float(np.sum(forward(w, b0)[1] * G)), w0)
    numeric_b = central_differences(lambda b: float(np.sum(forward(w0, b)[1] * G)), b0)
    np.testing.assert_allclose(dw, numeric_w, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(db, numeric_b, rtol=1e-6, atol=1e-6)
    g2, db2 = K.max_pool_relu_backward(G, y, **pool, backend=backend)
    np.testing.assert_allclose(db2, numeric_b, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- bad input
def test_bad_input_is_a_clear_error_before_any_kernel_runs():
    x, kshape, y, g, pool, conv = _block(BLOCK_CASES[1], np.float32)
    with pytest.raises(ValueError, match="grad_out has shape"):
        K.max_pool_relu_backward(g[:, :-1], y, backend="numba")
    with pytest.raises(ValueError, match="y"):
        K.max_pool_relu_backward(g, y[0], backend="numba")
    with pytest.raises(TypeError):
        K.max_pool_relu_backward(g.astype(np.float64), y, backend="numba")
    with pytest.raises(ValueError, match="padding"):
        K.max_pool_relu_backward(g, y, padding="full", backend="numba")
    with pytest.raises(ValueError, match="strides"):
        K.max_pool_relu_backward(g, y, strides=0, backend="numba")
    with pytest.raises(ValueError, match="y has shape"):                 # y is not conv(x)'s output
        K.max_pool_relu_weight_grads(g, y, x[:, 1:], kshape, backend="numba")
    with pytest.raises(ValueError, match="y has shape"):                 # the conv's strides disagree with y
        K.max_pool_relu_weight_grads(g, y, x, kshape, strides=2, backend="numba")
    with pytest.raises(ValueError, match="channels"):
        K.max_pool_relu_weight_grads(g, y, x, (3, 3, 2, kshape[3]), backend="numba")
    with pytest.raises(TypeError):
        K.max_pool_relu_weight_grads(g, y, x.astype(np.float64), kshape, backend="numba")
    with pytest.raises(ValueError, match="kernel_shape"):
        K.max_pool_relu_weight_grads(g, y, x, (3, 3, 1), backend="numba")


def test_empty_batches_give_zeros():
    x = np.zeros((0, 6, 6, 1), np.float32)
    y = np.zeros((0, 4, 4, 3), np.float32)
    g = np.zeros((0, 2, 2, 3), np.float32)
    dw, db = K.max_pool_relu_weight_grads(g, y, x, (3, 3, 1, 3), backend="numba")
    assert dw.shape == (3, 3, 1, 3) and not dw.any() and db.shape == (3,) and not db.any()
    g2, db = K.max_pool_relu_backward(g, y, backend="numba")
    assert g2.shape == y.shape and not db.any()
