"""Tests of the Numba backend's internals: GEMM tile and block edges, the
narrow paths, the fused epilogue across K blocks, threads, the on-disk cache.

The broad comparison of every backend with NumPy is tests/kernels/test_kernels.py.
"""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from tapegrad.kernels import numba_backend  # noqa: E402
from tapegrad.kernels._numba.intrinsics import _ptr  # noqa: E402
from tapegrad.kernels.gemm import numba as G  # noqa: E402
from tapegrad.kernels.gemm.reference import reference_micro_kernel  # noqa: E402

MR, NR, KC = G.MR, G.NR_F32, G.KC


def ref(a, b, ta, tb):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a.T if ta else a) @ (b.T if tb else b)


def check(m, k, n, ta, tb, dtype, bias=False, relu=False, seed=0):
    r = np.random.default_rng(seed)
    a = r.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = r.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    bv = r.standard_normal(n).astype(dtype) if bias else None
    out = np.full((m, n), np.nan, dtype)
    G.gemm(a, b, ta, tb, out, bias=bv, relu=relu)
    want = ref(a, b, ta, tb)
    if bias:
        want = want + bv
    if relu:
        want = np.maximum(want, 0)
    scale = np.abs(a).max() * np.abs(b).max() * k + 1
    tol = 1e-6 if dtype == np.float32 else 1e-14
    assert np.all(np.isfinite(out))
    assert np.abs(out - want).max() <= tol * scale * 4, (m, k, n, ta, tb)


EDGES = [1, MR - 1, MR, MR + 1, NR + 1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", EDGES)
@pytest.mark.parametrize("n", [1, NR - 1, NR + 1, 2 * NR + 3])
def test_tile_edges(dtype, m, n):
    for ta in (False, True):
        for tb in (False, True):
            check(m, 7, n, ta, tb, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, KC - 1, KC + 1, 2 * KC + 5])
def test_k_block_edges(dtype, k):
    check(G.MC + 5, k, 2 * NR + 1, False, True, dtype)
    check(MR + 1, k, NR + 1, True, False, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(128, 512, 10), (512, 128, 10), (5, 3, 16), (NR + 3, 9, 13)])
def test_narrow_paths(dtype, shape):
    m, k, n = shape
    for ta in (False, True):
        for tb in (False, True):
            check(m, k, n, ta, tb, dtype)


@pytest.mark.parametrize("n", [10, 3 * NR + 1])
def test_epilogue_applied_once_across_k_blocks(n):
    # the bias and relu must be added after the last K block only
    check(2 * MR + 1, 2 * KC + 3, n, False, False, np.float32, bias=True, relu=True)
    check(2 * MR + 1, 5, n, False, False, np.float64, bias=True, relu=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 2, 10, 13])
def test_shallow_k(dtype, k):
    # shallow K: tiles visited row by row; a short last row block is cut inside
    # the micro-kernel (rows past it aimed at its last row, stored last to first)
    for m in (1, MR - 1, 2 * MR + 5, 131):
        for n in (NR + 1, 3 * NR, 67):
            for ta in (False, True):
                for tb in (False, True):
                    check(m, k, n, ta, tb, dtype, bias=m % 2 == 1, relu=n % 2 == 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 3, 9, 10, 15])
def test_narrow_dot_column_pairs(dtype, n):
    # _gemm_dot works on 4 x 2 blocks of C: an odd last column is computed twice
    for m in (1, 3, 4, 5, 131):
        check(m, 37, n, False, n % 2 == 0, dtype, bias=True, relu=m % 2 == 1)


