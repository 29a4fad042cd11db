"""``fit`` on the book's MLP before and after the passes that fuse its head (trace/fuse_head.py).

    python bench/head_fusion.py [--backend numba] [--rounds R] [--images N] [--threads T]

Models from the same seed, compiled as chapter 2 compiles them, each fitted
one epoch per round (``--images`` MNIST images, batch 128), in turn, in one
process; the table gives the median (and the fastest) seconds per epoch and
per step.  ``before``: ``PIPELINE`` without the head's passes; then each pass
added; ``default``: ``PIPELINE`` as it is.  Then the head's calls alone, on
the last step's logits: the unfused kernels' public calls against the one
fused call (medians of many calls).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np


def _epochs(args, tapegrad, x, y):
    from tapegrad.benchmark.train import book_model
    from tapegrad.trace import passes
    from tapegrad.trace.function import Function

    head_passes = [p for p in passes.PIPELINE if p.__name__ in ("fuse_head", "fuse_head_backward")]
    variants = {"before": head_passes}
    for i in range(1, len(head_passes)):
        variants[f"+ {', '.join(p.__name__ for p in head_passes[:i])}"] = head_passes[i:]
    variants["default"] = []
    models = {}
    for name, without in variants.items():
        model = models[name] = book_model(args.backend)
        if without:
            step = model._train_step_rows
            model.__dict__.setdefault("_traced_steps", {})["_train_step_rows"] = (step.__func__, Function(
                step, strict_numpy=False, name=name, arrays_as_tensors=False,
                passes=[p for p in passes.PIPELINE if p not in without]))

    def epoch(model, seed=0):
        tapegrad.random.set_seed(seed)    # the same shuffle for every model
        with tapegrad.kernels.use(args.backend):
            start = time.perf_counter()
            model.fit(x, y, batch_size=128, epochs=1, verbose=0)
            return time.perf_counter() - start

    for model in models.values():
        epoch(model)                      # trace, compile, touch memory
    times = {name: [] for name in models}
    for r in range(args.rounds):
        for name, model in models.items():
            times[name].append(epoch(model, r + 1))
    steps = math.ceil(len(x) / 128)
    base = statistics.median(times["before"])
    print(f"{args.backend}, {args.threads} thread(s), {len(x)} images, batch 128, load {os.getloadavg()[0]:.2f}")
    for name, t in times.items():
        med = statistics.median(t)
        print(f"  {name:28} {med:7.3f} s/epoch  {1e3 * med / steps:6.3f} ms/step  {base / med:5.3f}x"
              f"   (min {min(t):.3f})")
    _steps(args, tapegrad, models, x, y)
    return {name: m.history.history for name, m in models.items()}


def _steps(args, tapegrad, models, x, y, block=20, blocks=60):
    """The traced step alone (each model's plan of 128 rows), in blocks of ``block`` steps
    taken in turn, the median block: steadier than whole epochs on a busy machine."""
    rng = np.random.default_rng(1)
    rows = [np.sort(rng.choice(len(x), 128, replace=False)).astype(np.int64) for _ in range(block)]
    steps = {name: m._step_function("_train_step_rows") for name, m in models.items()}
    times = {name: [] for name in models}
    cpu = {name: [] for name in models}      # this thread's CPU time: what other processes take is left out
    with tapegrad.kernels.use(args.backend):
        for _ in range(blocks):
            for name, step in steps.items():
                start, start_cpu = time.perf_counter(), time.thread_time()
                for r in rows:
                    step(x, y, r)
                times[name].append((time.perf_counter() - start) / block)
                cpu[name].append((time.thread_time() - start_cpu) / block)
    base, base_cpu = statistics.median(times["before"]), statistics.median(cpu["before"])
    print(f"  the traced step alone, median of {blocks} blocks of {block} steps, load {os.getloadavg()[0]:.2f}"
          f" (wall; CPU time of this thread):")
    for name in models:
        med, med_cpu = statistics.median(times[name]), statistics.median(cpu[name])
        print(f"  {name:28} {1e3 * med:6.3f} ms/step  {base / med:5.3f}x;  CPU {1e3 * med_cpu:6.3f} ms/step"
              f"  {1e3 * (base_cpu - med_cpu):+6.3f} ms  {base_cpu / med_cpu:5.3f}x")


def _head_calls(args, tapegrad):
    """The head's calls on (128, 10) logits: the unfused public calls against the fused call."""
    kernels = tapegrad.kernels
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((128, 10)).astype(np.float32)
    labels = kernels.class_ids(rng.integers(0, 10, 128))
    total = np.zeros(1)
    out = np.empty_like(logits)
    be = args.backend

    def unfused():
        probs = kernels.softmax(logits, backend=be)
        losses, grad = kernels.softmax_cross_entropy(logits, labels, reduction="none", backend=be)
        mean = np.asarray(np.true_divide(np.sum(losses), 128))
        kernels.accumulate_sum(mean, total, weight=128.0, backend=be)
        np.multiply(grad, 1 / 128, out=out)
        kernels.accumulate_correct(probs, labels, total=total, backend=be)

    def fused():
        kernels.softmax_cross_entropy_head(logits, labels, 1 / 128, out=out, backend=be)

    results = {}
    for name, fn in (("unfused calls", unfused), ("fused call", fused)):
        for _ in range(200):
            fn()
        samples = []
        for _ in range(21):
            start = time.perf_counter()
            for _ in range(500):
                fn()
            samples.append((time.perf_counter() - start) / 500)
        results[name] = statistics.median(samples)
    print(f"head calls on (128, 10) logits, {be}: " + ", ".join(f"{k} {1e6 * v:.1f} us" for k, v in results.items())
          + f"  ({results['unfused calls'] / results['fused call']:.2f}x)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=60_000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import tapegrad
    from tapegrad.benchmark.train import _mnist

    tapegrad.kernels.set_num_threads(args.threads)
    _head_calls(args, tapegrad)
    x, y = _mnist(args.images)
    histories = _epochs(args, tapegrad, x, y)
    same = all(h == histories["before"] for h in histories.values())
    print(f"  histories of every variant equal to before's: {same}")


if __name__ == "__main__":
    main()
