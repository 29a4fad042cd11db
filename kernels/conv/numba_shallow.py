"""Shallow convolutions in Numba (K = KH*KW*C small, such as the first layer of a convnet).

With one input channel and a 3x3 kernel a patch row has K = 9 numbers:
the implicit GEMM's packing (kernels/conv/numba.py) copies them as nine runs
of one number each, and a scalar loop over the pixels leaves the filters'
accumulators in memory.  Here the patches are *gathered* through a table of
tap offsets (one load per number, no bounds tests for a pixel whose window
lies inside the image) straight into the layout the GEMM's register
micro-kernel reads (kernels/gemm/numba_microkernels.py), and that
micro-kernel does the arithmetic, its MR x NR tile of accumulators in vector
registers (MR = 12 pixels or taps, NR = 32 float32 / 16 float64 filters):

* forward: out (M x F) = P @ W.  A tile is MR consecutive pixels: tap t of
  pixel r goes to ap[t*MR + r] (a packed A panel, K deep); W is packed once
  as B; bias and relu are the micro-kernel's epilogue.
* kernel gradient: dW (K x F) = P.T @ grad, reduced over the M pixels.  Now
  the taps are A's rows (pixel p's K taps at ap[p*MR + t], rows past K zero)
  and grad itself is B, read in place when F is a multiple of NR (else
  packed); the tile runs down KC pixels at a time, accumulating into dW.
  Threads split the pixels, each into its own dW, summed at the end.

kernels/conv/DESIGN.md ("The shallow case") gives the costs.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange
from .._numba.cache import depends_on, guard_caches
from .._numba.intrinsics import _U0, _U1, _ptr, _zero
from ..gemm.numba import _I0, KC, MR, _nr, _pack_b, _store_edge, _tile

# the GEMM tile code is compiled in
depends_on(__file__, "_numba/intrinsics.py", "gemm/numba_microkernels.py", "gemm/numba.py")

_UMR = np.uint64(MR)
#: K = KH*KW*C at or below this goes to the kernels here: with C = 1 (the
#: convnet's first layer, K = 9) the implicit GEMM's packing costs more than
#: the GEMM it feeds (MEASUREMENTS.md)
SHALLOW_K = 16


@njit(cache=True)
def _tap_offsets(w, c, kh, kw, k):
    """offs[t] = where tap t = (p*KW + q)*C + ch reads, relative to the first
    number of the window's top-left pixel: (p*W + q)*C + ch."""
    offs = np.empty(k, np.uint64)
    t = 0
    for p in range(kh):
        for q in range(kw):
            for ch in range(c):
                offs[t] = (p * w + q) * c + ch
                t += 1
    return offs


@njit(cache=True)
def _gather_pixel(x, g, kh, img, i, j, d, tdst, ap):
    """Pixel (img, i, j)'s patch into ap[d + tdst[t]], testing each tap
    against the image's edges (zeros on the padding)."""
    h, w, c, kw, sh, sw, top, left = g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]
    z = _zero(ap)
    t = 0
    for p in range(kh):
        for q in range(kw):
            rr = i * sh - top + p
            cc = j * sw - left + q
            inside = rr >= 0 and rr < h and cc >= 0 and cc < w
            src = ((img * h + rr) * w + cc) * c
            for ch in range(c):
                ap[d + tdst[t]] = x[src + ch] if inside else z
                t += 1


