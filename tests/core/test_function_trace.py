"""tapegrad.function (tf.function): traced once per signature, replayed with the eager numbers.

Each replay is checked against the same Python run eagerly (``python_function``)
on copies of the same state: bit for bit, since the plan calls the same
kernels in the same order.  The semantics are TF 2's: Python side effects at
trace time only, a new shape or Python constant retraces, ``tapegrad.print``
prints at run time, ``.numpy()`` inside is an error that says why.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tf
from tapegrad.trace import TracedNumpyError, passes


def _rng(seed=0):
    return np.random.default_rng(seed)


def _assert_same(a, b):
    a = a.numpy() if isinstance(a, tf.Tensor) else np.asarray(a)
    b = b.numpy() if isinstance(b, tf.Tensor) else np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b), np.abs(a - b).max()


# ---------------------------------------------------------------- a hand-written training loop
def _mlp_weights(seed):
    rng = _rng(seed)
    return [tf.Variable(rng.standard_normal((20, 16)).astype(np.float32) * 0.3),
            tf.Variable(np.zeros(16, np.float32)),
            tf.Variable(rng.standard_normal((16, 5)).astype(np.float32) * 0.3),
            tf.Variable(np.zeros(5, np.float32))]


def _loop_step(weights, optimizer):
    def step(x, y):
        w1, b1, w2, b2 = weights
        with tf.GradientTape() as tape:
            h = tf.nn.relu(tf.matmul(x, w1) + b1)
            logits = tf.matmul(h, w2) + b2
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        grads = tape.gradient(loss, weights)
        optimizer.apply_gradients(zip(grads, weights))
        return loss
    return step


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adam"])
def test_a_gradient_tape_loop_traced_gives_the_eager_numbers_bit_for_bit(optimizer):
    """Without fusion the plan runs the eager kernels in the eager order: the same bits."""
    eager_w, traced_w = _mlp_weights(1), _mlp_weights(1)
    eager = _loop_step(eager_w, tf.keras.optimizers.get(optimizer))
    traced = tf.function(_loop_step(traced_w, tf.keras.optimizers.get(optimizer)),
                         experimental_passes=[passes.dead_code, passes.reuse_buffers])
    rng = _rng(2)
    for _ in range(5):
        x = rng.standard_normal((32, 20)).astype(np.float32)
        y = rng.integers(0, 5, 32)
        _assert_same(traced(x, y), eager(x, y))
    for a, b in zip(traced_w, eager_w):
        _assert_same(a, b)
    assert traced.experimental_get_tracing_count() == 1
    assert traced.get_concrete_function().graph.buffers     # the plan writes into planned buffers


def test_with_fusion_the_loop_matches_eager_within_float32_rounding_and_fuses_dense():
    """``relu(matmul(x, w) + b)`` becomes one ``dense_forward`` (bias and relu in the GEMM's
    epilogue), the bias gradients ``relu_bias_grad`` and ``bias_grad``: the same numbers up
    to the rounding of another order of the sums."""
    eager_w, traced_w = _mlp_weights(1), _mlp_weights(1)
    eager = _loop_step(eager_w, tf.keras.optimizers.SGD(0.1))
    traced = tf.function(_loop_step(traced_w, tf.keras.optimizers.SGD(0.1)))
    rng = _rng(2)
    for _ in range(5):
        x = rng.standard_normal((32, 20)).astype(np.float32)
        y = rng.integers(0, 5, 32)
        np.testing.assert_allclose(traced(x, y).numpy(), eager(x, y).numpy(), rtol=1e-5)
    for a, b in zip(traced_w, eager_w):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    trace = traced.get_concrete_function()
    fused = [n for n in trace.graph.nodes if n.fused]
    assert [n.fused for n in fused] == [("matmul", "xp.add", "relu"), ("matmul", "xp.add"),
                                        ("relu_backward", "xp.sum", "view"), ("xp.sum", "view")]
    assert [n.op for n in trace.recorded.nodes].count("matmul") == len(
        [n for n in trace.graph.nodes if n.op == "matmul"]) + 2


def test_a_manual_sgd_loop_with_assign_sub_is_traced_and_updates_persist():
    """The book's chapter 2 loop: ``w.assign_sub(lr * g)`` on Variables captured from outside."""
    w = tf.Variable(np.ones((3, 2), np.float32))
    w_eager = tf.Variable(np.ones((3, 2), np.float32))

    def make(weight):
        def step(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.square(tf.matmul(x, weight)))
            g = tape.gradient(loss, weight)
            weight.assign_sub(g * 0.01)
            return loss
        return step

    traced, eager = tf.function(make(w)), make(w_eager)
    x = tf.constant(_rng(3).standard_normal((4, 3)).astype(np.float32))
    for _ in range(4):
        _assert_same(traced(x), eager(x))
    _assert_same(w, w_eager)
    assert not np.array_equal(w.numpy(), np.ones((3, 2), np.float32))
    w.assign(np.full((3, 2), 2.0, np.float32))       # a write from outside is seen by the next call
    w_eager.assign(np.full((3, 2), 2.0, np.float32))
    _assert_same(traced(x), eager(x))


