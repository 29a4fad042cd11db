"""Callbacks as Keras 3 documents them: hooks and their logs, EarlyStopping,
ModelCheckpoint, CSVLogger, TerminateOnNaN, LambdaCallback, TensorBoard."""

import csv
import os
import sys
import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras
from tapegrad.keras import callbacks, layers, optimizers


@pytest.fixture(autouse=True)
def cython_or_numpy_backend():
    backend = "cython" if "cython" in tg.kernels.available_backends() else "numpy"
    with tg.kernels.use(backend):
        yield


def blobs(n=96, features=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (classes, features))
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.normal(0, 1.0, (n, features))).astype(np.float32), y


def tiny_model(optimizer="rmsprop", seed=0):
    tg.random.set_seed(seed)
    model = keras.Sequential([layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class FakeModel:
    """Just what EarlyStopping touches: stop_training and (numbered) weights."""

    def __init__(self):
        self.stop_training = False
        self.weights_now = 0
        self.restored = None

    def get_weights(self):
        return [np.array(self.weights_now)]

    def set_weights(self, arrays):
        self.restored = int(arrays[0])


def drive(callback, values, key="val_loss"):
    """Feed ``values`` as the epochs' logs, as fit would; the epoch it stopped after (or None)."""
    model = FakeModel()
    callback.set_model(model)
    callback.on_train_begin()
    stopped = None
    for epoch, value in enumerate(values):
        model.weights_now = epoch
        callback.on_epoch_end(epoch, {key: value})
        if model.stop_training:
            stopped = epoch
            break
    callback.on_train_end()
    return stopped, model


# ---------------------------------------------------------------- EarlyStopping

@pytest.mark.parametrize("patience, expected", [(0, 2), (1, 2), (2, 3), (3, 7), (10, None)])
def test_early_stopping_patience_counts_epochs_without_improvement(patience, expected):
    # best so far: 1.0, 0.8 (epoch 1), 0.7 (epoch 4); waits after epoch 1: 1, 2, 0, 1, 2, 3
    values = [1.0, 0.8, 0.9, 0.85, 0.7, 0.75, 0.76, 0.77]
    stopped, _ = drive(callbacks.EarlyStopping(patience=patience), values)
    assert stopped == expected


def test_early_stopping_min_delta_mode_baseline_and_start_epoch():
    # min_delta: 0.9 and 0.85 do not beat 1.0 by more than 0.15
    assert drive(callbacks.EarlyStopping(min_delta=0.15, patience=2), [1.0, 0.9, 0.85, 0.8])[0] == 2
    assert drive(callbacks.EarlyStopping(patience=2), [1.0, 0.9, 0.85, 0.8])[0] is None
    # mode="auto" maximizes accuracy-like names and minimizes losses
    rising = [0.5, 0.6, 0.7, 0.8]
    assert drive(callbacks.EarlyStopping(monitor="val_accuracy"), rising, "val_accuracy")[0] is None
    assert drive(callbacks.EarlyStopping(monitor="val_loss"), rising)[0] == 1
    assert drive(callbacks.EarlyStopping(monitor="val_accuracy", mode="min"), rising, "val_accuracy")[0] == 1
    # baseline: improving epochs that stay above it do not reset the wait
    assert drive(callbacks.EarlyStopping(patience=2, baseline=0.5), [0.9, 0.8, 0.85])[0] == 2
    assert drive(callbacks.EarlyStopping(patience=2), [0.9, 0.8, 0.85])[0] is None
    # start_from_epoch: the first epochs are not counted at all
    assert drive(callbacks.EarlyStopping(start_from_epoch=2), [1.0, 2.0, 3.0, 4.0])[0] == 3


def test_early_stopping_restores_best_weights_at_the_end():
    stopped, model = drive(callbacks.EarlyStopping(patience=2, restore_best_weights=True), [1.0, 0.5, 0.9, 0.8])
    assert stopped == 3 and model.restored == 1
    # also when training ends without stopping early
    stopped, model = drive(callbacks.EarlyStopping(patience=5, restore_best_weights=True), [1.0, 0.5, 0.9])
    assert stopped is None and model.restored == 1


def test_early_stopping_warns_and_rejects_like_keras():
    with pytest.warns(UserWarning, match="which is not available. Available metrics are: loss"):
        assert drive(callbacks.EarlyStopping(), [1.0, 2.0], key="loss")[0] is None
    with pytest.warns(UserWarning, match="mode bogus is unknown"):
        callbacks.EarlyStopping(mode="bogus")
    with pytest.raises(ValueError, match="mode='max'"):
        drive(callbacks.EarlyStopping(monitor="val_something"), [1.0], key="val_something")


def test_early_stopping_keras_docstring_example():
    # keras.callbacks.EarlyStopping's docstring: the loss grows from the first
    # epoch, so with patience=3 "only 4 epochs are run"
    callback = callbacks.EarlyStopping(monitor="loss", patience=3)
    tg.random.set_seed(0)
    model = keras.Sequential([layers.Dense(10)])
    model.compile(optimizers.SGD(), loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # the loss overflows, as it does in Keras
        history = model.fit(np.arange(100).reshape(5, 20), np.zeros((5, 10)), epochs=10, batch_size=1,
                            callbacks=[callback], verbose=0)
    assert len(history.history["loss"]) == 4


def test_early_stopping_in_a_real_fit_restores_the_best_epoch_exactly():
    x, y = blobs()
    model = tiny_model()
    script = [0.9, 0.4, 0.6, 0.5, 0.7, 0.1]   # best at epoch 1, so patience 3 stops after epoch 4
    snapshots = []
    inject = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(val_score=script[epoch]))
    record = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    stop = callbacks.EarlyStopping(monitor="val_score", mode="min", patience=3, restore_best_weights=True)
    history = model.fit(x, y, epochs=6, batch_size=32, verbose=0, callbacks=[inject, record, stop])
    assert history.epoch == [0, 1, 2, 3, 4] and history.history["val_score"] == script[:5]
    assert stop.stopped_epoch == 4 and stop.best_epoch == 1
    for restored, best in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(restored, best)
    assert not np.array_equal(model.get_weights()[0], snapshots[4][0])


# ---------------------------------------------------------------- ModelCheckpoint

def test_checkpoint_every_epoch_formats_epoch_and_logs(tmp_path):
    x, y = blobs()
    model = tiny_model()
    snapshots = []
    record = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    path = str(tmp_path / "ckpt-{epoch:02d}-{loss:.3f}.weights.npz")
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0,
                        callbacks=[record, callbacks.ModelCheckpoint(path, save_weights_only=True)])
    expected = [f"ckpt-{e + 1:02d}-{loss:.3f}.weights.npz" for e, loss in enumerate(history.history["loss"])]
    assert sorted(os.listdir(tmp_path)) == expected
    for name, weights in zip(expected, snapshots):
        loaded = tiny_model(seed=1)
        loaded.load_weights(tmp_path / name)
        for a, b in zip(loaded.get_weights(), weights):
            np.testing.assert_array_equal(a, b)


def test_checkpoint_save_best_only_saves_only_improvements(tmp_path):
    x, y = blobs()
    model = tiny_model()
    script = [0.5, 0.4, 0.6, 0.3, 0.35]
    inject = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(val_score=script[epoch]))
    best = callbacks.ModelCheckpoint(str(tmp_path / "best-{epoch:02d}.weights.npz"), monitor="val_score",
                                     mode="min", save_best_only=True, save_weights_only=True)
    model.fit(x, y, epochs=5, batch_size=32, verbose=0, callbacks=[inject, best])
    assert sorted(os.listdir(tmp_path)) == ["best-01.weights.npz", "best-02.weights.npz", "best-04.weights.npz"]
    assert best.best == 0.3
    # mode="auto" on an accuracy: higher is better
    rising = callbacks.ModelCheckpoint(str(tmp_path / "acc.weights.npz"), monitor="val_accuracy",
                                       save_best_only=True, save_weights_only=True)
    rising.set_model(model)
    rising._set_monitor_op()
    assert rising.monitor_op is np.greater


