"""``fit`` on the book's MLP, traced with and without the ``fuse_optimizer_update`` pass, side by side.

    python bench/fused_fit.py [--backend numba] [--rounds R] [--images N]

Two models from the same seed, compiled as chapter 2 compiles them, each
fitted one epoch per round (``--images`` MNIST images, batch 128, one
thread, one core), alternating; the table gives the median seconds per
epoch.  The second model's steps are traced with ``PIPELINE`` minus the
pass, so the difference is the fused optimizer update alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=60_000)
    args = parser.parse_args()
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])

    import tapegrad
    from tapegrad.benchmark.train import _mnist, book_model
    from tapegrad.trace import passes
    from tapegrad.trace.fuse_optimizer import fuse_optimizer_update

    tapegrad.kernels.set_num_threads(1)
    x, y = _mnist(args.images)
    with_pass = book_model(args.backend)
    without_pass = book_model(args.backend)
    full = list(passes.PIPELINE)
    without = [p for p in full if p is not fuse_optimizer_update]

    def epoch(model, pipeline):
        passes.PIPELINE[:] = pipeline   # read when a step is traced (the first epoch)
        try:
            with tapegrad.kernels.use(args.backend):
                start = time.perf_counter()
                model.fit(x, y, batch_size=128, epochs=1, verbose=0)
                return time.perf_counter() - start
        finally:
            passes.PIPELINE[:] = full

    loops = {"fit, traced": (with_pass, full), "fit, traced without fuse_optimizer_update": (without_pass, without)}
    for model, pipeline in loops.values():
        epoch(model, pipeline)   # warm up: compile, trace
    fused = ["weight_grad_rmsprop(" in m._step_function("_train_step").plan_source() for m in (with_pass, without_pass)]
    assert fused == [True, False], fused
    samples = {name: [] for name in loops}
    for _ in range(args.rounds):
        for name, (model, pipeline) in loops.items():
            samples[name].append(epoch(model, pipeline))
    print(f"{args.backend}, 1 thread, {len(x)} images, {args.rounds} rounds, load average {os.getloadavg()[0]:.1f}")
    for name, s in samples.items():
        print(f"{name:44} {statistics.median(s):7.3f} s/epoch (min {min(s):.3f}, max {max(s):.3f})")
    a, b = (statistics.median(s) for s in samples.values())
    print(f"without / with: {b / a:.3f}")


if __name__ == "__main__":
    main()
