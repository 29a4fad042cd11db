"""The ``bind_kernels`` pass: a plan's GEMM and RMSprop calls bound to the backend's entry points.

A bound call skips the public API's checks that the trace settled (the
inputs' signature, the plan's own buffers) and keeps the ones on what can
change between steps: a Variable's array, the batch's row numbers, the
optimizer's hyperparameters.  Each test compares a bound plan with the same
plan run through the public API (``PIPELINE`` minus ``bind_kernels``): the
numbers must agree bit for bit, and bad values must raise the API's errors.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import tapegrad as tf
from tapegrad import keras
from tapegrad.trace import passes
from tapegrad.trace.bind import bind_kernels
from tapegrad.trace.function import Function

BACKENDS = [b for b in ("numba", "cython") if b in tf.kernels.available_backends()]
UNBOUND = [p for p in passes.PIPELINE if p is not bind_kernels]


def _model(backend, bound):
    with tf.kernels.use(backend):
        tf.random.set_seed(5)
        model = keras.Sequential([keras.Input(shape=(30,)), keras.layers.Dense(40, activation="relu"),
                                  keras.layers.Dense(7, activation="softmax")])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        if not bound:
            step = model._train_step
            model.__dict__.setdefault("_traced_steps", {})["_train_step"] = (step.__func__, Function(
                step, strict_numpy=False, name="unbound", arrays_as_tensors=False, passes=UNBOUND))
    return model


def _batch(seed=0, n=24):
    rng = np.random.default_rng(seed)
    return rng.random((n, 30)).astype(np.float32), rng.integers(0, 7, n).astype(np.uint8)


def _steps(model, backend, batches, between=None):
    with tf.kernels.use(backend):
        for i, (x, y) in enumerate(batches):
            model.train_on_batch(x, y)
            if between is not None:
                between(model, i)
    return [w.numpy().copy() for w in model.weights]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bound_plan_gives_the_public_apis_numbers_bit_for_bit(backend):
    batches = [_batch(seed) for seed in range(4)]
    bound, unbound = _model(backend, True), _model(backend, False)
    for a, b in zip(_steps(bound, backend, batches), _steps(unbound, backend, batches)):
        assert np.array_equal(a, b)
    graph = bound._step_function("_train_step").get_concrete_function().graph
    names = {n.op: n.fn.__name__ for n in graph.nodes}
    assert names["dense_forward"] == "dense_forward_bound"
    assert names["weight_grad_rmsprop"] == "weight_grad_rmsprop_bound"
    assert names["softmax_cross_entropy_head"] == "softmax_cross_entropy_head_bound"   # fuse_head.py's two calls
    assert names["dense_backward_rmsprop"] == "dense_backward_rmsprop_bound"
    unbound_graph = unbound._step_function("_train_step").get_concrete_function().graph
    assert all(not n.fn.__name__.endswith("_bound") for n in unbound_graph.nodes)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_variable_array_replaced_between_steps_takes_the_checked_path(backend):
    """A Variable's array is read at each step; one the trace did not see
    (Fortran-ordered, then float64) goes through the public API, which refuses
    to update it in place with the API's own error, as the unbound plan does."""
    x, y = _batch()
    for bound in (True, False):
        model = _model(backend, bound)
        _steps(model, backend, [(x, y)])
        kernel = model.layers[0].kernel
        kernel._data = np.asfortranarray(kernel._data)
        with tf.kernels.use(backend), pytest.raises(ValueError, match="w is updated in place, so it must be "
                                                                       "a writeable C-contiguous array"):
            model.train_on_batch(x, y)
        kernel._data = np.ascontiguousarray(kernel._data, dtype=np.float64)
        with tf.kernels.use(backend), pytest.raises(TypeError, match="dtype"):
            model.train_on_batch(x, y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layer, which", [(0, "weight"), (0, "slot"), (1, "weight"), (1, "slot")])
def test_a_read_only_weight_or_slot_takes_the_checked_path(backend, layer, which):
    """The arrays a fused update writes (the kernel, its mean squares) must stay
    writeable: a read-only one sends the bound call through the API, which refuses it
    with its own error, as the unbound plan does (leaving the weights as it does)."""
    x, y = _batch()
    after = []
    for bound in (True, False):
        model = _model(backend, bound)
        _steps(model, backend, [(x, y)])
        kernel = model.layers[layer].kernel
        target = kernel if which == "weight" else model.optimizer.slots_for(kernel)[0]
        target._data.flags.writeable = False
        with tf.kernels.use(backend), pytest.raises(ValueError, match="is updated in place, so it must be a "
                                                                       "writeable C-contiguous array"):
            model.train_on_batch(x, y)
        after.append([w.numpy().copy() for w in model.weights])
    assert all(np.array_equal(a, b) for a, b in zip(*after))


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_learning_rate_is_read_and_checked_at_every_bound_step(backend):
    batches = [_batch(seed) for seed in range(3)]

    def slower(model, i):
        model.optimizer.learning_rate = 0.0001 * (i + 2)

    bound, unbound = _model(backend, True), _model(backend, False)
    for a, b in zip(_steps(bound, backend, batches, slower), _steps(unbound, backend, batches, slower)):
        assert np.array_equal(a, b)
    bound.optimizer.learning_rate = -1.0
    with tf.kernels.use(backend), pytest.raises(ValueError, match="learning_rate must be >= 0"):
        bound.train_on_batch(*batches[0])


@pytest.mark.parametrize("value", [0.0, -0.0, 1e-300, 0.5, 0.999999, 1.0, 2.0, -1e-300, -1.0, math.inf,
                                   -math.inf, math.nan, 3, np.float32(0.5), np.float64(1.0), True, "0.1"])
@pytest.mark.parametrize("which", ["learning_rate", "rho", "epsilon"])
def test_the_settings_a_bound_step_reads_are_checked_as_the_api_checks_them(which, value):
    """``prepared.learning_settings`` returns three floats in range at once; every other
    value goes through the API's checks: the same floats, or the same error, as them."""
    from tapegrad.kernels._checks import positive_float
    from tapegrad.kernels.optim.api import _unit_interval
    from tapegrad.kernels.prepared import learning_settings

    settings = {"learning_rate": 0.001, "rho": 0.9, "epsilon": 1e-7, which: value}
    checks = {"learning_rate": lambda v: positive_float(v, "learning_rate", "f", allow_zero=True),
              "rho": lambda v: _unit_interval(v, "rho", "f"), "epsilon": lambda v: positive_float(v, "epsilon", "f")}
    try:
        want = tuple(checks[k](settings[k]) for k in ("learning_rate", "rho", "epsilon"))
    except (TypeError, ValueError) as error:
        with pytest.raises(type(error), match=re.escape(str(error))):
            learning_settings(settings["learning_rate"], settings["rho"], settings["epsilon"], "f")
    else:
        got = learning_settings(settings["learning_rate"], settings["rho"], settings["epsilon"], "f")
        assert got == want and all(type(v) is float for v in got)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bound_step_still_refuses_a_label_out_of_range(backend):
    x, y = _batch()
    model = _model(backend, True)
    _steps(model, backend, [(x, y)])
    before = [w.numpy().copy() for w in model.weights]
    bad = y.copy()
    bad[3] = 7                                                   # 7 classes: ids 0..6
    with tf.kernels.use(backend), pytest.raises(ValueError, match="label 7 is out of range"):
        model._step_function("_train_step")(x, bad)
    for w, old in zip(model.weights, before):
        assert np.array_equal(w.numpy(), old)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_strided_operand_takes_the_checked_path_and_gives_numpys_product(backend):
    """An input traced as a transposed view (its signature says not C-contiguous)
    reaches a bound ``matmul``: the layout guard sends it through the API."""
    rng = np.random.default_rng(3)
    w = tf.Variable(rng.standard_normal((6, 5)).astype(np.float32))
    with tf.kernels.use(backend):
        @tf.function
        def doubled_product(x):
            return tf.matmul(x, w) * 2.0

        for _ in range(2):
            x = rng.standard_normal((6, 7)).astype(np.float32).T          # (7, 6), Fortran-ordered
            got = doubled_product(x).numpy()
            np.testing.assert_allclose(got, 2.0 * (x @ w.numpy()), rtol=1e-5, atol=1e-5)
        graph = doubled_product.get_concrete_function().graph
        assert [n.fn.__name__ for n in graph.nodes if n.op == "matmul"] == ["matmul_bound"]


def _convnet(backend, bound):
    with tf.kernels.use(backend):
        tf.random.set_seed(6)
        layers = keras.layers
        model = keras.Sequential([keras.Input(shape=(12, 12, 2)), layers.Conv2D(4, 3, activation="relu"),
                                  layers.MaxPooling2D(2), layers.Conv2D(6, 2, padding="same"),
                                  layers.MaxPooling2D(2, strides=1), layers.Flatten(),
                                  layers.Dense(5, activation="softmax")])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
        if not bound:
            step = model._train_step
            model.__dict__.setdefault("_traced_steps", {})["_train_step"] = (step.__func__, Function(
                step, strict_numpy=False, name="unbound", arrays_as_tensors=False, passes=UNBOUND))
    return model


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bound_convnet_plan_gives_the_public_apis_numbers_bit_for_bit(backend):
    rng = np.random.default_rng(8)
    batches = [(rng.random((10, 12, 12, 2)).astype(np.float32), rng.integers(0, 5, 10)) for _ in range(3)]
    bound, unbound = _convnet(backend, True), _convnet(backend, False)
    for a, b in zip(_steps(bound, backend, batches), _steps(unbound, backend, batches)):
        assert np.array_equal(a, b)
    graph = bound._step_function("_train_step").get_concrete_function().graph
    names = {n.op: n.fn.__name__ for n in graph.nodes}
    assert names["conv2d"] == "conv2d_bound" and names["max_pool2d"] == "max_pool2d_bound"
    assert names["conv2d_input_grad"] == "conv2d_input_grad_bound"
    assert names["conv2d_kernel_grad"] == "conv2d_kernel_grad_bound"
    assert names["max_pool2d_backward"] == "max_pool2d_backward_bound"   # the pool after the linear conv
    assert "max_pool_relu_weight_grads" in names   # conv1 (relu) -> pool: fuse_pool_backward's one call


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_input_that_is_the_weight_an_update_writes_takes_the_checked_path(backend):
    """A GradientTape step (chapter 7) given, as its input batch, the very array of
    the weight it updates: the bound update sees the overlap and takes the API's
    path (which reads a copy), so bound and unbound plans agree bit for bit (200 rows of
    W: more than one block of the GEMM, so a kernel reading W while writing it would differ)."""
    results = []
    for pipeline in (None, UNBOUND):
        rng = np.random.default_rng(9)
        w = tf.Variable(rng.standard_normal((200, 200)).astype(np.float32) * 0.1, name="w")
        b = tf.Variable(np.zeros(200, np.float32), name="b")
        optimizer = keras.optimizers.RMSprop()
        y = rng.integers(0, 200, 200)

        def step(x, labels):
            with tf.GradientTape() as tape:
                logits = tf.nn.relu(tf.matmul(x, w) + b)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
            grads = tape.gradient(loss, [w, b])
            optimizer.apply_gradients(zip(grads, [w, b]))
            return loss

        traced = tf.function(step) if pipeline is None else tf.function(step, experimental_passes=pipeline)
        with tf.kernels.use(backend):
            traced(rng.random((200, 200)).astype(np.float32), y)           # traced on a plain batch
            for _ in range(2):
                traced(w._data, y)                                        # then the weight's own array
        if pipeline is None:
            names = [n.fn.__name__ for n in traced.get_concrete_function().graph.nodes]
            assert "weight_grad_rmsprop_bound" in names
        results.append((w.numpy().copy(), b.numpy().copy()))
    assert all(np.array_equal(a, c) for a, c in zip(*results))


@pytest.mark.parametrize("backend", BACKENDS)
def test_rows_read_from_two_arrays_are_checked_against_each_once(backend):
    """One ``row_index`` line per (rows, number of rows of x), before its first reader;
    each reader takes the copy checked against its own x, under a name of its own."""
    be = tf.kernels.get_backend(backend)
    rng = np.random.default_rng(7)
    w = rng.random((30, 40)).astype(np.float32)

    def f(a, b, rows):
        return [tf.kernels.dense_forward_rows(x, rows, w, backend=be) for x in (a, b, a)]

    traced = Function(f, strict_numpy=False, arrays_as_tensors=False)
    a, b = rng.random((10, 30)).astype(np.float32), rng.random((20, 30)).astype(np.float32)
    rows = np.array([1, 5, 9])
    for got, x in zip(traced(a, b, rows), (a, b, a)):
        np.testing.assert_allclose(got, x[rows] @ w, rtol=1e-5)
    source = traced.plan_source()
    assert source.count("= row_index(in2,") == 2
    assert "checked_in2 = row_index(in2, 10," in source and "checked_in2_1 = row_index(in2, 20," in source
    assert source.count("dense_forward_rows(in0, checked_in2,") == 2
    with pytest.raises(ValueError, match=r"rows must lie in \[0, 10\)"):
        traced(a, b, np.array([1, 15, 3]))
