"""The Keras names of the book's chapters 3-5, against Keras 3's documented formulas.

Losses (binary / categorical cross-entropy, MAE, MSE), metrics and the
History keys they give, regularizers added to the loss as ``model.losses``,
``add_weight``, ``keras.utils`` and the errors for labels that do not fit
the loss.  Every expected number is computed in NumPy here.  Tests that run
kernels (a forward pass, a training step) run on every CPU backend; the
Numba parameter comes last so its one-time compile happens once.
"""

import numpy as np
import pytest

import tapegrad as tf
from tapegrad import keras, kernels
from tapegrad.keras import layers, losses, metrics, optimizers, regularizers

CPU_BACKENDS = [b for b in ("numpy", "cython", "numba") if b in kernels.available_backends()]
EPS = 1e-7  # Keras's epsilon for clipping probabilities


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    with kernels.use(request.param):
        yield request.param


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_bce_from_probabilities(z, p):
    """Keras's formula on float32 predictions: clip in float32 (1 - 1e-7 rounds to
    1 - 1.19e-7 there, as in Keras), then the logs in float64."""
    p = np.clip(p.astype(np.float32), np.float32(EPS), np.float32(1 - EPS)).astype(np.float64)
    return -(z * np.log(p) + (1 - z) * np.log(1 - p)).mean(-1)


