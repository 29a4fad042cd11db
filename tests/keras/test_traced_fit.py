"""fit traces train_step (tapegrad.function) unless compile(run_eagerly=True): the same numbers.

Each model is trained twice from the same seed, once with ``run_eagerly=True``
(the plain Python step) and once traced, and the histories and the weights
must agree bit for bit: the plan calls the kernels the eager step calls, in
the same order (no fusion applies to Keras's Dense layers, which are already
one fused kernel each; the convnet's Conv2D(relu) -> MaxPooling2D backward is
fused into one call that, on these tests' default cython backend, runs the
same kernels in sequence: tests/core/test_trace_fuse_pool.py checks numba's).
"""

from __future__ import annotations

import re
import sys
import warnings

import numpy as np
import pytest

import tapegrad as tf
from tapegrad import keras


def _train(build, compile_args, x, y, eager, epochs=2, batch_size=32):
    tf.random.set_seed(7)
    model = build()
    model.compile(**compile_args, run_eagerly=eager)
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=False)
    return model, history.history


def _same_training(build, compile_args, x, y, **kw):
    eager_model, eager_history = _train(build, compile_args, x, y, True, **kw)
    traced_model, traced_history = _train(build, compile_args, x, y, False, **kw)
    assert traced_history == eager_history
    for a, b in zip(traced_model.weights, eager_model.weights):
        assert np.array_equal(a.numpy(), b.numpy()), a.name
    return traced_model, eager_model


def _mlp():
    return keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(32, activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])


def _mnist_like(n=100, d=64, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)).astype(np.float32), rng.integers(0, classes, n).astype(np.uint8)


def test_the_book_mlp_fit_traced_is_bit_for_bit_the_eager_fit():
    x, y = _mnist_like()
    model, _ = _same_training(_mlp, dict(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                                         metrics=["accuracy"]), x, y)
    step = model._step_function("_train_step")
    assert step.experimental_get_tracing_count() == 2          # batches of 32, then the last one of 4
    source = step.plan_source()
    assert len(re.findall(r"\bdense_forward\d*\(", source)) == 2   # bound: dense_forward1
    assert "weight_grad_rmsprop(" in source   # the update fused into the gradients' kernels (fuse_optimizer.py)


def test_a_functional_model_with_two_outputs_traced_is_bit_for_bit_eager():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 12)).astype(np.float32)
    y_class, y_value = rng.integers(0, 3, 64), rng.standard_normal((64, 1)).astype(np.float32)

    def build():
        inputs = keras.Input(shape=(12,))
        hidden = keras.layers.Dense(8, activation="relu")(inputs)
        label = keras.layers.Dense(3, activation="softmax", name="label")(hidden)
        value = keras.layers.Dense(1, name="value")(hidden)
        return keras.Model(inputs, [label, value])

    _same_training(build, dict(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"],
                               loss_weights=[1.0, 0.5], metrics=[["accuracy"], ["mae"]]), x, [y_class, y_value])


def test_the_convnet_traced_is_bit_for_bit_eager():
    rng = np.random.default_rng(2)
    x = rng.random((24, 12, 12, 1)).astype(np.float32)
    y = rng.integers(0, 10, 24)

    def build():
        return keras.Sequential([
            keras.Input(shape=(12, 12, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.MaxPooling2D(2), keras.layers.Conv2D(6, 3, activation="relu"),
            keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])

    model, _ = _same_training(build, dict(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                                          metrics=["accuracy"]), x, y, batch_size=8)
    source = model._step_function("_train_step").plan_source()
    # the first block's backward is one call (trace/fuse_pool.py); on the default (cython)
    # backend it runs the unfused kernels in sequence, hence bit for bit
    assert "conv2d_input_grad(" in source and "max_pool_relu_weight_grads(" in source


def test_evaluate_traced_gives_the_eager_numbers():
    x, y = _mnist_like(seed=3)
    results = []
    for eager in (True, False):
        tf.random.set_seed(7)
        model = _mlp()
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      run_eagerly=eager)
        results.append([model.evaluate(x, y, batch_size=25, verbose=0) for _ in range(2)])
    assert results[0] == results[1]


def test_run_eagerly_runs_the_python_step_and_traces_nothing():
    x, y = _mnist_like(n=40)
    model = _mlp()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", run_eagerly=True, jit_compile=True)
    assert model.run_eagerly
    model.fit(x, y, epochs=1, batch_size=20, verbose=0)
    assert "_traced_steps" not in model.__dict__
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    assert not model.run_eagerly
    model.fit(x, y, epochs=1, batch_size=20, verbose=0)      # shuffled: the step that gathers its batch
    assert model._step_function("_train_step_rows").experimental_get_tracing_count() == 1


def test_a_traced_step_runs_no_python_of_the_layers_nor_the_tape():
    """After the trace, a step is the plan: kernel calls and the host calls
    (the optimizer's and the metrics' Python state), nothing of layers, ops or the tape."""
    x, y = _mnist_like(n=32)
    model = _mlp()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.train_on_batch(x, y)
    step = model._step_function("_train_step")
    files = set()

    def profile(frame, event, arg):
        if event == "call":
            files.add(frame.f_code.co_filename.replace("\\", "/"))

    sys.setprofile(profile)
    try:
        step(x, y)
    finally:
        sys.setprofile(None)
    touched = {f.rsplit("/src/tapegrad/", 1)[-1] for f in files if "/src/tapegrad/" in f}
    assert not touched & {"tape.py", "keras/layers.py", "keras/models.py", "keras/node.py", "keras/losses.py"}
    # the metrics' and the optimizer's host calls reach their update kernels through ops/state.py
    assert not any(f.startswith("ops/") and f not in ("ops/state.py", "ops/base.py") for f in touched), touched
    assert any("tapegrad.function" in f for f in files)          # the generated plan ran


class _CustomStep(keras.Model):
    """The book's custom train_step (chapter 7): a tape, apply_gradients, metric results."""

    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(16, activation="relu")
        self.out = keras.layers.Dense(4, activation="softmax")
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, inputs):
        return self.out(self.hidden(inputs))

    @tf.function          # an overridden step is traced when decorated (Keras traces it anyway)
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = keras.losses.sparse_categorical_crossentropy(y, self(x, training=True))
            loss = tf.reduce_mean(loss)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    @property
    def metrics(self):
        return [self.loss_tracker]


