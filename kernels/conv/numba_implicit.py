"""The convolutions that are GEMMs, in Numba: implicit GEMM with nothing packed but the kernel.

kernels/conv/DESIGN.md explains the design; in short, a convolution is a
matrix product with the patch matrix P (row m: output pixel m's receptive
field, KH x KW x C numbers; M x K).  P is never built, and no block of it is
copied either: the micro-kernels of numba_microkernels.py read the image
where it lies, given a table of offsets (where each pixel's field starts),
because a field is KH runs of KW*C contiguous numbers in NHWC.

* forward, ``conv_forward``: out = P @ W (+ bias, relu); the kernel W is
  packed once into NR-wide panels, as the GEMM packs B; tile row r reads
  pixel r's field (``_patch_kernel``).
* input gradient, ``conv_input_grad``: dP = G @ W.T (G = grad_out as M x F,
  read in place by rows) is computed tile by tile, and each finished tile is
  added into dx where its numbers came from (``_scatter_kernel``): col2im
  fused into the micro-kernel's store, no dP in memory, exactly the GEMM's
  flops.  Threads take whole images, so their additions never collide.
* kernel gradient, ``conv_kernel_grad``: dW.T = G.T @ P, a reduction over
  the pixels: the tile's rows are 12 (or 8) filters, G read in place, and
  each step is one pixel, whose receptive field gives B's row
  (``_gather_kernel``).  Threads split the pixels, each into its own dW.T;
  the shares are added at the end, and the sum transposed (it is small).

The image is read through a *padded* view (``padded``): with "same" padding
(or a stride that leaves no row unread) a zero-padded copy, so that every
field lies inside it and no kernel tests for the border; with "valid" the
image itself.
"""

from __future__ import annotations

import numba
import numpy as np

from .._numba import njit, prange
from .._numba.cache import depends_on, guard_caches
from .._numba.intrinsics import _U0, _U1, _U8, _ptr, _zero
from ..gemm.numba import _I0, MC, MR, _nr, _pack_b, _store_edge
from .numba_microkernels import (
    _gather_kernel, _gather_kernel_8, _patch_kernel, _patch_kernel_8, _scatter_kernel, _scatter_kernel_8,
)

depends_on(__file__, "_numba/intrinsics.py", "gemm/numba_microkernels.py", "gemm/numba.py",
           "conv/numba_microkernels.py")   # their code is compiled in

#: the forward's depth blocks are whole kernel rows, at most this many numbers
#: deep (unless one row is deeper): a KC x NR panel of W stays in L1/L2
FORWARD_KC = 768
#: pixels per block of the kernel gradient's reduction: the block's NR columns
#: of P (128 x 128 B) stay in L1 while each filter tile reads them (conv2, CPU
#: time, one process: 96-128 pixels 2.8 ms, 192-384 pixels 3.3-3.4 ms)
GRAD_KC = 128
#: output pixels per block of the input gradient (their rows of G stay in L1)
SCATTER_MC = 48


# ---------------------------------------------------------------- threads
def _slots(threads):
    """Scratch rows for a parallel call: prange runs on Numba's current pool
    (``numba.get_thread_id()`` < its size), whatever ``threads`` says; 1 for a
    call that stays on the calling thread."""
    return 1 if threads <= 1 else max(threads, numba.get_num_threads())


def _dynamic(threads):
    """Hand a parallel loop's iterations out one at a time (Numba's
    ``parallel_chunksize``), not as one static share per thread: beside a
    busy process a descheduled thread then holds up one block, while its
    partner takes the rest (docs/threads.md).  The forward and the input
    gradient use it: each output number is still computed by one thread in
    one order, so the result does not depend on the schedule.  (The kernel
    gradient's per-thread sums would: it keeps static shares.)"""
    return numba.parallel_chunksize(1 if threads > 1 else 0)


# ---------------------------------------------------------------- where the fields lie
def padded(x, top, left, hb, wb, channels):
    """x as an (N, hb, wb, channels) image with x at [top:, left:, :C] and
    zeros around it: x itself when that is x already (a "valid" convolution)."""
    n, h, w, c = x.shape
    if top == 0 and left == 0 and hb == h and wb == w and channels == c:
        return x
    xp = np.zeros((n, hb, wb, channels), x.dtype)
    xp[:, top:top + h, left:left + w, :c] = x
    return xp


