"""How the bench times: a process pinned to its threads, alternating rounds, paired ratios.

Shared machines are noisy, so nothing here reports a lone time.  Each row
times our kernel and the baseline side by side in one process, alternating
blocks of calls.  Each round times every candidate back to back, so a change
in the machine's load between rounds hits both sides of that round's ratio;
a row reports the median of those per-round ratios (above 1.0 means ours is
faster) and their quartiles, which show how much the load moved it.  Between
blocks it pauses, because OpenBLAS's idle threads keep spinning for about
0.1 s after a call and would slow whatever runs next.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time


_REEXEC_FLAG = "TAPEGRAD_BENCH_CHILD"
_CORES_VAR = "TAPEGRAD_BENCH_CORES"  # the cores the child was held to, for its header


def _pin_blas_threads(threads: int, pin_cores: bool = False) -> None:
    """Re-run this process with OpenBLAS pinned to ``threads`` threads.

    OpenBLAS reads its thread count once, when NumPy is imported, so the only
    reliable way to set it is the environment of a fresh process.  The
    ``OPENBLAS_CORETYPE`` override some machines set (for old OpenBLAS
    builds) is dropped so that the baseline runs its best kernel.

    With ``pin_cores`` (``bench train``) the new process is also held to
    ``threads`` cores when the machine has more: a framework may overlap work
    on helper threads however few compute threads it is given (JAX dispatches
    each step asynchronously, so Keras's Python loop and the XLA program run
    on two cores at once), and "1 thread" should mean one core for everyone.
    """
    if os.environ.get(_REEXEC_FLAG) == "1":
        return
    env = dict(os.environ)
    env[_REEXEC_FLAG] = "1"
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[name] = str(threads)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    # for the peers of `bench train --peers`: Keras 3 on JAX; XLA's own flags
    # can only make it single-threaded, more threads come from the cores it has
    env["KERAS_BACKEND"] = "jax"
    if threads == 1:
        xla = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {xla}".strip()
    cores = None
    if pin_cores and hasattr(os, "sched_getaffinity"):
        available = sorted(os.sched_getaffinity(0))
        if threads < len(available):
            cores = set(available[:threads])
    env[_CORES_VAR] = ",".join(map(str, sorted(cores))) if cores else ""
    sys.stdout.flush()
    result = subprocess.run([sys.executable, "-m", "tapegrad", *sys.argv[1:]], env=env,
                            preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None)
    sys.exit(result.returncode)


def _time_block(fn, inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def _calibrate(fn, target_s: float = 0.02) -> int:
    """Calls per timing block so that one block lasts about ``target_s``."""
    fn()
    t = _time_block(fn, 1)
    return max(1, min(10_000, int(target_s / max(t, 1e-7))))


def timed_rounds(candidates: dict, repeats: int, pause: float) -> dict:
    """Seconds per call of each candidate in each of ``repeats`` rounds; a round
    times one block of every candidate, one after another."""
    inner = {name: _calibrate(fn) for name, fn in candidates.items()}
    samples = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            samples[name].append(_time_block(fn, inner[name]))
            if pause:
                time.sleep(pause)
    return samples


def medians(rounds: dict) -> dict:
    """Median seconds per call of each candidate."""
    return {name: statistics.median(s) for name, s in rounds.items()}


def ratio_quartiles(rounds: dict, baseline: str, name: str) -> tuple:
    """(first quartile, median, third quartile) of baseline time / our time,
    taken round by round."""
    ratios = sorted(b / o for b, o in zip(rounds[baseline], rounds[name]))
    if len(ratios) < 2:
        return ratios[0], ratios[0], ratios[0]
    return tuple(statistics.quantiles(ratios, n=4, method="inclusive"))


def measured_peak_gflops() -> float:
    """Single-thread float32 FMA throughput of this CPU, measured.

    Twelve independent vector FMA chains held in registers (no memory
    traffic), at the vector width the Cython micro-kernels use: what the FMA
    units do at the clock the CPU runs now, the ceiling a GEMM can approach.
    The best of five runs, since a shared machine only ever slows it down.
    """
    from tapegrad.kernels import cython_backend

    if cython_backend.backend.extension is None:
        raise RuntimeError("measuring the peak needs the compiled Cython kernels; pass --peak-gflops")
    ext = cython_backend.backend.extension
    return max(ext.fma_peak_gflops() for _ in range(5))
