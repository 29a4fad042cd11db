"""One convnet epoch with this tree's first-layer kernels (the shallow conv2d and its kernel
gradient, max_pool2d) against a revision's, alternately in one process (the machine's load
then falls on both).

    python bench/conv_first_layer_epoch.py [--rev 1e5b2a1] [--threads 1] [--rounds 3] [--images 6400]

The revision's kernels/conv/numba.py (with its numba_shallow.py and numba_pools.py) is
loaded as bench/conv_first_layer.py does, and its conv2d, conv2d_kernel_grad and max_pool2d
are put on the numba backend for the "before" epochs (the deeper layers' convolutions are
today's implicit GEMM on both sides); everything else is this tree's.  Prints seconds per epoch, medians,
and the per-round ratios.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

from conv_first_layer import load_old


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rev", default="1e5b2a1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=6400)
    args = ap.parse_args()
    import tapegrad.kernels as K
    from tapegrad.benchmark.convnet import _mnist_images, tapegrad_convnet_epoch
    K.set_num_threads(args.threads)
    be = K.get_backend("numba")
    old = load_old(args.rev)
    names = ("conv2d", "conv2d_kernel_grad", "max_pool2d")
    fns = {"before": {n: getattr(old, n) for n in names}, "new": {n: getattr(be, n) for n in names}}
    x, y = _mnist_images(args.images)
    epochs = {"before": tapegrad_convnet_epoch(x, y, "numba"), "new": tapegrad_convnet_epoch(x, y, "numba")}
    times = {k: [] for k in epochs}
    for r in range(args.rounds + 1):   # round 0 warms up (compiles, traces)
        for name, epoch in epochs.items():
            for n in names:
                setattr(be, n, fns[name][n])
            t = time.perf_counter()
            epoch()
            if r:
                times[name].append(time.perf_counter() - t)
            time.sleep(0.3)
    for n in names:
        setattr(be, n, fns["new"][n])
    b, a = statistics.median(times["before"]), statistics.median(times["new"])
    print(f"{args.images} images, {args.threads} thread(s), {args.rounds} rounds, load average "
          f"{os.getloadavg()[0]:.1f}: before ({args.rev}) {b:.2f} s, new {a:.2f} s, before/new {b / a:.2f}x "
          f"(per round: {[f'{p / q:.2f}' for p, q in zip(times['before'], times['new'])]})")


if __name__ == "__main__":
    main()
