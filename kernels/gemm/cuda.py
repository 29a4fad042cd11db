"""The GEMM family on the GPU: an SGEMM of shared-memory tiles plus register blocking.

This is the "2D block-tiling" design (the step of the usual hand-written
SGEMM ladder that reaches roughly 70% of cuBLAS):

* each thread block computes a ``BM x BN`` tile of ``C``;
* it walks the K dimension ``BK`` columns at a time: the block's threads
  cooperatively copy a ``BM x BK`` slab of ``op(A)`` and a ``BK x BN`` slab
  of ``op(B)`` into shared memory (``As`` is stored K-major, ``As[k, m]``,
  so that the inner loop reads a column of A as a contiguous row);
* each thread then owns a ``TM x TN`` micro-tile of ``C`` held in registers
  (``cuda.local.array`` with constant indices after unrolling), and for
  each of the ``BK`` steps loads TM values of A and TN values of B from
  shared memory into registers and does TM*TN fused multiply-adds: an outer
  product, so every shared-memory read feeds TM (or TN) FMAs;
* the micro-tile is *strided*: thread (ty, tx) owns rows ``ty + i*BM/TM``
  and columns ``tx + j*BN/TN``.  Neighbouring threads of a warp therefore
  read neighbouring words of ``Bs`` (no shared-memory bank conflicts) and
  write neighbouring words of ``C`` (coalesced stores);
* transposes are handled while loading the slabs (each of the four
  variants is its own compiled kernel, with the flags as compile-time
  constants, and each loads with the thread-to-element mapping that keeps
  the global reads coalesced for its layout);
* edge tiles are bounds-checked: out-of-range elements load as 0 and are
  not stored, so any M, N, K works;
* accumulation is in float32; ``fastmath=True`` lets the compiler fuse the
  multiply-adds into FMA instructions;
* the epilogue optionally adds a bias row and applies relu while writing C
  (``dense_forward`` is this same kernel with the two runtime flags set).

What numba.cuda cannot express: vectorized 128-bit loads (float4) of
global or shared memory, so the "vectorized loads" and "warp tiling" rungs
of the ladder, which depend on them, are out of reach in readable Numba;
async copies (cp.async) and tensor cores (TF32 mma) likewise.

Tile sizes are a :class:`Tiles` tuple; :func:`choose_tiles` picks one from
``PRODUCTION_TILES`` by problem size, and the simulator tests pass small
tiles explicitly so that a tiny matrix still crosses many tile edges.
"""

from __future__ import annotations

import math
from collections import namedtuple

from numba import cuda, float32

from .._cuda import launch as settings

#: BM x BN block tile, BK deep, each thread a TM x TN micro-tile
Tiles = namedtuple("Tiles", "BM BN BK TM TN")

#: production configurations, largest first; each has 256 threads per block
PRODUCTION_TILES = (
    Tiles(128, 128, 8, 8, 8),   # 64 FMAs per 16 shared loads, but see AUTO_TILES
    Tiles(64, 64, 8, 4, 4),     # mid-size: 4x more blocks to fill the SMs
    Tiles(32, 32, 8, 2, 2),     # small / narrow outputs (e.g. the N=10 layer)
)

#: the tiles choose_tiles picks from.  On an H200 (bench/gpu_check.py, 2026-11-30)
#: 128x128 ran at half the speed of 64x64 at every n from 1024 to 8192 (its 8x8
#: micro-tile in cuda.local.array does not stay in registers), so it is left
#: out until that is fixed; it stays in PRODUCTION_TILES, timed by the check.
AUTO_TILES = PRODUCTION_TILES[1:]

_kernels: dict = {}