def test_checkpoint_save_freq_in_batches(tmp_path):
    x, y = blobs()   # 96 samples, batch 32: 3 batches an epoch
    model = tiny_model()
    cb = callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}.weights.npz"), save_weights_only=True,
                                   save_freq=2)
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[cb])
    assert sorted(os.listdir(tmp_path)) == ["e1-b2.weights.npz", "e2-b1.weights.npz", "e2-b3.weights.npz"]


def test_checkpoint_file_names_and_full_saves(tmp_path):
    with pytest.raises(ValueError, match=r"must end in '\.weights\.npz'.*'ckpt\.weights\.npz'"):
        callbacks.ModelCheckpoint("ckpt.weights.h5", save_weights_only=True)
    with pytest.raises(ValueError, match=r"must end in '\.keras'"):
        callbacks.ModelCheckpoint("ckpt.h5")
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.ModelCheckpoint("m.keras", save_freq="batch")

    class NoSave(FakeModel):
        pass

    cb = callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch}.keras"))
    cb.set_model(NoSave())
    with pytest.raises(RuntimeError, match=r"NoSave does not have \(every keras Model has it\)"):
        cb.on_train_begin()

    class WithSave(FakeModel):
        def __init__(self):
            super().__init__()
            self.saved = []

        def save(self, filepath):
            self.saved.append(filepath)

    model = WithSave()
    cb.set_model(model)
    cb.on_train_begin()
    cb.on_epoch_end(0, {"val_loss": 1.0})
    assert model.saved == [str(tmp_path / "m-1.keras")]


