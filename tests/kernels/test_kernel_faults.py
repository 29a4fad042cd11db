"""Faults a user can cause from Python that must not crash or silently mislead.

Each probe that could kill the interpreter (a data race on an index array,
Numba's thread pool used from two threads) runs in a subprocess with a
timeout, and the test checks its exit status: a crash shows as rc -11
(SIGSEGV) or -6 (SIGABRT) instead of 0.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tapegrad.kernels as K

COMPILED = ["numba", "cython"]
CPU_BACKENDS = ["numpy", "numba", "cython"]


def run_probe(code, *, env=None, timeout=240):
    """Run ``code`` in a fresh interpreter; return the CompletedProcess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env,
                          capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- item 1: labels race
LABEL_RACE = """
    import sys, threading, time
    import numpy as np
    import tapegrad.kernels as K

    backend = sys.argv[1] if len(sys.argv) > 1 else "{backend}"
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((128, 10)).astype(np.float32)
    labels = np.zeros(128, np.int64)          # valid ids ... until the other thread writes
    total = np.zeros(1, np.float64)
    K.softmax_cross_entropy(logits, labels, backend=backend)   # compile before the clock starts
    stop = threading.Event()

    def flip():                                # a far-out-of-range id, then a valid one, forever
        while not stop.is_set():
            labels[:] = 1 << 40
            time.sleep(0)                      # the main thread runs a while on each state
            labels[:] = 0
            time.sleep(0)

    thread = threading.Thread(target=flip)
    thread.start()
    calls = rejected = 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        for call in (lambda: K.softmax_cross_entropy(logits, labels, backend=backend),
                     lambda: K.accumulate_correct(logits, labels, total=total, backend=backend)):
            calls += 1
            try:
                call()
            except ValueError:
                rejected += 1                  # the check saw the bad ids: a clean error
    stop.set()
    thread.join()
    print("calls", calls, "rejected", rejected)
"""


@pytest.mark.parametrize("backend", COMPILED)
def test_labels_rewritten_by_another_thread_never_crash_the_kernel(backend):
    """The kernel reads the labels it checked: a thread flipping them to 2**40 while
    the kernel runs (without the GIL) may get a ValueError (when the check sees the
    bad ids) but never a segfault (before the fix: rc -11 within the second)."""
    proc = run_probe(LABEL_RACE.format(backend=backend), timeout=240)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    calls, rejected = (int(w) for w in proc.stdout.split()[1::2])
    assert calls > 100 and 0 < rejected < calls, proc.stdout   # the race ran both ways


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_labels_are_read_after_the_check_not_before(backend):
    """The kernel gets a private copy: labels changed after the call do not matter,
    and int32 / float labels give the same loss as int64 ones."""
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((6, 4))
    labels = np.array([0, 1, 2, 3, 0, 1])
    loss, grad = K.softmax_cross_entropy(logits, labels, reduction="none", backend=backend)
    shifted = logits - logits.max(1, keepdims=True)
    ref = np.log(np.exp(shifted).sum(1)) - shifted[np.arange(6), labels]
    np.testing.assert_allclose(loss, ref, rtol=1e-12)
    for same in (labels.astype(np.int32), labels.astype(np.float32)):
        again, _ = K.softmax_cross_entropy(logits, same, reduction="none", backend=backend)
        np.testing.assert_allclose(again, ref, rtol=1e-12)


