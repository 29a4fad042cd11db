"""Internals of the Cython backend: tile edges, both builds, threads.

The shared tests (tests/kernels/test_kernels.py) compare every backend with NumPy
through the public API; these go under it, to the extension modules: the
portable build and the AVX2 build (with its 256-bit and, where the CPU has
them, 512-bit micro-kernels) must agree with NumPy on shapes that straddle
every tile and cache-block boundary, and one thread must agree with two.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

cython_backend = pytest.importorskip("tapegrad.kernels.cython_backend")
if cython_backend._ext is None:
    pytest.skip("the Cython kernels are not compiled", allow_module_level=True)

from tapegrad.kernels import _cython_base  # noqa: E402
from tapegrad.kernels.gemm.reference import reference_micro_kernel  # noqa: E402

DTYPES = [np.float32, np.float64]


def _variants():
    """(name, module, wide) for every micro-kernel set this CPU can run."""
    out = [("base", _cython_base, False)]
    try:
        from tapegrad.kernels import _cython_avx2
    except ImportError:
        return out
    if _cython_base.cpu_supports_avx2_fma():
        out.append(("avx2", _cython_avx2, False))
        if _cython_base.cpu_supports_avx512f():
            out.append(("avx512", _cython_avx2, True))
    return out


VARIANTS = _variants()


@pytest.fixture(params=VARIANTS, ids=[v[0] for v in VARIANTS])
def ext(request):
    name, module, wide = request.param
    chosen = module.select_kernels(wide)
    assert chosen == name
    yield module
    # restore what the backend chose at import
    if module is cython_backend._ext:
        module.select_kernels(os.environ.get("TAPEGRAD_CYTHON_ISA", "auto") != "avx2")


def tile_shape(ext, dtype):
    info = ext.kernel_info()
    return info["float32_tile" if dtype == np.float32 else "float64_tile"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_micro_kernel_matches_the_reference(ext, dtype):
    """The C micro-kernel the GEMM calls, run once (micro_kernel_once) on packed
    panels, against reference_micro_kernel on the same panels: a deep and a
    shallow kc, with and without accumulate, bias and ReLU, C wider than NR."""
    mr, nr = tile_shape(ext, dtype)
    rng = np.random.default_rng(2)
    for kc, extra, accumulate, use_bias, relu in [(1, 0, False, False, False), (9, 3, True, True, True),
                                                  (200, 1, False, True, False), (70, 0, True, False, True)]:
        a = rng.standard_normal(kc * mr).astype(dtype)
        b = rng.standard_normal(kc * nr).astype(dtype)
        bias = rng.standard_normal(nr).astype(dtype)
        c0 = rng.standard_normal((mr, nr + extra)).astype(dtype)
        got, want = c0.copy(), c0.copy().reshape(-1)
        ext.micro_kernel_once(a, b, got, accumulate, bias, use_bias, relu)
        reference_micro_kernel(nr, kc, a, 0, mr, b, 0, nr, want, 0, nr + extra, mr, accumulate, bias, 0,
                               use_bias, relu)
        scale = np.abs(a).max() * np.abs(b).max() * kc + np.abs(c0).max() + np.abs(bias).max()
        tol = (1e-6 if dtype == np.float32 else 1e-14) * scale
        np.testing.assert_allclose(got, want.reshape(c0.shape), rtol=0, atol=tol)
        assert np.array_equal(got[:, nr:], c0[:, nr:])   # columns past NR untouched


@pytest.mark.parametrize("dtype", DTYPES)
def test_micro_kernel_reads_b_in_place(ext, dtype):
    """The micro-kernel reading B where it lies (row stride rsb > NR, as in a
    row-major B), from an address one element past a vector boundary, against
    reference_micro_kernel with the same rsb."""
    mr, nr = tile_shape(ext, dtype)
    rng = np.random.default_rng(12)
    for kc, rsb, accumulate, use_bias, relu in [(1, nr, False, False, False), (3, nr + 1, True, True, True),
                                                (130, 3 * nr + 5, False, True, True), (17, 2 * nr, True, False, False)]:
        a = rng.standard_normal(kc * mr).astype(dtype)
        b = rng.standard_normal(1 + (kc - 1) * rsb + nr).astype(dtype)[1:]   # not aligned
        bias = rng.standard_normal(nr).astype(dtype)
        c0 = rng.standard_normal((mr, nr + 2)).astype(dtype)
        got, want = c0.copy(), c0.copy().reshape(-1)
        ext.micro_kernel_once(a, b, got, accumulate, bias, use_bias, relu, rsb)
        reference_micro_kernel(nr, kc, a, 0, mr, b, 0, rsb, want, 0, nr + 2, mr, accumulate, bias, 0,
                               use_bias, relu)
        scale = np.abs(a).max() * np.abs(b).max() * kc + np.abs(c0).max() + np.abs(bias).max()
        tol = (1e-6 if dtype == np.float32 else 1e-14) * scale
        np.testing.assert_allclose(got, want.reshape(c0.shape), rtol=0, atol=tol)
        assert np.array_equal(got[:, nr:], c0[:, nr:])


def test_micro_kernel_once_checks_shapes():
    f = np.zeros
    mr, nr = tile_shape(_cython_base, np.float32)
    ok = dict(accumulate=False, bias=f(0, np.float32), use_bias=False, relu=False)
    with pytest.raises(ValueError, match="kc\\*MR"):
        _cython_base.micro_kernel_once(f(mr * 2 + 1, np.float32), f(nr * 2, np.float32), f((mr, nr), np.float32), **ok)
    with pytest.raises(ValueError, match="kc >= 1"):
        _cython_base.micro_kernel_once(f(0, np.float32), f(0, np.float32), f((mr, nr), np.float32), **ok)
    with pytest.raises(ValueError, match="needs"):
        _cython_base.micro_kernel_once(f(mr, np.float32), f(nr, np.float32), f((mr - 1, nr), np.float32), **ok)
    with pytest.raises(ValueError, match="bias has 0"):
        _cython_base.micro_kernel_once(f(mr, np.float32), f(nr, np.float32), f((mr, nr), np.float32),
                                       False, f(0, np.float32), True, False)
    with pytest.raises(ValueError, match="below NR"):
        _cython_base.micro_kernel_once(f(mr, np.float32), f(nr, np.float32), f((mr, nr), np.float32),
                                       rsb=nr - 1, **ok)
    with pytest.raises(ValueError, match="rsb"):    # 2 rows 3*NR apart need 4*NR numbers
        _cython_base.micro_kernel_once(f(2 * mr, np.float32), f(4 * nr - 1, np.float32),
                                       f((mr, nr), np.float32), rsb=3 * nr, **ok)


def check(ours, a64, b64, dtype, k):
    ref = a64 @ b64
    scale = np.abs(a64) @ np.abs(b64)
    eps = np.finfo(dtype).eps
    bound = 32 * eps * max(1.0, np.sqrt(k)) * scale + np.finfo(dtype).tiny
    err = np.abs(ours.astype(np.float64) - ref)
    assert np.all(err <= bound), f"max error {err.max():.3g} (k={k})"


def run_matmul(ext, m, k, n, ta, tb, dtype, seed=0):
    r = np.random.default_rng(seed)
    a = r.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = r.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    a.flags.writeable = False  # inputs are read-only memoryviews
    b.flags.writeable = False
    out = np.full((m, n), np.nan, dtype)
    ext.matmul(a, b, ta, tb, out)
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    check(out, a64.T if ta else a64, b64.T if tb else b64, dtype, k)


def test_gemm_entries_check_their_arrays():
    """matmul and dense_forward take the arrays themselves and check in C what
    the kernel relies on (dimensions, shapes, one float dtype, C order, a
    writable out): a wrong call raises, it never reads past an array."""
    f32 = np.ones((4, 3), np.float32)
    b32 = np.ones((3, 5), np.float32)
    out = np.zeros((4, 5), np.float32)
    for ext in {v[1] for v in VARIANTS}:
        ext.matmul(f32, b32, False, False, out)
        assert np.array_equal(out, np.full((4, 5), 3, np.float32))
        with pytest.raises(TypeError, match="all be float32 or all float64"):
            ext.matmul(f32, b32.astype(np.float64), False, False, out)
        with pytest.raises(TypeError, match="all be float32 or all float64"):
            ext.matmul(f32.astype(np.int32), b32.astype(np.int32), False, False, out.astype(np.int32))
        with pytest.raises(ValueError, match="do not fit"):
            ext.matmul(f32, b32[:2], False, False, out)           # k differs
        with pytest.raises(ValueError, match="do not fit"):
            ext.matmul(f32, b32, True, False, out)                # op(a) is 3x4
        with pytest.raises(ValueError, match="do not fit"):
            ext.matmul(f32, b32, False, False, out[:, :4].copy())  # n differs
        with pytest.raises(ValueError, match="C-contiguous"):
            ext.matmul(np.ones((4, 6), np.float32)[:, ::2], b32, False, False, out)
        with pytest.raises(ValueError, match="writable"):
            ro = out.copy()
            ro.flags.writeable = False
            ext.matmul(f32, b32, False, False, ro)
        with pytest.raises(ValueError, match="2 dimension"):
            ext.matmul(f32.reshape(-1), b32, False, False, out)
        with pytest.raises(ValueError, match="float32 or float64 array"):
            ext.matmul([[1.0]], b32, False, False, out)
        ext.dense_forward(f32, b32, np.ones(5, np.float32), True, out)
        assert np.array_equal(out, np.full((4, 5), 4, np.float32))
        with pytest.raises(ValueError, match="do not fit"):
            ext.dense_forward(f32, b32, np.ones(4, np.float32), True, out)
        with pytest.raises(TypeError, match="all be float32"):
            ext.dense_forward(f32, b32, np.ones(5, np.float64), True, out)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tile_edges(ext, dtype):
    """m, n one below, at and above MR, NR, 2*NR; k below, at and above the 8 x 8
    blocks in which an 8-row panel of A is packed."""
    mr, nr = tile_shape(ext, dtype)
    ms = sorted({1, mr - 1, mr, mr + 1, 2 * mr + 3})
    ns = sorted({1, nr // 2, nr - 1, nr, nr + 1, 2 * nr + 5})
    ks = [1, 2, 8, 17]
    for m in ms:
        for n in ns:
            for k in ks:
                for ta in (False, True):
                    for tb in (False, True):
                        run_matmul(ext, m, k, n, ta, tb, dtype, seed=m + 7 * n + 31 * k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (17, 31, 33), (129, 257, 65), (128, 784, 512),
                                   (784, 128, 512), (128, 512, 10), (128, 10, 512),
                                   (512, 128, 10), (10, 300, 700)])
def test_shapes_all_transposes(ext, dtype, m, k, n):
    for ta in (False, True):
        for tb in (False, True):
            run_matmul(ext, m, k, n, ta, tb, dtype, seed=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_c_from_a_transposed(ext, dtype):
    """h.T @ dy: A stored transposed and C at most 12 columns wide runs down
    the columns of C (kernels of width 4, 8, 12), with staged last rows;
    m around every tile height (16..64 rows), n = 1..13."""
    for m in (1, 15, 16, 17, 31, 33, 47, 49, 64, 65, 130, 513):
        for n in range(1, 14):
            for k in (1, 5, 64):
                run_matmul(ext, m, k, n, True, n % 2 == 0, dtype, seed=m + 13 * n + k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cache_block_boundaries(ext, dtype):
    """k across several KC blocks, m across MC blocks, n across NC blocks."""
    old = ext.kernel_info()
    d = 0 if dtype == np.float32 else 1
    try:
        ext.set_blocking(kc=24, mc=3 * tile_shape(ext, dtype)[0], nc=2 * tile_shape(ext, dtype)[1],
                         dtype=np.dtype(dtype).name)
        for m, k, n in [(50, 73, 97), (7, 48, 200), (61, 25, 64)]:
            run_matmul(ext, m, k, n, False, False, dtype, seed=m)
            run_matmul(ext, m, k, n, True, True, dtype, seed=n)
    finally:
        ext.set_blocking(kc=old["kc"][d], mc=old["mc"][d], nc=old["nc"],
                         dtype=np.dtype(dtype).name)


class blocking:
    """Set ``set_blocking`` options for a with-block, restoring them after."""

    def __init__(self, ext, dtype, **options):
        self.ext, self.dtype, self.options = ext, np.dtype(dtype).name, options

    def __enter__(self):
        self.old = self.ext.kernel_info()
        self.ext.set_blocking(dtype=self.dtype, **self.options)

    def __exit__(self, *exc):
        d = 0 if self.dtype == "float32" else 1
        self.ext.set_blocking(kc=self.old["kc"][d], mc=self.old["mc"][d], nc=self.old["nc"],
                              dtype=self.dtype, shallow_k=self.old["shallow_k"],
                              in_place_kc=self.old["in_place_kc"])


def run_dense(ext, m, k, n, dtype, relu, with_bias, seed):
    """dense_forward (bias and ReLU in the GEMM's epilogue) against NumPy."""
    r = np.random.default_rng(seed)
    x = r.standard_normal((m, k)).astype(dtype)
    w = r.standard_normal((k, n)).astype(dtype)
    b = r.standard_normal(n).astype(dtype) if with_bias else None
    out = np.full((m, n), np.nan, dtype)
    ext.dense_forward(x, w, b, relu, out)
    ref = x.astype(np.float64) @ w.astype(np.float64) + (b if with_bias else 0)
    if relu:
        ref = np.maximum(ref, 0)
    tol = (1e-5 if dtype == np.float32 else 1e-12) * np.sqrt(k)
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_b_in_place_around_a_row_block(ext, dtype):
    """B read in place (one row block of C, B row-major, K blocks >= in_place_kc):
    m around MR and MC (MC + 1 is two blocks: packed again), n around NR (a
    narrower last panel is packed), every transpose (a transposed B is packed),
    and the threshold forced down to K = 1 so shallow K blocks take the path too."""
    mr, nr = tile_shape(ext, dtype)
    mc = ext.kernel_info()["mc"][0 if dtype == np.float32 else 1]
    shapes = [(m, k, n) for m in (1, mr + 1, mc - 1, mc + 1) for k, n in [(130, nr), (257, 2 * nr + 5)]]
    for m, k, n in shapes:
        for ta in (False, True):
            for tb in (False, True):
                run_matmul(ext, m, k, n, ta, tb, dtype, seed=m + k + n)
    with blocking(ext, dtype, in_place_kc=1, shallow_k=0, kc=40):
        for m, k, n in [(mr, 1, nr + 1), (3 * mr + 1, 17, 3 * nr - 1), (mc, 97, 2 * nr)]:
            for tb in (False, True):
                run_matmul(ext, m, k, n, False, tb, dtype, seed=k)
            run_dense(ext, m, k, n, dtype, True, True, seed=m)
    run_dense(ext, 128, 784, 2 * nr + 3, dtype, True, True, seed=5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_shallow_k(ext, dtype):
    """The shallow path (K <= shallow_k, one thread): whole tiles by the
    shallow kernel reading A and a row-major B in place (a transposed B is
    copied first), edge rows and columns by the usual paths; K = 1..17 and around shallow_k, m and n around MR and NR,
    every transpose, B wider than one column block (copied block by block),
    bias and ReLU; one and two threads (a small problem stays on one)."""
    mr, nr = tile_shape(ext, dtype)
    shallow_k = ext.kernel_info()["shallow_k"]
    for k in list(range(1, 18)) + [shallow_k - 1, shallow_k, shallow_k + 1]:
        for m, n in [(mr, nr), (mr + 1, 2 * nr + 3), (2 * mr - 1, nr + 7)]:
            for ta in (False, True):
                for tb in (False, True):
                    run_matmul(ext, m, k, n, ta, tb, dtype, seed=k + m + n)
    block = 128 * 1024 // np.dtype(dtype).itemsize      # numbers of B in one column block
    for m, k, n in [(3 * mr + 2, 64, block // 64 * 2 + nr + 3), (mr, 1, 2 * nr), (17, 10, 512)]:
        run_matmul(ext, m, k, n, False, False, dtype, seed=n)
        run_matmul(ext, m, k, n, True, False, dtype, seed=m)
        run_matmul(ext, m, k, n, False, True, dtype, seed=k)
    for m, k, n in [(13, 5, 33), (mr, 10, nr), (40, 16, 3 * nr + 1), (128, 10, 512)]:
        for relu in (False, True):
            for with_bias in (False, True):
                run_dense(ext, m, k, n, dtype, relu, with_bias, seed=m + n)
    before = ext.get_num_threads()
    try:
        ext.set_num_threads(2)
        run_matmul(ext, 61, 10, 3 * nr + 1, False, False, dtype, seed=3)
    finally:
        ext.set_num_threads(before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_b_packed_by_masked_rows(ext, dtype):
    """The narrow path's B (n < NR, row-major) is packed by whole-vector row
    reads, masked past n, except the last rows, where a read would leave B:
    n = 1..17 (below NR), k = 1, 2, 3 and longer, with bias and ReLU."""
    mr, nr = tile_shape(ext, dtype)
    for n in range(1, min(18, nr)):
        for k in (1, 2, 3, 17, 130):
            for m in (1, mr + 3, 37):
                run_matmul(ext, m, k, n, False, False, dtype, seed=n + k + m)
                run_matmul(ext, m, k, n, True, False, dtype, seed=n * k)
        run_dense(ext, 29, 19, n, dtype, True, True, seed=n)


GUARD_PAGE_SCRIPT = """
import ctypes, mmap, sys
import numpy as np
from tapegrad.kernels import _cython_base, _cython_avx2
PAGE = mmap.PAGESIZE
libc = ctypes.CDLL(None, use_errno=True)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
keep = []

def at_page_end(values):
    # a copy of values whose last byte is the last before an unreadable page
    nbytes = values.nbytes
    pages = -(-nbytes // PAGE)
    mm = mmap.mmap(-1, (pages + 1) * PAGE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(mm))
    assert libc.mprotect(base + pages * PAGE, PAGE, 0) == 0   # PROT_NONE
    keep.append(mm)
    arr = np.frombuffer(mm, values.dtype, values.size, pages * PAGE - nbytes).reshape(values.shape)
    arr[...] = values
    return arr

r = np.random.default_rng(0)
for module, wide in [(_cython_base, False), (_cython_avx2, False), (_cython_avx2, True)]:
    if module is _cython_avx2 and not _cython_base.cpu_supports_avx2_fma():
        continue
    if wide and not _cython_base.cpu_supports_avx512f():
        continue
    module.select_kernels(wide)
    for dtype in (np.float32, np.float64):
        for m, k, n in [(37, 3, 1), (37, 17, 10), (20, 130, 13), (20, 10, 35), (9, 64, 67), (64, 130, 77)]:
            a = r.standard_normal((m, k)).astype(dtype)
            b = at_page_end(r.standard_normal((k, n)).astype(dtype))
            out = np.empty((m, n), dtype)
            module.matmul(a, b, False, False, out)
            assert np.allclose(out, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-4, atol=1e-4)
            bt = at_page_end(np.ascontiguousarray(b.T))          # B transposed: copied
            module.matmul(a, bt, False, True, out)
            assert np.allclose(out, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-4, atol=1e-4)
print("ok")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mprotect through ctypes: Linux only")
def test_b_read_in_place_stays_inside_b():
    """The paths that read B where it lies (the narrow path's masked row reads,
    the shallow kernel, B in place) never read past B's last number: B is put
    just before an unreadable page, so a read past it kills the process.  Run
    in a subprocess so that a crash fails this test instead of ending pytest."""
    done = subprocess.run([sys.executable, "-c", GUARD_PAGE_SCRIPT], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.split() == ["ok"], (done.returncode, done.stderr[-2000:])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 10, 33])
def test_dense_forward_fused_epilogue(ext, dtype, n):
    """Bias and relu applied in the GEMM write-back, also across k blocks."""
    r = np.random.default_rng(3)
    for m, k in [(128, 784), (13, 5), (40, 600)]:
        x = r.standard_normal((m, k)).astype(dtype)
        w = r.standard_normal((k, n)).astype(dtype)
        b = r.standard_normal(n).astype(dtype)
        for bias in (b, None):
            for relu in (False, True):
                out = np.full((m, n), np.nan, dtype)
                ext.dense_forward(x, w, bias, relu, out)
                ref = x.astype(np.float64) @ w.astype(np.float64)
                if bias is not None:
                    ref = ref + b
                if relu:
                    ref = np.maximum(ref, 0)
                tol = 1e-4 if dtype == np.float32 else 1e-11
                np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.sqrt(k))


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_agree(ext, dtype):
    """1 and 2 OpenMP threads give the same result (the same sums, split by rows)."""
    r = np.random.default_rng(4)
    before = ext.get_num_threads()
    try:
        for m, k, n in [(300, 200, 260), (128, 784, 512), (1000, 64, 10)]:
            a = r.standard_normal((m, k)).astype(dtype)
            b = r.standard_normal((k, n)).astype(dtype)
            outs = []
            for t in (1, 2):
                ext.set_num_threads(t)
                out = np.empty((m, n), dtype)
                ext.matmul(a, b, False, False, out)
                outs.append(out)
            np.testing.assert_array_equal(outs[0], outs[1])
        x = r.standard_normal(300_001).astype(dtype)
        outs = []
        for t in (1, 2):
            ext.set_num_threads(t)
            out = np.empty_like(x)
            ext.relu(x, out)
            outs.append(out)
        np.testing.assert_array_equal(outs[0], outs[1])
    finally:
        ext.set_num_threads(before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_extreme_logits(ext, dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [3.0, 1.0, 2.0]], dtype)
    labels = np.array([1, 2, 0], np.int64)
    loss = np.empty(3, dtype)
    grad = np.empty_like(z)
    ext.softmax_cross_entropy(z, labels, 0.5, loss, grad)
    z64 = z.astype(np.float64)
    shifted = z64 - z64.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1))
    ref_loss = lse - shifted[np.arange(3), labels]
    p = np.exp(shifted - lse[:, None])
    p[np.arange(3), labels] -= 1
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, 0.5 * p, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_grad_and_optimizers(ext, dtype):
    r = np.random.default_rng(5)
    g = r.standard_normal((257, 33)).astype(dtype)
    out = np.empty(33, dtype)
    ext.bias_grad(g, out)
    np.testing.assert_allclose(out, g.astype(np.float64).sum(axis=0),
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)
    n = 200_003  # large enough to run in parallel
    w0 = r.standard_normal(n).astype(dtype)
    grad = r.standard_normal(n).astype(dtype)
    m0 = r.standard_normal(n).astype(dtype) * 0.1
    v0 = np.abs(r.standard_normal(n)).astype(dtype)
    w, m, v = w0.copy(), m0.copy(), v0.copy()
    ext.adam_update(w, grad, m, v, 1e-3, 0.9, 0.999, 1e-7, 3)
    alpha = 1e-3 * np.sqrt(1 - 0.999 ** 3) / (1 - 0.9 ** 3)
    m_ref = m0 + (grad - m0) * (1 - 0.9)
    v_ref = v0 + (grad * grad - v0) * (1 - 0.999)
    w_ref = w0 - alpha * m_ref / (np.sqrt(v_ref) + 1e-7)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(m, m_ref, rtol=rtol, atol=1e-7)
    np.testing.assert_allclose(w, w_ref, rtol=rtol, atol=1e-7)
    w, vel = w0.copy(), m0.copy()
    ext.sgd_update(w, grad, vel, 0.1, 0.9, True)
    vel_ref = 0.9 * m0 - 0.1 * grad
    np.testing.assert_allclose(vel, vel_ref, rtol=rtol, atol=1e-6)
    np.testing.assert_allclose(w, w0 + 0.9 * vel_ref - 0.1 * grad, rtol=rtol, atol=1e-6)
    w, v = w0.copy(), v0.copy()
    ext.rmsprop_update(w, grad, v, 0.01, 0.9, 1e-7)
    v_ref = 0.9 * v0 + 0.1 * grad * grad
    np.testing.assert_allclose(w, w0 - 0.01 * grad / np.sqrt(v_ref + 1e-7), rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizer_loops_every_width_and_split(ext, dtype):
    """SGD (plain, momentum, Nesterov), RMSprop and Adam, the C loops of each
    vector width, against NumPy on the Keras formulas: lengths around a vector
    and a 16-element chunk, and a length split between two threads."""
    r = np.random.default_rng(6)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    before = ext.get_num_threads()
    try:
        for threads, n in [(1, 1), (1, 7), (1, 16), (1, 17), (1, 1003), (2, 1003), (2, 300_017)]:
            ext.set_num_threads(threads)
            w0 = r.standard_normal(n).astype(dtype)
            g = r.standard_normal(n).astype(dtype)
            s0 = r.standard_normal(n).astype(dtype) * 0.1
            v0 = np.abs(r.standard_normal(n)).astype(dtype)
            w = w0.copy()
            ext.sgd_update(w, g, None, 0.1, 0.0, False)
            np.testing.assert_allclose(w, w0 - 0.1 * g, rtol=rtol, atol=1e-7)
            for nesterov in (False, True):
                w, vel = w0.copy(), s0.copy()
                ext.sgd_update(w, g, vel, 0.1, 0.9, nesterov)
                vel_ref = 0.9 * s0 - 0.1 * g
                w_ref = w0 + (0.9 * vel_ref - 0.1 * g if nesterov else vel_ref)
                np.testing.assert_allclose(vel, vel_ref, rtol=rtol, atol=1e-7)
                np.testing.assert_allclose(w, w_ref, rtol=rtol, atol=1e-7)
            w, v = w0.copy(), v0.copy()
            ext.rmsprop_update(w, g, v, 0.01, 0.9, 1e-7)
            v_ref = 0.9 * v0 + 0.1 * g * g
            np.testing.assert_allclose(v, v_ref, rtol=rtol, atol=1e-7)
            np.testing.assert_allclose(w, w0 - 0.01 * g / np.sqrt(v_ref + 1e-7), rtol=rtol, atol=1e-7)
            w, m, v = w0.copy(), s0.copy(), v0.copy()
            ext.adam_update(w, g, m, v, 1e-3, 0.9, 0.999, 1e-7, 5)
            alpha = 1e-3 * np.sqrt(1 - 0.999 ** 5) / (1 - 0.9 ** 5)
            m_ref = s0 + (g - s0) * (1 - 0.9)
            v_ref = v0 + (g * g - v0) * (1 - 0.999)
            np.testing.assert_allclose(m, m_ref, rtol=rtol, atol=1e-7)
            np.testing.assert_allclose(v, v_ref, rtol=rtol, atol=1e-7)
            np.testing.assert_allclose(w, w0 - alpha * m_ref / (np.sqrt(v_ref) + 1e-7), rtol=rtol, atol=1e-7)
    finally:
        ext.set_num_threads(before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_kernels_one_and_two_threads(ext, dtype):
    """relu, relu_backward, dropout (both ways), sigmoid cross-entropy, softmax
    and its cross-entropy against NumPy: on one thread most loops run directly,
    on two in chunks (lengths around a vector and a 16-element chunk, and one
    long enough to split).  Dropout must equal the reference bit for bit and
    give 0, not NaN, where it drops an infinite or NaN input."""
    r = np.random.default_rng(8)
    before = ext.get_num_threads()
    try:
        for threads, n in [(1, 1), (1, 7), (1, 16), (1, 17), (1, 1003), (2, 1003), (2, 300_017)]:
            ext.set_num_threads(threads)
            x = r.standard_normal(n).astype(dtype)
            x[::5] = np.inf
            x[1::7] = np.nan
            g = r.standard_normal(n).astype(dtype)
            u = r.random(n).astype(dtype)
            out = np.empty(n, dtype)
            ext.relu(x, out)
            np.testing.assert_array_equal(out, np.where(x <= 0, 0, x))
            ext.relu_backward(g, x, out)
            np.testing.assert_array_equal(out, np.where(x > 0, g, 0))
            mask = np.empty(n, dtype)
            t = np.dtype(dtype).type
            ext.dropout_forward(x, u, 0.3, 1 / 0.7, out, mask)
            keep = u >= t(0.3)
            np.testing.assert_array_equal(mask, np.where(keep, t(1 / 0.7), 0))
            np.testing.assert_array_equal(out, np.where(keep, x * t(1 / 0.7), 0))
            ext.dropout_backward(np.full(n, np.inf, dtype), mask, out)
            np.testing.assert_array_equal(out, np.where(mask != 0, np.inf, 0))
            ext.dropout_backward(g, mask, out)
            np.testing.assert_array_equal(out, np.where(mask != 0, g * mask, 0))
            z = (u > 0.5).astype(dtype)
            loss, grad = np.empty(n, dtype), np.empty(n, dtype)
            ext.sigmoid_cross_entropy(g, z, 0.5, loss, grad)
            g64 = g.astype(np.float64)
            rtol = 1e-6 if dtype == np.float32 else 1e-13
            np.testing.assert_allclose(loss, np.maximum(g64, 0) - g64 * z + np.log1p(np.exp(-np.abs(g64))),
                                       rtol=rtol, atol=rtol)
            np.testing.assert_allclose(grad, (1 / (1 + np.exp(-g64)) - z) * 0.5, rtol=rtol, atol=rtol)
            rows = max(1, n // 10)
            logits = r.standard_normal((rows, 10)).astype(dtype)
            probs = np.empty_like(logits)
            ext.softmax(logits, probs)
            e = np.exp(logits.astype(np.float64) - logits.max(axis=1, keepdims=True))
            np.testing.assert_allclose(probs, e / e.sum(axis=1, keepdims=True), rtol=10 * rtol, atol=rtol)
            labels = r.integers(0, 10, rows).astype(np.int64)
            loss, grad = np.empty(rows, dtype), np.empty_like(logits)
            ext.softmax_cross_entropy(logits, labels, 1.0, loss, grad)
            p = e / e.sum(axis=1, keepdims=True)
            np.testing.assert_allclose(loss, -np.log(p[np.arange(rows), labels]), rtol=10 * rtol, atol=rtol)
    finally:
        ext.set_num_threads(before)


def test_isa_override_env():
    """TAPEGRAD_CYTHON_ISA=base forces the portable build; the default picks the best."""
    code = ("import tapegrad.kernels.cython_backend as c; "
            "print(c._ext.__name__.rsplit('.', 1)[1], c.backend.isa)")
    env = dict(os.environ, TAPEGRAD_CYTHON_ISA="base")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["_cython_base", "base"]
    env["TAPEGRAD_CYTHON_ISA"] = "auto"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[1] == VARIANTS[-1][0]


def test_backend_threads_roundtrip():
    be = cython_backend.backend
    before = be.get_num_threads()
    try:
        be.set_num_threads(1)
        assert be.get_num_threads() == 1
        be.set_num_threads(2)
        assert be.get_num_threads() == 2
    finally:
        be.set_num_threads(before)