# ---------------------------------------------------------------- CSVLogger

def test_csv_logger_rows_equal_history(tmp_path):
    x, y = blobs()
    model = tiny_model()
    path = tmp_path / "log.csv"
    history = model.fit(x[:64], y[:64], epochs=3, batch_size=16, validation_data=(x[64:], y[64:]), verbose=0,
                        callbacks=[callbacks.CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [int(r["epoch"]) for r in rows] == history.epoch
    for key, values in history.history.items():
        assert [float(r[key]) for r in rows] == values

    # append: more rows, no second header; without validation the val_ columns read NA (Keras does this)
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[callbacks.CSVLogger(path, append=True)])
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and lines[0].startswith("epoch,") and lines[-1].endswith(",NA,NA")
    other = tmp_path / "semi.csv"
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[callbacks.CSVLogger(other, separator=";")])
    assert other.read_text().splitlines()[0] == "epoch;accuracy;loss;val_accuracy;val_loss"


# ---------------------------------------------------------------- hooks and their logs

def softmax_xent_and_hits(model, x, y):
    """Per-sample cross-entropy and correctness, in NumPy from the model's weights."""
    w, b = model.get_weights()
    z = x.astype(np.float64) @ w + b
    z -= z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y], (z.argmax(axis=1) == y)


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def _record(name):
        def hook(self, *args, logs=None):
            self.calls.append((name, *args, None if logs is None else dict(logs)))
        return hook

    for _name in ["on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
                  "on_predict_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
                  "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin",
                  "on_predict_batch_end"]:
        locals()[_name] = _record(_name)
    del _name


def test_fit_calls_the_hooks_in_keras_order_with_running_means():
    x, y = blobs(n=40)
    model = tiny_model(optimizer=optimizers.SGD(0.0))   # weights stay put: the logs can be recomputed
    rec = Recorder()
    history = model.fit(x[:20], y[:20], epochs=2, batch_size=8, validation_data=(x[20:], y[20:]),
                        shuffle=False, verbose=0, callbacks=[rec])
    names = [c[0] for c in rec.calls]
    epoch = (["on_epoch_begin"] + ["on_train_batch_begin", "on_train_batch_end"] * 3
             + ["on_test_begin"] + ["on_test_batch_begin", "on_test_batch_end"] * 3 + ["on_test_end", "on_epoch_end"])
    assert names == ["on_train_begin"] + epoch * 2 + ["on_train_end"]
    assert rec.params == {"epochs": 2, "steps": 3, "verbose": 0}

    loss, hits = softmax_xent_and_hits(model, x[:20], y[:20])
    batch_logs = [c[2] for c in rec.calls if c[0] == "on_train_batch_end"][:3]
    for seen, logs in zip((8, 16, 20), batch_logs):   # running means over the samples seen so far
        assert logs["loss"] == pytest.approx(loss[:seen].mean(), rel=1e-5)
        assert logs["accuracy"] == pytest.approx(hits[:seen].mean())
    val_loss, val_hits = softmax_xent_and_hits(model, x[20:], y[20:])
    test_end = [c[1] for c in rec.calls if c[0] == "on_test_end"][0]
    assert test_end["loss"] == pytest.approx(val_loss.mean(), rel=1e-5)   # no val_ prefix inside evaluate
    epoch_end = [c for c in rec.calls if c[0] == "on_epoch_end"][0]
    assert epoch_end[1] == 0 and set(epoch_end[2]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert epoch_end[2]["val_accuracy"] == pytest.approx(val_hits.mean())
    assert rec.calls[-1] == ("on_train_end", {k: v[-1] for k, v in history.history.items()})
    assert rec.calls[0] == ("on_train_begin", None)
    assert model.history is history


def test_evaluate_and_predict_call_their_hooks():
    x, y = blobs(n=20)
    model = tiny_model()
    rec = Recorder()
    result = model.evaluate(x, y, batch_size=8, verbose=0, callbacks=[rec], return_dict=True)
    assert [c[0] for c in rec.calls] == (["on_test_begin"] + ["on_test_batch_begin", "on_test_batch_end"] * 3
                                         + ["on_test_end"])
    assert rec.calls[-1][1] == result
    rec.calls.clear()
    out = model.predict(x, batch_size=8, verbose=0, callbacks=[rec])
    assert [c[0] for c in rec.calls] == (["on_predict_begin"]
                                         + ["on_predict_batch_begin", "on_predict_batch_end"] * 3
                                         + ["on_predict_end"])
    batches = [c[2]["outputs"] for c in rec.calls if c[0] == "on_predict_batch_end"]
    assert [len(b) for b in batches] == [8, 8, 4]
    np.testing.assert_array_equal(np.concatenate(batches), out)


def test_on_batch_end_is_the_alias_of_on_train_batch_end():
    x, y = blobs(n=40)
    model = tiny_model()

    class OldNames(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.begun, self.ended = [], []

        def on_batch_begin(self, batch, logs=None):
            self.begun.append(batch)

        def on_batch_end(self, batch, logs=None):
            self.ended.append((batch, sorted(logs)))

    class NewName(OldNames):
        def on_train_batch_end(self, batch, logs=None):   # replaces the call to on_batch_end, as in Keras
            pass

    old, new = OldNames(), NewName()
    model.fit(x, y, epochs=1, batch_size=16, validation_data=(x, y), verbose=0, callbacks=[old, new])
    assert old.begun == [0, 1, 2] and old.ended == [(b, ["accuracy", "loss"]) for b in range(3)]
    assert new.begun == [0, 1, 2] and new.ended == []   # test batches never reach on_batch_*


def test_stop_training_after_a_batch_ends_the_epoch_there():
    x, y = blobs(n=64)
    model = tiny_model()
    seen = []

    def stop_at_1(batch, logs):
        seen.append(batch)
        if batch == 1:
            model.stop_training = True

    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0,
                        callbacks=[callbacks.LambdaCallback(on_train_batch_end=stop_at_1)])
    assert seen == [0, 1] and history.epoch == [0]


def test_terminate_on_nan(capsys):
    x, y = blobs(n=64)
    x[40, 1] = np.nan   # in the third batch of 16
    model = tiny_model()
    batches = []
    history = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0,
                        callbacks=[callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b)),
                                   callbacks.TerminateOnNaN()])
    assert batches == [0, 1, 2] and history.epoch == [0] and np.isnan(history.history["loss"][0])
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out


