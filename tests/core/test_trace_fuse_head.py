"""The ``fuse_head`` pass (a classifier's softmax, loss, mean loss, the mean's gradient and accuracy in one
call) and ``fuse_head_backward`` (the output layer's backward and three RMSprop steps in one call).

A traced ``fit`` with the pass must give the eager fit's History and weights
bit for bit (the fused kernel makes every number with the unfused calls'
operations), on the numba backend (one-pass kernel) and the cython backend
(the unfused sequence), with a short last batch; the plan must call
``softmax_cross_entropy_head`` in place of the eight calls; and the pass must
leave alone what is not exactly the pattern (weighted losses of two outputs,
an accuracy that does not read the softmax, a user's own metric class,
another optimizer).  The output layer's ``dz @ W.T``, b1's masked step, W2's
and b2's steps become one ``dense_backward_rmsprop`` (on numba one compiled
call of the same functions): bit for bit too.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import tapegrad as tf
from tapegrad import keras
from tapegrad.trace import passes

BACKENDS = [b for b in ("numba", "cython") if b in tf.kernels.available_backends()]
UNFUSED = ("softmax", "softmax_cross_entropy", "xp_sum", "xp_true_divide", "Mean_update_state", "xp_multiply",
           "_AccuracyByShape_update_state")


def _calls(source, name):
    return len(re.findall(rf"(?<![\w.]){name}\d*\(", source))


def _data(n=224, d=20, classes=10, seed=0):        # batches of 128 and a last one of 96
    rng = np.random.default_rng(seed)
    return rng.random((n, d)).astype(np.float32), rng.integers(0, classes, n).astype(np.uint8)


def _fit(backend, eager, x, y, metrics=("accuracy",), from_logits=False, epochs=2, shuffle=True, classes=10,
         optimizer="rmsprop"):
    with tf.kernels.use(backend):
        tf.random.set_seed(5)
        model = keras.Sequential([keras.Input(shape=(x.shape[1],)), keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(classes, activation=None if from_logits else "softmax")])
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True) if from_logits \
            else "sparse_categorical_crossentropy"
        model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics), run_eagerly=eager)
        history = model.fit(x, y, batch_size=128, epochs=epochs, verbose=0, shuffle=shuffle)
    return model, history.history


def _same_fit(backend, x, y, **kw):
    eager, eager_history = _fit(backend, True, x, y, **kw)
    traced, traced_history = _fit(backend, False, x, y, **kw)
    assert traced_history == eager_history
    for a, b in zip(traced.weights, eager.weights):
        assert np.array_equal(a.numpy(), b.numpy()), a.name
    return traced, traced_history


def _plans(model):
    """The plan of each traced signature (a batch of 128 rows, the last, shorter one)."""
    step = model._step_function("_train_step_rows")
    return [trace.plan.source for trace in step._traces.values() if hasattr(trace, "plan")]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_mlp_fit_with_the_fused_head_is_bit_for_bit_the_eager_fit(backend):
    x, y = _data()
    model, history = _same_fit(backend, x, y)
    plans = _plans(model)
    assert len(plans) == 2                                     # 128 rows, then the last 96
    for source in plans:
        assert _calls(source, "softmax_cross_entropy_head") == 1
        for name in UNFUSED:
            assert _calls(source, name) == 0, name
        assert _calls(source, "dense_backward_rmsprop") == 1 and _calls(source, "weight_grad_rmsprop") == 1
        assert _calls(source, "matmul") == 0 and _calls(source, "bias_grad_rmsprop") == 0
    assert 0 < history["accuracy"][-1] <= 1 and history["loss"][-1] > 0


def top_probability(y_true, y_pred):
    """A metric of the probabilities alone: each row's largest."""
    return tf.reduce_max(y_pred, axis=-1)


@pytest.mark.parametrize("metrics", [(), ("sparse_categorical_accuracy",), ("accuracy", "top")])
def test_other_metric_lists_are_fused_where_they_match_and_stay_bit_for_bit(metrics):
    x, y = _data(n=200)
    chosen = {"sparse_categorical_accuracy": keras.metrics.SparseCategoricalAccuracy(), "top": top_probability}
    model, _ = _same_fit("numba", x, y, metrics=[chosen.get(m, m) for m in metrics])
    for source in _plans(model):
        assert _calls(source, "softmax_cross_entropy_head") == 1
        if "top" in metrics:                   # the probabilities have another reader: the accuracy stays
            assert _calls(source, "_AccuracyByShape_update_state") == 1 and _calls(source, "softmax") == 1
        else:
            assert _calls(source, "softmax") == 0 and "update_state" not in source


def test_an_accuracy_on_the_logits_stays_a_call_of_its_own():
    x, y = _data(n=200)
    model, _ = _same_fit("numba", x, y, from_logits=True)
    for source in _plans(model):
        assert _calls(source, "softmax_cross_entropy_head") == 1
        assert _calls(source, "_AccuracyByShape_update_state") == 1


def test_a_users_accuracy_class_is_left_to_its_own_update_state():
    calls = []

    class Counting(keras.metrics.SparseCategoricalAccuracy):
        def update_state(self, y_true, y_pred, sample_weight=None):
            calls.append(len(y_true))
            super().update_state(y_true, y_pred, sample_weight)

    x, y = _data(n=200)
    model, history = _same_fit("numba", x, y, metrics=[Counting(name="acc")])
    assert calls[-2:] == [128, 72]             # run at every step of the traced fit too
    for source in _plans(model):
        assert _calls(source, "Counting_update_state") == 1 and _calls(source, "softmax") == 1


