"""Max and average pooling in Numba: memory-bound single passes over NHWC images.

Every loop that touches numbers runs along the channels, which are
contiguous in NHWC: with flat (1-D) views and unsigned offsets LLVM turns
each into vector code (no per-element bounds or wraparound tests), so a
pass costs about what moving its bytes costs.

* forward: the window's elements are folded into the output row one pixel
  at a time (max with np.max's NaN rule, or a sum scaled at the end);
* max backward: for each window, the position of the first maximum per
  channel is found as a number (0, 1, 2, ... in row-major window order,
  held in x's dtype so it shares x's vector lanes), then every element of
  the window is *written* once: grad where it is that position, else 0.
  Where the windows tile the image exactly (stride = pool, no leftover
  rows or columns: the convnet's 2x2 pools on even sizes) that covers every
  element and no zero-fill pass is needed; where they leave gaps the
  uncovered rows and columns are zeroed, and where they overlap the output
  is zeroed first and the windows *add*;
* avg backward: the same three cases, each element getting grad / count.

Threads take whole images (windows of one image may overlap; images never
share an element); an image's rows go to one thread.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange
from .._numba.cache import depends_on, guard_caches
from .._numba.intrinsics import _zero

depends_on(__file__, "_numba/intrinsics.py")


@njit(cache=True)
def _window(i, stride, pad, size, window):
    start = i * stride - pad
    return max(start, 0), min(start + window, size)


@njit(cache=True)
def _tiles_exactly(size, out_size, window, stride, pad):
    """True when windows of ``window`` at ``stride`` cover [0, size) once each."""
    return stride == window and pad == 0 and out_size * window == size


@njit(cache=True)
def _zero_gaps(out, base, h, w, c, oh, ow, ph, pw, sh, sw, top, left):
    """Zero the rows and columns of one image (at flat offset ``base``) that
    no window covers (non-overlapping windows: stride >= pool)."""
    z = _zero(out)
    rowlen = np.uint64(w * c)
    covered_r = 0   # rows [0, covered_r) handled
    for i in range(oh + 1):
        r0, r1 = _window(i, sh, top, h, ph) if i < oh else (h, h)
        for r in range(covered_r, r0):   # a gap before this window's rows
            o = np.uint64(base + r * w * c)
            for e in range(rowlen):
                out[o + e] = z
        covered_r = max(covered_r, r1)
        if i == oh:
            break
        for r in range(r0, r1):
            covered_c = 0
            for j in range(ow + 1):
                c0, c1 = _window(j, sw, left, w, pw) if j < ow else (w, w)
                o = np.uint64(base + (r * w + covered_c) * c)
                for e in range(np.uint64((c0 - covered_c) * c) if c0 > covered_c else np.uint64(0)):
                    out[o + e] = z
                covered_c = max(covered_c, c1)


@njit(cache=True)
def _clear_for_backward(out, base, overlap, exact, h, w, c, oh, ow, ph, pw, sh, sw, top, left):
    """Before a pool backward writes one image (at flat offset ``base``): with
    overlapping windows it adds, so the whole image starts at zero; otherwise
    it writes every covered element once, so only the gaps need zeros (none
    when the windows tile the image exactly)."""
    if overlap:
        z = _zero(out)
        o = np.uint64(base)
        for e in range(np.uint64(h * w * c)):
            out[o + e] = z
    elif not exact:
        _zero_gaps(out, base, h, w, c, oh, ow, ph, pw, sh, sw, top, left)


@njit(cache=True, inline="always")
def _max_nan(v, best):
    """max(v, best) with np.max's NaN rule (a NaN wins); ``best`` on a tie."""
    return v if (v > best or (v != v and best == best)) else best


@njit(cache=True, parallel=True)
def _max_pool(x, n, h, w, c, oh, ow, ph, pw, sh, sw, top, left, out):
    """out[n, i, j, :] = the max of the window's real elements (np.max: a NaN wins).

    A whole 2x2 window (the convnet's pools) is one pass over the channels:
    four loads, three maxima, one store per channel, no read-modify-write of
    out.  Other windows start from their first element and fold the others in
    row by row (the first compared with itself: no branch in the loops)."""
    uc = np.uint64(c)
    row = np.uint64(w * c)
    for img in prange(n):
        for i in range(oh):
            r0, r1 = _window(i, sh, top, h, ph)
            for j in range(ow):
                c0, c1 = _window(j, sw, left, w, pw)
                o = np.uint64(((img * oh + i) * ow + j) * c)
                first = np.uint64(((img * h + r0) * w + c0) * c)
                if r1 - r0 == 2 and c1 - c0 == 2:
                    for ch in range(uc):
                        top_pair = _max_nan(x[first + uc + ch], x[first + ch])
                        bottom_pair = _max_nan(x[first + row + uc + ch], x[first + row + ch])
                        out[o + ch] = _max_nan(bottom_pair, top_pair)
                    continue
                for ch in range(uc):
                    out[o + ch] = x[first + ch]
                for r in range(r0, r1):
                    for s in range(c0, c1):
                        src = np.uint64(((img * h + r) * w + s) * c)
                        for ch in range(uc):
                            out[o + ch] = _max_nan(x[src + ch], out[o + ch])