# ---------------------------------------------------------------- item 2: out= aliasing an input
def close(ours, ref, k):
    """float64 results within rounding of a k-term sum of unit-scale products."""
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12 * k + 1e-12)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("n", [300, 600])
@pytest.mark.parametrize("transpose_a", [False, True])
def test_matmul_into_its_own_input(backend, n, transpose_a):
    """``matmul(a, b, out=a)`` equals NumPy's ``op(a) @ b`` (before: max error ~1e3 at n=600)."""
    rng = np.random.default_rng(n)
    a, b = rng.standard_normal((2, n, n))
    ref = (a.T if transpose_a else a) @ b
    ours = K.matmul(a, b, transpose_a=transpose_a, out=a, backend=backend)
    assert ours is a
    close(a, ref, n)
    b_ref = a @ b
    K.matmul(a, b, out=b, backend=backend)
    close(b, b_ref, n)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_matmul_into_a_partly_overlapping_view(backend):
    """``out`` a view of the buffer ``a`` lives in, shifted by half of it."""
    n = 300
    rng = np.random.default_rng(2)
    buf = rng.standard_normal((2 * n, n))
    b = rng.standard_normal((n, n))
    a, out = buf[:n], buf[n // 2:n // 2 + n]
    ref = a @ b
    K.matmul(a, b, out=out, backend=backend)
    close(out, ref, n)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("aliased", ["x", "w"])
def test_dense_forward_into_its_own_input(backend, aliased):
    n = 300
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, n, n))
    b = rng.standard_normal(n)
    ref = np.maximum(x @ w + b, 0)
    out = x if aliased == "x" else w
    K.dense_forward(x, w, b, "relu", out=out, backend=backend)
    close(out, ref, n)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_element_and_row_kernels_in_place_and_shifted(backend):
    """relu / relu_backward / softmax: exactly in place is fine, and a view
    shifted by a few elements (or one row) gives the same numbers too."""
    rng = np.random.default_rng(4)
    n = 1 << 17            # long enough for the threaded paths
    buf = rng.standard_normal(n + 7)
    x = buf[:n].copy()
    for out in (buf[:n], buf[7:]):                   # exact alias, then shifted
        buf[:n] = x
        K.relu(buf[:n], out=out, backend=backend)
        np.testing.assert_array_equal(out, np.maximum(x, 0))
    g = rng.standard_normal(n)
    for out in (buf[:n], buf[7:]):
        buf[:n] = x
        K.relu_backward(g, buf[:n], out=out, backend=backend)
        np.testing.assert_array_equal(out, np.where(x > 0, g, 0))
    rows = rng.standard_normal((65, 10))
    ref = np.exp(rows[:64] - rows[:64].max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    for start in (0, 1):
        work = rows.copy()
        out = work[start:start + 64]
        K.softmax(work[:64], out=out, backend=backend)
        np.testing.assert_allclose(out, ref, rtol=1e-12)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_bias_grad_into_a_row_of_its_input(backend):
    rng = np.random.default_rng(5)
    g = rng.standard_normal((64, 33))
    ref = g.sum(0)
    K.bias_grad(g, out=g[3], backend=backend)
    np.testing.assert_allclose(g[3], ref, rtol=1e-12)


def rmsprop_reference(p, g, v, lr=0.01, rho=0.9, eps=1e-7):
    v = rho * v + (1 - rho) * g * g
    return p - lr * g / np.sqrt(v + eps), v


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_optimizer_grad_aliasing_state_and_aliased_state(backend):
    """A grad that overlaps param or the state is read as it was at the call;
    param and state arrays that share memory are a clear ValueError."""
    rng = np.random.default_rng(6)
    n = 1 << 17
    buf = rng.standard_normal(2 * n)
    p, v = buf[:n], np.abs(rng.standard_normal(n))
    ref_p, ref_v = rmsprop_reference(p.copy(), p.copy(), v.copy())
    K.rmsprop_update(p, p, v, learning_rate=0.01, backend=backend)     # grad is param
    np.testing.assert_allclose(p, ref_p, rtol=1e-12)
    np.testing.assert_allclose(v, ref_v, rtol=1e-12)
    buf = rng.standard_normal(n + 5)
    v = np.abs(buf[:n]).copy()
    buf[:n] = v
    state, grad = buf[:n], buf[5:]                                      # grad shifted over v
    p = rng.standard_normal(n)
    ref_p, ref_v = rmsprop_reference(p.copy(), grad.copy(), state.copy())
    K.rmsprop_update(p, grad, state, learning_rate=0.01, backend=backend)
    np.testing.assert_allclose(p, ref_p, rtol=1e-12)
    np.testing.assert_allclose(state, ref_v, rtol=1e-12)
    m = np.zeros(n)
    with pytest.raises(ValueError, match="param and v share memory"):
        K.rmsprop_update(p, m, p, backend=backend)
    with pytest.raises(ValueError, match="m and v share memory"):
        K.adam_update(p, np.ones(n), m, m, step=1, backend=backend)
    with pytest.raises(ValueError, match="param and velocity share memory"):
        K.sgd_update(buf[:n], m, buf[3:n + 3], momentum=0.9, backend=backend)


# ---------------------------------------------------------------- item 9: workqueue from two threads
WORKQUEUE_THREADS = """
    import threading
    import numpy as np
    import numba
    import tapegrad.kernels as K

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 256, 256)).astype(np.float32)   # big enough to go parallel
    x = rng.standard_normal(1 << 17).astype(np.float32)
    ref = a.astype(np.float64) @ b
    errors = []

    def work():
        for _ in range(20):
            c = K.matmul(a, b, backend="numba")
            if np.abs(c - ref).max() > 1e-2:
                errors.append("matmul")
            if not np.array_equal(K.relu(x, backend="numba"), np.maximum(x, 0)):
                errors.append("relu")

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(numba.threading_layer(), len(errors))
"""


def test_numba_workqueue_layer_from_two_threads():
    """Numba's workqueue pool aborts on concurrent use; the backend serializes
    its parallel calls on that layer (before the fix: rc -6, SIGABRT)."""
    proc = run_probe(WORKQUEUE_THREADS, env={"NUMBA_THREADING_LAYER": "workqueue",
                                             "NUMBA_NUM_THREADS": "2"})
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.split() == ["workqueue", "0"]


# ---------------------------------------------------------------- items 3-4: Numba's cache
PROBE_MODULE = """
from numba import njit


@njit(cache=True)
def add_one(x):
    return x + 1.0
"""

PROBE_RUN = """
    import sys
    sys.path.insert(0, sys.argv[1])
    import probe_module
    from tapegrad.kernels._numba import cache
    cache.guard_caches(vars(probe_module))
    print(probe_module.add_one(1.5))
"""


def run_cached(code, cache_dir, *args, timeout=240):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                          env={**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)},
                          capture_output=True, text=True, timeout=timeout)