def test_two_weighted_outputs_are_not_the_pattern():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 12)).astype(np.float32)
    y_class, y_value = rng.integers(0, 3, 64), rng.standard_normal((64, 1)).astype(np.float32)
    inputs = keras.Input(shape=(12,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(3, activation="softmax", name="label")(hidden),
                                 keras.layers.Dense(1, name="value")(hidden)])
    model.compile(optimizer="rmsprop", loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5],
                  metrics=[["accuracy"], ["mae"]])
    with tf.kernels.use("numba"):
        model.fit(x, [y_class, y_value], batch_size=32, epochs=1, verbose=0)
    step = model._step_function("_train_step")
    source = step.plan_source()
    assert _calls(source, "softmax_cross_entropy") == 1 and _calls(source, "softmax_cross_entropy_head") == 0


def test_the_pass_is_in_the_pipeline_before_buffers_are_planned():
    names = [p.__name__ for p in passes.PIPELINE]
    assert names.index("fuse_head") < names.index("reuse_buffers") < names.index("bind_kernels")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_label_out_of_range_raises_before_any_weight_or_metric_changes(backend):
    x, y = _data()
    model, _ = _fit(backend, False, x, y, epochs=1)
    step = model._step_function("_train_step_rows")
    rows = np.arange(128, 224, dtype=np.int64)            # the traced plan of the last batch, 96 rows
    before = [w.numpy().copy() for w in model.weights]
    counted = [getattr(m, "chosen", m) for m in model.metrics]       # the loss's Mean, the accuracy
    totals = [(m.total, m.count) for m in counted]
    bad = y.copy()
    bad[200] = 10
    with tf.kernels.use(backend), pytest.raises(ValueError, match="label 10 is out of range for 10 classes"):
        step(x, bad, rows)
    for w, old in zip(model.weights, before):
        assert np.array_equal(w.numpy(), old), w.name
    assert [(m.total, m.count) for m in counted] == totals
    with tf.kernels.use(backend):
        step(x, y, rows)                                   # a good batch still trains and counts
    assert not np.array_equal(model.weights[0].numpy(), before[0])
    assert [m.count for m in counted] == [c + 96 for _, c in totals]


@pytest.mark.parametrize("classes,optimizer", [(20, "rmsprop"), (10, "adam")])
def test_a_wider_output_layer_is_one_call_and_another_optimizer_is_not(classes, optimizer):
    x, y = _data(n=200, classes=classes)
    model, _ = _same_fit("numba", x, y, classes=classes, optimizer=optimizer)
    for source in _plans(model):
        assert _calls(source, "dense_backward_rmsprop") == (optimizer == "rmsprop")
        assert _calls(source, "matmul") == (0 if optimizer == "rmsprop" else 3)   # dz @ W2.T and both dW


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_output_weight_the_trace_did_not_see_raises_before_any_update(backend):
    """W2's array replaced by a Fortran-ordered copy: the bound call takes the public API's
    path, which checks all six arrays it updates, and refuses it before b1, W2 or b2 changes."""
    x, y = _data(n=128)
    model, _ = _fit(backend, False, x, y, epochs=1)
    kernel = model.layers[1].kernel
    kernel._data = np.asfortranarray(kernel._data)
    before = [w.numpy().copy() for w in model.weights]
    with tf.kernels.use(backend), pytest.raises(ValueError, match="dense_backward_rmsprop: w is updated in place"):
        model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    for w, old in zip(model.weights[1:], before[1:]):            # W1's step runs after: nothing changed
        assert np.array_equal(w.numpy(), old), w.name


@pytest.mark.parametrize("read_weight", [False, True])
def test_a_step_reading_the_output_weight_before_its_update_keeps_the_four_calls(read_weight):
    """A GradientTape loop (chapter 7) that reads W2 between the backward pass and the
    optimizer's step must see W2 as it was: the four calls then stay apart."""
    from tapegrad.trace.fuse_head import fuse_head_backward

    rng = np.random.default_rng(8)
    start = [rng.standard_normal((12, 24)) * 0.1, np.zeros(24), rng.standard_normal((24, 5)) * 0.1, np.zeros(5)]
    x, y = rng.random((16, 12)).astype(np.float32), rng.integers(0, 5, 16)
    results = {}
    for name, pipeline in (("with", None), ("without", [p for p in passes.PIPELINE if p is not fuse_head_backward])):
        w1, b1, w2, b2 = (tf.Variable(a.astype(np.float32)) for a in start)
        optimizer = keras.optimizers.RMSprop()

        def step(x, y):
            with tf.GradientTape() as tape:
                h = tf.nn.relu(tf.matmul(x, w1) + b1)
                logits = tf.matmul(h, w2) + b2
                loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
            grads = tape.gradient(loss, [w1, b1, w2, b2])
            seen = tf.reduce_sum(tf.matmul(h, w2)) if read_weight else loss   # reads W2 (a kernel call)
            optimizer.apply_gradients(zip(grads, [w1, b1, w2, b2]))
            return loss, seen

        run = tf.function(step) if pipeline is None else tf.function(step, experimental_passes=pipeline)
        with tf.kernels.use("numba"):
            outs = [[float(o.numpy()) for o in run(x, y)] for _ in range(3)]
        results[name] = (outs, [v.numpy() for v in (w1, b1, w2, b2)], run.plan_source())
    assert results["with"][0] == results["without"][0]
    assert all(np.array_equal(a, b) for a, b in zip(results["with"][1], results["without"][1]))
    assert _calls(results["with"][2], "dense_backward_rmsprop") == (0 if read_weight else 1)
