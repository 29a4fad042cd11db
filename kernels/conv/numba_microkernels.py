"""The convolution's micro-kernels (Numba): the GEMM's register tile, reading the image where it lies.

The GEMM's micro-kernel (kernels/gemm/numba_microkernels.py) keeps an MR x NR
tile of C in vector registers and, at each step p of the depth, broadcasts MR
numbers of A against one NR-wide row of B.  A convolution is such a product
(kernels/conv/DESIGN.md), but its A or C is the image seen as a patch matrix:
row m of P is output pixel m's receptive field.  The GEMM must first copy
(pack) that matrix; the three kernels here instead take a small table of
offsets and address the image directly, so nothing is packed:

* ``_patch_kernel`` (forward, P @ W): tile row r reads the image from
  ``pa + aoff[po + r]``, the first number of its pixel's receptive field; the
  field is ``taps`` runs of ``kc`` contiguous numbers (one run per kernel
  row: KW taps of C channels lie side by side in NHWC), ``tstride`` apart.
* ``_scatter_kernel`` (input gradient, the tile of G @ W.T): A is grad_out
  read by rows; the finished tile is *added* into the image gradient, row r
  of vector v at ``coff[po + r] + kv_v`` (that pixel's place, plus the place
  of this tap and channel) -- col2im fused into the micro-kernel's store.
* ``_gather_kernel`` (kernel gradient, computed transposed: dW.T = G.T @ P):
  A is grad_out read in place (tile row r is filter r: A(r, p) at
  ``pa + r + p*csa``), and step p is pixel p: B's row is NR contiguous
  numbers of its receptive field, at ``boff[pp + p] + pb`` (masked past
  ``cols``, where a kernel row's run of KW*C numbers ends).

And one that is no tile: ``_pixels_kernel`` (the shallow forward, K <= 9,
numba_shallow.py) holds W's K x NR panel in vector registers and goes
pixel by pixel along an output row, since with so few taps a tile of
pixels has nothing to reuse.

A row past ``rows`` (the last, short tile) is aimed at row ``rows - 1``, as
in the GEMM's kernels: it reads and writes the same numbers twice (the
gather kernel has no short tiles: its callers pad the filters).  Every k
loop is kept rolled (``keep_loop_rolled``), its accumulators in registers.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from .._numba.intrinsics import prefer_512bit_vectors
from ..gemm.numba_microkernels import VECTOR_BITS, VECTORS_PER_ROW, keep_loop_rolled


class _Tile:
    """The IR every kernel here shares: an mr x NR tile of accumulator vectors
    (NR = VECTORS_PER_ROW vectors of C's dtype), vector loads and stores, the
    broadcast-and-FMA step, and rolled loops."""

    def __init__(self, context, builder, dtype, mr):
        prefer_512bit_vectors(builder.function)
        self.builder = builder
        elt = context.get_value_type(dtype)
        self.size = context.get_abi_sizeof(elt)
        self.lanes = VECTOR_BITS // (8 * self.size)
        self.vec = ir.VectorType(elt, self.lanes)
        self.u64 = ir.IntType(64)
        self.mr = mr
        self.columns = [self.u64(v * self.lanes) for v in range(VECTORS_PER_ROW)]
        self.zero = ir.Constant(self.vec, [0.0] * self.lanes)
        self.fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(self.vec, [self.vec] * 3),
                                                  f"llvm.fma.v{self.lanes}f{8 * self.size}")
        self.acc = [[cgutils.alloca_once_value(builder, self.zero) for _ in self.columns] for _ in range(mr)]

    def rows(self, rows):
        """min(r, rows - 1) for each tile row r (rows past ``rows`` repeat the last)."""
        b, u64 = self.builder, self.u64
        last = b.sub(rows, u64(1))
        return [b.select(b.icmp_unsigned("<", u64(r), last), u64(r), last) for r in range(self.mr)]

    def scalar(self, ptr, offset):
        return self.builder.load(self.builder.gep(ptr, [offset]))

    def load(self, ptr, offset):
        b = self.builder
        return b.load(b.bitcast(b.gep(ptr, [offset]), self.vec.as_pointer()), align=self.size)

    def store(self, value, ptr, offset):
        b = self.builder
        b.store(value, b.bitcast(b.gep(ptr, [offset]), self.vec.as_pointer()), align=self.size)

    def step(self, a_numbers, b_vectors):
        """acc[r][v] += A(r) * B(v), A(r) broadcast to every lane."""
        b = self.builder
        for r, a in enumerate(a_numbers):
            one = b.insert_element(ir.Constant(self.vec, ir.Undefined), a, ir.Constant(ir.IntType(32), 0))
            a = b.shuffle_vector(one, ir.Constant(self.vec, ir.Undefined),
                                 ir.Constant(ir.VectorType(ir.IntType(32), self.lanes), None))
            for v, bv in enumerate(b_vectors):
                b.store(b.call(self.fma, [a, bv, b.load(self.acc[r][v])]), self.acc[r][v])

    def loop(self, count, body):
        """for i in range(count): body(i), the loop kept rolled."""
        with cgutils.for_range(self.builder, count) as loop:
            body(loop.index)
            block = self.builder.basic_block
        keep_loop_rolled(self.builder.module, block.terminator)

    def update(self, flag, new_value):
        """if flag: acc[r][v] = new_value(r, v, acc[r][v]) for the whole tile."""
        b = self.builder
        with b.if_then(flag):
            for r in range(self.mr):
                for v in range(len(self.columns)):
                    b.store(new_value(r, v, b.load(self.acc[r][v])), self.acc[r][v])


def _kernel(mr, arg_names, emit, doc):
    """An ``@intrinsic`` taking ``arg_names``: "A", "B", "C", "bias" are
    pointers to C's float dtype, names ending in "off" pointers to uint64
    offsets, "accumulate", "use_bias", "relu", "two" bools, the rest integers
    (cast to uint64).  ``emit(tile, value)`` writes the body."""
    floats, flags = ("A", "B", "C", "bias"), ("accumulate", "use_bias", "relu", "two")

    def typer(typingctx, *args):
        given = dict(zip(arg_names, args))
        dtype = getattr(given["C"], "dtype", None)
        if dtype not in (types.float32, types.float64) or len(args) != len(arg_names):
            return None
        for name, ty in given.items():
            ok = (ty == types.CPointer(dtype) if name in floats else
                  ty == types.CPointer(types.uint64) if name.endswith("off") else
                  ty == types.boolean if name in flags else isinstance(ty, types.Integer))
            if not ok:
                return None   # Numba reports "no matching definition" with the types given

        def codegen(context, builder, sig, values):
            value = {}
            for name, ty, v in zip(arg_names, sig.args, values):
                if name in floats or name.endswith("off"):
                    value[name] = v
                else:
                    value[name] = context.cast(builder, v, ty, types.boolean if name in flags else types.uint64)
            emit(_Tile(context, builder, dtype, mr), value)
            return context.get_dummy_value()

        return types.none(*args), codegen

    # @intrinsic wants the arguments spelled out: build the typer with them
    params = ", ".join(arg_names)
    scope = {"typer": typer}
    exec(f"def typing(typingctx, {params}):\n    return typer(typingctx, {params})\n", scope)
    scope["typing"].__doc__ = doc
    scope["typing"].__name__ = f"{emit.__name__.lstrip('_')}_{mr}"
    return intrinsic(scope["typing"])


# ---------------------------------------------------------------- forward: P @ W
PATCH_ARGS = ("taps", "tstride", "kc", "A", "pa", "aoff", "po", "B", "pb", "C", "pc", "ldc", "rows",
              "accumulate", "bias", "jb", "use_bias", "relu")


def _column_masks(t, cols):
    """One lane mask per vector of a tile row: lane i of vector v is on when
    column v*lanes + i < ``cols`` (a partial last panel of filters)."""
    b, u64, i32 = t.builder, t.u64, ir.IntType(32)
    ivec = ir.VectorType(u64, t.lanes)
    lane = ir.Constant(ivec, list(range(t.lanes)))
    splat = b.shuffle_vector(b.insert_element(ir.Constant(ivec, ir.Undefined), cols, i32(0)),
                             ir.Constant(ivec, ir.Undefined), ir.Constant(ir.VectorType(i32, t.lanes), None))
    return [b.icmp_unsigned("<", b.add(lane, ir.Constant(ivec, [int(col.constant)] * t.lanes)), splat)
            for col in t.columns]


def _masked_load(t):
    """LLVM's masked vector load (masked-off lanes read nothing and give the pass-through)."""
    return cgutils.get_or_insert_function(
        t.builder.module,
        ir.FunctionType(t.vec, [t.vec.as_pointer(), ir.IntType(32), ir.VectorType(ir.IntType(1), t.lanes), t.vec]),
        f"llvm.masked.load.v{t.lanes}f{8 * t.size}.p0")


def _emit_patch(t, val):
    """C tile = sum over t < taps, p < kc of A[pa + aoff[po + r] + t*tstride + p] * B[pb + (t*kc + p)*NR + j],
    then (+ old C) (+ bias) (relu), as the GEMM's epilogue; C row r at pc + r*ldc."""
    b, u64 = t.builder, t.u64
    nr = u64(t.lanes * VECTORS_PER_ROW)
    row = t.rows(val["rows"])
    a_row = [b.add(val["pa"], t.scalar(val["aoff"], b.add(val["po"], row[r]))) for r in range(t.mr)]

    def tap(i):   # one kernel row: kc contiguous numbers from each pixel's field
        a_at = b.mul(i, val["tstride"])
        b_at = b.add(val["pb"], b.mul(b.mul(i, val["kc"]), nr))

        def step(p):
            at = b.add(b_at, b.mul(p, nr))
            t.step([t.scalar(val["A"], b.add(b.add(a_row[r], a_at), p)) for r in range(t.mr)],
                   [t.load(val["B"], b.add(at, col)) for col in t.columns])
        t.loop(val["kc"], step)

    with cgutils.for_range(b, val["taps"]) as outer:
        tap(outer.index)
    row_at = [b.add(val["pc"], b.mul(row[r], val["ldc"])) for r in range(t.mr)]
    t.update(val["accumulate"], lambda r, v, x: b.fadd(x, t.load(val["C"], b.add(row_at[r], t.columns[v]))))
    t.update(val["use_bias"], lambda r, v, x: b.fadd(x, t.load(val["bias"], b.add(val["jb"], t.columns[v]))))
    # max(x, 0) as Numba's max does it: 0 only where 0 > x, so NaN stays NaN
    t.update(val["relu"], lambda r, v, x: b.select(b.fcmp_ordered(">", t.zero, x), t.zero, x))
    for r in reversed(range(t.mr)):
        for v, col in enumerate(t.columns):
            t.store(b.load(t.acc[r][v]), val["C"], b.add(row_at[r], col))


# ---------------------------------------------------------------- shallow forward: the kernel in registers
#: the deepest K of ``_pixels_kernel``: its K x NR numbers of W stay in 2*K vector registers
PIXEL_K = 9
PIXELS_ARGS = ("k", "count", "A", "pa", "step", "koff", "B", "pb", "C", "pc", "ldc", "cols", "bias", "jb",
               "use_bias", "relu")


def _emit_pixels(t, val):
    """For each of ``count`` pixels j: C[pc + j*ldc + i] = bias[jb + i] (if ``use_bias``) + sum over
    p < k of A[pa + j*step + koff[p]] * B[pb + p*NR + i], then relu, for i < cols (NR wide, masked
    past ``cols``).  k <= PIXEL_K.

    With K = 9 (a 3x3 kernel on one channel: a convnet's first layer) a pixel's 32 float32
    outputs are only 18 FMAs, so a register tile of pixels (the GEMM's) reuses next to
    nothing: the cost is in the loads and stores around the FMAs.  Here the k x NR numbers
    of W are loaded once into 2k vector registers, the k tap offsets into integer
    registers, and each pixel is k broadcasts, 2k FMAs (starting from the bias), the relu
    and two stores, one pixel after another along the row (the out-of-order core overlaps
    their FMA chains).  The tap loop is unrolled, so each k <= PIXEL_K is its own loop,
    chosen once per call (``switch``), as are whole and masked stores.  (Non-temporal
    stores were tried: no faster here, and the max-pool that reads C next then ran 1.8x
    slower, from memory instead of the L3 cache: kernels/conv/MEASUREMENTS.md.)"""
    b, u64, i32 = t.builder, t.u64, ir.IntType(32)
    nr = u64(t.lanes * VECTORS_PER_ROW)
    i1 = ir.IntType(1)
    masks = _column_masks(t, val["cols"])
    masked_store = cgutils.get_or_insert_function(
        b.module, ir.FunctionType(ir.VoidType(), [t.vec, t.vec.as_pointer(), i32, ir.VectorType(i1, t.lanes)]),
        f"llvm.masked.store.v{t.lanes}f{8 * t.size}.p0")
    start = [cgutils.alloca_once_value(b, t.zero) for _ in t.columns]
    with b.if_then(val["use_bias"]):
        for v, col in enumerate(t.columns):
            b.store(t.load(val["bias"], b.add(val["jb"], col)), start[v])
    start = [b.load(s) for s in start]

    def whole(v, x, at):
        t.store(x, val["C"], at)

    def masked(v, x, at):
        b.call(masked_store, [x, b.bitcast(b.gep(val["C"], [at]), t.vec.as_pointer()), i32(t.size), masks[v]])

    def pixels(k, store):   # the loop over the pixels for a depth of k
        koff = [t.scalar(val["koff"], u64(p)) for p in range(k)]
        weights = [[t.load(val["B"], b.add(val["pb"], u64(p * t.lanes * VECTORS_PER_ROW + int(col.constant))))
                    for col in t.columns] for p in range(k)]

        def pixel(j):
            at = b.add(val["pa"], b.mul(j, val["step"]))
            acc = list(start)
            for p in range(k):
                one = b.insert_element(ir.Constant(t.vec, ir.Undefined), t.scalar(val["A"], b.add(at, koff[p])),
                                       i32(0))
                a = b.shuffle_vector(one, ir.Constant(t.vec, ir.Undefined),
                                     ir.Constant(ir.VectorType(i32, t.lanes), None))
                acc = [b.call(t.fma, [a, weights[p][v], acc[v]]) for v in range(len(t.columns))]
            row_at = b.add(val["pc"], b.mul(j, val["ldc"]))
            for v, col in enumerate(t.columns):
                # max(x, 0) as Numba's max does it: 0 only where 0 > x, so NaN stays NaN
                x = b.select(val["relu"], b.select(b.fcmp_ordered(">", t.zero, acc[v]), t.zero, acc[v]), acc[v])
                store(v, x, b.add(row_at, col))
        t.loop(val["count"], pixel)

    done = b.append_basic_block("pixels_done")
    switch = b.switch(val["k"], done)
    for k in range(1, PIXEL_K + 1):
        case = b.append_basic_block(f"pixels_k{k}")
        switch.add_case(u64(k), case)
        b.position_at_end(case)
        with b.if_else(b.icmp_unsigned("==", val["cols"], nr)) as (full, edge):
            with full:
                pixels(k, whole)
            with edge:
                pixels(k, masked)
        b.branch(done)
    b.position_at_end(done)


# ---------------------------------------------------------------- shallow kernel gradient: dW in registers
PIXEL_GRAD_ARGS = ("k", "count", "A", "pa", "step", "koff", "B", "pb", "ldb", "C", "pc", "cols")


def _emit_pixel_grad(t, val):
    """C[pc + p*NR + i] += sum over j < count of A[pa + j*step + koff[p]] * B[pb + j*ldb + i], for
    p < k <= PIXEL_K and i < NR (B's lanes past ``cols`` are not read: they add 0).

    The mirror of ``_emit_pixels`` for the kernel gradient dW = P.T @ G: a K x NR panel of dW
    is held in 2k vector registers while the pixels of an output row go by, each one two
    loads of G's row, k broadcasts of its taps and 2k FMAs; the panel is added into C at the
    end.  One loop per k (``switch``)."""
    b, u64, i32 = t.builder, t.u64, ir.IntType(32)
    nr = t.lanes * VECTORS_PER_ROW
    masks = _column_masks(t, val["cols"])
    masked_load = _masked_load(t)

    def whole(at, v):
        return t.load(val["B"], at)

    def masked(at, v):
        return b.call(masked_load, [b.bitcast(b.gep(val["B"], [at]), t.vec.as_pointer()), i32(t.size), masks[v],
                                    t.zero])

    def pixels(k, load):
        koff = [t.scalar(val["koff"], u64(p)) for p in range(k)]
        acc = [[cgutils.alloca_once_value(b, t.zero) for _ in t.columns] for _ in range(k)]

        def pixel(j):
            at = b.add(val["pa"], b.mul(j, val["step"]))
            g_at = b.add(val["pb"], b.mul(j, val["ldb"]))
            g = [load(b.add(g_at, col), v) for v, col in enumerate(t.columns)]
            for p in range(k):
                one = b.insert_element(ir.Constant(t.vec, ir.Undefined), t.scalar(val["A"], b.add(at, koff[p])),
                                       i32(0))
                a = b.shuffle_vector(one, ir.Constant(t.vec, ir.Undefined),
                                     ir.Constant(ir.VectorType(i32, t.lanes), None))
                for v in range(len(t.columns)):
                    b.store(b.call(t.fma, [a, g[v], b.load(acc[p][v])]), acc[p][v])
        t.loop(val["count"], pixel)
        for p in range(k):
            for v, col in enumerate(t.columns):
                at = b.add(val["pc"], u64(p * nr + int(col.constant)))
                t.store(b.fadd(b.load(acc[p][v]), t.load(val["C"], at)), val["C"], at)

    done = b.append_basic_block("pixel_grad_done")
    switch = b.switch(val["k"], done)
    for k in range(1, PIXEL_K + 1):
        case = b.append_basic_block(f"pixel_grad_k{k}")
        switch.add_case(u64(k), case)
        b.position_at_end(case)
        with b.if_else(b.icmp_unsigned("==", val["cols"], u64(nr))) as (full, edge):
            with full:
                pixels(k, whole)
            with edge:
                pixels(k, masked)
        b.branch(done)
    b.position_at_end(done)


# ---------------------------------------------------------------- input gradient: G @ W.T, added into dx
SCATTER_ARGS = ("kc", "A", "pa", "csa", "B", "pb", "C", "coff", "po", "kv0", "kv1", "two", "rows")


def _emit_scatter(t, val):
    """tile = sum over p < kc of A[pa + r*csa + p] * B[pb + p*NR + j]; then C[coff[po + r] + kv_v + i]
    += lane i of vector v of row r (vector 1 only when ``two``).  Vector by vector: the rows of
    one vector land on distinct pixels, but vector 1 of one row may land where vector 0 of
    another did (the next tap of a neighbour), so vector 0 is stored before vector 1 is read."""
    b, u64 = t.builder, t.u64
    nr = u64(t.lanes * VECTORS_PER_ROW)
    row = t.rows(val["rows"])
    a_row = [b.add(val["pa"], b.mul(row[r], val["csa"])) for r in range(t.mr)]

    def step(p):
        at = b.add(val["pb"], b.mul(p, nr))
        t.step([t.scalar(val["A"], b.add(a_row[r], p)) for r in range(t.mr)],
               [t.load(val["B"], b.add(at, col)) for col in t.columns])
    t.loop(val["kc"], step)
    dest = [t.scalar(val["coff"], b.add(val["po"], row[r])) for r in range(t.mr)]

    def add_vector(v, kv):
        at = [b.add(dest[r], kv) for r in range(t.mr)]
        sums = [b.fadd(b.load(t.acc[r][v]), t.load(val["C"], at[r])) for r in range(t.mr)]
        for r in reversed(range(t.mr)):
            t.store(sums[r], val["C"], at[r])
    add_vector(0, val["kv0"])
    with b.if_then(val["two"]):
        add_vector(1, val["kv1"])


# ---------------------------------------------------------------- kernel gradient: G.T @ P
GATHER_ARGS = ("kc", "A", "pa", "csa", "B", "boff", "pp", "pb", "cols", "C", "pc", "ldc", "accumulate")


def _emit_gather(t, val):
    """C tile (+)= sum over p < kc of A[pa + r + p*csa] * B[boff[pp + p] + pb + j], for j < cols
    (the lanes past ``cols`` read nothing and add 0); C row r at pc + r*ldc.  All mr rows are real."""
    b, u64 = t.builder, t.u64
    masked_load = _masked_load(t)
    masks = _column_masks(t, val["cols"])

    def step(p):
        at = b.add(t.scalar(val["boff"], b.add(val["pp"], p)), val["pb"])
        a_at = b.add(val["pa"], b.mul(p, val["csa"]))
        vectors = [b.call(masked_load, [b.bitcast(b.gep(val["B"], [b.add(at, col)]), t.vec.as_pointer()),
                                        ir.IntType(32)(t.size), mask, t.zero])
                   for col, mask in zip(t.columns, masks)]
        t.step([t.scalar(val["A"], b.add(a_at, u64(r))) for r in range(t.mr)], vectors)
    t.loop(val["kc"], step)
    row_at = [b.add(val["pc"], b.mul(u64(r), val["ldc"])) for r in range(t.mr)]
    t.update(val["accumulate"], lambda r, v, x: b.fadd(x, t.load(val["C"], b.add(row_at[r], t.columns[v]))))
    for r in range(t.mr):
        for v, col in enumerate(t.columns):
            t.store(b.load(t.acc[r][v]), val["C"], b.add(row_at[r], col))


_patch_kernel = _kernel(12, PATCH_ARGS, _emit_patch, "The 12 x NR forward tile (``_emit_patch``).")
_patch_kernel_8 = _kernel(8, PATCH_ARGS, _emit_patch, "The 8 x NR forward tile, for a last row panel of <= 8.")
_pixels_kernel = _kernel(1, PIXELS_ARGS, _emit_pixels, "The shallow forward, pixel by pixel (``_emit_pixels``).")
_pixel_grad_kernel = _kernel(1, PIXEL_GRAD_ARGS, _emit_pixel_grad,
                             "The shallow kernel gradient, pixel by pixel (``_emit_pixel_grad``).")
_scatter_kernel = _kernel(12, SCATTER_ARGS, _emit_scatter, "The 12 x NR input-gradient tile (``_emit_scatter``).")
_scatter_kernel_8 = _kernel(8, SCATTER_ARGS, _emit_scatter, "The 8 x NR input-gradient tile.")
_gather_kernel = _kernel(12, GATHER_ARGS, _emit_gather, "The 12 x NR kernel-gradient tile (``_emit_gather``).")
_gather_kernel_8 = _kernel(8, GATHER_ARGS, _emit_gather, "The 8 x NR kernel-gradient tile.")
