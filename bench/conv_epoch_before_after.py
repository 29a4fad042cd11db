"""One convnet epoch with this tree's Numba conv kernels against an older
revision's, alternately in one process (the machine's load then falls on both).

    python bench/conv_epoch_before_after.py [--before f66ed7d] [--threads 1] [--rounds 3] [--images 6400]

The older kernels/conv/numba.py is loaded as a sibling module (as
bench/conv_layer_times.py does) and its conv2d / conv2d_input_grad /
conv2d_kernel_grad are put on the numba backend for the "before" epochs; the
pools and everything else are this tree's.  Prints seconds per epoch, medians.
"""
from __future__ import annotations

import argparse
import statistics
import time

from conv_layer_times import load_before


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", default="f66ed7d")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=6400)
    args = ap.parse_args()
    import tapegrad.kernels as K
    from tapegrad.benchmark.convnet import _mnist_images, tapegrad_convnet_epoch
    K.set_num_threads(args.threads)
    be = K.get_backend("numba")
    old = load_before(args.before)
    names = ("conv2d", "conv2d_input_grad", "conv2d_kernel_grad")
    new_fns = {n: getattr(be, n) for n in names}
    old_fns = {n: getattr(old, n) for n in names}
    x, y = _mnist_images(args.images)
    epochs = {"before": tapegrad_convnet_epoch(x, y, "numba"), "new": tapegrad_convnet_epoch(x, y, "numba")}
    times = {k: [] for k in epochs}
    for r in range(args.rounds + 1):   # round 0 warms up (compiles)
        for name, epoch in epochs.items():
            for n in names:
                setattr(be, n, (old_fns if name == "before" else new_fns)[n])
            t = time.perf_counter()
            epoch()
            if r:
                times[name].append(time.perf_counter() - t)
            time.sleep(0.3)
    for n in names:
        setattr(be, n, new_fns[n])
    b, a = statistics.median(times["before"]), statistics.median(times["new"])
    print(f"{args.images} images, {args.threads} thread(s), {args.rounds} rounds: before {b:.2f} s, new {a:.2f} s, "
          f"before/new {b / a:.2f}x (per round: {[f'{p / q:.2f}' for p, q in zip(times['before'], times['new'])]})")


if __name__ == "__main__":
    main()