def padded_size(h, w, kh, kw, oh, ow, strides, pads):
    """(hb, wb): the padded image every receptive field lies inside."""
    return max(pads[0] + h, (oh - 1) * strides[0] + kh), max(pads[1] + w, (ow - 1) * strides[1] + kw)


def field_offsets(kh, kw, wb, channels, c):
    """koff[k] for column k = (p*KW + q)*C + ch of P: where that number lies
    in a receptive field, relative to the field's first number, in a padded
    image of width wb with ``channels`` channels per pixel."""
    p, q, ch = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(c), indexing="ij")
    return ((p * wb + q) * channels + ch).astype(np.uint64).reshape(-1)


@njit(cache=True)
def _pixel_offsets(m0, count, oh, ow, step_img, step_i, step_j, offs):
    """offs[r] = img*step_img + i*step_i + j*step_j for output pixel m0 + r =
    (img, i, j): where its receptive field starts.  Counters, no division in
    the loop (a 64-bit division costs tens of cycles)."""
    img = m0 // (oh * ow)
    rem = m0 - img * oh * ow
    i = rem // ow
    j = rem - i * ow
    for r in range(count):
        offs[r] = np.uint64(img * step_img + i * step_i + j * step_j)
        j += 1
        if j == ow:
            j = 0
            i += 1
            if i == oh:
                i = 0
                img += 1