def threads_per_block(t: Tiles) -> int:
    return (t.BM // t.TM) * (t.BN // t.TN)


def check_tiles(t: Tiles) -> None:
    """Raise ValueError unless ``t`` describes a valid kernel."""
    if t.BM % t.TM or t.BN % t.TN:
        raise ValueError(f"{t}: BM must be a multiple of TM and BN of TN")
    nthreads = threads_per_block(t)
    if nthreads > 1024:
        raise ValueError(f"{t}: {nthreads} threads per block (the limit is 1024)")
    if (t.BM * t.BK) % nthreads or (t.BK * t.BN) % nthreads:
        raise ValueError(f"{t}: the A and B slabs must split evenly over the {nthreads} threads")


def choose_tiles(m: int, n: int, sm_count: int) -> Tiles:
    """The largest tile of ``AUTO_TILES`` that still gives every SM a block."""
    for t in AUTO_TILES:
        if math.ceil(m / t.BM) * math.ceil(n / t.BN) >= sm_count:
            return t
    return AUTO_TILES[-1]


def get_kernel(t: Tiles, transpose_a: bool, transpose_b: bool):
    """The compiled-on-first-launch kernel for these tiles and flags."""
    key = (tuple(t), bool(transpose_a), bool(transpose_b))
    kernel = _kernels.get(key)
    if kernel is None:
        check_tiles(t)
        kernel = _make_kernel(*t, bool(transpose_a), bool(transpose_b))
        _kernels[key] = kernel
    return kernel


def launch(a, b, c, bias, has_bias: bool, relu: bool, transpose_a: bool, transpose_b: bool,
           tiles: Tiles):
    """c = op(a) @ op(b) (+ bias) (relu); ``bias`` must be an array even if unused."""
    m, n = c.shape
    grid = (math.ceil(n / tiles.BN), math.ceil(m / tiles.BM))
    kernel = get_kernel(tiles, transpose_a, transpose_b)
    kernel[grid, threads_per_block(tiles)](a, b, c, bias, int(has_bias), int(relu))
    return c


def _make_kernel(BM, BN, BK, TM, TN, TA, TB):
    # Closure variables are compile-time constants for Numba: the shared and
    # local array shapes, the loop trip counts and the transpose branches are
    # all fixed when the kernel compiles, so loops unroll and branches fold.
    THREADS = (BM // TM) * (BN // TN)
    TCOLS = BN // TN            # threads along N
    TROWS = BM // TM            # threads along M
    A_LOADS = BM * BK // THREADS
    B_LOADS = BK * BN // THREADS
    zero = float32(0)

    @cuda.jit(fastmath=True)
    def sgemm(a, b, c, bias, has_bias, relu):
        m = c.shape[0]
        n = c.shape[1]
        k_total = a.shape[0] if TA else a.shape[1]
        As = cuda.shared.array((BK, BM), float32)    # op(A) slab, K-major
        Bs = cuda.shared.array((BK, BN), float32)    # op(B) slab
        acc = cuda.local.array((TM, TN), float32)    # this thread's C micro-tile
        a_reg = cuda.local.array(TM, float32)
        b_reg = cuda.local.array(TN, float32)

        tid = cuda.threadIdx.x
        ty = tid // TCOLS
        tx = tid % TCOLS
        row0 = cuda.blockIdx.y * BM
        col0 = cuda.blockIdx.x * BN

        for i in range(TM):
            for j in range(TN):
                acc[i, j] = zero

        for k0 in range(0, k_total, BK):
            # ---- cooperative copy of the two slabs into shared memory
            for load in range(A_LOADS):
                idx = tid + load * THREADS
                if TA:   # a is (K, M): consecutive threads take consecutive m
                    kk = idx // BM
                    mm = idx % BM
                    gk = k0 + kk
                    gm = row0 + mm
                    As[kk, mm] = a[gk, gm] if (gk < k_total and gm < m) else zero
                else:    # a is (M, K): consecutive threads take consecutive k
                    mm = idx // BK
                    kk = idx % BK
                    gk = k0 + kk
                    gm = row0 + mm
                    As[kk, mm] = a[gm, gk] if (gk < k_total and gm < m) else zero
            for load in range(B_LOADS):
                idx = tid + load * THREADS
                if TB:   # b is (N, K): consecutive threads take consecutive k
                    nn = idx // BK
                    kk = idx % BK
                    gk = k0 + kk
                    gn = col0 + nn
                    Bs[kk, nn] = b[gn, gk] if (gk < k_total and gn < n) else zero
                else:    # b is (K, N): consecutive threads take consecutive n
                    kk = idx // BN
                    nn = idx % BN
                    gk = k0 + kk
                    gn = col0 + nn
                    Bs[kk, nn] = b[gk, gn] if (gk < k_total and gn < n) else zero
            cuda.syncthreads()

            # ---- the register-blocked outer products
            for kk in range(BK):
                for i in range(TM):
                    a_reg[i] = As[kk, ty + i * TROWS]
                for j in range(TN):
                    b_reg[j] = Bs[kk, tx + j * TCOLS]
                for i in range(TM):
                    for j in range(TN):
                        acc[i, j] += a_reg[i] * b_reg[j]
            cuda.syncthreads()   # before the next slab overwrites As, Bs

        # ---- epilogue: bias and relu fused into the store
        for i in range(TM):
            r = row0 + ty + i * TROWS
            if r < m:
                for j in range(TN):
                    col = col0 + tx + j * TCOLS
                    if col < n:
                        value = acc[i, j]
                        if has_bias:
                            value += bias[col]
                        if relu and value < zero:
                            value = zero
                        c[r, col] = value

    return sgemm


# ---------------------------------------------------------------- the backend's methods
def _launch_gemm(a, b, bias, relu, transpose_a, transpose_b, out):
    m, n = out.shape
    tiles = settings.gemm_tiles or choose_tiles(m, n, settings.sm_count())
    has_bias = bias is not None
    return launch(a, b, out, bias if has_bias else settings.placeholder(),
                  has_bias, relu, transpose_a, transpose_b, tiles)


def matmul(a, b, transpose_a, transpose_b, out):
    return _launch_gemm(a, b, None, False, transpose_a, transpose_b, out)


def dense_forward(x, w, b, relu, out):
    return _launch_gemm(x, w, b, relu, False, False, out)


# ---------------------------------------------------------------- fused for a training step
# Not fused on the GPU yet: the gather is a kernel of its own and the update
# the optimizer family's (the Numba backend fuses both: kernels/gemm/numba_fused.py).
@cuda.jit
def _gather_rows(x, rows, out):
    """out[i, j] = x[rows[i], j], a grid-stride loop over out's elements."""
    cols = out.shape[1]
    for e in range(cuda.grid(1), out.shape[0] * cols, cuda.gridsize(1)):
        i = e // cols
        out[i, e - i * cols] = x[rows[i], e - i * cols]


def _gathered(x, rows):
    """x[rows] on the device (``rows``: the API's checked int64 host array)."""
    out = cuda.device_array((rows.shape[0], x.shape[1]), x.dtype)
    blocks, threads = settings.grid1d(out.size)
    _gather_rows[blocks, threads](x, cuda.to_device(rows), out)
    return out


def dense_forward_rows(x, rows, w, b, relu, out):
    return dense_forward(_gathered(x, rows), w, b, relu, out)


def weight_grad_rmsprop(x, rows, g, w, v, lr, rho, eps):
    from ..optim.cuda import rmsprop_update

    grad = cuda.device_array(w.shape, w.dtype)
    matmul(x if rows is None else _gathered(x, rows), g, True, False, grad)
    rmsprop_update(w.reshape(w.size), grad.reshape(grad.size), v.reshape(v.size), lr, rho, eps)