def binary_task(n=400, features=6, seed=0):
    """Two Gaussian clouds, labels 0/1 of shape (n,): linearly separable."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 1, (n, features)) + np.where(y[:, None] == 1, 2.0, -2.0)
    return x.astype(np.float32), y.astype(np.float32)


# ------------------------------------------------------------------ losses
def test_binary_crossentropy_from_probabilities_clips_as_keras(backend):
    z = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], np.float32)
    p = np.array([[0.9, 0.2], [1.0, 0.0], [0.5, 1.0]], np.float32)    # 0 and 1 are clipped to 1e-7
    got = losses.binary_crossentropy(z, tf.constant(p))
    assert got.shape == (3,) and got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), np_bce_from_probabilities(z, p), rtol=1e-5)
    mean = losses.BinaryCrossentropy()(z, tf.constant(p))
    np.testing.assert_allclose(float(mean), np_bce_from_probabilities(z, p).mean(), rtol=1e-5)


def test_binary_crossentropy_on_logits_is_stable(backend):
    x = np.array([[-100.0], [-3.0], [0.0], [2.5], [100.0]], np.float32)
    z = np.array([1.0, 0.0, 1.0, 1.0, 0.0], np.float32)              # shape (N,) against (N, 1), as Keras aligns
    exact = np.logaddexp(0, x[:, 0].astype(np.float64)) - x[:, 0] * z  # -z log s(x) - (1-z) log(1-s(x))
    got = losses.binary_crossentropy(z, tf.constant(x), from_logits=True)
    np.testing.assert_allclose(got.numpy(), exact, rtol=1e-6)
    # a sigmoid output remembers its logits: the same stable numbers (100, not -log(1e-7) = 16.1)
    via_sigmoid = losses.binary_crossentropy(z, tf.nn.sigmoid(tf.constant(x)))
    np.testing.assert_allclose(via_sigmoid.numpy(), exact, rtol=1e-6)
    assert float(via_sigmoid[0]) == pytest.approx(100.0)
    # the same probabilities without remembered logits are clipped
    plain = tf.constant(np_sigmoid(x.astype(np.float64)).astype(np.float32))
    np.testing.assert_allclose(losses.binary_crossentropy(z, plain).numpy()[0], -np.log(EPS), rtol=1e-4)


def test_sigmoid_binary_cross_entropy_gradient_is_sigmoid_minus_label(backend):
    x = np.array([-4.0, -0.5, 0.0, 0.0, 3.0], np.float32)              # 0 exactly: no kink in the formula
    z = np.array([1.0, 0.0, 1.0, 0.0, 1.0], np.float32)
    logits = tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.ops.sigmoid_binary_cross_entropy(logits, z))
    np.testing.assert_allclose(tape.gradient(loss, logits).numpy(), np_sigmoid(x) - z, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="same shape"):
        tf.ops.sigmoid_binary_cross_entropy(tf.ones((3, 1)), np.ones(3, np.float32))
    np.testing.assert_allclose(tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=tf.constant(x)).numpy(),
                               np.logaddexp(0, x.astype(np.float64)) - x * z, rtol=1e-6)


def test_sigmoid_outputs_do_not_mistake_softmax_logits(backend):
    """A softmax output's logits must not be read as a sigmoid's (and vice versa)."""
    logits = tf.constant([[2.0, -1.0], [0.5, 0.3]])
    z = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    probs = tf.nn.softmax(logits)
    np.testing.assert_allclose(losses.binary_crossentropy(z, probs).numpy(),
                               np_bce_from_probabilities(z, probs.numpy()), rtol=1e-5)
    s = tf.nn.sigmoid(logits)
    clipped = np.clip(s.numpy().astype(np.float64), EPS, 1 - EPS)   # Keras: log-softmax of log(clip(p))
    expected = -np.log(clipped[[0, 1], [0, 1]]) + np.log(clipped.sum(1))
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy([0, 1], s).numpy(), expected, rtol=1e-5)


def test_categorical_crossentropy_matches_keras_formula(backend):
    y = np.array([[0, 1, 0], [1, 0, 0]], np.float32)
    p = np.array([[0.2, 0.5, 0.1], [0.0, 0.6, 0.6]], np.float32)       # rows not summing to 1, a zero
    scaled = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    got = losses.categorical_crossentropy(y, tf.constant(p))
    np.testing.assert_allclose(got.numpy(), -(y * np.log(scaled)).sum(-1), rtol=1e-5)
    logits = np.array([[1.0, 3.0, -2.0], [50.0, 0.0, 0.0]], np.float32)
    log_softmax = logits - logits.max(1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
    for y_pred, kw in ((tf.nn.softmax(tf.constant(logits)), {}), (tf.constant(logits), {"from_logits": True})):
        got = losses.CategoricalCrossentropy(**kw)(y, y_pred)
        np.testing.assert_allclose(float(got), -(y * log_softmax).sum(-1).mean(), rtol=1e-5)
    with pytest.raises(ValueError, match="holds class ids.*to_categorical"):
        losses.categorical_crossentropy(np.array([1, 0]), tf.constant(p))


def test_mae_and_mse_align_labels_with_one_output(backend):
    """Boston housing: targets of shape (N,) against Dense(1)'s (N, 1), never broadcast to (N, N)."""
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = tf.constant(np.array([[1.5], [2.0], [2.0], [6.0]], np.float32))
    np.testing.assert_allclose(losses.mean_absolute_error(y, pred).numpy(), [0.5, 0, 1, 2])
    np.testing.assert_allclose(losses.mse(y, pred).numpy(), [0.25, 0, 1, 4])
    np.testing.assert_allclose(float(losses.get("mae")(y, pred)), 0.875)
    np.testing.assert_allclose(float(losses.MeanSquaredError()(y, pred)), 1.3125)
    with pytest.raises(ValueError, match=r"y_true of shape \(3,\) does not match y_pred of shape \(4, 1\)"):
        losses.mae(y[:3], pred)


def test_loss_names_everywhere():
    for name, cls in (("binary_crossentropy", losses.BinaryCrossentropy), ("mae", losses.MeanAbsoluteError),
                      ("mean_absolute_error", losses.MeanAbsoluteError), ("mse", losses.MeanSquaredError),
                      ("mean_squared_error", losses.MeanSquaredError),
                      ("categorical_crossentropy", losses.CategoricalCrossentropy)):
        assert isinstance(losses.get(name), cls)
    assert isinstance(losses.get(losses.binary_crossentropy), losses.BinaryCrossentropy)
    assert losses.get(losses.BinaryCrossentropy(from_logits=True)).kwargs["from_logits"] is True


