"""The ``fuse_optimizer_update`` pass: RMSprop's update folded into the kernels that make the gradients.

A traced step with the pass must give the numbers of the eager step bit for
bit (the fused kernels add the same products in the same order and update
with the same operations), on every CPU backend; the plan must call the fused
kernels instead of the optimizer's host call; and the pass must leave alone
what it cannot fuse safely (another optimizer, a bias read after its
gradient is made, a gradient someone else reads).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import tapegrad as tf
from tapegrad import keras
from tapegrad.trace import passes
from tapegrad.trace.codegen import Plan
from tapegrad.trace.fuse_optimizer import fuse_optimizer_update


def _calls(source, name):
    """How many lines of a plan call ``name`` (a bound call is named ``name``, ``name1``...)."""
    return len(re.findall(rf"\b{name}\d*\(", source))


def _data(n=100, d=30, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)).astype(np.float32), rng.integers(0, classes, n).astype(np.uint8)


def _mlp_training(backend, eager, x, y, optimizer="rmsprop", epochs=2):
    with tf.kernels.use(backend):
        tf.random.set_seed(3)
        model = keras.Sequential([keras.Input(shape=(x.shape[1],)), keras.layers.Dense(40, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      run_eagerly=eager)
        history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, shuffle=False)
    return model, history.history


@pytest.mark.parametrize("backend", ["numpy", "numba", "cython"])
def test_the_mlp_fit_with_the_fused_update_is_bit_for_bit_the_eager_fit(backend):
    x, y = _data()
    eager, eager_history = _mlp_training(backend, True, x, y)
    traced, traced_history = _mlp_training(backend, False, x, y)
    assert traced_history == eager_history
    for a, b in zip(traced.weights, eager.weights):
        assert np.array_equal(a.numpy(), b.numpy()), a.name
    assert traced.optimizer.iterations == eager.optimizer.iterations == 8   # 4 batches a epoch, 2 epochs
    source = traced._step_function("_train_step").plan_source()
    # W1's step; the output layer's W2, b2 and b1's steps are then one call (fuse_head.py's fuse_head_backward)
    assert _calls(source, "weight_grad_rmsprop") == 1 and _calls(source, "dense_backward_rmsprop") == 1
    assert "_apply_pairs" not in source and "count_step(" in source
    assert "relu_bias_grad(" not in source and "bias_grad(" not in source.replace("bias_grad_rmsprop(", "")


def test_another_optimizer_is_left_as_it_is():
    x, y = _data(n=32)
    model, _ = _mlp_training("numba", False, x, y, optimizer="adam", epochs=1)
    graph = model._step_function("_train_step").get_concrete_function(x, y).recorded
    assert [n.op for n in fuse_optimizer_update(graph).nodes] == [n.op for n in graph.nodes]


def _custom_step(read_bias_before_update, learning_rates=(1e-3,)):
    """A GradientTape loop (chapter 7): one hidden layer, RMSprop; optionally the
    bias is read between the backward pass and the update (its old value)."""
    rng = np.random.default_rng(4)
    w1 = tf.Variable(rng.standard_normal((20, 48)).astype(np.float32) * 0.1, name="w1")
    b1 = tf.Variable(rng.standard_normal(48).astype(np.float32) * 0.1, name="b1")
    w2 = tf.Variable(rng.standard_normal((48, 5)).astype(np.float32) * 0.1, name="w2")
    optimizer = keras.optimizers.RMSprop()
    x = rng.random((24, 20)).astype(np.float32)
    y = rng.integers(0, 5, 24)

    def step(x, y):
        with tf.GradientTape() as tape:
            h = tf.nn.relu(tf.matmul(x, w1) + b1)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, tf.matmul(h, w2), from_logits=True))
        grads = tape.gradient(loss, [w1, b1, w2])
        seen = tf.reduce_sum(b1 * 1.0) if read_bias_before_update else loss
        optimizer.apply_gradients(zip(grads, [w1, b1, w2]))
        return loss, seen

    return step, (w1, b1, w2), optimizer, x, y


@pytest.mark.parametrize("read_bias", [False, True], ids=["plain", "bias read before the update"])
def test_a_gradient_tape_loop_traced_with_the_pass_gives_the_unfused_numbers(read_bias):
    """Bit for bit the plan without this pass; the eager loop within float32
    rounding (``fuse_elementwise`` sums the bias gradient in another order)."""
    without = [p for p in passes.PIPELINE if p is not fuse_optimizer_update]
    results, sources = {}, {}
    for mode in ("eager", "without", "with"):
        step, variables, optimizer, x, y = _custom_step(read_bias)
        run = step if mode == "eager" else tf.function(step, experimental_passes=without if mode == "without" else None)
        outs = []
        for i in range(3):
            optimizer.learning_rate = 1e-3 * (i + 1)      # changed between steps: the plan must follow
            outs.append([float(o.numpy()) for o in run(x, y)])
        results[mode] = (outs, [v.numpy() for v in variables], optimizer.iterations)
        if mode != "eager":
            sources[mode] = run.plan_source()
    assert results["with"][0] == results["without"][0]
    assert all(np.array_equal(a, b) for a, b in zip(results["with"][1], results["without"][1]))
    for a, b in zip(results["with"][1], results["eager"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert results["with"][2] == results["eager"][2] == 3
    source = sources["with"]
    assert "_apply_pairs(" in sources["without"] and _calls(source, "weight_grad_rmsprop") == 2
    if read_bias:   # b1 is read after its gradient is made: its update stays in the optimizer's call
        assert "_apply_pairs(" in source and "bias_grad_rmsprop(" not in source
    else:
        assert "bias_grad_rmsprop(" in source and "_apply_pairs(" not in source


def test_the_pass_returns_a_new_graph_and_is_in_the_pipeline():
    step, _, optimizer, x, y = _custom_step(False)
    f = tf.function(step, experimental_passes=[])
    f(x, y)
    graph = f.get_concrete_function().recorded
    before = [n.op for n in graph.nodes]
    fused = fuse_optimizer_update(graph)
    assert [n.op for n in graph.nodes] == before           # the graph given is unchanged
    ops = [n.op for n in fused.nodes]
    assert ops.count("weight_grad_rmsprop") == 2 and before.count("matmul") - ops.count("matmul") == 2
    # as recorded, b1's gradient is an xp.sum (fuse_elementwise makes it a kernel): it stays in the host call
    (apply,) = [n for n in fused.nodes if n.op == "RMSprop._apply_pairs"]
    assert [pair[1].value.source.name for pair in apply.args[1]] == ["b1:0"]
    fully = fuse_optimizer_update(passes.fuse_elementwise(graph))
    assert "RMSprop._apply_pairs" not in [n.op for n in fully.nodes]
    assert fuse_optimizer_update in passes.PIPELINE
    assert passes.PIPELINE.index(fuse_optimizer_update) < passes.PIPELINE.index(passes.reuse_buffers)
    out = Plan(passes.reuse_buffers(passes.dead_code(fully))).run(x, y)   # the fused graph replays
    assert np.isfinite(out[0]._data)
