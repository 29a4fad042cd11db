"""The convolution family in Numba: implicit GEMM on the GEMM's micro-kernels.

kernels/conv/DESIGN.md explains the design; in short, a convolution is the
matrix product of the patch matrix P (one row per output pixel, one column
per kernel tap and input channel: M x K) with the kernel seen as a K x F
matrix.  P is never built: the block of it one step of the GEMM needs is
copied straight from the image into a small buffer the micro-kernel reads
(kernels/gemm/numba.py's micro-kernels, unchanged), padding and all; the
kernel is packed once, as the GEMM packs B.

* forward: P @ W, bias and relu in the micro-kernel's epilogue; a block of
  MC patch rows is laid out row by row (``_pack_patch_rows``: each tap's C
  channels are one contiguous copy) and read by the "A in place" kernel;
* input gradient: the same driver run on grad_out as the image, with the
  kernel flipped and its in/out channels swapped (a "full" convolution);
  a stride s becomes a dilation of grad_out (taps that land between its
  pixels read zeros), so every dx pixel is written once and threads never
  collide;
* kernel gradient: a GEMM reducing over the M pixels, computed as dW.T =
  grad.T @ P so that P's blocks are B panels (``_pack_patch_panels``, again
  contiguous copies); each thread sums its share of the pixels into its own
  dW, and the shares are added at the end.

The shallow case (conv1: K = KH*KW*C <= SHALLOW_K) is numba_shallow.py; the
pools, memory-bound single passes, are numba_pools.py.
"""

from __future__ import annotations

import numpy as np

import numba

from .._numba import njit, prange
from .._numba.cache import depends_on, guard_caches
from .._numba.intrinsics import _U0, _U1, _ptr, _zero
from ..gemm.numba import _I0, KC, MC, MR, _nr, _pack_a, _pack_b, _store_edge, _tile
from .numba_pools import (avg_pool2d, avg_pool2d_backward, max_pool2d,  # noqa: F401 (backend methods)
                          max_pool2d_backward)
from .numba_shallow import SHALLOW_K, _conv_shallow, _kernel_grad_shallow

depends_on(__file__, "_numba/intrinsics.py", "gemm/numba_microkernels.py", "gemm/numba.py")  # GEMM tile code compiled in

_UMR = np.uint64(MR)
_NO_BIAS = {np.dtype(np.float32): np.zeros(1, np.float32), np.dtype(np.float64): np.zeros(1, np.float64)}
#: convolutions under this many flops run on one thread
PARALLEL_FLOPS = 4e6


# ---------------------------------------------------------------- packing
@njit(cache=True)
def _tap_source(img, i, j, p, q, g):
    """Where tap (p, q) of output pixel (img, i, j) reads: the flat offset of
    its first channel in the image, or -1 for padding (or, with a dilation, a
    place between two pixels).  ``g`` = (H, W, C, KW, sh, sw, top, left, dh,
    dw).  Integer division is slow (tens of cycles), so it is only done for a
    dilated image (the input gradient of a strided convolution)."""
    h, w, c, kw, sh, sw, top, left, dh, dw = g
    tr = i * sh + p - top
    tc = j * sw + q - left
    if tr < 0 or tc < 0 or tr >= h * dh or tc >= w * dw:
        return -1
    if dh != 1 or dw != 1:
        if tr % dh != 0 or tc % dw != 0:
            return -1
        tr //= dh
        tc //= dw
    return ((img * h + tr) * w + tc) * c


@njit(cache=True)
def _pixel(m, oh, ow):
    """(image, row, column) of output pixel m."""
    img = m // (oh * ow)
    rem = m - img * oh * ow
    i = rem // ow
    return img, i, rem - i * ow


