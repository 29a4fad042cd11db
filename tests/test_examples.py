"""The programs in examples/, run as the reader runs them, checked against the book.

Chapter 2's three scripts, chapter 3's linear classifier and chapter 4's
IMDB classifier (on synthetic reviews of the real format), and chapter 7's
functional MNIST model with callbacks and load_model (mnist_functional.py).

Each script runs in a fresh interpreter (``sys.executable``), in a temporary
directory, with ``MPLBACKEND=Agg`` so that ``plt.show()`` returns at once
instead of opening a window.  The scripts themselves are not edited.

Two things the book shows are not printed by the scripts: the MNIST example
draws its predictions into a figure, and the GradientTape snippets compute
the gradients with respect to ``[W, b]`` without printing them (the book's
last print repeats the previous gradient).  For those, the subprocess runs
the unchanged script with ``runpy.run_path`` and then prints, as one JSON
line after a marker, the values the test needs from the script's globals.
Everything the script prints is still asserted on as well.

None of the scripts sets a seed (the book's do not either), so every number
is checked against a threshold with room for run-to-run variation, never
against one run's digits.

Timings on the 2-core development machine: gradient_tape ~0.4 s;
mnist_keras (5 epochs on 60,000 images) and from_scratch (10 epochs of the
hand-written loop) ~14 s each when the machine is quiet, 35-53 s each when it
is shared and loaded.  Both train on the full MNIST set, so both are marked
slow, as the marker defines it (``pytest -m "not slow"`` skips them; the
default run includes them).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MARKER = "@@tapegrad-test-globals@@"

# Runs the example unchanged, then prints the requested globals as JSON.
DRIVER = f"""
import json, runpy, sys
import numpy as np
script, code = sys.argv[1], sys.argv[2]
g = runpy.run_path(script, run_name="__main__")
sys.stdout.flush()
print({MARKER!r} + json.dumps(eval(code, {{"np": np, "g": g}})))
"""


def run_example(name: str, tmp_path: Path, expose: str | None = None, timeout: float = 900,
                extra_env: dict | None = None, args: list | None = None):
    """Run examples/<name> (with ``extra_env`` set, and command-line ``args``); return
    (stdout, exposed globals or None)."""
    env = dict(os.environ, MPLBACKEND="Agg", **(extra_env or {}))
    script = str(EXAMPLES / name)
    cmd = [sys.executable, script] if expose is None else [sys.executable, "-c", DRIVER, script, expose]
    cmd += list(args or [])
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr
    if expose is None:
        return proc.stdout, None
    out, _, exposed = proc.stdout.rpartition(MARKER)
    assert exposed, f"the driver printed no globals:\n{proc.stdout[-2000:]}"
    return out, json.loads(exposed)


def _lines(text: str) -> list[str]:
    """Non-empty lines, stripped (NumPy indents the second row of a matrix by one space; the book's
    transcription lost that indent)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


# ------------------------------------------------------------------ gradient_tape.py
# The book's out[8], with "tf.Tensor" -> "tapegrad.Tensor" (the only import change)
# and the stray backslash of the transcription ("\GradientTape") removed.
BOOK_GRADIENT_TAPE_OUTPUT = """
GradientTape on Scalar Value
--------------------------------------------------
Gradient of y wrt x tf.Tensor(2.0, shape=(), dtype=float32)

Works with Tensor Operations
--------------------------------------------------
Gradient of y wrt x tf.Tensor(
[[2. 2.]
[2. 2.]], shape=(2, 2), dtype=float32)

Works on a List of Variables
--------------------------------------------------
Gradient of y wrt x tf.Tensor(
[[2. 2.]
[2. 2.]], shape=(2, 2), dtype=float32)
""".replace("tf.Tensor", "tapegrad.Tensor")


