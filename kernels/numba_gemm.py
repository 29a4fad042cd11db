"""The GEMM of the Numba backend: the Goto/BLIS design, in readable Numba.

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
transposed: dot products along K, a 4 x 2 block of C at a time) and
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
block is handled inside the micro-kernel (no scratch tile), and the
micro-kernel takes raw pointers (``_ptr``), since Numba's atomic reference
counting of array arguments cost more than such a tile.

How the compiled code is made fast (check with ``inspect_asm``):

* LLVM's SLP vectorizer is off in Numba by default; the micro-kernel relies on it
  to turn each row of 16 scalar accumulators into one vector register, so it is
  switched on below before anything compiles (``NUMBA_SLP_VECTORIZE``; numba reads
  ``config.SLP_VECTORIZE`` each time it builds an LLVM pass pipeline, and
  ``reload_config`` re-reads the environment before each compile, so both are set).
* On Intel server CPUs LLVM prefers 256-bit vectors by default ("prefer-256-bit"
  tuning), which halves the peak.  ``_prefer_512bit_vectors()`` marks the
  function it is called in with ``"prefer-vector-width"="512"``, only for these
  kernels (numba's global CPU features are left alone).
* ``fastmath={'contract'}`` in the micro-kernel only (FMA contraction); full
  fastmath reassociates the accumulators into reductions and spills.
* Indices are unsigned (uint64, constants ``_U0``..``_U16`` too): a signed index
  costs a negative-wraparound select per access and blocks vectorization.
* Every ``@njit`` uses ``cache=True``: the micro-kernels take seconds to compile,
  once per machine; the kernels below are plain source (made by ``kernel_source``),
  not ``exec``-generated, because only functions in a file can be cached.
"""

from __future__ import annotations

import os

if os.environ.get("NUMBA_SLP_VECTORIZE") is None:
    os.environ["NUMBA_SLP_VECTORIZE"] = "1"

import numba  # noqa: E402
import numpy as np  # noqa: E402
from llvmlite import ir  # noqa: E402
from numba import njit, prange  # noqa: E402
from numba.core import config as _numba_config  # noqa: E402
from numba.core import types  # noqa: E402
from numba.extending import intrinsic, overload  # noqa: E402

_numba_config.SLP_VECTORIZE = int(os.environ["NUMBA_SLP_VECTORIZE"])

from ._numba_cache import guard_caches, install_locator  # noqa: E402

install_locator()  # before any @njit(cache=True): a read-only install still caches

#: rows of the register tile (both dtypes)
MR = 12
#: columns of the register tile: two 512-bit vectors of float32, two of float64
NR_F32 = 32
NR_F64 = 16
#: cache blocks: a KC x NR panel of B (at most 48 KiB) is reused by the MC/MR
#: tiles of a row block from L1/L2, an MC x KC block of A stays in L2, a KC x NC
#: block of B in L2/L3.  KC 256-512, MC 96-288 and NC 512-4096 measured the same
#: within this machine's noise; reading B in place instead of packing it was
#: 8-40% slower.
KC = 384
MC = 144
NC = 4096
#: N at or below this goes to the narrow paths
NARROW_N = 16
#: problems under this many flops (2*m*n*k) run on one thread
PARALLEL_FLOPS = 4e6

# unsigned constants, so that no index arithmetic turns signed (or float)
_U0, _U1, _U2, _U3, _U4, _U5, _U6, _U7 = [np.uint64(i) for i in range(8)]
_U8, _U9, _U10, _U11, _U12, _U13, _U14, _U15 = [np.uint64(i) for i in range(8, 16)]
_U16, _U17, _U18, _U19, _U20, _U21, _U22, _U23 = [np.uint64(i) for i in range(16, 24)]
_U24, _U25, _U26, _U27, _U28, _U29, _U30, _U31 = [np.uint64(i) for i in range(24, 32)]
_UMR = np.uint64(MR)


@intrinsic
def _prefer_512bit_vectors(typingctx):
    """Mark the calling function ``"prefer-vector-width"="512"`` (a no-op at run time).

    LLVM tunes Intel server CPUs to prefer 256-bit vectors; with this attribute
    the SLP vectorizer and the backend use the full AVX-512 registers.
    """

    def codegen(context, builder, signature, args):
        attrs = builder.function.attributes
        # llvmlite only validates the names it knows; string attributes are
        # added to the underlying set directly and printed as they are.
        set.add(attrs, '"prefer-vector-width"="512"')
        set.add(attrs, '"min-legal-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def _ptr(typingctx, arr):
    """The data pointer of a contiguous array, indexed like the array (``p[i]``).

    The micro-kernels take pointers, not arrays: Numba increfs and decrefs each
    array argument of a compiled call with atomic instructions, which costs more
    than a shallow (K = 10) tile, and those runtime calls make the accumulators
    spill.  The caller keeps the arrays alive.
    """

    def codegen(context, builder, signature, args):
        return context.make_array(arr)(context, builder, args[0]).data

    return types.CPointer(arr.dtype)(arr), codegen


def _columns_by_shuffles(builder, rows):
    """The 8 columns of a block of 4 or 8 rows (LLVM vectors of 8 numbers),
    as vectors of 4 or 8: three rounds of shuffles (pairs of elements, pairs
    of pairs, then halves), the register transpose BLAS libraries pack with."""
    i32 = ir.IntType(32)

    def shuffle(x, y, lanes):
        return builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(i32, len(lanes)), lanes))

    t, u = [], []
    for i in range(0, len(rows), 2):   # rows i, i+1 interleaved
        t += [shuffle(rows[i], rows[i + 1], [0, 8, 1, 9, 4, 12, 5, 13]),
              shuffle(rows[i], rows[i + 1], [2, 10, 3, 11, 6, 14, 7, 15])]
    for i in range(0, len(rows), 4):   # u[i + q]: columns q and q + 4 of four rows
        lo, hi = [0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15]
        u += [shuffle(t[i], t[i + 2], lo), shuffle(t[i], t[i + 2], hi),
              shuffle(t[i + 1], t[i + 3], lo), shuffle(t[i + 1], t[i + 3], hi)]
    if len(rows) == 4:
        return [shuffle(u[j % 4], u[j % 4], [0, 1, 2, 3] if j < 4 else [4, 5, 6, 7]) for j in range(8)]
    return [shuffle(u[j % 4], u[j % 4 + 4], [0, 1, 2, 3, 8, 9, 10, 11] if j < 4 else [4, 5, 6, 7, 12, 13, 14, 15])
            for j in range(8)]


def _transposer(nrows):
    """An intrinsic ``f(src, so, lda, dst, do, ldd)`` that copies a block of ``nrows``
    (4 or 8) rows by 8 columns transposed: dst[do + j*ldd + i] = src[so + i*lda + j].
    It loads the rows as vectors and stores the columns ``_columns_by_shuffles``
    makes: LLVM ``shufflevector`` instructions, which Numba's Python cannot spell."""

    @intrinsic
    def transpose(typingctx, src, so, lda, dst, do, ldd):
        def codegen(context, builder, signature, args):
            src, so, lda, dst, do, ldd = args
            elt = context.get_data_type(signature.args[0].dtype)
            align = context.get_abi_sizeof(elt)
            rows = []
            for i in range(nrows):
                at = builder.gep(src, [builder.add(so, builder.mul(lda, ir.Constant(so.type, i)))])
                rows.append(builder.load(builder.bitcast(at, ir.VectorType(elt, 8).as_pointer()), align=align))
            for j, column in enumerate(_columns_by_shuffles(builder, rows)):
                at = builder.gep(dst, [builder.add(do, builder.mul(ldd, ir.Constant(do.type, j)))])
                builder.store(column, builder.bitcast(at, ir.VectorType(elt, nrows).as_pointer()), align=align)
            return context.get_dummy_value()

        return types.none(src, so, lda, dst, do, ldd), codegen

    return transpose


_transpose_8x8 = _transposer(8)
_transpose_4x8 = _transposer(4)


# ---------------------------------------------------------------- dtype helpers
def _zero(x):
    """A zero of the dtype of array ``x`` (resolved at compile time)."""
    raise NotImplementedError


@overload(_zero)
def _zero_impl(x):
    if x.dtype == types.float32:
        return lambda x: np.float32(0)
    return lambda x: np.float64(0)


def _nr(x):
    """NR, the register tile width, for the dtype of ``x``."""
    raise NotImplementedError


@overload(_nr)
def _nr_impl(x):
    nr = NR_F32 if x.dtype == types.float32 else NR_F64
    return lambda x: np.uint64(nr)