# ------------------------------------------------------------------ metrics
def test_regression_metrics_are_means_over_all_samples():
    y1, p1 = np.array([[1.0], [2.0]]), tf.constant([[1.5], [2.5]])
    y2, p2 = np.array([[0.0]]), tf.constant([[-3.0]])
    for m, per_sample in ((metrics.MeanAbsoluteError(), [0.5, 0.5, 3.0]),
                          (metrics.MeanSquaredError(), [0.25, 0.25, 9.0]),
                          (metrics.get("mae"), [0.5, 0.5, 3.0])):
        m.update_state(y1, p1)
        m.update_state(y2, p2)
        assert m.result() == pytest.approx(np.mean(per_sample))
    assert metrics.get("mae").name == "mae" and metrics.MeanAbsoluteError().name == "mean_absolute_error"
    assert metrics.get("mse").name == "mse" and metrics.get("mean_squared_error").name == "mean_squared_error"
    mean = metrics.Mean()
    mean.update_state([1.0, 2.0])
    mean.update_state(tf.constant([6.0]))
    assert mean.result() == pytest.approx(3.0)


@pytest.mark.parametrize("y_shape, pred_shape, chosen", [
    ((8,), (8, 1), metrics.BinaryAccuracy),                   # one output unit: binary
    ((8, 1), (8, 1), metrics.BinaryAccuracy),
    ((8,), (8, 4), metrics.SparseCategoricalAccuracy),        # class ids
    ((8, 1), (8, 4), metrics.SparseCategoricalAccuracy),
    ((8, 4), (8, 4), metrics.CategoricalAccuracy),            # one-hot
])
def test_accuracy_is_chosen_from_shapes_as_keras(y_shape, pred_shape, chosen):
    m = metrics.get("accuracy")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, y_shape).astype(np.float32)
    pred = tf.constant(rng.uniform(0, 1, pred_shape).astype(np.float32))
    m.update_state(y, pred)
    assert type(m.chosen) is chosen and m.name == "accuracy"
    if chosen is metrics.BinaryAccuracy:
        expected = ((pred.numpy() > 0.5) == (y.reshape(pred_shape) > 0.5)).mean()
        assert m.result() == pytest.approx(expected)


