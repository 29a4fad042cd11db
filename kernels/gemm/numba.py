"""The GEMM of the Numba backend: the Goto/BLIS design, in readable Numba.

kernels/gemm/DESIGN.md is the map: the five loops, the block sizes, the micro-kernel
contract, how this design differs from the Cython one, and measured numbers.

``C = op(A) @ op(B)`` is computed block by block so that every operand is read
from the closest cache level:

* the K dimension is cut into blocks of at most ``KC`` (split evenly: K=784 is
  three blocks of 262, not 384 + 384 + 16), N into blocks of ``NC`` and M into blocks of ``MC``;
* a KC x NC block of op(B) is *packed* into NR-wide micro-panels (each micro-panel
  is KC rows of NR contiguous numbers), and an MC x KC block of op(A) into MR-tall
  micro-panels (each is KC columns of MR contiguous numbers).  The transposes are
  handled here, by reading ``a[i, k]`` or ``a[k, i]``, and the edges are padded
  with zeros, so the inner code never sees a transpose or a ragged edge;
* the micro-kernel multiplies one MR x KC panel of A by one KC x NR panel of B,
  keeping the MR x NR block of C in registers (12 x 32 float32 = 24 AVX-512
  registers), then writes it to C once -- adding the bias and applying ReLU on
  the way out (the fused epilogue of ``dense_forward``).

Two narrow paths serve the output layer of a small network (N = 10 classes),
where padding N up to NR would waste 37% of the work: ``_gemm_dot`` (A not
transposed: dot products along K, an 8 x 2 block of C at a time, its 16 sums
finished together by a transpose-and-add) and
``_gemm_narrow_ta`` (``x.T @ dy``: the micro-kernel applied to the transposed
problem, vectors running along M).

Threads: each driver makes at most one parallel region per call.  The general
path gives each thread a share of C's column panels, with its own packing
buffers, so the threads never wait for each other; problems under
``PARALLEL_FLOPS`` (the small layers of an MLP) run on the calling thread,
because waking the pool costs more than they take.

Shallow K (``dy @ W2.T``, K = 10): a tile then takes about as long to write as
to compute, so the per-tile overheads are cut: the tiles are visited row by
row when the packed B is small (C is written as a stream), a short last row
block is handled inside the micro-kernel (no scratch tile; at most 8 rows by
an 8-row kernel), a plain A is read in place by rows (not packed), and
the micro-kernel takes raw pointers (``_ptr``), since Numba's atomic reference
counting of array arguments cost more than such a tile.

How the compiled code is made fast (check with ``inspect_asm``):

* The micro-kernels (kernels/gemm/numba_microkernels.py) are written as LLVM vector
  IR: loads of B's rows as vectors, broadcasts of A, ``llvm.fma`` on 24
  accumulator vectors.  They mark the function they land in
  ``"prefer-vector-width"="512"``: LLVM tunes Intel server CPUs to prefer
  256-bit vectors, which halves the peak.
* LLVM's SLP vectorizer (off in Numba by default) is on while these
  functions compile (kernels/_numba: ``njit`` sets Numba's
  ``config.SLP_VECTORIZE`` around each compile of our own functions only):
  the small straight-line code of the drivers uses it.
* Indices are unsigned (uint64, constants ``_U0``..``_U10`` too): a signed index
  costs a negative-wraparound select per access and blocks vectorization.
* Every ``@njit`` uses ``cache=True``: the first run on a machine compiles,
  later processes load the machine code.

Files: this one is the driver (constants, packing, the loops); the
micro-kernels are kernels/gemm/numba_microkernels.py; the LLVM intrinsics (``_ptr``,
the register transposes) are kernels/_numba/intrinsics.py.  At the end, ``matmul``
and ``dense_forward``: the Numba backend's methods of this family.
"""

from __future__ import annotations

import warnings

import numpy as np
from numba.core import types
from numba.core.errors import NumbaPerformanceWarning
from numba.extending import overload

from .._numba import njit, num_threads, pool, prange
from .._numba.cache import depends_on, guard_caches
from .._numba.intrinsics import (
    _U0, _U1, _U8, _U10, _gather_transpose_4x8, _gather_transpose_8x8, _prefetch_l2, _ptr, _transpose_8x8, _zero,
)
from .numba_microkernels import (
    DOT_COLS, DOT_ROWS, _dot_kernel, _micro_kernel, _micro_kernel_8, _narrow_kernel, _rows_kernel, _rows_kernel_8,
)

