"""What the Numba GEMM needs that plain Numba Python cannot spell.

* LLVM intrinsics (``@intrinsic``: functions that emit LLVM IR directly):
  ``_ptr`` (an array's data pointer) and the register transposes
  ``_transpose_8x8`` / ``_transpose_4x8`` that pack A (LLVM ``shufflevector``,
  which Numba's Python has no word for); ``prefer_512bit_vectors`` marks the
  function such IR lands in (the micro-kernels of gemm/numba_microkernels.py).
* ``_zero``, a zero of an array's dtype chosen at compile time (``@overload``),
  and unsigned index constants ``_U0``..``_U10`` (a signed index costs a
  negative-wraparound select per access and blocks vectorization).

Used by the Numba kernels of every family (kernels/*/numba.py), which
declare this file with ``depends_on``, so an edit here recompiles their
cached kernels.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic, overload

# unsigned constants, so that no index arithmetic turns signed (or float)
_U0, _U1, _U2, _U3, _U4, _U5, _U6, _U7, _U8, _U9, _U10 = [np.uint64(i) for i in range(11)]


def _zero(x):
    """A zero of the dtype of array ``x`` (resolved at compile time)."""
    raise NotImplementedError


@overload(_zero)
def _zero_impl(x):
    if x.dtype == types.float32:
        return lambda x: np.float32(0)
    return lambda x: np.float64(0)


def prefer_512bit_vectors(function):
    """Mark an LLVM function ``"prefer-vector-width"="512"`` and
    ``"min-legal-vector-width"="512"``.

    LLVM tunes some x86 CPUs to prefer 256-bit vectors, and then splits even
    explicit 512-bit vector IR in two; with these attributes the backend uses
    the full AVX-512 registers.  A CPU without AVX-512 ignores them.
    """
    attrs = function.attributes
    # llvmlite only validates the names it knows; string attributes are
    # added to the underlying set directly and printed as they are.
    set.add(attrs, '"prefer-vector-width"="512"')
    set.add(attrs, '"min-legal-vector-width"="512"')


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


@intrinsic
def _prefetch_l2(typingctx, ptr, offset):
    """Ask for the cache line holding ptr[offset] in L2 (``prefetcht1``, a
    read): the memory system fetches it while the core goes on; a hint that
    never faults, even past an array's end."""
    if not isinstance(ptr, types.CPointer) or not isinstance(offset, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = builder.module.declare_intrinsic("llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]))
        at = builder.bitcast(builder.gep(args[0], [args[1]]), i8p)
        builder.call(fn, [at, i32(0), i32(2), i32(1)])
        return context.get_dummy_value()

    return types.none(ptr, offset), codegen


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


def _gathering_transposer(nrows):
    """As ``_transposer``, for rows that need not lie equally far apart: an
    intrinsic ``f(src, starts, si, col, dst, do, ldd)`` with
    dst[do + j*ldd + i] = src[starts[si + i] + col + j], ``starts`` a pointer to
    where each row begins (uint64).  It packs the rows of A a row index names
    (a shuffled batch) as ``_transposer`` packs equally spaced ones."""

    @intrinsic
    def transpose(typingctx, src, starts, si, col, dst, do, ldd):
        def codegen(context, builder, signature, args):
            src, starts, si, col, dst, do, ldd = args
            elt = context.get_data_type(signature.args[0].dtype)
            align = context.get_abi_sizeof(elt)
            rows = []
            for i in range(nrows):
                start = builder.load(builder.gep(starts, [builder.add(si, ir.Constant(si.type, i))]))
                at = builder.gep(src, [builder.add(start, col)])
                rows.append(builder.load(builder.bitcast(at, ir.VectorType(elt, 8).as_pointer()), align=align))
            for j, column in enumerate(_columns_by_shuffles(builder, rows)):
                at = builder.gep(dst, [builder.add(do, builder.mul(ldd, ir.Constant(do.type, j)))])
                builder.store(column, builder.bitcast(at, ir.VectorType(elt, nrows).as_pointer()), align=align)
            return context.get_dummy_value()

        if starts != types.CPointer(types.uint64) or not all(isinstance(t, types.Integer) for t in (si, col, do, ldd)):
            return None
        return types.none(src, starts, si, col, dst, do, ldd), codegen

    return transpose


_gather_transpose_8x8 = _gathering_transposer(8)
_gather_transpose_4x8 = _gathering_transposer(4)
