"""The thread-count policy: fixed counts honoured, "auto" judged on synthetic timings.

The policy logic is fed made-up GEMM times and a fake clock, so these tests
say nothing about speed; they check the decisions the times should lead to.
"""

import numpy as np
import pytest

import tapegrad.kernels as K
from tapegrad.kernels import _threads
from tapegrad.kernels._threads import AdaptiveThreads


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


SHAPES = {"fwd": 1.0e-3, "dW1": 1.2e-3, "dX": 0.3e-3}   # serial seconds per call


def run_steps(policy, clock, steps, parallel_speedup, step_seconds=5e-3):
    """Drive ``policy`` through training steps; parallel calls take
    serial / parallel_speedup.  Returns the thread counts chosen."""
    chosen = []
    for _ in range(steps):
        for key, serial in SHAPES.items():
            n = policy.choose(key)
            chosen.append(n)
            policy.record(key, n, serial if n == 1 else serial / parallel_speedup)
        clock.now += step_seconds
    return chosen


def test_quiet_machine_stays_on_all_threads():
    clock = FakeClock()
    policy = AdaptiveThreads(2, clock, free_cores=lambda: None)
    chosen = run_steps(policy, clock, 2000, parallel_speedup=1.8)   # 10 s of training
    assert policy.current == 2
    # only the periodic serial probes (8 calls every 2 s) run on one thread
    assert chosen.count(1) / len(chosen) < 0.02


def test_contention_drops_to_one_thread_then_returns_when_quiet():
    clock = FakeClock()
    policy = AdaptiveThreads(2, clock, free_cores=lambda: None)
    run_steps(policy, clock, 500, parallel_speedup=1.8)
    assert policy.current == 2
    # a busy neighbour: parallel calls now take 3x the serial time
    chosen = run_steps(policy, clock, 40, parallel_speedup=1 / 3)
    assert policy.current == 1
    assert chosen[-30:].count(2) <= 8          # at most one probe's worth on 2 threads
    # it stays down, with failed probes backing off, while the neighbour runs
    chosen = run_steps(policy, clock, 4000, parallel_speedup=1 / 3)   # 20 s
    assert policy.current == 1
    # each failed probe costs one call, and the waits double up to 8 s: a handful of calls
    assert chosen.count(2) <= 10
    # the neighbour leaves: within one longest back-off (8 s) it is back on 2 threads
    run_steps(policy, clock, 1700, parallel_speedup=1.8)
    assert policy.current == 2


def test_heavy_collapse_costs_one_call_per_probe():
    clock = FakeClock()
    policy = AdaptiveThreads(2, clock, free_cores=lambda: None)
    run_steps(policy, clock, 10, parallel_speedup=1 / 40)
    assert policy.current == 1
    waits = []
    last = None
    parallel_calls = 0
    for step in range(5000):           # 25 s under a 40x collapse
        for key, serial in SHAPES.items():
            n = policy.choose(key)
            if n == 2:
                parallel_calls += 1
                if last is not None:
                    waits.append(clock.now - last)
                last = clock.now
            policy.record(key, n, serial if n == 1 else serial * 40)
        clock.now += 5e-3
    assert policy.current == 1
    # one call per failed probe, waits doubling from 0.25 s to the 8 s cap
    assert parallel_calls == len(waits) + 1
    assert waits == pytest.approx([0.25, 0.5, 1, 2, 4, 8, 8], abs=0.02)


def test_one_thread_machine_never_probes():
    clock = FakeClock()
    policy = AdaptiveThreads(1, clock, free_cores=lambda: None)
    assert set(run_steps(policy, clock, 100, parallel_speedup=2.0)) == {1}


def test_busy_load_skips_parallel_retries_until_cores_are_free():
    clock = FakeClock()
    load = {"free": 2}
    policy = AdaptiveThreads(2, clock, free_cores=lambda: load["free"])
    run_steps(policy, clock, 10, parallel_speedup=1 / 3)
    assert policy.current == 1
    load["free"] = 1                      # another process wants one of the 2 cores
    chosen = run_steps(policy, clock, 3000, parallel_speedup=1 / 3)   # 15 s
    assert set(chosen) == {1}             # no retry ran: not one slow call
    assert policy.current == 1
    load["free"] = 2                      # it finished; the next retry (<= 8 s) runs
    run_steps(policy, clock, 1700, parallel_speedup=1.8)
    assert policy.current == 2


