"""The micro-kernel of the fused weight-gradient GEMM: an RMSprop epilogue (driver: numba_fused.py).

A weight's gradient ``dW = X^T @ G`` has the batch as its depth K.  With a
batch of at most ``KC`` rows, every MR x NR tile of dW is finished in the
micro-kernel's registers after one pass down K: it is final there.  So
instead of storing the tile (and reading it back in a separate optimizer
pass over the 1.6 MB of W1), this kernel applies the optimizer to the tile's
weights and mean squares straight from the accumulators:

    v = rho*v + (1-rho)*g*g;   w -= lr*g / sqrt(v + eps)

lane by lane, with the very operations (and their order) of RMSprop's range
kernel in kernels/optim/numba.py, so the weights come out bit for bit as the
GEMM followed by ``rmsprop_update`` gives them.  dW itself is never written.

**Prefetching.**  The tiles of W lie 12 rows (24 KB) apart, too far for the
hardware's stride prefetcher, so each epilogue would wait on a cold miss for
every vector of W and V.  The first 4*MR steps of the k loop therefore each
prefetch one cache line of the *next* tile's weights and mean squares
(``pn``).  And as the tiles walk along a row of W (numba_fused.py), each
reads a new 16 KB panel of B from L2, which the hardware brings to L1 too
late: every step also prefetches B's row ``B_AHEAD`` steps on.  Spreading
the updates of a finished tile over the next tile's k loop (to overlap the
divider with the FMAs) was slower, in every form tried:
kernels/gemm/MEASUREMENTS.md has the numbers.

The k loop is the one of ``_emit_tile`` (kernels/gemm/numba_microkernels.py):
A packed (element (r, p) at A[pa + r + p*csa]), B at B[pb + p*rsb + j]; only
the epilogue differs, and a row past ``rows`` is skipped (the plain kernel
aims such a row at the last one and stores it first, which an update in
place cannot do: it would update that row twice).
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from .._numba.intrinsics import prefer_512bit_vectors
from .numba_microkernels import VECTOR_BITS, VECTORS_PER_ROW, keep_loop_rolled

#: the arguments of the fused kernel: the micro-kernel's A and B panels, then
#: the weights W and mean squares V (the tile at W[pw + r*ldw + j]) and RMSprop's scalars
ARGS = ("kc", "A", "pa", "csa", "B", "pb", "rsb", "W", "V", "pw", "ldw", "rows", "pn", "lr", "rho",
        "one_minus_rho", "eps")
POINTERS = ("A", "B", "W", "V")
#: how many k steps ahead the micro-kernel prefetches its rows of B into L1
B_AHEAD = 8
SCALARS = ("lr", "rho", "one_minus_rho", "eps")


def _rmsprop_tile_kernel(mr):
    """An intrinsic ``kernel(*ARGS)``: an ``mr`` x NR tile of A @ B, used as the
    gradient of the weights W (mean squares V) in one RMSprop step, in place."""

    @intrinsic
    def kernel(typingctx, kc, A, pa, csa, B, pb, rsb, W, V, pw, ldw, rows, pn, lr, rho, one_minus_rho, eps):
        given = dict(zip(ARGS, (kc, A, pa, csa, B, pb, rsb, W, V, pw, ldw, rows, pn, lr, rho, one_minus_rho, eps)))
        dtype = getattr(W, "dtype", None)
        if (dtype not in (types.float32, types.float64)
                or any(given[p] != types.CPointer(dtype) for p in POINTERS)
                or any(given[s] != dtype for s in SCALARS)
                or any(not isinstance(t, types.Integer) for n, t in given.items() if n not in POINTERS + SCALARS)):
            return None   # Numba reports "no matching definition" with the types given
        return types.none(*given.values()), lambda context, builder, sig, args: _emit_rmsprop_tile(
            mr, context, builder, dict(zip(ARGS, sig.args)), dict(zip(ARGS, args)))

    kernel.__doc__ = f"The {mr} x NR micro-kernel with RMSprop's update as its epilogue (_emit_rmsprop_tile)."
    return kernel


def _emit_rmsprop_tile(mr, context, builder, types_of, value_of):
    """Emit the k loop of vector FMAs (as ``_emit_tile``), then, per row r < rows
    and per vector of it: load w and v, update them from the accumulator g, store them."""
    prefer_512bit_vectors(builder.function)
    elt = context.get_value_type(types_of["W"].dtype)
    size = context.get_abi_sizeof(elt)
    lanes = VECTOR_BITS // (8 * size)
    vec = ir.VectorType(elt, lanes)
    u64 = ir.IntType(64)
    bits = 8 * size

    def arg(name):   # integers as uint64, pointers and scalars as they are
        if name in POINTERS + SCALARS:
            return value_of[name]
        return context.cast(builder, value_of[name], types_of[name], types.uint64)

    def at(ptr, offset):
        return builder.bitcast(builder.gep(ptr, [offset]), vec.as_pointer())

    def splat(x):
        one = builder.insert_element(ir.Constant(vec, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(one, ir.Constant(vec, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), lanes), None))

    A, B, W, V = (arg(p) for p in POINTERS)
    kc, pa, csa, pb, rsb, pw, ldw, rows, pn = (arg(n) for n in ("kc", "pa", "csa", "pb", "rsb", "pw", "ldw", "rows",
                                                                 "pn"))
    lr, rho, one_minus_rho, eps = (splat(arg(s)) for s in SCALARS)
    fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3), f"llvm.fma.v{lanes}f{bits}")
    sqrt = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec]), f"llvm.sqrt.v{lanes}f{bits}")
    zero = ir.Constant(vec, [0.0] * lanes)
    columns = [u64(v * lanes) for v in range(VECTORS_PER_ROW)]
    acc = [[cgutils.alloca_once_value(builder, zero) for _ in columns] for _ in range(mr)]

    i8p = ir.IntType(8).as_pointer()
    i32 = ir.IntType(32)
    prefetch = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                              "llvm.prefetch.p0i8")
    with cgutils.for_range(builder, kc) as loop:   # step p: A(:, p) times B(p, :), as _emit_tile
        # steps p < 4*mr also fetch one cache line of the next tile's weights and mean squares
        # (each of its rows: two vectors of W, two of V), which the epilogue of the next
        # call reads: nothing fetches them otherwise (the tiles lie too far apart for the
        # hardware's stride prefetcher), and a cold miss per vector doubled a tile's time
        with builder.if_then(builder.icmp_unsigned("<", loop.index, u64(2 * len(columns) * mr))):
            which = builder.and_(loop.index, u64(2 * len(columns) - 1))
            line = builder.add(builder.add(pn, builder.mul(builder.udiv(loop.index, u64(2 * len(columns))), ldw)),
                               builder.mul(builder.and_(which, u64(len(columns) - 1)), u64(lanes)))
            base = builder.select(builder.icmp_unsigned("<", which, u64(len(columns))), W, V)
            builder.call(prefetch, [builder.bitcast(builder.gep(base, [line]), i8p), i32(1), i32(3), i32(1)])
        a_at = builder.mul(loop.index, csa)
        b_at = builder.add(pb, builder.mul(loop.index, rsb))
        b_row = [builder.load(at(B, builder.add(b_at, j)), align=size) for j in columns]
        # and B's row B_AHEAD steps on: each tile reads a new B panel (16 KB, from L2: the tiles
        # walk along a row of W), and the hardware does not bring it to L1 in time
        b_ahead = builder.add(b_at, builder.mul(rsb, u64(B_AHEAD)))
        for j in columns:
            builder.call(prefetch, [builder.bitcast(builder.gep(B, [builder.add(b_ahead, j)]), i8p), i32(0), i32(3),
                                    i32(1)])
        for r in range(mr):
            x = builder.load(builder.gep(A, [builder.add(builder.add(pa, u64(r)), a_at)]))
            for v, b in enumerate(b_row):
                builder.store(builder.call(fma, [splat(x), b, builder.load(acc[r][v])]), acc[r][v])
        step_block = builder.basic_block
    keep_loop_rolled(builder.module, step_block.terminator)

    # the epilogue: RMSprop on each finished row of the tile, in the order of _rmsprop_range:
    # v = rho*v + ((1-rho)*g)*g;  w = w - (lr*g) / sqrt(v + eps)
    for r in range(mr):
        with builder.if_then(builder.icmp_unsigned("<", u64(r), rows)):
            row_at = builder.add(pw, builder.mul(u64(r), ldw))
            for v, j in enumerate(columns):
                g = builder.load(acc[r][v])
                where = builder.add(row_at, j)
                old_v = builder.load(at(V, where), align=size)
                new_v = builder.fadd(builder.fmul(rho, old_v), builder.fmul(builder.fmul(one_minus_rho, g), g))
                builder.store(new_v, at(V, where), align=size)
                step = builder.fdiv(builder.fmul(lr, g), builder.call(sqrt, [builder.fadd(new_v, eps)]))
                builder.store(builder.fsub(builder.load(at(W, where), align=size), step), at(W, where), align=size)
    return context.get_dummy_value()


#: 12 x 32 float32 / 12 x 16 float64, and the 8-row kernel for a last row panel of at most 8 rows
_rmsprop_kernel = _rmsprop_tile_kernel(12)
_rmsprop_kernel_8 = _rmsprop_tile_kernel(8)