def test_history_keys_and_values_as_keras(backend):
    x, y = binary_task()
    x_val, y_val = binary_task(n=100, seed=1)
    tf.random.set_seed(0)
    model = keras.Sequential([layers.Dense(8, activation="relu"), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.RMSprop(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=64, validation_data=(x_val, y_val), verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    # separable clouds; measured with these seeds: val_accuracy 1.0 from the first epoch on
    assert history.history["val_accuracy"][-1] > 0.95
    assert history.history["loss"][-1] < history.history["loss"][0]
    p = model.predict(x_val, verbose=0)
    assert p.shape == (100, 1)
    loss, acc = model.evaluate(x_val, y_val, verbose=0)
    assert acc == pytest.approx(((p[:, 0] > 0.5) == y_val).mean())
    assert loss == pytest.approx(np_bce_from_probabilities(y_val[:, None], p).mean(), rel=1e-4)
    assert history.history["val_loss"][-1] == pytest.approx(loss, rel=1e-5)

    reg = keras.Sequential([layers.Dense(4, activation="tanh"), layers.Dense(1)])
    reg.compile(optimizer="rmsprop", loss="mse", metrics=["mae", metrics.MeanSquaredError(), "binary_accuracy"])
    target = x[:, 0] * 0.5
    h = reg.fit(x, target, epochs=2, batch_size=64, validation_split=0.25, verbose=0)
    assert sorted(h.history) == ["binary_accuracy", "loss", "mae", "mean_squared_error", "val_binary_accuracy",
                                 "val_loss", "val_mae", "val_mean_squared_error"]
    mse, mae, mse_metric, _ = reg.evaluate(x, target, verbose=0)
    p = reg.predict(x, verbose=0)[:, 0]
    assert mae == pytest.approx(np.abs(p - target).mean(), rel=1e-4)
    assert mse == pytest.approx(((p - target) ** 2).mean(), rel=1e-4) and mse_metric == pytest.approx(mse, rel=1e-5)


# ------------------------------------------------------------------ regularizers
def test_regularizer_formulas_defaults_and_errors():
    w = np.array([[1.0, -2.0], [0.5, 0.0]], np.float32)
    assert float(regularizers.l1(0.1)(tf.constant(w))) == pytest.approx(0.1 * 3.5)
    assert float(regularizers.l2(0.1)(tf.constant(w))) == pytest.approx(0.1 * 5.25)
    assert float(regularizers.l1_l2(l1=0.1, l2=0.2)(tf.constant(w))) == pytest.approx(0.35 + 1.05)
    assert regularizers.L1().l1 == 0.01 and regularizers.L2().l2 == 0.01             # Keras 3 defaults
    assert (regularizers.L1L2().l1, regularizers.L1L2().l2) == (0.0, 0.0)
    assert regularizers.l1_l2 is regularizers.L1L2 and isinstance(regularizers.get("l2"), regularizers.L2)
    assert regularizers.get(None) is None
    for bad in (-0.01, float("nan"), float("inf"), "0.1"):
        with pytest.raises(ValueError, match="expected a non-negative float"):
            regularizers.l2(bad)
    with pytest.raises(ValueError, match="Received: l1=-1"):
        regularizers.l1_l2(l1=-1)
    with pytest.raises(ValueError, match="unknown regularizer"):
        layers.Dense(2, kernel_regularizer="l3")


def test_regularization_is_added_to_train_and_evaluation_loss(backend):
    x, y = binary_task(n=64)
    tf.random.set_seed(0)
    model = keras.Sequential([layers.Dense(4, activation="relu", kernel_regularizer=regularizers.l2(0.01),
                                           bias_regularizer=regularizers.l1(0.5),
                                           bias_initializer="ones"),
                              layers.Dense(1, kernel_regularizer=regularizers.l1_l2(l1=0.001, l2=0.002))])
    model.compile(optimizer="sgd", loss="mse")
    model.build((None, 6))
    k1, b1, k2, _ = model.get_weights()
    penalty = 0.01 * (k1 ** 2).sum() + 0.5 * np.abs(b1).sum() + 0.001 * np.abs(k2).sum() + 0.002 * (k2 ** 2).sum()
    assert len(model.losses) == 3
    assert sum(float(l) for l in model.losses) == pytest.approx(penalty, rel=1e-5)
    data_loss = ((model.predict(x, verbose=0)[:, 0] - y) ** 2).mean()
    assert model.evaluate(x, y, batch_size=64, verbose=0) == pytest.approx(data_loss + penalty, rel=1e-5)
    assert model.train_on_batch(x, y) == pytest.approx(data_loss + penalty, rel=1e-5)


def test_penalty_gradient_reaches_the_weights(backend):
    """With zero inputs and targets only the penalty pulls: L2 0.5 -> grad K, so SGD(0.1) scales K by 0.9."""
    model = keras.Sequential([layers.Dense(3, use_bias=False, kernel_regularizer=regularizers.l2(0.5),
                                           kernel_initializer="ones")])
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    model.train_on_batch(np.zeros((4, 2), np.float32), np.zeros((4, 3), np.float32))
    np.testing.assert_allclose(model.get_weights()[0], np.full((2, 3), 0.9), rtol=1e-6)


def test_activity_regularizer_penalizes_the_output(backend):
    layer = layers.Dense(2, activity_regularizer=regularizers.l1(0.1), kernel_initializer="ones")
    x = np.array([[1.0, -2.0], [3.0, 0.5]], np.float32)
    out = layer(x)
    assert len(layer.losses) == 1      # Keras 3: the sum over the batch, not divided by its size
    assert float(layer.losses[0]) == pytest.approx(0.1 * np.abs(out.numpy()).sum())
    assert float(layer.losses[0]) == pytest.approx(0.1 * np.abs(x @ np.ones((2, 2))).sum())


# ------------------------------------------------------------------ layers
def test_add_weight_keras3_signature():
    class SimpleDense(layers.Layer):                 # the book's chapter 3 custom layer
        def __init__(self, units, activation=None):
            super().__init__()
            self.units = units
            self.activation = activation

        def build(self, input_shape):
            input_dim = input_shape[-1]
            self.W = self.add_weight(shape=(input_dim, self.units), initializer="random_normal")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            y = tf.matmul(inputs, self.W) + self.b
            if self.activation is not None:
                y = self.activation(y)
            return y

    my_dense = SimpleDense(units=32, activation=tf.nn.relu)
    output_tensor = my_dense(tf.ones(shape=(2, 784)))
    assert output_tensor.shape == (2, 32)
    assert [w.shape for w in my_dense.trainable_weights] == [(784, 32), (32,)]
    assert my_dense.W.name.endswith("/variable:0") and my_dense.b.name.endswith("/variable_1:0")
    layer = layers.Layer()
    frozen = layer.add_weight(shape=(2,), initializer="ones", dtype="float64", trainable=False, name="count")
    assert frozen.dtype == np.float64 and frozen.name.endswith("/count:0") and not frozen.trainable
    assert layer.trainable_weights == [] and layer.non_trainable_weights == [frozen]
    old_style = layer.add_weight("kernel", (3, 4), "zeros")                  # name first still works
    assert old_style.shape == (3, 4) and old_style.name.endswith("/kernel:0")
    assert layer.add_weight(shape=(5, 5)).numpy().std() > 0                   # glorot_uniform by default


def test_sigmoid_and_tanh_dense_match_numpy(backend):
    x = np.random.default_rng(0).normal(0, 2, (5, 3)).astype(np.float32)
    for name, fn in (("sigmoid", np_sigmoid), ("tanh", np.tanh)):
        d = layers.Dense(4, activation=name)
        out = d(x)
        k, b = d.get_weights()
        np.testing.assert_allclose(out.numpy(), fn(x.astype(np.float64) @ k + b), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ labels that do not fit the loss
def test_labels_that_do_not_fit_the_loss_are_clear_errors(backend):
    x = np.ones((8, 3), np.float32)
    ids = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    softmax = keras.Sequential([layers.Dense(4, activation="softmax")])
    softmax.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="look one-hot.*categorical_crossentropy"):
        softmax.fit(x, np.eye(4)[ids], verbose=0)
    with pytest.raises(ValueError, match="label 4 is out of range for 4 classes"):
        softmax.fit(x, ids + 1, verbose=0)
    softmax.compile(loss="categorical_crossentropy")
    with pytest.raises(ValueError, match="one-hot rows of length 4.*to_categorical"):
        softmax.fit(x, ids, verbose=0)
    sigmoid = keras.Sequential([layers.Dense(1, activation="sigmoid")])
    sigmoid.compile(loss="binary_crossentropy")
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]"):
        sigmoid.fit(x, ids, verbose=0)
    with pytest.raises(ValueError, match="4 value.*1 output unit"):
        sigmoid.fit(x, np.eye(4)[ids], verbose=0)


# ------------------------------------------------------------------ keras.utils
def test_to_categorical_and_normalize():
    y = np.array([2, 0, 1, 2])
    np.testing.assert_array_equal(keras.utils.to_categorical(y), np.eye(3)[y])
    got = keras.utils.to_categorical(y.reshape(4, 1), num_classes=5)           # a trailing 1 is dropped
    assert got.shape == (4, 5) and got.dtype == np.float64
    np.testing.assert_array_equal(got, np.eye(5)[y])
    assert keras.utils.to_categorical(np.array([[0, 1], [1, 1]])).shape == (2, 2, 2)
    with pytest.raises(ValueError, match="class id 3 is out of range for 3 classes"):
        keras.utils.to_categorical([0, 3], 3)
    with pytest.raises(ValueError, match="class id -1"):
        keras.utils.to_categorical([0, -1], 3)
    with pytest.raises(ValueError, match="must be integers"):
        keras.utils.to_categorical([0.5])
    a = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(keras.utils.normalize(a), [[0.6, 0.8], [0, 0]])
    np.testing.assert_allclose(keras.utils.normalize(a, axis=0, order=1), [[1, 1], [0, 0]])
