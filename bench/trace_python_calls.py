"""Python calls per training step, eager vs traced (tapegrad.function), on the book's MLP.

Counts, with ``sys.setprofile``, the Python function calls (``call`` events)
and the calls into C (``c_call``) one ``train_on_batch`` makes, and the ones
the step alone makes, for a model compiled with ``run_eagerly=True`` and for
the traced default; then times both steps back to back (medians).

    python bench/trace_python_calls.py
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


def main(batch=128, repeats=300):
    rng = np.random.default_rng(0)
    x = rng.random((batch, 784), dtype=np.float32)
    y = rng.integers(0, 10, batch).astype(np.uint8)
    models, steps = {}, {}
    for eager in (True, False):
        tf.random.set_seed(0)
        model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(512, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      run_eagerly=eager)
        model.train_on_batch(x, y)
        model.train_on_batch(x, y)                       # traced by now
        models[eager], steps[eager] = model, model._step_function("_train_step")
    print(f"{'':12} {'train_on_batch':>24} {'the step alone':>24} {'step ms (median)':>17}")
    times = {True: [], False: []}
    for _ in range(repeats):
        for eager in (True, False):
            start = time.perf_counter()
            steps[eager](x, y)
            times[eager].append(time.perf_counter() - start)
    for eager in (True, False):
        whole = count_calls(models[eager].train_on_batch, x, y)
        alone = count_calls(steps[eager], x, y)
        name = "run_eagerly" if eager else "traced"
        print(f"{name:12} {whole['call']:>10} py {whole['c_call']:>8} C   {alone['call']:>10} py {alone['c_call']:>8} C"
              f" {1e3 * statistics.median(times[eager]):>14.3f}")
    print(steps[False].plan_source())


if __name__ == "__main__":
    main()
