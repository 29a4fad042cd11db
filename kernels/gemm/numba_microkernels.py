"""The micro-kernels of the Numba GEMM, built as LLVM vector IR (the driver is kernels/gemm/numba.py).

A micro-kernel keeps an MR x NR tile of C in vector registers while it runs
down K: each step loads one row of the B panel (NR numbers: two 512-bit
vectors, 16 float64 or 32 float32), broadcasts the MR numbers of one column
of the A panel, and does 2*MR vector FMAs.  For MR = 12 that is 24
accumulator registers and 14 loads per 24 FMAs, so the two FMA ports, not the
two load ports, set the pace.  It computes what ``reference_micro_kernel``
(kernels/gemm/reference.py) computes with loops; kernels/gemm/DESIGN.md states the
contract.

Numba's Python has no vector type, so ``_tile_kernel`` writes the kernel as
LLVM IR with llvmlite's builder (an ``@intrinsic``): the Python loops below
run once, at compile time, and emit one ``llvm.fma`` per accumulator
register.  (Written as scalar Python, the tile is 384 variables that LLVM's
SLP vectorizer must fuse back into vectors, which took it most of a minute.)
On a CPU without AVX-512, LLVM splits each 512-bit vector into two 256-bit
ones: still correct, with fewer registers than the tile needs.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from .._numba.intrinsics import prefer_512bit_vectors

#: the vector width: NR is two such vectors (32 float32 or 16 float64)
VECTOR_BITS = 512
VECTORS_PER_ROW = 2

#: the arguments of every micro-kernel, as in ``reference_micro_kernel``
#: (without its ``nr``: the tile width follows from the dtype)
ARGS = ("kc", "A", "pa", "csa", "B", "pb", "rsb", "C", "pc", "ldc", "rows",
        "accumulate", "bias", "jb", "use_bias", "relu")
POINTERS = ("A", "B", "C", "bias")
FLAGS = ("accumulate", "use_bias", "relu")


def _tile_kernel(mr, a_rows=False):
    """An intrinsic ``kernel(*ARGS)``: the micro-kernel contract for an
    ``mr`` x NR tile, NR = ``VECTORS_PER_ROW`` vectors of C's dtype.

    A, B, C and bias are pointers (``_ptr``) to one float dtype; offsets,
    strides and ``rows`` are integers; the three flags are bools.  With
    ``a_rows`` the A panel is read in place from a row-major matrix: element
    (r, p) at A[pa + r*csa + p] (``csa`` is then the matrix's row length), and
    a row past ``rows`` reads row ``rows - 1``, so nothing past A's end is read.
    """

    @intrinsic
    def kernel(typingctx, kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
        given = dict(zip(ARGS, (kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb,
                                use_bias, relu)))
        dtype = getattr(C, "dtype", None)
        if (dtype not in (types.float32, types.float64)
                or any(given[p] != types.CPointer(dtype) for p in POINTERS)
                or any(given[f] != types.boolean for f in FLAGS)
                or any(not isinstance(t, types.Integer) for n, t in given.items()
                       if n not in POINTERS + FLAGS)):
            return None   # Numba reports "no matching definition" with the types given
        return types.none(*given.values()), lambda context, builder, sig, args: _emit_tile(
            mr, a_rows, context, builder, dict(zip(ARGS, sig.args)), dict(zip(ARGS, args)))

    kernel.__doc__ = (f"The {mr} x NR micro-kernel{', A read by rows' if a_rows else ''}: "
                      "``reference_micro_kernel`` as vector IR (see _emit_tile).")
    return kernel


def keep_loop_rolled(module, backedge):
    """Mark a loop (by the branch that closes it) ``llvm.loop.unroll.disable``.

    Unrolled, the k loop's loads of several steps are scheduled ahead of their
    FMAs and the 24 accumulators spill to the stack, as they did where four
    kernels were inlined into one driver.  LLVM wants a loop's metadata to
    name itself first (a self-reference llvmlite builds in two steps).
    """
    loop_id = module.add_metadata([ir.MetaDataString(module, f"k loop {len(module.metadata)}"),
                                   module.add_metadata([ir.MetaDataString(module, "llvm.loop.unroll.disable")])])
    loop_id.operands = (loop_id,) + tuple(loop_id.operands[1:])
    backedge.set_metadata("llvm.loop", loop_id)


def _emit_tile(mr, a_rows, context, builder, types_of, value_of):
    """Emit the micro-kernel's IR at the builder: the k loop of vector FMAs,
    then the write-back with its epilogue (old C, bias, ReLU), straight from
    the accumulators.  ``a_rows``: A is read by rows, in place (``_tile_kernel``)."""
    prefer_512bit_vectors(builder.function)
    elt = context.get_value_type(types_of["C"].dtype)
    size = context.get_abi_sizeof(elt)
    lanes = VECTOR_BITS // (8 * size)
    vec = ir.VectorType(elt, lanes)
    u64 = ir.IntType(64)

    def arg(name):   # integers as uint64, flags as i1, pointers as they are
        ty = types_of[name]
        if name in POINTERS:
            return value_of[name]
        return context.cast(builder, value_of[name], ty, types.boolean if name in FLAGS else types.uint64)

    def load(ptr, offset):   # one vector of ``lanes`` numbers from ptr[offset:]
        at = builder.bitcast(builder.gep(ptr, [offset]), vec.as_pointer())
        return builder.load(at, align=size)

    def store(value, ptr, offset):
        builder.store(value, builder.bitcast(builder.gep(ptr, [offset]), vec.as_pointer()), align=size)

    def broadcast(x):   # x in every lane
        one = builder.insert_element(ir.Constant(vec, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(one, ir.Constant(vec, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), lanes), None))

    A, B, C, bias = (arg(p) for p in POINTERS)
    kc, pa, csa, pb, rsb, pc, ldc, rows, jb = (arg(n) for n in ("kc", "pa", "csa", "pb", "rsb", "pc", "ldc",
                                                                 "rows", "jb"))
    name = f"llvm.fma.v{lanes}f{8 * size}"   # llvm.fma.v16f32: a * b + c, lane by lane, one rounding
    fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3), name)
    zero = ir.Constant(vec, [0.0] * lanes)
    columns = [u64(v * lanes) for v in range(VECTORS_PER_ROW)]   # where each vector of a row starts

    # row r of the tile is row min(r, rows - 1) of C (and of A read by rows): a
    # row past ``rows`` is aimed at the last one; C's rows are stored last to
    # first, so that row's own values land last (no branch per row)
    last = builder.sub(rows, u64(1))
    row = [builder.select(builder.icmp_unsigned("<", u64(r), last), u64(r), last) for r in range(mr)]
    row_at = [builder.add(pc, builder.mul(row[r], ldc)) for r in range(mr)]
    # A(r, p) is at a_row[r] + p*a_step: packed, a_row[r] = pa + r and a_step = csa;
    # by rows, a_row[r] = pa + row[r]*csa and a_step = 1
    a_row = [builder.add(pa, builder.mul(row[r], csa) if a_rows else u64(r)) for r in range(mr)]
    a_step = u64(1) if a_rows else csa

    # acc[r][v]: row r, vector v of the tile (stack slots that LLVM keeps in registers)
    acc = [[cgutils.alloca_once_value(builder, zero) for _ in columns] for _ in range(mr)]

    with cgutils.for_range(builder, kc) as loop:   # step p: A(:, p) times B(p, :)
        a_at = builder.mul(loop.index, a_step)
        b_at = builder.add(pb, builder.mul(loop.index, rsb))
        b_row = [load(B, builder.add(b_at, j)) for j in columns]
        for r in range(mr):
            a = broadcast(builder.load(builder.gep(A, [builder.add(a_row[r], a_at)])))
            for v, b in enumerate(b_row):
                builder.store(builder.call(fma, [a, b, builder.load(acc[r][v])]), acc[r][v])
        step_block = builder.basic_block
    keep_loop_rolled(builder.module, step_block.terminator)

    def update(flag, new_value):   # if flag: acc[r][v] = new_value(r, v, acc[r][v])
        with builder.if_then(flag):
            for r in range(mr):
                for v in range(len(columns)):
                    builder.store(new_value(r, v, builder.load(acc[r][v])), acc[r][v])

    update(arg("accumulate"), lambda r, v, x: builder.fadd(x, load(C, builder.add(row_at[r], columns[v]))))
    update(arg("use_bias"), lambda r, v, x: builder.fadd(x, load(bias, builder.add(jb, columns[v]))))
    # max(x, 0) as Numba's max does it: 0 only where 0 > x, so NaN stays NaN
    update(arg("relu"), lambda r, v, x: builder.select(builder.fcmp_ordered(">", zero, x), zero, x))
    for r in reversed(range(mr)):
        for v, j in enumerate(columns):
            store(builder.load(acc[r][v]), C, builder.add(row_at[r], j))
    return context.get_dummy_value()


#: the general kernel of ``_gemm_blocked``: 12 x 32 float32, 12 x 16 float64
_micro_kernel = _tile_kernel(12)
#: the kernel of ``_gemm_narrow_ta`` for up to 10 classes: 10 x 32 / 10 x 16
_narrow_kernel = _tile_kernel(10)
#: A read in place by rows (a shallow K, where packing A costs as much as a tile): 12 and 8 rows
_rows_kernel = _tile_kernel(12, a_rows=True)
_rows_kernel_8 = _tile_kernel(8, a_rows=True)
#: the general kernel for a last row panel of at most 8 rows (M = 128 is 10 x 12 + 8)
_micro_kernel_8 = _tile_kernel(8)


# ---------------------------------------------------------------- narrow N: dot products
#: the block of C one ``_dot_kernel`` call computes: 8 rows x 2 columns, 16 dot products
DOT_ROWS, DOT_COLS = 8, 2
DOT_ARGS = ("k", "A", "pa", "lda", "rows", "B", "pb", "ldb", "cols", "C", "pc", "ldc", "bias", "jb",
            "use_bias", "relu")


@intrinsic
def _dot_kernel(typingctx, k, A, pa, lda, rows, B, pb, ldb, cols, C, pc, ldc, bias, jb, use_bias, relu):
    """C[r, s] = sum over p < k of A[pa + r*lda + p] * B[pb + s*ldb + p] (+ bias[jb + s])
    (then ReLU), stored at C[pc + r*ldc + s], for the DOT_ROWS x DOT_COLS block; a
    row r >= ``rows`` (column s >= ``cols``) reads and writes row ``rows - 1``
    (column ``cols - 1``) instead, which stores the same number twice.

    The narrow-N GEMM (``h @ W2``, N = 10): each number of C is a dot product
    along K, so the vectors run along K, with one accumulator vector per number
    of the block (16, each step 8 + 2 loads for 16 FMAs).  Their 16 lanes are then
    summed all at once by a transpose-and-add (``_sum_lanes``), where one sum at a
    time would cost a shuffle-and-add chain each.  The last k % lanes numbers are
    read by masked loads (nothing past a row is touched).
    """
    given = dict(zip(DOT_ARGS, (k, A, pa, lda, rows, B, pb, ldb, cols, C, pc, ldc, bias, jb, use_bias, relu)))
    dtype = getattr(C, "dtype", None)
    pointers, flags = ("A", "B", "C", "bias"), ("use_bias", "relu")
    if (dtype not in (types.float32, types.float64)
            or any(given[p] != types.CPointer(dtype) for p in pointers)
            or any(given[f] != types.boolean for f in flags)
            or any(not isinstance(t, types.Integer) for n, t in given.items() if n not in pointers + flags)):
        return None

    def codegen(context, builder, sig, args):
        prefer_512bit_vectors(builder.function)
        ty = dict(zip(DOT_ARGS, sig.args))
        val = {name: (v if name in pointers else
                      context.cast(builder, v, ty[name], types.boolean if name in flags else types.uint64))
               for name, v in zip(DOT_ARGS, args)}
        elt = context.get_value_type(dtype)
        size = context.get_abi_sizeof(elt)
        lanes = VECTOR_BITS // (8 * size)
        vec = ir.VectorType(elt, lanes)
        u64, i32 = ir.IntType(64), ir.IntType(32)

        def clamp(i, count):   # min(i, count - 1)
            last = builder.sub(count, u64(1))
            return builder.select(builder.icmp_unsigned("<", u64(i), last), u64(i), last)

        row = [clamp(r, val["rows"]) for r in range(DOT_ROWS)]
        col = [clamp(s, val["cols"]) for s in range(DOT_COLS)]
        a_row = [builder.add(val["pa"], builder.mul(row[r], val["lda"])) for r in range(DOT_ROWS)]
        b_row = [builder.add(val["pb"], builder.mul(col[s], val["ldb"])) for s in range(DOT_COLS)]
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3),
                                             f"llvm.fma.v{lanes}f{8 * size}")
        masked_load = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vec, [vec.as_pointer(), i32, ir.VectorType(ir.IntType(1), lanes), vec]),
            f"llvm.masked.load.v{lanes}f{8 * size}.p0")
        zero = ir.Constant(vec, [0.0] * lanes)
        acc = [[cgutils.alloca_once_value(builder, zero) for _ in range(DOT_COLS)] for _ in range(DOT_ROWS)]

        def step(p, load):   # acc[r][s] += A(r, p:p+lanes) * B(s, p:p+lanes)
            a = [load(val["A"], builder.add(at, p)) for at in a_row]
            b = [load(val["B"], builder.add(at, p)) for at in b_row]
            for r in range(DOT_ROWS):
                for s in range(DOT_COLS):
                    builder.store(builder.call(fma, [a[r], b[s], builder.load(acc[r][s])]), acc[r][s])

        def whole(ptr, offset):
            at = builder.bitcast(builder.gep(ptr, [offset]), vec.as_pointer())
            return builder.load(at, align=size)

        full = builder.udiv(val["k"], u64(lanes))
        with cgutils.for_range(builder, full) as loop:
            step(builder.mul(loop.index, u64(lanes)), whole)
            body = builder.basic_block
        keep_loop_rolled(builder.module, body.terminator)
        done = builder.mul(full, u64(lanes))
        left = builder.sub(val["k"], done)
        with builder.if_then(builder.icmp_unsigned(">", left, u64(0))):   # the last k % lanes numbers
            lane_index = ir.Constant(ir.VectorType(u64, lanes), list(range(lanes)))
            mask = builder.icmp_unsigned("<", lane_index, _splat(builder, left, lanes))

            def masked(ptr, offset):   # lanes past ``left`` are not read (they are 0)
                at = builder.bitcast(builder.gep(ptr, [offset]), vec.as_pointer())
                return builder.call(masked_load, [at, i32(size), mask, zero])
            step(done, masked)

        # the epilogue on whole vectors of sums, then each number to its place in C
        sums = _sum_lanes(builder, [(builder.load(acc[r][s]), [(r, s)] * lanes)
                                    for r in range(DOT_ROWS) for s in range(DOT_COLS)])
        for vector, labels in sums:
            out = cgutils.alloca_once_value(builder, vector)
            with builder.if_then(val["use_bias"]):
                b = zero
                for lane, (r, s) in enumerate(labels):
                    at = builder.gep(val["bias"], [builder.add(val["jb"], col[s])])
                    b = builder.insert_element(b, builder.load(at), i32(lane))
                builder.store(builder.fadd(builder.load(out), b), out)
            x = builder.load(out)   # max(x, 0) as Numba's max does it: NaN stays NaN
            x = builder.select(builder.and_(_splat(builder, val["relu"], lanes), builder.fcmp_ordered(">", zero, x)),
                               zero, x)
            for lane, (r, s) in enumerate(labels):
                at = builder.add(val["pc"], builder.add(builder.mul(row[r], val["ldc"]), col[s]))
                builder.store(builder.extract_element(x, i32(lane)), builder.gep(val["C"], [at]))
        return context.get_dummy_value()

    return types.none(*given.values()), codegen


def _splat(builder, x, lanes):
    """A vector of ``lanes`` copies of the scalar ``x``."""
    one = builder.insert_element(ir.Constant(ir.VectorType(x.type, lanes), ir.Undefined), x,
                                 ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(one, ir.Constant(one.type, ir.Undefined),
                                  ir.Constant(ir.VectorType(ir.IntType(32), lanes), None))


def _sum_lanes(builder, items):
    """Sum the lanes of many vectors at once: a transpose-and-add.

    ``items`` are (vector, labels) pairs, labels[i] naming the number that
    lane i holds a partial sum of (all lanes of a vector: one number).  A
    round pairs the vectors up: for each number, the first half of its lanes
    (from x, then from y) is added to the second half, so two vectors become
    one with half as many lanes per number; the shuffle-and-add count halves
    each round.  It ends when each lane holds one whole sum and returns the
    (vector, labels) pairs left: 16 vectors of 16 lanes end as one.
    """
    i32 = ir.IntType(32)
    lanes = len(items[0][1])
    width = lanes   # lanes per number
    while width > 1:
        assert len(items) % 2 == 0, "a power of two of vectors, at least the lane count"
        paired = []
        for (x, x_labels), (y, y_labels) in zip(items[0::2], items[1::2]):
            first, second, labels = [], [], []
            for offset, source in ((0, x_labels), (lanes, y_labels)):   # y's lanes count from ``lanes``
                for g in range(0, lanes, width):
                    first += [offset + g + i for i in range(width // 2)]
                    second += [offset + g + width // 2 + i for i in range(width // 2)]
                    labels += [source[g]] * (width // 2)
            halves = [builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(i32, lanes), m))
                      for m in (first, second)]
            paired.append((builder.fadd(*halves), labels))
        items = paired
        width //= 2
    return items
