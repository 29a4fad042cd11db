"""The Keras API: build/summary, fit/evaluate/predict, weights files, errors."""

import io
import os
import stat
import subprocess
import sys
import tracemalloc
import zipfile

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


def _dead_pid():
    """The id of a process that has just exited (so no process has it now)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_save_weights_deletes_dead_writers_temp_files_only(tmp_path):
    """A writer killed mid-save leaves its temp file; the next save there deletes it."""
    model = small_model()
    model.build((None, 8))
    dead = tmp_path / f".m.weights.npz.tapegrad-{_dead_pid()}-0badc0de.tmp"
    alive = tmp_path / f".other.npz.tapegrad-{os.getppid()}-0badc0de.tmp"   # a running process
    foreign = tmp_path / ".notes.tmp"                                        # not ours at all
    for path in (dead, alive, foreign):
        path.write_bytes(b"half a file")
    model.save_weights(tmp_path / "m.weights.npz")
    assert sorted(os.listdir(tmp_path)) == sorted([alive.name, foreign.name, "m.weights.npz"])


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_save_weights_file_mode_follows_the_umask(tmp_path, umask):
    model = small_model()
    model.build((None, 8))
    old = os.umask(umask)
    try:
        model.save_weights(tmp_path / "m.weights.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.weights.npz").st_mode) == 0o666 & ~umask
    os.chmod(tmp_path / "m.weights.npz", 0o604)      # overwriting keeps the file's own mode, as open() does
    model.save_weights(tmp_path / "m.weights.npz")
    assert stat.S_IMODE(os.stat(tmp_path / "m.weights.npz").st_mode) == 0o604


def test_save_weights_after_a_writer_killed_mid_write_leaves_only_the_weights(tmp_path):
    """kill -9 in the middle of an atomic write, then a save to the same folder."""
    script = ("import sys, time\n"
              "from tapegrad.atomic_file import write_atomically\n"
              "with write_atomically(sys.argv[1], suffix='.tmp') as f:\n"
              "    f.write(b'half a file'); f.flush()\n"
              "    print('writing', flush=True); time.sleep(60)\n")
    writer = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "m.weights.npz")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "writing\n"
    finally:
        writer.kill()                      # SIGKILL: no cleanup can run
        writer.wait(timeout=10)
        writer.stdout.close()
    assert len(os.listdir(tmp_path)) == 1 and os.listdir(tmp_path)[0].endswith(".tmp")
    model = small_model()
    model.build((None, 8))
    model.save_weights(tmp_path / "m.weights.npz")
    assert os.listdir(tmp_path) == ["m.weights.npz"]


def _craft_npz(path, members):
    """A .npz whose members have the given headers: name -> (shape, dtype, data bytes to write).

    The data is written in 1 MB chunks of zeros, so a member can claim (or
    hold) far more than the test ever has in memory.
    """
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (shape, dtype, nbytes) in members.items():
            with archive.open(name, "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(
                    f, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                        "shape": shape})
                chunk = bytes(1 << 20)
                for start in range(0, nbytes, len(chunk)):
                    f.write(chunk[:nbytes - start])


def _weights_members(model):
    return {f"weight_{i:04d}.npy": (w.shape, w.dtype, w.size * w.dtype.itemsize) for i, w in enumerate(model.weights)}


def test_load_weights_checks_each_header_before_inflating_its_data(tmp_path):
    """A 16 MB array (16 KB compressed) of the wrong shape: refused without reading it."""
    model = small_model()
    model.build((None, 8))
    members = _weights_members(model)
    members["weight_0000.npy"] = ((1 << 22,), "<f4", 4 << 22)
    path = tmp_path / "big.npz"
    _craft_npz(path, members)
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"array 0 .*shape \(4194304,\).*expects shape \(8, 16\)"):
            model.load_weights(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20, f"load_weights allocated {peak:,} bytes to refuse the file"


@pytest.mark.parametrize("built", [True, False])
def test_load_weights_header_claiming_terabytes_is_a_value_error(tmp_path, built):
    model = small_model()
    model.build((None, 8))
    members = _weights_members(model)
    members["weight_0000.npy"] = ((1 << 40, 16), "<f4", 64)   # 64 TiB claimed, 64 bytes held
    path = tmp_path / "forged.npz"
    _craft_npz(path, members)
    target = model if built else small_model()
    with pytest.raises(ValueError, match=r"(claims shape \(1099511627776, 16\)|array 0 .*expects shape)"):
        target.load_weights(path)
    assert target.built == built   # an unbuilt model is not built from a forged header


# ------------------------------------------------------------------ inputs Keras accepts
@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_bool_labels_are_classes_0_and_1(backend):
    """TF casts bool labels: fit and evaluate give what the 0/1 integer labels give."""
    x, y = blobs(n=96, classes=2)
    results = []
    with tg.kernels.use(backend):
        for labels in (y.astype(bool), y.astype(np.int64)):
            model = small_model(classes=2)
            history = model.fit(x, labels, batch_size=16, epochs=2, shuffle=False, verbose=0).history
            results.append((history, model.evaluate(x, labels, verbose=0), model.get_weights()))
    (h_bool, e_bool, w_bool), (h_int, e_int, w_int) = results
    assert h_bool == h_int and e_bool == e_int
    for a, b in zip(w_bool, w_int):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_big_endian_floats_convert_as_numpy_does(backend):
    x, y = blobs(n=64)
    swapped = x.astype(">f4")
    with tg.kernels.use(backend):
        t = tg.constant(swapped)
        assert t.dtype == np.float32 and t.numpy().dtype.isnative
        np.testing.assert_array_equal((t + tg.constant(x)).numpy(), 2 * x)
        np.testing.assert_allclose(tg.matmul(t, tg.constant(swapped.T)).numpy(), x @ x.T, rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(tg.constant([1, 2], dtype=">f8").numpy(), [1.0, 2.0])
        converted = tg.ops.convert(swapped)          # what a layer does to its input array
        assert converted.numpy().dtype.isnative
        np.testing.assert_array_equal(converted.numpy(), x)
        assert np.shares_memory(tg.ops.convert(x)._data, x)   # a native host array is wrapped, not copied
        out = []
        for data in (swapped, x):
            model = small_model()
            model.fit(data, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
            out.append((model.evaluate(data, y, verbose=0), model.predict(data, verbose=0)))
    assert out[0][0] == out[1][0]
    np.testing.assert_array_equal(out[0][1], out[1][1])


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_accuracy_counts_rows_with_nan_as_wrong(backend):
    """A NaN row has no argmax: a miss, on the host path and on the kernel path."""
    scores = np.array([[np.nan, np.nan, np.nan], [0.2, np.nan, 0.1], [0.1, 0.7, 0.2], [0.6, 0.3, 0.1]], np.float32)
    labels = np.array([0, 0, 1, 2])                  # np.argmax says 0, 1, 1, 0: a naive count gives 2 of 4
    expected = 1 / 4                                  # only row 2 is right
    with tg.kernels.use(backend):
        for y_pred in (scores, tg.constant(scores)):  # host arrays, then tensors (the kernel)
            sparse = metrics.SparseCategoricalAccuracy()
            sparse.update_state(labels, y_pred)
            categorical = metrics.CategoricalAccuracy()
            categorical.update_state(np.eye(3)[labels], y_pred)
            assert sparse.result() == expected and categorical.result() == expected
    binary = metrics.BinaryAccuracy()
    binary.update_state(np.array([0.0, 1.0, 0.0]), np.array([np.nan, 0.9, 0.2], np.float32))
    assert binary.result() == 2 / 3


# ------------------------------------------------------------------ labels: checked once per batch
def test_labels_are_copied_and_checked_once_per_batch(monkeypatch):
    """fit checks the whole label array once, then each step makes its batch's
    labels ONE ClassIds that the loss and the accuracy share: one copy and
    check per step (not one per kernel), and the same numbers as before."""
    from tapegrad.kernels import _labels   # where the kernels make their ClassIds

    fresh = []
    original = _labels.class_ids

    def counting(labels, **kwargs):
        if not isinstance(labels, _labels.ClassIds):
            fresh.append(np.shape(labels))
        return original(labels, **kwargs)

    monkeypatch.setattr(_labels, "class_ids", counting)
    monkeypatch.setattr(tg.kernels, "class_ids", counting)
    x, y = blobs(n=40)
    model = small_model()
    with tg.kernels.use("numpy"):
        history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    assert fresh == [(40,)] + [(8,)] * 5, fresh          # the whole array, then one per step
    fresh.clear()
    with tg.kernels.use("numpy"):
        model.evaluate(x, y, batch_size=20, verbose=0)
    assert fresh == [(40,)] + [(20,)] * 2, fresh
    assert len(history["loss"]) == 1


def test_checked_labels_give_the_loss_and_accuracy_raw_labels_give():
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((12, 5)).astype(np.float32)
    y = rng.integers(0, 5, 12)
    with tg.kernels.use("numpy"):
        probs = tg.nn.softmax(tg.constant(logits))
        ids = tg.ops.class_ids(y.reshape(12, 1), like=probs)
        for labels in (y, ids):
            acc = metrics.SparseCategoricalAccuracy()
            acc.update_state(labels, probs)
            assert acc.result() == np.mean(np.argmax(logits, 1) == y)
            loss = float(losses.SparseCategoricalCrossentropy()(labels, probs))
            shifted = logits.astype(np.float64) - logits.max(1, keepdims=True)
            expected = np.mean(np.log(np.exp(shifted).sum(1)) - shifted[np.arange(12), y])
            assert loss == pytest.approx(expected, rel=1e-5)
        with pytest.raises(ValueError, match="label 5 is out of range for 5 classes"):
            losses.sparse_categorical_crossentropy(tg.ops.class_ids(y + 1), probs)
        with pytest.raises(ValueError, match="label -1 is out of range"):
            tg.ops.class_ids(y - 1)


def test_apply_update_is_the_one_door_to_a_variables_array():
    """ops.apply_update runs the named fused kernel on the Variable in place (the
    value checked against NumPy's formula) and refuses what it cannot update."""
    with tg.kernels.use("numpy"):
        w = tg.Variable(np.array([1.0, -2.0, 3.0], np.float32))
        v = tg.ops.zeros_variable(w.shape, w.dtype, like=w)
        g = tg.constant(np.array([0.5, 0.5, -1.0], np.float32))
        tg.ops.apply_update("rmsprop_update", w, g, v, learning_rate=0.1, rho=0.9, epsilon=1e-7)
        expected_v = 0.1 * np.array([0.25, 0.25, 1.0])
        np.testing.assert_allclose(v.numpy(), expected_v, rtol=1e-6)
        np.testing.assert_allclose(w.numpy(), [1.0, -2.0, 3.0] - 0.1 * g.numpy() / np.sqrt(expected_v + 1e-7),
                                   rtol=1e-5)
        assert not v.trainable and v.backend is w.backend
        with pytest.raises(ValueError, match="unknown kernel 'relu'"):
            tg.ops.apply_update("relu", w, g)
        with pytest.raises(TypeError, match="needs a Variable"):
            tg.ops.apply_update("sgd_update", tg.constant([1.0]), [1.0])
