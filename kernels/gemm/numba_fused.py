"""Two fused GEMMs of the Numba backend, for a training step: the batch gather and the optimizer.

* ``weight_grad_rmsprop``: ``dW = X^T @ G`` (X: the layer's input batch, G: the
  gradient at its output), and RMSprop's update of W from dW in the same call.
  With a batch of at most ``KC`` rows, K is one block, so each tile of dW is
  final in the micro-kernel's registers; ``_rmsprop_kernel``
  (numba_fused_kernels.py) updates W and its mean squares from there, and dW
  is never written.  X may be read through a row index (the batch gather).
* ``dense_forward_rows``: ``act(X[rows] @ W + b)``: numba.py's GEMM with a
  row index; its packing of A copies the named rows of X (a shuffled batch)
  into the layout the micro-kernel reads, so the gathered batch is never a
  separate array.

The weight gradient runs the loops of ``_gemm_columns`` (numba.py;
kernels/gemm/DESIGN.md is the map) with the packing of A and the epilogue
changed; the sums are the same numbers added in the same order, so the
results equal the unfused kernels' bit for bit.  Threads split the column
panels of the output, as in the plain GEMM: one parallel region, no barrier.
Shapes the fusion does not pay for (N <= ``NARROW_N``: the narrow paths;
a batch deeper than ``KC``: tiles not final in registers) run the unfused
kernels in sequence.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, num_threads, pool, prange
from .._numba.cache import depends_on, guard_caches
from .._numba.intrinsics import _U0, _U1, _ptr, _zero
from ..optim.numba import rmsprop_update
from .numba import (
    _I0, _NO_ROWS, _UMR, KC, MR, NARROW_N, NC, PARALLEL_FLOPS, _nr, _pack_b, _tile, gemm, matmul,
)
from .numba_fused_kernels import _rmsprop_kernel, _rmsprop_kernel_8

depends_on(__file__, "_numba/intrinsics.py", "gemm/numba_microkernels.py", "gemm/numba_fused_kernels.py",
           "gemm/numba.py")

# ---------------------------------------------------------------- packing through a row index
@njit(cache=True)
def _pack_at_rows(x, ldx, rows, indexed, i0, mc, p0, kc, ap):
    """Pack op(A) = X^T: element (i, p) is x[row(p), i], row(p) = rows[p] when
    ``indexed`` else p; columns i0..i0+mc of X, batch rows p0..p0+kc, into
    MR-tall micro-panels as ``_pack_a`` (numba.py) packs a transposed a: each
    column of a panel is MR contiguous numbers of one row of X."""
    z = _zero(ap)
    for q in range((mc + _UMR - _U1) // _UMR):
        ii = i0 + q * _UMR
        n_rows = min(_UMR, mc - q * _UMR)
        base = q * kc * _UMR
        for p in range(kc):
            r = np.uint64(rows[p0 + p]) if indexed else p0 + p
            src = r * ldx + ii
            dst = base + p * _UMR
            for i in range(n_rows):
                ap[dst + i] = x[src + i]
            for i in range(n_rows, _UMR):
                ap[dst + i] = z


# ---------------------------------------------------------------- dW = X^T @ G, then RMSprop
#: the row block of the weight gradient: one row of tiles (MR rows of W), so
#: that the tiles walk W and V along their rows (each tile's lines next to the
#: last one's, where the plain GEMM's MC = 144 went down a column of tiles,
#: 12 rows and 24 KB apart): 1.20x at W1's shape (kernels/gemm/MEASUREMENTS.md)
WEIGHT_ROWS = MR

@njit(cache=True)
def _weight_grad_rmsprop_columns(x, ldx, rows, indexed, g, m, n, k, w, v, lr, rho, one_minus_rho, eps,
                                 jp_lo, jp_hi, bp, ap, t):
    """One thread's share: the column panels jp_lo..jp_hi of dW (all of its m
    rows), k <= KC (one block).  Per NC block of columns, G's share is packed
    (``_pack_b``); per block of ``WEIGHT_ROWS`` rows, X^T (``_pack_at_rows``); then each tile
    goes through ``_rmsprop_kernel``, a narrower last column panel through the
    scratch ``t`` and scalar updates (the same operations, one lane at a time)."""
    u = np.uint64
    nr = _nr(w)
    inr = np.int64(nr)
    for jc in range(jp_lo, jp_hi, NC // inr):
        nq = min(jp_hi - jc, NC // inr)
        nfull = nq if (jc + nq) * inr <= n else nq - 1
        _pack_b(g, u(n), False, _U0, u(k), u(jc * inr), u(min(nq * inr, n - jc * inr)), nr, bp)
        for ic in range(0, m, WEIGHT_ROWS):
            mc = min(WEIGHT_ROWS, m - ic)
            mpan = (mc + MR - 1) // MR
            _pack_at_rows(x, u(ldx), rows, indexed, u(ic), u(mc), _U0, u(k), ap)
            for tile in range(mpan * nfull):   # column by column (one row of tiles: along it)
                jr, ir = tile // mpan, tile % mpan
                ii = ic + ir * MR
                n_rows = u(min(MR, m - ii))
                at = u(ii * n + (jc + jr) * inr)
                # where the next tile's weights start, which this call prefetches: the
                # next of this block, else the first of the next block, else this one
                if tile + 1 < mpan * nfull:
                    at_next = u((ic + ((tile + 1) % mpan) * MR) * n + (jc + (tile + 1) // mpan) * inr)
                elif ic + mc < m:
                    at_next = u((ic + mc) * n + jc * inr)
                else:
                    at_next = at
                if n_rows <= u(8):
                    _rmsprop_kernel_8(u(k), _ptr(ap), u(ir * k * MR), _UMR, _ptr(bp), u(jr * k * inr), nr,
                                      _ptr(w), _ptr(v), at, u(n), n_rows, at_next, lr, rho, one_minus_rho, eps)
                else:
                    _rmsprop_kernel(u(k), _ptr(ap), u(ir * k * MR), _UMR, _ptr(bp), u(jr * k * inr), nr,
                                    _ptr(w), _ptr(v), at, u(n), n_rows, at_next, lr, rho, one_minus_rho, eps)
            if nfull < nq:   # the last, narrower column panel
                jj = (jc + nfull) * inr
                for ir in range(mpan):
                    ii = ic + ir * MR
                    n_rows = min(MR, m - ii)
                    _tile(False, u(k), _ptr(ap), u(ir * k * MR), _UMR, _ptr(bp), u(nfull * k * inr), nr,
                          _ptr(t), _U0, nr, u(n_rows), False, _ptr(t), _U0, False, False)
                    for r in range(n_rows):
                        for j in range(n - jj):
                            gi = t[r * inr + j]
                            o = (ii + r) * n + jj + j
                            vi = rho * v[o] + one_minus_rho * gi * gi
                            v[o] = vi
                            w[o] -= lr * gi / np.sqrt(vi + eps)


@njit(cache=True, parallel=True, error_model="numpy")
def _weight_grad_rmsprop(x, rows, indexed, g, w, v, lr, rho, one_minus_rho, eps, threads):
    """The compiled entry: dW = op(X)^T @ g (op(X) = x[rows] when ``indexed``) is
    m x n with depth k = g's rows <= KC; the column panels are split between
    ``threads`` threads, each with its own packed G, packed X^T and scratch tile."""
    k, n = g.shape
    m, ldx = w.shape[0], x.shape[1]
    inr = np.int64(_nr(w))
    npan = (n + inr - 1) // inr
    nt = max(1, min(threads, npan))
    share = (npan + nt - 1) // nt
    b_size = k * min(share, NC // inr) * inr
    a_size = k * ((min(m, WEIGHT_ROWS) + MR - 1) // MR) * MR
    work = np.empty((nt, b_size + a_size + MR * inr), w.dtype)
    xf, gf, wf, vf = x.reshape(x.size), g.reshape(g.size), w.reshape(w.size), v.reshape(v.size)
    if nt == 1:
        s = work[0]
        _weight_grad_rmsprop_columns(xf, ldx, rows, indexed, gf, m, n, k, wf, vf, lr, rho, one_minus_rho, eps,
                                     _I0, npan, s[:b_size], s[b_size:b_size + a_size], s[b_size + a_size:])
    else:
        for th in prange(nt):
            s = work[th]
            _weight_grad_rmsprop_columns(xf, ldx, rows, indexed, gf, m, n, k, wf, vf, lr, rho, one_minus_rho, eps,
                                         th * share, min(npan, (th + 1) * share),
                                         s[:b_size], s[b_size:b_size + a_size], s[b_size + a_size:])


# ---------------------------------------------------------------- the backend's methods
def _threads(flops):
    return 1 if flops < PARALLEL_FLOPS else num_threads()


def dense_forward_rows(x, rows, w, b, relu, out):
    """out = act(x[rows] @ w + b): the plain GEMM with a row index, the gather
    fused into the packing of A when N > NARROW_N (numba.py's ``gemm``)."""
    m, n = out.shape
    if n <= NARROW_N:   # the narrow path reads A in place: gather first
        return gemm(x[rows], w, False, False, out, b, relu)
    threads = _threads(2.0 * m * n * w.shape[0])
    if threads == 1:
        return gemm(x, w, False, False, out, b, relu, threads, rows)
    return pool.run(gemm, x, w, False, False, out, b, relu, threads, rows)


def weight_grad_rmsprop(x, rows, g, w, v, lr, rho, eps):
    """RMSprop on w (mean squares v) with the gradient dW = op(x)^T @ g, op(x) =
    x[rows] (rows not None) or x; fused when the batch fits one K block and N > NARROW_N."""
    t = w.dtype.type
    k, n = g.shape
    if k > KC or n <= NARROW_N:   # not final in registers, or a narrow path: the unfused kernels
        grad = np.empty_like(w)
        matmul(x if rows is None else x[rows], g, True, False, grad)
        rmsprop_update(w.reshape(-1), grad.reshape(-1), v.reshape(-1), lr, rho, eps)
        return
    indexed = rows is not None
    threads = _threads(2.0 * w.size * k)
    pool.run(_weight_grad_rmsprop, x, rows if indexed else _NO_ROWS, indexed, g, w, v, t(lr), t(rho), t(1 - rho),
             t(eps), threads)


guard_caches(globals())  # a corrupt cache entry is dropped and recompiled