@njit(cache=True)
def _gather_patches(x, g, kh, oh, ow, m0, count, offs, pix_stride, tdst, ap):
    """ap[r*pix_stride + tdst[t]] = P[m0 + r, t] for r < count and every tap t:
    the patch matrix's rows (zeros for taps on the padding).  ``g`` is
    ``_geometry``'s tuple (H, W, C, KW, sh, sw, top, left, 1, 1).

    The pixels go by runs along an output row.  Where the windows of a run
    lie inside the image, tap t of the run's pixels is one strided copy
    (source step sw*C: contiguous for the convnet's first layer) through the
    offset table; only the pixels whose window touches the padding test
    each tap (``_gather_pixel``)."""
    h, w, c, kw, sh, sw, top, left = g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]
    k = offs.size
    step = np.uint64(sw * c)
    ps = np.uint64(pix_stride)
    j_first = (left + sw - 1) // sw                                   # first column whose window starts inside
    j_end = (w - kw + left) // sw + 1 if w - kw + left >= 0 else 0   # past the last one ending inside
    img = m0 // (oh * ow)
    rem = m0 - img * oh * ow
    i = rem // ow
    j = rem - i * ow
    r = 0
    while r < count:
        seg = min(count - r, ow - j)
        r0 = i * sh - top
        ja, jb = j, j
        if r0 >= 0 and r0 + kh <= h:
            ja = min(max(j, j_first), j + seg)
            jb = max(min(j + seg, j_end), ja)
        for jj in range(j, ja):
            _gather_pixel(x, g, kh, img, i, jj, np.uint64((r + jj - j) * pix_stride), tdst, ap)
        if ja < jb:
            run = np.uint64(jb - ja)
            base = np.uint64(((img * h + r0) * w + ja * sw - left) * c)
            d0 = np.uint64((r + ja - j) * pix_stride)
            for t in range(np.uint64(k)):
                src = base + offs[t]
                dst = d0 + tdst[t]
                if ps == 1 and step == 1:   # contiguous both sides: vector copies
                    for e in range(run):
                        ap[dst + e] = x[src + e]
                else:
                    for e in range(run):
                        ap[dst + e * ps] = x[src + e * step]
        for jj in range(jb, j + seg):
            _gather_pixel(x, g, kh, img, i, jj, np.uint64((r + jj - j) * pix_stride), tdst, ap)
        r += seg
        j += seg
        if j == ow:
            j = 0
            i += 1
            if i == oh:
                i = 0
                img += 1