# ---------------------------------------------------------------- TF's semantics
def test_python_side_effects_run_at_trace_time_only_and_shapes_retrace():
    seen = []

    @tf.function
    def f(x):
        seen.append(x.shape)
        return x * 2.0

    x3, x4 = tf.constant(np.arange(3, dtype=np.float32)), tf.constant(np.arange(4, dtype=np.float32))
    for _ in range(3):
        _assert_same(f(x3), np.arange(3, dtype=np.float32) * 2)
    assert seen == [(3,)] and f.experimental_get_tracing_count() == 1
    _assert_same(f(x4), np.arange(4, dtype=np.float32) * 2)
    assert seen == [(3,), (4,)] and f.experimental_get_tracing_count() == 2
    f(tf.constant(np.arange(3, dtype=np.float64)))     # a new dtype retraces too
    assert f.experimental_get_tracing_count() == 3
    f(x3)
    assert f.experimental_get_tracing_count() == 3


def test_a_new_python_constant_retraces_and_the_same_one_does_not():
    @tf.function
    def scale(x, factor):
        return x * factor

    x = tf.constant(np.ones(3, np.float32))
    _assert_same(scale(x, 2.0), np.full(3, 2.0, np.float32))
    _assert_same(scale(x, 2.0), np.full(3, 2.0, np.float32))
    assert scale.experimental_get_tracing_count() == 1
    _assert_same(scale(x, 3.0), np.full(3, 3.0, np.float32))    # not the traced 2.0
    assert scale.experimental_get_tracing_count() == 2


def test_the_short_key_of_an_arrays_only_call_tells_every_signature_apart():
    """A call of arrays or tensors only is looked up by a short key (``_flat_key``) after
    its first full walk: each shape, dtype, layout and backend must still find its own
    trace, in any order, and a Variable or a list keeps taking the full walk."""
    from tapegrad.trace.function import Function

    def f(x):    # the layout read at trace time (as a shape may be): each trace adds its own constant
        layout = (x._data if isinstance(x, tf.Tensor) else x).flags.c_contiguous
        return tf.nn.relu(x) * 2.0 + x + (0.0 if layout else 1.0)

    rng = _rng(6)
    base = rng.standard_normal((5, 4)).astype(np.float32)
    calls = {
        "float32": lambda: base.copy(),
        "a new shape": lambda: base[:3].copy(),
        "float64": lambda: base.astype(np.float64),
        "a transposed view": lambda: np.ascontiguousarray(base.T).T,
    }
    arrays = Function(f, arrays_as_tensors=False)     # fit's steps: arrays stay arrays
    tensors = tf.function(f)
    for _ in range(3):
        for kind, make in calls.items():
            x = make()
            want = np.maximum(x, 0) * x.dtype.type(2) + x + x.dtype.type(0 if x.flags.c_contiguous else 1)
            _assert_same(arrays(x), want)
            _assert_same(tensors(tf.convert_to_tensor(x)), want)     # (a view stays a view)
    # one trace per signature, however often each came back
    assert arrays.experimental_get_tracing_count() == len(calls)
    assert tensors.experimental_get_tracing_count() == len(calls)
    with tf.kernels.use("numpy"):      # a tensor of another backend is another signature
        tensors(tf.constant(base))
    assert tensors.experimental_get_tracing_count() == len(calls) + 1

    v = tf.Variable(base)              # a Variable is captured by identity: the full walk
    g = tf.function(lambda x: x * 2.0)
    _assert_same(g(v), base * 2.0)
    v.assign(base + 1.0)
    _assert_same(g(v), (base + 1.0) * 2.0)
    assert g.experimental_get_tracing_count() == 1


def test_new_input_values_reach_the_replay():
    @tf.function
    def f(x, w):
        return tf.nn.relu(tf.matmul(x, w))

    rng = _rng(4)
    w = tf.constant(rng.standard_normal((5, 3)).astype(np.float32))
    for _ in range(3):
        x = rng.standard_normal((7, 5)).astype(np.float32)
        _assert_same(f(x, w), np.maximum(x @ w.numpy(), 0))
    assert f.experimental_get_tracing_count() == 1


