"""Seconds per step outside the compiled kernels: eager, traced before, traced now.

Wraps every method of the backend object that runs a compiled kernel (the
convolutions, pools, GEMMs, element-wise, loss, optimizer and metric kernels)
with a timer, fits a model one epoch per round in each variant, in turn, and
prints per step: the whole step, the time inside the kernels, and the rest
(Python: fit's loop, the plan or the layers and the tape, the API's checks,
NumPy's array math).

    python bench/step_overhead.py [convnet|mlp] [--backend numba] [--images N] [--rounds R]

Variants: ``run_eagerly`` (the step as Python); ``traced, before`` (fit gathers
each shuffled batch, ``PIPELINE`` minus ``fold_gather`` and ``bind_kernels``);
``traced`` (the default).
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="convnet", choices=("convnet", "mlp"))
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--images", type=int, default=6400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import tapegrad
    from tapegrad import keras
    from tapegrad.benchmark.convnet import _mnist_images
    from tapegrad.benchmark.train import _mnist
    from tapegrad.trace import passes
    from tapegrad.trace.bind import bind_kernels
    from tapegrad.trace.function import Function
    from tapegrad.trace.gather import fold_gather

    tapegrad.kernels.set_num_threads(1)
    be = tapegrad.kernels.get_backend(args.backend)
    inside = collections.Counter()
    names = [n for n in tapegrad.kernels.__all__ if callable(getattr(be, n, None))
             and n not in ("to_numpy", "set_num_threads", "get_num_threads")]
    for name in names:
        method = getattr(be, name)

        def timed(*a, _method=method, **kw):
            start = time.perf_counter()
            try:
                return _method(*a, **kw)
            finally:
                inside["s"] += time.perf_counter() - start
        setattr(be, name, timed)

    if args.model == "convnet":
        x, y = _mnist_images(args.images)
        batch = 64
    else:
        x, y = _mnist(args.images)
        batch = 128

    def build(variant):
        layers = keras.layers
        with tapegrad.kernels.use(args.backend):
            tapegrad.random.set_seed(0)
            if args.model == "convnet":
                model = keras.Sequential([
                    keras.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                    layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
                    layers.Conv2D(128, 3, activation="relu"), layers.Flatten(), layers.Dense(10, activation="softmax")])
            else:
                model = keras.Sequential([keras.Input(shape=(784,)), layers.Dense(512, activation="relu"),
                                          layers.Dense(10, activation="softmax")])
            model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                          run_eagerly=variant == "run_eagerly")
        if variant == "traced, before":
            model._rows_step = lambda batches: None
            step = model._train_step
            model.__dict__.setdefault("_traced_steps", {})["_train_step"] = (step.__func__, Function(
                step, strict_numpy=False, name="before", arrays_as_tensors=False,
                passes=[p for p in passes.PIPELINE if p not in (fold_gather, bind_kernels)]))
        return model

    variants = ("run_eagerly", "traced, before", "traced")
    models = {v: build(v) for v in variants}
    steps = -(-len(x) // batch)
    results = {v: ([], []) for v in variants}

    def epoch(model):
        with tapegrad.kernels.use(args.backend):
            inside.clear()
            start = time.perf_counter()
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
            return time.perf_counter() - start, inside["s"]

    for model in models.values():
        epoch(model)                                   # compile, trace
    for _ in range(args.rounds):
        for v, model in models.items():
            whole, kernels_s = epoch(model)
            results[v][0].append(whole)
            results[v][1].append(whole - kernels_s)
    import os
    print(f"{args.model}, {args.backend}, 1 thread, {len(x)} images, batch {batch}, {steps} steps/epoch, "
          f"load {os.getloadavg()[0]:.2f}; medians of {args.rounds} rounds, ms per step")
    print(f"  {'':16} {'step':>8} {'outside kernels':>16}")
    for v in variants:
        whole, rest = results[v]
        print(f"  {v:16} {1e3 * statistics.median(whole) / steps:8.3f} {1e3 * statistics.median(rest) / steps:16.3f}"
              f"   (min {1e3 * min(rest) / steps:.3f})")


if __name__ == "__main__":
    main()
