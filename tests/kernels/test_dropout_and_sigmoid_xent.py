"""Dropout and the fused sigmoid + binary cross-entropy: kernels, tape ops, the layer.

Every CPU backend is checked against formulas written out here (the numpy
backend too): dropout bit for bit given one uniform draw, the sigmoid
cross-entropy against a float64 reference built from a different formula
(``logaddexp`` and ``tanh``), gradients against central finite differences.
"""

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.kernels as K
from tapegrad import keras, ops

from finite_differences import central_differences  # tests/finite_differences.py

CPU_BACKENDS = ["numpy", "numba", "cython"]
DTYPES = [np.float32, np.float64]
SHAPES = [(1,), (7,), (3, 5), (2, 3, 5), (70001,), (131075,)]   # the last two cross the threading thresholds


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    return request.param


def rng(seed=0):
    return np.random.default_rng(seed)


# ================================================================== dropout kernel
def reference_dropout(x, u, rate):
    t = x.dtype.type
    keep = u >= t(rate)
    scale = t(1.0 / (1.0 - rate))
    return np.where(keep, x * scale, t(0)), np.where(keep, scale, t(0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
def test_dropout_forward_matches_reference_exactly(backend, dtype, shape, rate):
    r = rng(1)
    x = r.standard_normal(shape).astype(dtype)
    u = r.random(shape, dtype=dtype)
    out, mask = K.dropout_forward(x, u, rate, backend=backend)
    ref_out, ref_mask = reference_dropout(x, u, rate)
    assert out.dtype == dtype and mask.dtype == dtype and out.shape == shape
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(mask, ref_mask)


def test_dropout_threshold_is_compared_in_the_dtype(backend):
    """A draw exactly at float32(rate) is kept on every backend (0.1 rounds up in float32)."""
    rate = 0.1
    u = np.array([np.float32(rate), np.nextafter(np.float32(rate), np.float32(0))], np.float32)
    out, mask = K.dropout_forward(np.ones(2, np.float32), u, rate, backend=backend)
    np.testing.assert_array_equal(mask, [np.float32(1 / 0.9), 0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (3, 5), (70001,)])
def test_dropout_backward_matches_reference_exactly(backend, dtype, shape):
    r = rng(2)
    x = r.standard_normal(shape).astype(dtype)
    _, mask = reference_dropout(x, r.random(shape, dtype=dtype), 0.3)
    g = r.standard_normal(shape).astype(dtype)
    g.reshape(-1)[0] = np.nan    # a NaN gradient of a dropped unit stays out
    mask.reshape(-1)[0] = 0
    ours = K.dropout_backward(g, mask, backend=backend)
    np.testing.assert_array_equal(ours, np.where(mask != 0, g * mask, dtype(0)))


def test_dropout_noncontiguous_and_readonly(backend):
    r = rng(3)
    x = r.standard_normal((6, 8))[:, ::2]
    u = np.asfortranarray(r.random((6, 4)))
    x.flags.writeable = False
    out, mask = K.dropout_forward(x, u, 0.4, backend=backend)
    ref_out, ref_mask = reference_dropout(np.ascontiguousarray(x), np.ascontiguousarray(u), 0.4)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(mask, ref_mask)


def test_dropout_bad_input(backend):
    x = np.ones((2, 3), np.float32)
    u = np.full((2, 3), 0.5, np.float32)
    for rate in (-0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
            K.dropout_forward(x, u, rate, backend=backend)
    with pytest.raises(TypeError, match="rate must be a number"):
        K.dropout_forward(x, u, "half", backend=backend)
    with pytest.raises(ValueError, match="uniform has shape"):
        K.dropout_forward(x, u[:1], 0.5, backend=backend)
    with pytest.raises(TypeError, match="uniform has dtype float64"):
        K.dropout_forward(x, u.astype(np.float64), 0.5, backend=backend)
    with pytest.raises(ValueError, match="grad_out has shape"):
        K.dropout_backward(x[:1], u, backend=backend)
    out, mask = K.dropout_forward(np.ones((0, 3)), np.ones((0, 3)), 0.5, backend=backend)
    assert out.shape == mask.shape == (0, 3)


# ================================================================== dropout op and layer
def test_dropout_op_gradient_matches_finite_differences():
    """With a fixed seed the mask is fixed, so the op is linear: check d/dx of sum(w * dropout(x))."""
    x0 = rng(4).standard_normal((5, 7))
    w = rng(5).uniform(0.5, 1.5, (5, 7))

    def f(values):
        return float(np.sum(ops.dropout(tg.constant(values), 0.4, seed=7).numpy() * w))

    x = tg.constant(x0)
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = tg.reduce_sum(ops.dropout(x, 0.4, seed=7) * tg.constant(w))
    grad = tape.gradient(y, x).numpy()
    np.testing.assert_allclose(grad, central_differences(f, x0), rtol=1e-7, atol=1e-7)
    dropped = grad == 0
    assert 0 < dropped.sum() < dropped.size         # the mask really drops some, keeps some
    np.testing.assert_allclose(grad[~dropped], w[~dropped] / 0.6, rtol=1e-12)


def test_dropout_second_derivative_passes_the_same_mask():
    x = tg.Variable(rng(6).standard_normal(50))
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = tg.reduce_sum(ops.dropout(x, 0.5, seed=3) * x)
        g = inner.gradient(y, x)          # = mask*x + (dropout of 1s) = 2 * mask * x
        z = tg.reduce_sum(g)
    h = outer.gradient(z, x).numpy()      # = 2 * mask
    mask = ops.dropout(tg.constant(np.ones(50)), 0.5, seed=3).numpy()
    np.testing.assert_allclose(g.numpy(), 2 * mask * x.numpy())
    np.testing.assert_allclose(h, 2 * mask)


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_dropout_preserves_the_expected_value(rate):
    """Each output is x/(1-rate) with probability 1-rate, else 0: mean x and variance
    x^2 rate/(1-rate).  Over T draws the per-element mean has standard deviation
    |x| sqrt(rate/((1-rate) T)); every element must lie within 5 of those (the chance
    that one of 500 normal-ish means strays further is below 3e-4), and the grand mean
    over all N*T outputs within 5 of its own, far smaller, standard deviation."""
    tg.random.set_seed(11)
    n, draws = 500, 400
    x = rng(7).uniform(0.5, 2.0, n).astype(np.float32)
    outs = np.stack([ops.dropout(tg.constant(x), rate).numpy() for _ in range(draws)]).astype(np.float64)
    per_element_sd = x * np.sqrt(rate / ((1 - rate) * draws))
    z = np.abs(outs.mean(axis=0) - x) / per_element_sd
    assert z.max() < 5, f"worst element is {z.max():.2f} standard deviations off"
    grand_sd = np.sqrt(np.sum(x.astype(np.float64) ** 2) * rate / (1 - rate) / draws) / n
    assert abs(outs.mean() - x.mean()) < 5 * grand_sd
    kept = np.mean(outs != 0)
    assert abs(kept - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / outs.size)
    np.testing.assert_allclose(np.unique(outs[outs != 0] / np.tile(x, (draws, 1))[outs != 0]),
                               np.float32(1 / (1 - rate)), rtol=1e-6)


def test_dropout_op_rate_zero_noise_shape_and_errors():
    x = tg.constant(rng(8).standard_normal((6, 4)).astype(np.float32))
    assert ops.dropout(x, 0.0) is x
    rows = ops.dropout(x, 0.5, noise_shape=(6, 1), seed=1).numpy()
    kept_rows = np.all(rows != 0, axis=1)
    assert np.all(kept_rows | np.all(rows == 0, axis=1))     # whole rows kept or dropped
    assert 0 < kept_rows.sum() < 6
    np.testing.assert_allclose(rows[kept_rows], x.numpy()[kept_rows] * 2)
    with pytest.raises(ValueError, match="noise_shape"):
        ops.dropout(x, 0.5, noise_shape=(6, 2))
    with pytest.raises(ValueError, match="noise_shape"):
        ops.dropout(x, 0.5, noise_shape=(6,))
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        tg.nn.dropout(x, 1.0)
    with pytest.raises(TypeError, match="float tensor"):
        ops.dropout(tg.constant(np.arange(3)), 0.5)


def test_dropout_layer_training_and_inference():
    x = np.ones((64, 32), np.float32) * 3
    layer = keras.layers.Dropout(0.25, seed=5)
    np.testing.assert_array_equal(layer(x).numpy(), x)                    # training=False: identity
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    y1, y2 = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    assert set(np.unique(y1)) == {0.0, np.float32(4.0)}                  # 3 / (1 - 0.25)
    assert not np.array_equal(y1, y2)                                     # a new mask each call
    again = keras.layers.Dropout(0.25, seed=5)
    np.testing.assert_array_equal(again(x, training=True).numpy(), y1)    # a seed reproduces the stream
    rows = keras.layers.Dropout(0.5, noise_shape=(None, 1), seed=2)(x, training=True).numpy()
    assert np.all(np.all(rows == 0, axis=1) | np.all(rows == 6, axis=1))
    for bad in (-0.1, 1, 1.0, 2, "0.5", True):
        with pytest.raises(ValueError, match=r"rate must be a float in \[0, 1\)"):
            keras.layers.Dropout(bad)
    np.testing.assert_array_equal(keras.layers.Dropout(0.0)(x, training=True).numpy(), x)


class _Spy(keras.layers.Layer):
    """Records the training flag each call receives."""

    def __init__(self):
        super().__init__()
        self.flags = []

    def call(self, x, training=False):
        self.flags.append(training)
        return x


class _NoTrainingArg(keras.layers.Layer):
    def call(self, inputs):
        return inputs * 2.0


def test_fit_trains_with_dropout_and_evaluate_predict_do_not():
    tg.random.set_seed(0)
    x = rng(9).standard_normal((32, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    spy = _Spy()
    model = keras.Sequential([keras.layers.Dense(8, activation="relu"), spy, _NoTrainingArg(),
                              keras.layers.Dropout(0.5, seed=1), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.build((None, 6))   # traces the spy's call for its output shape (as Keras 3): not a training call
    spy.flags.clear()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert spy.flags and all(f is True for f in spy.flags)
    spy.flags.clear()
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert spy.flags and all(f is False for f in spy.flags)
    # at inference the dropout layer is the identity: same output as the model without it
    p1, p2 = model.predict(x, verbose=0), model.predict(x, verbose=0)
    np.testing.assert_array_equal(p1, p2)
    h = x @ model.layers[0].kernel.numpy() + model.layers[0].bias.numpy()
    h = np.maximum(h, 0) * 2.0
    logits = h @ model.layers[4].kernel.numpy() + model.layers[4].bias.numpy()
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(p1, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


# ================================================================== sigmoid + BCE kernel
EXTREME = np.array([-100.0, -30.0, -5.0, -1e-3, 0.0, 1e-3, 2.5, 30.0, 100.0])


def reference_bce(x, z):
    """float64: log(1 + e^x) - x z through logaddexp, and sigmoid through tanh."""
    x = np.asarray(x, np.float64)
    z = np.asarray(z, np.float64)
    return np.logaddexp(0.0, x) - x * z, 0.5 * (1.0 + np.tanh(0.5 * x)) - z


def assert_bce_close(loss, grad, x, z, dtype):
    ref_loss, ref_grad = reference_bce(x, z)
    eps = np.finfo(dtype).eps
    x64 = np.abs(np.asarray(x, np.float64))
    # the loss is a difference of terms of size |x|: allow a few ulps of that
    assert np.all(np.abs(loss - ref_loss) <= 8 * eps * (1 + x64)), np.max(np.abs(loss - ref_loss))
    assert np.all(np.abs(grad - ref_grad) <= 8 * eps), np.max(np.abs(grad - ref_grad))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (9,), (4, 9), (2, 3, 9), (70003,)])
def test_sigmoid_cross_entropy_matches_float64_reference(backend, dtype, shape):
    r = rng(10)
    size = int(np.prod(shape))
    x = np.resize(np.concatenate([EXTREME, r.standard_normal(size) * 4]), size).reshape(shape).astype(dtype)
    z = r.random(shape).astype(dtype)
    z.reshape(-1)[: min(size, 4)] = [0, 1, 0, 1][: min(size, 4)]
    loss, grad = K.sigmoid_cross_entropy(x, z, backend=backend)
    assert loss.shape == grad.shape == shape and loss.dtype == grad.dtype == dtype
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    assert_bce_close(loss, grad, x, z, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_cross_entropy_extreme_logits(backend, dtype):
    x = np.repeat(EXTREME, 3).astype(dtype)
    z = np.tile([0.0, 1.0, 0.25], EXTREME.size).astype(dtype)
    loss, grad = K.sigmoid_cross_entropy(x, z, backend=backend)
    assert_bce_close(loss, grad, x, z, dtype)
    # hand-checked: x = 100, z = 0 costs 100 (plus e^-100); x = -100, z = 1 likewise
    np.testing.assert_allclose(loss[[-3, 1]], [100.0, 100.0], rtol=1e-7)
    np.testing.assert_allclose(loss[[12, 13]], [np.log(2), np.log(2)], rtol=1e-7)   # x = 0
    np.testing.assert_allclose(grad[[12, 13, 14]], [0.5, -0.5, 0.25], rtol=1e-7)


def test_sigmoid_cross_entropy_mean_and_int_labels(backend):
    r = rng(11)
    x = r.standard_normal((6, 5))
    z = r.integers(0, 2, (6, 5))
    mean, grad = K.sigmoid_cross_entropy(x, z, reduction="mean", backend=backend)
    ref_loss, ref_grad = reference_bce(x, z)
    assert isinstance(mean, float)
    np.testing.assert_allclose(mean, ref_loss.mean(), rtol=1e-13)
    np.testing.assert_allclose(grad, ref_grad / 30, rtol=1e-12, atol=1e-15)


def test_sigmoid_cross_entropy_finite_differences(backend):
    r = rng(12)
    x = r.standard_normal((4, 7)) * 3
    z = r.random((4, 7))
    _, grad = K.sigmoid_cross_entropy(x, z, backend=backend)
    eps = 1e-6
    plus, _ = K.sigmoid_cross_entropy(x + eps, z, backend=backend)
    minus, _ = K.sigmoid_cross_entropy(x - eps, z, backend=backend)
    np.testing.assert_allclose(grad, (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-8)


def test_sigmoid_cross_entropy_bad_input(backend):
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"labels must be probabilities in \[0, 1\], got 2.0"):
        K.sigmoid_cross_entropy(x, np.array([[0, 1], [2, 0], [1, 1]], np.float64), backend=backend)
    with pytest.raises(ValueError, match=r"in \[0, 1\], got -1"):
        K.sigmoid_cross_entropy(x, -np.ones((3, 2), np.int64), backend=backend)
    with pytest.raises(ValueError, match=r"in \[0, 1\], got nan"):
        K.sigmoid_cross_entropy(x, np.full((3, 2), np.nan), backend=backend)
    with pytest.raises(ValueError, match="labels have shape"):
        K.sigmoid_cross_entropy(x, np.zeros(6), backend=backend)
    with pytest.raises(TypeError, match="labels must be numbers"):
        K.sigmoid_cross_entropy(x, np.array([["a", "b"]] * 3), backend=backend)
    with pytest.raises(ValueError, match="reduction"):
        K.sigmoid_cross_entropy(x, np.zeros((3, 2)), reduction="sum", backend=backend)
    loss, grad = K.sigmoid_cross_entropy(np.zeros((0, 2)), np.zeros((0, 2)), backend=backend)
    assert loss.shape == grad.shape == (0, 2)


# ================================================================== sigmoid + BCE op
@pytest.mark.parametrize("name", CPU_BACKENDS)
def test_sigmoid_bce_op_matches_kernel_and_finite_differences(name):
    r = rng(13)
    x0 = r.standard_normal((5, 3)) * 4
    z = r.random((5, 3))
    w = r.uniform(0.5, 1.5, (5, 3))
    with K.use(name):
        x = tg.constant(x0)
        with tg.GradientTape() as tape:
            tape.watch(x)
            loss = ops.sigmoid_binary_cross_entropy(x, z)
            y = tg.reduce_sum(loss * tg.constant(w))
        grad = tape.gradient(y, x).numpy()
        ref_loss, ref_grad = reference_bce(x0, z)
        np.testing.assert_allclose(loss.numpy(), ref_loss, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(grad, ref_grad * w, rtol=1e-12, atol=1e-14)

        def f(values):
            return float(np.sum(ops.sigmoid_binary_cross_entropy(tg.constant(values), z).numpy() * w))
        np.testing.assert_allclose(grad, central_differences(f, x0), rtol=1e-6, atol=1e-8)


def test_sigmoid_bce_op_extremes_column_labels_and_second_derivative():
    x = tg.constant(np.array([[-100.0], [0.0], [100.0]], np.float32))
    with pytest.raises(ValueError, match="same shape"):   # TF's rule: no broadcasting of labels
        tg.nn.sigmoid_cross_entropy_with_logits(labels=np.array([1.0, 0.5, 0.0]), logits=x)
    loss = tg.nn.sigmoid_cross_entropy_with_logits(labels=np.array([[1.0], [0.5], [0.0]]), logits=x)
    assert loss.shape == (3, 1) and loss.dtype == np.float32
    np.testing.assert_allclose(loss.numpy()[:, 0], [100.0, np.log(2), 100.0], rtol=1e-6)
    v = tg.Variable(np.array([-3.0, 0.5, 2.0]))
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = tg.reduce_sum(ops.sigmoid_binary_cross_entropy(v, np.array([0.0, 1.0, 0.3])))
        g = inner.gradient(y, v)
        gs = tg.reduce_sum(g)
    h = outer.gradient(gs, v).numpy()
    s = 1 / (1 + np.exp(-v.numpy()))
    np.testing.assert_allclose(g.numpy(), s - [0.0, 1.0, 0.3], rtol=1e-12)
    np.testing.assert_allclose(h, s * (1 - s), rtol=1e-12)   # sigmoid'(x)