def test_gradient_tape_prints_what_the_book_prints(tmp_path):
    exposed = ("{'x': g['x'].numpy().tolist(), 'W': g['W'].numpy().tolist(),"
               " 'grads': [t.numpy().tolist() for t in g['grad_of_y_wrt_W_and_b']],"
               " 'shapes': [list(t.shape) for t in g['grad_of_y_wrt_W_and_b']],"
               " 'dtypes': [str(t.dtype) for t in g['grad_of_y_wrt_W_and_b']]}")
    out, g = run_example("gradient_tape.py", tmp_path, expose=exposed, timeout=300)

    # d(2x + 3)/dx = 2: a float32 scalar, then a (2, 2) tensor of 2s, printed exactly as the book
    # prints them (the third section repeats the second gradient, as the book's code does).
    assert _lines(out) == _lines(BOOK_GRADIENT_TAPE_OUTPUT)

    # Not printed, but what the book says the list-of-variables snippet computes: one gradient per
    # variable, "with the same shapes as W and b".  For y = x @ W + b the implicit upstream gradient
    # is ones(2, 2), so dW = x.T @ ones = column sums of x broadcast, db = [2, 2] (two rows of x).
    x = np.array(g["x"], np.float64)
    assert g["shapes"] == [[2, 2], [2]]
    assert g["dtypes"] == ["float32", "float32"]
    dw, db = (np.array(t) for t in g["grads"])
    np.testing.assert_allclose(dw, x.T @ np.ones((2, 2)), rtol=1e-6)
    np.testing.assert_array_equal(db, [2.0, 2.0])
    # x was drawn from uniform [0, 1): a non-trivial x, so dW is not a constant the tape could fake
    assert 0 <= x.min() and x.max() < 1 and np.ptp(x) > 0


# ------------------------------------------------------------------ mnist_keras.py
MNIST_TEST_LABELS_0_10 = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the canonical first ten MNIST test labels

BOOK_MNIST_DATA_LINES = """
Train Images Shape: (60000, 28, 28)
Train Labels Shape 60000
Train Labels [5 0 4 ... 5 6 8]
Test Images Shape: (10000, 28, 28)
Test Labels 10000
Test Labels [7 2 1 ... 4 5 6]
"""


@pytest.mark.slow  # 14-51 s: the book's full run, 5 epochs over 60,000 images
def test_mnist_keras_reaches_the_books_accuracy(tmp_path):
    exposed = ("{'pred': np.asarray(g['predictions']).tolist(),"
               " 'titles': [a.get_title() for a in g['fig'].axes],"
               " 'test_acc': float(g['test_acc']), 'test_loss': float(g['test_loss'])}")
    out, g = run_example("mnist_keras.py", tmp_path, expose=exposed)
    lines = _lines(out)

    # out[3]: the data the book loads, line for line
    assert lines[:6] == _lines(BOOK_MNIST_DATA_LINES)

    # out[4]: five epochs of 469 steps (60,000 / 128), accuracy rising and loss falling;
    # the book ends epoch 5 at accuracy 0.9889, loss 0.0380.
    assert [int(e) for e in re.findall(r"^Epoch (\d+)/5$", out, re.M)] == [1, 2, 3, 4, 5]
    epochs = re.findall(r"469/469 .*?accuracy: ([\d.]+) - loss: ([\d.]+)", out)
    assert len(epochs) == 5, out
    acc = [float(a) for a, _ in epochs]
    loss = [float(l) for _, l in epochs]
    assert acc == sorted(acc) and loss == sorted(loss, reverse=True), epochs
    assert acc[0] > 0.85 and acc[-1] >= 0.98 and loss[-1] < 0.06, epochs

    # out[6]: "test_acc: 0.9811" in the book.  Forty seeded runs of this script's model here gave
    # 0.9743-0.9814 (median 0.980) and one CI run 0.9734: RMSprop at lr 1e-3 without decay
    # sometimes ends the fifth epoch on a bump.  0.965 leaves room for that tail and still fails
    # a weaker step (plain SGD at this rate reaches 0.82 here) or a wrong gradient.
    printed = re.findall(r"^test_acc: (\d\.\d{4})$", out, re.M)
    assert len(printed) == 1, out
    test_acc = float(printed[0])
    assert test_acc >= 0.965
    assert test_acc == pytest.approx(g["test_acc"], abs=6e-5)  # the print shows what evaluate returned
    assert 0 < g["test_loss"] < 0.12  # the book's evaluate line shows loss 0.0716

    # out[5]: the figure of predictions for the first ten test digits.  Each row of predict() is a
    # softmax (sums to 1); the first digit is a 7, predicted confidently.  A model at ~98% test
    # accuracy misses at most one of these ten easy, canonical digits (asserting all ten would
    # fail on an unlucky seed now and then).
    pred = np.array(g["pred"])
    assert pred.shape == (10, 10)
    np.testing.assert_allclose(pred.sum(axis=1), 1.0, atol=1e-4)
    assert pred[0].argmax() == 7 and pred[0].max() > 0.9
    assert (pred.argmax(axis=1) == MNIST_TEST_LABELS_0_10).sum() >= 9, pred.argmax(axis=1)
    titles = g["titles"]
    assert len(titles) == 10
    assert titles[0].startswith("Prediction: 7 \nwith Probability ")
    for i, title in enumerate(titles):
        match = re.fullmatch(r"Prediction: (\d) \nwith Probability (\d+\.\d\d)%", title)
        assert match, title
        assert int(match.group(1)) == pred[i].argmax()
        assert float(match.group(2)) == pytest.approx(100 * pred[i].max(), abs=0.006)


