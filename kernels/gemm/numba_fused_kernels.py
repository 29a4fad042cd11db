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

**Pipelined.**  The square root and the division are the slowest
instructions there are (one 16-lane pair occupies the divider for about 22
cycles on an AVX-512 Xeon): a tile's 24 of them after its k loop took as long
as a third of the loop, and the out-of-order window (a few hundred
instructions) cannot reach past them to the next tile's FMAs.  So the
epilogue stops half way: it updates and stores V and leaves ``num = lr*g`` and
``den = v + eps`` in a small scratch S; the *next* call finishes that tile,
one vector ``w -= num / sqrt(den)`` every ``STEPS_PER_UPDATE`` steps of its
own k loop, where the divider works beside the FMAs (the driver finishes the
last tile).  The same operations on the same numbers: the same bits.

**Prefetching.**  The tiles of W lie 12 rows (24 KB) apart, too far for the
hardware's stride prefetcher, so each epilogue would wait on a cold miss for
every vector of W and V.  The k loop therefore prefetches, one line every
``PREFETCH_EVERY`` steps, the next tile's weights and mean squares (``pn``)
into L2 (``prefetcht1``): rows 2 KB apart fall in 4 of L1's 64 sets, where
the lines of two tiles evict each other.  kernels/gemm/MEASUREMENTS.md has
the variants measured.

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

#: the arguments of the fused kernel: the micro-kernel's A and B panels, the weights W
#: and mean squares V (the tile at W[pw + r*ldw + j]), the next tile's offset ``pn``
#: (prefetched), RMSprop's scalars, then the scratch S and the pending tile (the
#: previous call's, finished by this one: its weights at W[qw + r*ldw + j], its rows)
ARGS = ("kc", "A", "pa", "csa", "B", "pb", "rsb", "W", "V", "pw", "ldw", "rows", "pn", "lr", "rho",
        "one_minus_rho", "eps", "S", "qw", "qrows")
POINTERS = ("A", "B", "W", "V", "S")
SCALARS = ("lr", "rho", "one_minus_rho", "eps")
#: steps of the k loop per finished vector of the pending tile (12 x 32 float32: 24
#: vectors; a batch of 128 has 32 such slots, the rest are finished after the loop)
STEPS_PER_UPDATE = 4
#: steps of the k loop per prefetched line of the next tile (4 lines per row: 2 of W, 2 of V)
PREFETCH_EVERY = 2
#: S holds num for 2 * MR vectors, then den for as many
SCRATCH_VECTORS = 2 * 12