def test_tapegrad_print_prints_at_every_call_and_python_print_once(capsys):
    @tf.function
    def f(x):
        print("tracing")
        tf.print("value:", x * 2.0)
        return x

    f(tf.constant(np.array([1.0, 2.0], np.float32)))
    f(tf.constant(np.array([3.0, 4.0], np.float32)))
    out, err = capsys.readouterr()
    assert out.count("tracing") == 1
    assert err.splitlines() == ["value: [2. 4.]", "value: [6. 8.]"]   # TF prints to stderr


def test_numpy_of_a_traced_tensor_is_an_error_that_says_why():
    @tf.function
    def f(x):
        return (x * 2.0).numpy()

    with pytest.raises(TracedNumpyError, match=r"numpy\(\) is not available inside tapegrad.function"):
        f(tf.constant(np.ones(2, np.float32)))
    assert isinstance(TracedNumpyError("x"), TypeError)
    _assert_same(f.python_function(tf.constant(np.ones(2, np.float32))), np.full(2, 2.0, np.float32))


def test_control_flow_on_a_tensor_value_falls_back_to_eager_with_one_warning():
    @tf.function
    def f(x):
        if tf.reduce_sum(x) > 0:
            return x * 2.0
        return x * -1.0

    pos, neg = tf.constant(np.ones(2, np.float32)), tf.constant(-np.ones(2, np.float32))
    with pytest.warns(RuntimeWarning, match="runs eagerly.*Python read the value of a traced tensor"):
        _assert_same(f(pos), np.full(2, 2.0, np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # one warning only: the signature is now eager
        _assert_same(f(neg), np.full(2, 1.0, np.float32))   # the other branch: not a stale replay
        _assert_same(f(pos), np.full(2, 2.0, np.float32))


def test_a_random_draw_inside_falls_back_to_eager_never_a_frozen_draw():
    @tf.function
    def f(x):
        return x + tf.random.uniform((3,))

    x = tf.constant(np.zeros(3, np.float32))
    with pytest.warns(RuntimeWarning, match="runs eagerly"):
        first = f(x).numpy()
    assert not np.array_equal(first, f(x).numpy())


def test_variables_are_captured_by_reference():
    v = tf.Variable(np.zeros(2, np.float32))

    @tf.function
    def bump(x):
        v.assign_add(x)
        return v * 1.0

    one = tf.constant(np.ones(2, np.float32))
    _assert_same(bump(one), np.ones(2, np.float32))
    _assert_same(bump(one), np.full(2, 2.0, np.float32))
    _assert_same(v, np.full(2, 2.0, np.float32))
    v.assign(np.full(2, 10.0, np.float32))
    _assert_same(bump(one), np.full(2, 11.0, np.float32))


def _host_backends():
    names = []
    for name in ("numpy", "numba", "cython"):
        try:
            tf.kernels.get_backend(name)
        except tf.kernels.BackendUnavailableError:
            continue
        names.append(name)
    return names


@pytest.mark.parametrize("made_on", _host_backends())
@pytest.mark.parametrize("traced_on", _host_backends())
def test_a_captured_variable_on_another_backend_is_read_at_each_call(made_on, traced_on):
    # A Variable made on one backend, the function traced inside ``kernels.use`` of another:
    # the ops on the Variable run on its own backend's array functions, which the tracer must
    # record too (it once followed only the default and the arguments' backends, and froze
    # tf.reduce_sum(w) into the plan as the number it had at trace time).
    with tf.kernels.use(made_on):
        w = tf.Variable(np.ones((3, 2), np.float32))
    x = tf.constant(np.ones((1, 3), np.float32))

    def f(x):
        return (tf.reduce_sum(w), tf.reduce_mean(w * 1.0, axis=0), tf.matmul(x, w), tf.reduce_max(w))

    with tf.kernels.use(traced_on):
        traced = tf.function(f)
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*runs eagerly")   # traced, not run eagerly
            traced(x)
            for fill in (2.0, -3.5):
                values = np.arange(6, dtype=np.float32).reshape(3, 2) * fill
                w.assign(values)
                got = [t.numpy() for t in traced(x)]
                expected = [values.sum(), values.mean(axis=0), np.ones((1, 3), np.float32) @ values,
                            values.max()]
                for g, e in zip(got, expected):
                    np.testing.assert_allclose(g, e, rtol=1e-6)
                for g, e in zip(got, f(x)):
                    _assert_same(g, e)


def test_input_signature_is_honoured():
    @tf.function(input_signature=[tf.TensorSpec(shape=(None, 2), dtype=tf.float32)])
    def f(x):
        return x + 1.0

    _assert_same(f(np.zeros((3, 2), np.float32)), np.ones((3, 2), np.float32))
    _assert_same(f([[1.0, 2.0]]), np.array([[2.0, 3.0]], np.float32))     # a list converts to the spec
    with pytest.raises(TypeError, match="does not match the input_signature"):
        f(np.zeros((3, 3), np.float32))
    with pytest.raises(TypeError, match="does not match the input_signature"):
        f(np.zeros((3, 2), np.float64))
    with pytest.raises(TypeError, match="input_signature has 1"):
        f(np.zeros((3, 2), np.float32), np.zeros((3, 2), np.float32))


def test_python_function_and_the_decorator_forms():
    def g(x):
        return x + 1.0

    f = tf.function(g)
    assert f.python_function is g and f.__name__ == "g"
    assert tf.function(jit_compile=True)(g).python_function is g
    with pytest.raises(TypeError, match="unexpected keyword"):
        tf.function(g, bogus=True)


def test_returned_tensors_are_new_at_each_call():
    """The plan reuses buffers inside a step, never for what it returns."""
    @tf.function
    def f(x):
        return tf.matmul(x, x) * 1.0

    a = f(np.eye(3, dtype=np.float32))
    kept = a.numpy().copy()
    f(np.full((3, 3), 5.0, np.float32))
    _assert_same(a, kept)


def test_under_an_outer_tape_the_function_runs_eagerly_and_gradients_flow():
    f = tf.function(lambda x: tf.reduce_sum(x * x))
    x = tf.Variable(np.array([1.0, 2.0], np.float32))
    f(x)
    with tf.GradientTape() as tape:
        y = f(x)
    _assert_same(tape.gradient(y, x), np.array([2.0, 4.0], np.float32))


def test_a_method_is_traced_per_instance():
    class Scale:
        def __init__(self, k):
            self.k = k

        @tf.function
        def __call__(self, x):
            return x * self.k

    a, b = Scale(2.0), Scale(3.0)
    x = tf.constant(np.ones(2, np.float32))
    _assert_same(a(x), np.full(2, 2.0, np.float32))
    _assert_same(b(x), np.full(2, 3.0, np.float32))
    _assert_same(a(x), np.full(2, 2.0, np.float32))


def test_run_functions_eagerly_switch():
    calls = []

    @tf.function
    def f(x):
        calls.append(1)
        return x + 1.0

    x = tf.constant(np.ones(2, np.float32))
    f(x), f(x)
    assert len(calls) == 1
    tf.config.run_functions_eagerly(True)
    try:
        f(x), f(x)
    finally:
        tf.config.run_functions_eagerly(False)
    assert len(calls) == 3


def test_a_slice_is_replayed_as_a_view_and_fancy_indexing_falls_back():
    """A basic slice of a traced tensor is a view the plan remakes at every call; an
    index list makes a copy with NumPy, which the plan cannot replay: eager, warned."""
    @tf.function
    def tail_doubled(x):
        return x[1:] * 2.0

    @tf.function
    def picked_doubled(x):
        return x[[2, 0]] * 2.0

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for values in ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]):
            _assert_same(tail_doubled(tf.constant(np.array(values, np.float32))),
                         np.array(values[1:], np.float32) * 2)
    assert "view(" in tail_doubled.plan_source()
    with pytest.warns(RuntimeWarning, match="runs eagerly.*NumPy code"):
        picked_doubled(tf.constant(np.array([1.0, 2.0, 3.0], np.float32)))
    _assert_same(picked_doubled(tf.constant(np.array([4.0, 5.0, 6.0], np.float32))), np.array([12.0, 8.0], np.float32))


