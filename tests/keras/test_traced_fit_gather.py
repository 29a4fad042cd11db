"""fit on shuffled arrays hands the traced step the whole arrays and each batch's rows.

The step (``Trainer._train_step_rows``) gathers its batch with ``xp.take``;
the ``fold_gather`` pass (trace/gather.py) makes the first Dense layer's
forward GEMM and its fused RMSprop weight step read the rows where they are
(``dense_forward_rows``, ``weight_grad_rmsprop(..., rows=)``).  Gathering is
exact and those kernels add the same products in the same order, so the
traced fit must equal ``run_eagerly=True`` (which gathers each batch with
``ndarray.take`` before the step) bit for bit, shuffled, with a validation
split and a ragged last batch; and a bad label must still raise, not read
out of bounds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tf
from tapegrad import keras

BACKENDS = [b for b in ("numba", "cython") if b in tf.kernels.available_backends()]


def _mlp(d=40, hidden=48, classes=10):
    # hidden > 16 units: the fused row-reading kernels run (narrower ones gather first)
    return keras.Sequential([keras.Input(shape=(d,)), keras.layers.Dense(hidden, activation="relu"),
                             keras.layers.Dense(classes, activation="softmax")])


def _data(n=100, d=40, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)).astype(np.float32), rng.integers(0, classes, n).astype(np.uint8)


def _fit(build, x, y, eager, backend, **fit_args):
    with tf.kernels.use(backend):
        tf.random.set_seed(11)
        model = build()
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      run_eagerly=eager)
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*runs eagerly")   # traced: no fallback to eager
            history = model.fit(x, y, verbose=0, **fit_args).history
    return model, history


def _same(build, x, y, backend, **fit_args):
    eager_model, eager_history = _fit(build, x, y, True, backend, **fit_args)
    traced_model, traced_history = _fit(build, x, y, False, backend, **fit_args)
    assert traced_history == eager_history
    for a, b in zip(traced_model.weights, eager_model.weights):
        assert np.array_equal(a.numpy(), b.numpy()), a.name
    return traced_model


@pytest.mark.parametrize("backend", BACKENDS)
def test_shuffled_traced_fit_reads_the_rows_in_place_and_is_bit_for_bit_eager(backend):
    x, y = _data()
    model = _same(_mlp, x, y, backend, epochs=3, batch_size=32)   # batches of 32, 32, 32 and a ragged 4
    step = model._step_function("_train_step_rows")
    assert step.experimental_get_tracing_count() == 2
    source = step.plan_source()
    assert source.count("checked_in2 = row_index(in2, 100,") == 1   # the rows checked once a step ...
    assert "dense_forward_rows(in0, checked_in2," in source          # ... for both of their readers
    assert "xp_take(in0" not in source             # the batch of x is never copied out
    assert source.count("rows=checked_in2") == 1   # the first layer's fused RMSprop step reads x[rows]
    assert "class_ids_at(in1, in2," in source      # the labels gathered into their checked copy ...
    assert "xp_take(in1" not in source             # ... in one call


@pytest.mark.parametrize("backend", BACKENDS)
def test_shuffled_traced_fit_with_a_validation_split_is_bit_for_bit_eager(backend):
    x, y = _data(n=130, seed=1)
    _same(_mlp, x, y, backend, epochs=2, batch_size=25, validation_split=0.2)   # 104 = 4 x 25 + 4


def test_a_model_whose_first_layer_cannot_read_rows_keeps_the_gather_and_the_numbers():
    rng = np.random.default_rng(2)
    x = rng.random((36, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 5, 36)

    def build():
        return keras.Sequential([keras.Input(shape=(8, 8, 1)), keras.layers.Conv2D(3, 3, activation="relu"),
                                 keras.layers.Flatten(), keras.layers.Dense(5, activation="softmax")])

    model = _same(build, x, y, BACKENDS[0], epochs=2, batch_size=16)
    assert "xp_take(in0, in2" in model._step_function("_train_step_rows").plan_source()


def test_unshuffled_fit_keeps_the_batches_as_views():
    x, y = _data(n=64)
    model, _ = _fit(_mlp, x, y, False, BACKENDS[0], epochs=1, batch_size=32, shuffle=False)
    assert "_train_step_rows" not in model.__dict__["_traced_steps"]
    assert model._step_function("_train_step").experimental_get_tracing_count() == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_traced_step_given_bad_labels_or_rows_raises_a_clear_error_and_changes_nothing(backend):
    x, y = _data(n=64)
    model, _ = _fit(_mlp, x, y, False, backend, epochs=1, batch_size=32)
    step = model._step_function("_train_step_rows")
    rows = np.arange(32, dtype=np.int64)[::-1].copy()
    before = [w.numpy().copy() for w in model.weights]
    with tf.kernels.use(backend):
        too_large = y.copy()
        too_large[rows[5]] = 10                                  # 10 classes: ids 0..9
        with pytest.raises(ValueError, match="label 10 is out of range"):
            step(x, too_large, rows)
        negative = y.astype(np.int64)
        negative[rows[0]] = -1
        with pytest.raises(ValueError, match="out of range"):
            step(x, negative, rows)
        outside = rows.copy()
        outside[3] = 64                                          # past the last row of x and y
        with pytest.raises(IndexError):
            step(x, y, outside)
    for w, old in zip(model.weights, before):
        assert np.array_equal(w.numpy(), old), w.name                 # every check ran before any update
    with tf.kernels.use(backend):
        longer_y = np.concatenate([y, y])        # a new signature: traced on valid rows, then replayed
        step(x, longer_y, rows)
        with pytest.raises(ValueError, match=r"rows must lie in \[0, 64\)"):
            step(x, longer_y, rows + 40)         # rows that y has and x has not: dense_forward_rows refuses
        step(x, y, rows)                         # a good batch still trains
    assert not np.array_equal(model.weights[0].numpy(), before[0])