def _rmsprop_tile_kernel(mr):
    """An intrinsic ``kernel(*ARGS)``: an ``mr`` x NR tile of A @ B, used as the
    gradient of the weights W (mean squares V) in one RMSprop step, in place;
    the step's division finished by the next call (the module's docstring)."""

    @intrinsic
    def kernel(typingctx, kc, A, pa, csa, B, pb, rsb, W, V, pw, ldw, rows, pn, lr, rho, one_minus_rho, eps,
               S, qw, qrows):
        given = dict(zip(ARGS, (kc, A, pa, csa, B, pb, rsb, W, V, pw, ldw, rows, pn, lr, rho,
                                one_minus_rho, eps, S, qw, qrows)))
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
    """The k loop of ``_emit_rmsprop_tile``, which every STEPS_PER_UPDATE steps also
    finishes one vector of the previous tile's update (w -= num / sqrt(den), num and
    den read from the scratch S, where that tile left them); the vectors not reached
    by the end of the loop are finished after it.  Then this tile's epilogue: v is
    updated and stored, num = lr*g and den = v + eps go to S for the next call.
    The square root and the division then run on the divider while the FMAs run."""
    prefer_512bit_vectors(builder.function)
    elt = context.get_value_type(types_of["W"].dtype)
    size = context.get_abi_sizeof(elt)
    lanes = VECTOR_BITS // (8 * size)
    vec = ir.VectorType(elt, lanes)
    u64 = ir.IntType(64)
    bits = 8 * size
    nvec = len(range(VECTORS_PER_ROW))

    def arg(name):
        if name in POINTERS + SCALARS:
            return value_of[name]
        return context.cast(builder, value_of[name], types_of[name], types.uint64)

    def at(ptr, offset):
        return builder.bitcast(builder.gep(ptr, [offset]), vec.as_pointer())

    def splat(x):
        one = builder.insert_element(ir.Constant(vec, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(one, ir.Constant(vec, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), lanes), None))

    A, B, W, V, S = (arg(p) for p in POINTERS)
    kc, pa, csa, pb, rsb, pw, ldw, rows, pn, qw, qrows = (
        arg(n) for n in ("kc", "pa", "csa", "pb", "rsb", "pw", "ldw", "rows", "pn", "qw", "qrows"))
    lr, rho, one_minus_rho, eps = (splat(arg(s)) for s in SCALARS)
    fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3), f"llvm.fma.v{lanes}f{bits}")
    sqrt = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec]), f"llvm.sqrt.v{lanes}f{bits}")
    zero = ir.Constant(vec, [0.0] * lanes)
    columns = [u64(v * lanes) for v in range(VECTORS_PER_ROW)]
    acc = [[cgutils.alloca_once_value(builder, zero) for _ in columns] for _ in range(mr)]
    den_at = u64(SCRATCH_VECTORS * lanes)   # S: num of vector j at S[j*lanes], den at S[den_at + j*lanes]
    pending = builder.mul(qrows, u64(nvec))

    def finish(j):   # vector j (row j // nvec, vector j % nvec) of the pending tile: w -= num / sqrt(den)
        row = builder.udiv(j, u64(nvec))
        where = builder.add(builder.add(qw, builder.mul(row, ldw)), builder.mul(builder.urem(j, u64(nvec)), u64(lanes)))
        num = builder.load(at(S, builder.mul(j, u64(lanes))), align=size)
        den = builder.load(at(S, builder.add(den_at, builder.mul(j, u64(lanes)))), align=size)
        step = builder.fdiv(num, builder.call(sqrt, [den]))
        builder.store(builder.fsub(builder.load(at(W, where), align=size), step), at(W, where), align=size)

    i8p = ir.IntType(8).as_pointer()
    i32 = ir.IntType(32)
    prefetch = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                              "llvm.prefetch.p0i8")
    with cgutils.for_range(builder, kc) as loop:
        # one cache line of the next tile's W or V every PREFETCH_EVERY steps
        pf = builder.udiv(loop.index, u64(PREFETCH_EVERY))
        pf_due = builder.and_(builder.icmp_unsigned("<", pf, u64(2 * nvec * mr)),
                              builder.icmp_unsigned("==", builder.urem(loop.index, u64(PREFETCH_EVERY)), u64(0)))
        with builder.if_then(pf_due):
            which = builder.and_(pf, u64(2 * nvec - 1))
            line = builder.add(builder.add(pn, builder.mul(builder.udiv(pf, u64(2 * nvec)), ldw)),
                               builder.mul(builder.and_(which, u64(nvec - 1)), u64(lanes)))
            base = builder.select(builder.icmp_unsigned("<", which, u64(nvec)), W, V)
            # a read prefetch into L2 (locality 2: prefetcht1)
            builder.call(prefetch, [builder.bitcast(builder.gep(base, [line]), i8p), i32(0), i32(2), i32(1)])
        # every STEPS_PER_UPDATE-th step: one vector of the pending tile's update
        slot = builder.udiv(loop.index, u64(STEPS_PER_UPDATE))
        due = builder.and_(
            builder.icmp_unsigned("==", builder.urem(loop.index, u64(STEPS_PER_UPDATE)), u64(STEPS_PER_UPDATE - 1)),
            builder.icmp_unsigned("<", slot, pending))
        with builder.if_then(due, likely=False):
            finish(slot)
        a_at = builder.mul(loop.index, csa)
        b_at = builder.add(pb, builder.mul(loop.index, rsb))
        b_row = [builder.load(at(B, builder.add(b_at, j)), align=size) for j in columns]
        for r in range(mr):
            x = builder.load(builder.gep(A, [builder.add(builder.add(pa, u64(r)), a_at)]))
            for v, b in enumerate(b_row):
                builder.store(builder.call(fma, [splat(x), b, builder.load(acc[r][v])]), acc[r][v])
        step_block = builder.basic_block
    keep_loop_rolled(builder.module, step_block.terminator)

    # the pending vectors the loop did not reach (a batch shallower than STEPS_PER_UPDATE * vectors)
    reached = builder.udiv(kc, u64(STEPS_PER_UPDATE))
    start = builder.select(builder.icmp_unsigned("<", reached, pending), reached, pending)
    with cgutils.for_range_slice(builder, start, pending, u64(1)) as (j, _):
        finish(j)

    # this tile: v = rho*v + ((1-rho)*g)*g stored; num = lr*g and den = v + eps left in S
    for r in range(mr):
        with builder.if_then(builder.icmp_unsigned("<", u64(r), rows)):
            row_at = builder.add(pw, builder.mul(u64(r), ldw))
            for v, j in enumerate(columns):
                g = builder.load(acc[r][v])
                where = builder.add(row_at, j)
                old_v = builder.load(at(V, where), align=size)
                new_v = builder.fadd(builder.fmul(rho, old_v), builder.fmul(builder.fmul(one_minus_rho, g), g))
                builder.store(new_v, at(V, where), align=size)
                k = u64((r * nvec + v) * lanes)
                builder.store(builder.fmul(lr, g), at(S, k), align=size)
                builder.store(builder.fadd(new_v, eps), at(S, builder.add(den_at, k)), align=size)
    return context.get_dummy_value()


#: 12 x 32 float32 / 12 x 16 float64, and the 8-row kernel for a last row panel of at most 8 rows
_rmsprop_kernel = _rmsprop_tile_kernel(12)
_rmsprop_kernel_8 = _rmsprop_tile_kernel(8)
