"""Side by side in one process: the conv1 / pooling / relu_bias_grad kernels of
a git revision (default: main's f66ed7d) against the working tree's, on the
shapes of chapter 8's convnet (batch 64), Numba backend.

    python bench/conv_small_kernels.py [--rev f66ed7d] [--threads 1] [--rounds 9]

The old module is loaded from ``git show REV:kernels/<family>/numba.py`` as a
sibling module of the new one (so its relative imports resolve to today's
helpers).  Prints the median ms per call of each side, with quartiles, and
the ratio old / new.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import numba
import tapegrad.kernels as K
from tapegrad.kernels.conv import numba as conv_new
from tapegrad.kernels.elementwise import numba as elem_new

from revision import kernel_modules, quartiles_ms as timed


def load_old(rev, family):
    """The revision's kernels/<family>/numba.py (its relative imports: today's helpers)."""
    return kernel_modules(rev, family, ("numba",))["numba"]

def cases(rng, dtype):
    x1 = rng.random((64, 28, 28, 1)).astype(dtype)
    w1 = rng.standard_normal((3, 3, 1, 32)).astype(dtype)
    b1 = rng.standard_normal(32).astype(dtype)
    y1 = np.empty((64, 26, 26, 32), dtype)
    g1 = rng.standard_normal((64, 26, 26, 32)).astype(dtype)
    dw1 = np.empty((3, 3, 1, 32), dtype)
    p1 = np.empty((64, 13, 13, 32), dtype)
    gp1 = rng.standard_normal((64, 13, 13, 32)).astype(dtype)
    dx1 = np.empty((64, 26, 26, 32), dtype)
    x2 = rng.standard_normal((64, 11, 11, 64)).astype(dtype)
    p2 = np.empty((64, 5, 5, 64), dtype)
    gp2 = rng.standard_normal((64, 5, 5, 64)).astype(dtype)
    dx2 = np.empty((64, 11, 11, 64), dtype)
    rows, masked, db = g1.reshape(-1, 32), np.empty((64 * 26 * 26, 32), dtype), np.empty(32, dtype)
    s1, v = (1, 1), (0, 0)
    two = ((2, 2), (2, 2), (0, 0))
    return [
        ("conv2d conv1 (64,28,28,1)->32 +bias relu", "conv", lambda m: m.conv2d(x1, w1, b1, s1, v, True, y1)),
        ("conv2d_kernel_grad conv1", "conv", lambda m: m.conv2d_kernel_grad(g1, x1, s1, v, dw1)),
        ("max_pool2d (64,26,26,32)", "conv", lambda m: m.max_pool2d(g1, *two, p1)),
        ("max_pool2d_backward (64,26,26,32)", "conv", lambda m: m.max_pool2d_backward(gp1, g1, *two, dx1)),
        ("max_pool2d (64,11,11,64)", "conv", lambda m: m.max_pool2d(x2, *two, p2)),
        ("max_pool2d_backward (64,11,11,64)", "conv", lambda m: m.max_pool2d_backward(gp2, x2, *two, dx2)),
        ("avg_pool2d (64,26,26,32)", "conv", lambda m: m.avg_pool2d(g1, *two, p1)),
        ("avg_pool2d_backward (64,26,26,32)", "conv", lambda m: m.avg_pool2d_backward(gp1, *two, dx1)),
        ("relu_bias_grad (43264,32)", "elementwise", lambda m: m.relu_bias_grad(rows, rows, masked, db)),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rev", default="f66ed7d")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--only", default="", help="run the cases whose name contains this")
    ap.add_argument("--clock", choices=("cpu", "wall"), default=None,
                    help="cpu: this thread's CPU time (time.thread_time: the time a busy machine took the "
                         "core away is not counted; 1 thread only); default cpu for 1 thread, else wall")
    args = ap.parse_args()
    clock = time.thread_time if (args.clock or ("cpu" if args.threads == 1 else "wall")) == "cpu" \
        else time.perf_counter
    K.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    old = {"conv": load_old(args.rev, "conv"), "elementwise": load_old(args.rev, "elementwise")}
    new = {"conv": conv_new, "elementwise": elem_new}
    print(f"{args.dtype}, {args.threads} thread(s), {clock.__name__}, median ms per call [quartiles], "
          f"old = {args.rev}")
    print(f"{'kernel':45s} {'old':>22s} {'new':>22s} {'old/new':>8s}")
    for name, family, call in cases(np.random.default_rng(0), np.dtype(args.dtype)):
        if args.only not in name:
            continue
        # interleave: old, new, old, new ... so that load changes hit both
        to, tn = [], []
        for _ in range(3):
            to.append(timed(lambda: call(old[family]), args.rounds // 3 or 1, clock))
            tn.append(timed(lambda: call(new[family]), args.rounds // 3 or 1, clock))
        qo, qn = np.median(to, axis=0), np.median(tn, axis=0)
        print(f"{name:45s} {qo[1]:7.3f} [{qo[0]:.2f}-{qo[2]:.2f}] {qn[1]:7.3f} [{qn[0]:.2f}-{qn[2]:.2f}] "
              f"{qo[1] / qn[1]:8.2f}", flush=True)


if __name__ == "__main__":
    main()