# ---------------------------------------------------------------- forward
@njit(cache=True, inline="always")
def _patch_tile(taps, tstride, kc, A, pa, aoff, po, B, pb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    """One forward tile, by the 8-row kernel when at most 8 rows are real."""
    if rows <= _U8:
        _patch_kernel_8(taps, tstride, kc, A, pa, aoff, po, B, pb, C, pc, ldc, rows, accumulate, bias, jb,
                        use_bias, relu)
    else:
        _patch_kernel(taps, tstride, kc, A, pa, aoff, po, B, pb, C, pc, ldc, rows, accumulate, bias, jb,
                      use_bias, relu)


@njit(cache=True)
def _forward_blocks(x, geom, bp, rows_per_kb, out, bias, use_bias, relu, blk_lo, blk_hi, offs, t):
    """Row blocks [blk_lo, blk_hi) of MC output pixels: out = P @ W (+ bias)
    (then relu), W packed in ``bp`` per depth block of ``rows_per_kb`` kernel
    rows.  ``geom`` = (OH, OW, image step, row step, column step, KW*C, the
    padded image's row length, KH, F); ``offs`` holds a block's field starts,
    ``t`` is the scratch tile of a last, narrower column panel."""
    u = np.uint64
    oh, ow, step_img, step_i, step_j, run, tstride, kh, f = geom
    m = out.size // f
    nr = _nr(out)
    inr = np.int64(nr)
    npan = (f + inr - 1) // inr
    nfull = f // inr
    nkb = (kh + rows_per_kb - 1) // rows_per_kb
    for blk in range(blk_lo, blk_hi):
        ic = blk * MC
        mc = min(MC, m - ic)
        _pixel_offsets(ic, mc, oh, ow, step_img, step_i, step_j, offs)
        for kb in range(nkb):
            t0 = kb * rows_per_kb
            taps = min(rows_per_kb, kh - t0)
            kc = taps * run
            first = kb == 0
            last = kb == nkb - 1
            b_off = t0 * run * npan * inr
            for ir in range((mc + MR - 1) // MR):
                ii = ic + ir * MR
                rows = u(min(MR, m - ii))
                for jr in range(nfull):
                    _patch_tile(u(taps), u(tstride), u(run), _ptr(x), u(t0 * tstride), _ptr(offs), u(ir * MR),
                                _ptr(bp), u(b_off + jr * kc * inr), _ptr(out), u(ii * f + jr * inr), u(f), rows,
                                not first, _ptr(bias), u(jr * inr), last and use_bias, last and relu)
                if nfull < npan:   # the last, narrower column panel: through the scratch t
                    jj = nfull * inr
                    _patch_tile(u(taps), u(tstride), u(run), _ptr(x), u(t0 * tstride), _ptr(offs), u(ir * MR),
                                _ptr(bp), u(b_off + nfull * kc * inr), _ptr(t), _U0, nr, rows,
                                False, _ptr(bias), _U0, False, False)
                    _store_edge(_ptr(t), nr, rows, u(f - jj), _ptr(out), u(ii * f + jj), u(f), _U1,
                                not first, _ptr(bias), u(jj), _U0, last and use_bias, last and relu)


@njit(cache=True, parallel=True)
def _conv_forward(x, geom, wmat, rows_per_kb, out, bias, use_bias, relu, threads):
    """out (M x F) = P @ wmat (K x F) (+ bias) (then relu), P the patch matrix
    of the padded image ``x`` (flat).  W is packed once, depth block by depth
    block; the MC-row blocks of the output are handed out to the threads one
    at a time (``threads``: the pool's size, or 1 for no parallel region)."""
    u = np.uint64
    k, f = wmat.shape
    m = out.size // f
    run, kh = geom[5], geom[7]
    nr = _nr(out)
    inr = np.int64(nr)
    npan = (f + inr - 1) // inr
    bp = np.empty(k * npan * inr, out.dtype)
    wf = wmat.reshape(wmat.size)
    for t0 in range(0, kh, rows_per_kb):
        pc = t0 * run
        kc = min(rows_per_kb, kh - t0) * run
        _pack_b(wf, u(f), False, u(pc), u(kc), _U0, u(f), nr, bp[pc * npan * inr:])
    nblk = (m + MC - 1) // MC
    nt = max(1, min(threads, nblk))
    tiles = np.empty((threads, MR * inr), out.dtype)   # one per thread of the pool (numba.get_thread_id)
    offs = np.empty((threads, MC), np.uint64)
    of = out.reshape(out.size)
    if nt == 1:
        _forward_blocks(x, geom, bp, rows_per_kb, of, bias, use_bias, relu, _I0, nblk, offs[0], tiles[0])
    else:
        for blk in prange(nblk):   # handed out one by one (``_dynamic``): a descheduled thread holds up one block
            th = numba.get_thread_id()
            _forward_blocks(x, geom, bp, rows_per_kb, of, bias, use_bias, relu, blk, blk + 1, offs[th], tiles[th])


def conv_forward(x, w, bias, use_bias, relu, strides, pads, out, threads):
    """The forward convolution (bias an array, ``use_bias`` and ``relu`` bools)."""
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    _, oh, ow, _ = out.shape
    hb, wb = padded_size(h, wd, kh, kw, oh, ow, strides, pads)
    xp = padded(x, pads[0], pads[1], hb, wb, c)
    geom = tuple(np.int64(v) for v in (oh, ow, hb * wb * c, strides[0] * wb * c, strides[1] * c, kw * c, wb * c,
                                       kh, f))
    rows_per_kb = np.int64(max(1, FORWARD_KC // (kw * c)))
    with _dynamic(threads):
        _conv_forward(xp.reshape(-1), geom, w.reshape(kh * kw * c, f), rows_per_kb, out, bias, use_bias, relu,
                      _slots(threads))
    return out


# ---------------------------------------------------------------- input gradient
@njit(cache=True)
def _input_grad_images(g, f, bp, kv, ksize, dx, img_lo, img_hi, geom, offs):
    """Images [img_lo, img_hi) of the padded dx: zeroed, then each tile of
    dP = G @ W.T (MR pixels x NR columns) added where it belongs.  Column
    panel jr's two vectors start at kv[jr, 0], kv[jr, 1] inside a field; the
    second is real only while it starts before ``ksize`` (= K, with the
    channels padded to whole vectors).  ``geom`` = (OH, OW, image step, row
    step, column step) of dx's fields."""
    u = np.uint64
    oh, ow, step_img, step_i, step_j = geom
    nr = _nr(dx)
    inr = np.int64(nr)
    lanes = inr // 2
    z = _zero(dx)
    for e in range(img_lo * step_img, img_hi * step_img):
        dx[e] = z
    npan = kv.shape[0]
    m_lo, m_hi = img_lo * oh * ow, img_hi * oh * ow
    block = offs.size
    for ic in range(m_lo, m_hi, block):
        mc = min(block, m_hi - ic)
        _pixel_offsets(ic, mc, oh, ow, step_img, step_i, step_j, offs)
        for jr in range(npan):
            two = jr * inr + lanes < ksize
            pb = u(jr * f * inr)
            for ir in range((mc + MR - 1) // MR):
                rows = u(min(MR, mc - ir * MR))
                pa = u((ic + ir * MR) * f)
                if rows <= _U8:
                    _scatter_kernel_8(u(f), _ptr(g), pa, u(f), _ptr(bp), pb, _ptr(dx), _ptr(offs), u(ir * MR),
                                      kv[jr, 0], kv[jr, 1], two, rows)
                else:
                    _scatter_kernel(u(f), _ptr(g), pa, u(f), _ptr(bp), pb, _ptr(dx), _ptr(offs), u(ir * MR),
                                    kv[jr, 0], kv[jr, 1], two, rows)


@njit(cache=True, parallel=True)
def _conv_input_grad(g, wmat, kv, dx, geom, block, threads):
    """dx (padded, flat) = col2im(G @ wmat.T): W.T (F x K) packed once into
    NR-wide panels; whole images are handed out to the threads one at a time
    (``threads``: the pool's size, or 1 for no parallel region)."""
    u = np.uint64
    k, f = wmat.shape
    nr = _nr(dx)
    inr = np.int64(nr)
    npan = (k + inr - 1) // inr
    bp = np.empty(npan * f * inr, dx.dtype)
    _pack_b(wmat.reshape(wmat.size), u(f), True, _U0, u(f), _U0, u(k), nr, bp)
    n = dx.size // geom[2]
    nt = max(1, min(threads, n))
    offs = np.empty((threads, block), np.uint64)
    gf = g.reshape(g.size)
    if nt == 1:
        _input_grad_images(gf, f, bp, kv, k, dx, _I0, n, geom, offs[0])
    else:
        for img in prange(n):   # handed out one by one (``_dynamic``); images never share a dx pixel
            th = numba.get_thread_id()
            _input_grad_images(gf, f, bp, kv, k, dx, img, img + 1, geom, offs[th])


def conv_input_grad(grad_out, w, strides, pads, out, threads):
    """dx of a convolution: written into ``out`` directly for a "valid" one
    whose channels fill whole vectors, else into a padded buffer first."""
    n, h, wd, c = out.shape
    kh, kw, _, f = w.shape
    _, oh, ow, _ = grad_out.shape
    lanes = 64 // out.itemsize   # numbers per 512-bit vector
    cp = -(-c // lanes) * lanes   # channels padded to whole vectors: a vector never spans two taps
    hb, wb = padded_size(h, wd, kh, kw, oh, ow, strides, pads)
    direct = (pads[0], pads[1], hb, wb, cp) == (0, 0, h, wd, c)
    dx = out if direct else np.empty((n, hb, wb, cp), out.dtype)
    wp = w if cp == c else np.concatenate([w, np.zeros((kh, kw, cp - c, f), w.dtype)], axis=2)
    k = kh * kw * cp
    koff = field_offsets(kh, kw, wb, cp, cp)
    starts = np.arange(0, -(-k // (2 * lanes)) * 2 * lanes, lanes)
    kv = koff[np.minimum(starts, k - 1)].reshape(-1, 2)   # where each vector of each column panel lands
    geom = tuple(np.int64(v) for v in (oh, ow, hb * wb * cp, strides[0] * wb * cp, strides[1] * cp))
    with _dynamic(threads):
        _conv_input_grad(grad_out, wp.reshape(k, f), kv, dx.reshape(-1), geom, np.int64(SCATTER_MC),
                         _slots(threads))
    if not direct:
        out[...] = dx[:, pads[0]:pads[0] + h, pads[1]:pads[1] + wd, :c]
    return out


# ---------------------------------------------------------------- kernel gradient
@njit(cache=True)
def _kernel_grad_pixels(x, g, fp, lo, hi, dwt, geom, offs):
    """dwt (fp x KH*runp, this thread's) = G[lo:hi].T @ P[lo:hi], in blocks of
    ``offs.size`` pixels.  A column panel of P is NR numbers of one kernel
    row's run (KW*C numbers, contiguous in every field; each run's panels
    start at t*runp, runp the run rounded up to whole panels); G's fp columns
    go by tiles of 12 and 8 filters (fp is a multiple of 4, at least 8: no
    short tile; a last 16 goes as 8 + 8), the inner loop: the block's NR
    columns of P stay in L1 while every filter tile reads them.  ``geom`` =
    (OH, OW, image step, row step, column step, KW*C, the padded image's row
    length, KH)."""
    u = np.uint64
    oh, ow, step_img, step_i, step_j, run, tstride, kh = geom
    inr = np.int64(_nr(dwt))
    runp = (run + inr - 1) // inr * inr
    kp = kh * runp
    npr = runp // inr   # panels per kernel row
    npan = kh * npr
    tile_f0 = np.empty(fp // 8 + 1, np.int64)   # where each filter tile starts (12 or 8 filters)
    ntile, f0 = 0, 0
    while f0 < fp:
        tile_f0[ntile] = f0
        ntile += 1
        f0 += 12 if fp - f0 >= 12 and fp - f0 != 16 else 8
    tile_f0[ntile] = fp
    first = True
    for pc in range(lo, hi, offs.size):
        kc = min(offs.size, hi - pc)
        _pixel_offsets(pc, kc, oh, ow, step_img, step_i, step_j, offs)
        for visit in range(npan * ntile):
            panel, tile = visit // ntile, visit % ntile
            t = panel // npr
            jb = (panel - t * npr) * inr
            f0 = tile_f0[tile]
            cols = u(min(inr, run - jb))
            pa = u(pc * fp + f0)
            pcc = u(f0 * kp + t * runp + jb)
            if tile_f0[tile + 1] - f0 == 12:
                _gather_kernel(u(kc), _ptr(g), pa, u(fp), _ptr(x), _ptr(offs), _U0, u(t * tstride + jb), cols,
                               _ptr(dwt), pcc, u(kp), not first)
            else:
                _gather_kernel_8(u(kc), _ptr(g), pa, u(fp), _ptr(x), _ptr(offs), _U0, u(t * tstride + jb),
                                 cols, _ptr(dwt), pcc, u(kp), not first)
        first = False


@njit(cache=True, parallel=True)
def _conv_kernel_grad(x, g, parts, geom, block, threads):
    """parts[0] = G.T @ P (fp x KH*runp): the pixels are split between the
    threads, each summing into its own parts[th]; those are added into parts[0]."""
    nt_all, fp, kp = parts.shape
    m = g.size // fp
    nblk = (m + block - 1) // block
    nt = max(1, min(threads, nblk, nt_all))
    share = ((nblk + nt - 1) // nt) * block
    gf = g.reshape(g.size)
    offs = np.empty((nt, block), np.uint64)
    if nt == 1:
        _kernel_grad_pixels(x, gf, fp, _I0, m, parts[0].reshape(fp * kp), geom, offs[0])
    else:
        for th in prange(nt):
            lo = min(m, th * share)
            hi = min(m, lo + share)
            if lo < hi:
                _kernel_grad_pixels(x, gf, fp, lo, hi, parts[th].reshape(fp * kp), geom, offs[th])
            else:
                parts[th] = 0
        for th in range(1, nt):
            parts[0] += parts[th]


def conv_kernel_grad(grad_out, x, strides, pads, out, threads):
    """dW of a convolution, into ``out`` (KH, KW, C, F): computed as dW.T,
    then transposed (it is small)."""
    kh, kw, c, f = out.shape
    n, h, wd, _ = x.shape
    _, oh, ow, _ = grad_out.shape
    nr = 64 // out.itemsize * 2   # NR: two 512-bit vectors
    runp = -(-(kw * c) // nr) * nr
    fp = max(8, -(-f // 4) * 4)   # filters in tiles of 12 and 8: a multiple of 4, at least 8
    hb, wb = padded_size(h, wd, kh, kw, oh, ow, strides, pads)
    xp = padded(x, pads[0], pads[1], hb, wb, c)
    g = grad_out.reshape(-1, f)
    if fp != f:
        g = np.concatenate([g, np.zeros((g.shape[0], fp - f), g.dtype)], axis=1)
    parts = np.empty((max(1, threads), fp, kh * runp), out.dtype)
    geom = tuple(np.int64(v) for v in (oh, ow, hb * wb * c, strides[0] * wb * c, strides[1] * c, kw * c, wb * c, kh))
    m, shares = g.shape[0], max(1, threads)
    blocks = shares * -(-m // (shares * GRAD_KC))   # a multiple of the thread count, each at most GRAD_KC
    _conv_kernel_grad(xp.reshape(-1), g, parts, geom, np.int64(-(-m // blocks)), threads)
    dwt = parts[0, :f].reshape(f, kh, runp)[:, :, :kw * c].reshape(f, kh, kw, c)
    out[...] = dwt.transpose(1, 2, 3, 0)
    return out


guard_caches(globals())  # a corrupt cache entry is dropped and recompiled