depends_on(__file__, "_numba/intrinsics.py", "gemm/numba_microkernels.py")  # their code is inlined here

#: rows of the register tile (both dtypes)
MR = 12
#: columns of the register tile: two 512-bit vectors of float32, two of float64
NR_F32 = 32
NR_F64 = 16
#: cache blocks: a KC x NR panel of B (at most 48 KiB) is reused by the MC/MR
#: tiles of a row block from L1/L2, an MC x KC block of A stays in L2, a KC x NC
#: block of B in L2/L3 (kernels/gemm/DESIGN.md: why these sizes, what was measured).
KC = 384
MC = 144
NC = 4096
#: N at or below this goes to the narrow paths
NARROW_N = 16
#: a plain A is read in place, not packed, when its rows are at most this long
#: (or it is one row block); kernels/gemm/DESIGN.md: "A in place"
A_ROW_BYTES = 4096
#: problems under this many flops (2*m*n*k) run on one thread
PARALLEL_FLOPS = 4e6

# MR unsigned, so that no index arithmetic turns signed (or float)
_UMR = np.uint64(MR)
# a start index of 0 typed int64, as the threads' starts are: a bare 0 is typed
# Literal[int](0), and the callee would be compiled twice
_I0 = np.int64(0)


# ---------------------------------------------------------------- tile width
def _nr(x):
    """NR, the register tile width, for the dtype of ``x``."""
    raise NotImplementedError


@overload(_nr)
def _nr_impl(x):
    nr = NR_F32 if x.dtype == types.float32 else NR_F64
    return lambda x: np.uint64(nr)


