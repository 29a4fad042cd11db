"""The ``fuse_pool_backward`` pass: the backward of Conv2D(relu) -> MaxPooling2D in one or two calls.

Steps written with a GradientTape on ``ops.conv`` (the ops Keras's Conv2D and
MaxPooling2D run) and a Keras convnet's fit, traced with the default
pipeline, against the same function traced with no passes (the recorded
graph: the eager numbers bit for bit).  On the numpy and cython backends the
fused calls run the unfused kernels in sequence, so the numbers are the
same bit for bit; on numba the bias and kernel gradients are summed in
another order (per window, per image, then over the images, in float64 for
the bias), so they agree within float32 rounding.  The pass must leave
alone a graph where the pattern's intermediate values have other readers.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tf
from tapegrad import keras
from tapegrad.ops import conv as conv_ops
from tapegrad.trace import passes
from tapegrad.trace.fuse_pool import fuse_pool_backward


def _block_step(x, w, b, G, wants_x=False, wants_y=False):
    """The gradients of sum(max_pool2d(conv2d(x, w, b, relu)) * G) as a traced function."""
    def step(x):
        with tf.GradientTape() as tape:
            if wants_x:
                tape.watch(x)
            y = conv_ops.conv2d(x, w, b, activation="relu")
            pooled = conv_ops.max_pool2d(y)
            loss = tf.reduce_sum(pooled * G)
        targets = [w, b] + ([x] if wants_x else []) + ([y] if wants_y else [])
        return tape.gradient(loss, targets)
    return step


def _run(step, x, backend, pipeline=None):
    with tf.kernels.use(backend):
        f = tf.function(step) if pipeline is None else tf.function(step, experimental_passes=pipeline)
        f(tf.constant(x))                           # the trace (an eager run)
        results = [t.numpy() for t in f(tf.constant(x))]   # the plan
        return results, f.get_concrete_function()


def _operands(c=1, f=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 11, 12, c)).astype(np.float32)          # conv: 9x10, pool: 4x5 (drops a row)
    w = tf.Variable(rng.standard_normal((3, 3, c, f)).astype(np.float32))
    b = tf.Variable(rng.standard_normal(f).astype(np.float32) * 0.1)
    G = tf.constant(rng.standard_normal((3, 4, 5, f)).astype(np.float32))
    return x, w, b, G


def _ops(graph):
    return [n.op for n in graph.nodes]


def _assert_float32_close(ours, exact, terms):
    scale = np.abs(exact).max() + 1
    assert np.abs(ours - exact).max() <= 8 * np.finfo(np.float32).eps * np.sqrt(terms) * scale


@pytest.mark.parametrize("backend", ["numpy", "numba", "cython"])
def test_a_first_layer_block_becomes_one_call_with_the_unfused_numbers(backend):
    x, w, b, G = _operands()
    step = _block_step(x, w, b, G)
    fused, trace = _run(step, x, backend)
    plain, _ = _run(step, x, backend, pipeline=[])
    assert "max_pool_relu_weight_grads" in _ops(trace.graph)
    assert not {"max_pool2d_backward", "relu_bias_grad", "conv2d_kernel_grad"} & set(_ops(trace.graph))
    for ours, exact in zip(fused, plain):
        if backend == "numba":   # the sums in another order
            _assert_float32_close(ours, exact, 3 * 9 * 10)
        else:                    # the unfused kernels, run in sequence
            assert np.array_equal(ours, exact)


@pytest.mark.parametrize("backend", ["numba", "cython"])
def test_a_layer_whose_input_gradient_is_wanted_keeps_dz_but_fuses_pool_relu_and_bias(backend):
    x, w, b, G = _operands()
    step = _block_step(x, w, b, G, wants_x=True)
    fused, trace = _run(step, x, backend)
    plain, _ = _run(step, x, backend, pipeline=[])
    ops = _ops(trace.graph)
    assert "max_pool_relu_backward" in ops and "conv2d_input_grad" in ops and "conv2d_kernel_grad" in ops
    assert "max_pool2d_backward" not in ops and "relu_bias_grad" not in ops
    dw, db, dx = fused
    assert np.array_equal(dx, plain[2]) and np.array_equal(dw, plain[0])   # from the same dz, routed alike
    _assert_float32_close(db, plain[1], 3 * 9 * 10)


def test_a_deep_layer_keeps_its_kernel_gradient_kernel():
    x, w, b, G = _operands(c=4)                     # 3x3x4 = 36 taps > MAX_FUSED_TAPS
    _, trace = _run(_block_step(x, w, b, G), x, "numba")
    ops = _ops(trace.graph)
    assert "max_pool_relu_backward" in ops and "conv2d_kernel_grad" in ops
    assert "max_pool_relu_weight_grads" not in ops


def test_a_graph_where_dz_has_another_reader_is_left_untouched():
    """The gradient with respect to y itself is wanted: dz is read twice, nothing fuses."""
    x, w, b, G = _operands()
    fused, trace = _run(_block_step(x, w, b, G, wants_y=True), x, "numba")
    before = trace.steps[[name for name, _ in trace.steps].index("fuse_pool_backward") - 1][1]
    assert "max_pool2d_backward" in _ops(before)
    assert _ops(fuse_pool_backward(before)) == _ops(before)
    assert "max_pool_relu_weight_grads" not in _ops(trace.graph)


def test_the_pass_returns_a_new_graph_runs_after_the_optimizer_fusion_and_before_buffers():
    names = [p.__name__ for p in passes.PIPELINE]
    assert names.index("fuse_optimizer_update") < names.index("fuse_pool_backward") < names.index("reuse_buffers")
    x, w, b, G = _operands()
    _, trace = _run(_block_step(x, w, b, G), x, "numba")
    recorded_ops = _ops(trace.recorded)
    fuse_pool_backward(trace.recorded)
    assert _ops(trace.recorded) == recorded_ops            # the graph it was given is unchanged


# ---------------------------------------------------------------- a Keras convnet's fit
def _convnet_fit(backend, eager, optimizer, x, y, epochs=1):
    with tf.kernels.use(backend):
        tf.random.set_seed(5)
        model = keras.Sequential([
            keras.Input(shape=(14, 14, 3)), keras.layers.Conv2D(6, 3, activation="relu"),
            keras.layers.MaxPooling2D(2), keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", run_eagerly=eager)
        history = model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, shuffle=False).history
    return model, history


def _convnet_data():
    rng = np.random.default_rng(8)
    return rng.random((24, 14, 14, 3)).astype(np.float32), rng.integers(0, 10, 24)


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_a_convnet_fit_traced_is_bit_for_bit_eager_where_the_block_runs_unfused(backend):
    x, y = _convnet_data()
    eager, eager_history = _convnet_fit(backend, True, "rmsprop", x, y)
    traced, traced_history = _convnet_fit(backend, False, "rmsprop", x, y)
    source = traced._step_function("_train_step").plan_source()
    assert "max_pool_relu_weight_grads(" in source and "max_pool_relu_backward(" in source
    assert traced_history == eager_history
    for a, b in zip(traced.weights, eager.weights):
        assert np.array_equal(a.numpy(), b.numpy()), a.name


@pytest.mark.parametrize("optimizer", ["rmsprop", "sgd"])
def test_a_convnet_fit_traced_on_numba_is_eager_within_float32_rounding(optimizer):
    """One step (3 batches of 8, one epoch): the bias and kernel sums of the two
    blocks run in another order; RMSprop divides by the gradient's own size, so
    its update is compared in relative terms, SGD's in absolute ones."""
    x, y = _convnet_data()
    eager, eager_history = _convnet_fit("numba", True, optimizer, x, y)
    traced, traced_history = _convnet_fit("numba", False, optimizer, x, y)
    source = traced._step_function("_train_step").plan_source()
    assert "max_pool_relu_weight_grads(" in source and "max_pool_relu_backward(" in source
    assert ("bias_grad_rmsprop" in source) == (optimizer == "rmsprop")
    np.testing.assert_allclose(traced_history["loss"], eager_history["loss"], rtol=1e-5)
    for a, b in zip(traced.weights, eager.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.name)
