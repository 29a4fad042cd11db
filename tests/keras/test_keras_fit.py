"""fit / evaluate / History / metrics / optimizers, each against a NumPy computation written here.

The model is the book's shape in small (Dense relu -> Dense softmax).  Its forward pass, loss,
accuracy and gradients are written out below in float64 NumPy from ``get_weights()``, so a
number the Keras layer reports is compared with one that shares none of its code.  A frozen
model (``SGD(learning_rate=0.0)``) makes fit's logs plain evaluations of fixed weights.
"""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras
from tapegrad.keras import callbacks, layers, metrics, optimizers


def data(n, features=4, classes=3, seed=0):
    """Noisy, overlapping classes: an untrained model gets some rows right and some wrong."""
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (n, features)).astype(np.float32), rng.integers(0, classes, n)


def model_with(optimizer, features=4, hidden=5, classes=3, seed=0):
    tg.random.set_seed(seed)
    model = keras.Sequential([layers.Dense(hidden, activation="relu"), layers.Dense(classes, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.build((None, features))
    return model


def reference_forward(weights, x):
    """relu(x W1 + b1) W2 + b2, then softmax: the hidden activations and the probabilities."""
    w1, b1, w2, b2 = (np.asarray(w, np.float64) for w in weights)
    h = np.maximum(x.astype(np.float64) @ w1 + b1, 0.0)
    logits = h @ w2 + b2
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return h, e / e.sum(axis=1, keepdims=True)


def reference_loss_and_accuracy(weights, x, y):
    _, p = reference_forward(weights, x)
    loss = -np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1 - 1e-7)).mean()
    return loss, np.mean(p.argmax(axis=1) == y)


def reference_gradients(weights, x, y):
    """d(mean cross-entropy)/d(each weight), by the chain rule written out."""
    w1, b1, w2, b2 = (np.asarray(w, np.float64) for w in weights)
    h, p = reference_forward(weights, x)
    d_logits = p.copy()
    d_logits[np.arange(len(y)), y] -= 1.0
    d_logits /= len(y)
    d_h = (d_logits @ w2.T) * (h > 0)
    return [x.astype(np.float64).T @ d_h, d_h.sum(0), h.T @ d_logits, d_logits.sum(0)]


# ------------------------------------------------------------------ History = the epoch's mean
def test_history_records_the_epoch_mean_weighted_by_batch_size():
    """Batches of 16, 16, 16 and 2: the epoch's loss is the mean over all 50 samples (as Keras),
    not the last batch's and not the plain mean of the four batch means."""
    x, y = data(50)
    model = model_with(optimizers.SGD(learning_rate=0.0))
    weights = model.get_weights()
    loss, acc = reference_loss_and_accuracy(weights, x, y)
    # the numbers differ enough for the test to tell these apart
    batch_losses = [reference_loss_and_accuracy(weights, x[s:s + 16], y[s:s + 16])[0] for s in range(0, 50, 16)]
    last_loss, last_acc = reference_loss_and_accuracy(weights, x[48:], y[48:])
    assert abs(last_loss - loss) > 1e-3 and abs(last_acc - acc) > 0.01
    assert abs(np.mean(batch_losses) - loss) > 1e-3

    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    np.testing.assert_allclose(history.history["loss"], [loss, loss], rtol=1e-5)
    np.testing.assert_allclose(history.history["accuracy"], [acc, acc], rtol=1e-12)
    assert model.evaluate(x, y, batch_size=7, verbose=0) == pytest.approx([loss, acc], rel=1e-5)


# ------------------------------------------------------------------ validation_split
def test_validation_split_holds_out_the_last_samples():
    """Keras: the validation data is "the last samples in the x and y data provided, before
    shuffling".  103 samples, split 0.2 -> train on the first 82, validate on the last 21."""
    x, y = data(103, seed=1)
    model = model_with(optimizers.SGD(learning_rate=0.0))
    weights = model.get_weights()
    val_loss, val_acc = reference_loss_and_accuracy(weights, x[82:], y[82:])
    train_loss, train_acc = reference_loss_and_accuracy(weights, x[:82], y[:82])
    first_loss, _ = reference_loss_and_accuracy(weights, x[:21], y[:21])
    assert abs(first_loss - val_loss) > 1e-3  # holding out the first 21 would show

    history = model.fit(x, y, batch_size=10, epochs=1, validation_split=0.2, shuffle=True, verbose=0)
    logs = {k: v[0] for k, v in history.history.items()}
    assert logs["val_loss"] == pytest.approx(val_loss, rel=1e-5)
    assert logs["val_accuracy"] == pytest.approx(val_acc, rel=1e-12)
    assert logs["loss"] == pytest.approx(train_loss, rel=1e-5)
    assert logs["accuracy"] == pytest.approx(train_acc, rel=1e-12)
    assert model.evaluate(x[82:], y[82:], verbose=0) == pytest.approx([logs["val_loss"], logs["val_accuracy"]])


def test_validation_data_and_initial_epoch():
    x, y = data(40, seed=5)
    x_val, y_val = data(13, seed=6)
    model = model_with(optimizers.SGD(learning_rate=0.0))
    val_loss, val_acc = reference_loss_and_accuracy(model.get_weights(), x_val, y_val)
    history = model.fit(x, y, batch_size=8, epochs=3, initial_epoch=1, validation_data=(x_val, y_val),
                        validation_split=0.5, verbose=0)  # validation_data wins over the split, as in Keras
    assert history.epoch == [1, 2]
    np.testing.assert_allclose(history.history["val_loss"], [val_loss] * 2, rtol=1e-5)
    np.testing.assert_allclose(history.history["val_accuracy"], [val_acc] * 2, rtol=1e-12)
    train_loss, _ = reference_loss_and_accuracy(model.get_weights(), x, y)  # all 40 trained on
    np.testing.assert_allclose(history.history["loss"], [train_loss] * 2, rtol=1e-5)


def test_batch_logs_are_the_running_mean_of_the_epoch_so_far():
    x, y = data(30, seed=7)
    model = model_with(optimizers.SGD(learning_rate=0.0))
    weights = model.get_weights()
    seen = []
    logger = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(dict(logs)))
    model.fit(x, y, batch_size=12, epochs=1, shuffle=False, verbose=0, callbacks=[logger])
    assert len(seen) == 3
    for logs, stop in zip(seen, [12, 24, 30]):
        loss, acc = reference_loss_and_accuracy(weights, x[:stop], y[:stop])
        assert logs["loss"] == pytest.approx(loss, rel=1e-5) and logs["accuracy"] == pytest.approx(acc)