# ---------------------------------------------------------------- packing
@njit(cache=True)
def _pack_a(a, lda, ta, rows, indexed, i0, mc, p0, kc, ap):
    """Copy op(a)[i0:i0+mc, p0:p0+kc] into MR-tall micro-panels: column p of
    panel q is ap[(q*kc + p)*MR :][:MR], rows past ``mc`` zeroed.  All arguments
    are uint64 but ``ta`` (op = transpose) and the row index: when ``indexed``
    (a plain a only), row i of op(a) is row ``rows[i]`` of a (a shuffled batch
    gathered on the way).  From a row-major a this is a transpose; a full panel
    is done 8 columns at a time with vector shuffles (rows 0-7, then 8-11),
    where scalar copies would store one number at a time, MR numbers apart
    (kernels/gemm/DESIGN.md gives the measured gain)."""
    z = _zero(ap)
    starts = np.empty(MR, np.uint64)   # where each row of a panel starts in a
    for q in range((mc + _UMR - _U1) // _UMR):
        ii = i0 + q * _UMR
        n_rows = min(_UMR, mc - q * _UMR)
        base = q * kc * _UMR
        if ta:  # op(a)[i, p] = a[p, i]: each column of the panel is contiguous in a
            for p in range(kc):
                src = (p0 + p) * lda + ii
                dst = base + p * _UMR
                for r in range(n_rows):
                    ap[dst + r] = a[src + r]
                for r in range(n_rows, _UMR):
                    ap[dst + r] = z
            continue
        for r in range(n_rows):   # op(a)[i, p] = a[row(i), p]: each row of the panel is contiguous in a
            starts[r] = (np.uint64(rows[ii + r]) if indexed else ii + r) * lda + p0
        p = _U0
        if n_rows == _UMR:  # a full panel: 12 x 8 blocks, transposed in registers
            while p + _U8 <= kc:
                _gather_transpose_8x8(_ptr(a), _ptr(starts), _U0, p, _ptr(ap), base + p * _UMR, _UMR)
                _gather_transpose_4x8(_ptr(a), _ptr(starts), _U8, p, _ptr(ap), base + p * _UMR + _U8, _UMR)
                p += _U8
        for r in range(n_rows):
            for pp in range(p, kc):
                ap[base + pp * _UMR + r] = a[starts[r] + pp]
        for r in range(n_rows, _UMR):
            for pp in range(kc):
                ap[base + pp * _UMR + r] = z


@njit(cache=True)
def _pack_b(b, ldb, tb, p0, kc, j0, nc, nr, bp):
    """Copy op(b)[p0:p0+kc, j0:j0+nc] into NR-wide micro-panels: row p of
    panel q is bp[(q*kc + p)*nr :][:nr], columns past ``nc`` zeroed.  A full
    panel of a transposed b is copied as ``_pack_a`` copies A, 8 x 8 blocks
    transposed in registers (3.5 times faster than scalar copies at K = 10, 7 times at K = 262)."""
    z = _zero(bp)
    for q in range((nc + nr - _U1) // nr):
        jj = j0 + q * nr
        cols = min(nr, nc - q * nr)
        base = q * kc * nr
        if tb and cols == nr:  # a full panel from rows of b: 8 x 8 blocks, transposed in registers
            p = _U0
            while p + _U8 <= kc:
                for c in range(_U0, nr, _U8):
                    _transpose_8x8(_ptr(b), (jj + c) * ldb + p0 + p, ldb, _ptr(bp), base + p * nr + c, nr)
                p += _U8
            for c in range(nr):
                for pp in range(p, kc):
                    bp[base + pp * nr + c] = b[(jj + c) * ldb + p0 + pp]
        elif tb:  # op(b)[p, j] = b[j, p]
            for c in range(cols):
                src = (jj + c) * ldb + p0
                for p in range(kc):
                    bp[base + p * nr + c] = b[src + p]
            for c in range(cols, nr):
                for p in range(kc):
                    bp[base + p * nr + c] = z
        else:
            for p in range(kc):
                src = (p0 + p) * ldb + jj
                dst = base + p * nr
                for c in range(cols):
                    bp[dst + c] = b[src + c]
                for c in range(cols, nr):
                    bp[dst + c] = z


@njit(cache=True)
def _store_edge(t, ldt, rows, cols, c, pc, rsc, csc, accumulate, bias, jb, bstride, use_bias, relu):
    """Copy the valid rows x cols of an edge tile from the scratch ``t`` into C at
    c[pc + r*rsc + j*csc], with the same epilogue as the micro-kernel (bias[jb +
    (r or j)*...] via ``bstride``: the bias runs along C's columns).  Like the
    micro-kernel it takes pointers (``_ptr``), since it runs once per tile."""
    z = _zero(c)
    for r in range(rows):
        for j in range(cols):
            v = t[r * ldt + j]
            o = pc + r * rsc + j * csc
            if accumulate:
                v += c[o]
            if use_bias:
                v += bias[jb + r * bstride + j * (_U1 - bstride)]
            if relu:
                v = max(v, z)
            c[o] = v


# ---------------------------------------------------------------- drivers
@njit(cache=True, inline="always")
def _tile(a_rows, kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    """One micro-kernel call (the contract of kernels/gemm/DESIGN.md), the kernel chosen
    by the tile: 8 rows when at most 8 are stored (M = 128 is 10 x 12 + 8, and
    12 rows would compute 4 for nothing), and A packed or read by rows (``a_rows``:
    element (r, p) at A[pa + r*csa + p], ``_tile_kernel``)."""
    if rows <= _U8:
        if a_rows:
            _rows_kernel_8(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu)
        else:
            _micro_kernel_8(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu)
    elif a_rows:
        _rows_kernel(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu)
    else:
        _micro_kernel(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu)


#: how ``_gemm_columns`` reads op(B) (``_gemm_blocked`` chooses; kernels/gemm/DESIGN.md, "B in place"):
#: a KC x NC block packed at once, micro-panels read where they lie, or each packed just before its tiles
B_PACKED, B_IN_PLACE, B_PANEL_BY_PANEL = 0, 1, 2


@njit(cache=True)
def _gemm_columns(a, lda, ta, rows, indexed, b, ldb, tb, m, n, k, c, bias, use_bias, relu, jp_lo, jp_hi,
                  b_mode, a_rows, bp, ap, t):
    """One thread's share of the Goto/BLIS loop nest (kernels/gemm/DESIGN.md): the
    columns of C in the NR panels jp_lo..jp_hi, all rows.  Loop jc: blocks of
    NC columns; pc: KC blocks of K, each packing this share of op(B) (``b_mode``:
    ``B_PACKED``; ``B_IN_PLACE`` reads its micro-panels where they lie,
    ``B_PANEL_BY_PANEL`` packs each just before its column of tiles); ic: MC
    blocks of rows, each packing op(A) (unless ``a_rows``: a read by rows
    where it lies; with ``indexed``, row i of op(a) is row ``rows[i]`` of a,
    gathered while packing); jr/ir: the micro-kernel over the MR x NR tiles.
    jc and jr count NR panels, ir counts MR panels.  Tiles go column by column
    (one B micro-panel stays in L1) unless B's K block is small (a shallow K,
    not packed panel by panel): then row by row, so that the writes to C stream.  ``t`` is an
    MR x NR scratch tile.  Sizes are int64 here; the hot code gets uint64."""
    u = np.uint64
    nr = _nr(c)
    inr = np.int64(nr)
    nkb = (k + KC - 1) // KC
    kcb = (k + nkb - 1) // nkb  # K split evenly: 784 -> 3 x 262
    panel = kcb * inr           # a packed micro-panel's size
    for jc in range(jp_lo, jp_hi, NC // inr):
        nq = min(jp_hi - jc, NC // inr)  # NR panels in this N block
        for kb in range(nkb):
            pc = kb * kcb
            kc = min(kcb, k - pc)
            first = kb == 0
            last = kb == nkb - 1
            nfull = nq if (jc + nq) * inr <= n else nq - 1  # full-width column panels
            if b_mode == B_PACKED:
                _pack_b(b, u(ldb), tb, u(pc), u(kc), u(jc * inr), u(min(nq * inr, n - jc * inr)), nr, bp)
                b_at, b_start, b_step, b_row, edge_pb = _ptr(bp), _U0, u(kc * inr), nr, u(nfull * kc * inr)
            elif b_mode == B_IN_PLACE:  # only the last, narrower panel is packed (at bp[0]): B ends inside it
                b_at, b_start, b_step, b_row, edge_pb = _ptr(b), u(pc * ldb + jc * inr), u(inr), u(ldb), _U0
            else:   # each full panel packed at bp[panel], just before its tiles; the narrower last one at bp[0]
                b_at, b_start, b_step, b_row, edge_pb = _ptr(bp), u(panel), _U0, nr, _U0
            by_rows = b_mode != B_PANEL_BY_PANEL and kc * nq * inr * c.itemsize <= 32768
            for ic in range(0, m, MC):
                mc = min(MC, m - ic)
                mpan = (mc + MR - 1) // MR
                if a_rows:  # panel ir starts at row ic + ir*MR of a, rows lda apart
                    a_at, a_start, a_step, a_col = _ptr(a), u(ic * lda + pc), u(MR * lda), u(lda)
                else:       # panel ir of the packed block, kc columns of MR numbers
                    _pack_a(a, u(lda), ta, rows, indexed, u(ic), u(mc), u(pc), u(kc), ap)
                    a_at, a_start, a_step, a_col = _ptr(ap), _U0, u(kc * MR), _UMR
                for tile in range(mpan * nfull):  # the jr and ir loops, as one
                    if by_rows:
                        ir, jr = tile // nfull, tile % nfull
                    else:
                        jr, ir = tile // mpan, tile % mpan
                    if b_mode == B_PANEL_BY_PANEL:
                        if ir == 0:
                            _pack_b(b, u(ldb), tb, u(pc), u(kc), u((jc + jr) * inr), nr, nr, bp[panel:])
                        if jr + 1 < nfull:  # this tile's share of the next panel's rows, into L2
                            share = (kc + mpan - 1) // mpan
                            for p in range(ir * share, min(kc, (ir + 1) * share)):
                                at = u((pc + p) * ldb + (jc + jr + 1) * inr)
                                _prefetch_l2(_ptr(b), at)
                                _prefetch_l2(_ptr(b), at + nr - _U1)
                    ii = ic + ir * MR
                    jj = (jc + jr) * inr
                    _tile(a_rows, u(kc), a_at, a_start + u(ir) * a_step, a_col, b_at, b_start + u(jr) * b_step, b_row,
                          _ptr(c), u(ii * n + jj), u(n), u(min(MR, m - ii)), not first,
                          _ptr(bias), u(jj), last and use_bias, last and relu)
                if nfull < nq:  # the last, narrower column panel: through the scratch t
                    jj = (jc + nfull) * inr
                    if b_mode != B_PACKED and ic == 0:
                        _pack_b(b, u(ldb), tb, u(pc), u(kc), u(jj), u(n - jj), nr, bp)
                    for ir in range(mpan):
                        ii = ic + ir * MR
                        n_rows = u(min(MR, m - ii))
                        _tile(a_rows, u(kc), a_at, a_start + u(ir) * a_step, a_col, _ptr(bp), edge_pb, nr,
                              _ptr(t), _U0, nr, n_rows, False, _ptr(bias), _U0, False, False)
                        _store_edge(_ptr(t), nr, n_rows, u(n - jj), _ptr(c), u(ii * n + jj), u(n), _U1,
                                    not first, _ptr(bias), u(jj), _U0, last and use_bias, last and relu)


@njit(cache=True, parallel=True)
def _gemm_blocked(a, lda, ta, rows, indexed, b, ldb, tb, m, n, k, c, bias, use_bias, relu, threads):
    """The general GEMM: the NR panels of C's columns are split evenly between
    ``threads`` threads, and each thread runs ``_gemm_columns`` on its share with its own
    packing buffers, so the whole call is one parallel region with no barrier;
    with one thread (``gemm`` passes 1 under ``PARALLEL_FLOPS``) there is no
    parallel region at all.  Each thread's packed B, packed A and scratch tile
    are three slices of one allocation (an allocation costs about 40 ns).
    ``indexed``: row i of op(a) is row ``rows[i]`` of a plain a (m = rows.size)."""
    inr = np.int64(_nr(c))
    npan = (n + inr - 1) // inr
    nt = max(1, min(threads, npan))
    share = (npan + nt - 1) // nt
    nkb = (k + KC - 1) // KC
    kcb = (k + nkb - 1) // nkb
    # one row block (m <= MC) of a plain b: each micro-panel is used by only m/MR
    # tiles, so none is packed ahead; a shallow one (all of B's K block in 32 KB)
    # is read where it lies, a deeper one packed just before its tiles, since
    # read in place its rows, ldb apart, fall in few L1 sets (gemm/DESIGN.md: "B in place")
    if tb or m > MC:
        b_mode = B_PACKED
    elif kcb * npan * inr * c.itemsize <= 32768:
        b_mode = B_IN_PLACE
    else:
        b_mode = B_PANEL_BY_PANEL
    # a plain a with short rows, or one row block of it: A is read by rows where it
    # lies, not packed (gemm/DESIGN.md: "A in place"; packing took as long as a few
    # tiles at K = 10; for long rows and many row blocks, square 2048, packing wins),
    # unless B is packed panel by panel (x @ W1: A packed, 6% faster)
    a_rows = (not ta and not indexed and b_mode != B_PANEL_BY_PANEL
              and (m <= MC or k * c.itemsize <= A_ROW_BYTES))
    b_size = kcb * (min(share, NC // inr) if b_mode == B_PACKED else 2) * inr
    a_size = 0 if a_rows else kcb * ((min(m, MC) + MR - 1) // MR) * MR
    work = np.empty((nt, b_size + a_size + MR * inr), c.dtype)
    if nt == 1:
        w = work[0]
        _gemm_columns(a, lda, ta, rows, indexed, b, ldb, tb, m, n, k, c, bias, use_bias, relu, _I0, npan,
                      b_mode, a_rows, w[:b_size], w[b_size:b_size + a_size], w[b_size + a_size:])
    else:
        for th in prange(nt):
            w = work[th]
            _gemm_columns(a, lda, ta, rows, indexed, b, ldb, tb, m, n, k, c, bias, use_bias, relu,
                          th * share, min(npan, (th + 1) * share), b_mode, a_rows,
                          w[:b_size], w[b_size:b_size + a_size], w[b_size + a_size:])


@njit(cache=True)
def _dot_blocks(a, lda, bt, ldbt, m, n, k, c, bias, use_bias, relu, lo, hi):
    """Rows [lo, hi) * DOT_ROWS of C for ``_gemm_dot``: C[i, j] is the dot product
    of row i of a with row j of bt, DOT_ROWS x DOT_COLS numbers per
    ``_dot_kernel`` call (rows past m and an odd last column are computed twice
    and stored twice, the same numbers)."""
    u = np.uint64
    for blk in range(lo, hi):
        i0 = blk * DOT_ROWS
        for j in range(0, n, DOT_COLS):
            _dot_kernel(u(k), _ptr(a), u(i0 * lda), u(lda), u(min(DOT_ROWS, m - i0)),
                        _ptr(bt), u(j * ldbt), u(ldbt), u(min(DOT_COLS, n - j)),
                        _ptr(c), u(i0 * n + j), u(n), _ptr(bias), u(j), use_bias, relu)


@njit(cache=True, parallel=True)
def _gemm_dot(a, lda, b, ldb, tb, m, n, k, c, bias, use_bias, relu, threads):
    """Narrow N, A not transposed (``x @ w`` with 10 columns): dot products
    along K (``_dot_blocks``), which need op(B) by rows (N x K): a transposed b
    is that already; a plain one is first copied transposed (small, since N
    is), by 8 x 8 register transposes.  Blocks of DOT_ROWS rows are split
    between the threads."""
    u = np.uint64
    if tb:
        bt, ldbt = b, ldb
    else:
        bt, ldbt = np.empty(n * k, c.dtype), k
        _transpose_into(b, u(ldb), u(k), u(n), bt)
    nblk = (m + DOT_ROWS - 1) // DOT_ROWS
    nt = max(1, min(threads, nblk))
    if nt == 1:
        _dot_blocks(a, lda, bt, ldbt, m, n, k, c, bias, use_bias, relu, _I0, nblk)
    else:
        share = (nblk + nt - 1) // nt
        for th in prange(nt):
            _dot_blocks(a, lda, bt, ldbt, m, n, k, c, bias, use_bias, relu, th * share, min(nblk, (th + 1) * share))


@njit(cache=True)
def _transpose_into(b, ldb, k, n, bt):
    """bt[j*k + p] = b[p*ldb + j] for the k x n matrix b: 8 x 8 blocks transposed
    in registers (the last 8 columns when n is not a multiple of 8: some are
    copied twice), the rows past the last multiple of 8 one number at a time."""
    p = _U0
    if n >= _U8:
        while p + _U8 <= k:
            for j in range(_U0, n, _U8):
                j = min(j, n - _U8)
                _transpose_8x8(_ptr(b), p * ldb + j, ldb, _ptr(bt), j * k + p, k)
            p += _U8
    for j in range(n):
        for pp in range(p, k):
            bt[j * k + pp] = b[pp * ldb + j]


@njit(cache=True)
def _narrow_ta_blocks(a, lda, ap, n, k, c, bias, use_bias, relu, lo, hi):
    """Rows [lo*NR, hi*NR) of C for ``_gemm_narrow_ta``: per MR columns of C one
    micro-kernel call (packed op(B).T times NR columns of a, read in place),
    whose tile is C's NR x MR block transposed, so it is stored transposed."""
    u = np.uint64
    nr = _nr(c)
    inr = np.int64(nr)
    t = np.empty(MR * inr, c.dtype)
    for blk in range(lo, hi):
        i0 = blk * inr
        for j0 in range(0, n, MR):
            _micro_kernel(u(k), _ptr(ap), u(j0 * k), _UMR, _ptr(a), u(i0), u(lda),
                          _ptr(t), _U0, nr, _UMR, False, _ptr(bias), _U0, False, False)
            # t[r, cc] = C[i0 + cc, j0 + r]
            _store_edge(_ptr(t), nr, u(min(MR, n - j0)), nr, _ptr(c), u(i0 * n + j0), _U1, u(n),
                        False, _ptr(bias), u(j0), _U1, use_bias, relu)


@njit(cache=True)
def _narrow_ta_blocks_10(a, lda, ap, n, k, c, bias, use_bias, relu, lo, hi):
    """As ``_narrow_ta_blocks`` for n <= 10: the 10 x NR kernel reads rows 0..9
    of the 12-tall packed panel of op(B).T, so no lane computes a padding class."""
    u = np.uint64
    nr = _nr(c)
    t = np.empty(10 * np.int64(nr), c.dtype)
    for blk in range(lo, hi):
        i0 = blk * np.int64(nr)
        _narrow_kernel(u(k), _ptr(ap), _U0, _UMR, _ptr(a), u(i0), u(lda),
                       _ptr(t), _U0, nr, _U10, False, _ptr(bias), _U0, False, False)
        _store_transposed(_ptr(t), nr, u(n), _ptr(c), u(i0 * n), _ptr(bias), use_bias, relu)


@njit(cache=True)
def _store_transposed(t, nr, n, c, pc, bias, use_bias, relu):
    """C[i, j] = t[j, i] (+ bias[j]) (then ReLU) for the n x NR tile ``t`` of
    ``_narrow_ta_blocks_10``: NR whole rows of C, n <= 10 numbers each, one
    contiguous block at c[pc:].  The epilogue runs on ``t`` (a bias per row of
    it); then its first 8 rows go over by 8 x 8 register transposes, which
    store 8 numbers at a time where scalar copies store one (half the time
    of the block, K = 128), and the rows past 8 one number at a time."""
    z = _zero(c)
    for r in range(n):
        row = r * nr
        if use_bias:
            for i in range(nr):
                t[row + i] += bias[r]
        if relu:
            for i in range(nr):
                t[row + i] = max(t[row + i], z)
    done = _U0
    if n >= _U8:
        for i in range(_U0, nr, _U8):
            _transpose_8x8(t, i, nr, c, pc + i * n, n)
        done = _U8
    for r in range(done, n):
        for i in range(nr):
            c[pc + i * n + r] = t[r * nr + i]


@njit(cache=True)
def _narrow_ta_range(a, lda, ap, n, k, c, bias, use_bias, relu, few, lo, hi):
    """Blocks [lo, hi) of NR rows of C: the 10-tall kernel when ``few`` (n <= 10)."""
    if few:
        _narrow_ta_blocks_10(a, lda, ap, n, k, c, bias, use_bias, relu, lo, hi)
    else:
        _narrow_ta_blocks(a, lda, ap, n, k, c, bias, use_bias, relu, lo, hi)


@njit(cache=True, parallel=True)
def _gemm_narrow_ta(a, lda, b, ldb, tb, m, n, k, c, bias, use_bias, relu, threads, rows):
    """Narrow N with A transposed (``x.T @ dy``, dy with 10 columns): the
    transposed problem C.T = op(B).T @ a, whose long side M runs along the
    vector registers.  op(B).T (N x K, small) is packed into MR-tall panels;
    the rows of a are read in place as the B-panel of the micro-kernel (row
    stride lda).  Blocks of NR rows of C are split between the threads.
    (``rows``: any int64 array, for ``_pack_a``, which does not read it here.)"""
    u = np.uint64
    inr = np.int64(_nr(c))
    z = _zero(c)
    ap = np.empty(((n + MR - 1) // MR) * MR * k, c.dtype)
    # op(b).T[j, p] = op(b)[p, j]: pack as an "A" with the opposite transpose flag
    _pack_a(b, u(ldb), not tb, rows, False, _U0, u(n), _U0, u(k), ap)
    # blocks of NR rows (by the 10-class kernel when n <= 10), split between threads
    few = n <= 10
    nblk = m // inr
    nt = max(1, min(threads, nblk))
    if nt == 1:   # no parallel region: waking the pool costs more than a small problem
        _narrow_ta_range(a, lda, ap, n, k, c, bias, use_bias, relu, few, _I0, nblk)
    else:
        share = (nblk + nt - 1) // nt
        for th in prange(nt):
            _narrow_ta_range(a, lda, ap, n, k, c, bias, use_bias, relu, few, th * share,
                             min(nblk, (th + 1) * share))
    done = nblk * inr
    # the last rows (fewer than NR): plain loops
    for i in range(done, m):
        for j in range(n):
            s = z
            for p in range(k):
                bv = b[u(j * ldb + p)] if tb else b[u(p * ldb + j)]
                s += a[u(p * lda + i)] * bv
            if use_bias:
                s += bias[j]
            if relu:
                s = max(s, z)
            c[u(i * n + j)] = s


# _gemm is compiled parallel=True though it has no loop to
# split: a cached function that is not, calling a parallel one, can crash when
# loaded from the cache in a later process (numba issues #4807, #8578; here:
# one process cached _gemm with a bias, the next without, the third crashed),
# and Numba warns that there is nothing to parallelize.
warnings.filterwarnings("ignore", message=r"(?s).*no transformation for parallel execution.*gemm.numba\.py",
                        category=NumbaPerformanceWarning)


# The bias argument of a call without a bias.  Every call passes an array and
# a use_bias flag from Python, so that _gemm has one compiled specialization
# per dtype: a None bias, or the constants True/False passed on inside
# compiled code (Numba types a constant as a literal, and each literal is
# another specialization), compiled the whole GEMM a second time, which had
# doubled the first run's compile time.
_NO_BIAS = {np.dtype(np.float32): np.zeros(1, np.float32), np.dtype(np.float64): np.zeros(1, np.float64)}
# the row index of a call without one (``indexed`` False), for the same reason
_NO_ROWS = np.zeros(1, np.int64)


@njit(cache=True, parallel=True)
def _gemm(a, b, c, bias, use_bias, ta, tb, relu, threads, rows, indexed):
    """The one compiled entry of the GEMM: shapes and strides are read here, in
    compiled code, and the path is chosen (see ``gemm``).  Numba's dispatcher
    checks the type of every argument of a call from Python, so one call with
    nine arguments costs less than Python reading the shapes, flattening the
    arrays and calling a driver with thirteen (kernels/gemm/DESIGN.md: "The entry").
    (The thread count comes from Python: asking Numba for it in compiled code
    makes the function uncacheable.)  ``indexed``: op(a) is a[rows] (a plain a,
    m = rows.size), the batch gathered while A is packed (``dense_forward_rows``)."""
    m, n = c.shape
    k = a.shape[0] if ta else a.shape[1]
    lda, ldb = a.shape[1], b.shape[1]
    af, bf, cf = a.reshape(a.size), b.reshape(b.size), c.reshape(c.size)
    # the narrow paths when op(b) has at most NARROW_N columns, else the blocked GEMM
    # (the narrow paths read A in place: a gathered A takes the blocked path)
    if n <= NARROW_N and not indexed:
        if ta:
            _gemm_narrow_ta(af, lda, bf, ldb, tb, m, n, k, cf, bias, use_bias, relu, threads, rows)
        else:
            _gemm_dot(af, lda, bf, ldb, tb, m, n, k, cf, bias, use_bias, relu, threads)
    else:
        _gemm_blocked(af, lda, ta, rows, indexed and not ta, bf, ldb, tb, m, n, k, cf, bias, use_bias, relu,
                      threads)


def gemm(a, b, transpose_a, transpose_b, out, bias=None, relu=False, threads=None, rows=None):
    """out = op(a) @ op(b) (+ bias) (then ReLU); C-contiguous 2-D arrays of one
    dtype, the flags Python bools (another type compiles another specialization).
    ``rows`` (an int64 array of valid row numbers of a, not transposed): op(a)
    is a[rows], gathered while A is packed, with no copy of its own.

    Chooses the narrow paths when op(b) has at most ``NARROW_N`` columns, and
    one thread for problems under ``PARALLEL_FLOPS`` floating-point operations
    (``threads``: ``threads_for``'s answer, when the caller has it already).
    """
    use_bias = bias is not None
    if not use_bias:
        bias = _NO_BIAS[out.dtype]
    elif not bias.flags.writeable:
        bias = bias.copy()  # keep one compiled specialization (it is small)
    if threads is None:
        threads = threads_for(a, transpose_a, out)
    indexed = rows is not None
    _gemm(a, b, out, bias, use_bias, bool(transpose_a), bool(transpose_b), bool(relu), threads,
          rows if indexed else _NO_ROWS, indexed)
    return out


def threads_for(a, transpose_a, out):
    """1 for problems under ``PARALLEL_FLOPS`` (waking the pool costs more than
    they take), else Numba's thread count (``num_threads``, 0.15 µs)."""
    if 2.0 * out.size * (a.shape[0] if transpose_a else a.shape[1]) < PARALLEL_FLOPS:
        return 1
    return num_threads()


# ---------------------------------------------------------------- the backend's methods
def matmul(a, b, transpose_a, transpose_b, out):
    threads = threads_for(a, transpose_a, out)
    if threads == 1:   # no parallel region will run: nothing for the pool guard to do
        _gemm(a, b, out, _NO_BIAS[out.dtype], False, transpose_a, transpose_b, False, 1, _NO_ROWS, False)
    else:
        pool.run(_gemm, a, b, out, _NO_BIAS[out.dtype], False, transpose_a, transpose_b, False, threads,
                 _NO_ROWS, False)
    return out


def dense_forward(x, w, b, relu, out):
    threads = threads_for(x, False, out)
    if threads == 1:
        return gemm(x, w, False, False, out, b, relu, threads)
    return pool.run(gemm, x, w, False, False, out, b, relu, threads)


guard_caches(globals())  # a corrupt cache entry is dropped and recompiled


# ---------------------------------------------------------------- fused for a training step
# numba_fused.py builds on this file's functions; imported as a module (which
# also works while either file is still loading), its functions looked up per call
from . import numba_fused as _fused  # noqa: E402


def dense_forward_rows(x, rows, w, b, relu, out):
    return _fused.dense_forward_rows(x, rows, w, b, relu, out)


def weight_grad_rmsprop(x, rows, g, w, v, lr, rho, eps):
    return _fused.weight_grad_rmsprop(x, rows, g, w, v, lr, rho, eps)
