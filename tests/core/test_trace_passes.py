"""The passes of tapegrad.trace, one at a time, on graphs traced from small functions.

Each pass must return a new graph (the one it was given unchanged) that
computes the same numbers; the checks replay the plan of each and compare
with NumPy.
"""

from __future__ import annotations

import numpy as np

import tapegrad as tf
from tapegrad.trace import Graph, Node, Value, graph_to_dot, passes
from tapegrad.trace.codegen import Plan


def _traced(fn, *args, pipeline=()):
    f = tf.function(fn, experimental_passes=list(pipeline))
    f(*args)
    return f, f.get_concrete_function()


def _ops(graph):
    return [n.op for n in graph.nodes]


def test_dead_code_drops_what_nothing_reads_and_keeps_effects():
    w = tf.Variable(np.ones((3, 3), np.float32))
    x = np.arange(9, dtype=np.float32).reshape(3, 3)

    def f(x):
        unused = tf.matmul(x, x)                  # computed, never read  # noqa: F841
        w.assign_add(x)                           # an effect: kept although nothing reads it
        return tf.nn.relu(x)

    f_traced, trace = _traced(f, x)
    graph = trace.recorded
    assert _ops(graph) == ["matmul", "Variable.assign_add", "relu"]
    pruned = passes.dead_code(graph)
    assert _ops(pruned) == ["Variable.assign_add", "relu"]
    assert _ops(graph) == ["matmul", "Variable.assign_add", "relu"]    # the input graph is unchanged
    before = w.numpy()
    out = Plan(pruned).run(x)
    assert np.array_equal(out[0]._data, np.maximum(x, 0)) and np.array_equal(w.numpy(), before + x)


def test_reuse_buffers_shares_a_buffer_only_between_values_that_do_not_overlap():
    x = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)

    def chain(x):   # a -> b -> c -> d: each value dies once the next is made
        a = tf.matmul(x, x)
        b = tf.matmul(a, x)
        c = tf.matmul(b, x)
        return tf.reduce_sum(tf.matmul(c, x))

    _, trace = _traced(chain, x)
    planned = passes.reuse_buffers(trace.recorded)
    matmuls = [n for n in planned.nodes if n.op == "matmul"]
    assert all(n.buffer is not None for n in matmuls)
    assert len(planned.buffers) == 2                       # a and c share one, b and d the other
    assert matmuls[0].buffer is matmuls[2].buffer and matmuls[1].buffer is matmuls[3].buffer
    assert matmuls[0].buffer is not matmuls[1].buffer      # b is made while a is read
    expected = ((x @ x @ x @ x) @ x).sum()
    plan = Plan(planned)
    for _ in range(2):                                     # the same buffers, step after step
        np.testing.assert_allclose(float(plan.run(x)[0]), expected, rtol=1e-5)


def test_a_returned_value_gets_no_buffer():
    x = np.ones((2, 2), np.float32)
    _, trace = _traced(lambda x: tf.matmul(x, x), x)
    planned = passes.reuse_buffers(trace.recorded)
    assert planned.buffers == [] and planned.nodes[0].buffer is None


def test_fold_constants_runs_constant_calls_once():
    x = np.ones(3, np.float32)

    def f(x):
        return x * (tf.constant(2.0) + tf.constant(3.0))

    _, trace = _traced(f, x)
    assert _ops(trace.recorded)[-2:] == ["xp.add", "xp.multiply"]   # after the two constants' asarray
    folded = passes.fold_constants(trace.recorded)
    assert _ops(folded) == ["xp.multiply"]
    assert np.array_equal(Plan(folded).run(x)[0]._data, np.full(3, 5.0, np.float32))


def test_fuse_elementwise_makes_one_dense_forward_of_matmul_bias_relu():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    w = tf.constant(rng.standard_normal((4, 3)).astype(np.float32))
    b = tf.constant(rng.standard_normal(3).astype(np.float32))

    def layer(x):
        return tf.nn.relu(tf.matmul(x, w) + b)

    _, trace = _traced(layer, x)
    fused = passes.fuse_elementwise(trace.recorded)
    assert _ops(fused) == ["dense_forward"] and fused.nodes[0].fused == ("matmul", "xp.add", "relu")
    np.testing.assert_allclose(Plan(fused).run(x)[0]._data, np.maximum(x @ w.numpy() + b.numpy(), 0),
                               rtol=1e-5, atol=1e-6)


def test_no_fusion_when_the_intermediate_is_read_elsewhere():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    w = tf.constant(rng.standard_normal((4, 3)).astype(np.float32))
    b = tf.constant(rng.standard_normal(3).astype(np.float32))

    def layer(x):
        z = tf.matmul(x, w) + b
        return tf.nn.relu(z), z                    # z is returned: relu cannot swallow it

    _, trace = _traced(layer, x)
    fused = passes.fuse_elementwise(trace.recorded)
    assert _ops(fused) == ["dense_forward", "relu"] and fused.nodes[0].kwargs["activation"] is None


def test_a_pass_is_one_function_on_the_graph_data_structure():
    """The interface other passes build on: nodes are calls on Values; a pass
    may replace nodes; the plan runs whatever the graph says."""
    x = np.arange(4, dtype=np.float32)
    _, trace = _traced(lambda x: x * 2.0, x)

    def triple_instead(graph):
        graph = graph.copy()
        node = graph.nodes[0]
        graph.nodes[0] = Node("xp.multiply", np.multiply, (node.args[0], 3.0), {}, node.outputs)
        return graph

    changed = triple_instead(trace.recorded)
    assert isinstance(changed, Graph) and all(isinstance(v, Value) for v in changed.inputs)
    assert np.array_equal(Plan(changed).run(x)[0]._data, x * 3.0)
    assert np.array_equal(Plan(trace.recorded).run(x)[0]._data, x * 2.0)
    assert passes.PIPELINE[-2:] == [passes.reuse_buffers, passes.bind_kernels]   # buffers planned, then bound


def test_the_drawing_names_every_call_and_value():
    w = tf.Variable(np.ones((2, 2), np.float32), name="w")
    f, trace = _traced(lambda x: tf.matmul(x, w), np.ones((3, 2), np.float32), pipeline=passes.PIPELINE)
    dot = graph_to_dot(trace.graph, "title")
    assert dot.startswith("digraph traced {") and dot.rstrip().endswith("}")
    assert '"matmul' in dot and "w:0" in dot and "float32[3, 2]" in dot and 'label="title"' in dot
    assert f.graph_dot(passes=False) != f.graph_dot() or trace.graph.nodes == trace.recorded.nodes


def test_relu_backward_and_its_column_sums_become_one_relu_bias_grad():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    b = tf.Variable(np.zeros(4, np.float32))
    b2 = tf.Variable(np.zeros(4, np.float32))

    def grads(x):
        with tf.GradientTape() as tape:
            h = tf.nn.relu(x + b)
            loss = tf.reduce_sum((h + b2) * x)
        return tape.gradient(loss, [b, b2])

    _, trace = _traced(grads, x)
    fused = passes.fuse_elementwise(trace.recorded)
    assert [n.fused for n in fused.nodes if n.fused] == [("relu_backward", "xp.sum", "view"), ("xp.sum", "view")]
    got = Plan(fused).run(x)
    np.testing.assert_allclose(got[0]._data, (x * ((x + 0) > 0)).sum(0), rtol=1e-5)   # d/db through relu
    np.testing.assert_allclose(got[1]._data, x.sum(0), rtol=1e-5)
