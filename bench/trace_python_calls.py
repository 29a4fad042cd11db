"""Python calls per training step, eager vs traced (tapegrad.function), on the book's MLP or convnet.

Counts, with ``sys.setprofile``, the Python function calls (``call`` events)
and the calls into C (``c_call``) one ``train_on_batch`` makes, and the ones
the step alone makes, for a model compiled with ``run_eagerly=True``, for the
traced step without the ``bind_kernels`` pass (every kernel call through the
public API's checks) and for the traced default; then times the three steps
back to back (medians).

    python bench/trace_python_calls.py            # the MLP (chapter 2), batch 128
    python bench/trace_python_calls.py convnet    # chapter 8's convnet, batch 64
    python bench/trace_python_calls.py tiny       # 32-16-10, batch 8: the step's time is its overhead
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

import tapegrad as tf
from tapegrad import keras


def count_calls(fn, *args):
    counts = {"call": 0, "c_call": 0}

    def profile(frame, event, arg):
        if event in counts:
            counts[event] += 1

    sys.setprofile(profile)
    try:
        fn(*args)
    finally:
        sys.setprofile(None)
    return counts


def _model(name):
    if name == "tiny":     # the MLP's step with almost no arithmetic: its time is the overhead
        return keras.Sequential([keras.Input(shape=(32,)), keras.layers.Dense(16, activation="relu"),
                                 keras.layers.Dense(10, activation="softmax")])
    if name == "convnet":
        layers = keras.layers
        return keras.Sequential([
            keras.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(128, 3, activation="relu"), layers.Flatten(), layers.Dense(10, activation="softmax")])
    return keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(512, activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])


VARIANTS = ("run_eagerly", "traced, unbound", "traced")


def _unbound(model):
    """The model's traced step with ``PIPELINE`` minus ``bind_kernels``: every call through the public API."""
    from tapegrad.trace import passes
    from tapegrad.trace.bind import bind_kernels
    from tapegrad.trace.function import Function

    step = model._train_step
    model.__dict__.setdefault("_traced_steps", {})["_train_step"] = (step.__func__, Function(
        step, strict_numpy=False, name="unbound", arrays_as_tensors=False,
        passes=[p for p in passes.PIPELINE if p is not bind_kernels]))


def main(name="mlp", repeats=300):
    rng = np.random.default_rng(0)
    batch = {"convnet": 64, "tiny": 8}.get(name, 128)
    repeats = {"convnet": 20, "tiny": 3000}.get(name, repeats)
    shape = {"convnet": (batch, 28, 28, 1), "tiny": (batch, 32)}.get(name, (batch, 784))
    x = rng.random(shape, dtype=np.float32)
    y = rng.integers(0, 10, batch).astype(np.uint8)
    models, steps = {}, {}
    for variant in VARIANTS:
        tf.random.set_seed(0)
        model = _model(name)
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      run_eagerly=variant == "run_eagerly")
        if variant == "traced, unbound":
            _unbound(model)
        model.train_on_batch(x, y)
        model.train_on_batch(x, y)                       # traced by now
        models[variant], steps[variant] = model, model._step_function("_train_step")
    print(f"{name}: {'':15} {'train_on_batch':>24} {'the step alone':>24} {'step ms (median)':>17}")
    times = {v: [] for v in VARIANTS}
    for _ in range(repeats):
        for variant in VARIANTS:
            start = time.perf_counter()
            steps[variant](x, y)
            times[variant].append(time.perf_counter() - start)
    for variant in VARIANTS:
        whole = count_calls(models[variant].train_on_batch, x, y)
        alone = count_calls(steps[variant], x, y)
        print(f"{variant:21} {whole['call']:>10} py {whole['c_call']:>8} C   {alone['call']:>10} py "
              f"{alone['c_call']:>8} C {1e3 * statistics.median(times[variant]):>14.3f}")
    print(steps["traced"].plan_source())


if __name__ == "__main__":
    main(*sys.argv[1:2])
