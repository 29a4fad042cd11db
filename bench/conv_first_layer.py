"""Side by side in one process: the first layer's kernels (conv1's shallow convolution and
its kernel gradient, the max-pools) of a git revision against the working tree's, Numba backend.

    python bench/conv_first_layer.py [--rev 1e5b2a1] [--threads 1] [--rounds 9] [--dtype float32]

The old kernels are loaded from ``git show REV:kernels/conv/{numba,numba_shallow,numba_pools}.py``
as sibling modules of today's (the old numba.py made to import the old two), written to a
fixed folder under the temp dir so that Numba's cache keeps them between runs.  The calls
go to the backend functions (no argument checks, outputs reused), old and new interleaved
in rounds, and the clock is the calling thread's CPU time at one thread (a busy machine's
descheduling is not counted), wall time at two.  Prints the median ms per call of each side
with quartiles, and old / new.

``--cold`` instead times conv1's forward and the max-pool after it as a training step meets
them: before each pair of calls 64 MB are swept (so that the image, the 5.5 MB output and the
pool's output come from memory, not the cache), the outputs rotating through 12 buffers; wall
clock, medians of ``--rounds`` x 10 pairs, and the same for a plain ``fill`` of the output.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import numba
import tapegrad.kernels as K
from tapegrad.kernels.conv import numba as conv_new

from revision import kernel_modules, quartiles_ms as timed

#: the revision's modules, numba.py last: it imports the other two
FILES = ("numba_shallow", "numba_pools", "numba")


def load_old(rev):
    """The revision's conv numba.py, importing its own numba_shallow / numba_pools."""
    return kernel_modules(rev, "conv", FILES)["numba"]