@njit(cache=True)
def _pack_patch_rows(x, g, oh, ow, m0, mc, k0, kc, ap):
    """ap[row*kc + kk] = P[m0 + row, k0 + kk] for row < mc: the patch rows
    laid out as a row-major matrix, which the micro-kernel reads in place
    (``_rows_kernel``, A(r, p) at ap[r*kc + p]).  Column k of P is channel
    k % C of tap k // C (tap = p*KW + q), so a row is a series of contiguous
    copies of C channels (or zeros, for a tap on the padding).  The pixel
    and the tap advance by counters: no division in the loops."""
    c, kw = g[2], g[3]
    z = _zero(ap)
    tap0 = k0 // c
    ch0 = k0 - tap0 * c
    p0 = tap0 // kw
    q0 = tap0 - p0 * kw
    img, i, j = _pixel(m0, oh, ow)
    for row in range(mc):
        dst = row * kc
        kk = 0
        p, q, ch = p0, q0, ch0
        while kk < kc:
            seg = min(c - ch, kc - kk)
            src = _tap_source(img, i, j, p, q, g)
            d = np.uint64(dst + kk)   # unsigned: no negative-index select per element
            if src < 0:
                for e in range(np.uint64(seg)):
                    ap[d + e] = z
            else:
                sr = np.uint64(src + ch)
                for e in range(np.uint64(seg)):
                    ap[d + e] = x[sr + e]
            kk += seg
            ch = 0
            q += 1
            if q == kw:
                q = 0
                p += 1
        j += 1
        if j == ow:
            j = 0
            i += 1
            if i == oh:
                i = 0
                img += 1


@njit(cache=True)
def _pack_patch_panels(x, g, oh, ow, m0, kc, k, nr, bp):
    """The kernel gradient's B: P[m0:m0+kc, 0:k] in NR-wide micro-panels,
    bp[(q*kc + p)*NR + j] = P[m0 + p, q*NR + j], columns past k zero
    (``_pack_b``'s layout).  Copies run along the channels of one tap, cut
    where a panel ends; counters again, no division."""
    c, kw = g[2], g[3]
    inr = np.int64(nr)
    z = _zero(bp)
    img, i, j = _pixel(m0, oh, ow)
    for pix in range(kc):
        tp, tq, ch, tap = 0, 0, 0, 0
        panel, col = 0, 0
        src = _tap_source(img, i, j, tp, tq, g)
        for _ in range(k):   # at most k segments; stops when the taps run out
            seg = min(c - ch, inr - col)
            d = np.uint64((panel * kc + pix) * inr + col)   # unsigned: no negative-index select
            if src < 0:
                for e in range(np.uint64(seg)):
                    bp[d + e] = z
            else:
                sr = np.uint64(src + ch)
                for e in range(np.uint64(seg)):
                    bp[d + e] = x[sr + e]
            ch += seg
            col += seg
            if col == inr:
                col = 0
                panel += 1
            if ch == c:
                ch = 0
                tap += 1
                tq += 1
                if tq == kw:
                    tq = 0
                    tp += 1
                if tap * c >= k:   # past the last tap
                    break
                src = _tap_source(img, i, j, tp, tq, g)
        if col > 0:   # the rest of the last, narrower panel
            dst = (panel * kc + pix) * inr
            for e in range(col, inr):
                bp[dst + e] = z
        j += 1
        if j == ow:
            j = 0
            i += 1
            if i == oh:
                i = 0
                img += 1