def test_lambda_callback_takes_any_hook_and_rejects_others():
    x, y = blobs(n=20)
    model = tiny_model()
    ended = []
    model.evaluate(x, y, verbose=0, callbacks=[callbacks.LambdaCallback(on_test_end=lambda logs: ended.append(logs))])
    assert set(ended[0]) == {"loss", "accuracy"}
    with pytest.raises(ValueError, match="not a callback hook"):
        callbacks.LambdaCallback(on_everything=print)
    with pytest.raises(TypeError, match="Callback instances"):
        model.fit(x, y, verbose=0, callbacks=[print])


def test_batch_logs_are_not_computed_without_a_batch_hook(monkeypatch):
    # the GPU path relies on this: reading a running mean copies it back
    x, y = blobs(n=64)
    model = tiny_model()
    calls = []
    original = model._logs
    monkeypatch.setattr(model, "_logs", lambda prefix="": calls.append(prefix) or original(prefix))
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[callbacks.EarlyStopping(monitor="loss")])
    assert len(calls) == 1   # the epoch's logs only


# ---------------------------------------------------------------- TensorBoard

def test_tensorboard_without_the_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard.summary", None)
    with pytest.raises(ImportError, match=r'pip install "tapegrad\[tensorboard\]"'):
        callbacks.TensorBoard("logs")


def test_tensorboard_writes_scalars_tensorboard_reads(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed: "
                                              'pip install "tapegrad[tensorboard]"')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    x, y = blobs()
    model = tiny_model()
    history = model.fit(x[:64], y[:64], epochs=3, batch_size=16, validation_data=(x[64:], y[64:]), verbose=0,
                        callbacks=[callbacks.TensorBoard(log_dir=tmp_path, update_freq="batch")])
    for run, prefix in (("train", ""), ("validation", "val_")):
        events = EventAccumulator(str(tmp_path / run), size_guidance={"tensors": 0})
        events.Reload()
        for name in ("loss", "accuracy"):
            points = events.Tensors("epoch_" + name)
            assert [p.step for p in points] == [0, 1, 2]
            values = [float(np.frombuffer(p.tensor_proto.tensor_content, np.float32)[0])
                      if p.tensor_proto.tensor_content else p.tensor_proto.float_val[0] for p in points]
            np.testing.assert_allclose(values, history.history[prefix + name], rtol=1e-6)
    events = EventAccumulator(str(tmp_path / "train"), size_guidance={"tensors": 0})  # keep all
    events.Reload()
    assert [p.step for p in events.Tensors("batch_loss")] == list(range(1, 13))   # 4 batches x 3 epochs
