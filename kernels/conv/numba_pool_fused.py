"""The backward of ``Conv2D(activation="relu") -> MaxPooling2D`` in one pass (Numba).

Unfused, the block's backward is three passes over the conv's (N, H, W, F)
output: ``max_pool2d_backward`` writes a gradient dz that is zero except at
each window's maximum, relu's backward masks it and sums its columns (the
bias gradient), and ``conv2d_kernel_grad`` correlates it with the image.
But every pooled gradient lands on exactly ONE element, its window's first
maximum ``pos`` (the rule of numba_pools.py, kept here: row-major, the first
NaN wins), and relu's mask there is ``y[pos] > 0``, the window's max itself.
So, per window and channel:

* ``gm = grad if max > 0 else 0`` is what dz holds at ``pos``, and the bias
  gradient is the sum of the ``gm`` (no pass over dz);
* ``_pool_relu_backward`` writes dz from the ``gm`` (the layers after the
  first need it for their input gradient): one pass instead of three;
* ``_pool_relu_weight_grads`` (the first layer: no input gradient, so dz is
  never written) also adds, for each window position k, the patch of the
  image under it times ``m[k] = gm`` masked to the channels whose maximum is
  at k: ``dW[tap, :] += x[patch_k + tap] * m[k, :]``, the kernel gradient's
  own products, with dz's rows made in a small scratch instead of read from
  a 5.5 MB dz.

Each image's sums go to its own row of ``parts`` (the bias's in float64, as
kernels/elementwise sums a bias gradient); the rows are added in image order
in float64 at the end, so the result is the same on 1 or 2 threads.  The
order of the sums differs from the unfused kernels' (pixel rows, blocks of
pixels), so the numbers agree with them within float rounding, not bit for bit.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange
from .._numba.cache import depends_on, guard_caches
from numba.core import types
from numba.extending import intrinsic

from .._numba.intrinsics import _zero, prefer_512bit_vectors
from .numba_pools import _clear_for_backward, _tiles_exactly, _window, _window_max

depends_on(__file__, "_numba/intrinsics.py", "conv/numba_pools.py")


@intrinsic
def _wide_vectors(typingctx):
    """Mark the calling function to prefer 512-bit vectors (LLVM tunes some
    AVX-512 CPUs to 256 bits; see intrinsics.prefer_512bit_vectors)."""
    def codegen(context, builder, signature, args):
        prefer_512bit_vectors(builder.function)
        return context.get_dummy_value()
    return types.none(), codegen


@njit(cache=True)
def _masked_grad(grad, gat, best, f, gm, db):
    """gm = the pooled gradient where relu let it through (the window's max > 0);
    db (float64, as kernels/elementwise's bias sums) += gm."""
    z = _zero(grad)
    for ch in range(np.uint64(f)):
        g = grad[gat + ch] if best[ch] > z else z
        gm[ch] = g
        db[ch] += g


@njit(cache=True)
def _window_max_2x2(y, p0, right, down, f, best, where):
    """:func:`_window_max` for a full 2x2 window at flat offset ``p0`` of y: its
    four elements compared in one vector loop over the channels (positions 0, 1
    on the top row, 2, 3 below), each comparison a select, not a branch."""
    z = _zero(y)
    one = z + 1
    two = one + one
    three = two + one
    p1, p2 = p0 + np.uint64(right), p0 + np.uint64(down)
    p3 = p2 + np.uint64(right)
    for ch in range(np.uint64(f)):
        top = y[p0 + ch]
        v = y[p1 + ch]
        take = (v > top) | ((v != v) & (top == top))
        b = v if take else top
        at = one if take else z
        v = y[p2 + ch]
        take = (v > b) | ((v != v) & (b == b))
        b = v if take else b
        at = two if take else at
        v = y[p3 + ch]
        take = (v > b) | ((v != v) & (b == b))
        best[ch] = v if take else b
        where[ch] = three if take else at


@njit(cache=True)
def _split_2x2(gm, where, f, m):
    """m[k, :] = gm where the window's maximum is at position k (of 4), else 0."""
    z = _zero(gm)
    one = z + 1
    uf = np.uint64(f)
    for ch in range(uf):
        g, at = gm[ch], where[ch]
        m[ch] = g if at == z else z
        m[uf + ch] = g if at == one else z
        m[2 * uf + ch] = g if at == one + one else z
        m[3 * uf + ch] = g if at == one + one + one else z


@njit(cache=True)
def _write_2x2(out, p0, right, down, gm, where, f):
    """dz of a full 2x2 window at flat offset ``p0``: gm at the maximum's position, 0 at the others."""
    z = _zero(out)
    one = z + 1
    uf = np.uint64(f)
    p1, p2 = p0 + np.uint64(right), p0 + np.uint64(down)
    p3 = p2 + np.uint64(right)
    for ch in range(uf):
        g, at = gm[ch], where[ch]
        out[p0 + ch] = g if at == z else z
        out[p1 + ch] = g if at == one else z
        out[p2 + ch] = g if at == one + one else z
        out[p3 + ch] = g if at == one + one + one else z


@njit(cache=True, parallel=True)
def _pool_relu_backward(grad, y, n, h, w, f, oh, ow, ph, pw, sh, sw, top, left, out, db_parts):
    """out = relu_backward(max_pool2d_backward(grad, y), y); db_parts[img] = its column sums over image img."""
    uf = np.uint64(f)
    z = _zero(y)
    exact = _tiles_exactly(h, oh, ph, sh, top) and _tiles_exactly(w, ow, pw, sw, left)
    overlap = sh < ph or sw < pw
    for img in prange(n):
        best = np.empty(f, y.dtype)
        where = np.empty(f, y.dtype)
        gm = np.empty(f, y.dtype)
        db = db_parts[img]
        db[:] = z
        _clear_for_backward(out, img * h * w * f, overlap, exact, h, w, f, oh, ow, ph, pw, sh, sw, top, left)
        for i in range(oh):
            r0, r1 = _window(i, sh, top, h, ph)
            for j in range(ow):
                c0, c1 = _window(j, sw, left, w, pw)
                gat = np.uint64(((img * oh + i) * ow + j) * f)
                if r1 - r0 == 2 and c1 - c0 == 2 and not overlap:   # the convnet's case, in vector loops
                    p0 = np.uint64(((img * h + r0) * w + c0) * f)
                    _window_max_2x2(y, p0, f, w * f, f, best, where)
                    _masked_grad(grad, gat, best, f, gm, db)
                    _write_2x2(out, p0, f, w * f, gm, where, f)
                    continue
                _window_max(y, img, h, w, f, r0, r1, c0, c1, best, where)
                _masked_grad(grad, gat, best, f, gm, db)
                pos = z
                for r in range(r0, r1):
                    for s in range(c0, c1):
                        dst = np.uint64(((img * h + r) * w + s) * f)
                        if overlap:
                            for ch in range(uf):
                                out[dst + ch] += gm[ch] if where[ch] == pos else z
                        else:
                            for ch in range(uf):
                                out[dst + ch] = gm[ch] if where[ch] == pos else z
                        pos += 1


@njit(cache=True)
def _gather_patches(x, img, xh, xw, c, kh, kw, r0, r1, c0, c1, csh, csw, ctop, cleft, xs):
    """xs[k*K + tap] = the image number under tap (p, q, ch) of the patch of window
    position k (row-major over the window's conv outputs), 0 on the padding."""
    z = _zero(x)
    k_taps = kh * kw * c
    at = 0
    for r in range(r0, r1):
        for s in range(c0, c1):
            top_row, left_col = r * csh - ctop, s * csw - cleft
            for p in range(kh):
                xr = top_row + p
                for q in range(kw):
                    xc = left_col + q
                    tap = at + (p * kw + q) * c
                    if 0 <= xr < xh and 0 <= xc < xw:   # a branch: x is never read off the image
                        src = np.uint64(((img * xh + xr) * xw + xc) * c)
                        for ch_in in range(c):
                            xs[tap + ch_in] = x[src + np.uint64(ch_in)]
                    else:
                        for ch_in in range(c):
                            xs[tap + ch_in] = z
            at += k_taps


@njit(cache=True, fastmath={"contract"})
def _add_taps(acc, xs, k_taps, m, npos, f):
    """acc[tap, :] += sum over window positions k of xs[k, tap] * m[k, :]: the
    window's share of dW = P.T @ dz, dz's rows being the masked gradients m."""
    uf = np.uint64(f)
    for k in range(npos):
        mk = np.uint64(k * f)
        for tap in range(k_taps):
            a = xs[k * k_taps + tap]
            row = np.uint64(tap * f)
            for ch in range(uf):
                acc[row + ch] += a * m[mk + ch]


@njit(cache=True, fastmath={"contract"})
def _add_taps_2x2(acc, x, first, right, down, xw, c, kh, kw, m, f):
    """The same for a full 2x2 window whose four patches lie inside the image
    (the convnet's case): the patches are read where they lie (position k's at
    ``first`` + ``right`` and/or ``down``), and the four positions are added in
    one pass over each row of acc (one load and store of acc per tap, not four)."""
    _wide_vectors()
    uf = np.uint64(f)
    b0 = np.uint64(first)
    b1, b2 = np.uint64(first + right), np.uint64(first + down)
    b3 = np.uint64(first + right + down)
    row = np.uint64(0)
    for p in range(kh):
        for e in range(np.uint64(kw * c)):       # taps (q, ch) of kernel row p: contiguous in NHWC
            off = np.uint64(p * xw * c) + e
            a, b, cc, d = x[b0 + off], x[b1 + off], x[b2 + off], x[b3 + off]
            for ch in range(uf):
                acc[row + ch] += a * m[ch] + b * m[uf + ch] + cc * m[2 * uf + ch] + d * m[3 * uf + ch]
            row += uf


@njit(cache=True, parallel=True)
def _pool_relu_weight_grads(grad, y, x, n, h, w, f, oh, ow, ph, pw, sh, sw, top, left,
                            xh, xw, c, kh, kw, csh, csw, ctop, cleft, dw_parts, db_parts):
    """dw_parts[img] (K*F, tap-major) and db_parts[img] (F): the kernel and bias
    gradients of a relu conv followed by a max-pool, from image img alone, dz never made."""
    uf = np.uint64(f)
    z = _zero(y)
    k_taps = kh * kw * c
    for img in prange(n):
        best = np.empty(f, y.dtype)
        where = np.empty(f, y.dtype)
        gm = np.empty(f, y.dtype)
        m = np.empty(ph * pw * f, y.dtype)       # m[k, :]: the masked gradient at window position k
        xs = np.empty(ph * pw * k_taps, y.dtype)  # xs[k, :]: the patch of the image under position k
        acc = dw_parts[img]
        acc[:] = z
        db = db_parts[img]
        db[:] = z
        for i in range(oh):
            r0, r1 = _window(i, sh, top, h, ph)
            for j in range(ow):
                c0, c1 = _window(j, sw, left, w, pw)
                gat = np.uint64(((img * oh + i) * ow + j) * f)
                npos = (r1 - r0) * (c1 - c0)
                if r1 - r0 == 2 and c1 - c0 == 2:
                    _window_max_2x2(y, np.uint64(((img * h + r0) * w + c0) * f), f, w * f, f, best, where)
                    _masked_grad(grad, gat, best, f, gm, db)
                    _split_2x2(gm, where, f, m)
                else:
                    _window_max(y, img, h, w, f, r0, r1, c0, c1, best, where)
                    _masked_grad(grad, gat, best, f, gm, db)
                    pos = z
                    for k in range(npos):
                        mk = np.uint64(k * f)
                        for ch in range(uf):
                            m[mk + ch] = gm[ch] if where[ch] == pos else z
                        pos += 1
                top_row, left_col = r0 * csh - ctop, c0 * csw - cleft
                if (r1 - r0 == 2 and c1 - c0 == 2 and top_row >= 0 and left_col >= 0
                        and top_row + csh + kh <= xh and left_col + csw + kw <= xw):
                    _add_taps_2x2(acc, x, ((img * xh + top_row) * xw + left_col) * c, csw * c, csh * xw * c,
                                  xw, c, kh, kw, m, f)
                else:
                    _gather_patches(x, img, xh, xw, c, kh, kw, r0, r1, c0, c1, csh, csw, ctop, cleft, xs)
                    _add_taps(acc, xs, k_taps, m, npos, f)


@njit(cache=True)
def _sum_rows(parts, out):
    """out = parts[0] + parts[1] + ... added in row (image) order in float64 and
    rounded once: the same numbers on any number of threads."""
    acc = np.zeros(parts.shape[1], np.float64)
    for row in range(parts.shape[0]):
        for col in range(parts.shape[1]):
            acc[col] += parts[row, col]
    for col in range(parts.shape[1]):
        out[col] = acc[col]


def _pool_dims(y_shape, pooled_shape, pool_size, strides, pads):
    n, h, w, f = y_shape
    return (n, h, w, f, pooled_shape[1], pooled_shape[2], *pool_size, *strides, *pads)


# ---------------------------------------------------------------- the backend functions
def max_pool_relu_backward(grad_out, y, pool_size, strides, pads, out, db):
    parts = np.empty((y.shape[0], y.shape[3]), np.float64)
    _pool_relu_backward(grad_out.reshape(-1), y.reshape(-1), *_pool_dims(y.shape, grad_out.shape, pool_size,
                                                                          strides, pads), out.reshape(-1), parts)
    _sum_rows(parts, db)
    return out, db


def max_pool_relu_weight_grads(grad_out, y, x, pool_size, pool_strides, pool_pads, conv_strides, conv_pads,
                               dw, db):
    kh, kw, c, f = dw.shape
    n = y.shape[0]
    dw_parts = np.empty((n, kh * kw * c * f), y.dtype)
    db_parts = np.empty((n, f), np.float64)
    _pool_relu_weight_grads(grad_out.reshape(-1), y.reshape(-1), x.reshape(-1),
                            *_pool_dims(y.shape, grad_out.shape, pool_size, pool_strides, pool_pads),
                            x.shape[1], x.shape[2], c, kh, kw, *conv_strides, *conv_pads, dw_parts, db_parts)
    _sum_rows(dw_parts, dw.reshape(-1))
    _sum_rows(db_parts, db)
    return dw, db


guard_caches(globals())  # a corrupt cache entry is dropped and recompiled