def test_python_print_of_a_traced_tensor_shows_no_numbers_and_is_no_error(capsys):
    w = tf.Variable(np.ones(2, np.float32), name="w")

    @tf.function
    def f(x):
        print(x * 2.0, w)                      # TF prints the symbolic tensor, once
        return x + w

    f(tf.constant(np.ones(2, np.float32)))
    _assert_same(f(tf.constant(np.full(2, 3.0, np.float32))), np.full(2, 4.0, np.float32))
    out = capsys.readouterr().out
    assert out == "tapegrad.Tensor(<traced>, shape=(2,), dtype=float32) <tapegrad.Variable 'w:0' shape=(2,) " \
                  "dtype=float32>\n"
    assert "numpy=" in str(w)                  # outside a trace: the numbers again


def test_the_gradient_of_fancy_indexing_falls_back_and_is_right():
    """Its backward adds into zeros with ``np.add.at``, NumPy the plan cannot replay
    (it raised an AttributeError inside the tracer before)."""
    v = tf.Variable(np.arange(4, dtype=np.float32))

    @tf.function
    def grad():
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(v[[0, 2, 2]] * 2.0)
        return tape.gradient(y, v)

    with pytest.warns(RuntimeWarning, match="runs eagerly"):
        _assert_same(grad(), np.array([2.0, 0.0, 4.0, 0.0], np.float32))
    _assert_same(grad(), np.array([2.0, 0.0, 4.0, 0.0], np.float32))