def test_the_books_custom_train_step_is_traced_and_trains_as_eager():
    """A custom train_step returning ``{"loss": tracker.result()}``, decorated with
    ``tapegrad.function``: ``result`` is a host call whose number the plan returns
    fresh at each step; with ``run_eagerly=True`` the decoration is not used."""
    x, y = _mnist_like(n=48, d=10, classes=4)
    histories, models = [], []
    for eager in (True, False):
        tf.random.set_seed(3)
        model = _CustomStep()
        model.compile(optimizer="rmsprop", run_eagerly=eager)
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*runs eagerly")   # traced: no fallback
            histories.append(model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False).history)
        models.append(model)
    assert histories[0] == histories[1]
    for a, b in zip(models[0].weights, models[1].weights):
        assert np.array_equal(a.numpy(), b.numpy())
    assert "Mean_result(" in models[1].train_step.plan_source()
    assert models[0].train_step.experimental_get_tracing_count() == 0     # run_eagerly ran its Python


def test_python_arithmetic_on_a_metric_result_falls_back():
    class Halved(_CustomStep):
        @tf.function
        def train_step(self, data):
            logs = super().train_step.python_function(data)
            return {"loss": logs["loss"] / 2}            # Python math on the traced number

    x, y = _mnist_like(n=48, d=10, classes=4)
    results = []
    for eager in (True, False):
        tf.random.set_seed(3)
        model = Halved()
        model.compile(optimizer="rmsprop", run_eagerly=eager)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results.append(model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False).history)
        if not eager:
            assert any("Python computed with a number" in str(w.message) for w in caught)
    assert results[0] == results[1]


def test_a_dropout_model_traced_draws_a_new_mask_each_step_as_eager_does():
    """Dropout's mask is a fresh random draw at every step: the plan repeats the draw
    (``random.uniform_draw``, a stateful node), from the same generator, so the traced
    fit gives run_eagerly's numbers bit for bit, seeded alike."""
    x, y = _mnist_like(n=40)

    def build():
        return keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(16, activation="relu"),
                                 keras.layers.Dropout(0.5), keras.layers.Dense(10, activation="softmax")])

    args = dict(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*runs eagerly")   # traced: no fallback
        traced_model, _ = _same_training(build, args, x, y, batch_size=20, epochs=3)
    assert "uniform_draw(" in traced_model._step_function("_train_step").plan_source()


def test_a_random_draw_of_tapegrad_random_inside_a_step_falls_back_with_one_warning():
    class Noisy(keras.layers.Layer):
        def call(self, inputs):
            return inputs + tf.random.uniform(inputs.shape) * 0.01

    x, y = _mnist_like(n=40)

    def build():
        return keras.Sequential([keras.Input(shape=(64,)), Noisy(), keras.layers.Dense(10, activation="softmax")])

    args = dict(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    eager_model, eager_history = _train(build, args, x, y, True, batch_size=20)
    with pytest.warns(RuntimeWarning, match="random draw") as caught:
        traced_model, traced_history = _train(build, args, x, y, False, batch_size=20)
    assert len([w for w in caught if "runs eagerly" in str(w.message)]) == 1
    assert traced_history == eager_history