def _micro_kernel(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    """C[pc + r*ldc + j] (+)= sum_p A[pa + r + p*csa] * B[pb + p*rsb + j] for
    the first ``rows`` rows of an MR x NR tile, then + bias[jb + j] and ReLU when
    asked.  Picks the 12x32 kernel for float32 and 12x16 for float64 at compile time."""
    raise NotImplementedError


@overload(_micro_kernel, jit_options={"fastmath": {"contract"}})
def _micro_kernel_impl(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    if C.dtype == types.float32:
        return _kernel_12x32
    return _kernel_12x16


def _narrow_kernel(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    """The micro-kernel's contract for a 10 x NR tile: 10x32 for float32, 10x16
    for float64 (``_gemm_narrow_ta``: ten classes by two vectors of rows of C)."""
    raise NotImplementedError


@overload(_narrow_kernel, jit_options={"fastmath": {"contract"}})
def _narrow_kernel_impl(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    if C.dtype == types.float32:
        return _kernel_10x32
    return _kernel_10x16


# ---------------------------------------------------------------- micro-kernels
# The two functions below are the output of ``kernel_source(12, 16)`` and
# ``kernel_source(12, 32)`` (tests/test_numba_backend.py checks they match).
# Each loop iteration loads one row of the B panel (NR numbers: two vectors,
# 16 float64 or 32 float32), broadcasts MR numbers of the A panel and does
# 2*MR vector FMAs: 24 accumulator registers, and 14 loads per 24 FMAs, so the
# two FMA ports, not the two load ports, set the pace.  A, B, C and
# bias are pointers (``_ptr``), indexed like flat arrays.


def _kernel_12x16(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    """C[12x16 tile] (+)= A @ B-panel, with 192 scalar accumulators.

    Generated by ``kernel_source(12, 16)``: row r of the tile is the 16 accumulators
    ``c<r>_0..c<r>_15``, which LLVM's SLP vectorizer fuses into vector registers.
    A[pa + r + p*csa] is element (r, p): a packed panel (csa=MR) or a transposed
    A read in place (csa=lda).  Only the first ``rows`` rows of C are used, with no
    branches: a row past them is aimed at row ``rows - 1`` and the rows are stored
    last to first, so that row's own, correct values land last.
    """
    _prefer_512bit_vectors()
    z = _zero(C)
    c0_0 = c0_1 = c0_2 = c0_3 = c0_4 = c0_5 = c0_6 = c0_7 = c0_8 = c0_9 = c0_10 = c0_11 = c0_12 = c0_13 = c0_14 = c0_15 = z
    c1_0 = c1_1 = c1_2 = c1_3 = c1_4 = c1_5 = c1_6 = c1_7 = c1_8 = c1_9 = c1_10 = c1_11 = c1_12 = c1_13 = c1_14 = c1_15 = z
    c2_0 = c2_1 = c2_2 = c2_3 = c2_4 = c2_5 = c2_6 = c2_7 = c2_8 = c2_9 = c2_10 = c2_11 = c2_12 = c2_13 = c2_14 = c2_15 = z
    c3_0 = c3_1 = c3_2 = c3_3 = c3_4 = c3_5 = c3_6 = c3_7 = c3_8 = c3_9 = c3_10 = c3_11 = c3_12 = c3_13 = c3_14 = c3_15 = z
    c4_0 = c4_1 = c4_2 = c4_3 = c4_4 = c4_5 = c4_6 = c4_7 = c4_8 = c4_9 = c4_10 = c4_11 = c4_12 = c4_13 = c4_14 = c4_15 = z
    c5_0 = c5_1 = c5_2 = c5_3 = c5_4 = c5_5 = c5_6 = c5_7 = c5_8 = c5_9 = c5_10 = c5_11 = c5_12 = c5_13 = c5_14 = c5_15 = z
    c6_0 = c6_1 = c6_2 = c6_3 = c6_4 = c6_5 = c6_6 = c6_7 = c6_8 = c6_9 = c6_10 = c6_11 = c6_12 = c6_13 = c6_14 = c6_15 = z
    c7_0 = c7_1 = c7_2 = c7_3 = c7_4 = c7_5 = c7_6 = c7_7 = c7_8 = c7_9 = c7_10 = c7_11 = c7_12 = c7_13 = c7_14 = c7_15 = z
    c8_0 = c8_1 = c8_2 = c8_3 = c8_4 = c8_5 = c8_6 = c8_7 = c8_8 = c8_9 = c8_10 = c8_11 = c8_12 = c8_13 = c8_14 = c8_15 = z
    c9_0 = c9_1 = c9_2 = c9_3 = c9_4 = c9_5 = c9_6 = c9_7 = c9_8 = c9_9 = c9_10 = c9_11 = c9_12 = c9_13 = c9_14 = c9_15 = z
    c10_0 = c10_1 = c10_2 = c10_3 = c10_4 = c10_5 = c10_6 = c10_7 = c10_8 = c10_9 = c10_10 = c10_11 = c10_12 = c10_13 = c10_14 = c10_15 = z
    c11_0 = c11_1 = c11_2 = c11_3 = c11_4 = c11_5 = c11_6 = c11_7 = c11_8 = c11_9 = c11_10 = c11_11 = c11_12 = c11_13 = c11_14 = c11_15 = z
    ap = pa
    q = pb
    for _ in range(kc):
        b0 = B[q + _U0]; b1 = B[q + _U1]; b2 = B[q + _U2]; b3 = B[q + _U3]; b4 = B[q + _U4]; b5 = B[q + _U5]; b6 = B[q + _U6]; b7 = B[q + _U7]
        b8 = B[q + _U8]; b9 = B[q + _U9]; b10 = B[q + _U10]; b11 = B[q + _U11]; b12 = B[q + _U12]; b13 = B[q + _U13]; b14 = B[q + _U14]; b15 = B[q + _U15]
        a = A[ap + _U0]
        c0_0 += a * b0; c0_1 += a * b1; c0_2 += a * b2; c0_3 += a * b3; c0_4 += a * b4; c0_5 += a * b5; c0_6 += a * b6; c0_7 += a * b7
        c0_8 += a * b8; c0_9 += a * b9; c0_10 += a * b10; c0_11 += a * b11; c0_12 += a * b12; c0_13 += a * b13; c0_14 += a * b14; c0_15 += a * b15
        a = A[ap + _U1]
        c1_0 += a * b0; c1_1 += a * b1; c1_2 += a * b2; c1_3 += a * b3; c1_4 += a * b4; c1_5 += a * b5; c1_6 += a * b6; c1_7 += a * b7
        c1_8 += a * b8; c1_9 += a * b9; c1_10 += a * b10; c1_11 += a * b11; c1_12 += a * b12; c1_13 += a * b13; c1_14 += a * b14; c1_15 += a * b15
        a = A[ap + _U2]
        c2_0 += a * b0; c2_1 += a * b1; c2_2 += a * b2; c2_3 += a * b3; c2_4 += a * b4; c2_5 += a * b5; c2_6 += a * b6; c2_7 += a * b7
        c2_8 += a * b8; c2_9 += a * b9; c2_10 += a * b10; c2_11 += a * b11; c2_12 += a * b12; c2_13 += a * b13; c2_14 += a * b14; c2_15 += a * b15
        a = A[ap + _U3]
        c3_0 += a * b0; c3_1 += a * b1; c3_2 += a * b2; c3_3 += a * b3; c3_4 += a * b4; c3_5 += a * b5; c3_6 += a * b6; c3_7 += a * b7
        c3_8 += a * b8; c3_9 += a * b9; c3_10 += a * b10; c3_11 += a * b11; c3_12 += a * b12; c3_13 += a * b13; c3_14 += a * b14; c3_15 += a * b15
        a = A[ap + _U4]
        c4_0 += a * b0; c4_1 += a * b1; c4_2 += a * b2; c4_3 += a * b3; c4_4 += a * b4; c4_5 += a * b5; c4_6 += a * b6; c4_7 += a * b7
        c4_8 += a * b8; c4_9 += a * b9; c4_10 += a * b10; c4_11 += a * b11; c4_12 += a * b12; c4_13 += a * b13; c4_14 += a * b14; c4_15 += a * b15
        a = A[ap + _U5]
        c5_0 += a * b0; c5_1 += a * b1; c5_2 += a * b2; c5_3 += a * b3; c5_4 += a * b4; c5_5 += a * b5; c5_6 += a * b6; c5_7 += a * b7
        c5_8 += a * b8; c5_9 += a * b9; c5_10 += a * b10; c5_11 += a * b11; c5_12 += a * b12; c5_13 += a * b13; c5_14 += a * b14; c5_15 += a * b15
        a = A[ap + _U6]
        c6_0 += a * b0; c6_1 += a * b1; c6_2 += a * b2; c6_3 += a * b3; c6_4 += a * b4; c6_5 += a * b5; c6_6 += a * b6; c6_7 += a * b7
        c6_8 += a * b8; c6_9 += a * b9; c6_10 += a * b10; c6_11 += a * b11; c6_12 += a * b12; c6_13 += a * b13; c6_14 += a * b14; c6_15 += a * b15
        a = A[ap + _U7]
        c7_0 += a * b0; c7_1 += a * b1; c7_2 += a * b2; c7_3 += a * b3; c7_4 += a * b4; c7_5 += a * b5; c7_6 += a * b6; c7_7 += a * b7
        c7_8 += a * b8; c7_9 += a * b9; c7_10 += a * b10; c7_11 += a * b11; c7_12 += a * b12; c7_13 += a * b13; c7_14 += a * b14; c7_15 += a * b15
        a = A[ap + _U8]
        c8_0 += a * b0; c8_1 += a * b1; c8_2 += a * b2; c8_3 += a * b3; c8_4 += a * b4; c8_5 += a * b5; c8_6 += a * b6; c8_7 += a * b7
        c8_8 += a * b8; c8_9 += a * b9; c8_10 += a * b10; c8_11 += a * b11; c8_12 += a * b12; c8_13 += a * b13; c8_14 += a * b14; c8_15 += a * b15
        a = A[ap + _U9]
        c9_0 += a * b0; c9_1 += a * b1; c9_2 += a * b2; c9_3 += a * b3; c9_4 += a * b4; c9_5 += a * b5; c9_6 += a * b6; c9_7 += a * b7
        c9_8 += a * b8; c9_9 += a * b9; c9_10 += a * b10; c9_11 += a * b11; c9_12 += a * b12; c9_13 += a * b13; c9_14 += a * b14; c9_15 += a * b15
        a = A[ap + _U10]
        c10_0 += a * b0; c10_1 += a * b1; c10_2 += a * b2; c10_3 += a * b3; c10_4 += a * b4; c10_5 += a * b5; c10_6 += a * b6; c10_7 += a * b7
        c10_8 += a * b8; c10_9 += a * b9; c10_10 += a * b10; c10_11 += a * b11; c10_12 += a * b12; c10_13 += a * b13; c10_14 += a * b14; c10_15 += a * b15
        a = A[ap + _U11]
        c11_0 += a * b0; c11_1 += a * b1; c11_2 += a * b2; c11_3 += a * b3; c11_4 += a * b4; c11_5 += a * b5; c11_6 += a * b6; c11_7 += a * b7
        c11_8 += a * b8; c11_9 += a * b9; c11_10 += a * b10; c11_11 += a * b11; c11_12 += a * b12; c11_13 += a * b13; c11_14 += a * b14; c11_15 += a * b15
        ap += csa
        q += rsb
    # write-back and fused epilogue, straight from the accumulators
    last = rows - _U1
    o0 = pc + min(_U0, last) * ldc
    o1 = pc + min(_U1, last) * ldc
    o2 = pc + min(_U2, last) * ldc
    o3 = pc + min(_U3, last) * ldc
    o4 = pc + min(_U4, last) * ldc
    o5 = pc + min(_U5, last) * ldc
    o6 = pc + min(_U6, last) * ldc
    o7 = pc + min(_U7, last) * ldc
    o8 = pc + min(_U8, last) * ldc
    o9 = pc + min(_U9, last) * ldc
    o10 = pc + min(_U10, last) * ldc
    o11 = pc + min(_U11, last) * ldc
    if accumulate:
        c0_0 += C[o0 + _U0]; c0_1 += C[o0 + _U1]; c0_2 += C[o0 + _U2]; c0_3 += C[o0 + _U3]; c0_4 += C[o0 + _U4]; c0_5 += C[o0 + _U5]; c0_6 += C[o0 + _U6]; c0_7 += C[o0 + _U7]
        c0_8 += C[o0 + _U8]; c0_9 += C[o0 + _U9]; c0_10 += C[o0 + _U10]; c0_11 += C[o0 + _U11]; c0_12 += C[o0 + _U12]; c0_13 += C[o0 + _U13]; c0_14 += C[o0 + _U14]; c0_15 += C[o0 + _U15]
        c1_0 += C[o1 + _U0]; c1_1 += C[o1 + _U1]; c1_2 += C[o1 + _U2]; c1_3 += C[o1 + _U3]; c1_4 += C[o1 + _U4]; c1_5 += C[o1 + _U5]; c1_6 += C[o1 + _U6]; c1_7 += C[o1 + _U7]
        c1_8 += C[o1 + _U8]; c1_9 += C[o1 + _U9]; c1_10 += C[o1 + _U10]; c1_11 += C[o1 + _U11]; c1_12 += C[o1 + _U12]; c1_13 += C[o1 + _U13]; c1_14 += C[o1 + _U14]; c1_15 += C[o1 + _U15]
        c2_0 += C[o2 + _U0]; c2_1 += C[o2 + _U1]; c2_2 += C[o2 + _U2]; c2_3 += C[o2 + _U3]; c2_4 += C[o2 + _U4]; c2_5 += C[o2 + _U5]; c2_6 += C[o2 + _U6]; c2_7 += C[o2 + _U7]
        c2_8 += C[o2 + _U8]; c2_9 += C[o2 + _U9]; c2_10 += C[o2 + _U10]; c2_11 += C[o2 + _U11]; c2_12 += C[o2 + _U12]; c2_13 += C[o2 + _U13]; c2_14 += C[o2 + _U14]; c2_15 += C[o2 + _U15]
        c3_0 += C[o3 + _U0]; c3_1 += C[o3 + _U1]; c3_2 += C[o3 + _U2]; c3_3 += C[o3 + _U3]; c3_4 += C[o3 + _U4]; c3_5 += C[o3 + _U5]; c3_6 += C[o3 + _U6]; c3_7 += C[o3 + _U7]
        c3_8 += C[o3 + _U8]; c3_9 += C[o3 + _U9]; c3_10 += C[o3 + _U10]; c3_11 += C[o3 + _U11]; c3_12 += C[o3 + _U12]; c3_13 += C[o3 + _U13]; c3_14 += C[o3 + _U14]; c3_15 += C[o3 + _U15]
        c4_0 += C[o4 + _U0]; c4_1 += C[o4 + _U1]; c4_2 += C[o4 + _U2]; c4_3 += C[o4 + _U3]; c4_4 += C[o4 + _U4]; c4_5 += C[o4 + _U5]; c4_6 += C[o4 + _U6]; c4_7 += C[o4 + _U7]
        c4_8 += C[o4 + _U8]; c4_9 += C[o4 + _U9]; c4_10 += C[o4 + _U10]; c4_11 += C[o4 + _U11]; c4_12 += C[o4 + _U12]; c4_13 += C[o4 + _U13]; c4_14 += C[o4 + _U14]; c4_15 += C[o4 + _U15]
        c5_0 += C[o5 + _U0]; c5_1 += C[o5 + _U1]; c5_2 += C[o5 + _U2]; c5_3 += C[o5 + _U3]; c5_4 += C[o5 + _U4]; c5_5 += C[o5 + _U5]; c5_6 += C[o5 + _U6]; c5_7 += C[o5 + _U7]
        c5_8 += C[o5 + _U8]; c5_9 += C[o5 + _U9]; c5_10 += C[o5 + _U10]; c5_11 += C[o5 + _U11]; c5_12 += C[o5 + _U12]; c5_13 += C[o5 + _U13]; c5_14 += C[o5 + _U14]; c5_15 += C[o5 + _U15]
        c6_0 += C[o6 + _U0]; c6_1 += C[o6 + _U1]; c6_2 += C[o6 + _U2]; c6_3 += C[o6 + _U3]; c6_4 += C[o6 + _U4]; c6_5 += C[o6 + _U5]; c6_6 += C[o6 + _U6]; c6_7 += C[o6 + _U7]
        c6_8 += C[o6 + _U8]; c6_9 += C[o6 + _U9]; c6_10 += C[o6 + _U10]; c6_11 += C[o6 + _U11]; c6_12 += C[o6 + _U12]; c6_13 += C[o6 + _U13]; c6_14 += C[o6 + _U14]; c6_15 += C[o6 + _U15]
        c7_0 += C[o7 + _U0]; c7_1 += C[o7 + _U1]; c7_2 += C[o7 + _U2]; c7_3 += C[o7 + _U3]; c7_4 += C[o7 + _U4]; c7_5 += C[o7 + _U5]; c7_6 += C[o7 + _U6]; c7_7 += C[o7 + _U7]
        c7_8 += C[o7 + _U8]; c7_9 += C[o7 + _U9]; c7_10 += C[o7 + _U10]; c7_11 += C[o7 + _U11]; c7_12 += C[o7 + _U12]; c7_13 += C[o7 + _U13]; c7_14 += C[o7 + _U14]; c7_15 += C[o7 + _U15]
        c8_0 += C[o8 + _U0]; c8_1 += C[o8 + _U1]; c8_2 += C[o8 + _U2]; c8_3 += C[o8 + _U3]; c8_4 += C[o8 + _U4]; c8_5 += C[o8 + _U5]; c8_6 += C[o8 + _U6]; c8_7 += C[o8 + _U7]
        c8_8 += C[o8 + _U8]; c8_9 += C[o8 + _U9]; c8_10 += C[o8 + _U10]; c8_11 += C[o8 + _U11]; c8_12 += C[o8 + _U12]; c8_13 += C[o8 + _U13]; c8_14 += C[o8 + _U14]; c8_15 += C[o8 + _U15]
        c9_0 += C[o9 + _U0]; c9_1 += C[o9 + _U1]; c9_2 += C[o9 + _U2]; c9_3 += C[o9 + _U3]; c9_4 += C[o9 + _U4]; c9_5 += C[o9 + _U5]; c9_6 += C[o9 + _U6]; c9_7 += C[o9 + _U7]
        c9_8 += C[o9 + _U8]; c9_9 += C[o9 + _U9]; c9_10 += C[o9 + _U10]; c9_11 += C[o9 + _U11]; c9_12 += C[o9 + _U12]; c9_13 += C[o9 + _U13]; c9_14 += C[o9 + _U14]; c9_15 += C[o9 + _U15]
        c10_0 += C[o10 + _U0]; c10_1 += C[o10 + _U1]; c10_2 += C[o10 + _U2]; c10_3 += C[o10 + _U3]; c10_4 += C[o10 + _U4]; c10_5 += C[o10 + _U5]; c10_6 += C[o10 + _U6]; c10_7 += C[o10 + _U7]
        c10_8 += C[o10 + _U8]; c10_9 += C[o10 + _U9]; c10_10 += C[o10 + _U10]; c10_11 += C[o10 + _U11]; c10_12 += C[o10 + _U12]; c10_13 += C[o10 + _U13]; c10_14 += C[o10 + _U14]; c10_15 += C[o10 + _U15]
        c11_0 += C[o11 + _U0]; c11_1 += C[o11 + _U1]; c11_2 += C[o11 + _U2]; c11_3 += C[o11 + _U3]; c11_4 += C[o11 + _U4]; c11_5 += C[o11 + _U5]; c11_6 += C[o11 + _U6]; c11_7 += C[o11 + _U7]
        c11_8 += C[o11 + _U8]; c11_9 += C[o11 + _U9]; c11_10 += C[o11 + _U10]; c11_11 += C[o11 + _U11]; c11_12 += C[o11 + _U12]; c11_13 += C[o11 + _U13]; c11_14 += C[o11 + _U14]; c11_15 += C[o11 + _U15]
    if use_bias:
        b0 = bias[jb + _U0]; b1 = bias[jb + _U1]; b2 = bias[jb + _U2]; b3 = bias[jb + _U3]; b4 = bias[jb + _U4]; b5 = bias[jb + _U5]; b6 = bias[jb + _U6]; b7 = bias[jb + _U7]
        b8 = bias[jb + _U8]; b9 = bias[jb + _U9]; b10 = bias[jb + _U10]; b11 = bias[jb + _U11]; b12 = bias[jb + _U12]; b13 = bias[jb + _U13]; b14 = bias[jb + _U14]; b15 = bias[jb + _U15]
        c0_0 += b0; c0_1 += b1; c0_2 += b2; c0_3 += b3; c0_4 += b4; c0_5 += b5; c0_6 += b6; c0_7 += b7
        c0_8 += b8; c0_9 += b9; c0_10 += b10; c0_11 += b11; c0_12 += b12; c0_13 += b13; c0_14 += b14; c0_15 += b15
        c1_0 += b0; c1_1 += b1; c1_2 += b2; c1_3 += b3; c1_4 += b4; c1_5 += b5; c1_6 += b6; c1_7 += b7
        c1_8 += b8; c1_9 += b9; c1_10 += b10; c1_11 += b11; c1_12 += b12; c1_13 += b13; c1_14 += b14; c1_15 += b15
        c2_0 += b0; c2_1 += b1; c2_2 += b2; c2_3 += b3; c2_4 += b4; c2_5 += b5; c2_6 += b6; c2_7 += b7
        c2_8 += b8; c2_9 += b9; c2_10 += b10; c2_11 += b11; c2_12 += b12; c2_13 += b13; c2_14 += b14; c2_15 += b15
        c3_0 += b0; c3_1 += b1; c3_2 += b2; c3_3 += b3; c3_4 += b4; c3_5 += b5; c3_6 += b6; c3_7 += b7
        c3_8 += b8; c3_9 += b9; c3_10 += b10; c3_11 += b11; c3_12 += b12; c3_13 += b13; c3_14 += b14; c3_15 += b15
        c4_0 += b0; c4_1 += b1; c4_2 += b2; c4_3 += b3; c4_4 += b4; c4_5 += b5; c4_6 += b6; c4_7 += b7
        c4_8 += b8; c4_9 += b9; c4_10 += b10; c4_11 += b11; c4_12 += b12; c4_13 += b13; c4_14 += b14; c4_15 += b15
        c5_0 += b0; c5_1 += b1; c5_2 += b2; c5_3 += b3; c5_4 += b4; c5_5 += b5; c5_6 += b6; c5_7 += b7
        c5_8 += b8; c5_9 += b9; c5_10 += b10; c5_11 += b11; c5_12 += b12; c5_13 += b13; c5_14 += b14; c5_15 += b15
        c6_0 += b0; c6_1 += b1; c6_2 += b2; c6_3 += b3; c6_4 += b4; c6_5 += b5; c6_6 += b6; c6_7 += b7
        c6_8 += b8; c6_9 += b9; c6_10 += b10; c6_11 += b11; c6_12 += b12; c6_13 += b13; c6_14 += b14; c6_15 += b15
        c7_0 += b0; c7_1 += b1; c7_2 += b2; c7_3 += b3; c7_4 += b4; c7_5 += b5; c7_6 += b6; c7_7 += b7
        c7_8 += b8; c7_9 += b9; c7_10 += b10; c7_11 += b11; c7_12 += b12; c7_13 += b13; c7_14 += b14; c7_15 += b15
        c8_0 += b0; c8_1 += b1; c8_2 += b2; c8_3 += b3; c8_4 += b4; c8_5 += b5; c8_6 += b6; c8_7 += b7
        c8_8 += b8; c8_9 += b9; c8_10 += b10; c8_11 += b11; c8_12 += b12; c8_13 += b13; c8_14 += b14; c8_15 += b15
        c9_0 += b0; c9_1 += b1; c9_2 += b2; c9_3 += b3; c9_4 += b4; c9_5 += b5; c9_6 += b6; c9_7 += b7
        c9_8 += b8; c9_9 += b9; c9_10 += b10; c9_11 += b11; c9_12 += b12; c9_13 += b13; c9_14 += b14; c9_15 += b15
        c10_0 += b0; c10_1 += b1; c10_2 += b2; c10_3 += b3; c10_4 += b4; c10_5 += b5; c10_6 += b6; c10_7 += b7
        c10_8 += b8; c10_9 += b9; c10_10 += b10; c10_11 += b11; c10_12 += b12; c10_13 += b13; c10_14 += b14; c10_15 += b15
        c11_0 += b0; c11_1 += b1; c11_2 += b2; c11_3 += b3; c11_4 += b4; c11_5 += b5; c11_6 += b6; c11_7 += b7
        c11_8 += b8; c11_9 += b9; c11_10 += b10; c11_11 += b11; c11_12 += b12; c11_13 += b13; c11_14 += b14; c11_15 += b15
    if relu:
        c0_0 = max(c0_0, z); c0_1 = max(c0_1, z); c0_2 = max(c0_2, z); c0_3 = max(c0_3, z); c0_4 = max(c0_4, z); c0_5 = max(c0_5, z); c0_6 = max(c0_6, z); c0_7 = max(c0_7, z)
        c0_8 = max(c0_8, z); c0_9 = max(c0_9, z); c0_10 = max(c0_10, z); c0_11 = max(c0_11, z); c0_12 = max(c0_12, z); c0_13 = max(c0_13, z); c0_14 = max(c0_14, z); c0_15 = max(c0_15, z)
        c1_0 = max(c1_0, z); c1_1 = max(c1_1, z); c1_2 = max(c1_2, z); c1_3 = max(c1_3, z); c1_4 = max(c1_4, z); c1_5 = max(c1_5, z); c1_6 = max(c1_6, z); c1_7 = max(c1_7, z)
        c1_8 = max(c1_8, z); c1_9 = max(c1_9, z); c1_10 = max(c1_10, z); c1_11 = max(c1_11, z); c1_12 = max(c1_12, z); c1_13 = max(c1_13, z); c1_14 = max(c1_14, z); c1_15 = max(c1_15, z)
        c2_0 = max(c2_0, z); c2_1 = max(c2_1, z); c2_2 = max(c2_2, z); c2_3 = max(c2_3, z); c2_4 = max(c2_4, z); c2_5 = max(c2_5, z); c2_6 = max(c2_6, z); c2_7 = max(c2_7, z)
        c2_8 = max(c2_8, z); c2_9 = max(c2_9, z); c2_10 = max(c2_10, z); c2_11 = max(c2_11, z); c2_12 = max(c2_12, z); c2_13 = max(c2_13, z); c2_14 = max(c2_14, z); c2_15 = max(c2_15, z)
        c3_0 = max(c3_0, z); c3_1 = max(c3_1, z); c3_2 = max(c3_2, z); c3_3 = max(c3_3, z); c3_4 = max(c3_4, z); c3_5 = max(c3_5, z); c3_6 = max(c3_6, z); c3_7 = max(c3_7, z)
        c3_8 = max(c3_8, z); c3_9 = max(c3_9, z); c3_10 = max(c3_10, z); c3_11 = max(c3_11, z); c3_12 = max(c3_12, z); c3_13 = max(c3_13, z); c3_14 = max(c3_14, z); c3_15 = max(c3_15, z)
        c4_0 = max(c4_0, z); c4_1 = max(c4_1, z); c4_2 = max(c4_2, z); c4_3 = max(c4_3, z); c4_4 = max(c4_4, z); c4_5 = max(c4_5, z); c4_6 = max(c4_6, z); c4_7 = max(c4_7, z)
        c4_8 = max(c4_8, z); c4_9 = max(c4_9, z); c4_10 = max(c4_10, z); c4_11 = max(c4_11, z); c4_12 = max(c4_12, z); c4_13 = max(c4_13, z); c4_14 = max(c4_14, z); c4_15 = max(c4_15, z)
        c5_0 = max(c5_0, z); c5_1 = max(c5_1, z); c5_2 = max(c5_2, z); c5_3 = max(c5_3, z); c5_4 = max(c5_4, z); c5_5 = max(c5_5, z); c5_6 = max(c5_6, z); c5_7 = max(c5_7, z)
        c5_8 = max(c5_8, z); c5_9 = max(c5_9, z); c5_10 = max(c5_10, z); c5_11 = max(c5_11, z); c5_12 = max(c5_12, z); c5_13 = max(c5_13, z); c5_14 = max(c5_14, z); c5_15 = max(c5_15, z)
        c6_0 = max(c6_0, z); c6_1 = max(c6_1, z); c6_2 = max(c6_2, z); c6_3 = max(c6_3, z); c6_4 = max(c6_4, z); c6_5 = max(c6_5, z); c6_6 = max(c6_6, z); c6_7 = max(c6_7, z)
        c6_8 = max(c6_8, z); c6_9 = max(c6_9, z); c6_10 = max(c6_10, z); c6_11 = max(c6_11, z); c6_12 = max(c6_12, z); c6_13 = max(c6_13, z); c6_14 = max(c6_14, z); c6_15 = max(c6_15, z)
        c7_0 = max(c7_0, z); c7_1 = max(c7_1, z); c7_2 = max(c7_2, z); c7_3 = max(c7_3, z); c7_4 = max(c7_4, z); c7_5 = max(c7_5, z); c7_6 = max(c7_6, z); c7_7 = max(c7_7, z)
        c7_8 = max(c7_8, z); c7_9 = max(c7_9, z); c7_10 = max(c7_10, z); c7_11 = max(c7_11, z); c7_12 = max(c7_12, z); c7_13 = max(c7_13, z); c7_14 = max(c7_14, z); c7_15 = max(c7_15, z)
        c8_0 = max(c8_0, z); c8_1 = max(c8_1, z); c8_2 = max(c8_2, z); c8_3 = max(c8_3, z); c8_4 = max(c8_4, z); c8_5 = max(c8_5, z); c8_6 = max(c8_6, z); c8_7 = max(c8_7, z)
        c8_8 = max(c8_8, z); c8_9 = max(c8_9, z); c8_10 = max(c8_10, z); c8_11 = max(c8_11, z); c8_12 = max(c8_12, z); c8_13 = max(c8_13, z); c8_14 = max(c8_14, z); c8_15 = max(c8_15, z)
        c9_0 = max(c9_0, z); c9_1 = max(c9_1, z); c9_2 = max(c9_2, z); c9_3 = max(c9_3, z); c9_4 = max(c9_4, z); c9_5 = max(c9_5, z); c9_6 = max(c9_6, z); c9_7 = max(c9_7, z)
        c9_8 = max(c9_8, z); c9_9 = max(c9_9, z); c9_10 = max(c9_10, z); c9_11 = max(c9_11, z); c9_12 = max(c9_12, z); c9_13 = max(c9_13, z); c9_14 = max(c9_14, z); c9_15 = max(c9_15, z)
        c10_0 = max(c10_0, z); c10_1 = max(c10_1, z); c10_2 = max(c10_2, z); c10_3 = max(c10_3, z); c10_4 = max(c10_4, z); c10_5 = max(c10_5, z); c10_6 = max(c10_6, z); c10_7 = max(c10_7, z)
        c10_8 = max(c10_8, z); c10_9 = max(c10_9, z); c10_10 = max(c10_10, z); c10_11 = max(c10_11, z); c10_12 = max(c10_12, z); c10_13 = max(c10_13, z); c10_14 = max(c10_14, z); c10_15 = max(c10_15, z)
        c11_0 = max(c11_0, z); c11_1 = max(c11_1, z); c11_2 = max(c11_2, z); c11_3 = max(c11_3, z); c11_4 = max(c11_4, z); c11_5 = max(c11_5, z); c11_6 = max(c11_6, z); c11_7 = max(c11_7, z)
        c11_8 = max(c11_8, z); c11_9 = max(c11_9, z); c11_10 = max(c11_10, z); c11_11 = max(c11_11, z); c11_12 = max(c11_12, z); c11_13 = max(c11_13, z); c11_14 = max(c11_14, z); c11_15 = max(c11_15, z)
    C[o11 + _U0] = c11_0; C[o11 + _U1] = c11_1; C[o11 + _U2] = c11_2; C[o11 + _U3] = c11_3; C[o11 + _U4] = c11_4; C[o11 + _U5] = c11_5; C[o11 + _U6] = c11_6; C[o11 + _U7] = c11_7
    C[o11 + _U8] = c11_8; C[o11 + _U9] = c11_9; C[o11 + _U10] = c11_10; C[o11 + _U11] = c11_11; C[o11 + _U12] = c11_12; C[o11 + _U13] = c11_13; C[o11 + _U14] = c11_14; C[o11 + _U15] = c11_15
    C[o10 + _U0] = c10_0; C[o10 + _U1] = c10_1; C[o10 + _U2] = c10_2; C[o10 + _U3] = c10_3; C[o10 + _U4] = c10_4; C[o10 + _U5] = c10_5; C[o10 + _U6] = c10_6; C[o10 + _U7] = c10_7
    C[o10 + _U8] = c10_8; C[o10 + _U9] = c10_9; C[o10 + _U10] = c10_10; C[o10 + _U11] = c10_11; C[o10 + _U12] = c10_12; C[o10 + _U13] = c10_13; C[o10 + _U14] = c10_14; C[o10 + _U15] = c10_15
    C[o9 + _U0] = c9_0; C[o9 + _U1] = c9_1; C[o9 + _U2] = c9_2; C[o9 + _U3] = c9_3; C[o9 + _U4] = c9_4; C[o9 + _U5] = c9_5; C[o9 + _U6] = c9_6; C[o9 + _U7] = c9_7
    C[o9 + _U8] = c9_8; C[o9 + _U9] = c9_9; C[o9 + _U10] = c9_10; C[o9 + _U11] = c9_11; C[o9 + _U12] = c9_12; C[o9 + _U13] = c9_13; C[o9 + _U14] = c9_14; C[o9 + _U15] = c9_15
    C[o8 + _U0] = c8_0; C[o8 + _U1] = c8_1; C[o8 + _U2] = c8_2; C[o8 + _U3] = c8_3; C[o8 + _U4] = c8_4; C[o8 + _U5] = c8_5; C[o8 + _U6] = c8_6; C[o8 + _U7] = c8_7
    C[o8 + _U8] = c8_8; C[o8 + _U9] = c8_9; C[o8 + _U10] = c8_10; C[o8 + _U11] = c8_11; C[o8 + _U12] = c8_12; C[o8 + _U13] = c8_13; C[o8 + _U14] = c8_14; C[o8 + _U15] = c8_15
    C[o7 + _U0] = c7_0; C[o7 + _U1] = c7_1; C[o7 + _U2] = c7_2; C[o7 + _U3] = c7_3; C[o7 + _U4] = c7_4; C[o7 + _U5] = c7_5; C[o7 + _U6] = c7_6; C[o7 + _U7] = c7_7
    C[o7 + _U8] = c7_8; C[o7 + _U9] = c7_9; C[o7 + _U10] = c7_10; C[o7 + _U11] = c7_11; C[o7 + _U12] = c7_12; C[o7 + _U13] = c7_13; C[o7 + _U14] = c7_14; C[o7 + _U15] = c7_15
    C[o6 + _U0] = c6_0; C[o6 + _U1] = c6_1; C[o6 + _U2] = c6_2; C[o6 + _U3] = c6_3; C[o6 + _U4] = c6_4; C[o6 + _U5] = c6_5; C[o6 + _U6] = c6_6; C[o6 + _U7] = c6_7
    C[o6 + _U8] = c6_8; C[o6 + _U9] = c6_9; C[o6 + _U10] = c6_10; C[o6 + _U11] = c6_11; C[o6 + _U12] = c6_12; C[o6 + _U13] = c6_13; C[o6 + _U14] = c6_14; C[o6 + _U15] = c6_15
    C[o5 + _U0] = c5_0; C[o5 + _U1] = c5_1; C[o5 + _U2] = c5_2; C[o5 + _U3] = c5_3; C[o5 + _U4] = c5_4; C[o5 + _U5] = c5_5; C[o5 + _U6] = c5_6; C[o5 + _U7] = c5_7
    C[o5 + _U8] = c5_8; C[o5 + _U9] = c5_9; C[o5 + _U10] = c5_10; C[o5 + _U11] = c5_11; C[o5 + _U12] = c5_12; C[o5 + _U13] = c5_13; C[o5 + _U14] = c5_14; C[o5 + _U15] = c5_15
    C[o4 + _U0] = c4_0; C[o4 + _U1] = c4_1; C[o4 + _U2] = c4_2; C[o4 + _U3] = c4_3; C[o4 + _U4] = c4_4; C[o4 + _U5] = c4_5; C[o4 + _U6] = c4_6; C[o4 + _U7] = c4_7
    C[o4 + _U8] = c4_8; C[o4 + _U9] = c4_9; C[o4 + _U10] = c4_10; C[o4 + _U11] = c4_11; C[o4 + _U12] = c4_12; C[o4 + _U13] = c4_13; C[o4 + _U14] = c4_14; C[o4 + _U15] = c4_15
    C[o3 + _U0] = c3_0; C[o3 + _U1] = c3_1; C[o3 + _U2] = c3_2; C[o3 + _U3] = c3_3; C[o3 + _U4] = c3_4; C[o3 + _U5] = c3_5; C[o3 + _U6] = c3_6; C[o3 + _U7] = c3_7
    C[o3 + _U8] = c3_8; C[o3 + _U9] = c3_9; C[o3 + _U10] = c3_10; C[o3 + _U11] = c3_11; C[o3 + _U12] = c3_12; C[o3 + _U13] = c3_13; C[o3 + _U14] = c3_14; C[o3 + _U15] = c3_15
    C[o2 + _U0] = c2_0; C[o2 + _U1] = c2_1; C[o2 + _U2] = c2_2; C[o2 + _U3] = c2_3; C[o2 + _U4] = c2_4; C[o2 + _U5] = c2_5; C[o2 + _U6] = c2_6; C[o2 + _U7] = c2_7
    C[o2 + _U8] = c2_8; C[o2 + _U9] = c2_9; C[o2 + _U10] = c2_10; C[o2 + _U11] = c2_11; C[o2 + _U12] = c2_12; C[o2 + _U13] = c2_13; C[o2 + _U14] = c2_14; C[o2 + _U15] = c2_15
    C[o1 + _U0] = c1_0; C[o1 + _U1] = c1_1; C[o1 + _U2] = c1_2; C[o1 + _U3] = c1_3; C[o1 + _U4] = c1_4; C[o1 + _U5] = c1_5; C[o1 + _U6] = c1_6; C[o1 + _U7] = c1_7
    C[o1 + _U8] = c1_8; C[o1 + _U9] = c1_9; C[o1 + _U10] = c1_10; C[o1 + _U11] = c1_11; C[o1 + _U12] = c1_12; C[o1 + _U13] = c1_13; C[o1 + _U14] = c1_14; C[o1 + _U15] = c1_15
    C[o0 + _U0] = c0_0; C[o0 + _U1] = c0_1; C[o0 + _U2] = c0_2; C[o0 + _U3] = c0_3; C[o0 + _U4] = c0_4; C[o0 + _U5] = c0_5; C[o0 + _U6] = c0_6; C[o0 + _U7] = c0_7
    C[o0 + _U8] = c0_8; C[o0 + _U9] = c0_9; C[o0 + _U10] = c0_10; C[o0 + _U11] = c0_11; C[o0 + _U12] = c0_12; C[o0 + _U13] = c0_13; C[o0 + _U14] = c0_14; C[o0 + _U15] = c0_15


def _kernel_12x32(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    """C[12x32 tile] (+)= A @ B-panel, with 384 scalar accumulators.

    Generated by ``kernel_source(12, 32)``: row r of the tile is the 32 accumulators
    ``c<r>_0..c<r>_31``, which LLVM's SLP vectorizer fuses into vector registers.
    A[pa + r + p*csa] is element (r, p): a packed panel (csa=MR) or a transposed
    A read in place (csa=lda).  Only the first ``rows`` rows of C are used, with no
    branches: a row past them is aimed at row ``rows - 1`` and the rows are stored
    last to first, so that row's own, correct values land last.
    """
    _prefer_512bit_vectors()
    z = _zero(C)
    c0_0 = c0_1 = c0_2 = c0_3 = c0_4 = c0_5 = c0_6 = c0_7 = c0_8 = c0_9 = c0_10 = c0_11 = c0_12 = c0_13 = c0_14 = c0_15 = c0_16 = c0_17 = c0_18 = c0_19 = c0_20 = c0_21 = c0_22 = c0_23 = c0_24 = c0_25 = c0_26 = c0_27 = c0_28 = c0_29 = c0_30 = c0_31 = z
    c1_0 = c1_1 = c1_2 = c1_3 = c1_4 = c1_5 = c1_6 = c1_7 = c1_8 = c1_9 = c1_10 = c1_11 = c1_12 = c1_13 = c1_14 = c1_15 = c1_16 = c1_17 = c1_18 = c1_19 = c1_20 = c1_21 = c1_22 = c1_23 = c1_24 = c1_25 = c1_26 = c1_27 = c1_28 = c1_29 = c1_30 = c1_31 = z
    c2_0 = c2_1 = c2_2 = c2_3 = c2_4 = c2_5 = c2_6 = c2_7 = c2_8 = c2_9 = c2_10 = c2_11 = c2_12 = c2_13 = c2_14 = c2_15 = c2_16 = c2_17 = c2_18 = c2_19 = c2_20 = c2_21 = c2_22 = c2_23 = c2_24 = c2_25 = c2_26 = c2_27 = c2_28 = c2_29 = c2_30 = c2_31 = z
    c3_0 = c3_1 = c3_2 = c3_3 = c3_4 = c3_5 = c3_6 = c3_7 = c3_8 = c3_9 = c3_10 = c3_11 = c3_12 = c3_13 = c3_14 = c3_15 = c3_16 = c3_17 = c3_18 = c3_19 = c3_20 = c3_21 = c3_22 = c3_23 = c3_24 = c3_25 = c3_26 = c3_27 = c3_28 = c3_29 = c3_30 = c3_31 = z
    c4_0 = c4_1 = c4_2 = c4_3 = c4_4 = c4_5 = c4_6 = c4_7 = c4_8 = c4_9 = c4_10 = c4_11 = c4_12 = c4_13 = c4_14 = c4_15 = c4_16 = c4_17 = c4_18 = c4_19 = c4_20 = c4_21 = c4_22 = c4_23 = c4_24 = c4_25 = c4_26 = c4_27 = c4_28 = c4_29 = c4_30 = c4_31 = z
    c5_0 = c5_1 = c5_2 = c5_3 = c5_4 = c5_5 = c5_6 = c5_7 = c5_8 = c5_9 = c5_10 = c5_11 = c5_12 = c5_13 = c5_14 = c5_15 = c5_16 = c5_17 = c5_18 = c5_19 = c5_20 = c5_21 = c5_22 = c5_23 = c5_24 = c5_25 = c5_26 = c5_27 = c5_28 = c5_29 = c5_30 = c5_31 = z
    c6_0 = c6_1 = c6_2 = c6_3 = c6_4 = c6_5 = c6_6 = c6_7 = c6_8 = c6_9 = c6_10 = c6_11 = c6_12 = c6_13 = c6_14 = c6_15 = c6_16 = c6_17 = c6_18 = c6_19 = c6_20 = c6_21 = c6_22 = c6_23 = c6_24 = c6_25 = c6_26 = c6_27 = c6_28 = c6_29 = c6_30 = c6_31 = z
    c7_0 = c7_1 = c7_2 = c7_3 = c7_4 = c7_5 = c7_6 = c7_7 = c7_8 = c7_9 = c7_10 = c7_11 = c7_12 = c7_13 = c7_14 = c7_15 = c7_16 = c7_17 = c7_18 = c7_19 = c7_20 = c7_21 = c7_22 = c7_23 = c7_24 = c7_25 = c7_26 = c7_27 = c7_28 = c7_29 = c7_30 = c7_31 = z
    c8_0 = c8_1 = c8_2 = c8_3 = c8_4 = c8_5 = c8_6 = c8_7 = c8_8 = c8_9 = c8_10 = c8_11 = c8_12 = c8_13 = c8_14 = c8_15 = c8_16 = c8_17 = c8_18 = c8_19 = c8_20 = c8_21 = c8_22 = c8_23 = c8_24 = c8_25 = c8_26 = c8_27 = c8_28 = c8_29 = c8_30 = c8_31 = z
    c9_0 = c9_1 = c9_2 = c9_3 = c9_4 = c9_5 = c9_6 = c9_7 = c9_8 = c9_9 = c9_10 = c9_11 = c9_12 = c9_13 = c9_14 = c9_15 = c9_16 = c9_17 = c9_18 = c9_19 = c9_20 = c9_21 = c9_22 = c9_23 = c9_24 = c9_25 = c9_26 = c9_27 = c9_28 = c9_29 = c9_30 = c9_31 = z
    c10_0 = c10_1 = c10_2 = c10_3 = c10_4 = c10_5 = c10_6 = c10_7 = c10_8 = c10_9 = c10_10 = c10_11 = c10_12 = c10_13 = c10_14 = c10_15 = c10_16 = c10_17 = c10_18 = c10_19 = c10_20 = c10_21 = c10_22 = c10_23 = c10_24 = c10_25 = c10_26 = c10_27 = c10_28 = c10_29 = c10_30 = c10_31 = z
    c11_0 = c11_1 = c11_2 = c11_3 = c11_4 = c11_5 = c11_6 = c11_7 = c11_8 = c11_9 = c11_10 = c11_11 = c11_12 = c11_13 = c11_14 = c11_15 = c11_16 = c11_17 = c11_18 = c11_19 = c11_20 = c11_21 = c11_22 = c11_23 = c11_24 = c11_25 = c11_26 = c11_27 = c11_28 = c11_29 = c11_30 = c11_31 = z
    ap = pa
    q = pb
    for _ in range(kc):
        b0 = B[q + _U0]; b1 = B[q + _U1]; b2 = B[q + _U2]; b3 = B[q + _U3]; b4 = B[q + _U4]; b5 = B[q + _U5]; b6 = B[q + _U6]; b7 = B[q + _U7]
        b8 = B[q + _U8]; b9 = B[q + _U9]; b10 = B[q + _U10]; b11 = B[q + _U11]; b12 = B[q + _U12]; b13 = B[q + _U13]; b14 = B[q + _U14]; b15 = B[q + _U15]
        b16 = B[q + _U16]; b17 = B[q + _U17]; b18 = B[q + _U18]; b19 = B[q + _U19]; b20 = B[q + _U20]; b21 = B[q + _U21]; b22 = B[q + _U22]; b23 = B[q + _U23]
        b24 = B[q + _U24]; b25 = B[q + _U25]; b26 = B[q + _U26]; b27 = B[q + _U27]; b28 = B[q + _U28]; b29 = B[q + _U29]; b30 = B[q + _U30]; b31 = B[q + _U31]
        a = A[ap + _U0]
        c0_0 += a * b0; c0_1 += a * b1; c0_2 += a * b2; c0_3 += a * b3; c0_4 += a * b4; c0_5 += a * b5; c0_6 += a * b6; c0_7 += a * b7
        c0_8 += a * b8; c0_9 += a * b9; c0_10 += a * b10; c0_11 += a * b11; c0_12 += a * b12; c0_13 += a * b13; c0_14 += a * b14; c0_15 += a * b15
        c0_16 += a * b16; c0_17 += a * b17; c0_18 += a * b18; c0_19 += a * b19; c0_20 += a * b20; c0_21 += a * b21; c0_22 += a * b22; c0_23 += a * b23
        c0_24 += a * b24; c0_25 += a * b25; c0_26 += a * b26; c0_27 += a * b27; c0_28 += a * b28; c0_29 += a * b29; c0_30 += a * b30; c0_31 += a * b31
        a = A[ap + _U1]
        c1_0 += a * b0; c1_1 += a * b1; c1_2 += a * b2; c1_3 += a * b3; c1_4 += a * b4; c1_5 += a * b5; c1_6 += a * b6; c1_7 += a * b7
        c1_8 += a * b8; c1_9 += a * b9; c1_10 += a * b10; c1_11 += a * b11; c1_12 += a * b12; c1_13 += a * b13; c1_14 += a * b14; c1_15 += a * b15
        c1_16 += a * b16; c1_17 += a * b17; c1_18 += a * b18; c1_19 += a * b19; c1_20 += a * b20; c1_21 += a * b21; c1_22 += a * b22; c1_23 += a * b23
        c1_24 += a * b24; c1_25 += a * b25; c1_26 += a * b26; c1_27 += a * b27; c1_28 += a * b28; c1_29 += a * b29; c1_30 += a * b30; c1_31 += a * b31
        a = A[ap + _U2]
        c2_0 += a * b0; c2_1 += a * b1; c2_2 += a * b2; c2_3 += a * b3; c2_4 += a * b4; c2_5 += a * b5; c2_6 += a * b6; c2_7 += a * b7
        c2_8 += a * b8; c2_9 += a * b9; c2_10 += a * b10; c2_11 += a * b11; c2_12 += a * b12; c2_13 += a * b13; c2_14 += a * b14; c2_15 += a * b15
        c2_16 += a * b16; c2_17 += a * b17; c2_18 += a * b18; c2_19 += a * b19; c2_20 += a * b20; c2_21 += a * b21; c2_22 += a * b22; c2_23 += a * b23
        c2_24 += a * b24; c2_25 += a * b25; c2_26 += a * b26; c2_27 += a * b27; c2_28 += a * b28; c2_29 += a * b29; c2_30 += a * b30; c2_31 += a * b31
        a = A[ap + _U3]
        c3_0 += a * b0; c3_1 += a * b1; c3_2 += a * b2; c3_3 += a * b3; c3_4 += a * b4; c3_5 += a * b5; c3_6 += a * b6; c3_7 += a * b7
        c3_8 += a * b8; c3_9 += a * b9; c3_10 += a * b10; c3_11 += a * b11; c3_12 += a * b12; c3_13 += a * b13; c3_14 += a * b14; c3_15 += a * b15
        c3_16 += a * b16; c3_17 += a * b17; c3_18 += a * b18; c3_19 += a * b19; c3_20 += a * b20; c3_21 += a * b21; c3_22 += a * b22; c3_23 += a * b23
        c3_24 += a * b24; c3_25 += a * b25; c3_26 += a * b26; c3_27 += a * b27; c3_28 += a * b28; c3_29 += a * b29; c3_30 += a * b30; c3_31 += a * b31
        a = A[ap + _U4]
        c4_0 += a * b0; c4_1 += a * b1; c4_2 += a * b2; c4_3 += a * b3; c4_4 += a * b4; c4_5 += a * b5; c4_6 += a * b6; c4_7 += a * b7
        c4_8 += a * b8; c4_9 += a * b9; c4_10 += a * b10; c4_11 += a * b11; c4_12 += a * b12; c4_13 += a * b13; c4_14 += a * b14; c4_15 += a * b15
        c4_16 += a * b16; c4_17 += a * b17; c4_18 += a * b18; c4_19 += a * b19; c4_20 += a * b20; c4_21 += a * b21; c4_22 += a * b22; c4_23 += a * b23
        c4_24 += a * b24; c4_25 += a * b25; c4_26 += a * b26; c4_27 += a * b27; c4_28 += a * b28; c4_29 += a * b29; c4_30 += a * b30; c4_31 += a * b31
        a = A[ap + _U5]
        c5_0 += a * b0; c5_1 += a * b1; c5_2 += a * b2; c5_3 += a * b3; c5_4 += a * b4; c5_5 += a * b5; c5_6 += a * b6; c5_7 += a * b7
        c5_8 += a * b8; c5_9 += a * b9; c5_10 += a * b10; c5_11 += a * b11; c5_12 += a * b12; c5_13 += a * b13; c5_14 += a * b14; c5_15 += a * b15
        c5_16 += a * b16; c5_17 += a * b17; c5_18 += a * b18; c5_19 += a * b19; c5_20 += a * b20; c5_21 += a * b21; c5_22 += a * b22; c5_23 += a * b23
        c5_24 += a * b24; c5_25 += a * b25; c5_26 += a * b26; c5_27 += a * b27; c5_28 += a * b28; c5_29 += a * b29; c5_30 += a * b30; c5_31 += a * b31
        a = A[ap + _U6]
        c6_0 += a * b0; c6_1 += a * b1; c6_2 += a * b2; c6_3 += a * b3; c6_4 += a * b4; c6_5 += a * b5; c6_6 += a * b6; c6_7 += a * b7
        c6_8 += a * b8; c6_9 += a * b9; c6_10 += a * b10; c6_11 += a * b11; c6_12 += a * b12; c6_13 += a * b13; c6_14 += a * b14; c6_15 += a * b15
        c6_16 += a * b16; c6_17 += a * b17; c6_18 += a * b18; c6_19 += a * b19; c6_20 += a * b20; c6_21 += a * b21; c6_22 += a * b22; c6_23 += a * b23
        c6_24 += a * b24; c6_25 += a * b25; c6_26 += a * b26; c6_27 += a * b27; c6_28 += a * b28; c6_29 += a * b29; c6_30 += a * b30; c6_31 += a * b31
        a = A[ap + _U7]
        c7_0 += a * b0; c7_1 += a * b1; c7_2 += a * b2; c7_3 += a * b3; c7_4 += a * b4; c7_5 += a * b5; c7_6 += a * b6; c7_7 += a * b7
        c7_8 += a * b8; c7_9 += a * b9; c7_10 += a * b10; c7_11 += a * b11; c7_12 += a * b12; c7_13 += a * b13; c7_14 += a * b14; c7_15 += a * b15
        c7_16 += a * b16; c7_17 += a * b17; c7_18 += a * b18; c7_19 += a * b19; c7_20 += a * b20; c7_21 += a * b21; c7_22 += a * b22; c7_23 += a * b23
        c7_24 += a * b24; c7_25 += a * b25; c7_26 += a * b26; c7_27 += a * b27; c7_28 += a * b28; c7_29 += a * b29; c7_30 += a * b30; c7_31 += a * b31
        a = A[ap + _U8]
        c8_0 += a * b0; c8_1 += a * b1; c8_2 += a * b2; c8_3 += a * b3; c8_4 += a * b4; c8_5 += a * b5; c8_6 += a * b6; c8_7 += a * b7
        c8_8 += a * b8; c8_9 += a * b9; c8_10 += a * b10; c8_11 += a * b11; c8_12 += a * b12; c8_13 += a * b13; c8_14 += a * b14; c8_15 += a * b15
        c8_16 += a * b16; c8_17 += a * b17; c8_18 += a * b18; c8_19 += a * b19; c8_20 += a * b20; c8_21 += a * b21; c8_22 += a * b22; c8_23 += a * b23
        c8_24 += a * b24; c8_25 += a * b25; c8_26 += a * b26; c8_27 += a * b27; c8_28 += a * b28; c8_29 += a * b29; c8_30 += a * b30; c8_31 += a * b31
        a = A[ap + _U9]
        c9_0 += a * b0; c9_1 += a * b1; c9_2 += a * b2; c9_3 += a * b3; c9_4 += a * b4; c9_5 += a * b5; c9_6 += a * b6; c9_7 += a * b7
        c9_8 += a * b8; c9_9 += a * b9; c9_10 += a * b10; c9_11 += a * b11; c9_12 += a * b12; c9_13 += a * b13; c9_14 += a * b14; c9_15 += a * b15
        c9_16 += a * b16; c9_17 += a * b17; c9_18 += a * b18; c9_19 += a * b19; c9_20 += a * b20; c9_21 += a * b21; c9_22 += a * b22; c9_23 += a * b23
        c9_24 += a * b24; c9_25 += a * b25; c9_26 += a * b26; c9_27 += a * b27; c9_28 += a * b28; c9_29 += a * b29; c9_30 += a * b30; c9_31 += a * b31
        a = A[ap + _U10]
        c10_0 += a * b0; c10_1 += a * b1; c10_2 += a * b2; c10_3 += a * b3; c10_4 += a * b4; c10_5 += a * b5; c10_6 += a * b6; c10_7 += a * b7
        c10_8 += a * b8; c10_9 += a * b9; c10_10 += a * b10; c10_11 += a * b11; c10_12 += a * b12; c10_13 += a * b13; c10_14 += a * b14; c10_15 += a * b15
        c10_16 += a * b16; c10_17 += a * b17; c10_18 += a * b18; c10_19 += a * b19; c10_20 += a * b20; c10_21 += a * b21; c10_22 += a * b22; c10_23 += a * b23
        c10_24 += a * b24; c10_25 += a * b25; c10_26 += a * b26; c10_27 += a * b27; c10_28 += a * b28; c10_29 += a * b29; c10_30 += a * b30; c10_31 += a * b31
        a = A[ap + _U11]
        c11_0 += a * b0; c11_1 += a * b1; c11_2 += a * b2; c11_3 += a * b3; c11_4 += a * b4; c11_5 += a * b5; c11_6 += a * b6; c11_7 += a * b7
        c11_8 += a * b8; c11_9 += a * b9; c11_10 += a * b10; c11_11 += a * b11; c11_12 += a * b12; c11_13 += a * b13; c11_14 += a * b14; c11_15 += a * b15
        c11_16 += a * b16; c11_17 += a * b17; c11_18 += a * b18; c11_19 += a * b19; c11_20 += a * b20; c11_21 += a * b21; c11_22 += a * b22; c11_23 += a * b23
        c11_24 += a * b24; c11_25 += a * b25; c11_26 += a * b26; c11_27 += a * b27; c11_28 += a * b28; c11_29 += a * b29; c11_30 += a * b30; c11_31 += a * b31
        ap += csa
        q += rsb
    # write-back and fused epilogue, straight from the accumulators
    last = rows - _U1
    o0 = pc + min(_U0, last) * ldc
    o1 = pc + min(_U1, last) * ldc
    o2 = pc + min(_U2, last) * ldc
    o3 = pc + min(_U3, last) * ldc
    o4 = pc + min(_U4, last) * ldc
    o5 = pc + min(_U5, last) * ldc
    o6 = pc + min(_U6, last) * ldc
    o7 = pc + min(_U7, last) * ldc
    o8 = pc + min(_U8, last) * ldc
    o9 = pc + min(_U9, last) * ldc
    o10 = pc + min(_U10, last) * ldc
    o11 = pc + min(_U11, last) * ldc
    if accumulate:
        c0_0 += C[o0 + _U0]; c0_1 += C[o0 + _U1]; c0_2 += C[o0 + _U2]; c0_3 += C[o0 + _U3]; c0_4 += C[o0 + _U4]; c0_5 += C[o0 + _U5]; c0_6 += C[o0 + _U6]; c0_7 += C[o0 + _U7]
        c0_8 += C[o0 + _U8]; c0_9 += C[o0 + _U9]; c0_10 += C[o0 + _U10]; c0_11 += C[o0 + _U11]; c0_12 += C[o0 + _U12]; c0_13 += C[o0 + _U13]; c0_14 += C[o0 + _U14]; c0_15 += C[o0 + _U15]
        c0_16 += C[o0 + _U16]; c0_17 += C[o0 + _U17]; c0_18 += C[o0 + _U18]; c0_19 += C[o0 + _U19]; c0_20 += C[o0 + _U20]; c0_21 += C[o0 + _U21]; c0_22 += C[o0 + _U22]; c0_23 += C[o0 + _U23]
        c0_24 += C[o0 + _U24]; c0_25 += C[o0 + _U25]; c0_26 += C[o0 + _U26]; c0_27 += C[o0 + _U27]; c0_28 += C[o0 + _U28]; c0_29 += C[o0 + _U29]; c0_30 += C[o0 + _U30]; c0_31 += C[o0 + _U31]
        c1_0 += C[o1 + _U0]; c1_1 += C[o1 + _U1]; c1_2 += C[o1 + _U2]; c1_3 += C[o1 + _U3]; c1_4 += C[o1 + _U4]; c1_5 += C[o1 + _U5]; c1_6 += C[o1 + _U6]; c1_7 += C[o1 + _U7]
        c1_8 += C[o1 + _U8]; c1_9 += C[o1 + _U9]; c1_10 += C[o1 + _U10]; c1_11 += C[o1 + _U11]; c1_12 += C[o1 + _U12]; c1_13 += C[o1 + _U13]; c1_14 += C[o1 + _U14]; c1_15 += C[o1 + _U15]
        c1_16 += C[o1 + _U16]; c1_17 += C[o1 + _U17]; c1_18 += C[o1 + _U18]; c1_19 += C[o1 + _U19]; c1_20 += C[o1 + _U20]; c1_21 += C[o1 + _U21]; c1_22 += C[o1 + _U22]; c1_23 += C[o1 + _U23]
        c1_24 += C[o1 + _U24]; c1_25 += C[o1 + _U25]; c1_26 += C[o1 + _U26]; c1_27 += C[o1 + _U27]; c1_28 += C[o1 + _U28]; c1_29 += C[o1 + _U29]; c1_30 += C[o1 + _U30]; c1_31 += C[o1 + _U31]
        c2_0 += C[o2 + _U0]; c2_1 += C[o2 + _U1]; c2_2 += C[o2 + _U2]; c2_3 += C[o2 + _U3]; c2_4 += C[o2 + _U4]; c2_5 += C[o2 + _U5]; c2_6 += C[o2 + _U6]; c2_7 += C[o2 + _U7]
        c2_8 += C[o2 + _U8]; c2_9 += C[o2 + _U9]; c2_10 += C[o2 + _U10]; c2_11 += C[o2 + _U11]; c2_12 += C[o2 + _U12]; c2_13 += C[o2 + _U13]; c2_14 += C[o2 + _U14]; c2_15 += C[o2 + _U15]
        c2_16 += C[o2 + _U16]; c2_17 += C[o2 + _U17]; c2_18 += C[o2 + _U18]; c2_19 += C[o2 + _U19]; c2_20 += C[o2 + _U20]; c2_21 += C[o2 + _U21]; c2_22 += C[o2 + _U22]; c2_23 += C[o2 + _U23]
        c2_24 += C[o2 + _U24]; c2_25 += C[o2 + _U25]; c2_26 += C[o2 + _U26]; c2_27 += C[o2 + _U27]; c2_28 += C[o2 + _U28]; c2_29 += C[o2 + _U29]; c2_30 += C[o2 + _U30]; c2_31 += C[o2 + _U31]
        c3_0 += C[o3 + _U0]; c3_1 += C[o3 + _U1]; c3_2 += C[o3 + _U2]; c3_3 += C[o3 + _U3]; c3_4 += C[o3 + _U4]; c3_5 += C[o3 + _U5]; c3_6 += C[o3 + _U6]; c3_7 += C[o3 + _U7]
        c3_8 += C[o3 + _U8]; c3_9 += C[o3 + _U9]; c3_10 += C[o3 + _U10]; c3_11 += C[o3 + _U11]; c3_12 += C[o3 + _U12]; c3_13 += C[o3 + _U13]; c3_14 += C[o3 + _U14]; c3_15 += C[o3 + _U15]
        c3_16 += C[o3 + _U16]; c3_17 += C[o3 + _U17]; c3_18 += C[o3 + _U18]; c3_19 += C[o3 + _U19]; c3_20 += C[o3 + _U20]; c3_21 += C[o3 + _U21]; c3_22 += C[o3 + _U22]; c3_23 += C[o3 + _U23]
        c3_24 += C[o3 + _U24]; c3_25 += C[o3 + _U25]; c3_26 += C[o3 + _U26]; c3_27 += C[o3 + _U27]; c3_28 += C[o3 + _U28]; c3_29 += C[o3 + _U29]; c3_30 += C[o3 + _U30]; c3_31 += C[o3 + _U31]
        c4_0 += C[o4 + _U0]; c4_1 += C[o4 + _U1]; c4_2 += C[o4 + _U2]; c4_3 += C[o4 + _U3]; c4_4 += C[o4 + _U4]; c4_5 += C[o4 + _U5]; c4_6 += C[o4 + _U6]; c4_7 += C[o4 + _U7]
        c4_8 += C[o4 + _U8]; c4_9 += C[o4 + _U9]; c4_10 += C[o4 + _U10]; c4_11 += C[o4 + _U11]; c4_12 += C[o4 + _U12]; c4_13 += C[o4 + _U13]; c4_14 += C[o4 + _U14]; c4_15 += C[o4 + _U15]
        c4_16 += C[o4 + _U16]; c4_17 += C[o4 + _U17]; c4_18 += C[o4 + _U18]; c4_19 += C[o4 + _U19]; c4_20 += C[o4 + _U20]; c4_21 += C[o4 + _U21]; c4_22 += C[o4 + _U22]; c4_23 += C[o4 + _U23]
        c4_24 += C[o4 + _U24]; c4_25 += C[o4 + _U25]; c4_26 += C[o4 + _U26]; c4_27 += C[o4 + _U27]; c4_28 += C[o4 + _U28]; c4_29 += C[o4 + _U29]; c4_30 += C[o4 + _U30]; c4_31 += C[o4 + _U31]
        c5_0 += C[o5 + _U0]; c5_1 += C[o5 + _U1]; c5_2 += C[o5 + _U2]; c5_3 += C[o5 + _U3]; c5_4 += C[o5 + _U4]; c5_5 += C[o5 + _U5]; c5_6 += C[o5 + _U6]; c5_7 += C[o5 + _U7]
        c5_8 += C[o5 + _U8]; c5_9 += C[o5 + _U9]; c5_10 += C[o5 + _U10]; c5_11 += C[o5 + _U11]; c5_12 += C[o5 + _U12]; c5_13 += C[o5 + _U13]; c5_14 += C[o5 + _U14]; c5_15 += C[o5 + _U15]
        c5_16 += C[o5 + _U16]; c5_17 += C[o5 + _U17]; c5_18 += C[o5 + _U18]; c5_19 += C[o5 + _U19]; c5_20 += C[o5 + _U20]; c5_21 += C[o5 + _U21]; c5_22 += C[o5 + _U22]; c5_23 += C[o5 + _U23]
        c5_24 += C[o5 + _U24]; c5_25 += C[o5 + _U25]; c5_26 += C[o5 + _U26]; c5_27 += C[o5 + _U27]; c5_28 += C[o5 + _U28]; c5_29 += C[o5 + _U29]; c5_30 += C[o5 + _U30]; c5_31 += C[o5 + _U31]
        c6_0 += C[o6 + _U0]; c6_1 += C[o6 + _U1]; c6_2 += C[o6 + _U2]; c6_3 += C[o6 + _U3]; c6_4 += C[o6 + _U4]; c6_5 += C[o6 + _U5]; c6_6 += C[o6 + _U6]; c6_7 += C[o6 + _U7]
        c6_8 += C[o6 + _U8]; c6_9 += C[o6 + _U9]; c6_10 += C[o6 + _U10]; c6_11 += C[o6 + _U11]; c6_12 += C[o6 + _U12]; c6_13 += C[o6 + _U13]; c6_14 += C[o6 + _U14]; c6_15 += C[o6 + _U15]
        c6_16 += C[o6 + _U16]; c6_17 += C[o6 + _U17]; c6_18 += C[o6 + _U18]; c6_19 += C[o6 + _U19]; c6_20 += C[o6 + _U20]; c6_21 += C[o6 + _U21]; c6_22 += C[o6 + _U22]; c6_23 += C[o6 + _U23]
        c6_24 += C[o6 + _U24]; c6_25 += C[o6 + _U25]; c6_26 += C[o6 + _U26]; c6_27 += C[o6 + _U27]; c6_28 += C[o6 + _U28]; c6_29 += C[o6 + _U29]; c6_30 += C[o6 + _U30]; c6_31 += C[o6 + _U31]
        c7_0 += C[o7 + _U0]; c7_1 += C[o7 + _U1]; c7_2 += C[o7 + _U2]; c7_3 += C[o7 + _U3]; c7_4 += C[o7 + _U4]; c7_5 += C[o7 + _U5]; c7_6 += C[o7 + _U6]; c7_7 += C[o7 + _U7]
        c7_8 += C[o7 + _U8]; c7_9 += C[o7 + _U9]; c7_10 += C[o7 + _U10]; c7_11 += C[o7 + _U11]; c7_12 += C[o7 + _U12]; c7_13 += C[o7 + _U13]; c7_14 += C[o7 + _U14]; c7_15 += C[o7 + _U15]
        c7_16 += C[o7 + _U16]; c7_17 += C[o7 + _U17]; c7_18 += C[o7 + _U18]; c7_19 += C[o7 + _U19]; c7_20 += C[o7 + _U20]; c7_21 += C[o7 + _U21]; c7_22 += C[o7 + _U22]; c7_23 += C[o7 + _U23]
        c7_24 += C[o7 + _U24]; c7_25 += C[o7 + _U25]; c7_26 += C[o7 + _U26]; c7_27 += C[o7 + _U27]; c7_28 += C[o7 + _U28]; c7_29 += C[o7 + _U29]; c7_30 += C[o7 + _U30]; c7_31 += C[o7 + _U31]
        c8_0 += C[o8 + _U0]; c8_1 += C[o8 + _U1]; c8_2 += C[o8 + _U2]; c8_3 += C[o8 + _U3]; c8_4 += C[o8 + _U4]; c8_5 += C[o8 + _U5]; c8_6 += C[o8 + _U6]; c8_7 += C[o8 + _U7]
        c8_8 += C[o8 + _U8]; c8_9 += C[o8 + _U9]; c8_10 += C[o8 + _U10]; c8_11 += C[o8 + _U11]; c8_12 += C[o8 + _U12]; c8_13 += C[o8 + _U13]; c8_14 += C[o8 + _U14]; c8_15 += C[o8 + _U15]
        c8_16 += C[o8 + _U16]; c8_17 += C[o8 + _U17]; c8_18 += C[o8 + _U18]; c8_19 += C[o8 + _U19]; c8_20 += C[o8 + _U20]; c8_21 += C[o8 + _U21]; c8_22 += C[o8 + _U22]; c8_23 += C[o8 + _U23]
        c8_24 += C[o8 + _U24]; c8_25 += C[o8 + _U25]; c8_26 += C[o8 + _U26]; c8_27 += C[o8 + _U27]; c8_28 += C[o8 + _U28]; c8_29 += C[o8 + _U29]; c8_30 += C[o8 + _U30]; c8_31 += C[o8 + _U31]
        c9_0 += C[o9 + _U0]; c9_1 += C[o9 + _U1]; c9_2 += C[o9 + _U2]; c9_3 += C[o9 + _U3]; c9_4 += C[o9 + _U4]; c9_5 += C[o9 + _U5]; c9_6 += C[o9 + _U6]; c9_7 += C[o9 + _U7]
        c9_8 += C[o9 + _U8]; c9_9 += C[o9 + _U9]; c9_10 += C[o9 + _U10]; c9_11 += C[o9 + _U11]; c9_12 += C[o9 + _U12]; c9_13 += C[o9 + _U13]; c9_14 += C[o9 + _U14]; c9_15 += C[o9 + _U15]
        c9_16 += C[o9 + _U16]; c9_17 += C[o9 + _U17]; c9_18 += C[o9 + _U18]; c9_19 += C[o9 + _U19]; c9_20 += C[o9 + _U20]; c9_21 += C[o9 + _U21]; c9_22 += C[o9 + _U22]; c9_23 += C[o9 + _U23]
        c9_24 += C[o9 + _U24]; c9_25 += C[o9 + _U25]; c9_26 += C[o9 + _U26]; c9_27 += C[o9 + _U27]; c9_28 += C[o9 + _U28]; c9_29 += C[o9 + _U29]; c9_30 += C[o9 + _U30]; c9_31 += C[o9 + _U31]
        c10_0 += C[o10 + _U0]; c10_1 += C[o10 + _U1]; c10_2 += C[o10 + _U2]; c10_3 += C[o10 + _U3]; c10_4 += C[o10 + _U4]; c10_5 += C[o10 + _U5]; c10_6 += C[o10 + _U6]; c10_7 += C[o10 + _U7]
        c10_8 += C[o10 + _U8]; c10_9 += C[o10 + _U9]; c10_10 += C[o10 + _U10]; c10_11 += C[o10 + _U11]; c10_12 += C[o10 + _U12]; c10_13 += C[o10 + _U13]; c10_14 += C[o10 + _U14]; c10_15 += C[o10 + _U15]
        c10_16 += C[o10 + _U16]; c10_17 += C[o10 + _U17]; c10_18 += C[o10 + _U18]; c10_19 += C[o10 + _U19]; c10_20 += C[o10 + _U20]; c10_21 += C[o10 + _U21]; c10_22 += C[o10 + _U22]; c10_23 += C[o10 + _U23]
        c10_24 += C[o10 + _U24]; c10_25 += C[o10 + _U25]; c10_26 += C[o10 + _U26]; c10_27 += C[o10 + _U27]; c10_28 += C[o10 + _U28]; c10_29 += C[o10 + _U29]; c10_30 += C[o10 + _U30]; c10_31 += C[o10 + _U31]
        c11_0 += C[o11 + _U0]; c11_1 += C[o11 + _U1]; c11_2 += C[o11 + _U2]; c11_3 += C[o11 + _U3]; c11_4 += C[o11 + _U4]; c11_5 += C[o11 + _U5]; c11_6 += C[o11 + _U6]; c11_7 += C[o11 + _U7]
        c11_8 += C[o11 + _U8]; c11_9 += C[o11 + _U9]; c11_10 += C[o11 + _U10]; c11_11 += C[o11 + _U11]; c11_12 += C[o11 + _U12]; c11_13 += C[o11 + _U13]; c11_14 += C[o11 + _U14]; c11_15 += C[o11 + _U15]
        c11_16 += C[o11 + _U16]; c11_17 += C[o11 + _U17]; c11_18 += C[o11 + _U18]; c11_19 += C[o11 + _U19]; c11_20 += C[o11 + _U20]; c11_21 += C[o11 + _U21]; c11_22 += C[o11 + _U22]; c11_23 += C[o11 + _U23]
        c11_24 += C[o11 + _U24]; c11_25 += C[o11 + _U25]; c11_26 += C[o11 + _U26]; c11_27 += C[o11 + _U27]; c11_28 += C[o11 + _U28]; c11_29 += C[o11 + _U29]; c11_30 += C[o11 + _U30]; c11_31 += C[o11 + _U31]
    if use_bias:
        b0 = bias[jb + _U0]; b1 = bias[jb + _U1]; b2 = bias[jb + _U2]; b3 = bias[jb + _U3]; b4 = bias[jb + _U4]; b5 = bias[jb + _U5]; b6 = bias[jb + _U6]; b7 = bias[jb + _U7]
        b8 = bias[jb + _U8]; b9 = bias[jb + _U9]; b10 = bias[jb + _U10]; b11 = bias[jb + _U11]; b12 = bias[jb + _U12]; b13 = bias[jb + _U13]; b14 = bias[jb + _U14]; b15 = bias[jb + _U15]
        b16 = bias[jb + _U16]; b17 = bias[jb + _U17]; b18 = bias[jb + _U18]; b19 = bias[jb + _U19]; b20 = bias[jb + _U20]; b21 = bias[jb + _U21]; b22 = bias[jb + _U22]; b23 = bias[jb + _U23]
        b24 = bias[jb + _U24]; b25 = bias[jb + _U25]; b26 = bias[jb + _U26]; b27 = bias[jb + _U27]; b28 = bias[jb + _U28]; b29 = bias[jb + _U29]; b30 = bias[jb + _U30]; b31 = bias[jb + _U31]
        c0_0 += b0; c0_1 += b1; c0_2 += b2; c0_3 += b3; c0_4 += b4; c0_5 += b5; c0_6 += b6; c0_7 += b7
        c0_8 += b8; c0_9 += b9; c0_10 += b10; c0_11 += b11; c0_12 += b12; c0_13 += b13; c0_14 += b14; c0_15 += b15
        c0_16 += b16; c0_17 += b17; c0_18 += b18; c0_19 += b19; c0_20 += b20; c0_21 += b21; c0_22 += b22; c0_23 += b23
        c0_24 += b24; c0_25 += b25; c0_26 += b26; c0_27 += b27; c0_28 += b28; c0_29 += b29; c0_30 += b30; c0_31 += b31
        c1_0 += b0; c1_1 += b1; c1_2 += b2; c1_3 += b3; c1_4 += b4; c1_5 += b5; c1_6 += b6; c1_7 += b7
        c1_8 += b8; c1_9 += b9; c1_10 += b10; c1_11 += b11; c1_12 += b12; c1_13 += b13; c1_14 += b14; c1_15 += b15
        c1_16 += b16; c1_17 += b17; c1_18 += b18; c1_19 += b19; c1_20 += b20; c1_21 += b21; c1_22 += b22; c1_23 += b23
        c1_24 += b24; c1_25 += b25; c1_26 += b26; c1_27 += b27; c1_28 += b28; c1_29 += b29; c1_30 += b30; c1_31 += b31
        c2_0 += b0; c2_1 += b1; c2_2 += b2; c2_3 += b3; c2_4 += b4; c2_5 += b5; c2_6 += b6; c2_7 += b7
        c2_8 += b8; c2_9 += b9; c2_10 += b10; c2_11 += b11; c2_12 += b12; c2_13 += b13; c2_14 += b14; c2_15 += b15
        c2_16 += b16; c2_17 += b17; c2_18 += b18; c2_19 += b19; c2_20 += b20; c2_21 += b21; c2_22 += b22; c2_23 += b23
        c2_24 += b24; c2_25 += b25; c2_26 += b26; c2_27 += b27; c2_28 += b28; c2_29 += b29; c2_30 += b30; c2_31 += b31
        c3_0 += b0; c3_1 += b1; c3_2 += b2; c3_3 += b3; c3_4 += b4; c3_5 += b5; c3_6 += b6; c3_7 += b7
        c3_8 += b8; c3_9 += b9; c3_10 += b10; c3_11 += b11; c3_12 += b12; c3_13 += b13; c3_14 += b14; c3_15 += b15
        c3_16 += b16; c3_17 += b17; c3_18 += b18; c3_19 += b19; c3_20 += b20; c3_21 += b21; c3_22 += b22; c3_23 += b23
        c3_24 += b24; c3_25 += b25; c3_26 += b26; c3_27 += b27; c3_28 += b28; c3_29 += b29; c3_30 += b30; c3_31 += b31
        c4_0 += b0; c4_1 += b1; c4_2 += b2; c4_3 += b3; c4_4 += b4; c4_5 += b5; c4_6 += b6; c4_7 += b7
        c4_8 += b8; c4_9 += b9; c4_10 += b10; c4_11 += b11; c4_12 += b12; c4_13 += b13; c4_14 += b14; c4_15 += b15
        c4_16 += b16; c4_17 += b17; c4_18 += b18; c4_19 += b19; c4_20 += b20; c4_21 += b21; c4_22 += b22; c4_23 += b23
        c4_24 += b24; c4_25 += b25; c4_26 += b26; c4_27 += b27; c4_28 += b28; c4_29 += b29; c4_30 += b30; c4_31 += b31
        c5_0 += b0; c5_1 += b1; c5_2 += b2; c5_3 += b3; c5_4 += b4; c5_5 += b5; c5_6 += b6; c5_7 += b7
        c5_8 += b8; c5_9 += b9; c5_10 += b10; c5_11 += b11; c5_12 += b12; c5_13 += b13; c5_14 += b14; c5_15 += b15
        c5_16 += b16; c5_17 += b17; c5_18 += b18; c5_19 += b19; c5_20 += b20; c5_21 += b21; c5_22 += b22; c5_23 += b23
        c5_24 += b24; c5_25 += b25; c5_26 += b26; c5_27 += b27; c5_28 += b28; c5_29 += b29; c5_30 += b30; c5_31 += b31
        c6_0 += b0; c6_1 += b1; c6_2 += b2; c6_3 += b3; c6_4 += b4; c6_5 += b5; c6_6 += b6; c6_7 += b7
        c6_8 += b8; c6_9 += b9; c6_10 += b10; c6_11 += b11; c6_12 += b12; c6_13 += b13; c6_14 += b14; c6_15 += b15
        c6_16 += b16; c6_17 += b17; c6_18 += b18; c6_19 += b19; c6_20 += b20; c6_21 += b21; c6_22 += b22; c6_23 += b23
        c6_24 += b24; c6_25 += b25; c6_26 += b26; c6_27 += b27; c6_28 += b28; c6_29 += b29; c6_30 += b30; c6_31 += b31
        c7_0 += b0; c7_1 += b1; c7_2 += b2; c7_3 += b3; c7_4 += b4; c7_5 += b5; c7_6 += b6; c7_7 += b7
        c7_8 += b8; c7_9 += b9; c7_10 += b10; c7_11 += b11; c7_12 += b12; c7_13 += b13; c7_14 += b14; c7_15 += b15
        c7_16 += b16; c7_17 += b17; c7_18 += b18; c7_19 += b19; c7_20 += b20; c7_21 += b21; c7_22 += b22; c7_23 += b23
        c7_24 += b24; c7_25 += b25; c7_26 += b26; c7_27 += b27; c7_28 += b28; c7_29 += b29; c7_30 += b30; c7_31 += b31
        c8_0 += b0; c8_1 += b1; c8_2 += b2; c8_3 += b3; c8_4 += b4; c8_5 += b5; c8_6 += b6; c8_7 += b7
        c8_8 += b8; c8_9 += b9; c8_10 += b10; c8_11 += b11; c8_12 += b12; c8_13 += b13; c8_14 += b14; c8_15 += b15
        c8_16 += b16; c8_17 += b17; c8_18 += b18; c8_19 += b19; c8_20 += b20; c8_21 += b21; c8_22 += b22; c8_23 += b23
        c8_24 += b24; c8_25 += b25; c8_26 += b26; c8_27 += b27; c8_28 += b28; c8_29 += b29; c8_30 += b30; c8_31 += b31
        c9_0 += b0; c9_1 += b1; c9_2 += b2; c9_3 += b3; c9_4 += b4; c9_5 += b5; c9_6 += b6; c9_7 += b7
        c9_8 += b8; c9_9 += b9; c9_10 += b10; c9_11 += b11; c9_12 += b12; c9_13 += b13; c9_14 += b14; c9_15 += b15
        c9_16 += b16; c9_17 += b17; c9_18 += b18; c9_19 += b19; c9_20 += b20; c9_21 += b21; c9_22 += b22; c9_23 += b23
        c9_24 += b24; c9_25 += b25; c9_26 += b26; c9_27 += b27; c9_28 += b28; c9_29 += b29; c9_30 += b30; c9_31 += b31
        c10_0 += b0; c10_1 += b1; c10_2 += b2; c10_3 += b3; c10_4 += b4; c10_5 += b5; c10_6 += b6; c10_7 += b7
        c10_8 += b8; c10_9 += b9; c10_10 += b10; c10_11 += b11; c10_12 += b12; c10_13 += b13; c10_14 += b14; c10_15 += b15
        c10_16 += b16; c10_17 += b17; c10_18 += b18; c10_19 += b19; c10_20 += b20; c10_21 += b21; c10_22 += b22; c10_23 += b23
        c10_24 += b24; c10_25 += b25; c10_26 += b26; c10_27 += b27; c10_28 += b28; c10_29 += b29; c10_30 += b30; c10_31 += b31
        c11_0 += b0; c11_1 += b1; c11_2 += b2; c11_3 += b3; c11_4 += b4; c11_5 += b5; c11_6 += b6; c11_7 += b7
        c11_8 += b8; c11_9 += b9; c11_10 += b10; c11_11 += b11; c11_12 += b12; c11_13 += b13; c11_14 += b14; c11_15 += b15
        c11_16 += b16; c11_17 += b17; c11_18 += b18; c11_19 += b19; c11_20 += b20; c11_21 += b21; c11_22 += b22; c11_23 += b23
        c11_24 += b24; c11_25 += b25; c11_26 += b26; c11_27 += b27; c11_28 += b28; c11_29 += b29; c11_30 += b30; c11_31 += b31
    if relu:
        c0_0 = max(c0_0, z); c0_1 = max(c0_1, z); c0_2 = max(c0_2, z); c0_3 = max(c0_3, z); c0_4 = max(c0_4, z); c0_5 = max(c0_5, z); c0_6 = max(c0_6, z); c0_7 = max(c0_7, z)
        c0_8 = max(c0_8, z); c0_9 = max(c0_9, z); c0_10 = max(c0_10, z); c0_11 = max(c0_11, z); c0_12 = max(c0_12, z); c0_13 = max(c0_13, z); c0_14 = max(c0_14, z); c0_15 = max(c0_15, z)
        c0_16 = max(c0_16, z); c0_17 = max(c0_17, z); c0_18 = max(c0_18, z); c0_19 = max(c0_19, z); c0_20 = max(c0_20, z); c0_21 = max(c0_21, z); c0_22 = max(c0_22, z); c0_23 = max(c0_23, z)
        c0_24 = max(c0_24, z); c0_25 = max(c0_25, z); c0_26 = max(c0_26, z); c0_27 = max(c0_27, z); c0_28 = max(c0_28, z); c0_29 = max(c0_29, z); c0_30 = max(c0_30, z); c0_31 = max(c0_31, z)
        c1_0 = max(c1_0, z); c1_1 = max(c1_1, z); c1_2 = max(c1_2, z); c1_3 = max(c1_3, z); c1_4 = max(c1_4, z); c1_5 = max(c1_5, z); c1_6 = max(c1_6, z); c1_7 = max(c1_7, z)
        c1_8 = max(c1_8, z); c1_9 = max(c1_9, z); c1_10 = max(c1_10, z); c1_11 = max(c1_11, z); c1_12 = max(c1_12, z); c1_13 = max(c1_13, z); c1_14 = max(c1_14, z); c1_15 = max(c1_15, z)
        c1_16 = max(c1_16, z); c1_17 = max(c1_17, z); c1_18 = max(c1_18, z); c1_19 = max(c1_19, z); c1_20 = max(c1_20, z); c1_21 = max(c1_21, z); c1_22 = max(c1_22, z); c1_23 = max(c1_23, z)
        c1_24 = max(c1_24, z); c1_25 = max(c1_25, z); c1_26 = max(c1_26, z); c1_27 = max(c1_27, z); c1_28 = max(c1_28, z); c1_29 = max(c1_29, z); c1_30 = max(c1_30, z); c1_31 = max(c1_31, z)
        c2_0 = max(c2_0, z); c2_1 = max(c2_1, z); c2_2 = max(c2_2, z); c2_3 = max(c2_3, z); c2_4 = max(c2_4, z); c2_5 = max(c2_5, z); c2_6 = max(c2_6, z); c2_7 = max(c2_7, z)
        c2_8 = max(c2_8, z); c2_9 = max(c2_9, z); c2_10 = max(c2_10, z); c2_11 = max(c2_11, z); c2_12 = max(c2_12, z); c2_13 = max(c2_13, z); c2_14 = max(c2_14, z); c2_15 = max(c2_15, z)
        c2_16 = max(c2_16, z); c2_17 = max(c2_17, z); c2_18 = max(c2_18, z); c2_19 = max(c2_19, z); c2_20 = max(c2_20, z); c2_21 = max(c2_21, z); c2_22 = max(c2_22, z); c2_23 = max(c2_23, z)
        c2_24 = max(c2_24, z); c2_25 = max(c2_25, z); c2_26 = max(c2_26, z); c2_27 = max(c2_27, z); c2_28 = max(c2_28, z); c2_29 = max(c2_29, z); c2_30 = max(c2_30, z); c2_31 = max(c2_31, z)
        c3_0 = max(c3_0, z); c3_1 = max(c3_1, z); c3_2 = max(c3_2, z); c3_3 = max(c3_3, z); c3_4 = max(c3_4, z); c3_5 = max(c3_5, z); c3_6 = max(c3_6, z); c3_7 = max(c3_7, z)
        c3_8 = max(c3_8, z); c3_9 = max(c3_9, z); c3_10 = max(c3_10, z); c3_11 = max(c3_11, z); c3_12 = max(c3_12, z); c3_13 = max(c3_13, z); c3_14 = max(c3_14, z); c3_15 = max(c3_15, z)
        c3_16 = max(c3_16, z); c3_17 = max(c3_17, z); c3_18 = max(c3_18, z); c3_19 = max(c3_19, z); c3_20 = max(c3_20, z); c3_21 = max(c3_21, z); c3_22 = max(c3_22, z); c3_23 = max(c3_23, z)
        c3_24 = max(c3_24, z); c3_25 = max(c3_25, z); c3_26 = max(c3_26, z); c3_27 = max(c3_27, z); c3_28 = max(c3_28, z); c3_29 = max(c3_29, z); c3_30 = max(c3_30, z); c3_31 = max(c3_31, z)
        c4_0 = max(c4_0, z); c4_1 = max(c4_1, z); c4_2 = max(c4_2, z); c4_3 = max(c4_3, z); c4_4 = max(c4_4, z); c4_5 = max(c4_5, z); c4_6 = max(c4_6, z); c4_7 = max(c4_7, z)
        c4_8 = max(c4_8, z); c4_9 = max(c4_9, z); c4_10 = max(c4_10, z); c4_11 = max(c4_11, z); c4_12 = max(c4_12, z); c4_13 = max(c4_13, z); c4_14 = max(c4_14, z); c4_15 = max(c4_15, z)
        c4_16 = max(c4_16, z); c4_17 = max(c4_17, z); c4_18 = max(c4_18, z); c4_19 = max(c4_19, z); c4_20 = max(c4_20, z); c4_21 = max(c4_21, z); c4_22 = max(c4_22, z); c4_23 = max(c4_23, z)
        c4_24 = max(c4_24, z); c4_25 = max(c4_25, z); c4_26 = max(c4_26, z); c4_27 = max(c4_27, z); c4_28 = max(c4_28, z); c4_29 = max(c4_29, z); c4_30 = max(c4_30, z); c4_31 = max(c4_31, z)
        c5_0 = max(c5_0, z); c5_1 = max(c5_1, z); c5_2 = max(c5_2, z); c5_3 = max(c5_3, z); c5_4 = max(c5_4, z); c5_5 = max(c5_5, z); c5_6 = max(c5_6, z); c5_7 = max(c5_7, z)
        c5_8 = max(c5_8, z); c5_9 = max(c5_9, z); c5_10 = max(c5_10, z); c5_11 = max(c5_11, z); c5_12 = max(c5_12, z); c5_13 = max(c5_13, z); c5_14 = max(c5_14, z); c5_15 = max(c5_15, z)
        c5_16 = max(c5_16, z); c5_17 = max(c5_17, z); c5_18 = max(c5_18, z); c5_19 = max(c5_19, z); c5_20 = max(c5_20, z); c5_21 = max(c5_21, z); c5_22 = max(c5_22, z); c5_23 = max(c5_23, z)
        c5_24 = max(c5_24, z); c5_25 = max(c5_25, z); c5_26 = max(c5_26, z); c5_27 = max(c5_27, z); c5_28 = max(c5_28, z); c5_29 = max(c5_29, z); c5_30 = max(c5_30, z); c5_31 = max(c5_31, z)
        c6_0 = max(c6_0, z); c6_1 = max(c6_1, z); c6_2 = max(c6_2, z); c6_3 = max(c6_3, z); c6_4 = max(c6_4, z); c6_5 = max(c6_5, z); c6_6 = max(c6_6, z); c6_7 = max(c6_7, z)
        c6_8 = max(c6_8, z); c6_9 = max(c6_9, z); c6_10 = max(c6_10, z); c6_11 = max(c6_11, z); c6_12 = max(c6_12, z); c6_13 = max(c6_13, z); c6_14 = max(c6_14, z); c6_15 = max(c6_15, z)
        c6_16 = max(c6_16, z); c6_17 = max(c6_17, z); c6_18 = max(c6_18, z); c6_19 = max(c6_19, z); c6_20 = max(c6_20, z); c6_21 = max(c6_21, z); c6_22 = max(c6_22, z); c6_23 = max(c6_23, z)
        c6_24 = max(c6_24, z); c6_25 = max(c6_25, z); c6_26 = max(c6_26, z); c6_27 = max(c6_27, z); c6_28 = max(c6_28, z); c6_29 = max(c6_29, z); c6_30 = max(c6_30, z); c6_31 = max(c6_31, z)
        c7_0 = max(c7_0, z); c7_1 = max(c7_1, z); c7_2 = max(c7_2, z); c7_3 = max(c7_3, z); c7_4 = max(c7_4, z); c7_5 = max(c7_5, z); c7_6 = max(c7_6, z); c7_7 = max(c7_7, z)
        c7_8 = max(c7_8, z); c7_9 = max(c7_9, z); c7_10 = max(c7_10, z); c7_11 = max(c7_11, z); c7_12 = max(c7_12, z); c7_13 = max(c7_13, z); c7_14 = max(c7_14, z); c7_15 = max(c7_15, z)
        c7_16 = max(c7_16, z); c7_17 = max(c7_17, z); c7_18 = max(c7_18, z); c7_19 = max(c7_19, z); c7_20 = max(c7_20, z); c7_21 = max(c7_21, z); c7_22 = max(c7_22, z); c7_23 = max(c7_23, z)
        c7_24 = max(c7_24, z); c7_25 = max(c7_25, z); c7_26 = max(c7_26, z); c7_27 = max(c7_27, z); c7_28 = max(c7_28, z); c7_29 = max(c7_29, z); c7_30 = max(c7_30, z); c7_31 = max(c7_31, z)
        c8_0 = max(c8_0, z); c8_1 = max(c8_1, z); c8_2 = max(c8_2, z); c8_3 = max(c8_3, z); c8_4 = max(c8_4, z); c8_5 = max(c8_5, z); c8_6 = max(c8_6, z); c8_7 = max(c8_7, z)
        c8_8 = max(c8_8, z); c8_9 = max(c8_9, z); c8_10 = max(c8_10, z); c8_11 = max(c8_11, z); c8_12 = max(c8_12, z); c8_13 = max(c8_13, z); c8_14 = max(c8_14, z); c8_15 = max(c8_15, z)
        c8_16 = max(c8_16, z); c8_17 = max(c8_17, z); c8_18 = max(c8_18, z); c8_19 = max(c8_19, z); c8_20 = max(c8_20, z); c8_21 = max(c8_21, z); c8_22 = max(c8_22, z); c8_23 = max(c8_23, z)
        c8_24 = max(c8_24, z); c8_25 = max(c8_25, z); c8_26 = max(c8_26, z); c8_27 = max(c8_27, z); c8_28 = max(c8_28, z); c8_29 = max(c8_29, z); c8_30 = max(c8_30, z); c8_31 = max(c8_31, z)
        c9_0 = max(c9_0, z); c9_1 = max(c9_1, z); c9_2 = max(c9_2, z); c9_3 = max(c9_3, z); c9_4 = max(c9_4, z); c9_5 = max(c9_5, z); c9_6 = max(c9_6, z); c9_7 = max(c9_7, z)
        c9_8 = max(c9_8, z); c9_9 = max(c9_9, z); c9_10 = max(c9_10, z); c9_11 = max(c9_11, z); c9_12 = max(c9_12, z); c9_13 = max(c9_13, z); c9_14 = max(c9_14, z); c9_15 = max(c9_15, z)
        c9_16 = max(c9_16, z); c9_17 = max(c9_17, z); c9_18 = max(c9_18, z); c9_19 = max(c9_19, z); c9_20 = max(c9_20, z); c9_21 = max(c9_21, z); c9_22 = max(c9_22, z); c9_23 = max(c9_23, z)
        c9_24 = max(c9_24, z); c9_25 = max(c9_25, z); c9_26 = max(c9_26, z); c9_27 = max(c9_27, z); c9_28 = max(c9_28, z); c9_29 = max(c9_29, z); c9_30 = max(c9_30, z); c9_31 = max(c9_31, z)
        c10_0 = max(c10_0, z); c10_1 = max(c10_1, z); c10_2 = max(c10_2, z); c10_3 = max(c10_3, z); c10_4 = max(c10_4, z); c10_5 = max(c10_5, z); c10_6 = max(c10_6, z); c10_7 = max(c10_7, z)
        c10_8 = max(c10_8, z); c10_9 = max(c10_9, z); c10_10 = max(c10_10, z); c10_11 = max(c10_11, z); c10_12 = max(c10_12, z); c10_13 = max(c10_13, z); c10_14 = max(c10_14, z); c10_15 = max(c10_15, z)
        c10_16 = max(c10_16, z); c10_17 = max(c10_17, z); c10_18 = max(c10_18, z); c10_19 = max(c10_19, z); c10_20 = max(c10_20, z); c10_21 = max(c10_21, z); c10_22 = max(c10_22, z); c10_23 = max(c10_23, z)
        c10_24 = max(c10_24, z); c10_25 = max(c10_25, z); c10_26 = max(c10_26, z); c10_27 = max(c10_27, z); c10_28 = max(c10_28, z); c10_29 = max(c10_29, z); c10_30 = max(c10_30, z); c10_31 = max(c10_31, z)
        c11_0 = max(c11_0, z); c11_1 = max(c11_1, z); c11_2 = max(c11_2, z); c11_3 = max(c11_3, z); c11_4 = max(c11_4, z); c11_5 = max(c11_5, z); c11_6 = max(c11_6, z); c11_7 = max(c11_7, z)
        c11_8 = max(c11_8, z); c11_9 = max(c11_9, z); c11_10 = max(c11_10, z); c11_11 = max(c11_11, z); c11_12 = max(c11_12, z); c11_13 = max(c11_13, z); c11_14 = max(c11_14, z); c11_15 = max(c11_15, z)
        c11_16 = max(c11_16, z); c11_17 = max(c11_17, z); c11_18 = max(c11_18, z); c11_19 = max(c11_19, z); c11_20 = max(c11_20, z); c11_21 = max(c11_21, z); c11_22 = max(c11_22, z); c11_23 = max(c11_23, z)
        c11_24 = max(c11_24, z); c11_25 = max(c11_25, z); c11_26 = max(c11_26, z); c11_27 = max(c11_27, z); c11_28 = max(c11_28, z); c11_29 = max(c11_29, z); c11_30 = max(c11_30, z); c11_31 = max(c11_31, z)
    C[o11 + _U0] = c11_0; C[o11 + _U1] = c11_1; C[o11 + _U2] = c11_2; C[o11 + _U3] = c11_3; C[o11 + _U4] = c11_4; C[o11 + _U5] = c11_5; C[o11 + _U6] = c11_6; C[o11 + _U7] = c11_7
    C[o11 + _U8] = c11_8; C[o11 + _U9] = c11_9; C[o11 + _U10] = c11_10; C[o11 + _U11] = c11_11; C[o11 + _U12] = c11_12; C[o11 + _U13] = c11_13; C[o11 + _U14] = c11_14; C[o11 + _U15] = c11_15
    C[o11 + _U16] = c11_16; C[o11 + _U17] = c11_17; C[o11 + _U18] = c11_18; C[o11 + _U19] = c11_19; C[o11 + _U20] = c11_20; C[o11 + _U21] = c11_21; C[o11 + _U22] = c11_22; C[o11 + _U23] = c11_23
    C[o11 + _U24] = c11_24; C[o11 + _U25] = c11_25; C[o11 + _U26] = c11_26; C[o11 + _U27] = c11_27; C[o11 + _U28] = c11_28; C[o11 + _U29] = c11_29; C[o11 + _U30] = c11_30; C[o11 + _U31] = c11_31
    C[o10 + _U0] = c10_0; C[o10 + _U1] = c10_1; C[o10 + _U2] = c10_2; C[o10 + _U3] = c10_3; C[o10 + _U4] = c10_4; C[o10 + _U5] = c10_5; C[o10 + _U6] = c10_6; C[o10 + _U7] = c10_7
    C[o10 + _U8] = c10_8; C[o10 + _U9] = c10_9; C[o10 + _U10] = c10_10; C[o10 + _U11] = c10_11; C[o10 + _U12] = c10_12; C[o10 + _U13] = c10_13; C[o10 + _U14] = c10_14; C[o10 + _U15] = c10_15
    C[o10 + _U16] = c10_16; C[o10 + _U17] = c10_17; C[o10 + _U18] = c10_18; C[o10 + _U19] = c10_19; C[o10 + _U20] = c10_20; C[o10 + _U21] = c10_21; C[o10 + _U22] = c10_22; C[o10 + _U23] = c10_23
    C[o10 + _U24] = c10_24; C[o10 + _U25] = c10_25; C[o10 + _U26] = c10_26; C[o10 + _U27] = c10_27; C[o10 + _U28] = c10_28; C[o10 + _U29] = c10_29; C[o10 + _U30] = c10_30; C[o10 + _U31] = c10_31
    C[o9 + _U0] = c9_0; C[o9 + _U1] = c9_1; C[o9 + _U2] = c9_2; C[o9 + _U3] = c9_3; C[o9 + _U4] = c9_4; C[o9 + _U5] = c9_5; C[o9 + _U6] = c9_6; C[o9 + _U7] = c9_7
    C[o9 + _U8] = c9_8; C[o9 + _U9] = c9_9; C[o9 + _U10] = c9_10; C[o9 + _U11] = c9_11; C[o9 + _U12] = c9_12; C[o9 + _U13] = c9_13; C[o9 + _U14] = c9_14; C[o9 + _U15] = c9_15
    C[o9 + _U16] = c9_16; C[o9 + _U17] = c9_17; C[o9 + _U18] = c9_18; C[o9 + _U19] = c9_19; C[o9 + _U20] = c9_20; C[o9 + _U21] = c9_21; C[o9 + _U22] = c9_22; C[o9 + _U23] = c9_23
    C[o9 + _U24] = c9_24; C[o9 + _U25] = c9_25; C[o9 + _U26] = c9_26; C[o9 + _U27] = c9_27; C[o9 + _U28] = c9_28; C[o9 + _U29] = c9_29; C[o9 + _U30] = c9_30; C[o9 + _U31] = c9_31
    C[o8 + _U0] = c8_0; C[o8 + _U1] = c8_1; C[o8 + _U2] = c8_2; C[o8 + _U3] = c8_3; C[o8 + _U4] = c8_4; C[o8 + _U5] = c8_5; C[o8 + _U6] = c8_6; C[o8 + _U7] = c8_7
    C[o8 + _U8] = c8_8; C[o8 + _U9] = c8_9; C[o8 + _U10] = c8_10; C[o8 + _U11] = c8_11; C[o8 + _U12] = c8_12; C[o8 + _U13] = c8_13; C[o8 + _U14] = c8_14; C[o8 + _U15] = c8_15
    C[o8 + _U16] = c8_16; C[o8 + _U17] = c8_17; C[o8 + _U18] = c8_18; C[o8 + _U19] = c8_19; C[o8 + _U20] = c8_20; C[o8 + _U21] = c8_21; C[o8 + _U22] = c8_22; C[o8 + _U23] = c8_23
    C[o8 + _U24] = c8_24; C[o8 + _U25] = c8_25; C[o8 + _U26] = c8_26; C[o8 + _U27] = c8_27; C[o8 + _U28] = c8_28; C[o8 + _U29] = c8_29; C[o8 + _U30] = c8_30; C[o8 + _U31] = c8_31
    C[o7 + _U0] = c7_0; C[o7 + _U1] = c7_1; C[o7 + _U2] = c7_2; C[o7 + _U3] = c7_3; C[o7 + _U4] = c7_4; C[o7 + _U5] = c7_5; C[o7 + _U6] = c7_6; C[o7 + _U7] = c7_7
    C[o7 + _U8] = c7_8; C[o7 + _U9] = c7_9; C[o7 + _U10] = c7_10; C[o7 + _U11] = c7_11; C[o7 + _U12] = c7_12; C[o7 + _U13] = c7_13; C[o7 + _U14] = c7_14; C[o7 + _U15] = c7_15
    C[o7 + _U16] = c7_16; C[o7 + _U17] = c7_17; C[o7 + _U18] = c7_18; C[o7 + _U19] = c7_19; C[o7 + _U20] = c7_20; C[o7 + _U21] = c7_21; C[o7 + _U22] = c7_22; C[o7 + _U23] = c7_23
    C[o7 + _U24] = c7_24; C[o7 + _U25] = c7_25; C[o7 + _U26] = c7_26; C[o7 + _U27] = c7_27; C[o7 + _U28] = c7_28; C[o7 + _U29] = c7_29; C[o7 + _U30] = c7_30; C[o7 + _U31] = c7_31
    C[o6 + _U0] = c6_0; C[o6 + _U1] = c6_1; C[o6 + _U2] = c6_2; C[o6 + _U3] = c6_3; C[o6 + _U4] = c6_4; C[o6 + _U5] = c6_5; C[o6 + _U6] = c6_6; C[o6 + _U7] = c6_7
    C[o6 + _U8] = c6_8; C[o6 + _U9] = c6_9; C[o6 + _U10] = c6_10; C[o6 + _U11] = c6_11; C[o6 + _U12] = c6_12; C[o6 + _U13] = c6_13; C[o6 + _U14] = c6_14; C[o6 + _U15] = c6_15
    C[o6 + _U16] = c6_16; C[o6 + _U17] = c6_17; C[o6 + _U18] = c6_18; C[o6 + _U19] = c6_19; C[o6 + _U20] = c6_20; C[o6 + _U21] = c6_21; C[o6 + _U22] = c6_22; C[o6 + _U23] = c6_23
    C[o6 + _U24] = c6_24; C[o6 + _U25] = c6_25; C[o6 + _U26] = c6_26; C[o6 + _U27] = c6_27; C[o6 + _U28] = c6_28; C[o6 + _U29] = c6_29; C[o6 + _U30] = c6_30; C[o6 + _U31] = c6_31
    C[o5 + _U0] = c5_0; C[o5 + _U1] = c5_1; C[o5 + _U2] = c5_2; C[o5 + _U3] = c5_3; C[o5 + _U4] = c5_4; C[o5 + _U5] = c5_5; C[o5 + _U6] = c5_6; C[o5 + _U7] = c5_7
    C[o5 + _U8] = c5_8; C[o5 + _U9] = c5_9; C[o5 + _U10] = c5_10; C[o5 + _U11] = c5_11; C[o5 + _U12] = c5_12; C[o5 + _U13] = c5_13; C[o5 + _U14] = c5_14; C[o5 + _U15] = c5_15
    C[o5 + _U16] = c5_16; C[o5 + _U17] = c5_17; C[o5 + _U18] = c5_18; C[o5 + _U19] = c5_19; C[o5 + _U20] = c5_20; C[o5 + _U21] = c5_21; C[o5 + _U22] = c5_22; C[o5 + _U23] = c5_23
    C[o5 + _U24] = c5_24; C[o5 + _U25] = c5_25; C[o5 + _U26] = c5_26; C[o5 + _U27] = c5_27; C[o5 + _U28] = c5_28; C[o5 + _U29] = c5_29; C[o5 + _U30] = c5_30; C[o5 + _U31] = c5_31
    C[o4 + _U0] = c4_0; C[o4 + _U1] = c4_1; C[o4 + _U2] = c4_2; C[o4 + _U3] = c4_3; C[o4 + _U4] = c4_4; C[o4 + _U5] = c4_5; C[o4 + _U6] = c4_6; C[o4 + _U7] = c4_7
    C[o4 + _U8] = c4_8; C[o4 + _U9] = c4_9; C[o4 + _U10] = c4_10; C[o4 + _U11] = c4_11; C[o4 + _U12] = c4_12; C[o4 + _U13] = c4_13; C[o4 + _U14] = c4_14; C[o4 + _U15] = c4_15
    C[o4 + _U16] = c4_16; C[o4 + _U17] = c4_17; C[o4 + _U18] = c4_18; C[o4 + _U19] = c4_19; C[o4 + _U20] = c4_20; C[o4 + _U21] = c4_21; C[o4 + _U22] = c4_22; C[o4 + _U23] = c4_23
    C[o4 + _U24] = c4_24; C[o4 + _U25] = c4_25; C[o4 + _U26] = c4_26; C[o4 + _U27] = c4_27; C[o4 + _U28] = c4_28; C[o4 + _U29] = c4_29; C[o4 + _U30] = c4_30; C[o4 + _U31] = c4_31
    C[o3 + _U0] = c3_0; C[o3 + _U1] = c3_1; C[o3 + _U2] = c3_2; C[o3 + _U3] = c3_3; C[o3 + _U4] = c3_4; C[o3 + _U5] = c3_5; C[o3 + _U6] = c3_6; C[o3 + _U7] = c3_7
    C[o3 + _U8] = c3_8; C[o3 + _U9] = c3_9; C[o3 + _U10] = c3_10; C[o3 + _U11] = c3_11; C[o3 + _U12] = c3_12; C[o3 + _U13] = c3_13; C[o3 + _U14] = c3_14; C[o3 + _U15] = c3_15
    C[o3 + _U16] = c3_16; C[o3 + _U17] = c3_17; C[o3 + _U18] = c3_18; C[o3 + _U19] = c3_19; C[o3 + _U20] = c3_20; C[o3 + _U21] = c3_21; C[o3 + _U22] = c3_22; C[o3 + _U23] = c3_23
    C[o3 + _U24] = c3_24; C[o3 + _U25] = c3_25; C[o3 + _U26] = c3_26; C[o3 + _U27] = c3_27; C[o3 + _U28] = c3_28; C[o3 + _U29] = c3_29; C[o3 + _U30] = c3_30; C[o3 + _U31] = c3_31
    C[o2 + _U0] = c2_0; C[o2 + _U1] = c2_1; C[o2 + _U2] = c2_2; C[o2 + _U3] = c2_3; C[o2 + _U4] = c2_4; C[o2 + _U5] = c2_5; C[o2 + _U6] = c2_6; C[o2 + _U7] = c2_7
    C[o2 + _U8] = c2_8; C[o2 + _U9] = c2_9; C[o2 + _U10] = c2_10; C[o2 + _U11] = c2_11; C[o2 + _U12] = c2_12; C[o2 + _U13] = c2_13; C[o2 + _U14] = c2_14; C[o2 + _U15] = c2_15
    C[o2 + _U16] = c2_16; C[o2 + _U17] = c2_17; C[o2 + _U18] = c2_18; C[o2 + _U19] = c2_19; C[o2 + _U20] = c2_20; C[o2 + _U21] = c2_21; C[o2 + _U22] = c2_22; C[o2 + _U23] = c2_23
    C[o2 + _U24] = c2_24; C[o2 + _U25] = c2_25; C[o2 + _U26] = c2_26; C[o2 + _U27] = c2_27; C[o2 + _U28] = c2_28; C[o2 + _U29] = c2_29; C[o2 + _U30] = c2_30; C[o2 + _U31] = c2_31
    C[o1 + _U0] = c1_0; C[o1 + _U1] = c1_1; C[o1 + _U2] = c1_2; C[o1 + _U3] = c1_3; C[o1 + _U4] = c1_4; C[o1 + _U5] = c1_5; C[o1 + _U6] = c1_6; C[o1 + _U7] = c1_7
    C[o1 + _U8] = c1_8; C[o1 + _U9] = c1_9; C[o1 + _U10] = c1_10; C[o1 + _U11] = c1_11; C[o1 + _U12] = c1_12; C[o1 + _U13] = c1_13; C[o1 + _U14] = c1_14; C[o1 + _U15] = c1_15
    C[o1 + _U16] = c1_16; C[o1 + _U17] = c1_17; C[o1 + _U18] = c1_18; C[o1 + _U19] = c1_19; C[o1 + _U20] = c1_20; C[o1 + _U21] = c1_21; C[o1 + _U22] = c1_22; C[o1 + _U23] = c1_23
    C[o1 + _U24] = c1_24; C[o1 + _U25] = c1_25; C[o1 + _U26] = c1_26; C[o1 + _U27] = c1_27; C[o1 + _U28] = c1_28; C[o1 + _U29] = c1_29; C[o1 + _U30] = c1_30; C[o1 + _U31] = c1_31
    C[o0 + _U0] = c0_0; C[o0 + _U1] = c0_1; C[o0 + _U2] = c0_2; C[o0 + _U3] = c0_3; C[o0 + _U4] = c0_4; C[o0 + _U5] = c0_5; C[o0 + _U6] = c0_6; C[o0 + _U7] = c0_7
    C[o0 + _U8] = c0_8; C[o0 + _U9] = c0_9; C[o0 + _U10] = c0_10; C[o0 + _U11] = c0_11; C[o0 + _U12] = c0_12; C[o0 + _U13] = c0_13; C[o0 + _U14] = c0_14; C[o0 + _U15] = c0_15
    C[o0 + _U16] = c0_16; C[o0 + _U17] = c0_17; C[o0 + _U18] = c0_18; C[o0 + _U19] = c0_19; C[o0 + _U20] = c0_20; C[o0 + _U21] = c0_21; C[o0 + _U22] = c0_22; C[o0 + _U23] = c0_23
    C[o0 + _U24] = c0_24; C[o0 + _U25] = c0_25; C[o0 + _U26] = c0_26; C[o0 + _U27] = c0_27; C[o0 + _U28] = c0_28; C[o0 + _U29] = c0_29; C[o0 + _U30] = c0_30; C[o0 + _U31] = c0_31


# The narrow kernels below are ``kernel_source(10, 32)`` and ``kernel_source(10, 16)``:
# two vectors per row, for ``h.T @ dy`` with up to 10 classes (``_gemm_narrow_ta``).


def _kernel_10x32(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    """C[10x32 tile] (+)= A @ B-panel, with 320 scalar accumulators.

    Generated by ``kernel_source(10, 32)``: row r of the tile is the 32 accumulators
    ``c<r>_0..c<r>_31``, which LLVM's SLP vectorizer fuses into vector registers.
    A[pa + r + p*csa] is element (r, p): a packed panel (csa=MR) or a transposed
    A read in place (csa=lda).  Only the first ``rows`` rows of C are used, with no
    branches: a row past them is aimed at row ``rows - 1`` and the rows are stored
    last to first, so that row's own, correct values land last.
    """
    _prefer_512bit_vectors()
    z = _zero(C)
    c0_0 = c0_1 = c0_2 = c0_3 = c0_4 = c0_5 = c0_6 = c0_7 = c0_8 = c0_9 = c0_10 = c0_11 = c0_12 = c0_13 = c0_14 = c0_15 = c0_16 = c0_17 = c0_18 = c0_19 = c0_20 = c0_21 = c0_22 = c0_23 = c0_24 = c0_25 = c0_26 = c0_27 = c0_28 = c0_29 = c0_30 = c0_31 = z
    c1_0 = c1_1 = c1_2 = c1_3 = c1_4 = c1_5 = c1_6 = c1_7 = c1_8 = c1_9 = c1_10 = c1_11 = c1_12 = c1_13 = c1_14 = c1_15 = c1_16 = c1_17 = c1_18 = c1_19 = c1_20 = c1_21 = c1_22 = c1_23 = c1_24 = c1_25 = c1_26 = c1_27 = c1_28 = c1_29 = c1_30 = c1_31 = z
    c2_0 = c2_1 = c2_2 = c2_3 = c2_4 = c2_5 = c2_6 = c2_7 = c2_8 = c2_9 = c2_10 = c2_11 = c2_12 = c2_13 = c2_14 = c2_15 = c2_16 = c2_17 = c2_18 = c2_19 = c2_20 = c2_21 = c2_22 = c2_23 = c2_24 = c2_25 = c2_26 = c2_27 = c2_28 = c2_29 = c2_30 = c2_31 = z
    c3_0 = c3_1 = c3_2 = c3_3 = c3_4 = c3_5 = c3_6 = c3_7 = c3_8 = c3_9 = c3_10 = c3_11 = c3_12 = c3_13 = c3_14 = c3_15 = c3_16 = c3_17 = c3_18 = c3_19 = c3_20 = c3_21 = c3_22 = c3_23 = c3_24 = c3_25 = c3_26 = c3_27 = c3_28 = c3_29 = c3_30 = c3_31 = z
    c4_0 = c4_1 = c4_2 = c4_3 = c4_4 = c4_5 = c4_6 = c4_7 = c4_8 = c4_9 = c4_10 = c4_11 = c4_12 = c4_13 = c4_14 = c4_15 = c4_16 = c4_17 = c4_18 = c4_19 = c4_20 = c4_21 = c4_22 = c4_23 = c4_24 = c4_25 = c4_26 = c4_27 = c4_28 = c4_29 = c4_30 = c4_31 = z
    c5_0 = c5_1 = c5_2 = c5_3 = c5_4 = c5_5 = c5_6 = c5_7 = c5_8 = c5_9 = c5_10 = c5_11 = c5_12 = c5_13 = c5_14 = c5_15 = c5_16 = c5_17 = c5_18 = c5_19 = c5_20 = c5_21 = c5_22 = c5_23 = c5_24 = c5_25 = c5_26 = c5_27 = c5_28 = c5_29 = c5_30 = c5_31 = z
    c6_0 = c6_1 = c6_2 = c6_3 = c6_4 = c6_5 = c6_6 = c6_7 = c6_8 = c6_9 = c6_10 = c6_11 = c6_12 = c6_13 = c6_14 = c6_15 = c6_16 = c6_17 = c6_18 = c6_19 = c6_20 = c6_21 = c6_22 = c6_23 = c6_24 = c6_25 = c6_26 = c6_27 = c6_28 = c6_29 = c6_30 = c6_31 = z
    c7_0 = c7_1 = c7_2 = c7_3 = c7_4 = c7_5 = c7_6 = c7_7 = c7_8 = c7_9 = c7_10 = c7_11 = c7_12 = c7_13 = c7_14 = c7_15 = c7_16 = c7_17 = c7_18 = c7_19 = c7_20 = c7_21 = c7_22 = c7_23 = c7_24 = c7_25 = c7_26 = c7_27 = c7_28 = c7_29 = c7_30 = c7_31 = z
    c8_0 = c8_1 = c8_2 = c8_3 = c8_4 = c8_5 = c8_6 = c8_7 = c8_8 = c8_9 = c8_10 = c8_11 = c8_12 = c8_13 = c8_14 = c8_15 = c8_16 = c8_17 = c8_18 = c8_19 = c8_20 = c8_21 = c8_22 = c8_23 = c8_24 = c8_25 = c8_26 = c8_27 = c8_28 = c8_29 = c8_30 = c8_31 = z
    c9_0 = c9_1 = c9_2 = c9_3 = c9_4 = c9_5 = c9_6 = c9_7 = c9_8 = c9_9 = c9_10 = c9_11 = c9_12 = c9_13 = c9_14 = c9_15 = c9_16 = c9_17 = c9_18 = c9_19 = c9_20 = c9_21 = c9_22 = c9_23 = c9_24 = c9_25 = c9_26 = c9_27 = c9_28 = c9_29 = c9_30 = c9_31 = z
    ap = pa
    q = pb
    for _ in range(kc):
        b0 = B[q + _U0]; b1 = B[q + _U1]; b2 = B[q + _U2]; b3 = B[q + _U3]; b4 = B[q + _U4]; b5 = B[q + _U5]; b6 = B[q + _U6]; b7 = B[q + _U7]
        b8 = B[q + _U8]; b9 = B[q + _U9]; b10 = B[q + _U10]; b11 = B[q + _U11]; b12 = B[q + _U12]; b13 = B[q + _U13]; b14 = B[q + _U14]; b15 = B[q + _U15]
        b16 = B[q + _U16]; b17 = B[q + _U17]; b18 = B[q + _U18]; b19 = B[q + _U19]; b20 = B[q + _U20]; b21 = B[q + _U21]; b22 = B[q + _U22]; b23 = B[q + _U23]
        b24 = B[q + _U24]; b25 = B[q + _U25]; b26 = B[q + _U26]; b27 = B[q + _U27]; b28 = B[q + _U28]; b29 = B[q + _U29]; b30 = B[q + _U30]; b31 = B[q + _U31]
        a = A[ap + _U0]
        c0_0 += a * b0; c0_1 += a * b1; c0_2 += a * b2; c0_3 += a * b3; c0_4 += a * b4; c0_5 += a * b5; c0_6 += a * b6; c0_7 += a * b7
        c0_8 += a * b8; c0_9 += a * b9; c0_10 += a * b10; c0_11 += a * b11; c0_12 += a * b12; c0_13 += a * b13; c0_14 += a * b14; c0_15 += a * b15
        c0_16 += a * b16; c0_17 += a * b17; c0_18 += a * b18; c0_19 += a * b19; c0_20 += a * b20; c0_21 += a * b21; c0_22 += a * b22; c0_23 += a * b23
        c0_24 += a * b24; c0_25 += a * b25; c0_26 += a * b26; c0_27 += a * b27; c0_28 += a * b28; c0_29 += a * b29; c0_30 += a * b30; c0_31 += a * b31
        a = A[ap + _U1]
        c1_0 += a * b0; c1_1 += a * b1; c1_2 += a * b2; c1_3 += a * b3; c1_4 += a * b4; c1_5 += a * b5; c1_6 += a * b6; c1_7 += a * b7
        c1_8 += a * b8; c1_9 += a * b9; c1_10 += a * b10; c1_11 += a * b11; c1_12 += a * b12; c1_13 += a * b13; c1_14 += a * b14; c1_15 += a * b15
        c1_16 += a * b16; c1_17 += a * b17; c1_18 += a * b18; c1_19 += a * b19; c1_20 += a * b20; c1_21 += a * b21; c1_22 += a * b22; c1_23 += a * b23
        c1_24 += a * b24; c1_25 += a * b25; c1_26 += a * b26; c1_27 += a * b27; c1_28 += a * b28; c1_29 += a * b29; c1_30 += a * b30; c1_31 += a * b31
        a = A[ap + _U2]
        c2_0 += a * b0; c2_1 += a * b1; c2_2 += a * b2; c2_3 += a * b3; c2_4 += a * b4; c2_5 += a * b5; c2_6 += a * b6; c2_7 += a * b7
        c2_8 += a * b8; c2_9 += a * b9; c2_10 += a * b10; c2_11 += a * b11; c2_12 += a * b12; c2_13 += a * b13; c2_14 += a * b14; c2_15 += a * b15
        c2_16 += a * b16; c2_17 += a * b17; c2_18 += a * b18; c2_19 += a * b19; c2_20 += a * b20; c2_21 += a * b21; c2_22 += a * b22; c2_23 += a * b23
        c2_24 += a * b24; c2_25 += a * b25; c2_26 += a * b26; c2_27 += a * b27; c2_28 += a * b28; c2_29 += a * b29; c2_30 += a * b30; c2_31 += a * b31
        a = A[ap + _U3]
        c3_0 += a * b0; c3_1 += a * b1; c3_2 += a * b2; c3_3 += a * b3; c3_4 += a * b4; c3_5 += a * b5; c3_6 += a * b6; c3_7 += a * b7
        c3_8 += a * b8; c3_9 += a * b9; c3_10 += a * b10; c3_11 += a * b11; c3_12 += a * b12; c3_13 += a * b13; c3_14 += a * b14; c3_15 += a * b15
        c3_16 += a * b16; c3_17 += a * b17; c3_18 += a * b18; c3_19 += a * b19; c3_20 += a * b20; c3_21 += a * b21; c3_22 += a * b22; c3_23 += a * b23
        c3_24 += a * b24; c3_25 += a * b25; c3_26 += a * b26; c3_27 += a * b27; c3_28 += a * b28; c3_29 += a * b29; c3_30 += a * b30; c3_31 += a * b31
        a = A[ap + _U4]
        c4_0 += a * b0; c4_1 += a * b1; c4_2 += a * b2; c4_3 += a * b3; c4_4 += a * b4; c4_5 += a * b5; c4_6 += a * b6; c4_7 += a * b7
        c4_8 += a * b8; c4_9 += a * b9; c4_10 += a * b10; c4_11 += a * b11; c4_12 += a * b12; c4_13 += a * b13; c4_14 += a * b14; c4_15 += a * b15
        c4_16 += a * b16; c4_17 += a * b17; c4_18 += a * b18; c4_19 += a * b19; c4_20 += a * b20; c4_21 += a * b21; c4_22 += a * b22; c4_23 += a * b23
        c4_24 += a * b24; c4_25 += a * b25; c4_26 += a * b26; c4_27 += a * b27; c4_28 += a * b28; c4_29 += a * b29; c4_30 += a * b30; c4_31 += a * b31
        a = A[ap + _U5]
        c5_0 += a * b0; c5_1 += a * b1; c5_2 += a * b2; c5_3 += a * b3; c5_4 += a * b4; c5_5 += a * b5; c5_6 += a * b6; c5_7 += a * b7
        c5_8 += a * b8; c5_9 += a * b9; c5_10 += a * b10; c5_11 += a * b11; c5_12 += a * b12; c5_13 += a * b13; c5_14 += a * b14; c5_15 += a * b15
        c5_16 += a * b16; c5_17 += a * b17; c5_18 += a * b18; c5_19 += a * b19; c5_20 += a * b20; c5_21 += a * b21; c5_22 += a * b22; c5_23 += a * b23
        c5_24 += a * b24; c5_25 += a * b25; c5_26 += a * b26; c5_27 += a * b27; c5_28 += a * b28; c5_29 += a * b29; c5_30 += a * b30; c5_31 += a * b31
        a = A[ap + _U6]
        c6_0 += a * b0; c6_1 += a * b1; c6_2 += a * b2; c6_3 += a * b3; c6_4 += a * b4; c6_5 += a * b5; c6_6 += a * b6; c6_7 += a * b7
        c6_8 += a * b8; c6_9 += a * b9; c6_10 += a * b10; c6_11 += a * b11; c6_12 += a * b12; c6_13 += a * b13; c6_14 += a * b14; c6_15 += a * b15
        c6_16 += a * b16; c6_17 += a * b17; c6_18 += a * b18; c6_19 += a * b19; c6_20 += a * b20; c6_21 += a * b21; c6_22 += a * b22; c6_23 += a * b23
        c6_24 += a * b24; c6_25 += a * b25; c6_26 += a * b26; c6_27 += a * b27; c6_28 += a * b28; c6_29 += a * b29; c6_30 += a * b30; c6_31 += a * b31
        a = A[ap + _U7]
        c7_0 += a * b0; c7_1 += a * b1; c7_2 += a * b2; c7_3 += a * b3; c7_4 += a * b4; c7_5 += a * b5; c7_6 += a * b6; c7_7 += a * b7
        c7_8 += a * b8; c7_9 += a * b9; c7_10 += a * b10; c7_11 += a * b11; c7_12 += a * b12; c7_13 += a * b13; c7_14 += a * b14; c7_15 += a * b15
        c7_16 += a * b16; c7_17 += a * b17; c7_18 += a * b18; c7_19 += a * b19; c7_20 += a * b20; c7_21 += a * b21; c7_22 += a * b22; c7_23 += a * b23
        c7_24 += a * b24; c7_25 += a * b25; c7_26 += a * b26; c7_27 += a * b27; c7_28 += a * b28; c7_29 += a * b29; c7_30 += a * b30; c7_31 += a * b31
        a = A[ap + _U8]
        c8_0 += a * b0; c8_1 += a * b1; c8_2 += a * b2; c8_3 += a * b3; c8_4 += a * b4; c8_5 += a * b5; c8_6 += a * b6; c8_7 += a * b7
        c8_8 += a * b8; c8_9 += a * b9; c8_10 += a * b10; c8_11 += a * b11; c8_12 += a * b12; c8_13 += a * b13; c8_14 += a * b14; c8_15 += a * b15
        c8_16 += a * b16; c8_17 += a * b17; c8_18 += a * b18; c8_19 += a * b19; c8_20 += a * b20; c8_21 += a * b21; c8_22 += a * b22; c8_23 += a * b23
        c8_24 += a * b24; c8_25 += a * b25; c8_26 += a * b26; c8_27 += a * b27; c8_28 += a * b28; c8_29 += a * b29; c8_30 += a * b30; c8_31 += a * b31
        a = A[ap + _U9]
        c9_0 += a * b0; c9_1 += a * b1; c9_2 += a * b2; c9_3 += a * b3; c9_4 += a * b4; c9_5 += a * b5; c9_6 += a * b6; c9_7 += a * b7
        c9_8 += a * b8; c9_9 += a * b9; c9_10 += a * b10; c9_11 += a * b11; c9_12 += a * b12; c9_13 += a * b13; c9_14 += a * b14; c9_15 += a * b15
        c9_16 += a * b16; c9_17 += a * b17; c9_18 += a * b18; c9_19 += a * b19; c9_20 += a * b20; c9_21 += a * b21; c9_22 += a * b22; c9_23 += a * b23
        c9_24 += a * b24; c9_25 += a * b25; c9_26 += a * b26; c9_27 += a * b27; c9_28 += a * b28; c9_29 += a * b29; c9_30 += a * b30; c9_31 += a * b31
        ap += csa
        q += rsb
    # write-back and fused epilogue, straight from the accumulators
    last = rows - _U1
    o0 = pc + min(_U0, last) * ldc
    o1 = pc + min(_U1, last) * ldc
    o2 = pc + min(_U2, last) * ldc
    o3 = pc + min(_U3, last) * ldc
    o4 = pc + min(_U4, last) * ldc
    o5 = pc + min(_U5, last) * ldc
    o6 = pc + min(_U6, last) * ldc
    o7 = pc + min(_U7, last) * ldc
    o8 = pc + min(_U8, last) * ldc
    o9 = pc + min(_U9, last) * ldc
    if accumulate:
        c0_0 += C[o0 + _U0]; c0_1 += C[o0 + _U1]; c0_2 += C[o0 + _U2]; c0_3 += C[o0 + _U3]; c0_4 += C[o0 + _U4]; c0_5 += C[o0 + _U5]; c0_6 += C[o0 + _U6]; c0_7 += C[o0 + _U7]
        c0_8 += C[o0 + _U8]; c0_9 += C[o0 + _U9]; c0_10 += C[o0 + _U10]; c0_11 += C[o0 + _U11]; c0_12 += C[o0 + _U12]; c0_13 += C[o0 + _U13]; c0_14 += C[o0 + _U14]; c0_15 += C[o0 + _U15]
        c0_16 += C[o0 + _U16]; c0_17 += C[o0 + _U17]; c0_18 += C[o0 + _U18]; c0_19 += C[o0 + _U19]; c0_20 += C[o0 + _U20]; c0_21 += C[o0 + _U21]; c0_22 += C[o0 + _U22]; c0_23 += C[o0 + _U23]
        c0_24 += C[o0 + _U24]; c0_25 += C[o0 + _U25]; c0_26 += C[o0 + _U26]; c0_27 += C[o0 + _U27]; c0_28 += C[o0 + _U28]; c0_29 += C[o0 + _U29]; c0_30 += C[o0 + _U30]; c0_31 += C[o0 + _U31]
        c1_0 += C[o1 + _U0]; c1_1 += C[o1 + _U1]; c1_2 += C[o1 + _U2]; c1_3 += C[o1 + _U3]; c1_4 += C[o1 + _U4]; c1_5 += C[o1 + _U5]; c1_6 += C[o1 + _U6]; c1_7 += C[o1 + _U7]
        c1_8 += C[o1 + _U8]; c1_9 += C[o1 + _U9]; c1_10 += C[o1 + _U10]; c1_11 += C[o1 + _U11]; c1_12 += C[o1 + _U12]; c1_13 += C[o1 + _U13]; c1_14 += C[o1 + _U14]; c1_15 += C[o1 + _U15]
        c1_16 += C[o1 + _U16]; c1_17 += C[o1 + _U17]; c1_18 += C[o1 + _U18]; c1_19 += C[o1 + _U19]; c1_20 += C[o1 + _U20]; c1_21 += C[o1 + _U21]; c1_22 += C[o1 + _U22]; c1_23 += C[o1 + _U23]
        c1_24 += C[o1 + _U24]; c1_25 += C[o1 + _U25]; c1_26 += C[o1 + _U26]; c1_27 += C[o1 + _U27]; c1_28 += C[o1 + _U28]; c1_29 += C[o1 + _U29]; c1_30 += C[o1 + _U30]; c1_31 += C[o1 + _U31]
        c2_0 += C[o2 + _U0]; c2_1 += C[o2 + _U1]; c2_2 += C[o2 + _U2]; c2_3 += C[o2 + _U3]; c2_4 += C[o2 + _U4]; c2_5 += C[o2 + _U5]; c2_6 += C[o2 + _U6]; c2_7 += C[o2 + _U7]
        c2_8 += C[o2 + _U8]; c2_9 += C[o2 + _U9]; c2_10 += C[o2 + _U10]; c2_11 += C[o2 + _U11]; c2_12 += C[o2 + _U12]; c2_13 += C[o2 + _U13]; c2_14 += C[o2 + _U14]; c2_15 += C[o2 + _U15]
        c2_16 += C[o2 + _U16]; c2_17 += C[o2 + _U17]; c2_18 += C[o2 + _U18]; c2_19 += C[o2 + _U19]; c2_20 += C[o2 + _U20]; c2_21 += C[o2 + _U21]; c2_22 += C[o2 + _U22]; c2_23 += C[o2 + _U23]
        c2_24 += C[o2 + _U24]; c2_25 += C[o2 + _U25]; c2_26 += C[o2 + _U26]; c2_27 += C[o2 + _U27]; c2_28 += C[o2 + _U28]; c2_29 += C[o2 + _U29]; c2_30 += C[o2 + _U30]; c2_31 += C[o2 + _U31]
        c3_0 += C[o3 + _U0]; c3_1 += C[o3 + _U1]; c3_2 += C[o3 + _U2]; c3_3 += C[o3 + _U3]; c3_4 += C[o3 + _U4]; c3_5 += C[o3 + _U5]; c3_6 += C[o3 + _U6]; c3_7 += C[o3 + _U7]
        c3_8 += C[o3 + _U8]; c3_9 += C[o3 + _U9]; c3_10 += C[o3 + _U10]; c3_11 += C[o3 + _U11]; c3_12 += C[o3 + _U12]; c3_13 += C[o3 + _U13]; c3_14 += C[o3 + _U14]; c3_15 += C[o3 + _U15]
        c3_16 += C[o3 + _U16]; c3_17 += C[o3 + _U17]; c3_18 += C[o3 + _U18]; c3_19 += C[o3 + _U19]; c3_20 += C[o3 + _U20]; c3_21 += C[o3 + _U21]; c3_22 += C[o3 + _U22]; c3_23 += C[o3 + _U23]
        c3_24 += C[o3 + _U24]; c3_25 += C[o3 + _U25]; c3_26 += C[o3 + _U26]; c3_27 += C[o3 + _U27]; c3_28 += C[o3 + _U28]; c3_29 += C[o3 + _U29]; c3_30 += C[o3 + _U30]; c3_31 += C[o3 + _U31]
        c4_0 += C[o4 + _U0]; c4_1 += C[o4 + _U1]; c4_2 += C[o4 + _U2]; c4_3 += C[o4 + _U3]; c4_4 += C[o4 + _U4]; c4_5 += C[o4 + _U5]; c4_6 += C[o4 + _U6]; c4_7 += C[o4 + _U7]
        c4_8 += C[o4 + _U8]; c4_9 += C[o4 + _U9]; c4_10 += C[o4 + _U10]; c4_11 += C[o4 + _U11]; c4_12 += C[o4 + _U12]; c4_13 += C[o4 + _U13]; c4_14 += C[o4 + _U14]; c4_15 += C[o4 + _U15]
        c4_16 += C[o4 + _U16]; c4_17 += C[o4 + _U17]; c4_18 += C[o4 + _U18]; c4_19 += C[o4 + _U19]; c4_20 += C[o4 + _U20]; c4_21 += C[o4 + _U21]; c4_22 += C[o4 + _U22]; c4_23 += C[o4 + _U23]
        c4_24 += C[o4 + _U24]; c4_25 += C[o4 + _U25]; c4_26 += C[o4 + _U26]; c4_27 += C[o4 + _U27]; c4_28 += C[o4 + _U28]; c4_29 += C[o4 + _U29]; c4_30 += C[o4 + _U30]; c4_31 += C[o4 + _U31]
        c5_0 += C[o5 + _U0]; c5_1 += C[o5 + _U1]; c5_2 += C[o5 + _U2]; c5_3 += C[o5 + _U3]; c5_4 += C[o5 + _U4]; c5_5 += C[o5 + _U5]; c5_6 += C[o5 + _U6]; c5_7 += C[o5 + _U7]
        c5_8 += C[o5 + _U8]; c5_9 += C[o5 + _U9]; c5_10 += C[o5 + _U10]; c5_11 += C[o5 + _U11]; c5_12 += C[o5 + _U12]; c5_13 += C[o5 + _U13]; c5_14 += C[o5 + _U14]; c5_15 += C[o5 + _U15]
        c5_16 += C[o5 + _U16]; c5_17 += C[o5 + _U17]; c5_18 += C[o5 + _U18]; c5_19 += C[o5 + _U19]; c5_20 += C[o5 + _U20]; c5_21 += C[o5 + _U21]; c5_22 += C[o5 + _U22]; c5_23 += C[o5 + _U23]
        c5_24 += C[o5 + _U24]; c5_25 += C[o5 + _U25]; c5_26 += C[o5 + _U26]; c5_27 += C[o5 + _U27]; c5_28 += C[o5 + _U28]; c5_29 += C[o5 + _U29]; c5_30 += C[o5 + _U30]; c5_31 += C[o5 + _U31]
        c6_0 += C[o6 + _U0]; c6_1 += C[o6 + _U1]; c6_2 += C[o6 + _U2]; c6_3 += C[o6 + _U3]; c6_4 += C[o6 + _U4]; c6_5 += C[o6 + _U5]; c6_6 += C[o6 + _U6]; c6_7 += C[o6 + _U7]
        c6_8 += C[o6 + _U8]; c6_9 += C[o6 + _U9]; c6_10 += C[o6 + _U10]; c6_11 += C[o6 + _U11]; c6_12 += C[o6 + _U12]; c6_13 += C[o6 + _U13]; c6_14 += C[o6 + _U14]; c6_15 += C[o6 + _U15]
        c6_16 += C[o6 + _U16]; c6_17 += C[o6 + _U17]; c6_18 += C[o6 + _U18]; c6_19 += C[o6 + _U19]; c6_20 += C[o6 + _U20]; c6_21 += C[o6 + _U21]; c6_22 += C[o6 + _U22]; c6_23 += C[o6 + _U23]
        c6_24 += C[o6 + _U24]; c6_25 += C[o6 + _U25]; c6_26 += C[o6 + _U26]; c6_27 += C[o6 + _U27]; c6_28 += C[o6 + _U28]; c6_29 += C[o6 + _U29]; c6_30 += C[o6 + _U30]; c6_31 += C[o6 + _U31]
        c7_0 += C[o7 + _U0]; c7_1 += C[o7 + _U1]; c7_2 += C[o7 + _U2]; c7_3 += C[o7 + _U3]; c7_4 += C[o7 + _U4]; c7_5 += C[o7 + _U5]; c7_6 += C[o7 + _U6]; c7_7 += C[o7 + _U7]
        c7_8 += C[o7 + _U8]; c7_9 += C[o7 + _U9]; c7_10 += C[o7 + _U10]; c7_11 += C[o7 + _U11]; c7_12 += C[o7 + _U12]; c7_13 += C[o7 + _U13]; c7_14 += C[o7 + _U14]; c7_15 += C[o7 + _U15]
        c7_16 += C[o7 + _U16]; c7_17 += C[o7 + _U17]; c7_18 += C[o7 + _U18]; c7_19 += C[o7 + _U19]; c7_20 += C[o7 + _U20]; c7_21 += C[o7 + _U21]; c7_22 += C[o7 + _U22]; c7_23 += C[o7 + _U23]
        c7_24 += C[o7 + _U24]; c7_25 += C[o7 + _U25]; c7_26 += C[o7 + _U26]; c7_27 += C[o7 + _U27]; c7_28 += C[o7 + _U28]; c7_29 += C[o7 + _U29]; c7_30 += C[o7 + _U30]; c7_31 += C[o7 + _U31]
        c8_0 += C[o8 + _U0]; c8_1 += C[o8 + _U1]; c8_2 += C[o8 + _U2]; c8_3 += C[o8 + _U3]; c8_4 += C[o8 + _U4]; c8_5 += C[o8 + _U5]; c8_6 += C[o8 + _U6]; c8_7 += C[o8 + _U7]
        c8_8 += C[o8 + _U8]; c8_9 += C[o8 + _U9]; c8_10 += C[o8 + _U10]; c8_11 += C[o8 + _U11]; c8_12 += C[o8 + _U12]; c8_13 += C[o8 + _U13]; c8_14 += C[o8 + _U14]; c8_15 += C[o8 + _U15]
        c8_16 += C[o8 + _U16]; c8_17 += C[o8 + _U17]; c8_18 += C[o8 + _U18]; c8_19 += C[o8 + _U19]; c8_20 += C[o8 + _U20]; c8_21 += C[o8 + _U21]; c8_22 += C[o8 + _U22]; c8_23 += C[o8 + _U23]
        c8_24 += C[o8 + _U24]; c8_25 += C[o8 + _U25]; c8_26 += C[o8 + _U26]; c8_27 += C[o8 + _U27]; c8_28 += C[o8 + _U28]; c8_29 += C[o8 + _U29]; c8_30 += C[o8 + _U30]; c8_31 += C[o8 + _U31]
        c9_0 += C[o9 + _U0]; c9_1 += C[o9 + _U1]; c9_2 += C[o9 + _U2]; c9_3 += C[o9 + _U3]; c9_4 += C[o9 + _U4]; c9_5 += C[o9 + _U5]; c9_6 += C[o9 + _U6]; c9_7 += C[o9 + _U7]
        c9_8 += C[o9 + _U8]; c9_9 += C[o9 + _U9]; c9_10 += C[o9 + _U10]; c9_11 += C[o9 + _U11]; c9_12 += C[o9 + _U12]; c9_13 += C[o9 + _U13]; c9_14 += C[o9 + _U14]; c9_15 += C[o9 + _U15]
        c9_16 += C[o9 + _U16]; c9_17 += C[o9 + _U17]; c9_18 += C[o9 + _U18]; c9_19 += C[o9 + _U19]; c9_20 += C[o9 + _U20]; c9_21 += C[o9 + _U21]; c9_22 += C[o9 + _U22]; c9_23 += C[o9 + _U23]
        c9_24 += C[o9 + _U24]; c9_25 += C[o9 + _U25]; c9_26 += C[o9 + _U26]; c9_27 += C[o9 + _U27]; c9_28 += C[o9 + _U28]; c9_29 += C[o9 + _U29]; c9_30 += C[o9 + _U30]; c9_31 += C[o9 + _U31]
    if use_bias:
        b0 = bias[jb + _U0]; b1 = bias[jb + _U1]; b2 = bias[jb + _U2]; b3 = bias[jb + _U3]; b4 = bias[jb + _U4]; b5 = bias[jb + _U5]; b6 = bias[jb + _U6]; b7 = bias[jb + _U7]
        b8 = bias[jb + _U8]; b9 = bias[jb + _U9]; b10 = bias[jb + _U10]; b11 = bias[jb + _U11]; b12 = bias[jb + _U12]; b13 = bias[jb + _U13]; b14 = bias[jb + _U14]; b15 = bias[jb + _U15]
        b16 = bias[jb + _U16]; b17 = bias[jb + _U17]; b18 = bias[jb + _U18]; b19 = bias[jb + _U19]; b20 = bias[jb + _U20]; b21 = bias[jb + _U21]; b22 = bias[jb + _U22]; b23 = bias[jb + _U23]
        b24 = bias[jb + _U24]; b25 = bias[jb + _U25]; b26 = bias[jb + _U26]; b27 = bias[jb + _U27]; b28 = bias[jb + _U28]; b29 = bias[jb + _U29]; b30 = bias[jb + _U30]; b31 = bias[jb + _U31]
        c0_0 += b0; c0_1 += b1; c0_2 += b2; c0_3 += b3; c0_4 += b4; c0_5 += b5; c0_6 += b6; c0_7 += b7
        c0_8 += b8; c0_9 += b9; c0_10 += b10; c0_11 += b11; c0_12 += b12; c0_13 += b13; c0_14 += b14; c0_15 += b15
        c0_16 += b16; c0_17 += b17; c0_18 += b18; c0_19 += b19; c0_20 += b20; c0_21 += b21; c0_22 += b22; c0_23 += b23
        c0_24 += b24; c0_25 += b25; c0_26 += b26; c0_27 += b27; c0_28 += b28; c0_29 += b29; c0_30 += b30; c0_31 += b31
        c1_0 += b0; c1_1 += b1; c1_2 += b2; c1_3 += b3; c1_4 += b4; c1_5 += b5; c1_6 += b6; c1_7 += b7
        c1_8 += b8; c1_9 += b9; c1_10 += b10; c1_11 += b11; c1_12 += b12; c1_13 += b13; c1_14 += b14; c1_15 += b15
        c1_16 += b16; c1_17 += b17; c1_18 += b18; c1_19 += b19; c1_20 += b20; c1_21 += b21; c1_22 += b22; c1_23 += b23
        c1_24 += b24; c1_25 += b25; c1_26 += b26; c1_27 += b27; c1_28 += b28; c1_29 += b29; c1_30 += b30; c1_31 += b31
        c2_0 += b0; c2_1 += b1; c2_2 += b2; c2_3 += b3; c2_4 += b4; c2_5 += b5; c2_6 += b6; c2_7 += b7
        c2_8 += b8; c2_9 += b9; c2_10 += b10; c2_11 += b11; c2_12 += b12; c2_13 += b13; c2_14 += b14; c2_15 += b15
        c2_16 += b16; c2_17 += b17; c2_18 += b18; c2_19 += b19; c2_20 += b20; c2_21 += b21; c2_22 += b22; c2_23 += b23
        c2_24 += b24; c2_25 += b25; c2_26 += b26; c2_27 += b27; c2_28 += b28; c2_29 += b29; c2_30 += b30; c2_31 += b31
        c3_0 += b0; c3_1 += b1; c3_2 += b2; c3_3 += b3; c3_4 += b4; c3_5 += b5; c3_6 += b6; c3_7 += b7
        c3_8 += b8; c3_9 += b9; c3_10 += b10; c3_11 += b11; c3_12 += b12; c3_13 += b13; c3_14 += b14; c3_15 += b15
        c3_16 += b16; c3_17 += b17; c3_18 += b18; c3_19 += b19; c3_20 += b20; c3_21 += b21; c3_22 += b22; c3_23 += b23
        c3_24 += b24; c3_25 += b25; c3_26 += b26; c3_27 += b27; c3_28 += b28; c3_29 += b29; c3_30 += b30; c3_31 += b31
        c4_0 += b0; c4_1 += b1; c4_2 += b2; c4_3 += b3; c4_4 += b4; c4_5 += b5; c4_6 += b6; c4_7 += b7
        c4_8 += b8; c4_9 += b9; c4_10 += b10; c4_11 += b11; c4_12 += b12; c4_13 += b13; c4_14 += b14; c4_15 += b15
        c4_16 += b16; c4_17 += b17; c4_18 += b18; c4_19 += b19; c4_20 += b20; c4_21 += b21; c4_22 += b22; c4_23 += b23
        c4_24 += b24; c4_25 += b25; c4_26 += b26; c4_27 += b27; c4_28 += b28; c4_29 += b29; c4_30 += b30; c4_31 += b31
        c5_0 += b0; c5_1 += b1; c5_2 += b2; c5_3 += b3; c5_4 += b4; c5_5 += b5; c5_6 += b6; c5_7 += b7
        c5_8 += b8; c5_9 += b9; c5_10 += b10; c5_11 += b11; c5_12 += b12; c5_13 += b13; c5_14 += b14; c5_15 += b15
        c5_16 += b16; c5_17 += b17; c5_18 += b18; c5_19 += b19; c5_20 += b20; c5_21 += b21; c5_22 += b22; c5_23 += b23
        c5_24 += b24; c5_25 += b25; c5_26 += b26; c5_27 += b27; c5_28 += b28; c5_29 += b29; c5_30 += b30; c5_31 += b31
        c6_0 += b0; c6_1 += b1; c6_2 += b2; c6_3 += b3; c6_4 += b4; c6_5 += b5; c6_6 += b6; c6_7 += b7
        c6_8 += b8; c6_9 += b9; c6_10 += b10; c6_11 += b11; c6_12 += b12; c6_13 += b13; c6_14 += b14; c6_15 += b15
        c6_16 += b16; c6_17 += b17; c6_18 += b18; c6_19 += b19; c6_20 += b20; c6_21 += b21; c6_22 += b22; c6_23 += b23
        c6_24 += b24; c6_25 += b25; c6_26 += b26; c6_27 += b27; c6_28 += b28; c6_29 += b29; c6_30 += b30; c6_31 += b31
        c7_0 += b0; c7_1 += b1; c7_2 += b2; c7_3 += b3; c7_4 += b4; c7_5 += b5; c7_6 += b6; c7_7 += b7
        c7_8 += b8; c7_9 += b9; c7_10 += b10; c7_11 += b11; c7_12 += b12; c7_13 += b13; c7_14 += b14; c7_15 += b15
        c7_16 += b16; c7_17 += b17; c7_18 += b18; c7_19 += b19; c7_20 += b20; c7_21 += b21; c7_22 += b22; c7_23 += b23
        c7_24 += b24; c7_25 += b25; c7_26 += b26; c7_27 += b27; c7_28 += b28; c7_29 += b29; c7_30 += b30; c7_31 += b31
        c8_0 += b0; c8_1 += b1; c8_2 += b2; c8_3 += b3; c8_4 += b4; c8_5 += b5; c8_6 += b6; c8_7 += b7
        c8_8 += b8; c8_9 += b9; c8_10 += b10; c8_11 += b11; c8_12 += b12; c8_13 += b13; c8_14 += b14; c8_15 += b15
        c8_16 += b16; c8_17 += b17; c8_18 += b18; c8_19 += b19; c8_20 += b20; c8_21 += b21; c8_22 += b22; c8_23 += b23
        c8_24 += b24; c8_25 += b25; c8_26 += b26; c8_27 += b27; c8_28 += b28; c8_29 += b29; c8_30 += b30; c8_31 += b31
        c9_0 += b0; c9_1 += b1; c9_2 += b2; c9_3 += b3; c9_4 += b4; c9_5 += b5; c9_6 += b6; c9_7 += b7
        c9_8 += b8; c9_9 += b9; c9_10 += b10; c9_11 += b11; c9_12 += b12; c9_13 += b13; c9_14 += b14; c9_15 += b15
        c9_16 += b16; c9_17 += b17; c9_18 += b18; c9_19 += b19; c9_20 += b20; c9_21 += b21; c9_22 += b22; c9_23 += b23
        c9_24 += b24; c9_25 += b25; c9_26 += b26; c9_27 += b27; c9_28 += b28; c9_29 += b29; c9_30 += b30; c9_31 += b31
    if relu:
        c0_0 = max(c0_0, z); c0_1 = max(c0_1, z); c0_2 = max(c0_2, z); c0_3 = max(c0_3, z); c0_4 = max(c0_4, z); c0_5 = max(c0_5, z); c0_6 = max(c0_6, z); c0_7 = max(c0_7, z)
        c0_8 = max(c0_8, z); c0_9 = max(c0_9, z); c0_10 = max(c0_10, z); c0_11 = max(c0_11, z); c0_12 = max(c0_12, z); c0_13 = max(c0_13, z); c0_14 = max(c0_14, z); c0_15 = max(c0_15, z)
        c0_16 = max(c0_16, z); c0_17 = max(c0_17, z); c0_18 = max(c0_18, z); c0_19 = max(c0_19, z); c0_20 = max(c0_20, z); c0_21 = max(c0_21, z); c0_22 = max(c0_22, z); c0_23 = max(c0_23, z)
        c0_24 = max(c0_24, z); c0_25 = max(c0_25, z); c0_26 = max(c0_26, z); c0_27 = max(c0_27, z); c0_28 = max(c0_28, z); c0_29 = max(c0_29, z); c0_30 = max(c0_30, z); c0_31 = max(c0_31, z)
        c1_0 = max(c1_0, z); c1_1 = max(c1_1, z); c1_2 = max(c1_2, z); c1_3 = max(c1_3, z); c1_4 = max(c1_4, z); c1_5 = max(c1_5, z); c1_6 = max(c1_6, z); c1_7 = max(c1_7, z)
        c1_8 = max(c1_8, z); c1_9 = max(c1_9, z); c1_10 = max(c1_10, z); c1_11 = max(c1_11, z); c1_12 = max(c1_12, z); c1_13 = max(c1_13, z); c1_14 = max(c1_14, z); c1_15 = max(c1_15, z)
        c1_16 = max(c1_16, z); c1_17 = max(c1_17, z); c1_18 = max(c1_18, z); c1_19 = max(c1_19, z); c1_20 = max(c1_20, z); c1_21 = max(c1_21, z); c1_22 = max(c1_22, z); c1_23 = max(c1_23, z)
        c1_24 = max(c1_24, z); c1_25 = max(c1_25, z); c1_26 = max(c1_26, z); c1_27 = max(c1_27, z); c1_28 = max(c1_28, z); c1_29 = max(c1_29, z); c1_30 = max(c1_30, z); c1_31 = max(c1_31, z)
        c2_0 = max(c2_0, z); c2_1 = max(c2_1, z); c2_2 = max(c2_2, z); c2_3 = max(c2_3, z); c2_4 = max(c2_4, z); c2_5 = max(c2_5, z); c2_6 = max(c2_6, z); c2_7 = max(c2_7, z)
        c2_8 = max(c2_8, z); c2_9 = max(c2_9, z); c2_10 = max(c2_10, z); c2_11 = max(c2_11, z); c2_12 = max(c2_12, z); c2_13 = max(c2_13, z); c2_14 = max(c2_14, z); c2_15 = max(c2_15, z)
        c2_16 = max(c2_16, z); c2_17 = max(c2_17, z); c2_18 = max(c2_18, z); c2_19 = max(c2_19, z); c2_20 = max(c2_20, z); c2_21 = max(c2_21, z); c2_22 = max(c2_22, z); c2_23 = max(c2_23, z)
        c2_24 = max(c2_24, z); c2_25 = max(c2_25, z); c2_26 = max(c2_26, z); c2_27 = max(c2_27, z); c2_28 = max(c2_28, z); c2_29 = max(c2_29, z); c2_30 = max(c2_30, z); c2_31 = max(c2_31, z)
        c3_0 = max(c3_0, z); c3_1 = max(c3_1, z); c3_2 = max(c3_2, z); c3_3 = max(c3_3, z); c3_4 = max(c3_4, z); c3_5 = max(c3_5, z); c3_6 = max(c3_6, z); c3_7 = max(c3_7, z)
        c3_8 = max(c3_8, z); c3_9 = max(c3_9, z); c3_10 = max(c3_10, z); c3_11 = max(c3_11, z); c3_12 = max(c3_12, z); c3_13 = max(c3_13, z); c3_14 = max(c3_14, z); c3_15 = max(c3_15, z)
        c3_16 = max(c3_16, z); c3_17 = max(c3_17, z); c3_18 = max(c3_18, z); c3_19 = max(c3_19, z); c3_20 = max(c3_20, z); c3_21 = max(c3_21, z); c3_22 = max(c3_22, z); c3_23 = max(c3_23, z)
        c3_24 = max(c3_24, z); c3_25 = max(c3_25, z); c3_26 = max(c3_26, z); c3_27 = max(c3_27, z); c3_28 = max(c3_28, z); c3_29 = max(c3_29, z); c3_30 = max(c3_30, z); c3_31 = max(c3_31, z)
        c4_0 = max(c4_0, z); c4_1 = max(c4_1, z); c4_2 = max(c4_2, z); c4_3 = max(c4_3, z); c4_4 = max(c4_4, z); c4_5 = max(c4_5, z); c4_6 = max(c4_6, z); c4_7 = max(c4_7, z)
        c4_8 = max(c4_8, z); c4_9 = max(c4_9, z); c4_10 = max(c4_10, z); c4_11 = max(c4_11, z); c4_12 = max(c4_12, z); c4_13 = max(c4_13, z); c4_14 = max(c4_14, z); c4_15 = max(c4_15, z)
        c4_16 = max(c4_16, z); c4_17 = max(c4_17, z); c4_18 = max(c4_18, z); c4_19 = max(c4_19, z); c4_20 = max(c4_20, z); c4_21 = max(c4_21, z); c4_22 = max(c4_22, z); c4_23 = max(c4_23, z)
        c4_24 = max(c4_24, z); c4_25 = max(c4_25, z); c4_26 = max(c4_26, z); c4_27 = max(c4_27, z); c4_28 = max(c4_28, z); c4_29 = max(c4_29, z); c4_30 = max(c4_30, z); c4_31 = max(c4_31, z)
        c5_0 = max(c5_0, z); c5_1 = max(c5_1, z); c5_2 = max(c5_2, z); c5_3 = max(c5_3, z); c5_4 = max(c5_4, z); c5_5 = max(c5_5, z); c5_6 = max(c5_6, z); c5_7 = max(c5_7, z)
        c5_8 = max(c5_8, z); c5_9 = max(c5_9, z); c5_10 = max(c5_10, z); c5_11 = max(c5_11, z); c5_12 = max(c5_12, z); c5_13 = max(c5_13, z); c5_14 = max(c5_14, z); c5_15 = max(c5_15, z)
        c5_16 = max(c5_16, z); c5_17 = max(c5_17, z); c5_18 = max(c5_18, z); c5_19 = max(c5_19, z); c5_20 = max(c5_20, z); c5_21 = max(c5_21, z); c5_22 = max(c5_22, z); c5_23 = max(c5_23, z)
        c5_24 = max(c5_24, z); c5_25 = max(c5_25, z); c5_26 = max(c5_26, z); c5_27 = max(c5_27, z); c5_28 = max(c5_28, z); c5_29 = max(c5_29, z); c5_30 = max(c5_30, z); c5_31 = max(c5_31, z)
        c6_0 = max(c6_0, z); c6_1 = max(c6_1, z); c6_2 = max(c6_2, z); c6_3 = max(c6_3, z); c6_4 = max(c6_4, z); c6_5 = max(c6_5, z); c6_6 = max(c6_6, z); c6_7 = max(c6_7, z)
        c6_8 = max(c6_8, z); c6_9 = max(c6_9, z); c6_10 = max(c6_10, z); c6_11 = max(c6_11, z); c6_12 = max(c6_12, z); c6_13 = max(c6_13, z); c6_14 = max(c6_14, z); c6_15 = max(c6_15, z)
        c6_16 = max(c6_16, z); c6_17 = max(c6_17, z); c6_18 = max(c6_18, z); c6_19 = max(c6_19, z); c6_20 = max(c6_20, z); c6_21 = max(c6_21, z); c6_22 = max(c6_22, z); c6_23 = max(c6_23, z)
        c6_24 = max(c6_24, z); c6_25 = max(c6_25, z); c6_26 = max(c6_26, z); c6_27 = max(c6_27, z); c6_28 = max(c6_28, z); c6_29 = max(c6_29, z); c6_30 = max(c6_30, z); c6_31 = max(c6_31, z)
        c7_0 = max(c7_0, z); c7_1 = max(c7_1, z); c7_2 = max(c7_2, z); c7_3 = max(c7_3, z); c7_4 = max(c7_4, z); c7_5 = max(c7_5, z); c7_6 = max(c7_6, z); c7_7 = max(c7_7, z)
        c7_8 = max(c7_8, z); c7_9 = max(c7_9, z); c7_10 = max(c7_10, z); c7_11 = max(c7_11, z); c7_12 = max(c7_12, z); c7_13 = max(c7_13, z); c7_14 = max(c7_14, z); c7_15 = max(c7_15, z)
        c7_16 = max(c7_16, z); c7_17 = max(c7_17, z); c7_18 = max(c7_18, z); c7_19 = max(c7_19, z); c7_20 = max(c7_20, z); c7_21 = max(c7_21, z); c7_22 = max(c7_22, z); c7_23 = max(c7_23, z)
        c7_24 = max(c7_24, z); c7_25 = max(c7_25, z); c7_26 = max(c7_26, z); c7_27 = max(c7_27, z); c7_28 = max(c7_28, z); c7_29 = max(c7_29, z); c7_30 = max(c7_30, z); c7_31 = max(c7_31, z)
        c8_0 = max(c8_0, z); c8_1 = max(c8_1, z); c8_2 = max(c8_2, z); c8_3 = max(c8_3, z); c8_4 = max(c8_4, z); c8_5 = max(c8_5, z); c8_6 = max(c8_6, z); c8_7 = max(c8_7, z)
        c8_8 = max(c8_8, z); c8_9 = max(c8_9, z); c8_10 = max(c8_10, z); c8_11 = max(c8_11, z); c8_12 = max(c8_12, z); c8_13 = max(c8_13, z); c8_14 = max(c8_14, z); c8_15 = max(c8_15, z)
        c8_16 = max(c8_16, z); c8_17 = max(c8_17, z); c8_18 = max(c8_18, z); c8_19 = max(c8_19, z); c8_20 = max(c8_20, z); c8_21 = max(c8_21, z); c8_22 = max(c8_22, z); c8_23 = max(c8_23, z)
        c8_24 = max(c8_24, z); c8_25 = max(c8_25, z); c8_26 = max(c8_26, z); c8_27 = max(c8_27, z); c8_28 = max(c8_28, z); c8_29 = max(c8_29, z); c8_30 = max(c8_30, z); c8_31 = max(c8_31, z)
        c9_0 = max(c9_0, z); c9_1 = max(c9_1, z); c9_2 = max(c9_2, z); c9_3 = max(c9_3, z); c9_4 = max(c9_4, z); c9_5 = max(c9_5, z); c9_6 = max(c9_6, z); c9_7 = max(c9_7, z)
        c9_8 = max(c9_8, z); c9_9 = max(c9_9, z); c9_10 = max(c9_10, z); c9_11 = max(c9_11, z); c9_12 = max(c9_12, z); c9_13 = max(c9_13, z); c9_14 = max(c9_14, z); c9_15 = max(c9_15, z)
        c9_16 = max(c9_16, z); c9_17 = max(c9_17, z); c9_18 = max(c9_18, z); c9_19 = max(c9_19, z); c9_20 = max(c9_20, z); c9_21 = max(c9_21, z); c9_22 = max(c9_22, z); c9_23 = max(c9_23, z)
        c9_24 = max(c9_24, z); c9_25 = max(c9_25, z); c9_26 = max(c9_26, z); c9_27 = max(c9_27, z); c9_28 = max(c9_28, z); c9_29 = max(c9_29, z); c9_30 = max(c9_30, z); c9_31 = max(c9_31, z)
    C[o9 + _U0] = c9_0; C[o9 + _U1] = c9_1; C[o9 + _U2] = c9_2; C[o9 + _U3] = c9_3; C[o9 + _U4] = c9_4; C[o9 + _U5] = c9_5; C[o9 + _U6] = c9_6; C[o9 + _U7] = c9_7
    C[o9 + _U8] = c9_8; C[o9 + _U9] = c9_9; C[o9 + _U10] = c9_10; C[o9 + _U11] = c9_11; C[o9 + _U12] = c9_12; C[o9 + _U13] = c9_13; C[o9 + _U14] = c9_14; C[o9 + _U15] = c9_15
    C[o9 + _U16] = c9_16; C[o9 + _U17] = c9_17; C[o9 + _U18] = c9_18; C[o9 + _U19] = c9_19; C[o9 + _U20] = c9_20; C[o9 + _U21] = c9_21; C[o9 + _U22] = c9_22; C[o9 + _U23] = c9_23
    C[o9 + _U24] = c9_24; C[o9 + _U25] = c9_25; C[o9 + _U26] = c9_26; C[o9 + _U27] = c9_27; C[o9 + _U28] = c9_28; C[o9 + _U29] = c9_29; C[o9 + _U30] = c9_30; C[o9 + _U31] = c9_31
    C[o8 + _U0] = c8_0; C[o8 + _U1] = c8_1; C[o8 + _U2] = c8_2; C[o8 + _U3] = c8_3; C[o8 + _U4] = c8_4; C[o8 + _U5] = c8_5; C[o8 + _U6] = c8_6; C[o8 + _U7] = c8_7
    C[o8 + _U8] = c8_8; C[o8 + _U9] = c8_9; C[o8 + _U10] = c8_10; C[o8 + _U11] = c8_11; C[o8 + _U12] = c8_12; C[o8 + _U13] = c8_13; C[o8 + _U14] = c8_14; C[o8 + _U15] = c8_15
    C[o8 + _U16] = c8_16; C[o8 + _U17] = c8_17; C[o8 + _U18] = c8_18; C[o8 + _U19] = c8_19; C[o8 + _U20] = c8_20; C[o8 + _U21] = c8_21; C[o8 + _U22] = c8_22; C[o8 + _U23] = c8_23
    C[o8 + _U24] = c8_24; C[o8 + _U25] = c8_25; C[o8 + _U26] = c8_26; C[o8 + _U27] = c8_27; C[o8 + _U28] = c8_28; C[o8 + _U29] = c8_29; C[o8 + _U30] = c8_30; C[o8 + _U31] = c8_31
    C[o7 + _U0] = c7_0; C[o7 + _U1] = c7_1; C[o7 + _U2] = c7_2; C[o7 + _U3] = c7_3; C[o7 + _U4] = c7_4; C[o7 + _U5] = c7_5; C[o7 + _U6] = c7_6; C[o7 + _U7] = c7_7
    C[o7 + _U8] = c7_8; C[o7 + _U9] = c7_9; C[o7 + _U10] = c7_10; C[o7 + _U11] = c7_11; C[o7 + _U12] = c7_12; C[o7 + _U13] = c7_13; C[o7 + _U14] = c7_14; C[o7 + _U15] = c7_15
    C[o7 + _U16] = c7_16; C[o7 + _U17] = c7_17; C[o7 + _U18] = c7_18; C[o7 + _U19] = c7_19; C[o7 + _U20] = c7_20; C[o7 + _U21] = c7_21; C[o7 + _U22] = c7_22; C[o7 + _U23] = c7_23
    C[o7 + _U24] = c7_24; C[o7 + _U25] = c7_25; C[o7 + _U26] = c7_26; C[o7 + _U27] = c7_27; C[o7 + _U28] = c7_28; C[o7 + _U29] = c7_29; C[o7 + _U30] = c7_30; C[o7 + _U31] = c7_31
    C[o6 + _U0] = c6_0; C[o6 + _U1] = c6_1; C[o6 + _U2] = c6_2; C[o6 + _U3] = c6_3; C[o6 + _U4] = c6_4; C[o6 + _U5] = c6_5; C[o6 + _U6] = c6_6; C[o6 + _U7] = c6_7
    C[o6 + _U8] = c6_8; C[o6 + _U9] = c6_9; C[o6 + _U10] = c6_10; C[o6 + _U11] = c6_11; C[o6 + _U12] = c6_12; C[o6 + _U13] = c6_13; C[o6 + _U14] = c6_14; C[o6 + _U15] = c6_15
    C[o6 + _U16] = c6_16; C[o6 + _U17] = c6_17; C[o6 + _U18] = c6_18; C[o6 + _U19] = c6_19; C[o6 + _U20] = c6_20; C[o6 + _U21] = c6_21; C[o6 + _U22] = c6_22; C[o6 + _U23] = c6_23
    C[o6 + _U24] = c6_24; C[o6 + _U25] = c6_25; C[o6 + _U26] = c6_26; C[o6 + _U27] = c6_27; C[o6 + _U28] = c6_28; C[o6 + _U29] = c6_29; C[o6 + _U30] = c6_30; C[o6 + _U31] = c6_31
    C[o5 + _U0] = c5_0; C[o5 + _U1] = c5_1; C[o5 + _U2] = c5_2; C[o5 + _U3] = c5_3; C[o5 + _U4] = c5_4; C[o5 + _U5] = c5_5; C[o5 + _U6] = c5_6; C[o5 + _U7] = c5_7
    C[o5 + _U8] = c5_8; C[o5 + _U9] = c5_9; C[o5 + _U10] = c5_10; C[o5 + _U11] = c5_11; C[o5 + _U12] = c5_12; C[o5 + _U13] = c5_13; C[o5 + _U14] = c5_14; C[o5 + _U15] = c5_15
    C[o5 + _U16] = c5_16; C[o5 + _U17] = c5_17; C[o5 + _U18] = c5_18; C[o5 + _U19] = c5_19; C[o5 + _U20] = c5_20; C[o5 + _U21] = c5_21; C[o5 + _U22] = c5_22; C[o5 + _U23] = c5_23
    C[o5 + _U24] = c5_24; C[o5 + _U25] = c5_25; C[o5 + _U26] = c5_26; C[o5 + _U27] = c5_27; C[o5 + _U28] = c5_28; C[o5 + _U29] = c5_29; C[o5 + _U30] = c5_30; C[o5 + _U31] = c5_31
    C[o4 + _U0] = c4_0; C[o4 + _U1] = c4_1; C[o4 + _U2] = c4_2; C[o4 + _U3] = c4_3; C[o4 + _U4] = c4_4; C[o4 + _U5] = c4_5; C[o4 + _U6] = c4_6; C[o4 + _U7] = c4_7
    C[o4 + _U8] = c4_8; C[o4 + _U9] = c4_9; C[o4 + _U10] = c4_10; C[o4 + _U11] = c4_11; C[o4 + _U12] = c4_12; C[o4 + _U13] = c4_13; C[o4 + _U14] = c4_14; C[o4 + _U15] = c4_15
    C[o4 + _U16] = c4_16; C[o4 + _U17] = c4_17; C[o4 + _U18] = c4_18; C[o4 + _U19] = c4_19; C[o4 + _U20] = c4_20; C[o4 + _U21] = c4_21; C[o4 + _U22] = c4_22; C[o4 + _U23] = c4_23
    C[o4 + _U24] = c4_24; C[o4 + _U25] = c4_25; C[o4 + _U26] = c4_26; C[o4 + _U27] = c4_27; C[o4 + _U28] = c4_28; C[o4 + _U29] = c4_29; C[o4 + _U30] = c4_30; C[o4 + _U31] = c4_31
    C[o3 + _U0] = c3_0; C[o3 + _U1] = c3_1; C[o3 + _U2] = c3_2; C[o3 + _U3] = c3_3; C[o3 + _U4] = c3_4; C[o3 + _U5] = c3_5; C[o3 + _U6] = c3_6; C[o3 + _U7] = c3_7
    C[o3 + _U8] = c3_8; C[o3 + _U9] = c3_9; C[o3 + _U10] = c3_10; C[o3 + _U11] = c3_11; C[o3 + _U12] = c3_12; C[o3 + _U13] = c3_13; C[o3 + _U14] = c3_14; C[o3 + _U15] = c3_15
    C[o3 + _U16] = c3_16; C[o3 + _U17] = c3_17; C[o3 + _U18] = c3_18; C[o3 + _U19] = c3_19; C[o3 + _U20] = c3_20; C[o3 + _U21] = c3_21; C[o3 + _U22] = c3_22; C[o3 + _U23] = c3_23
    C[o3 + _U24] = c3_24; C[o3 + _U25] = c3_25; C[o3 + _U26] = c3_26; C[o3 + _U27] = c3_27; C[o3 + _U28] = c3_28; C[o3 + _U29] = c3_29; C[o3 + _U30] = c3_30; C[o3 + _U31] = c3_31
    C[o2 + _U0] = c2_0; C[o2 + _U1] = c2_1; C[o2 + _U2] = c2_2; C[o2 + _U3] = c2_3; C[o2 + _U4] = c2_4; C[o2 + _U5] = c2_5; C[o2 + _U6] = c2_6; C[o2 + _U7] = c2_7
    C[o2 + _U8] = c2_8; C[o2 + _U9] = c2_9; C[o2 + _U10] = c2_10; C[o2 + _U11] = c2_11; C[o2 + _U12] = c2_12; C[o2 + _U13] = c2_13; C[o2 + _U14] = c2_14; C[o2 + _U15] = c2_15
    C[o2 + _U16] = c2_16; C[o2 + _U17] = c2_17; C[o2 + _U18] = c2_18; C[o2 + _U19] = c2_19; C[o2 + _U20] = c2_20; C[o2 + _U21] = c2_21; C[o2 + _U22] = c2_22; C[o2 + _U23] = c2_23
    C[o2 + _U24] = c2_24; C[o2 + _U25] = c2_25; C[o2 + _U26] = c2_26; C[o2 + _U27] = c2_27; C[o2 + _U28] = c2_28; C[o2 + _U29] = c2_29; C[o2 + _U30] = c2_30; C[o2 + _U31] = c2_31
    C[o1 + _U0] = c1_0; C[o1 + _U1] = c1_1; C[o1 + _U2] = c1_2; C[o1 + _U3] = c1_3; C[o1 + _U4] = c1_4; C[o1 + _U5] = c1_5; C[o1 + _U6] = c1_6; C[o1 + _U7] = c1_7
    C[o1 + _U8] = c1_8; C[o1 + _U9] = c1_9; C[o1 + _U10] = c1_10; C[o1 + _U11] = c1_11; C[o1 + _U12] = c1_12; C[o1 + _U13] = c1_13; C[o1 + _U14] = c1_14; C[o1 + _U15] = c1_15
    C[o1 + _U16] = c1_16; C[o1 + _U17] = c1_17; C[o1 + _U18] = c1_18; C[o1 + _U19] = c1_19; C[o1 + _U20] = c1_20; C[o1 + _U21] = c1_21; C[o1 + _U22] = c1_22; C[o1 + _U23] = c1_23
    C[o1 + _U24] = c1_24; C[o1 + _U25] = c1_25; C[o1 + _U26] = c1_26; C[o1 + _U27] = c1_27; C[o1 + _U28] = c1_28; C[o1 + _U29] = c1_29; C[o1 + _U30] = c1_30; C[o1 + _U31] = c1_31
    C[o0 + _U0] = c0_0; C[o0 + _U1] = c0_1; C[o0 + _U2] = c0_2; C[o0 + _U3] = c0_3; C[o0 + _U4] = c0_4; C[o0 + _U5] = c0_5; C[o0 + _U6] = c0_6; C[o0 + _U7] = c0_7
    C[o0 + _U8] = c0_8; C[o0 + _U9] = c0_9; C[o0 + _U10] = c0_10; C[o0 + _U11] = c0_11; C[o0 + _U12] = c0_12; C[o0 + _U13] = c0_13; C[o0 + _U14] = c0_14; C[o0 + _U15] = c0_15
    C[o0 + _U16] = c0_16; C[o0 + _U17] = c0_17; C[o0 + _U18] = c0_18; C[o0 + _U19] = c0_19; C[o0 + _U20] = c0_20; C[o0 + _U21] = c0_21; C[o0 + _U22] = c0_22; C[o0 + _U23] = c0_23
    C[o0 + _U24] = c0_24; C[o0 + _U25] = c0_25; C[o0 + _U26] = c0_26; C[o0 + _U27] = c0_27; C[o0 + _U28] = c0_28; C[o0 + _U29] = c0_29; C[o0 + _U30] = c0_30; C[o0 + _U31] = c0_31


def _kernel_10x16(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    """C[10x16 tile] (+)= A @ B-panel, with 160 scalar accumulators.

    Generated by ``kernel_source(10, 16)``: row r of the tile is the 16 accumulators
    ``c<r>_0..c<r>_15``, which LLVM's SLP vectorizer fuses into vector registers.
    A[pa + r + p*csa] is element (r, p): a packed panel (csa=MR) or a transposed
    A read in place (csa=lda).  Only the first ``rows`` rows of C are used, with no
    branches: a row past them is aimed at row ``rows - 1`` and the rows are stored
    last to first, so that row's own, correct values land last.
    """
    _prefer_512bit_vectors()
    z = _zero(C)
    c0_0 = c0_1 = c0_2 = c0_3 = c0_4 = c0_5 = c0_6 = c0_7 = c0_8 = c0_9 = c0_10 = c0_11 = c0_12 = c0_13 = c0_14 = c0_15 = z
    c1_0 = c1_1 = c1_2 = c1_3 = c1_4 = c1_5 = c1_6 = c1_7 = c1_8 = c1_9 = c1_10 = c1_11 = c1_12 = c1_13 = c1_14 = c1_15 = z
    c2_0 = c2_1 = c2_2 = c2_3 = c2_4 = c2_5 = c2_6 = c2_7 = c2_8 = c2_9 = c2_10 = c2_11 = c2_12 = c2_13 = c2_14 = c2_15 = z
    c3_0 = c3_1 = c3_2 = c3_3 = c3_4 = c3_5 = c3_6 = c3_7 = c3_8 = c3_9 = c3_10 = c3_11 = c3_12 = c3_13 = c3_14 = c3_15 = z
    c4_0 = c4_1 = c4_2 = c4_3 = c4_4 = c4_5 = c4_6 = c4_7 = c4_8 = c4_9 = c4_10 = c4_11 = c4_12 = c4_13 = c4_14 = c4_15 = z
    c5_0 = c5_1 = c5_2 = c5_3 = c5_4 = c5_5 = c5_6 = c5_7 = c5_8 = c5_9 = c5_10 = c5_11 = c5_12 = c5_13 = c5_14 = c5_15 = z
    c6_0 = c6_1 = c6_2 = c6_3 = c6_4 = c6_5 = c6_6 = c6_7 = c6_8 = c6_9 = c6_10 = c6_11 = c6_12 = c6_13 = c6_14 = c6_15 = z
    c7_0 = c7_1 = c7_2 = c7_3 = c7_4 = c7_5 = c7_6 = c7_7 = c7_8 = c7_9 = c7_10 = c7_11 = c7_12 = c7_13 = c7_14 = c7_15 = z
    c8_0 = c8_1 = c8_2 = c8_3 = c8_4 = c8_5 = c8_6 = c8_7 = c8_8 = c8_9 = c8_10 = c8_11 = c8_12 = c8_13 = c8_14 = c8_15 = z
    c9_0 = c9_1 = c9_2 = c9_3 = c9_4 = c9_5 = c9_6 = c9_7 = c9_8 = c9_9 = c9_10 = c9_11 = c9_12 = c9_13 = c9_14 = c9_15 = z
    ap = pa
    q = pb
    for _ in range(kc):
        b0 = B[q + _U0]; b1 = B[q + _U1]; b2 = B[q + _U2]; b3 = B[q + _U3]; b4 = B[q + _U4]; b5 = B[q + _U5]; b6 = B[q + _U6]; b7 = B[q + _U7]
        b8 = B[q + _U8]; b9 = B[q + _U9]; b10 = B[q + _U10]; b11 = B[q + _U11]; b12 = B[q + _U12]; b13 = B[q + _U13]; b14 = B[q + _U14]; b15 = B[q + _U15]
        a = A[ap + _U0]
        c0_0 += a * b0; c0_1 += a * b1; c0_2 += a * b2; c0_3 += a * b3; c0_4 += a * b4; c0_5 += a * b5; c0_6 += a * b6; c0_7 += a * b7
        c0_8 += a * b8; c0_9 += a * b9; c0_10 += a * b10; c0_11 += a * b11; c0_12 += a * b12; c0_13 += a * b13; c0_14 += a * b14; c0_15 += a * b15
        a = A[ap + _U1]
        c1_0 += a * b0; c1_1 += a * b1; c1_2 += a * b2; c1_3 += a * b3; c1_4 += a * b4; c1_5 += a * b5; c1_6 += a * b6; c1_7 += a * b7
        c1_8 += a * b8; c1_9 += a * b9; c1_10 += a * b10; c1_11 += a * b11; c1_12 += a * b12; c1_13 += a * b13; c1_14 += a * b14; c1_15 += a * b15
        a = A[ap + _U2]
        c2_0 += a * b0; c2_1 += a * b1; c2_2 += a * b2; c2_3 += a * b3; c2_4 += a * b4; c2_5 += a * b5; c2_6 += a * b6; c2_7 += a * b7
        c2_8 += a * b8; c2_9 += a * b9; c2_10 += a * b10; c2_11 += a * b11; c2_12 += a * b12; c2_13 += a * b13; c2_14 += a * b14; c2_15 += a * b15
        a = A[ap + _U3]
        c3_0 += a * b0; c3_1 += a * b1; c3_2 += a * b2; c3_3 += a * b3; c3_4 += a * b4; c3_5 += a * b5; c3_6 += a * b6; c3_7 += a * b7
        c3_8 += a * b8; c3_9 += a * b9; c3_10 += a * b10; c3_11 += a * b11; c3_12 += a * b12; c3_13 += a * b13; c3_14 += a * b14; c3_15 += a * b15
        a = A[ap + _U4]
        c4_0 += a * b0; c4_1 += a * b1; c4_2 += a * b2; c4_3 += a * b3; c4_4 += a * b4; c4_5 += a * b5; c4_6 += a * b6; c4_7 += a * b7
        c4_8 += a * b8; c4_9 += a * b9; c4_10 += a * b10; c4_11 += a * b11; c4_12 += a * b12; c4_13 += a * b13; c4_14 += a * b14; c4_15 += a * b15
        a = A[ap + _U5]
        c5_0 += a * b0; c5_1 += a * b1; c5_2 += a * b2; c5_3 += a * b3; c5_4 += a * b4; c5_5 += a * b5; c5_6 += a * b6; c5_7 += a * b7
        c5_8 += a * b8; c5_9 += a * b9; c5_10 += a * b10; c5_11 += a * b11; c5_12 += a * b12; c5_13 += a * b13; c5_14 += a * b14; c5_15 += a * b15
        a = A[ap + _U6]
        c6_0 += a * b0; c6_1 += a * b1; c6_2 += a * b2; c6_3 += a * b3; c6_4 += a * b4; c6_5 += a * b5; c6_6 += a * b6; c6_7 += a * b7
        c6_8 += a * b8; c6_9 += a * b9; c6_10 += a * b10; c6_11 += a * b11; c6_12 += a * b12; c6_13 += a * b13; c6_14 += a * b14; c6_15 += a * b15
        a = A[ap + _U7]
        c7_0 += a * b0; c7_1 += a * b1; c7_2 += a * b2; c7_3 += a * b3; c7_4 += a * b4; c7_5 += a * b5; c7_6 += a * b6; c7_7 += a * b7
        c7_8 += a * b8; c7_9 += a * b9; c7_10 += a * b10; c7_11 += a * b11; c7_12 += a * b12; c7_13 += a * b13; c7_14 += a * b14; c7_15 += a * b15
        a = A[ap + _U8]
        c8_0 += a * b0; c8_1 += a * b1; c8_2 += a * b2; c8_3 += a * b3; c8_4 += a * b4; c8_5 += a * b5; c8_6 += a * b6; c8_7 += a * b7
        c8_8 += a * b8; c8_9 += a * b9; c8_10 += a * b10; c8_11 += a * b11; c8_12 += a * b12; c8_13 += a * b13; c8_14 += a * b14; c8_15 += a * b15
        a = A[ap + _U9]
        c9_0 += a * b0; c9_1 += a * b1; c9_2 += a * b2; c9_3 += a * b3; c9_4 += a * b4; c9_5 += a * b5; c9_6 += a * b6; c9_7 += a * b7
        c9_8 += a * b8; c9_9 += a * b9; c9_10 += a * b10; c9_11 += a * b11; c9_12 += a * b12; c9_13 += a * b13; c9_14 += a * b14; c9_15 += a * b15
        ap += csa
        q += rsb
    # write-back and fused epilogue, straight from the accumulators
    last = rows - _U1
    o0 = pc + min(_U0, last) * ldc
    o1 = pc + min(_U1, last) * ldc
    o2 = pc + min(_U2, last) * ldc
    o3 = pc + min(_U3, last) * ldc
    o4 = pc + min(_U4, last) * ldc
    o5 = pc + min(_U5, last) * ldc
    o6 = pc + min(_U6, last) * ldc
    o7 = pc + min(_U7, last) * ldc
    o8 = pc + min(_U8, last) * ldc
    o9 = pc + min(_U9, last) * ldc
    if accumulate:
        c0_0 += C[o0 + _U0]; c0_1 += C[o0 + _U1]; c0_2 += C[o0 + _U2]; c0_3 += C[o0 + _U3]; c0_4 += C[o0 + _U4]; c0_5 += C[o0 + _U5]; c0_6 += C[o0 + _U6]; c0_7 += C[o0 + _U7]
        c0_8 += C[o0 + _U8]; c0_9 += C[o0 + _U9]; c0_10 += C[o0 + _U10]; c0_11 += C[o0 + _U11]; c0_12 += C[o0 + _U12]; c0_13 += C[o0 + _U13]; c0_14 += C[o0 + _U14]; c0_15 += C[o0 + _U15]
        c1_0 += C[o1 + _U0]; c1_1 += C[o1 + _U1]; c1_2 += C[o1 + _U2]; c1_3 += C[o1 + _U3]; c1_4 += C[o1 + _U4]; c1_5 += C[o1 + _U5]; c1_6 += C[o1 + _U6]; c1_7 += C[o1 + _U7]
        c1_8 += C[o1 + _U8]; c1_9 += C[o1 + _U9]; c1_10 += C[o1 + _U10]; c1_11 += C[o1 + _U11]; c1_12 += C[o1 + _U12]; c1_13 += C[o1 + _U13]; c1_14 += C[o1 + _U14]; c1_15 += C[o1 + _U15]
        c2_0 += C[o2 + _U0]; c2_1 += C[o2 + _U1]; c2_2 += C[o2 + _U2]; c2_3 += C[o2 + _U3]; c2_4 += C[o2 + _U4]; c2_5 += C[o2 + _U5]; c2_6 += C[o2 + _U6]; c2_7 += C[o2 + _U7]
        c2_8 += C[o2 + _U8]; c2_9 += C[o2 + _U9]; c2_10 += C[o2 + _U10]; c2_11 += C[o2 + _U11]; c2_12 += C[o2 + _U12]; c2_13 += C[o2 + _U13]; c2_14 += C[o2 + _U14]; c2_15 += C[o2 + _U15]
        c3_0 += C[o3 + _U0]; c3_1 += C[o3 + _U1]; c3_2 += C[o3 + _U2]; c3_3 += C[o3 + _U3]; c3_4 += C[o3 + _U4]; c3_5 += C[o3 + _U5]; c3_6 += C[o3 + _U6]; c3_7 += C[o3 + _U7]
        c3_8 += C[o3 + _U8]; c3_9 += C[o3 + _U9]; c3_10 += C[o3 + _U10]; c3_11 += C[o3 + _U11]; c3_12 += C[o3 + _U12]; c3_13 += C[o3 + _U13]; c3_14 += C[o3 + _U14]; c3_15 += C[o3 + _U15]
        c4_0 += C[o4 + _U0]; c4_1 += C[o4 + _U1]; c4_2 += C[o4 + _U2]; c4_3 += C[o4 + _U3]; c4_4 += C[o4 + _U4]; c4_5 += C[o4 + _U5]; c4_6 += C[o4 + _U6]; c4_7 += C[o4 + _U7]
        c4_8 += C[o4 + _U8]; c4_9 += C[o4 + _U9]; c4_10 += C[o4 + _U10]; c4_11 += C[o4 + _U11]; c4_12 += C[o4 + _U12]; c4_13 += C[o4 + _U13]; c4_14 += C[o4 + _U14]; c4_15 += C[o4 + _U15]
        c5_0 += C[o5 + _U0]; c5_1 += C[o5 + _U1]; c5_2 += C[o5 + _U2]; c5_3 += C[o5 + _U3]; c5_4 += C[o5 + _U4]; c5_5 += C[o5 + _U5]; c5_6 += C[o5 + _U6]; c5_7 += C[o5 + _U7]
        c5_8 += C[o5 + _U8]; c5_9 += C[o5 + _U9]; c5_10 += C[o5 + _U10]; c5_11 += C[o5 + _U11]; c5_12 += C[o5 + _U12]; c5_13 += C[o5 + _U13]; c5_14 += C[o5 + _U14]; c5_15 += C[o5 + _U15]
        c6_0 += C[o6 + _U0]; c6_1 += C[o6 + _U1]; c6_2 += C[o6 + _U2]; c6_3 += C[o6 + _U3]; c6_4 += C[o6 + _U4]; c6_5 += C[o6 + _U5]; c6_6 += C[o6 + _U6]; c6_7 += C[o6 + _U7]
        c6_8 += C[o6 + _U8]; c6_9 += C[o6 + _U9]; c6_10 += C[o6 + _U10]; c6_11 += C[o6 + _U11]; c6_12 += C[o6 + _U12]; c6_13 += C[o6 + _U13]; c6_14 += C[o6 + _U14]; c6_15 += C[o6 + _U15]
        c7_0 += C[o7 + _U0]; c7_1 += C[o7 + _U1]; c7_2 += C[o7 + _U2]; c7_3 += C[o7 + _U3]; c7_4 += C[o7 + _U4]; c7_5 += C[o7 + _U5]; c7_6 += C[o7 + _U6]; c7_7 += C[o7 + _U7]
        c7_8 += C[o7 + _U8]; c7_9 += C[o7 + _U9]; c7_10 += C[o7 + _U10]; c7_11 += C[o7 + _U11]; c7_12 += C[o7 + _U12]; c7_13 += C[o7 + _U13]; c7_14 += C[o7 + _U14]; c7_15 += C[o7 + _U15]
        c8_0 += C[o8 + _U0]; c8_1 += C[o8 + _U1]; c8_2 += C[o8 + _U2]; c8_3 += C[o8 + _U3]; c8_4 += C[o8 + _U4]; c8_5 += C[o8 + _U5]; c8_6 += C[o8 + _U6]; c8_7 += C[o8 + _U7]
        c8_8 += C[o8 + _U8]; c8_9 += C[o8 + _U9]; c8_10 += C[o8 + _U10]; c8_11 += C[o8 + _U11]; c8_12 += C[o8 + _U12]; c8_13 += C[o8 + _U13]; c8_14 += C[o8 + _U14]; c8_15 += C[o8 + _U15]
        c9_0 += C[o9 + _U0]; c9_1 += C[o9 + _U1]; c9_2 += C[o9 + _U2]; c9_3 += C[o9 + _U3]; c9_4 += C[o9 + _U4]; c9_5 += C[o9 + _U5]; c9_6 += C[o9 + _U6]; c9_7 += C[o9 + _U7]
        c9_8 += C[o9 + _U8]; c9_9 += C[o9 + _U9]; c9_10 += C[o9 + _U10]; c9_11 += C[o9 + _U11]; c9_12 += C[o9 + _U12]; c9_13 += C[o9 + _U13]; c9_14 += C[o9 + _U14]; c9_15 += C[o9 + _U15]
    if use_bias:
        b0 = bias[jb + _U0]; b1 = bias[jb + _U1]; b2 = bias[jb + _U2]; b3 = bias[jb + _U3]; b4 = bias[jb + _U4]; b5 = bias[jb + _U5]; b6 = bias[jb + _U6]; b7 = bias[jb + _U7]
        b8 = bias[jb + _U8]; b9 = bias[jb + _U9]; b10 = bias[jb + _U10]; b11 = bias[jb + _U11]; b12 = bias[jb + _U12]; b13 = bias[jb + _U13]; b14 = bias[jb + _U14]; b15 = bias[jb + _U15]
        c0_0 += b0; c0_1 += b1; c0_2 += b2; c0_3 += b3; c0_4 += b4; c0_5 += b5; c0_6 += b6; c0_7 += b7
        c0_8 += b8; c0_9 += b9; c0_10 += b10; c0_11 += b11; c0_12 += b12; c0_13 += b13; c0_14 += b14; c0_15 += b15
        c1_0 += b0; c1_1 += b1; c1_2 += b2; c1_3 += b3; c1_4 += b4; c1_5 += b5; c1_6 += b6; c1_7 += b7
        c1_8 += b8; c1_9 += b9; c1_10 += b10; c1_11 += b11; c1_12 += b12; c1_13 += b13; c1_14 += b14; c1_15 += b15
        c2_0 += b0; c2_1 += b1; c2_2 += b2; c2_3 += b3; c2_4 += b4; c2_5 += b5; c2_6 += b6; c2_7 += b7
        c2_8 += b8; c2_9 += b9; c2_10 += b10; c2_11 += b11; c2_12 += b12; c2_13 += b13; c2_14 += b14; c2_15 += b15
        c3_0 += b0; c3_1 += b1; c3_2 += b2; c3_3 += b3; c3_4 += b4; c3_5 += b5; c3_6 += b6; c3_7 += b7
        c3_8 += b8; c3_9 += b9; c3_10 += b10; c3_11 += b11; c3_12 += b12; c3_13 += b13; c3_14 += b14; c3_15 += b15
        c4_0 += b0; c4_1 += b1; c4_2 += b2; c4_3 += b3; c4_4 += b4; c4_5 += b5; c4_6 += b6; c4_7 += b7
        c4_8 += b8; c4_9 += b9; c4_10 += b10; c4_11 += b11; c4_12 += b12; c4_13 += b13; c4_14 += b14; c4_15 += b15
        c5_0 += b0; c5_1 += b1; c5_2 += b2; c5_3 += b3; c5_4 += b4; c5_5 += b5; c5_6 += b6; c5_7 += b7
        c5_8 += b8; c5_9 += b9; c5_10 += b10; c5_11 += b11; c5_12 += b12; c5_13 += b13; c5_14 += b14; c5_15 += b15
        c6_0 += b0; c6_1 += b1; c6_2 += b2; c6_3 += b3; c6_4 += b4; c6_5 += b5; c6_6 += b6; c6_7 += b7
        c6_8 += b8; c6_9 += b9; c6_10 += b10; c6_11 += b11; c6_12 += b12; c6_13 += b13; c6_14 += b14; c6_15 += b15
        c7_0 += b0; c7_1 += b1; c7_2 += b2; c7_3 += b3; c7_4 += b4; c7_5 += b5; c7_6 += b6; c7_7 += b7
        c7_8 += b8; c7_9 += b9; c7_10 += b10; c7_11 += b11; c7_12 += b12; c7_13 += b13; c7_14 += b14; c7_15 += b15
        c8_0 += b0; c8_1 += b1; c8_2 += b2; c8_3 += b3; c8_4 += b4; c8_5 += b5; c8_6 += b6; c8_7 += b7
        c8_8 += b8; c8_9 += b9; c8_10 += b10; c8_11 += b11; c8_12 += b12; c8_13 += b13; c8_14 += b14; c8_15 += b15
        c9_0 += b0; c9_1 += b1; c9_2 += b2; c9_3 += b3; c9_4 += b4; c9_5 += b5; c9_6 += b6; c9_7 += b7
        c9_8 += b8; c9_9 += b9; c9_10 += b10; c9_11 += b11; c9_12 += b12; c9_13 += b13; c9_14 += b14; c9_15 += b15
    if relu:
        c0_0 = max(c0_0, z); c0_1 = max(c0_1, z); c0_2 = max(c0_2, z); c0_3 = max(c0_3, z); c0_4 = max(c0_4, z); c0_5 = max(c0_5, z); c0_6 = max(c0_6, z); c0_7 = max(c0_7, z)
        c0_8 = max(c0_8, z); c0_9 = max(c0_9, z); c0_10 = max(c0_10, z); c0_11 = max(c0_11, z); c0_12 = max(c0_12, z); c0_13 = max(c0_13, z); c0_14 = max(c0_14, z); c0_15 = max(c0_15, z)
        c1_0 = max(c1_0, z); c1_1 = max(c1_1, z); c1_2 = max(c1_2, z); c1_3 = max(c1_3, z); c1_4 = max(c1_4, z); c1_5 = max(c1_5, z); c1_6 = max(c1_6, z); c1_7 = max(c1_7, z)
        c1_8 = max(c1_8, z); c1_9 = max(c1_9, z); c1_10 = max(c1_10, z); c1_11 = max(c1_11, z); c1_12 = max(c1_12, z); c1_13 = max(c1_13, z); c1_14 = max(c1_14, z); c1_15 = max(c1_15, z)
        c2_0 = max(c2_0, z); c2_1 = max(c2_1, z); c2_2 = max(c2_2, z); c2_3 = max(c2_3, z); c2_4 = max(c2_4, z); c2_5 = max(c2_5, z); c2_6 = max(c2_6, z); c2_7 = max(c2_7, z)
        c2_8 = max(c2_8, z); c2_9 = max(c2_9, z); c2_10 = max(c2_10, z); c2_11 = max(c2_11, z); c2_12 = max(c2_12, z); c2_13 = max(c2_13, z); c2_14 = max(c2_14, z); c2_15 = max(c2_15, z)
        c3_0 = max(c3_0, z); c3_1 = max(c3_1, z); c3_2 = max(c3_2, z); c3_3 = max(c3_3, z); c3_4 = max(c3_4, z); c3_5 = max(c3_5, z); c3_6 = max(c3_6, z); c3_7 = max(c3_7, z)
        c3_8 = max(c3_8, z); c3_9 = max(c3_9, z); c3_10 = max(c3_10, z); c3_11 = max(c3_11, z); c3_12 = max(c3_12, z); c3_13 = max(c3_13, z); c3_14 = max(c3_14, z); c3_15 = max(c3_15, z)
        c4_0 = max(c4_0, z); c4_1 = max(c4_1, z); c4_2 = max(c4_2, z); c4_3 = max(c4_3, z); c4_4 = max(c4_4, z); c4_5 = max(c4_5, z); c4_6 = max(c4_6, z); c4_7 = max(c4_7, z)
        c4_8 = max(c4_8, z); c4_9 = max(c4_9, z); c4_10 = max(c4_10, z); c4_11 = max(c4_11, z); c4_12 = max(c4_12, z); c4_13 = max(c4_13, z); c4_14 = max(c4_14, z); c4_15 = max(c4_15, z)
        c5_0 = max(c5_0, z); c5_1 = max(c5_1, z); c5_2 = max(c5_2, z); c5_3 = max(c5_3, z); c5_4 = max(c5_4, z); c5_5 = max(c5_5, z); c5_6 = max(c5_6, z); c5_7 = max(c5_7, z)
        c5_8 = max(c5_8, z); c5_9 = max(c5_9, z); c5_10 = max(c5_10, z); c5_11 = max(c5_11, z); c5_12 = max(c5_12, z); c5_13 = max(c5_13, z); c5_14 = max(c5_14, z); c5_15 = max(c5_15, z)
        c6_0 = max(c6_0, z); c6_1 = max(c6_1, z); c6_2 = max(c6_2, z); c6_3 = max(c6_3, z); c6_4 = max(c6_4, z); c6_5 = max(c6_5, z); c6_6 = max(c6_6, z); c6_7 = max(c6_7, z)
        c6_8 = max(c6_8, z); c6_9 = max(c6_9, z); c6_10 = max(c6_10, z); c6_11 = max(c6_11, z); c6_12 = max(c6_12, z); c6_13 = max(c6_13, z); c6_14 = max(c6_14, z); c6_15 = max(c6_15, z)
        c7_0 = max(c7_0, z); c7_1 = max(c7_1, z); c7_2 = max(c7_2, z); c7_3 = max(c7_3, z); c7_4 = max(c7_4, z); c7_5 = max(c7_5, z); c7_6 = max(c7_6, z); c7_7 = max(c7_7, z)
        c7_8 = max(c7_8, z); c7_9 = max(c7_9, z); c7_10 = max(c7_10, z); c7_11 = max(c7_11, z); c7_12 = max(c7_12, z); c7_13 = max(c7_13, z); c7_14 = max(c7_14, z); c7_15 = max(c7_15, z)
        c8_0 = max(c8_0, z); c8_1 = max(c8_1, z); c8_2 = max(c8_2, z); c8_3 = max(c8_3, z); c8_4 = max(c8_4, z); c8_5 = max(c8_5, z); c8_6 = max(c8_6, z); c8_7 = max(c8_7, z)
        c8_8 = max(c8_8, z); c8_9 = max(c8_9, z); c8_10 = max(c8_10, z); c8_11 = max(c8_11, z); c8_12 = max(c8_12, z); c8_13 = max(c8_13, z); c8_14 = max(c8_14, z); c8_15 = max(c8_15, z)
        c9_0 = max(c9_0, z); c9_1 = max(c9_1, z); c9_2 = max(c9_2, z); c9_3 = max(c9_3, z); c9_4 = max(c9_4, z); c9_5 = max(c9_5, z); c9_6 = max(c9_6, z); c9_7 = max(c9_7, z)
        c9_8 = max(c9_8, z); c9_9 = max(c9_9, z); c9_10 = max(c9_10, z); c9_11 = max(c9_11, z); c9_12 = max(c9_12, z); c9_13 = max(c9_13, z); c9_14 = max(c9_14, z); c9_15 = max(c9_15, z)
    C[o9 + _U0] = c9_0; C[o9 + _U1] = c9_1; C[o9 + _U2] = c9_2; C[o9 + _U3] = c9_3; C[o9 + _U4] = c9_4; C[o9 + _U5] = c9_5; C[o9 + _U6] = c9_6; C[o9 + _U7] = c9_7
    C[o9 + _U8] = c9_8; C[o9 + _U9] = c9_9; C[o9 + _U10] = c9_10; C[o9 + _U11] = c9_11; C[o9 + _U12] = c9_12; C[o9 + _U13] = c9_13; C[o9 + _U14] = c9_14; C[o9 + _U15] = c9_15
    C[o8 + _U0] = c8_0; C[o8 + _U1] = c8_1; C[o8 + _U2] = c8_2; C[o8 + _U3] = c8_3; C[o8 + _U4] = c8_4; C[o8 + _U5] = c8_5; C[o8 + _U6] = c8_6; C[o8 + _U7] = c8_7
    C[o8 + _U8] = c8_8; C[o8 + _U9] = c8_9; C[o8 + _U10] = c8_10; C[o8 + _U11] = c8_11; C[o8 + _U12] = c8_12; C[o8 + _U13] = c8_13; C[o8 + _U14] = c8_14; C[o8 + _U15] = c8_15
    C[o7 + _U0] = c7_0; C[o7 + _U1] = c7_1; C[o7 + _U2] = c7_2; C[o7 + _U3] = c7_3; C[o7 + _U4] = c7_4; C[o7 + _U5] = c7_5; C[o7 + _U6] = c7_6; C[o7 + _U7] = c7_7
    C[o7 + _U8] = c7_8; C[o7 + _U9] = c7_9; C[o7 + _U10] = c7_10; C[o7 + _U11] = c7_11; C[o7 + _U12] = c7_12; C[o7 + _U13] = c7_13; C[o7 + _U14] = c7_14; C[o7 + _U15] = c7_15
    C[o6 + _U0] = c6_0; C[o6 + _U1] = c6_1; C[o6 + _U2] = c6_2; C[o6 + _U3] = c6_3; C[o6 + _U4] = c6_4; C[o6 + _U5] = c6_5; C[o6 + _U6] = c6_6; C[o6 + _U7] = c6_7
    C[o6 + _U8] = c6_8; C[o6 + _U9] = c6_9; C[o6 + _U10] = c6_10; C[o6 + _U11] = c6_11; C[o6 + _U12] = c6_12; C[o6 + _U13] = c6_13; C[o6 + _U14] = c6_14; C[o6 + _U15] = c6_15
    C[o5 + _U0] = c5_0; C[o5 + _U1] = c5_1; C[o5 + _U2] = c5_2; C[o5 + _U3] = c5_3; C[o5 + _U4] = c5_4; C[o5 + _U5] = c5_5; C[o5 + _U6] = c5_6; C[o5 + _U7] = c5_7
    C[o5 + _U8] = c5_8; C[o5 + _U9] = c5_9; C[o5 + _U10] = c5_10; C[o5 + _U11] = c5_11; C[o5 + _U12] = c5_12; C[o5 + _U13] = c5_13; C[o5 + _U14] = c5_14; C[o5 + _U15] = c5_15
    C[o4 + _U0] = c4_0; C[o4 + _U1] = c4_1; C[o4 + _U2] = c4_2; C[o4 + _U3] = c4_3; C[o4 + _U4] = c4_4; C[o4 + _U5] = c4_5; C[o4 + _U6] = c4_6; C[o4 + _U7] = c4_7
    C[o4 + _U8] = c4_8; C[o4 + _U9] = c4_9; C[o4 + _U10] = c4_10; C[o4 + _U11] = c4_11; C[o4 + _U12] = c4_12; C[o4 + _U13] = c4_13; C[o4 + _U14] = c4_14; C[o4 + _U15] = c4_15
    C[o3 + _U0] = c3_0; C[o3 + _U1] = c3_1; C[o3 + _U2] = c3_2; C[o3 + _U3] = c3_3; C[o3 + _U4] = c3_4; C[o3 + _U5] = c3_5; C[o3 + _U6] = c3_6; C[o3 + _U7] = c3_7
    C[o3 + _U8] = c3_8; C[o3 + _U9] = c3_9; C[o3 + _U10] = c3_10; C[o3 + _U11] = c3_11; C[o3 + _U12] = c3_12; C[o3 + _U13] = c3_13; C[o3 + _U14] = c3_14; C[o3 + _U15] = c3_15
    C[o2 + _U0] = c2_0; C[o2 + _U1] = c2_1; C[o2 + _U2] = c2_2; C[o2 + _U3] = c2_3; C[o2 + _U4] = c2_4; C[o2 + _U5] = c2_5; C[o2 + _U6] = c2_6; C[o2 + _U7] = c2_7
    C[o2 + _U8] = c2_8; C[o2 + _U9] = c2_9; C[o2 + _U10] = c2_10; C[o2 + _U11] = c2_11; C[o2 + _U12] = c2_12; C[o2 + _U13] = c2_13; C[o2 + _U14] = c2_14; C[o2 + _U15] = c2_15
    C[o1 + _U0] = c1_0; C[o1 + _U1] = c1_1; C[o1 + _U2] = c1_2; C[o1 + _U3] = c1_3; C[o1 + _U4] = c1_4; C[o1 + _U5] = c1_5; C[o1 + _U6] = c1_6; C[o1 + _U7] = c1_7
    C[o1 + _U8] = c1_8; C[o1 + _U9] = c1_9; C[o1 + _U10] = c1_10; C[o1 + _U11] = c1_11; C[o1 + _U12] = c1_12; C[o1 + _U13] = c1_13; C[o1 + _U14] = c1_14; C[o1 + _U15] = c1_15
    C[o0 + _U0] = c0_0; C[o0 + _U1] = c0_1; C[o0 + _U2] = c0_2; C[o0 + _U3] = c0_3; C[o0 + _U4] = c0_4; C[o0 + _U5] = c0_5; C[o0 + _U6] = c0_6; C[o0 + _U7] = c0_7
    C[o0 + _U8] = c0_8; C[o0 + _U9] = c0_9; C[o0 + _U10] = c0_10; C[o0 + _U11] = c0_11; C[o0 + _U12] = c0_12; C[o0 + _U13] = c0_13; C[o0 + _U14] = c0_14; C[o0 + _U15] = c0_15


# ---------------------------------------------------------------- generator
def kernel_source(mr, nr):
    """The source text of the unrolled ``mr x nr`` micro-kernel above.

    Kept here so the kernels can be regenerated for other tile shapes; the
    text is pasted into this file rather than ``exec``-ed, so Numba can cache it.
    """
    lines = []
    w = lines.append

    def row(i, fmt, ind, per=8):
        for j in range(0, nr, per):
            w(ind + "; ".join(fmt.format(i=i, j=jj) for jj in range(j, min(nr, j + per))))

    def block(fmt, ind="        "):
        for i in range(mr):
            row(i, fmt, ind)

    w(f"def _kernel_{mr}x{nr}(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):")
    w(f'    """C[{mr}x{nr} tile] (+)= A @ B-panel, with {mr * nr} scalar accumulators.')
    w("")
    w(f"    Generated by ``kernel_source({mr}, {nr})``: row r of the tile is the {nr} accumulators")
    w(f"    ``c<r>_0..c<r>_{nr - 1}``, which LLVM's SLP vectorizer fuses into vector registers.")
    w("    A[pa + r + p*csa] is element (r, p): a packed panel (csa=MR) or a transposed")
    w("    A read in place (csa=lda).  Only the first ``rows`` rows of C are used, with no")
    w("    branches: a row past them is aimed at row ``rows - 1`` and the rows are stored")
    w("    last to first, so that row's own, correct values land last.")
    w('    """')
    w("    _prefer_512bit_vectors()")
    w("    z = _zero(C)")
    for i in range(mr):
        w("    " + " = ".join(f"c{i}_{j}" for j in range(nr)) + " = z")
    w("    ap = pa")
    w("    q = pb")
    w("    for _ in range(kc):")
    for j in range(0, nr, 8):
        w("        " + "; ".join(f"b{jj} = B[q + _U{jj}]" for jj in range(j, min(nr, j + 8))))
    for i in range(mr):
        w(f"        a = A[ap + _U{i}]")
        for j in range(0, nr, 8):
            w("        " + "; ".join(f"c{i}_{jj} += a * b{jj}" for jj in range(j, min(nr, j + 8))))
    w("        ap += csa")
    w("        q += rsb")
    w("    # write-back and fused epilogue, straight from the accumulators")
    w("    last = rows - _U1")
    for i in range(mr):
        w(f"    o{i} = pc + min(_U{i}, last) * ldc")
    w("    if accumulate:")
    block("c{i}_{j} += C[o{i} + _U{j}]")
    w("    if use_bias:")
    for j in range(0, nr, 8):
        w("        " + "; ".join(f"b{jj} = bias[jb + _U{jj}]" for jj in range(j, min(nr, j + 8))))
    block("c{i}_{j} += b{j}")
    w("    if relu:")
    block("c{i}_{j} = max(c{i}_{j}, z)")
    for i in reversed(range(mr)):
        row(i, "C[o{i} + _U{j}] = c{i}_{j}", "    ")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- packing
@njit(cache=True)
def _pack_a(a, lda, ta, i0, mc, p0, kc, ap):
    """Copy op(a)[i0:i0+mc, p0:p0+kc] into MR-tall micro-panels: column p of
    panel q is ap[(q*kc + p)*MR :][:MR], rows past ``mc`` zeroed.  All arguments
    are uint64 but ``ta`` (op = transpose).  From a row-major a this is a
    transpose; a full panel is done 8 columns at a time with vector shuffles
    (rows 0-7, then 8-11), where scalar copies would store one number at a
    time, MR numbers apart (this made small GEMMs 2-7% faster, measured)."""
    z = _zero(ap)
    for q in range((mc + _UMR - _U1) // _UMR):
        ii = i0 + q * _UMR
        rows = min(_UMR, mc - q * _UMR)
        base = q * kc * _UMR
        if ta:  # op(a)[i, p] = a[p, i]: each column of the panel is contiguous in a
            for p in range(kc):
                src = (p0 + p) * lda + ii
                dst = base + p * _UMR
                for r in range(rows):
                    ap[dst + r] = a[src + r]
                for r in range(rows, _UMR):
                    ap[dst + r] = z
        elif rows == _UMR:  # a full panel from rows of a: 12 x 8 blocks, transposed in registers
            src = ii * lda + p0
            p = _U0
            while p + _U8 <= kc:
                _transpose_8x8(_ptr(a), src + p, lda, _ptr(ap), base + p * _UMR, _UMR)
                _transpose_4x8(_ptr(a), src + _U8 * lda + p, lda, _ptr(ap), base + p * _UMR + _U8, _UMR)
                p += _U8
            for r in range(_UMR):
                for pp in range(p, kc):
                    ap[base + pp * _UMR + r] = a[src + r * lda + pp]
        else:  # op(a)[i, p] = a[i, p]: each row of the panel is contiguous in a
            for r in range(rows):
                src = (ii + r) * lda + p0
                for p in range(kc):
                    ap[base + p * _UMR + r] = a[src + p]
            for r in range(rows, _UMR):
                for p in range(kc):
                    ap[base + p * _UMR + r] = z


@njit(cache=True)
def _pack_b(b, ldb, tb, p0, kc, j0, nc, nr, bp):
    """Copy op(b)[p0:p0+kc, j0:j0+nc] into NR-wide micro-panels: row p of
    panel q is bp[(q*kc + p)*nr :][:nr], columns past ``nc`` zeroed."""
    z = _zero(bp)
    for q in range((nc + nr - _U1) // nr):
        jj = j0 + q * nr
        cols = min(nr, nc - q * nr)
        base = q * kc * nr
        if tb:  # op(b)[p, j] = b[j, p]
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
@njit(cache=True)
def _gemm_columns(a, lda, ta, b, ldb, tb, m, n, k, c, bias, use_bias, relu, jp_lo, jp_hi, bp, ap, t):
    """One thread's share of the Goto/BLIS loop nest: the columns of C in the NR
    panels jp_lo..jp_hi, all rows.  For each KC block of K, pack this share of
    op(B); for each MC block of rows pack op(A); then run the micro-kernel over
    the MR x NR tiles.  Tiles go column by column (one B micro-panel stays in
    L1) unless the packed B is small (a shallow K): then row by row, so that
    the writes to C stream.  ``t`` is an MR x NR scratch tile.  Sizes are int64
    here; the hot code gets uint64."""
    u = np.uint64
    nr = _nr(c)
    inr = np.int64(nr)
    nkb = (k + KC - 1) // KC
    kcb = (k + nkb - 1) // nkb  # K split evenly: 784 -> 3 x 262
    for q0 in range(jp_lo, jp_hi, NC // inr):
        nq = min(jp_hi - q0, NC // inr)  # NR panels in this N block
        for kb in range(nkb):
            p0 = kb * kcb
            kc = min(kcb, k - p0)
            first = kb == 0
            last = kb == nkb - 1
            _pack_b(b, u(ldb), tb, u(p0), u(kc), u(q0 * inr), u(min(nq * inr, n - q0 * inr)), nr, bp)
            by_rows = kc * nq * inr * c.itemsize <= 32768
            for i0 in range(0, m, MC):
                mc = min(MC, m - i0)
                mpan = (mc + MR - 1) // MR
                _pack_a(a, u(lda), ta, u(i0), u(mc), u(p0), u(kc), ap)
                nfull = nq if (q0 + nq) * inr <= n else nq - 1  # full-width column panels
                for tile in range(mpan * nfull):
                    if by_rows:
                        ip, jq = tile // nfull, tile % nfull
                    else:
                        jq, ip = tile // mpan, tile % mpan
                    ii = i0 + ip * MR
                    jj = (q0 + jq) * inr
                    _micro_kernel(u(kc), _ptr(ap), u(ip * kc * MR), _UMR, _ptr(bp), u(jq * kc * inr), nr,
                                  _ptr(c), u(ii * n + jj), u(n), u(min(MR, m - ii)), not first,
                                  _ptr(bias), u(jj), last and use_bias, last and relu)
                if nfull < nq:  # the last, narrower column panel: through the scratch t
                    jj = (q0 + nfull) * inr
                    for ip in range(mpan):
                        ii = i0 + ip * MR
                        _micro_kernel(u(kc), _ptr(ap), u(ip * kc * MR), _UMR, _ptr(bp), u(nfull * kc * inr), nr,
                                      _ptr(t), _U0, nr, _UMR, False, _ptr(bias), _U0, False, False)
                        _store_edge(_ptr(t), nr, u(min(MR, m - ii)), u(n - jj), _ptr(c), u(ii * n + jj), u(n), _U1,
                                    not first, _ptr(bias), u(jj), _U0, last and use_bias, last and relu)


@njit(cache=True, parallel=True)
def _gemm_blocked(a, lda, ta, b, ldb, tb, m, n, k, c, bias, use_bias, relu, threads):
    """The general GEMM: the NR panels of C's columns are split evenly between
    ``threads`` threads, and each thread runs ``_gemm_columns`` on its share with its own
    packing buffers, so the whole call is one parallel region with no barrier;
    with one thread (``gemm`` passes 1 under ``PARALLEL_FLOPS``) there is no
    parallel region at all."""
    inr = np.int64(_nr(c))
    npan = (n + inr - 1) // inr
    nt = max(1, min(threads, npan))
    share = (npan + nt - 1) // nt
    nkb = (k + KC - 1) // KC
    kcb = (k + nkb - 1) // nkb
    bp = np.empty((nt, kcb * min(share, NC // inr) * inr), c.dtype)
    ap = np.empty((nt, kcb * ((min(m, MC) + MR - 1) // MR) * MR), c.dtype)
    t = np.empty((nt, MR * inr), c.dtype)
    if nt == 1:
        _gemm_columns(a, lda, ta, b, ldb, tb, m, n, k, c, bias, use_bias, relu, 0, npan, bp[0], ap[0], t[0])
    else:
        for th in prange(nt):
            _gemm_columns(a, lda, ta, b, ldb, tb, m, n, k, c, bias, use_bias, relu,
                          th * share, min(npan, (th + 1) * share), bp[th], ap[th], t[th])


@njit(cache=True)
def _dot_store(c, n, i0, j, rows, s0, s1, s2, s3, bias, use_bias, relu):
    """C[i0:i0+rows, j] = (s0, s1, s2, s3)[:rows] (+ bias[j]) (then ReLU)."""
    z = _zero(c)
    if use_bias:
        s0 += bias[j]
        s1 += bias[j]
        s2 += bias[j]
        s3 += bias[j]
    if relu:
        s0, s1, s2, s3 = max(s0, z), max(s1, z), max(s2, z), max(s3, z)
    o = i0 * n + j
    c[o] = s0
    if rows > _U1:
        c[o + n] = s1
    if rows > _U2:
        c[o + _U2 * n] = s2
    if rows > _U3:
        c[o + _U3 * n] = s3


@njit(cache=True, fastmath={"contract", "reassoc"})
def _dot_blocks(a, lda, bt, m, n, k, c, bias, use_bias, relu, lo, hi):
    """Rows [4*lo, 4*hi) of C for ``_gemm_dot``: each C[i, j] is the dot product
    of row i of A with row j of bt, vectorized along K (``reassoc`` lets LLVM
    keep vector partial sums).  A 4 x 2 block of C at a time: each step loads
    four vectors of A and two of bt for eight FMAs."""
    u = np.uint64
    z = _zero(c)
    uk, un = u(k), u(n)
    for blk in range(lo, hi):
        i0 = blk * 4
        rows = u(min(4, m - i0))
        # rows past the end repeat the last row (computed, not stored)
        o0 = u(i0 * lda)
        o1 = u(min(i0 + 1, m - 1) * lda)
        o2 = u(min(i0 + 2, m - 1) * lda)
        o3 = u(min(i0 + 3, m - 1) * lda)
        for j in range(0, un, _U2):
            j1 = min(j + _U1, un - _U1)  # an odd last column is computed twice
            q0, q1 = j * uk, j1 * uk
            s00 = s01 = s10 = s11 = s20 = s21 = s30 = s31 = z
            for p in range(uk):
                b0, b1 = bt[q0 + p], bt[q1 + p]
                x0, x1, x2, x3 = a[o0 + p], a[o1 + p], a[o2 + p], a[o3 + p]
                s00 += x0 * b0
                s01 += x0 * b1
                s10 += x1 * b0
                s11 += x1 * b1
                s20 += x2 * b0
                s21 += x2 * b1
                s30 += x3 * b0
                s31 += x3 * b1
            _dot_store(_ptr(c), un, u(i0), j, rows, s00, s10, s20, s30, _ptr(bias), use_bias, relu)
            _dot_store(_ptr(c), un, u(i0), j1, rows, s01, s11, s21, s31, _ptr(bias), use_bias, relu)


@njit(cache=True, parallel=True)
def _gemm_dot(a, lda, b, ldb, tb, m, n, k, c, bias, use_bias, relu, threads):
    """Narrow N, A not transposed (``x @ w`` with 10 columns): dot products
    along K (``_dot_blocks``).  op(B) is first copied transposed (N x K), which
    is small since N is; blocks of four rows are split between the threads."""
    u = np.uint64
    bt = np.empty(n * k, c.dtype)
    for j in range(n):
        for p in range(k):
            bt[j * k + p] = b[u(j * ldb + p)] if tb else b[u(p * ldb + j)]
    nblk = (m + 3) // 4
    nt = max(1, min(threads, nblk))
    if nt == 1:
        _dot_blocks(a, lda, bt, m, n, k, c, bias, use_bias, relu, 0, nblk)
    else:
        share = (nblk + nt - 1) // nt
        for th in prange(nt):
            _dot_blocks(a, lda, bt, m, n, k, c, bias, use_bias, relu, th * share, min(nblk, (th + 1) * share))


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
        _store_edge(_ptr(t), nr, u(n), nr, _ptr(c), u(i0 * n), _U1, u(n),
                    False, _ptr(bias), _U0, _U1, use_bias, relu)


@njit(cache=True)
def _narrow_ta_range(a, lda, ap, n, k, c, bias, use_bias, relu, few, lo, hi):
    """Blocks [lo, hi) of NR rows of C: the 10-tall kernel when ``few`` (n <= 10)."""
    if few:
        _narrow_ta_blocks_10(a, lda, ap, n, k, c, bias, use_bias, relu, lo, hi)
    else:
        _narrow_ta_blocks(a, lda, ap, n, k, c, bias, use_bias, relu, lo, hi)


@njit(cache=True, parallel=True)
def _gemm_narrow_ta(a, lda, b, ldb, tb, m, n, k, c, bias, use_bias, relu, threads):
    """Narrow N with A transposed (``x.T @ dy``, dy with 10 columns): the
    transposed problem C.T = op(B).T @ a, whose long side M runs along the
    vector registers.  op(B).T (N x K, small) is packed into MR-tall panels;
    the rows of a are read in place as the B-panel of the micro-kernel (row
    stride lda).  Blocks of NR rows of C are split between the threads."""
    u = np.uint64
    inr = np.int64(_nr(c))
    z = _zero(c)
    ap = np.empty(((n + MR - 1) // MR) * MR * k, c.dtype)
    # op(b).T[j, p] = op(b)[p, j]: pack as an "A" with the opposite transpose flag
    _pack_a(b, u(ldb), not tb, _U0, u(n), _U0, u(k), ap)
    # blocks of NR rows (by the 10-class kernel when n <= 10), split between threads
    few = n <= 10
    nblk = m // inr
    nt = max(1, min(threads, nblk))
    if nt == 1:   # no parallel region: waking the pool costs more than a small problem
        _narrow_ta_range(a, lda, ap, n, k, c, bias, use_bias, relu, few, 0, nblk)
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


def gemm(a, b, transpose_a, transpose_b, out, bias=None, relu=False):
    """out = op(a) @ op(b) (+ bias) (then ReLU); C-contiguous 2-D arrays of one dtype.

    Chooses the narrow paths when op(b) has at most ``NARROW_N`` columns, and
    one thread for problems under ``PARALLEL_FLOPS`` floating-point operations.
    """
    m, n = out.shape
    k = a.shape[0] if transpose_a else a.shape[1]
    lda, ldb = a.shape[1], b.shape[1]
    af, bf, cf = a.reshape(-1), b.reshape(-1), out.reshape(-1)
    use_bias = bias is not None
    if use_bias:
        if not bias.flags.writeable:  # keep one compiled specialization (it is small)
            bias = bias.copy()
    else:
        bias = cf[:1]
    ta, tb, relu = bool(transpose_a), bool(transpose_b), bool(relu)
    # small problems stay on this thread: waking the pool costs more than they take
    threads = 1 if 2.0 * m * n * k < PARALLEL_FLOPS else numba.get_num_threads()
    if n <= NARROW_N:
        if ta:
            _gemm_narrow_ta(af, lda, bf, ldb, tb, m, n, k, cf, bias, use_bias, relu, threads)
        else:
            _gemm_dot(af, lda, bf, ldb, tb, m, n, k, cf, bias, use_bias, relu, threads)
    else:
        _gemm_blocked(af, lda, ta, bf, ldb, tb, m, n, k, cf, bias, use_bias, relu, threads)
    return out


guard_caches(globals())  # a corrupt cache entry is dropped and recompiled