# ------------------------------------------------------------------ shuffle
class BatchRecorder(keras.Sequential):
    """A model that writes down the rows of every batch it trains on (column 0 holds the row's index)."""

    def train_step(self, data):   # Keras 3's signature: data = (x, y)
        x, y = data
        self.seen.append(np.asarray(x)[:, 0].astype(int))
        assert np.array_equal(np.asarray(y), self.labels[self.seen[-1]])  # x and y stay paired
        return super().train_step(data)


def recorded_epochs(shuffle, n=40, batch_size=6, epochs=2, validation_split=0.0):
    x = np.zeros((n, 2), np.float32)
    x[:, 0] = np.arange(n)
    labels = np.arange(n) % 3
    tg.random.set_seed(0)
    model = BatchRecorder([layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    model.seen, model.labels = [], labels
    model.fit(x, labels, batch_size=batch_size, epochs=epochs, shuffle=shuffle,
              validation_split=validation_split, verbose=0)
    per_epoch = len(model.seen) // epochs
    return [np.concatenate(model.seen[e * per_epoch:(e + 1) * per_epoch]) for e in range(epochs)]


def test_shuffle_false_trains_in_data_order():
    for order in recorded_epochs(shuffle=False):
        np.testing.assert_array_equal(order, np.arange(40))


def test_shuffle_true_visits_every_sample_once_in_a_new_order_each_epoch():
    first, second = recorded_epochs(shuffle=True)
    for order in (first, second):
        np.testing.assert_array_equal(np.sort(order), np.arange(40))  # each sample exactly once
        assert not np.array_equal(order, np.arange(40))
    assert not np.array_equal(first, second)


def test_shuffle_happens_after_the_validation_split():
    (order,) = recorded_epochs(shuffle=True, n=50, epochs=1, validation_split=0.2)
    np.testing.assert_array_equal(np.sort(order), np.arange(40))  # the last 10 are held out
    assert not np.array_equal(order, np.arange(40))


# ------------------------------------------------------------------ fit takes exact steps
def test_one_full_batch_sgd_step_equals_the_hand_computed_step():
    x, y = data(24, seed=2)
    lr = 0.3
    model = model_with(optimizers.SGD(learning_rate=lr))
    before = model.get_weights()
    model.fit(x, y, batch_size=24, epochs=1, verbose=0)
    grads = reference_gradients(before, x, y)
    assert min(np.abs(g).max() for g in grads) > 1e-3  # every weight really moves
    for after, w, g in zip(model.get_weights(), before, grads):
        np.testing.assert_allclose(after, w - lr * g, rtol=1e-5, atol=1e-6)


def test_unshuffled_minibatch_steps_follow_the_data_order():
    """Batches of 8, 8 and 4 for two epochs: six SGD steps, replayed in NumPy in data order.
    Replaying them in another order gives other weights, so the order is pinned too."""
    x, y = data(20, seed=3)
    lr = 0.5
    model = model_with(optimizers.SGD(learning_rate=lr))
    weights = [w.astype(np.float64) for w in model.get_weights()]
    start = [w.copy() for w in weights]
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for _ in range(2):
        for s in range(0, 20, 8):
            grads = reference_gradients(weights, x[s:s + 8], y[s:s + 8])
            weights = [w - lr * g for w, g in zip(weights, grads)]
    for ours, ref in zip(model.get_weights(), weights):
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)
    reversed_weights = start
    for _ in range(2):
        for s in reversed(range(0, 20, 8)):
            grads = reference_gradients(reversed_weights, x[s:s + 8], y[s:s + 8])
            reversed_weights = [w - lr * g for w, g in zip(reversed_weights, grads)]
    assert max(np.abs(a - b).max() for a, b in zip(weights, reversed_weights)) > 1e-3


# ------------------------------------------------------------------ evaluate / predict
def test_evaluate_and_predict_match_numpy_on_trained_weights():
    x, y = data(70, seed=4)
    model = model_with("rmsprop")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    weights = model.get_weights()
    _, p = reference_forward(weights, x)
    np.testing.assert_allclose(model.predict(x, batch_size=32, verbose=0), p, rtol=1e-5, atol=1e-6)
    loss, acc = reference_loss_and_accuracy(weights, x, y)
    assert 0.05 < acc < 0.95  # a value the accuracy could get wrong either way
    ours_loss, ours_acc = model.evaluate(x, y, batch_size=32, verbose=0)  # batches of 32, 32, 6
    assert ours_loss == pytest.approx(loss, rel=1e-5)
    assert ours_acc == pytest.approx(acc, rel=1e-12)


# ------------------------------------------------------------------ callbacks
def test_callbacks_get_params_and_lambda_callbacks_are_called():
    x, y = data(30)
    model = model_with(optimizers.SGD(0.0))
    calls = []
    recorder = callbacks.LambdaCallback(
        on_train_begin=lambda logs=None: calls.append("train_begin"),
        on_epoch_begin=lambda epoch, logs=None: calls.append(f"epoch_begin {epoch}"),
        on_train_batch_end=lambda batch, logs=None: calls.append(f"batch_end {batch}"),
        on_epoch_end=lambda epoch, logs=None: calls.append(f"epoch_end {epoch} {sorted(logs)}"),
        on_train_end=lambda logs=None: calls.append("train_end"))
    history = model.fit(x, y, batch_size=12, epochs=2, verbose=0, callbacks=[recorder])
    batches = ["batch_end 0", "batch_end 1", "batch_end 2"]
    assert calls == ["train_begin",
                     "epoch_begin 0", *batches, "epoch_end 0 ['accuracy', 'loss']",
                     "epoch_begin 1", *batches, "epoch_end 1 ['accuracy', 'loss']", "train_end"]
    assert recorder.params == {"epochs": 2, "steps": 3, "verbose": 0}
    assert recorder.model is model and history.model is model
    assert repr(history).startswith("<tapegrad.keras.callbacks.History object at 0x")


# ------------------------------------------------------------------ accuracy metrics
# 5 rows, 3 classes: argmax over the rows (axis 0) has 3 entries, not 5, so it cannot pass.
SCORES = np.array([[0.1, 0.2, 0.7],     # predicts 2
                   [0.6, 0.3, 0.1],     # predicts 0
                   [0.2, 0.5, 0.3],     # predicts 1
                   [0.3, 0.3, 0.4],     # predicts 2
                   [0.05, 0.9, 0.05]],  # predicts 1
                  np.float32)
LABELS = np.array([2, 0, 0, 2, 2])      # right, right, wrong, right, wrong -> 3/5


@pytest.mark.parametrize("as_tensor", [False, True], ids=["host", "backend"])
def test_sparse_categorical_accuracy_takes_argmax_over_the_last_axis(as_tensor):
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(LABELS, tg.constant(SCORES) if as_tensor else SCORES)
    assert m.result() == pytest.approx(3 / 5)
    m.update_state(LABELS[:3], tg.constant(SCORES[:3]) if as_tensor else SCORES[:3])  # 2 of 3 more
    assert m.result() == pytest.approx(5 / 8)  # a mean over 8 samples, not of the two batch rates


def test_sparse_categorical_accuracy_on_a_sequence_batch():
    """(batch, time, classes): the class axis is the last one, not axis 1."""
    scores = np.stack([SCORES[:4], SCORES[1:]])            # shape (2, 4, 3)
    labels = np.array([[2, 0, 0, 2], [0, 1, 0, 1]])        # 3 of 4, then 3 of 4 ([0,1,2,1] predicted)
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(labels, scores)
    assert m.result() == pytest.approx(6 / 8)


@pytest.mark.parametrize("as_tensor", [False, True], ids=["host", "backend"])
def test_categorical_accuracy_on_one_hot_labels(as_tensor):
    m = metrics.CategoricalAccuracy()
    m.update_state(np.eye(3, dtype=np.float32)[LABELS], tg.constant(SCORES) if as_tensor else SCORES)
    assert m.result() == pytest.approx(3 / 5)


def test_binary_accuracy_thresholds_each_prediction():
    m = metrics.BinaryAccuracy()
    m.update_state(np.array([[1], [0], [1], [0], [1]]), np.array([[0.9], [0.2], [0.4], [0.6], [0.51]]))
    assert m.result() == pytest.approx(3 / 5)  # right, right, wrong, wrong, right


def test_metric_names_are_the_keras_names():
    assert [metrics.Mean().name, metrics.SparseCategoricalAccuracy().name, metrics.CategoricalAccuracy().name,
            metrics.BinaryAccuracy().name] == ["mean", "sparse_categorical_accuracy", "categorical_accuracy",
                                               "binary_accuracy"]


def test_mean_is_weighted_by_sample_weight_and_by_value_count():
    m = metrics.Mean()
    # a scalar weight weighs the call's mean, as in Keras's reduce_to_samplewise_values
    m.update_state(tg.constant([1.0, 3.0]), sample_weight=2)   # backend path: 2 * mean 2 over weight 2
    m.update_state(tg.constant([5.0]))                          # + 5 over one sample
    assert m.result() == pytest.approx(9 / 3)
    m.reset_state()
    m.update_state([1.0, 2.0, 3.0], sample_weight=[1.0, 0.0, 2.0])   # host path: (1 + 6) / 3
    assert m.result() == pytest.approx(7 / 3)
    m.update_state([4.0], sample_weight=[1.0])                        # (7 + 4) / 4
    assert m.result() == pytest.approx(11 / 4)
    m.reset_state()
    m.update_state([1.0, 2.0])                                        # host path, unweighted
    m.update_state([6.0])
    assert m.result() == pytest.approx(3.0)


@pytest.mark.parametrize("as_tensor", [False, True], ids=["host", "backend"])
def test_sparse_accuracy_takes_labels_of_shape_n_by_1(as_tensor):
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(LABELS[:, None], tg.constant(SCORES) if as_tensor else SCORES)
    assert m.result() == pytest.approx(3 / 5)


def test_categorical_accuracy_on_a_sequence_batch():
    scores = np.stack([SCORES[:4], SCORES[1:]])                          # (2, 4, 3)
    labels = np.eye(3)[np.array([[2, 0, 0, 2], [0, 1, 0, 1]])]           # 3 of 4, then 3 of 4
    m = metrics.CategoricalAccuracy()
    m.update_state(labels, scores)
    assert m.result() == pytest.approx(6 / 8)


def test_binary_accuracy_threshold_is_strict():
    m = metrics.BinaryAccuracy()                  # Keras: predicted 1 when y_pred > threshold
    m.update_state(np.array([0, 0, 1]), np.array([0.5, 0.5, 0.2]))   # 0.5 is "0": right, right, wrong
    assert m.result() == pytest.approx(2 / 3)                          # (with >= it would be 0 / 3)


# ------------------------------------------------------------------ optimizers where epsilon matters
# Keras 3's update rules, written out (keras/src/optimizers/rmsprop.py, adam.py):
#   RMSprop: v = rho v + (1 - rho) g^2;           w -= lr g / sqrt(v + eps)
#   Adam:    m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
#            w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
# With g ~ 1e-7 the square root of v is ~ 3e-8, so whether eps = 1e-7 sits inside or outside
# the root (or is bias-corrected with v) changes the step by a factor of 30 to 10,000.
TINY_GRAD = np.array([1e-7, -3e-7, 2e-8, 5e-7], np.float64)


def keras_rmsprop_steps(g, steps, lr=0.01, rho=0.9, eps=1e-7):
    w, v = np.zeros_like(g), np.zeros_like(g)
    for _ in range(steps):
        v = rho * v + (1 - rho) * g * g
        w = w - lr * g / np.sqrt(v + eps)
    return w


def keras_adam_steps(g, steps, lr=0.01, b1=0.9, b2=0.999, eps=1e-7):
    w, m, v = np.zeros_like(g), np.zeros_like(g), np.zeros_like(g)
    for t in range(1, steps + 1):
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        w = w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    return w


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["rmsprop", "adam"])
def test_optimizer_steps_with_tiny_gradients_match_keras(name, dtype):
    opt = optimizers.RMSprop(0.01) if name == "rmsprop" else optimizers.Adam(0.01)
    reference = keras_rmsprop_steps if name == "rmsprop" else keras_adam_steps
    var = tg.Variable(np.zeros(4, dtype))
    for _ in range(3):
        opt.apply_gradients([(tg.constant(TINY_GRAD.astype(dtype)), var)])
    np.testing.assert_allclose(var.numpy(), reference(TINY_GRAD.astype(dtype).astype(np.float64), 3),
                               rtol=1e-4 if dtype == np.float32 else 1e-10)