@njit(cache=True)
def _packed_tile(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    """``_tile`` with A packed, as a function of its own: inlined (as ``_tile`` is)
    at several call sites of one function, the micro-kernels' accumulators
    spill to the stack and the shallow convolution ran 3-4 times slower."""
    _tile(False, kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu)


@njit(cache=True)
def _rows_tile(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    """``_tile`` with A read by rows in place; a function of its own, as ``_packed_tile``."""
    _tile(True, kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu)


@njit(cache=True)
def _gathered_tiles(x, g, kh, oh, ow, m0, m1, k, f, offs, tdst, bp, out, bias, use_bias, relu, ap, t):
    """Output pixels [m0, m1) in tiles of MR: gather their patches, then one
    micro-kernel call per NR filters (the last, narrower panel through the
    scratch ``t``)."""
    u = np.uint64
    nr = _nr(out)
    inr = np.int64(nr)
    npan = (f + inr - 1) // inr
    nfull = f // inr
    for ii in range(m0, m1, MR):
        rows = u(min(MR, m1 - ii))
        _gather_patches(x, g, kh, oh, ow, ii, rows, offs, _U1, tdst, ap)
        for jr in range(nfull):
            _packed_tile(u(k), _ptr(ap), _U0, _UMR, _ptr(bp), u(jr * k * inr), nr,
                  _ptr(out), u(ii * f + jr * inr), u(f), rows, False, _ptr(bias), u(jr * inr), use_bias, relu)
        if nfull < npan:
            jj = nfull * inr
            _packed_tile(u(k), _ptr(ap), _U0, _UMR, _ptr(bp), u(nfull * k * inr), nr,
                  _ptr(t), _U0, nr, rows, False, _ptr(bias), _U0, False, False)
            _store_edge(_ptr(t), nr, rows, u(f - jj), _ptr(out), u(ii * f + jj), u(f), _U1,
                        False, _ptr(bias), u(jj), _U0, use_bias, relu)


@njit(cache=True)
def _pack_run(x, a0, offs, step, ap):
    """The packed A panel of MR pixels in a row whose windows lie inside the
    image: ap[t*MR + e] = x[a0 + e*step + offs[t]].  The copies have a
    constant length (MR), so LLVM makes each tap's copy a few vector moves
    when step = 1 (C = 1, stride 1: the convnet's first layer)."""
    for t in range(np.uint64(offs.size)):
        src = a0 + offs[t]
        dst = t * _UMR
        if step == _U1:
            for e in range(MR):
                ap[dst + np.uint64(e)] = x[src + np.uint64(e)]
        else:
            for e in range(MR):
                ap[dst + np.uint64(e)] = x[src + np.uint64(e) * step]


@njit(cache=True)
def _shallow_rows(x, g, kh, oh, ow, k, f, offs, tdst, bp, out, bias, use_bias, relu, row_lo, row_hi, ap, t):
    """Output rows [row_lo, row_hi) (a row: one image, one i).  Along a run
    of pixels whose windows lie inside the image, each full tile of MR pixels
    is packed by MR-long copies per tap (``_pack_run``) and done in one
    micro-kernel call K deep.  The run's last few pixels read A in place: for
    kernel row p, tap (q, ch) of pixel r is x[a0 + p*W*C + r*sw*C + q*C + ch],
    a matrix with row stride sw*C that the "A by rows" micro-kernel reads as
    it is, so they take KH calls, K/KH deep, adding into the same tile of out
    (bias and relu on the last).  Pixels whose windows touch the padding are
    gathered (``_gathered_tiles``)."""
    u = np.uint64
    h, w, c, kw, sh, sw, top, left = g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]
    nr = _nr(out)
    inr = np.int64(nr)
    npan = (f + inr - 1) // inr
    nfull = f // inr
    kr = kw * c   # the taps of one kernel row: contiguous in x
    j_first = min(ow, (left + sw - 1) // sw)
    j_end = max(j_first, min(ow, (w - kw + left) // sw + 1 if w - kw + left >= 0 else 0))
    for row in range(row_lo, row_hi):
        img = row // oh
        i = row - img * oh
        r0 = i * sh - top
        ja, jb = (j_first, j_end) if r0 >= 0 and r0 + kh <= h else (ow, ow)
        _gathered_tiles(x, g, kh, oh, ow, row * ow, row * ow + ja, k, f, offs, tdst, bp, out, bias, use_bias,
                        relu, ap, t)
        _gathered_tiles(x, g, kh, oh, ow, row * ow + jb, row * ow + ow, k, f, offs, tdst, bp, out, bias,
                        use_bias, relu, ap, t)
        j = ja
        while j < jb:
            c_at = (row * ow + j) * f
            a0 = ((img * h + r0) * w + j * sw - left) * c
            if jb - j >= MR:   # a full tile: packed (MR-long copies per tap), one call K deep
                _pack_run(x, u(a0), offs, u(sw * c), ap)
                for jr in range(npan):
                    jj = jr * inr
                    if jr < nfull:
                        _packed_tile(u(k), _ptr(ap), _U0, _UMR, _ptr(bp), u(jr * k * inr), nr, _ptr(out),
                                     u(c_at + jj), u(f), _UMR, False, _ptr(bias), u(jj), use_bias, relu)
                    else:
                        _packed_tile(u(k), _ptr(ap), _U0, _UMR, _ptr(bp), u(jr * k * inr), nr, _ptr(t), _U0, nr,
                                     _UMR, False, _ptr(bias), _U0, False, False)
                        _store_edge(_ptr(t), nr, _UMR, u(f - jj), _ptr(out), u(c_at + jj), u(f), _U1,
                                    False, _ptr(bias), u(jj), _U0, use_bias, relu)
                j += MR
                continue
            rows = jb - j   # the run's last few pixels: A in place, one call per kernel row
            for jr in range(npan):
                jj = jr * inr
                for p in range(kh):
                    last = p == kh - 1
                    pa, pb = u(a0 + p * w * c), u((jr * k + p * kr) * inr)
                    if jr < nfull:
                        _rows_tile(u(kr), _ptr(x), pa, u(sw * c), _ptr(bp), pb, nr, _ptr(out), u(c_at + jj),
                                   u(f), u(rows), p > 0, _ptr(bias), u(jj), last and use_bias, last and relu)
                    else:
                        _rows_tile(u(kr), _ptr(x), pa, u(sw * c), _ptr(bp), pb, nr, _ptr(t), _U0, nr,
                                   u(rows), p > 0, _ptr(bias), _U0, False, False)
                if jr == nfull:
                    _store_edge(_ptr(t), nr, u(rows), u(f - jj), _ptr(out), u(c_at + jj), u(f), _U1,
                                False, _ptr(bias), u(jj), _U0, use_bias, relu)
            j += rows


@njit(cache=True, parallel=True)
def _conv_shallow(x, g, kh, oh, ow, wmat, out, bias, use_bias, relu, threads):
    """out (M x F) = P @ wmat (K x F) (+ bias) (then relu) for ``x`` flat,
    the output rows shared between ``threads`` threads."""
    k, f = wmat.shape
    nr = _nr(out)
    inr = np.int64(nr)
    npan = (f + inr - 1) // inr
    bp = np.empty(k * npan * inr, out.dtype)
    _pack_b(wmat.reshape(wmat.size), np.uint64(f), False, _U0, np.uint64(k), _U0, np.uint64(f), nr, bp)
    offs = _tap_offsets(g[1], g[2], kh, g[3], k)
    tdst = np.arange(k).astype(np.uint64) * _UMR   # tap t of a pixel: row t of the A panel
    nrows = out.shape[0] * oh
    nt = max(1, min(threads, nrows))
    share = (nrows + nt - 1) // nt
    work = np.zeros((nt, k * MR + MR * inr), out.dtype)   # zeros: rows past a short tile stay finite
    of = out.reshape(out.size)
    if nt == 1:
        _shallow_rows(x, g, kh, oh, ow, k, f, offs, tdst, bp, of, bias, use_bias, relu, _I0, nrows,
                      work[0, :k * MR], work[0, k * MR:])
    else:
        for th in prange(nt):
            _shallow_rows(x, g, kh, oh, ow, k, f, offs, tdst, bp, of, bias, use_bias, relu, th * share,
                          min(nrows, (th + 1) * share), work[th, :k * MR], work[th, k * MR:])


@njit(cache=True)
def _shallow_grad_share(x, g, kh, oh, ow, k, f, offs, tdst, grad, lo, hi, dw, ap, bp, t):
    """dw (K x F) = P[lo:hi].T @ grad[lo:hi]: blocks of KC pixels, their
    patches gathered as A panels (taps as rows), grad read in place as B (or
    packed, when F is not a multiple of NR), each tile added into dw."""
    u = np.uint64
    nr = _nr(dw)
    inr = np.int64(nr)
    npan_k = (k + MR - 1) // MR
    npan_f = (f + inr - 1) // inr
    nfull = f // inr
    in_place = nfull == npan_f
    first = True
    for pc in range(lo, hi, KC):
        kc = min(KC, hi - pc)
        _gather_patches(x, g, kh, oh, ow, pc, kc, offs, _UMR, tdst, ap)
        if not in_place:
            _pack_b(grad, u(f), False, u(pc), u(kc), _U0, u(f), nr, bp)
        for q in range(npan_k):
            rows = u(min(MR, k - q * MR))
            pa = u(q * KC * MR)
            for jr in range(npan_f):
                jj = jr * inr
                if in_place:
                    src, pb, rsb = _ptr(grad), u(pc * f + jj), u(f)
                else:
                    src, pb, rsb = _ptr(bp), u(jr * kc * inr), nr
                if jr < nfull:
                    _packed_tile(u(kc), _ptr(ap), pa, _UMR, src, pb, rsb, _ptr(dw), u(q * MR * f + jj), u(f),
                          rows, not first, _ptr(dw), _U0, False, False)
                else:
                    _packed_tile(u(kc), _ptr(ap), pa, _UMR, src, pb, rsb, _ptr(t), _U0, nr,
                          rows, False, _ptr(dw), _U0, False, False)
                    _store_edge(_ptr(t), nr, rows, u(f - jj), _ptr(dw), u(q * MR * f + jj), u(f), _U1,
                                not first, _ptr(dw), _U0, _U0, False, False)
        first = False


@njit(cache=True, parallel=True)
def _kernel_grad_shallow(x, g, kh, oh, ow, grad, out, threads):
    """out (K x F) = P.T @ grad (M x F): the pixels split between the threads
    in whole KC blocks, each thread summing into its own dW; added at the end."""
    k, f = out.shape
    m = grad.size // f
    nr = _nr(out)
    inr = np.int64(nr)
    npan_k = (k + MR - 1) // MR
    nblk = (m + KC - 1) // KC
    nt = max(1, min(threads, nblk))
    share = ((nblk + nt - 1) // nt) * KC
    offs = _tap_offsets(g[1], g[2], kh, g[3], k)
    tdst = np.empty(k, np.uint64)   # tap t: row t % MR of A panel t // MR (panels KC*MR apart)
    for tap in range(k):
        tdst[tap] = (tap // MR) * KC * MR + tap % MR
    a_size = npan_k * KC * MR
    b_size = KC * ((f + inr - 1) // inr) * inr
    parts = np.empty((nt, k * f), out.dtype)
    work = np.zeros((nt, a_size + b_size + MR * inr), out.dtype)   # zeros: A's rows past K stay 0
    gf = grad.reshape(grad.size)
    if nt == 1:
        w = work[0]
        _shallow_grad_share(x, g, kh, oh, ow, k, f, offs, tdst, gf, _I0, m, parts[0], w[:a_size],
                            w[a_size:a_size + b_size], w[a_size + b_size:])
    else:
        for th in prange(nt):
            w = work[th]
            lo = min(m, th * share)
            hi = min(m, lo + share)
            if lo < hi:
                _shallow_grad_share(x, g, kh, oh, ow, k, f, offs, tdst, gf, lo, hi, parts[th], w[:a_size],
                                    w[a_size:a_size + b_size], w[a_size + b_size:])
            else:
                parts[th, :] = 0
    of = out.reshape(out.size)
    of[:] = parts[0]
    for th in range(1, nt):
        of += parts[th]


guard_caches(globals())  # a corrupt cache entry is dropped and recompiled
