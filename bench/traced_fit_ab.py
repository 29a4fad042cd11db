"""``fit`` on the book's MLP, shuffled, before and after the ``fold_gather`` and ``bind_kernels`` passes.

    python bench/traced_fit_ab.py [--backend numba] [--rounds R] [--images N] [--threads T]

Four models from the same seed, compiled as chapter 2 compiles them, each
fitted one epoch per round (``--images`` MNIST images, batch 128), in turn;
the table gives the median (and the fastest) seconds per epoch:

* ``before``: each batch gathered by fit (``ndarray.take``) and handed to the
  traced ``_train_step``, traced with ``PIPELINE`` minus both passes (main
  before them);
* ``+ bind_kernels``: the same, the GEMM and RMSprop calls bound;
* ``+ fold_gather``: fit hands ``_train_step_rows`` the whole arrays and the
  rows, the first layer's kernels read ``x[rows]`` in place; calls unbound;
* ``both (default)``: ``PIPELINE`` as it is.
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
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pin", action="store_true", help="one thread: run on the first core only")
    args = parser.parse_args()
    if args.pin and args.threads == 1:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])

    import tapegrad
    from tapegrad.benchmark.train import _mnist, book_model
    from tapegrad.trace import passes
    from tapegrad.trace.bind import bind_kernels
    from tapegrad.trace.function import Function
    from tapegrad.trace.gather import fold_gather

    tapegrad.kernels.set_num_threads(args.threads)
    x, y = _mnist(args.images)
    variants = {"before": (False, [fold_gather, bind_kernels]), "+ bind_kernels": (False, [fold_gather]),
                "+ fold_gather": (True, [bind_kernels]), "both (default)": (True, [])}
    models = {}
    for name, (rows, without) in variants.items():
        model = models[name] = book_model(args.backend)
        if not rows:
            model._rows_step = lambda batches: None
        if without:
            for step_name in ("_train_step", "_train_step_rows"):
                step = getattr(model, step_name)
                model.__dict__.setdefault("_traced_steps", {})[step_name] = (step.__func__, Function(
                    step, strict_numpy=False, name=name, arrays_as_tensors=False,
                    passes=[p for p in passes.PIPELINE if p not in without]))

    def epoch(model):
        with tapegrad.kernels.use(args.backend):
            start = time.perf_counter()
            model.fit(x, y, batch_size=128, epochs=1, verbose=0)
            return time.perf_counter() - start

    for model in models.values():
        epoch(model)                      # trace, compile, touch memory
    times = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            times[name].append(epoch(model))
    base = statistics.median(times["before"])
    print(f"{args.backend}, {args.threads} thread(s), {len(x)} images, batch 128, load {os.getloadavg()[0]:.2f}")
    for name, t in times.items():
        med = statistics.median(t)
        print(f"  {name:18} {med:7.3f} s/epoch  {base / med:5.2f}x   (min {min(t):.3f})")


if __name__ == "__main__":
    main()