def truncate_cache_files(cache_dir):
    files = [p for p in cache_dir.rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert any(p.suffix == ".nbi" for p in files) and any(p.suffix == ".nbc" for p in files)
    for path in files:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    return files


def test_a_truncated_cache_entry_is_dropped_and_recompiled_once(tmp_path):
    """The mechanism on a one-line cached function: compile (announced), truncate
    its .nbi/.nbc, run again: one line saying so, the right answer; then silent
    (before the fix: EOFError on every later run)."""
    (tmp_path / "probe_module.py").write_text(PROBE_MODULE)
    cache = tmp_path / "cache"
    first = run_cached(PROBE_RUN, cache, tmp_path)
    assert first.returncode == 0 and first.stdout.split() == ["2.5"], first.stderr
    assert "compiling the Numba kernels" in first.stderr
    truncate_cache_files(cache)
    healed = run_cached(PROBE_RUN, cache, tmp_path)
    assert healed.returncode == 0 and healed.stdout.split() == ["2.5"], healed.stderr
    assert healed.stderr.count("\n") == 1 and "dropped unreadable Numba cache" in healed.stderr
    warm = run_cached(PROBE_RUN, cache, tmp_path)
    assert warm.returncode == 0 and warm.stdout.split() == ["2.5"] and warm.stderr == ""


BACKEND_RELU = """
    import numpy as np
    import tapegrad.kernels as K
    print(K.relu(np.array([-1.0, 2.0, -0.0, 3.5]), backend="numba").tolist())
"""


def test_the_numba_backend_heals_its_own_truncated_cache(tmp_path):
    """The same on the real backend (relu only, a few seconds to compile)."""
    expect = ["[0.0,", "2.0,", "0.0,", "3.5]"]
    first = run_cached(BACKEND_RELU, tmp_path)
    assert first.returncode == 0 and first.stdout.split() == expect, first.stderr
    assert "compiling the Numba kernels" in first.stderr and str(tmp_path) in first.stderr
    truncate_cache_files(tmp_path)
    healed = run_cached(BACKEND_RELU, tmp_path)
    assert healed.returncode == 0 and healed.stdout.split() == expect, healed.stderr
    # one line per cache folder healed: relu's code comes from two files (the
    # range kernel in kernels/elementwise/, the chunked skeleton in kernels/_numba/)
    lines = healed.stderr.splitlines()
    folders = {p.parent for p in tmp_path.rglob("*.nbi")}
    assert 1 <= len(lines) <= len(folders), healed.stderr
    assert all(line.startswith("tapegrad: dropped unreadable Numba cache entries in ") for line in lines)
    assert len({line.split(" in ", 1)[1].split(" (")[0] for line in lines}) == len(lines)
    warm = run_cached(BACKEND_RELU, tmp_path)
    assert warm.returncode == 0 and warm.stderr == ""


def test_fallback_cache_folders_in_order(tmp_path):
    """$XDG_CACHE_HOME first, then ~/.cache, then the temp dir; the first usable wins."""
    from tapegrad.kernels._numba import cache as nc

    dirs = nc.fallback_dirs({"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert dirs[0] == str(tmp_path / "xdg" / "tapegrad" / "numba")
    assert dirs[1] == os.path.join(os.path.expanduser("~"), ".cache", "tapegrad", "numba")
    assert dirs[-1].startswith(os.path.join(__import__("tempfile").gettempdir(), "tapegrad-numba-"))
    assert nc.fallback_dirs({})[0] == dirs[1]
    assert nc.first_usable(dirs, lambda d: d != dirs[0]) == dirs[1]
    assert nc.first_usable(dirs, lambda d: d == dirs[-1]) == dirs[-1]
    assert nc.first_usable(dirs, lambda d: False) is None
    assert nc.writable(str(tmp_path / "new" / "folder"))
    (tmp_path / "probe_file").write_text("")
    assert not nc.writable(str(tmp_path / "probe_file" / "below_a_file"))


READ_ONLY_INSTALL = """
    from numba.core import caching
    # As root, chmod cannot make the package folder unwritable; make Numba's own
    # locators find nothing instead, as they do on a read-only install.
    for name in ("InTreeCacheLocator", "UserWideCacheLocator"):
        setattr(getattr(caching, name), "from_function", classmethod(lambda cls, f, p: None))
    import numpy as np
    import tapegrad.kernels as K
    print(K.relu(np.array([-1.0, 2.0]), backend="numba").tolist())
"""


def test_read_only_install_caches_in_the_user_folder(tmp_path):
    """With the package folder and Numba's user folder unusable (and no
    NUMBA_CACHE_DIR), the backend still loads, caches under $XDG_CACHE_HOME
    and names it (before the fix: 'cannot cache function ... no locator available')."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    run = lambda: subprocess.run([sys.executable, "-c", textwrap.dedent(READ_ONLY_INSTALL)],  # noqa: E731
                                 env=env, capture_output=True, text=True, timeout=240)
    first = run()
    assert first.returncode == 0 and first.stdout.split() == ["[0.0,", "2.0]"], first.stderr
    folder = tmp_path / "tapegrad" / "numba"
    assert str(folder) in first.stderr and "compiling the Numba kernels" in first.stderr
    assert list(folder.rglob("*.nbc"))
    second = run()
    assert second.returncode == 0 and second.stderr == ""   # loaded from there, silently


def test_the_numba_cache_lives_outside_the_install(tmp_path):
    """By default the kernels cache under $XDG_CACHE_HOME/tapegrad/numba, ahead of
    Numba's folder next to the source, so `pip uninstall` leaves nothing behind
    (before: 44 files in site-packages/tapegrad/kernels/__pycache__)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    probe = ("import numpy as np, tapegrad.kernels as K\n"
             "print(K.relu(np.array([-1.0, 2.0]), backend='numba').tolist())\n")
    first = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=240)
    assert first.returncode == 0 and first.stdout.split() == ["[0.0,", "2.0]"], first.stderr
    folder = tmp_path / "tapegrad" / "numba"
    assert any("relu" in p.name for p in folder.rglob("*.nbi")), list(folder.rglob("*"))
    assert str(folder) in first.stderr


def test_an_edited_micro_kernel_file_recompiles_its_users(tmp_path):
    """Numba stamps a cache entry with its own file only; a kernel file's declared
    dependencies (depends_on) join the stamp, so an edit of gemm/numba_microkernels.py
    is not hidden behind the driver's cached code (before: the stamp ignored it)."""
    from numba.core import caching

    from tapegrad.kernels._numba import cache as nc
    import tapegrad.kernels.gemm.numba as gemm_module

    dep = tmp_path / "dep.py"
    dep.write_text("x = 1\n")
    nc._DEPENDENCIES[os.path.abspath(gemm_module.__file__)] = (str(dep),)
    try:
        def probe():
            pass
        locator = nc.UserCacheLocator(probe, gemm_module.__file__, str(tmp_path))
        before = locator.get_source_stamp()
        os.utime(dep, (1, 1))   # the edit: another mtime
        assert locator.get_source_stamp() != before
        assert before[0] == caching._SourceFileBackedLocatorMixin.get_source_stamp(locator)
    finally:
        nc.depends_on(gemm_module.__file__, "_numba/intrinsics.py", "gemm/numba_microkernels.py")
    assert isinstance(gemm_module._gemm_blocked._cache._impl.locator, nc.UserCacheLocator)