def test_free_cores_reads_a_sane_count():
    free = _threads.free_cores()
    assert free is None or free <= len(__import__("os").sched_getaffinity(0))


def test_ratio_is_time_weighted():
    policy = AdaptiveThreads(2, FakeClock())
    assert policy.parallel_to_serial_ratio() is None
    for key, ser, par in (("big", 10.0, 6.0), ("small", 1.0, 2.0), ("one way only", 50.0, None)):
        policy.record(key, 1, ser)           # warm-up, ignored
        policy.record(key, 1, ser)
        if par is not None:
            policy.record(key, 2, par)
    assert policy.parallel_to_serial_ratio() == pytest.approx(8.0 / 11.0)
    # the medians of the windows: a second, slower all-thread time of "big" moves its median
    policy.record("big", 2, 8.0)
    assert policy.parallel_to_serial_ratio() == pytest.approx(9.0 / 11.0)


@pytest.fixture
def cython_threads():
    if "cython" not in K.available_backends():
        pytest.skip("the Cython extension is not built")
    be = K.get_backend("cython")
    yield be
    K.set_num_threads("auto")


def test_explicit_count_is_honoured_and_auto_restores(cython_threads):
    be = cython_threads
    K.set_num_threads(1)
    assert _threads.policy(be) is None
    a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    for _ in range(20):                   # big enough to be timed under "auto"
        K.matmul(a, a, backend="cython")
    assert be.get_num_threads() == 1
    K.set_num_threads("auto")
    assert _threads.policy(be) is not None
    assert be.get_num_threads() == _threads.policy(be).current
    with pytest.raises(ValueError, match="positive int or 'auto'"):
        K.set_num_threads("fast")
    with pytest.raises(ValueError):
        K.set_num_threads(0)


def test_auto_matmul_results_match_numpy(cython_threads):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((128, 784)).astype(np.float32)
    w = rng.standard_normal((784, 512)).astype(np.float32)
    K.set_num_threads("auto")
    for _ in range(30):   # probes switch the thread count between calls
        got = K.matmul(a, w, backend="cython")
        np.testing.assert_allclose(got, a.astype(np.float64) @ w, rtol=1e-4, atol=1e-3)


def test_python_threads_sharing_the_policy(cython_threads):
    """Two Python threads run GEMMs under "auto" at once: results stay right
    and the policy's bookkeeping raises nothing."""
    import threading

    K.set_num_threads("auto")
    rng = np.random.default_rng(2)
    a = rng.standard_normal((128, 784)).astype(np.float32)
    w = rng.standard_normal((784, 512)).astype(np.float32)
    want = a.astype(np.float64) @ w
    errors = []

    def work():
        try:
            for _ in range(40):
                np.testing.assert_allclose(K.matmul(a, w, backend="cython"), want, rtol=1e-4, atol=1e-3)
        except Exception as exc:   # reported below, with the thread's error
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors


def test_numba_thread_count_read_matches_numba():
    """``num_threads`` (kernels/_numba: Numba's count read without its start-up
    check) answers as ``numba.get_num_threads()``, on the calling thread and
    on a new Python thread (Numba's count is per thread)."""
    import threading

    import numba

    from tapegrad.kernels._numba import num_threads

    before = numba.get_num_threads()
    try:
        for n in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(n)
            assert num_threads() == numba.get_num_threads() == n
            assert K.get_backend("numba").get_num_threads() == n
            seen = []
            worker = threading.Thread(target=lambda: seen.append((num_threads(), numba.get_num_threads())))
            worker.start()
            worker.join()
            assert seen[0][0] == seen[0][1] >= 1
    finally:
        numba.set_num_threads(before)