def cases(rng, dtype):
    def conv(n, h, w, c, k, f, stride=1, same=False):
        x = rng.random((n, h, w, c)).astype(dtype)
        wt = rng.standard_normal((k, k, c, f)).astype(dtype)
        b = rng.standard_normal(f).astype(dtype)
        oh, ow = ((h + stride - 1) // stride, (w + stride - 1) // stride) if same else \
            ((h - k) // stride + 1, (w - k) // stride + 1)
        pads = (((oh - 1) * stride + k - h) // 2, ((ow - 1) * stride + k - w) // 2) if same else (0, 0)
        y = np.empty((n, oh, ow, f), dtype)
        return lambda m: m.conv2d(x, wt, b, (stride, stride), pads, True, y)

    y1 = np.maximum(rng.standard_normal((64, 26, 26, 32)), 0).astype(dtype)   # a relu output
    p1 = np.empty((64, 13, 13, 32), dtype)
    x2 = np.maximum(rng.standard_normal((64, 11, 11, 64)), 0).astype(dtype)
    p2 = np.empty((64, 5, 5, 64), dtype)
    x3 = rng.standard_normal((8, 9, 10, 24)).astype(dtype)
    p3 = np.empty((8, 4, 4, 24), dtype)
    x1 = rng.random((64, 28, 28, 1)).astype(dtype)
    g1 = rng.standard_normal((64, 26, 26, 32)).astype(dtype)
    dw1 = np.empty((3, 3, 1, 32), dtype)
    two = ((2, 2), (2, 2), (0, 0))
    return [
        ("conv2d conv1 (64,28,28,1) 3x3->32 +b relu", conv(64, 28, 28, 1, 3, 32)),
        ("conv2d (64,28,28,1) 3x3->32 same", conv(64, 28, 28, 1, 3, 32, same=True)),
        ("conv2d (64,28,28,1) 3x3->32 stride 2", conv(64, 28, 28, 1, 3, 32, stride=2)),
        ("conv2d (16,32,32,3) 1x1->16", conv(16, 32, 32, 3, 1, 16)),
        ("conv2d (16,32,32,3) 2x2->64 (K=12)", conv(16, 32, 32, 3, 2, 64)),
        ("conv2d (16,28,28,1) 4x4->24 same (K=16)", conv(16, 28, 28, 1, 4, 24, same=True)),
        ("conv2d dogs/cats (2,180,180,3) 3x3->32", conv(2, 180, 180, 3, 3, 32)),
        ("conv2d_kernel_grad conv1", lambda m: m.conv2d_kernel_grad(g1, x1, (1, 1), (0, 0), dw1)),
        ("max_pool2d (64,26,26,32)", lambda m: m.max_pool2d(y1, *two, p1)),
        ("max_pool2d (64,11,11,64)", lambda m: m.max_pool2d(x2, *two, p2)),
        ("max_pool2d (8,9,10,24) 3x3 stride 2", lambda m: m.max_pool2d(x3, (3, 3), (2, 2), (0, 0), p3)),
    ]


def cold(old, rounds):
    """conv1's forward, then the max-pool of its output, on cold caches (``--cold``)."""
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 32)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    outs = [np.zeros((64, 26, 26, 32), np.float32) for _ in range(12)]
    pools = [np.zeros((64, 13, 13, 32), np.float32) for _ in range(12)]
    sweep = np.ones(16 << 20, np.float32)
    two = ((2, 2), (2, 2), (0, 0))

    def pairs(module, conv):
        tc, tp = [], []
        for i in range(10):
            np.add(sweep, 1, out=sweep)
            y, p = outs[i % 12], pools[i % 12]
            t0 = time.perf_counter()
            conv(module, y)
            t1 = time.perf_counter()
            module.max_pool2d(y, *two, p)
            tc.append(t1 - t0)
            tp.append(time.perf_counter() - t1)
        return tc, tp

    sides = {"old": (old, lambda m, y: m.conv2d(x, w, b, (1, 1), (0, 0), True, y)),
             "new": (conv_new, lambda m, y: m.conv2d(x, w, b, (1, 1), (0, 0), True, y)),
             "fill": (conv_new, lambda m, y: y.fill(1))}
    times = {k: ([], []) for k in sides}
    for r in range(rounds + 1):   # round 0 warms up
        for name, (module, conv) in sides.items():
            tc, tp = pairs(module, conv)
            if r:
                times[name][0].extend(tc)
                times[name][1].extend(tp)
    print(f"cold caches, 1 thread, perf_counter, median ms; load average {os.getloadavg()[0]:.1f}")
    for name, (tc, tp) in times.items():
        first = "ndarray.fill of the output" if name == "fill" else "conv2d conv1 +b relu"
        print(f"{name:5s} {first:28s} {1e3 * np.median(tc):6.3f}   then max_pool2d {1e3 * np.median(tp):6.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rev", default="1e5b2a1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--only", default="", help="run the cases whose name contains this")
    ap.add_argument("--cold", action="store_true", help="conv1 then its max-pool on cold caches")
    args = ap.parse_args()
    clock = time.thread_time if args.threads == 1 else time.perf_counter
    K.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    old = load_old(args.rev)
    if args.cold:
        cold(old, args.rounds)
        return
    print(f"{args.dtype}, {args.threads} thread(s), {clock.__name__}, median ms per call [quartiles], "
          f"old = {args.rev}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'kernel':45s} {'old':>22s} {'new':>22s} {'old/new':>8s}")
    for name, call in cases(np.random.default_rng(0), np.dtype(args.dtype)):
        if args.only not in name:
            continue
        to, tn = [], []
        for _ in range(3):   # interleaved, so that a change of load hits both
            to.append(timed(lambda: call(old), args.rounds // 3 or 1, clock))
            tn.append(timed(lambda: call(conv_new), args.rounds // 3 or 1, clock))
        qo, qn = np.median(to, axis=0), np.median(tn, axis=0)
        print(f"{name:45s} {qo[1]:7.3f} [{qo[0]:.2f}-{qo[2]:.2f}] {qn[1]:7.3f} [{qn[0]:.2f}-{qn[2]:.2f}] "
              f"{qo[1] / qn[1]:8.2f}", flush=True)


if __name__ == "__main__":
    main()
