"""The progress line and the callbacks hooks."""

import io

import numpy as np

import tapegrad as tg
from tapegrad import keras
from tapegrad.keras import callbacks, layers
from tapegrad.keras.progress import ProgressBar, format_time_per_step


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_time_formatting_like_keras():
    assert format_time_per_step(0.003) == "3ms/step"
    assert format_time_per_step(0.00084) == "840us/step"
    assert format_time_per_step(2.2) == "2s/step"
    assert format_time_per_step(0) == "0s/step"


def test_tty_redraws_in_place_and_ends_with_newline():
    stream = FakeTTY()
    bar = ProgressBar(4, verbose=1, interval=0.0, stream=stream)
    for i in range(1, 5):
        bar.update(i, [("accuracy", 0.5), ("loss", 0.25)])
    bar.update(4, [("accuracy", 0.5), ("loss", 0.25)], finalize=True)
    out = stream.getvalue()
    assert out.count("\r") >= 4 and out.endswith("\n") and out.count("\n") == 1
    assert "- accuracy: 0.5000 - loss: 0.2500" in out


def test_not_a_tty_prints_only_the_final_line():
    stream = io.StringIO()
    bar = ProgressBar(469, verbose=1, stream=stream)
    for i in range(1, 470):
        bar.update(i, [("loss", 0.038)])
    bar.update(469, [("accuracy", 0.98891), ("loss", 0.038)], finalize=True)
    line = stream.getvalue()
    assert line.count("\n") == 1 and "\r" not in line and "\x1b" not in line
    assert line.startswith("469/469 " + "\u2501" * 20 + " 0s ")
    assert line.rstrip().endswith("/step - accuracy: 0.9889 - loss: 0.0380")


def test_verbose_2_line():
    stream = io.StringIO()
    ProgressBar(10, verbose=2, stream=stream).update(10, [("loss", 1e-5)], finalize=True)
    assert stream.getvalue().startswith("10/10 - 0s - ") and "loss: 1.0000e-05" in stream.getvalue()


def test_callbacks_are_called_and_can_stop_training():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype(np.float32), rng.integers(0, 2, 64)
    tg.random.set_seed(0)
    model = keras.Sequential([layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    seen = []

    class Recorder(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(("batch", batch))

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch", epoch, sorted(logs)))
            if epoch == 1:
                self.model.stop_training = True

    history = model.fit(x, y, epochs=5, batch_size=32, verbose=0, callbacks=[Recorder()])
    assert history.epoch == [0, 1]
    assert seen[:3] == [("batch", 0), ("batch", 1), ("epoch", 0, ["accuracy", "loss"])]
