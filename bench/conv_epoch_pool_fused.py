"""One convnet epoch traced with and without the fuse_pool_backward pass, alternately in one process.

    python bench/conv_epoch_pool_fused.py [--threads 1] [--rounds 5] [--images 6400]

Two copies of chapter 8's convnet (tapegrad.benchmark.convnet, Numba backend):
one traced with ``passes.PIPELINE`` as it is, one traced with the pass taken
out (the step as before trace/fuse_pool.py).  Both trace in a warm-up epoch;
then their epochs alternate, and the medians of CPU time and wall time per
epoch are printed with the load average (the machine's load falls on both).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--images", type=int, default=6400)
    args = ap.parse_args()
    import tapegrad.kernels as K
    from tapegrad.benchmark.convnet import _mnist_images, tapegrad_convnet_epoch
    from tapegrad.trace import passes
    from tapegrad.trace.fuse_pool import fuse_pool_backward

    K.set_num_threads(args.threads)
    x, y = _mnist_images(limit=args.images)
    full = list(passes.PIPELINE)
    epochs = {}
    for label, pipeline in (("without the pass", [p for p in full if p is not fuse_pool_backward]),
                            ("with fuse_pool_backward", full)):
        passes.PIPELINE[:] = pipeline
        try:
            epochs[label] = tapegrad_convnet_epoch(x, y, "numba")
            epochs[label]()          # the warm-up epoch traces the step with this pipeline
        finally:
            passes.PIPELINE[:] = full
    print(f"{args.images} images, numba, {args.threads} thread(s); load average {os.getloadavg()}")
    times = {label: [] for label in epochs}
    for r in range(args.rounds):
        for label in (list(epochs) if r % 2 == 0 else list(epochs)[::-1]):
            cpu, wall = time.process_time(), time.perf_counter()
            epochs[label]()
            times[label].append((time.process_time() - cpu, time.perf_counter() - wall))
    medians = {}
    for label, rows in times.items():
        cpu, wall = zip(*rows)
        medians[label] = (statistics.median(cpu), statistics.median(wall))
        print(f"{label:26s} cpu {medians[label][0]:.3f} s  wall {medians[label][1]:.3f} s  "
              f"(cpu {min(cpu):.3f}-{max(cpu):.3f})")
    before, after = medians["without the pass"], medians["with fuse_pool_backward"]
    print(f"ratio without / with: cpu {before[0] / after[0]:.3f}x, wall {before[1] / after[1]:.3f}x; "
          f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