@njit(cache=True, inline="always")
def _window_max(y, img, h, w, f, r0, r1, c0, c1, best, where):
    """For each channel of one window: its max (``best``) and the row-major
    position of its first maximum (``where``, a number in y's dtype; the first
    NaN wins): the rule of the max-pool backward, here and in numba_pool_fused.py.
    Inlined into its callers (``inline="always"``): as a call it made the pool
    backward 12-20% slower, side by side in one process."""
    uf = np.uint64(f)
    z = _zero(y)
    first = np.uint64(((img * h + r0) * w + c0) * f)
    for ch in range(uf):
        best[ch] = y[first + ch]
        where[ch] = z
    pos = z
    for r in range(r0, r1):
        for s in range(c0, c1):
            src = np.uint64(((img * h + r) * w + s) * f)
            for ch in range(uf):
                v = y[src + ch]
                b = best[ch]
                take = v > b or (v != v and b == b)
                best[ch] = v if take else b
                where[ch] = pos if take else where[ch]
            pos += 1


@njit(cache=True, parallel=True)
def _max_pool_backward(grad, x, n, h, w, c, oh, ow, ph, pw, sh, sw, top, left, out):
    """out = d(sum(max_pool(x) * grad))/dx: each grad[n, i, j, ch] at its
    window's first maximum (row-major; the first NaN if any), 0 elsewhere."""
    uc = np.uint64(c)
    z = _zero(x)
    exact = _tiles_exactly(h, oh, ph, sh, top) and _tiles_exactly(w, ow, pw, sw, left)
    overlap = sh < ph or sw < pw
    for img in prange(n):
        best = np.empty(c, x.dtype)
        where = np.empty(c, x.dtype)   # window position of the first maximum, as a number
        _clear_for_backward(out, img * h * w * c, overlap, exact, h, w, c, oh, ow, ph, pw, sh, sw, top, left)
        for i in range(oh):
            r0, r1 = _window(i, sh, top, h, ph)
            for j in range(ow):
                c0, c1 = _window(j, sw, left, w, pw)
                gat = np.uint64(((img * oh + i) * ow + j) * c)
                _window_max(x, img, h, w, c, r0, r1, c0, c1, best, where)
                pos = z
                for r in range(r0, r1):
                    for s in range(c0, c1):
                        dst = np.uint64(((img * h + r) * w + s) * c)
                        if overlap:
                            for ch in range(uc):
                                out[dst + ch] += grad[gat + ch] if where[ch] == pos else z
                        else:
                            for ch in range(uc):
                                out[dst + ch] = grad[gat + ch] if where[ch] == pos else z
                        pos += 1


@njit(cache=True, parallel=True)
def _avg_pool(x, n, h, w, c, oh, ow, ph, pw, sh, sw, top, left, out):
    """out[n, i, j, :] = the mean of the window's real elements."""
    uc = np.uint64(c)
    z = _zero(x)
    for img in prange(n):
        for i in range(oh):
            r0, r1 = _window(i, sh, top, h, ph)
            for j in range(ow):
                c0, c1 = _window(j, sw, left, w, pw)
                scale = (z + 1) / (z + np.float32((r1 - r0) * (c1 - c0)))
                o = np.uint64(((img * oh + i) * ow + j) * c)
                for ch in range(uc):
                    out[o + ch] = z
                for r in range(r0, r1):
                    for s in range(c0, c1):
                        src = np.uint64(((img * h + r) * w + s) * c)
                        for ch in range(uc):
                            out[o + ch] += x[src + ch]
                for ch in range(uc):
                    out[o + ch] *= scale


@njit(cache=True, parallel=True)
def _avg_pool_backward(grad, n, h, w, c, oh, ow, ph, pw, sh, sw, top, left, out):
    """out = each grad[n, i, j, :] / count spread over its window's real elements."""
    uc = np.uint64(c)
    z = _zero(out)
    exact = _tiles_exactly(h, oh, ph, sh, top) and _tiles_exactly(w, ow, pw, sw, left)
    overlap = sh < ph or sw < pw
    for img in prange(n):
        _clear_for_backward(out, img * h * w * c, overlap, exact, h, w, c, oh, ow, ph, pw, sh, sw, top, left)
        for i in range(oh):
            r0, r1 = _window(i, sh, top, h, ph)
            for j in range(ow):
                c0, c1 = _window(j, sw, left, w, pw)
                count = z + np.float32((r1 - r0) * (c1 - c0))
                gat = np.uint64(((img * oh + i) * ow + j) * c)
                for r in range(r0, r1):
                    for s in range(c0, c1):
                        dst = np.uint64(((img * h + r) * w + s) * c)
                        if overlap:
                            for ch in range(uc):
                                out[dst + ch] += grad[gat + ch] / count
                        else:
                            for ch in range(uc):
                                out[dst + ch] = grad[gat + ch] / count


def _dims(x_shape, out_shape, pool_size, strides, pads):
    n, h, w, c = x_shape
    return (n, h, w, c, out_shape[1], out_shape[2], *pool_size, *strides, *pads)


# ---------------------------------------------------------------- the backend functions
def max_pool2d(x, pool_size, strides, pads, out):
    _max_pool(x.reshape(-1), *_dims(x.shape, out.shape, pool_size, strides, pads), out.reshape(-1))
    return out


def max_pool2d_backward(grad_out, x, pool_size, strides, pads, out):
    _max_pool_backward(grad_out.reshape(-1), x.reshape(-1), *_dims(x.shape, grad_out.shape, pool_size, strides, pads),
                       out.reshape(-1))
    return out


def avg_pool2d(x, pool_size, strides, pads, out):
    _avg_pool(x.reshape(-1), *_dims(x.shape, out.shape, pool_size, strides, pads), out.reshape(-1))
    return out


def avg_pool2d_backward(grad_out, pool_size, strides, pads, out):
    _avg_pool_backward(grad_out.reshape(-1), *_dims(out.shape, grad_out.shape, pool_size, strides, pads),
                       out.reshape(-1))
    return out


guard_caches(globals())  # a corrupt cache entry is dropped and recompiled
