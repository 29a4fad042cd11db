"""A NaN monitored value is never the best one (issue 20, failure 3).

As in tf.keras 2 (``self.best = np.inf`` for mode "min", ``-np.inf`` for
"max"), the monitoring callbacks start from the worst possible value and
compare with ``<`` / ``>``, so a NaN (for which every comparison is False)
never improves on anything and a later finite value always does.
"""

import math
import os

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras
from tapegrad.keras import callbacks, layers
from test_callbacks import FakeModel, drive   # the same driver: the epochs' logs fed as fit would


@pytest.fixture(autouse=True)
def cython_or_numpy_backend():
    backend = "cython" if "cython" in tg.kernels.available_backends() else "numpy"
    with tg.kernels.use(backend):
        yield


NAN = float("nan")


@pytest.mark.parametrize("mode,values,best_epoch,best", [
    ("min", [NAN, 0.9, 0.8, 0.85, 0.7], 4, 0.7),
    ("max", [NAN, 0.1, 0.3, 0.2, 0.4], 4, 0.4),
    ("min", [0.9, NAN, 0.8, NAN, 0.7], 4, 0.7),
])
def test_early_stopping_never_takes_a_nan_as_best(mode, values, best_epoch, best):
    stopping = callbacks.EarlyStopping(monitor="val_loss", mode=mode, patience=2, restore_best_weights=True)
    stopped, model = drive(stopping, values)
    assert stopped is None                 # every finite epoch improved on the last finite best
    assert stopping.best == best
    assert stopping.best_epoch == best_epoch
    assert model.restored == best_epoch


def test_early_stopping_starts_from_the_worst_value_of_its_mode():
    for mode, worst in (("min", math.inf), ("max", -math.inf)):
        stopping = callbacks.EarlyStopping(mode=mode)
        drive(stopping, [NAN])
        assert stopping.best == worst
        assert stopping.wait == 1          # the NaN epoch counted as one without improvement


def test_early_stopping_patience_runs_out_on_nans_only():
    stopping = callbacks.EarlyStopping(mode="min", patience=2)
    stopped, _ = drive(stopping, [NAN, NAN, NAN, 0.5])
    assert stopped == 1 and stopping.best == math.inf   # two epochs without improvement


def test_checkpoint_save_best_only_skips_a_nan_first_epoch(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    tg.random.set_seed(0)
    model = keras.Sequential([layers.Dense(3, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    script = [NAN, 0.7, 0.9, 0.6]
    inject = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(val_loss=script[epoch]))
    best = callbacks.ModelCheckpoint(str(tmp_path / "best-{epoch:02d}.weights.npz"), monitor="val_loss",
                                     save_best_only=True, save_weights_only=True)
    model.fit(x, y, epochs=4, batch_size=32, verbose=0, callbacks=[inject, best])
    assert sorted(os.listdir(tmp_path)) == ["best-02.weights.npz", "best-04.weights.npz"]
    assert best.best == 0.6
    # the initial_value_threshold is still the starting best
    strict = callbacks.ModelCheckpoint(str(tmp_path / "t" / "s-{epoch}.weights.npz"), monitor="val_loss",
                                       save_best_only=True, save_weights_only=True, initial_value_threshold=0.65)
    model.fit(x, y, epochs=4, batch_size=32, verbose=0, callbacks=[inject, strict])
    assert os.listdir(tmp_path / "t") == ["s-4.weights.npz"]


def test_checkpoint_verbose_reports_improvement_from_inf(tmp_path, capsys):
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "m.weights.npz"), monitor="val_loss", verbose=1,
                                           save_best_only=True, save_weights_only=True)
    saved = []
    fake = FakeModel()
    fake.save_weights = saved.append
    checkpoint.set_model(fake)
    checkpoint.on_train_begin()
    checkpoint.on_epoch_end(0, {"val_loss": NAN})
    checkpoint.on_epoch_end(1, {"val_loss": 0.5})
    assert saved == [str(tmp_path / "m.weights.npz")]
    out = capsys.readouterr().out
    assert "val_loss did not improve from inf" in out
    assert "val_loss improved from inf to 0.50000" in out