# ---------------------------------------------------------------- drivers
@njit(cache=True)
def _patch_gemm_rows(x, g, oh, ow, m, k, f, bp, kcb, out, bias, use_bias, relu, blk_lo, blk_hi, ap, t):
    """Row blocks [blk_lo, blk_hi) of MC output pixels: out = P @ B (+ bias)
    (then relu), B packed per K block by ``_implicit_gemm``."""
    u = np.uint64
    nr = _nr(out)
    inr = np.int64(nr)
    npan_n = (f + inr - 1) // inr
    nfull = f // inr
    nkb = (k + kcb - 1) // kcb
    for blk in range(blk_lo, blk_hi):
        ic = blk * MC
        mc = min(MC, m - ic)
        for kb in range(nkb):
            pc = kb * kcb
            kc = min(kcb, k - pc)
            first = kb == 0
            last = kb == nkb - 1
            b_off = pc * npan_n * inr
            _pack_patch_rows(x, g, oh, ow, ic, mc, pc, kc, ap)
            for ir in range((mc + MR - 1) // MR):
                ii = ic + ir * MR
                rows = u(min(MR, m - ii))
                for jr in range(nfull):
                    _tile(True, u(kc), _ptr(ap), u(ir * MR * kc), u(kc), _ptr(bp), u(b_off + jr * kc * inr), nr,
                          _ptr(out), u(ii * f + jr * inr), u(f), rows, not first,
                          _ptr(bias), u(jr * inr), last and use_bias, last and relu)
                if nfull < npan_n:   # the last, narrower column panel: through the scratch t
                    jj = nfull * inr
                    _tile(True, u(kc), _ptr(ap), u(ir * MR * kc), u(kc), _ptr(bp), u(b_off + nfull * kc * inr), nr,
                          _ptr(t), _U0, nr, rows, False, _ptr(bias), _U0, False, False)
                    _store_edge(_ptr(t), nr, rows, u(f - jj), _ptr(out), u(ii * f + jj), u(f), _U1,
                                not first, _ptr(bias), u(jj), _U0, last and use_bias, last and relu)


@njit(cache=True, parallel=True)
def _implicit_gemm(x, g, oh, ow, wmat, out, bias, use_bias, relu, threads):
    """out (M x F, M = N*OH*OW) = P @ wmat (K x F) (+ bias) (then relu), P the
    patch matrix of image ``x`` (flat) for geometry ``g``.  B is packed once,
    K block by K block; the MC-row blocks of the output are shared between
    ``threads`` threads, each packing its own A panels."""
    u = np.uint64
    k, f = wmat.shape
    m = out.size // f
    nr = _nr(out)
    inr = np.int64(nr)
    npan_n = (f + inr - 1) // inr
    nkb = (k + KC - 1) // KC
    kcb = (k + nkb - 1) // nkb
    bp = np.empty(k * npan_n * inr, out.dtype)
    wf = wmat.reshape(wmat.size)
    for kb in range(nkb):
        pc = kb * kcb
        kc = min(kcb, k - pc)
        _pack_b(wf, u(f), False, u(pc), u(kc), _U0, u(f), nr, bp[pc * npan_n * inr:])
    nblk = (m + MC - 1) // MC
    nt = max(1, min(threads, nblk))
    share = (nblk + nt - 1) // nt
    a_size = kcb * min(m, MC)
    work = np.empty((nt, a_size + MR * inr), out.dtype)
    of = out.reshape(out.size)
    if nt == 1:
        _patch_gemm_rows(x, g, oh, ow, m, k, f, bp, kcb, of, bias, use_bias, relu, _I0, nblk,
                         work[0, :a_size], work[0, a_size:])
    else:
        for th in prange(nt):
            _patch_gemm_rows(x, g, oh, ow, m, k, f, bp, kcb, of, bias, use_bias, relu, th * share,
                             min(nblk, (th + 1) * share), work[th, :a_size], work[th, a_size:])


@njit(cache=True)
def _kernel_grad_share(x, g, oh, ow, m, k, f, grad, lo, hi, dw, ap, bp, t):
    """dw (K x F) = P[lo:hi].T @ grad[lo:hi], computed transposed: dW.T (F x K)
    = grad.T @ P, so that the patches are B's panels (contiguous copies,
    ``_pack_patch_panels``) and grad.T is A, packed by ``_pack_a``.  Each tile
    of dW.T is stored transposed into dW through the scratch ``t``, adding to
    the pixel blocks before it."""
    u = np.uint64
    nr = _nr(dw)
    inr = np.int64(nr)
    npan_k = (k + inr - 1) // inr
    first = True
    for pc in range(lo, hi, KC):
        kc = min(KC, hi - pc)
        _pack_patch_panels(x, g, oh, ow, pc, kc, k, nr, bp)
        _pack_a(grad, u(f), True, _U0, u(f), u(pc), u(kc), ap)
        for ir in range((f + MR - 1) // MR):
            ii = ir * MR
            rows = u(min(MR, f - ii))
            for jr in range(npan_k):
                jj = jr * inr
                _tile(False, u(kc), _ptr(ap), u(ir * kc * MR), _UMR, _ptr(bp), u(jr * kc * inr), nr,
                      _ptr(t), _U0, nr, rows, False, _ptr(bp), _U0, False, False)
                # t[r, c] = dW.T[ii + r, jj + c] = dW[jj + c, ii + r]
                _store_edge(_ptr(t), nr, rows, u(min(inr, k - jj)), _ptr(dw), u(jj * f + ii), _U1, u(f),
                            not first, _ptr(bp), _U0, _U0, False, False)
        first = False


@njit(cache=True, parallel=True)
def _kernel_grad(x, g, oh, ow, grad, out, threads):
    """out (K x F) = P.T @ grad (M x F): the pixels are split between the
    threads, each summing into its own dW; the shares are added at the end."""
    k, f = out.shape
    m = grad.size // f
    inr = np.int64(_nr(out))
    npan_k = (k + inr - 1) // inr
    nblk = (m + KC - 1) // KC
    nt = max(1, min(threads, nblk))
    share = ((nblk + nt - 1) // nt) * KC
    a_size = KC * ((f + MR - 1) // MR) * MR
    b_size = KC * npan_k * inr
    parts = np.empty((nt, k * f), out.dtype)
    work = np.empty((nt, a_size + b_size + MR * inr), out.dtype)
    gf = grad.reshape(grad.size)
    if nt == 1:
        w = work[0]
        _kernel_grad_share(x, g, oh, ow, m, k, f, gf, _I0, m, parts[0], w[:a_size], w[a_size:a_size + b_size],
                           w[a_size + b_size:])
    else:
        for th in prange(nt):
            w = work[th]
            lo = min(m, th * share)
            hi = min(m, lo + share)
            if lo < hi:
                _kernel_grad_share(x, g, oh, ow, m, k, f, gf, lo, hi, parts[th], w[:a_size],
                                   w[a_size:a_size + b_size], w[a_size + b_size:])
            else:
                parts[th, :] = 0
    of = out.reshape(out.size)
    of[:] = parts[0]
    for th in range(1, nt):
        of += parts[th]


def _threads(flops):
    return 1 if flops < PARALLEL_FLOPS else numba.get_num_threads()


def _geometry(image_shape, kw, strides, pads, dilation=(1, 1)):
    """The int64 tuple ``_tap_source`` reads."""
    _, h, w, c = image_shape
    return tuple(np.int64(v) for v in (h, w, c, kw, strides[0], strides[1], pads[0], pads[1],
                                       dilation[0], dilation[1]))


# ---------------------------------------------------------------- the backend functions
def conv2d(x, w, b, strides, pads, relu, out):
    kh, kw, c, f = w.shape
    n, oh, ow, _ = out.shape
    use_bias = b is not None
    bias = (b if b.flags.writeable else b.copy()) if use_bias else _NO_BIAS[out.dtype]
    if kh * kw * c <= SHALLOW_K:   # numba_shallow.py: gathered patches, the GEMM's micro-kernel
        _conv_shallow(x.reshape(-1), _geometry(x.shape, kw, strides, pads), np.int64(kh), np.int64(oh),
                      np.int64(ow), w.reshape(kh * kw * c, f), out, bias, use_bias, bool(relu),
                      _threads(2.0 * out.size * kh * kw * c))
        return out
    _implicit_gemm(x.reshape(-1), _geometry(x.shape, kw, strides, pads), np.int64(oh), np.int64(ow),
                   w.reshape(kh * kw * c, f), out, bias, use_bias, bool(relu),
                   _threads(2.0 * out.size * kh * kw * c))
    return out


def conv2d_input_grad(grad_out, w, strides, pads, out):
    """dx as a "full" convolution of grad_out (dilated by the stride) with the
    kernel flipped and transposed: kernel row (p', q', f) holds w[KH-1-p', KW-1-q', :, f]."""
    kh, kw, c, f = w.shape
    n, h, wd, _ = out.shape
    flipped = np.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2)).reshape(kh * kw * f, c)
    pads_full = (kh - 1 - pads[0], kw - 1 - pads[1])
    _implicit_gemm(grad_out.reshape(-1), _geometry(grad_out.shape, kw, (1, 1), pads_full, strides),
                   np.int64(h), np.int64(wd), flipped, out, _NO_BIAS[out.dtype], False, False,
                   _threads(2.0 * out.size * kh * kw * f))
    return out


def conv2d_kernel_grad(grad_out, x, strides, pads, out):
    kh, kw, c, f = out.shape
    n, oh, ow, _ = grad_out.shape
    if kh * kw * c <= SHALLOW_K:
        _kernel_grad_shallow(x.reshape(-1), _geometry(x.shape, kw, strides, pads), np.int64(kh), np.int64(oh),
                             np.int64(ow), grad_out, out.reshape(kh * kw * c, f),
                             _threads(2.0 * grad_out.size * kh * kw * c))
        return out
    _kernel_grad(x.reshape(-1), _geometry(x.shape, kw, strides, pads), np.int64(oh), np.int64(ow),
                 grad_out, out.reshape(kh * kw * c, f), _threads(2.0 * grad_out.size * kh * kw * c))
    return out


# ---------------------------------------------------------------- pools (numba_pools.py)
@njit(cache=True)
def _window(i, stride, pad, size, window):
    start = i * stride - pad
    return max(start, 0), min(start + window, size)


guard_caches(globals())  # a corrupt cache entry is dropped and recompiled