def test_bad_validation_arguments_are_named():
    x, y = data(10)
    model = model_with(optimizers.SGD(0.0))
    with pytest.raises(ValueError, match=r"^validation_split must be in \[0, 1\), got 1.0"):
        model.fit(x, y, validation_split=1.0, verbose=0)
    with pytest.raises(ValueError, match="^validation_split=0.95 leaves no training or no validation samples out of 10"):
        model.fit(x, y, validation_split=0.95, verbose=0)  # int(10 * 0.05) = 0 left to train on
    with pytest.raises(ValueError, match=r"^validation_data must be a tuple \(x_val, y_val\)"):
        model.fit(x, y, validation_data=(x,), verbose=0)
    with pytest.raises(ValueError, match=r"^fit \(validation_data\): x and y have different lengths"):
        model.fit(x, y, validation_data=(x, y[:-1]), verbose=0)
    with pytest.raises(TypeError, match="^callbacks must be Callback instances, got function$"):
        model.fit(x, y, callbacks=[lambda logs: None], verbose=0)
    with pytest.raises(ValueError, match="^fit: x and y have different lengths: 10 samples vs 9 labels$"):
        model.fit(x, y[:-1], verbose=0)
    with pytest.raises(ValueError, match="^epochs must be a non-negative integer, got -1$"):
        model.fit(x, y, epochs=-1, verbose=0)


def test_verbose_fit_numbers_the_epochs_from_initial_epoch(capsys):
    x, y = data(20)
    model = model_with(optimizers.SGD(0.0))
    model.fit(x, y, batch_size=8, epochs=3, initial_epoch=1, verbose=2)
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("Epoch")] == ["Epoch 2/3", "Epoch 3/3"]
    assert out.count("3/3 - ") == 2  # one summary line per epoch: 3 steps of 8, 8, 4
