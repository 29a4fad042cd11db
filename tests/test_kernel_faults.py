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