# ------------------------------------------------------------------ from_scratch.py
@pytest.mark.slow  # 14-53 s: 10 epochs of the hand-written loop over 60,000 images
def test_from_scratch_learns_like_the_book(tmp_path):
    out, _ = run_example("from_scratch.py", tmp_path)

    # out[10]: ten epochs, a loss line every 100 batches (batches 0..400 of 469)
    assert [int(e) for e in re.findall(r"^Epoch (\d+)$", out, re.M)] == list(range(10))
    losses = [float(v) for v in re.findall(r"^loss at batch \d+: (\d+\.\d\d)$", out, re.M)]
    assert len(losses) == 10 * 5, out
    batches = [int(b) for b in re.findall(r"^loss at batch (\d+):", out, re.M)]
    assert batches == [0, 100, 200, 300, 400] * 10
    per_epoch = np.array(losses).reshape(10, 5)
    # The book's losses fall steadily: 4.81 at the first batch (weights uniform in [0, 0.1) give
    # large logits), ~2.2 in epoch 0, 0.63-0.75 in epoch 9.  Plain SGD at lr 1e-3 is slow, so ask
    # for the same shape: each epoch's mean below the previous one, and a last epoch under 1.0.
    assert per_epoch[0, 0] > 2.3, per_epoch[0]  # well above ln(10): the init is far from uniform
    means = per_epoch.mean(axis=1)
    assert np.all(np.diff(means) < 0), means
    assert means[-1] < 1.0, means
    assert np.isfinite(per_epoch).all()

    # out[11]: "Accuracy: 0.82" in the book (0.81 here in one run).  10 epochs of plain SGD at
    # lr 1e-3 leave the model far from converged, so the accuracy moves a few points with the
    # unseeded initialisation; 0.75 is well under what a working run reaches and well above what
    # a broken one does (chance is 0.10; a model that learnt only the biases gets ~0.11).
    printed = re.findall(r"^Accuracy: (\d\.\d\d)$", out, re.M)
    assert len(printed) == 1, out
    assert float(printed[0]) >= 0.75


# ------------------------------------------------------------------ chapters 3 and 4
def test_linear_classifier_separates_the_two_clouds(tmp_path):
    """Chapter 3's hand-written loop: 40 steps of squared loss on two Gaussian clouds.

    Unseeded, as in the book; 7 runs measured a last loss of 0.0269-0.0305
    and an accuracy of 0.994-0.999 (the book's figure shows ~0.028).  The
    decision-line cell (a float32 tensor times np.linspace's float64 array)
    must give a float32 line.
    """
    out, g = run_example("linear_classifier.py", tmp_path, timeout=300,
                         expose="{'dtype': str(g['y'].dtype), 'shape': list(g['y'].shape)}")
    losses = [float(v) for v in re.findall(r"Loss at step \d+: ([0-9.]+)", out)]
    assert len(losses) == 40
    assert losses[-1] < 0.05 and losses[-1] < losses[0]
    accuracy = float(re.search(r"Accuracy: ([0-9.]+)", out).group(1))
    assert accuracy > 0.97
    assert g == {"dtype": "float32", "shape": [100]}


def test_imdb_synthetic_learns_the_sentiment(tmp_path):
    """Chapter 4's IMDB model on synthetic multi-hot reviews of 10,000 words.

    Seed 0, 2,000 reviews, 6 epochs; seeds 0-7 measured a test accuracy of
    0.909-0.989 (seed 0: 0.9695).  Checked: History's keys as Keras names
    them, the loss falling, and validation and test accuracy above 0.9.
    """
    env = dict(IMDB_SYNTHETIC_REVIEWS="2000", IMDB_SYNTHETIC_EPOCHS="6", IMDB_SYNTHETIC_SEED="0")
    out, g = run_example("imdb_synthetic.py", tmp_path, timeout=600, extra_env=env,
                         expose="{'history': g['history'].history, 'shape': list(g['x_train'].shape)}")
    history = g["history"]
    assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert g["shape"] == [2000, 10000]
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.9
    test_accuracy = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert test_accuracy > 0.9


