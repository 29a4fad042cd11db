"""W1's two GEMMs of the book's MLP step, ours against OpenBLAS, side by side in one process.

    python bench/w1_gemms.py [--threads N] [--rounds R] [--cpu]

The two big GEMMs of a step of the book's network (784-512-10, batch 128):

* ``x @ W1`` (128 x 784 @ 784 x 512): ours as ``dense_forward_rows`` (the
  batch gathered through a row index, bias and ReLU fused) and as a plain
  ``matmul``; OpenBLAS as ``np.matmul`` on the contiguous batch (the floor of
  ``bench train``);
* ``x.T @ dy`` (784 x 128 @ 128 x 512, W1's gradient): ours as
  ``weight_grad_rmsprop`` (the gradient never stored, RMSprop in the
  micro-kernel's epilogue) and as a plain ``matmul``; OpenBLAS as
  ``np.matmul`` alone (the floor does no optimizer step).

Each round times every candidate in a block of calls, back to back, each
call timed; the table gives the median block per call and the median
per-round ratio OpenBLAS / ours (above 1.0: ours faster), then the 10th
percentile of the single calls and its ratio: on a busy machine, a call
whose second thread was descheduled takes many times longer, and the low
percentile is what a call costs when both threads ran.  With several
threads each block starts after a pause (``--pause``, 0.2 s): OpenBLAS's
and libgomp's idle threads spin on a core for a while after a call, and
would slow the next block's threads.  ``--cpu`` times CPU time
(``time.process_time``) instead of wall time: on a busy machine, time the
process spent descheduled does not count (with 2 threads it sums both).
The process re-runs itself with OpenBLAS and Numba held to ``--threads``
threads and cores and without the ``OPENBLAS_CORETYPE`` override, as
``tapegrad bench`` does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

_CHILD = "TAPEGRAD_W1_GEMMS_CHILD"


def _reexec(threads):
    env = dict(os.environ, **{_CHILD: "1"})
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[name] = str(threads)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    cores = sorted(os.sched_getaffinity(0))[:threads]
    result = subprocess.run([sys.executable, *sys.argv], env=env, preexec_fn=lambda: os.sched_setaffinity(0, cores))
    sys.exit(result.returncode)


def candidates(dtype):
    import numpy as np

    import tapegrad.kernels as K

    be = K.get_backend("numba")
    rng = np.random.default_rng(0)
    data = rng.random((60_000, 784), dtype=np.float32).astype(dtype)
    rows = rng.permutation(60_000)[:128].astype(np.int64)
    x = np.ascontiguousarray(data[rows])
    w1 = (rng.standard_normal((784, 512)) * 0.05).astype(dtype)
    b1 = np.zeros(512, dtype)
    dy = rng.standard_normal((128, 512)).astype(dtype)
    h = np.empty((128, 512), dtype)
    dw = np.empty((784, 512), dtype)
    v = np.zeros_like(w1)
    w_work = w1.copy()
    forward = {
        "x @ W1  OpenBLAS": lambda: np.matmul(x, w1, out=h),
        "x @ W1  matmul": lambda: be.matmul(x, w1, False, False, h),
        "x @ W1  dense_forward_rows": lambda: be.dense_forward_rows(data, rows, w1, b1, True, h),
    }
    grad = {
        "x.T @ dy OpenBLAS": lambda: np.matmul(x.T, dy, out=dw),
        "x.T @ dy matmul": lambda: be.matmul(x, dy, True, False, dw),
        # tiny lr: the weights stay where they are over thousands of calls
        "x.T @ dy weight_grad_rmsprop": lambda: be.weight_grad_rmsprop(data, rows, dy, w_work, v, 1e-9, 0.9, 1e-7),
    }
    return forward, grad


def time_group(group, rounds, block, clock, pause):
    """Per candidate, per round: the seconds of each call of a block."""
    per_round = {name: [] for name in group}
    for fn in group.values():
        for _ in range(3):
            fn()
    for _ in range(rounds):
        for name, fn in group.items():
            time.sleep(pause)   # the previous block's idle threads stop spinning
            calls = []
            for _ in range(block):
                start = clock()
                fn()
                calls.append(clock() - start)
            per_round[name].append(calls)
    return per_round


def report(per_round, baseline):
    """Median block per call and the median per-round ratio; then the 10th
    percentile of single calls and its ratio (the calls no neighbour slowed)."""
    def low(rounds):
        calls = [t for block in rounds for t in block]
        return statistics.quantiles(calls, n=10)[0] if len(calls) > 1 else calls[0]

    base = per_round[baseline]
    for name, rounds in per_round.items():
        means = [statistics.fmean(calls) for calls in rounds]
        ratio = statistics.median(statistics.fmean(b) / t for b, t in zip(base, means))
        print(f"  {name:32} {1e6 * statistics.median(means):8.1f} us   OpenBLAS/this {ratio:5.3f}"
              f"   p10 {1e6 * low(rounds):8.1f} us  OpenBLAS/this {low(base) / low(rounds):5.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--block", type=int, default=20)
    parser.add_argument("--cpu", action="store_true", help="CPU time (process_time) instead of wall time")
    parser.add_argument("--float64", action="store_true")
    parser.add_argument("--pause", type=float, default=None,
                        help="seconds of sleep before each block (default: 0.2 with several threads, else 0)")
    args = parser.parse_args()
    if os.environ.get(_CHILD) != "1":
        _reexec(args.threads)
    import numpy as np

    clock = time.process_time if args.cpu else time.perf_counter
    forward, grad = candidates(np.float64 if args.float64 else np.float32)
    print(f"threads {args.threads}, {'CPU' if args.cpu else 'wall'} time, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}, {args.rounds} rounds of {args.block} calls")
    pause = args.pause if args.pause is not None else (0.2 if args.threads > 1 else 0.0)
    report(time_group(forward, args.rounds, args.block, clock, pause), "x @ W1  OpenBLAS")
    report(time_group(grad, args.rounds, args.block, clock, pause), "x.T @ dy OpenBLAS")
    print(f"  load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
