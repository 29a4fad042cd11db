"""Shallow convolutions in Numba (K = KH*KW*C small, such as the first layer of a convnet).

With one input channel and a 3x3 kernel a patch row has K = 9 numbers, and
each output pixel's 32 float32 filters are only 18 vector FMAs: a GEMM
register tile (which reuses each loaded number across a tile of pixels and
filters) has next to nothing to reuse, and the cost is in the loads and
stores around the FMAs.  So:

* forward (K <= PIXEL_K = 9): W's K x NR panel is held in 2K vector
  registers and the pixels of an output row go one by one
  (``_pixels_kernel``, kernels/conv/numba_microkernels.py): K broadcasts of
  the pixel's taps, 2K FMAs starting from the bias, the relu, two stores.
  The image is zero-padded first where "same" needs it, so no pixel tests
  the border.  (K between 10 and 16 runs the implicit GEMM,
  numba_implicit.py: 2K registers of W would no longer fit.)
* kernel gradient, dW (K x F) = P.T @ grad, a reduction over the M pixels.
  K <= PIXEL_K: the mirror of the forward (``_pixel_grad_kernel``): a K x NR
  panel of dW in 2K vector registers while the pixels of an output row go
  by, two loads of grad's row, K broadcasts and 2K FMAs each.  K = 10..16
  (SHALLOW_K): the patches are *gathered* through a table of tap offsets
  into the layout the GEMM's register micro-kernel reads
  (kernels/gemm/numba_microkernels.py): the taps are A's rows (pixel p's K
  taps at ap[p*MR + t], rows past K zero) and grad itself is B, read in
  place when F is a multiple of NR (else packed); the tile runs down KC
  pixels at a time, accumulating into dW.  Threads split the pixels, each
  into its own dW, summed at the end.

kernels/conv/DESIGN.md ("The shallow case") gives the costs.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange
from .._numba.cache import depends_on, guard_caches
from .._numba.intrinsics import _U0, _U1, _ptr, _zero
from ..gemm.numba import _I0, KC, MR, _nr, _pack_b, _store_edge, _tile
from .numba_implicit import _dynamic, _slots, field_offsets, padded, padded_size
from .numba_microkernels import PIXEL_K, _pixel_grad_kernel, _pixels_kernel  # noqa: F401 (PIXEL_K: numba.py's)

# the tile code is compiled in
depends_on(__file__, "_numba/intrinsics.py", "gemm/numba_microkernels.py", "gemm/numba.py",
           "conv/numba_microkernels.py", "conv/numba_implicit.py")

_UMR = np.uint64(MR)
#: a kernel gradient with PIXEL_K < K = KH*KW*C <= SHALLOW_K gathers its
#: patches here (K <= PIXEL_K: kernel_grad_pixels); above, the implicit GEMM
SHALLOW_K = 16
#: output rows per block handed to a thread in the forward (conv1: 1,664 rows of 26 pixels)
ROW_BLOCK = 16


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
def _shallow_rows(x, geom, koff, bp, out, bias, use_bias, relu, row_lo, row_hi):
    """Output rows [row_lo, row_hi) (a row: one image, one i), one kernel call
    per row and NR filters (``_pixels_kernel``: W's panel in registers, the
    row's pixels one by one).  ``geom`` = (OH, OW, image step, row step, column
    step, F) in the padded image ``x``; ``koff`` the taps' offsets in a
    receptive field; ``bias`` padded to whole panels."""
    u = np.uint64
    oh, ow, step_img, step_i, step_j, f = geom
    k = np.int64(koff.size)
    inr = np.int64(_nr(out))
    npan = (f + inr - 1) // inr
    for row in range(row_lo, row_hi):
        img = row // oh
        pa = u(img * step_img + (row - img * oh) * step_i)
        for jr in range(npan):
            _pixels_kernel(u(k), u(ow), _ptr(x), pa, u(step_j), _ptr(koff), _ptr(bp), u(jr * k * inr), _ptr(out),
                           u(row * ow * f + jr * inr), u(f), u(min(inr, f - jr * inr)), _ptr(bias), u(jr * inr),
                           use_bias, relu)


@njit(cache=True, parallel=True)
def _conv_shallow(x, geom, koff, wmat, out, bias, use_bias, relu, threads):
    """out (M x F) = P @ wmat (K x F) (+ bias) (then relu) for the padded image
    ``x`` (flat).  W is packed once into NR-wide panels (zeros past F), the bias
    padded to match; blocks of ROW_BLOCK output rows are handed out to the
    threads one at a time (``threads`` > 1: the pool's size)."""
    k, f = wmat.shape
    inr = np.int64(_nr(out))
    npan = (f + inr - 1) // inr
    bp = np.empty(k * npan * inr, out.dtype)
    _pack_b(wmat.reshape(wmat.size), np.uint64(f), False, _U0, np.uint64(k), _U0, np.uint64(f), _nr(out), bp)
    bpad = np.zeros(npan * inr, out.dtype)
    if use_bias:
        bpad[:f] = bias
    nrows = (out.size // f) // geom[1]
    nblk = (nrows + ROW_BLOCK - 1) // ROW_BLOCK
    of = out.reshape(out.size)
    if threads == 1 or nblk == 1:
        _shallow_rows(x, geom, koff, bp, of, bpad, use_bias, relu, _I0, nrows)
    else:
        for blk in prange(nblk):   # handed out one by one (``_dynamic``)
            _shallow_rows(x, geom, koff, bp, of, bpad, use_bias, relu, blk * ROW_BLOCK,
                          min(nrows, (blk + 1) * ROW_BLOCK))


def conv_shallow(x, w, bias, use_bias, relu, strides, pads, out, threads):
    """The forward convolution for a shallow K (``SHALLOW_K``); ``bias`` an array,
    ``use_bias`` and ``relu`` bools.  The image is zero-padded first where
    "same" needs it (numba_implicit.py's ``padded``), so every receptive field
    lies inside it and no kernel tests for the border."""
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    _, oh, ow, _ = out.shape
    hb, wb = padded_size(h, wd, kh, kw, oh, ow, strides, pads)
    xp = padded(x, pads[0], pads[1], hb, wb, c)
    geom = tuple(np.int64(v) for v in (oh, ow, hb * wb * c, strides[0] * wb * c, strides[1] * c, f))
    with _dynamic(threads):
        _conv_shallow(xp.reshape(-1), geom, field_offsets(kh, kw, wb, c, c), w.reshape(kh * kw * c, f), out, bias,
                      use_bias, relu, _slots(threads))
    return out


@njit(cache=True)
def _pixel_grad_rows(x, geom, koff, grad, row_lo, row_hi, part):
    """part (NR-wide panels of dW: panel jr is K x NR at jr*K*NR) += P[rows].T @ grad[rows]
    for output rows [row_lo, row_hi), one ``_pixel_grad_kernel`` call per row and panel.
    ``geom`` as ``_shallow_rows``'s."""
    u = np.uint64
    oh, ow, step_img, step_i, step_j, f = geom
    k = np.int64(koff.size)
    inr = np.int64(_nr(part))
    npan = (f + inr - 1) // inr
    for row in range(row_lo, row_hi):
        img = row // oh
        pa = u(img * step_img + (row - img * oh) * step_i)
        for jr in range(npan):
            _pixel_grad_kernel(u(k), u(ow), _ptr(x), pa, u(step_j), _ptr(koff), _ptr(grad), u(row * ow * f + jr * inr),
                               u(f), _ptr(part), u(jr * k * inr), u(min(inr, f - jr * inr)))


@njit(cache=True, parallel=True)
def _kernel_grad_pixels(x, geom, koff, grad, out, threads):
    """out (K x F) = P.T @ grad (M x F) for the padded image ``x`` (flat), K <= PIXEL_K:
    the output rows split into ``threads`` static shares, each summed into its own panels
    of dW (zeroed first), added at the end."""
    k, f = out.shape
    inr = np.int64(_nr(out))
    npan = (f + inr - 1) // inr
    nrows = (grad.size // f) // geom[1]
    nt = max(1, min(threads, nrows))
    share = (nrows + nt - 1) // nt
    parts = np.zeros((nt, npan * k * inr), out.dtype)
    gf = grad.reshape(grad.size)
    if nt == 1:
        _pixel_grad_rows(x, geom, koff, gf, _I0, nrows, parts[0])
    else:
        for th in prange(nt):
            _pixel_grad_rows(x, geom, koff, gf, th * share, min(nrows, (th + 1) * share), parts[th])
    for th in range(1, nt):
        parts[0] += parts[th]
    for jr in range(npan):
        for t in range(k):
            for i in range(min(inr, f - jr * inr)):
                out[t, jr * inr + i] = parts[0, (jr * k + t) * inr + i]


def kernel_grad_pixels(grad_out, x, strides, pads, out, threads):
    """The kernel gradient for K <= PIXEL_K (``_pixel_grad_kernel``: a panel of dW in
    registers, pixel by pixel), the image zero-padded where "same" needs it."""
    n, h, wd, c = x.shape
    kh, kw, _, f = out.shape
    _, oh, ow, _ = grad_out.shape
    hb, wb = padded_size(h, wd, kh, kw, oh, ow, strides, pads)
    xp = padded(x, pads[0], pads[1], hb, wb, c)
    geom = tuple(np.int64(v) for v in (oh, ow, hb * wb * c, strides[0] * wb * c, strides[1] * c, f))
    _kernel_grad_pixels(xp.reshape(-1), geom, field_offsets(kh, kw, wb, c, c), grad_out, out.reshape(kh * kw * c, f),
                        threads)
    return out


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
