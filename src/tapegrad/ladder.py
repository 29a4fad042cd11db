"""The GEMM ladder: from a naive triple loop to a packed, blocked matmul, one idea per step.

``tapegrad bench ladder`` times each step on one square shape, so you can see
what each idea buys.  Every step computes ``C = A @ B`` for row-major float32
matrices and is compiled by Numba, so the differences come from the memory
access pattern alone, not from Python:

1. ``naive``: the textbook i-j-p loop; the inner loop walks down a column of
   B, one cache line per multiply-add.
2. ``reordered``: the same arithmetic in i-p-j order; the inner loop now runs
   along rows of B and C, contiguous, so the compiler vectorizes it.
3. ``blocked``: the loops cut into blocks (KC rows of B, NC columns, MC rows
   of A) small enough that the block of B stays in cache while it is reused.
4. ``packed``: each block of A and B is first copied into a contiguous
   buffer, so the inner loops read memory strictly in order (no strides
   between rows, no TLB misses), as BLAS libraries do.
5. ``micro-kernel``: tapegrad's own GEMM (``kernels/gemm/numba.py``): packed
   panels plus a register tile of C (12 x 32 on AVX-512) updated by FMAs
   straight from registers, the last idea of the Goto/BLIS design.
6. ``OpenBLAS``: NumPy's matmul, the reference.

Blocking and packing only pay once the matrices outgrow the caches: at a
size whose B fits in L2, the reordered loop is already cache-friendly and
the blocked steps add loop overhead.  Try ``--size 1024`` to see them help.

The classic references for this ladder are "How to optimize GEMM"
(flame/how-to-optimize-gemm) and BLISlab.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def naive(a, b):
    """i-j-p: each C[i, j] is a dot product of a row of A and a column of B."""
    m, k = a.shape
    n = b.shape[1]
    c = np.zeros((m, n), a.dtype)
    for i in range(m):
        for j in range(n):
            total = a.dtype.type(0)
            for p in range(k):
                total += a[i, p] * b[p, j]
            c[i, j] = total
    return c


@njit(cache=True)
def reordered(a, b):
    """i-p-j: a row of C gets A[i, p] times row p of B; every inner access is contiguous."""
    m, k = a.shape
    n = b.shape[1]
    c = np.zeros((m, n), a.dtype)
    for i in range(m):
        for p in range(k):
            aip = a[i, p]
            for j in range(n):
                c[i, j] += aip * b[p, j]
    return c


@njit(cache=True)
def blocked(a, b, mc=64, kc=256, nc=1024):
    """The i-p-j loops on blocks: a KC x NC block of B is reused by all rows of A while it is in cache."""
    m, k = a.shape
    n = b.shape[1]
    c = np.zeros((m, n), a.dtype)
    for j0 in range(0, n, nc):
        cols = min(nc, n - j0)
        for p0 in range(0, k, kc):
            depth = min(kc, k - p0)
            for i0 in range(0, m, mc):
                rows = min(mc, m - i0)
                for i in range(i0, i0 + rows):
                    c_row = c[i, j0:j0 + cols]
                    for p in range(p0, p0 + depth):
                        aip = a[i, p]
                        b_row = b[p, j0:j0 + cols]
                        # j from range(cols) is provably >= 0, so Numba drops its negative-index
                        # check and LLVM vectorizes; indexing c[i, j] for j in range(j0, j1)
                        # kept the check and ran about 30x slower
                        for j in range(cols):
                            c_row[j] += aip * b_row[j]
    return c


@njit(cache=True)
def packed(a, b, mc=64, kc=256, nc=1024):
    """Blocked, with each block of A and B copied to a contiguous buffer first (packing)."""
    m, k = a.shape
    n = b.shape[1]
    c = np.zeros((m, n), a.dtype)
    b_panel = np.empty((kc, nc), a.dtype)
    a_block = np.empty((mc, kc), a.dtype)
    c_rows = np.empty((mc, nc), a.dtype)
    for j0 in range(0, n, nc):
        cols = min(nc, n - j0)
        for p0 in range(0, k, kc):
            depth = min(kc, k - p0)
            for p in range(depth):  # pack B: depth x cols, rows back to back
                for j in range(cols):
                    b_panel[p, j] = b[p0 + p, j0 + j]
            for i0 in range(0, m, mc):
                rows = min(mc, m - i0)
                for i in range(rows):  # pack A: rows x depth
                    for p in range(depth):
                        a_block[i, p] = a[i0 + i, p0 + p]
                c_rows[:rows, :cols] = 0
                for i in range(rows):
                    for p in range(depth):
                        aip = a_block[i, p]
                        for j in range(cols):
                            c_rows[i, j] += aip * b_panel[p, j]
                for i in range(rows):
                    for j in range(cols):
                        c[i0 + i, j0 + j] += c_rows[i, j]
    return c


#: the hand-written steps, in order (the ladder's last two rungs are tapegrad's GEMM and OpenBLAS)
STEPS = (
    ("naive", naive, "i-j-p triple loop, a column of B per dot product"),
    ("reordered", reordered, "i-p-j: contiguous, vectorized inner loop"),
    ("blocked", blocked, "cache blocks of A, B and C"),
    ("packed", packed, "blocks copied to contiguous buffers"),
)


def ladder(backend):
    """All six rungs as (name, matmul(a, b), what the step adds); ``backend`` runs the micro-kernel rung."""
    import tapegrad.kernels as K

    be = K.get_backend(backend)
    return [*STEPS,
            ("micro-kernel", lambda a, b: K.matmul(a, b, backend=be),
             f"packed panels + register tile of C: tapegrad's {be.name} GEMM"),
            ("OpenBLAS", np.matmul, "NumPy's matmul")]