# ------------------------------------------------------------------ mnist_functional.py
def _mnist_functional_subsets(limit):
    """The script's validation and test arrays for ``--limit limit`` (its own slicing, redone here)."""
    from tapegrad.keras.datasets import mnist

    (images, labels), (test_images, test_labels) = mnist.load_data()
    held_out = max(1, limit // 5)
    val = images[:held_out].reshape(held_out, 784).astype("float32") / 255, labels[:held_out]
    test = test_images[:held_out].reshape(held_out, 784).astype("float32") / 255, test_labels[:held_out]
    return val, test


def test_mnist_functional_quick_run_checkpoints_and_reloads_the_best_model(tmp_path):
    """Chapter 7's script on 1,000 images for 2 epochs (seconds): ModelCheckpoint wrote
    ``checkpoint_path.keras`` in the working directory, and the model the script evaluated is
    that checkpoint: this process loads the file itself and gets the printed test accuracy,
    and its validation loss is the best of the run."""
    from tapegrad import keras

    out, _ = run_example("mnist_functional.py", tmp_path, timeout=300,
                         args=["--limit", "1000", "--epochs", "2", "--seed", "0", "--backend", "cython",
                               "--threads", "1"])
    assert re.findall(r"^Epoch (\d+)/2$", out, re.M) == ["1", "2"]
    assert "epochs run: 2" in out
    best_val_loss = float(re.search(r"^best val_loss: ([\d.]+)$", out, re.M).group(1))
    printed_acc = float(re.search(r"^test_acc: (\d\.\d{4})$", out, re.M).group(1))
    (x_val, y_val), (x_test, y_test) = _mnist_functional_subsets(1000)
    loaded = keras.models.load_model(tmp_path / "checkpoint_path.keras")
    assert isinstance(loaded.layers[2], keras.layers.Dropout) and loaded.layers[2].rate == 0.5
    val_loss, _ = loaded.evaluate(x_val, y_val, verbose=0)
    _, test_acc = loaded.evaluate(x_test, y_test, verbose=0)
    assert val_loss == pytest.approx(best_val_loss, abs=6e-5)
    assert test_acc == pytest.approx(printed_acc, abs=6e-5)
    assert test_acc > 0.7   # 1,000 images, 2 epochs: ~0.85 (a broken model stays near 0.1)


@pytest.mark.slow  # 37-45 s with one kernel thread on the loaded 2-core machine: up to 10 epochs of 50,000 images
def test_mnist_functional_reaches_097_after_load_model(tmp_path):
    """Chapter 7's full run: functional model, validation on 10,000 held-out images, EarlyStopping
    on val_accuracy (patience 2), ModelCheckpoint of the best val_loss, load_model, evaluate.

    Measured here (cython backend, ``--threads 1``, 37-45 s each), seeds 1-4: test accuracy of
    the reloaded checkpoint 0.9798, 0.9778, 0.9808, 0.9796 (range 0.9778-0.9808), best val_loss
    0.0856-0.0899; 10, 10, 10 and 9 epochs (EarlyStopping fired once).  The issue's ">= 0.97"
    leaves 0.008 under that range for an unseeded run; a model that learnt little or a wrong
    checkpoint fails it.  Run unseeded, as the book does.
    """
    out, _ = run_example("mnist_functional.py", tmp_path, timeout=900, args=["--backend", "cython", "--threads", "1"])
    epochs = [int(e) for e in re.findall(r"^Epoch (\d+)/10$", out, re.M)]
    assert epochs == list(range(1, len(epochs) + 1)) and 3 <= len(epochs) <= 10
    val_losses = [float(v) for v in re.findall(r"val_loss: ([\d.]+)", out)]
    best = float(re.search(r"^best val_loss: ([\d.]+)$", out, re.M).group(1))
    assert best == pytest.approx(min(val_losses), abs=6e-5)
    test_acc = float(re.search(r"^test_acc: (\d\.\d{4})$", out, re.M).group(1))
    assert test_acc >= 0.97
    assert (tmp_path / "checkpoint_path.keras").is_file()
