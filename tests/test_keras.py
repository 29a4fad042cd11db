"""The Keras API: build/summary, fit/evaluate/predict, weights files, errors."""

import io
import os

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras
from tapegrad.keras import layers, losses, metrics, optimizers


def blobs(n=600, features=8, classes=3, seed=0):
    """Well separated Gaussian blobs: a linearly separable classification task."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, (classes, features))
    y = rng.integers(0, classes, n)
    x = (centers[y] + rng.normal(0, 0.5, (n, features))).astype(np.float32)
    return x, y


def small_model(units=16, classes=3):
    tg.random.set_seed(0)
    model = keras.Sequential([layers.Dense(units, activation="relu"), layers.Dense(classes, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_build_and_summary_param_counts():
    model = keras.Sequential([layers.Dense(512, activation="relu"), layers.Dense(10, activation="softmax")])
    lines = []
    model.summary(print_fn=lines.append)
    assert "0 (unbuilt)" in lines[0]
    model.build((None, 784))
    assert model.count_params() == 407_050
    assert [w.shape for w in model.weights] == [(784, 512), (512,), (512, 10), (10,)]
    assert model.layers[0].kernel.shape == (784, 512) and model.layers[0].bias.shape == (512,)
    assert len(model.trainable_weights) == 4
    text = io.StringIO()
    model.summary(print_fn=lambda s: text.write(s))
    out = text.getvalue()
    assert out.startswith(f'Model: "{model.name}"')
    for piece in ("Layer (type)", "Output Shape", "Param #", "(None, 512)", "(None, 10)", "401,920", "5,130",
                  "Total params: 407,050 (1.55 MB)", "Trainable params: 407,050 (1.55 MB)",
                  "Non-trainable params: 0 (0.00 B)"):
        assert piece in out, piece


def test_input_and_input_shape_build_immediately():
    m = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2)])
    assert m.built and m.count_params() == 10
    m2 = keras.Sequential([layers.Dense(3, input_shape=(5,))])
    assert m2.built and m2.output_shape == (None, 3)


def test_glorot_uniform_limits_and_seed():
    tg.random.set_seed(1)
    d = layers.Dense(200)
    d.build((None, 300))
    limit = np.sqrt(6 / 500)
    k = d.kernel.numpy()
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.9 * limit
    assert np.all(d.bias.numpy() == 0)
    tg.random.set_seed(1)
    d2 = layers.Dense(200)
    d2.build((None, 300))
    np.testing.assert_array_equal(k, d2.kernel.numpy())


def test_fit_reaches_high_accuracy_and_history(capsys):
    x, y = blobs()
    model = small_model()
    history = model.fit(x, y, epochs=4, batch_size=32, validation_split=0.2, verbose=1)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == [0, 1, 2, 3]
    assert all(len(v) == 4 for v in history.history.values())
    assert history.history["accuracy"][-1] > 0.95 and history.history["val_accuracy"][-1] > 0.95
    assert history.history["loss"][-1] < history.history["loss"][0]
    out = capsys.readouterr().out
    assert "Epoch 1/4" in out and "15/15 " + "\u2501" * 20 in out
    assert "- accuracy: " in out and out.index("accuracy:") < out.index("- loss:") < out.index("val_accuracy")


def test_evaluate_and_predict_shapes(capsys):
    x, y = blobs()
    model = small_model()
    model.fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
    loss, acc = model.evaluate(x, y, verbose=0)
    # the same numbers from the predictions, in NumPy: mean -log p[label] (clipped as Keras) and argmax hits
    probs = model.predict(x, verbose=0).astype(np.float64)
    expected_loss = -np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1 - 1e-7)).mean()
    assert isinstance(loss, float) and loss == pytest.approx(expected_loss, rel=1e-5)
    assert acc == pytest.approx(np.mean(probs.argmax(axis=1) == y), rel=1e-12)
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(d) == {"loss", "accuracy"} and np.isclose(d["loss"], loss)
    model.evaluate(x, y, verbose=1)
    assert "19/19 " in capsys.readouterr().out
    p = model.predict(x[:50], batch_size=16, verbose=0)
    assert isinstance(p, np.ndarray) and p.shape == (50, 3)
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)
    out = model(x[:5])
    assert isinstance(out, tg.Tensor) and out.shape == (5, 3)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    only_loss = model.evaluate(x, y, verbose=0)
    assert isinstance(only_loss, float) and only_loss == pytest.approx(expected_loss, rel=1e-5)


def test_uint8_and_float64_inputs_are_cast():
    x, y = blobs()
    model = small_model()
    model.fit(x.astype(np.float64), y, epochs=1, verbose=0)
    model.fit(np.clip(x * 10 + 128, 0, 255).astype(np.uint8), y, epochs=1, verbose=0)
    assert model.predict(x.astype(np.float64), verbose=0).dtype == np.float32


def test_save_load_round_trip(tmp_path):
    x, y = blobs()
    model = small_model()
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "m.weights.npz"
    model.save_weights(path)
    assert os.listdir(tmp_path) == ["m.weights.npz"]  # no temp file left behind
    other = small_model()
    other.load_weights(path)  # builds from the file's shapes
    np.testing.assert_allclose(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_weights_file_errors(tmp_path):
    model = small_model()
    model.build((None, 8))
    with pytest.raises(ValueError, match=".npz"):
        model.save_weights(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=".npz"):
        model.load_weights(tmp_path / "m.weights.h5")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable weights file"):
        model.load_weights(bad)
    wrong = small_model(units=5)
    wrong.build((None, 8))
    wrong.save_weights(tmp_path / "wrong.npz")
    with pytest.raises(ValueError, match=r"array 0 .*shape \(8, 5\).*expects shape \(8, 16\)"):
        model.load_weights(tmp_path / "wrong.npz")
    few = keras.Sequential([layers.Dense(16)])
    few.build((None, 8))
    few.save_weights(tmp_path / "few.npz")
    with pytest.raises(ValueError, match="holds 2 arrays but the model has 4"):
        model.load_weights(tmp_path / "few.npz")
    with pytest.raises(FileNotFoundError):
        model.load_weights(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="no weights yet"):
        keras.Sequential([layers.Dense(2)]).save_weights(tmp_path / "x.npz")


def _one_step(opt, w0, g):
    v = tg.Variable(w0)
    opt.apply_gradients([(tg.constant(g), v)])
    return v


def test_optimizer_steps_match_formulas():
    w0 = np.array([1.0, -2.0, 3.0], np.float64)
    g = np.array([0.5, -1.0, 2.0], np.float64)
    np.testing.assert_allclose(_one_step(optimizers.SGD(0.1), w0, g).numpy(), w0 - 0.1 * g)
    # momentum: v = m v - lr g (v starts at 0), w += v; two steps
    opt, v = optimizers.SGD(0.1, momentum=0.9), tg.Variable(w0)
    opt.apply_gradients([(tg.constant(g), v)])
    opt.apply_gradients([(tg.constant(g), v)])
    vel = 0.9 * (-0.1 * g) - 0.1 * g
    np.testing.assert_allclose(v.numpy(), w0 - 0.1 * g + vel)
    nest = _one_step(optimizers.SGD(0.1, momentum=0.9, nesterov=True), w0, g)
    np.testing.assert_allclose(nest.numpy(), w0 + 0.9 * (-0.1 * g) - 0.1 * g)
    r = _one_step(optimizers.RMSprop(0.01), w0, g)
    np.testing.assert_allclose(r.numpy(), w0 - 0.01 * g / np.sqrt(0.1 * g * g + 1e-7))
    a = _one_step(optimizers.Adam(0.01), w0, g)
    m, vv = 0.1 * g, 0.001 * g * g
    alpha = 0.01 * np.sqrt(1 - 0.999) / (1 - 0.9)
    np.testing.assert_allclose(a.numpy(), w0 - alpha * m / (np.sqrt(vv) + 1e-7))


def test_optimizer_none_gradients():
    v1, v2 = tg.Variable(1.0), tg.Variable(2.0)
    opt = optimizers.SGD(0.5)
    with pytest.warns(UserWarning, match="do not exist"):
        opt.apply_gradients([(tg.constant(1.0), v1), (None, v2)])
    assert float(v1) == 0.5 and float(v2) == 2.0
    with pytest.raises(ValueError, match="No gradients"):
        opt.apply_gradients([(None, v1)])


def test_names_resolve_and_unknown_names_list_valid_ones():
    assert isinstance(optimizers.get("adam"), optimizers.Adam)
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    with pytest.raises(ValueError, match="valid names are.*rmsprop"):
        optimizers.get("rmsprops")
    with pytest.raises(ValueError, match="valid names are.*sparse_categorical_crossentropy"):
        losses.get("crossentropy")
    with pytest.raises(ValueError, match="valid names are.*relu"):
        layers.Dense(3, activation="rellu")
    with pytest.raises(ValueError, match="valid names are"):
        metrics.get("acuracy")


@pytest.mark.parametrize("units", [0, -1, 2.5])
def test_bad_units(units):
    with pytest.raises(ValueError, match="units"):
        layers.Dense(units)


def test_bad_fit_inputs():
    x, y = blobs(n=64)
    model = small_model()
    uncompiled = keras.Sequential([layers.Dense(3, activation="softmax")])
    with pytest.raises(RuntimeError, match="compile"):
        uncompiled.fit(x, y)
    with pytest.raises(ValueError, match="different lengths"):
        model.fit(x, y[:-1], verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="epochs"):
        model.fit(x, y, epochs=-1, verbose=0)
    with pytest.raises(ValueError, match="empty"):
        model.fit(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match="out of range"):
        model.fit(x, np.where(y == 0, 3, y), verbose=0)
    with pytest.raises(ValueError, match="out of range"):
        model.fit(x, y - 1, verbose=0)
    with pytest.raises(ValueError, match="integer"):
        model.fit(x, y + 0.5, verbose=0)
    with pytest.raises(ValueError, match="expects inputs of shape"):
        model.fit(x[:, :5], y, verbose=0)
    with pytest.raises(ValueError, match="incompatible"):
        model(x[:, :5])
    with pytest.raises(ValueError, match="verbose"):
        model.fit(x, y, verbose=3)
    assert model.fit(x, y, epochs=0, verbose=0).history == {}


@pytest.mark.parametrize("backend", sorted({"numpy", tg.kernels.get_backend().name}))
def test_nan_inputs_give_nan_loss_without_crashing(backend):
    x, y = blobs(n=64)
    x[3, 2] = np.nan
    with tg.kernels.use(backend):
        model = small_model()
        history = model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    assert np.isnan(history.history["loss"][0])


def test_other_losses_train():
    x, y = blobs(n=300)
    onehot = np.eye(3, dtype=np.float32)[y]
    tg.random.set_seed(0)
    model = keras.Sequential([layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(0.05), loss=losses.CategoricalCrossentropy(), metrics=["accuracy"])
    h = model.fit(x, onehot, epochs=5, verbose=0)
    assert h.history["accuracy"][-1] > 0.9
    reg = keras.Sequential([layers.Dense(1)])
    reg.compile(optimizer=optimizers.SGD(0.01), loss="mse")
    target = x[:, :1] * 0.5
    h = reg.fit(x, target, epochs=5, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_losses_functions_and_classes():
    labels = np.array([0, 1])
    probs = tg.nn.softmax(tg.constant([[2.0, 1.0], [0.5, 3.0]]))
    per_sample = losses.sparse_categorical_crossentropy(labels, probs)
    assert per_sample.shape == (2,)
    expected = -np.log(probs.numpy()[[0, 1], labels])
    np.testing.assert_allclose(per_sample.numpy(), expected, rtol=1e-5)
    mean = losses.SparseCategoricalCrossentropy()(labels, probs)
    np.testing.assert_allclose(float(mean), expected.mean(), rtol=1e-5)
    logits = tg.constant([[2.0, 1.0], [0.5, 3.0]])
    np.testing.assert_allclose(losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits).numpy(),
                               expected.mean(), rtol=1e-5)


def test_metrics_running_mean():
    m = metrics.SparseCategoricalAccuracy()
    m.update_state([0, 1, 2], [[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.1, 0.2, 0.7]])  # 2 of 3 (rows 0, 2)
    m.update_state([1, 1], [[0.1, 0.6, 0.3], [0.2, 0.3, 0.5]])                       # 1 of 2 (row 0)
    assert m.result() == 3 / 5  # over all five rows, not the mean of 2/3 and 1/2
    mean = metrics.Mean()
    mean.update_state([1.0, 3.0])
    assert mean.result() == 2.0
    m.reset_state()
    assert m.result() == 0.0


def test_book_from_scratch_loop_uses_fused_loss():
    """The book's NaiveDense step: softmax(matmul + b) -> SCCE -> reduce_mean."""
    x, y = blobs(n=128, features=8)
    tg.random.set_seed(0)
    W = tg.Variable(tg.random.uniform((8, 3), minval=0, maxval=1e-1))
    b = tg.Variable(tg.zeros((3,)))
    opt = optimizers.SGD(learning_rate=1e-2)
    first = None
    for _ in range(30):
        W_before, b_before = W.numpy().astype(np.float64), b.numpy().astype(np.float64)
        with tg.GradientTape() as tape:
            predictions = tg.nn.softmax(tg.matmul(x, W) + b)
            per_sample = tg.keras.losses.sparse_categorical_crossentropy(y, predictions)
            average_loss = tg.reduce_mean(per_sample)
        gradients = tape.gradient(average_loss, [W, b])
        opt.apply_gradients(zip(gradients, [W, b]))
        first = first if first is not None else float(average_loss)
    # the last step, in NumPy: its loss, and the gradients (softmax - onehot) / n the tape gave
    logits = x.astype(np.float64) @ W_before + b_before
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert float(average_loss) == pytest.approx(-np.log(p[np.arange(len(y)), y]).mean(), rel=1e-5)
    d_logits = (p - np.eye(3)[y]) / len(y)
    np.testing.assert_allclose(gradients[0].numpy(), x.T.astype(np.float64) @ d_logits, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gradients[1].numpy(), d_logits.sum(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(W.numpy(), W_before - 1e-2 * (x.T.astype(np.float64) @ d_logits),
                               rtol=1e-5, atol=1e-6)
    assert float(average_loss) < first


def test_train_on_batch_takes_one_step_and_reports_that_batch():
    x, y = blobs(n=64)
    model = small_model()
    before = model.evaluate(x, y, verbose=0)
    loss, acc = model.train_on_batch(x, y)
    # the loss and accuracy of the batch before the update
    assert loss == pytest.approx(before[0], rel=1e-5) and acc == pytest.approx(before[1], rel=1e-12)
    after = model.evaluate(x, y, verbose=0)
    assert after[0] < before[0]
    logs = model.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    with pytest.raises(ValueError, match="different lengths"):
        model.train_on_batch(x, y[:-1])


def test_save_weights_into_a_missing_folder_names_the_path(tmp_path):
    x, y = blobs(n=32)
    model = small_model()
    model.fit(x, y, epochs=1, verbose=0)
    target = tmp_path / "nope" / "w.npz"
    with pytest.raises(FileNotFoundError, match=r"nope.*w\.npz.*does not exist"):
        model.save_weights(str(target))