def test_wide_n_beyond_nc():
    check(MR + 1, 5, G.NC + NR + 3, False, False, np.float32, bias=True)
    check(3, 2 * KC + 1, G.NC + 5, True, True, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parallel_and_serial_paths_agree(dtype):
    # above PARALLEL_FLOPS each thread takes a share of C's column panels (or of
    # the rows, on the narrow paths); below it one thread does all the work
    shapes = [(2 * G.MC + 7, 2 * KC + 9, 3 * NR + 5, False, False),   # general, ragged share
              (2 * G.MC + 7, KC + 3, 5 * NR, True, True),
              (1001, 307, 10, False, False),                        # _gemm_dot
              (1001, 307, 7, True, False)]                          # _gemm_narrow_ta
    be = numba_backend.backend
    old = be.get_num_threads()
    r = np.random.default_rng(3)
    try:
        for m, k, n, ta, tb in shapes:
            assert 2 * m * n * k >= G.PARALLEL_FLOPS
            a = r.standard_normal((k, m) if ta else (m, k)).astype(dtype)
            b = r.standard_normal((n, k) if tb else (k, n)).astype(dtype)
            outs = []
            for t in (1, 2):
                be.set_num_threads(t)
                outs.append(G.gemm(a, b, ta, tb, np.full((m, n), np.nan, dtype)))
            assert np.array_equal(outs[0], outs[1]), (m, k, n, ta, tb)
            tol = 1e-6 if dtype == np.float32 else 1e-14
            want = ref(a, b, ta, tb)
            assert np.abs(outs[0] - want).max() <= tol * 4 * k * np.abs(a).max() * np.abs(b).max()
    finally:
        be.set_num_threads(old)


def test_readonly_inputs():
    r = np.random.default_rng(1)
    a = r.standard_normal((33, 40)).astype(np.float32)
    b = r.standard_normal((40, 17)).astype(np.float32)
    bias = r.standard_normal(17).astype(np.float32)
    for x in (a, b, bias):
        x.flags.writeable = False
    out = np.empty((33, 17), np.float32)
    G.gemm(a, b, False, False, out, bias=bias, relu=True)
    np.testing.assert_allclose(out, np.maximum(a @ b + bias, 0), rtol=1e-5, atol=1e-5)


def test_threads_give_identical_results():
    r = np.random.default_rng(2)
    a = r.standard_normal((300, 500)).astype(np.float32)
    b = r.standard_normal((500, 260)).astype(np.float32)
    be = numba_backend.backend
    old = be.get_num_threads()
    results = []
    try:
        for t in (1, 2):
            be.set_num_threads(t)
            assert be.get_num_threads() == min(t, numba.config.NUMBA_NUM_THREADS)
            results.append([be.matmul(a, b, False, False, np.empty((300, 260), np.float32)),
                            be.matmul(a.T.copy(), b[:, :10].copy(), True, False,
                                      np.empty((300, 10), np.float32))])
    finally:
        be.set_num_threads(old)
    for x, y in zip(*results):
        assert np.array_equal(x, y)


@numba.njit   # not cached: the test reads its LLVM IR
def _micro_kernel_f32(kc, A, B, C, bias):
    u = np.uint64
    G._micro_kernel(kc, _ptr(A), u(0), u(MR), _ptr(B), u(0), u(NR), _ptr(C), u(0), u(NR), u(MR), True,
                    _ptr(bias), u(0), True, True)


def test_micro_kernel_is_vector_ir_that_avx2_can_run():
    """The 12x32 float32 kernel is emitted as vector FMAs (llvm.fma on <16 x float>, at
    least one per accumulator register), not scalar code for LLVM to vectorize; and
    its IR compiles for an AVX2-only CPU (Haswell), with no 512-bit (zmm) register."""
    llvm = pytest.importorskip("llvmlite.binding")
    x = np.zeros(MR * NR * 4, np.float32)
    _micro_kernel_f32(np.uint64(4), x, x, x, x)
    (ir_text,) = _micro_kernel_f32.inspect_llvm().values()
    assert ir_text.count("call <16 x float> @llvm.fma.v16f32") >= 2 * MR
    machine = llvm.Target.from_triple(llvm.get_process_triple()).create_target_machine(
        cpu="haswell", features="", opt=2)
    asm = machine.emit_assembly(llvm.parse_assembly(ir_text))
    assert "zmm" not in asm
    assert any("vfmadd" in line and "ymm" in line for line in asm.splitlines())


@numba.njit(cache=True)
def _run_micro_kernel(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    G._micro_kernel(kc, _ptr(A), pa, csa, _ptr(B), pb, rsb, _ptr(C), pc, ldc, rows, accumulate,
                    _ptr(bias), jb, use_bias, relu)


@numba.njit(cache=True)
def _run_narrow_kernel(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    G._narrow_kernel(kc, _ptr(A), pa, csa, _ptr(B), pb, rsb, _ptr(C), pc, ldc, rows, accumulate,
                     _ptr(bias), jb, use_bias, relu)


@numba.njit(cache=True)
def _run_micro_kernel_8(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    G._micro_kernel_8(kc, _ptr(A), pa, csa, _ptr(B), pb, rsb, _ptr(C), pc, ldc, rows, accumulate,
                      _ptr(bias), jb, use_bias, relu)


@numba.njit(cache=True)
def _run_rows_kernel(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    G._rows_kernel(kc, _ptr(A), pa, csa, _ptr(B), pb, rsb, _ptr(C), pc, ldc, rows, accumulate,
                   _ptr(bias), jb, use_bias, relu)


@numba.njit(cache=True)
def _run_rows_kernel_8(kc, A, pa, csa, B, pb, rsb, C, pc, ldc, rows, accumulate, bias, jb, use_bias, relu):
    G._rows_kernel_8(kc, _ptr(A), pa, csa, _ptr(B), pb, rsb, _ptr(C), pc, ldc, rows, accumulate,
                     _ptr(bias), jb, use_bias, relu)


KERNELS = {  # name: (runner, tile rows, A read by rows)
    "12-row": (_run_micro_kernel, MR, False),
    "10-row": (_run_narrow_kernel, 10, False),
    "8-row": (_run_micro_kernel_8, 8, False),
    "12-row A by rows": (_run_rows_kernel, MR, True),
    "8-row A by rows": (_run_rows_kernel_8, 8, True),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_micro_kernels_match_the_reference(dtype, kernel):
    """Each unrolled kernel, called directly on the same panels as reference_micro_kernel:
    packed panels at offsets, A read in place (csa = a row length, as _gemm_narrow_ta
    does), short tiles (rows past ``rows`` must stay untouched), accumulate, bias, ReLU.
    The kernels that read A by rows (element (r, p) at A[pa + r*csa + p]) get a matrix
    that ends with row ``rows - 1``; the reference gets the same numbers packed."""
    u = np.uint64
    nr = G.NR_F32 if dtype == np.float32 else G.NR_F64
    run, mr, a_rows = KERNELS[kernel]
    rng = np.random.default_rng(1)
    for kc, pa, csa, pb, rsb, ldc, rows, accumulate, use_bias, relu in [
            (1, 0, MR, 0, nr, nr, mr, False, False, False),
            (7, 5, MR, 3, nr, nr + 3, mr, True, True, True),
            (64, 0, 70, 2, nr + 8, nr, mr - 3, False, True, True),
            (300, 12, MR, 0, nr, nr + 1, 1, True, False, True),
            (10, 3, 17, 0, nr, nr, mr - 1, False, False, False)]:
        B = rng.standard_normal(pb + (kc - 1) * rsb + nr + 3).astype(dtype)
        bias = rng.standard_normal(nr + 4).astype(dtype)
        C0 = rng.standard_normal(ldc * mr + 2).astype(dtype)
        want, got = C0.copy(), C0.copy()
        if a_rows:   # rows of length >= kc, csa apart; nothing after the last row
            csa = max(csa, kc)
            A = rng.standard_normal(pa + (rows - 1) * csa + kc).astype(dtype)
            A_ref = np.zeros(mr * kc, dtype)
            for r in range(rows):
                A_ref[r:mr * kc:mr] = A[pa + r * csa:pa + r * csa + kc]
            ref_args = (A_ref, 0, mr)
        else:
            A = rng.standard_normal(pa + mr + (kc - 1) * csa + 3).astype(dtype)
            ref_args = (A, pa, csa)
        reference_micro_kernel(nr, kc, *ref_args, B, pb, rsb, want, 2, ldc, rows, accumulate, bias, 4,
                               use_bias, relu)
        run(u(kc), A, u(pa), u(csa), B, u(pb), u(rsb), got, u(2), u(ldc), u(rows), accumulate, bias, u(4),
            use_bias, relu)
        scale = np.abs(A).max() * np.abs(B).max() * kc + np.abs(C0).max() + np.abs(bias).max()
        tol = (1e-6 if dtype == np.float32 else 1e-14) * scale
        np.testing.assert_allclose(got, want, rtol=0, atol=tol)
        assert np.array_equal(got[2 + rows * ldc:], C0[2 + rows * ldc:])   # rows past ``rows``
        # the reference itself, against NumPy
        A_ref, pa_ref, csa_ref = ref_args
        a_blk = np.array([[A_ref[pa_ref + r + p * csa_ref] for p in range(kc)] for r in range(rows)], np.float64)
        b_blk = np.array([[B[pb + p * rsb + j] for j in range(nr)] for p in range(kc)], np.float64)
        expect = a_blk @ b_blk
        if accumulate:
            expect += C0[2:2 + rows * ldc].reshape(rows, ldc)[:, :nr]
        if use_bias:
            expect += bias[4:4 + nr]
        if relu:
            expect = np.maximum(expect, 0)
        np.testing.assert_allclose(want[2:2 + rows * ldc].reshape(rows, ldc)[:, :nr], expect, rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_narrow_transposed_a_blocks(dtype):
    """h.T @ dy: blocks of NR rows (the 10-class kernel when n <= 10),
    then plain loops, for m around each of those edges and n up to NARROW_N."""
    nr = G.NR_F32 if dtype == np.float32 else G.NR_F64
    for m in sorted({1, nr - 1, nr, nr + 1, 2 * nr - 1, 2 * nr, 2 * nr + 1, 3 * nr + 5, 4 * nr, 513}):
        for n in (1, 2, 7, 10, 11, 12, 13, 16):
            for k in (1, 64):
                check(m, k, n, True, n % 2 == 0, dtype, bias=n == 7, relu=n == 7, seed=m + n + k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta, indexed", [(False, False), (True, False), (False, True)])   # rows: of a plain a only
def test_pack_a_layout(dtype, ta, indexed):
    """Packed panels hold op(a)[i0 + q*MR + r, p0 + p] at ap[(q*kc + p)*MR + r], zeros
    below the last row: checked for blocks of 8 columns (the register transposes of a
    row-major a) and the columns left over, full and partial panels, offsets; with
    ``indexed``, op(a)'s row i is row rows[i] of a plain a (shuffled, repeated rows)."""
    u = np.uint64
    rng = np.random.default_rng(0)
    for m, k, i0, mc, p0, kc in [(12, 8, 0, 12, 0, 8), (30, 50, 5, 25, 3, 47), (13, 17, 1, 12, 1, 16),
                                 (128, 784, 0, 128, 392, 392), (40, 9, 3, 37, 0, 9), (24, 7, 0, 24, 0, 7)]:
        opa = rng.standard_normal((m, k)).astype(dtype)
        a = np.ascontiguousarray(opa.T) if ta else opa
        rows = rng.integers(0, m, m).astype(np.int64) if indexed else np.zeros(1, np.int64)
        picked = opa[rows] if indexed else opa
        ap = np.full(-(-mc // MR) * MR * kc, np.nan, dtype)
        G._pack_a(a.reshape(-1), u(a.shape[1]), ta, rows, indexed, u(i0), u(mc), u(p0), u(kc), ap)
        block = np.zeros((-(-mc // MR) * MR, kc), dtype)
        block[:mc] = picked[i0:i0 + mc, p0:p0 + kc]
        expected = block.reshape(-1, MR, kc).transpose(0, 2, 1).reshape(-1)
        np.testing.assert_array_equal(ap, expected)


def test_cache_files_written():
    check(MR + 1, 5, NR + 1, False, False, np.float32)
    cache = pathlib.Path(G._gemm_blocked._cache.cache_path)   # the per-user folder (kernels/_numba/cache.py)
    assert cache.parent != pathlib.Path(G.__file__).parent, "cached next to the source"
    names = [p.name for p in cache.glob("numba._gemm_blocked-*.nbi")]
    assert names, "no numba cache index for _gemm_blocked"


def test_slp_vectorizer_on_for_our_kernels_only():
    """Every Numba kernel of every family compiles through kernels/_numba's njit,
    which turns LLVM's SLP vectorizer on around its compiles only; the process's
    setting stays Numba's (before: NUMBA_SLP_VECTORIZE=1 in os.environ for all)."""
    import importlib

    from numba.core.registry import CPUDispatcher

    from tapegrad.kernels import _families

    seen = 0
    for family in _families.FAMILIES:
        try:
            module = importlib.import_module(f"tapegrad.kernels.{family}.numba")
        except ImportError:   # a family without Numba kernels of its own (metrics)
            continue
        for obj in vars(module).values():
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == module.__name__:
                assert "_with_slp_vectorizer" in obj.compile.__qualname__, obj
                seen += 1
    assert seen >= 20
    assert numba.core.config.SLP_VECTORIZE == int(os.environ.get("NUMBA_SLP_VECTORIZE", 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shallow_and_narrow_sizes_all_transposes(dtype):
    """K = 1..17 and N = 1..17 through every path the entry picks (the narrow
    paths, B packed or read in place, the transposed store of 8-10 classes),
    all four transposes, with and without the fused bias and ReLU."""
    for k in range(1, 18):
        for n in (*range(1, 18), NR + 3):
            for m in (1, 13, 37):
                for ta in (False, True):
                    for tb in (False, True):
                        epilogue = (k + n + m) % 3
                        check(m, k, n, ta, tb, dtype, bias=epilogue > 0, relu=epilogue == 2, seed=k * n + m)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_b_in_place_around_the_row_block(dtype):
    """b is read in place for one row block (M <= MC) and packed above it: M
    around MC, N with and without a narrower last panel, K over 1-3 blocks."""
    for m in (G.MC - 1, G.MC, G.MC + 1):
        for n in (2 * NR, 2 * NR + 5):
            for k in (3, KC + 1, 2 * KC + 7):
                check(m, k, n, False, False, dtype, bias=True, relu=n % 2 == 1, seed=m + n + k)
                check(m, k, n, True, False, dtype, seed=m + k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_b_panel_by_panel_and_a_gathered_through_a_row_index(dtype, threads):
    """One row block (M <= MC) of a plain b deeper than 32 KB per K block: A
    packed (or gathered through ``rows`` while packed, shuffled rows and one
    taken twice), each B micro-panel packed just before its tiles, the narrower
    last one too; on 1 and 2 threads (each packs its own), against NumPy."""
    rng = np.random.default_rng(threads)
    for m in (1, 7, 8, 12, 13, 37, 128, G.MC):
        for k in (29, 97, KC + 1, 784):
            for n in (NR + 1, 3 * NR, 5 * NR + 7, 512):
                if (m + k + n) % 2:   # half of the combinations, every value of each
                    continue
                a = rng.standard_normal((m + 5, k)).astype(dtype)
                b = rng.standard_normal((k, n)).astype(dtype)
                bias = rng.standard_normal(n).astype(dtype)
                rows = rng.permutation(m + 5)[:m].astype(np.int64)
                rows[-1] = rows[0]
                tol = (1e-6 if dtype == np.float32 else 1e-14) * 4 * (np.abs(a).max() * np.abs(b).max() * k + 1)
                out = np.full((m, n), np.nan, dtype)
                G.gemm(a[:m], b, False, False, out, threads=threads)
                assert np.abs(out - ref(a[:m], b, False, False)).max() <= tol, (m, k, n)
                out = np.full((m, n), np.nan, dtype)
                G.gemm(a, b, False, False, out, bias, True, threads=threads, rows=rows)
                want = np.maximum(ref(a[rows], b, False, False) + bias, 0)
                assert np.abs(out - want).max() <= tol, (m, k, n, "rows")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transposed_store_of_the_ten_class_tile(dtype):
    """h.T @ dy for 8-10 classes: rows 0-7 of the tile stored by register
    transposes, the rest one by one, bias and ReLU applied before."""
    nr = G.NR_F32 if dtype == np.float32 else G.NR_F64
    for n in (7, 8, 9, 10):
        for m in (nr, 3 * nr + 1, 128):
            check(m, 33, n, True, False, dtype, bias=True, relu=True, seed=n + m)
            check(m, 33, n, True, True, dtype, bias=m % 2 == 0, seed=n * m)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_by_rows_and_eight_row_panels(dtype):
    """A plain a read by rows in place (no packing) when it is one row block
    (M <= MC) or its rows are at most A_ROW_BYTES, packed otherwise; the last
    row panel by the 8-row kernel when it has at most 8 rows.  M around 8, 12
    and MC, K shallow and around the row-length limit (several K blocks), N
    with and without a narrower last panel, every transpose (a transposed a is
    packed), bias and ReLU."""
    longest = G.A_ROW_BYTES // np.dtype(dtype).itemsize
    for m in (1, 7, 8, 9, 11, 12, 13, 20, 21, 128, G.MC - 1, G.MC, G.MC + 1, 2 * G.MC + 8):
        for k in (1, 2, 10, 17, longest - 1, longest, longest + 1):
            for n in (NR + 1, 2 * NR):
                epilogue = (m + k + n) % 3
                for ta in (False, True):
                    for tb in (False, True):
                        check(m, k, n, ta, tb, dtype, bias=epilogue > 0, relu=epilogue == 2, seed=m * k + n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dot_blocks_around_their_edges(dtype):
    """h @ W2 (N <= NARROW_N, a not transposed): 8 x 2 blocks of dot products
    along K; M around 8, K around whole vectors (the rest by masked loads),
    every N up to NARROW_N (odd N: the last column computed twice), op(B)
    given transposed (read in place) or plain (copied by register transposes)."""
    lanes = 16 if dtype == np.float32 else 8
    for m in (1, 7, 8, 9, 16, 17, 128):
        for k in (1, lanes - 1, lanes, lanes + 1, 2 * lanes + 3, 8 * lanes + 5, 512):
            for n in range(1, G.NARROW_N + 1):
                epilogue = (m + k + n) % 3
                check(m, k, n, False, n % 2 == 0, dtype, bias=epilogue > 0, relu=epilogue == 2, seed=m + k * n)


_CACHED_RUN = """
import numpy as np
from tapegrad.kernels.gemm import numba as G
for dtype, bias, n in {cases}:
    a = np.ones((8, 16), dtype); b = np.ones((16, n), dtype); c = np.empty((8, n), dtype)
    G.gemm(a, b, False, False, c, bias=np.ones(n, dtype) if bias else None, relu=True)
    assert np.all(c == 16 + bias), c
"""


@pytest.mark.slow  # three processes, each compiling the GEMM entry anew (about 1-2 minutes)
def test_specializations_cached_by_different_processes_load(tmp_path):
    """Processes that each compile other specializations of the GEMM entry into
    one cache, then one that loads them all: a cached non-parallel caller of a
    parallel function crashed there (numba issues #4807, #8578), so _gemm is
    compiled parallel=True."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    f32, f64 = "np.float32", "np.float64"
    for cases in (f"[({f32}, True, 10), ({f32}, True, 40)]",
                  f"[({f32}, False, 10), ({f32}, False, 40)]",
                  f"[({f64}, False, 10), ({f64}, True, 40)]",
                  f"[({f32}, False, 10), ({f32}, True, 40), ({f64}, False, 10), ({f64}, True, 40)]"):
        run = subprocess.run([sys.executable, "-c", _CACHED_RUN.format(cases=cases)], env=env,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, (cases, run.returncode, run.stderr[-2000:])
