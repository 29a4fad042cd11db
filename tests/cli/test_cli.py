"""The ``tapegrad`` command, run as a user runs it: ``python -m tapegrad ...`` in a subprocess.

Training runs are kept small (1 epoch on the first 2,000 images, ~1-2 s each) and seeded
(``--seed 0`` is the default), so their accuracy is reproducible; bad arguments must stop the
command with a one-line message that names the problem, before any training, and no traceback.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

QUICK_TRAIN = ["train", "--epochs", "1", "--limit", "2000"]


def tapegrad_cli(*args, cwd, env=None, timeout=300):
    env = dict(os.environ if env is None else env, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "tapegrad", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def parse_train(stdout: str) -> dict:
    header = re.search(r"^tapegrad \S+: backend (\w+), (\d+) training images$", stdout, re.M)
    result = re.search(r"^trained (\d+) epoch\(s\) in [\d.]+s; test_loss: ([\d.]+) - test_acc: ([\d.]+)$",
                       stdout, re.M)
    assert header and result, f"unexpected output:\n{stdout}"
    return {"backend": header.group(1), "images": int(header.group(2)), "epochs": int(result.group(1)),
            "test_loss": float(result.group(2)), "test_acc": float(result.group(3))}


def default_cpu_backend() -> str:
    """The backend ``tapegrad train`` picks with no --backend and no TAPEGRAD_BACKEND."""
    from tapegrad.kernels import BackendUnavailableError, get_backend
    from tapegrad.kernels._dispatch import CPU_PREFERENCE

    for name in CPU_PREFERENCE:
        try:
            return get_backend(name).name
        except BackendUnavailableError:
            continue
    raise AssertionError("no CPU backend at all, not even numpy")


@pytest.fixture(scope="module")
def numpy_run(tmp_path_factory):
    """One quick numpy-backend training run that also saves its weights (shared by two tests)."""
    cwd = tmp_path_factory.mktemp("cli_numpy")
    proc = tapegrad_cli(*QUICK_TRAIN, "--backend", "numpy", "--verbose", "2",
                        "--save-weights", "w.npz", cwd=cwd)
    return proc, cwd


def test_train_numpy_backend(numpy_run):
    proc, _ = numpy_run
    assert proc.returncode == 0, proc.stderr
    run = parse_train(proc.stdout)
    assert run["backend"] == "numpy" and run["images"] == 2000 and run["epochs"] == 1
    # 2,000 images, one epoch of RMSprop: ~0.83 with seed 0 (chance is 0.10)
    assert run["test_acc"] > 0.8
    assert 0 < run["test_loss"] < 1.0
    assert "weights saved to w.npz" in proc.stdout


def test_train_default_backend_matches_numpy(numpy_run, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TAPEGRAD_BACKEND"}
    proc = tapegrad_cli(*QUICK_TRAIN, "--verbose", "0", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    run = parse_train(proc.stdout)
    assert run["backend"] == default_cpu_backend()
    assert run["test_acc"] > 0.8
    # Same seed, same data, same network: the compiled kernels must train the same model as the
    # NumPy reference, up to float32 rounding (the two runs print identical accuracy here).
    reference = parse_train(numpy_run[0].stdout)
    assert run["test_acc"] == pytest.approx(reference["test_acc"], abs=0.005)
    assert run["test_loss"] == pytest.approx(reference["test_loss"], rel=0.02)


def test_save_weights_writes_loadable_npz(numpy_run):
    proc, cwd = numpy_run
    assert proc.returncode == 0, proc.stderr
    path = cwd / "w.npz"
    with np.load(path, allow_pickle=False) as data:
        weights = [data[k] for k in sorted(k for k in data.files if k.startswith("weight_"))]
    # Dense(512, relu) on 784 inputs, then Dense(10): kernel, bias, kernel, bias
    assert [w.shape for w in weights] == [(784, 512), (512,), (512, 10), (10,)]
    assert all(w.dtype == np.float32 and np.isfinite(w).all() for w in weights)
    assert np.abs(weights[0]).max() > 0 and np.abs(weights[1]).max() > 0  # trained, not all zeros

    # Loading them into a fresh model of the same architecture gives back the printed accuracy.
    from tapegrad import keras
    from tapegrad.kernels import use

    with use("numpy"):
        model = keras.Sequential([keras.layers.Dense(512, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.load_weights(str(path))
        _, (x, y) = keras.datasets.mnist.load_data()
        x = x.reshape(len(x), 784).astype("float32") / 255
        _, acc = model.evaluate(x, y, batch_size=1024, verbose=0)
    assert acc == pytest.approx(parse_train(proc.stdout)["test_acc"], abs=1e-4)


@pytest.mark.parametrize("args, named", [
    pytest.param(["--epochs", "0"], "--epochs", id="--epochs 0"),
    pytest.param(["--epochs", "two"], "--epochs", id="--epochs two"),
    pytest.param(["--backend", "blas"], "blas", id="--backend blas"),
    pytest.param(["--optimizer", "foo"], "foo", id="--optimizer foo"),
    pytest.param(["--learning-rate", "-1"], "--learning-rate", id="--learning-rate -1"),
    pytest.param(["--threads", "0"], "--threads", id="--threads 0"),
    pytest.param(["--save-weights", "weights.txt"], "weights.txt", id="--save-weights weights.txt"),
    pytest.param(["--save-weights", "no/such/dir/w.npz"], "does not exist", id="--save-weights no/such/dir/w.npz"),
])
def test_train_rejects_bad_arguments(args, named, tmp_path):
    proc = tapegrad_cli("train", "--limit", "200", "--verbose", "0", *args, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    message = proc.stderr.strip().splitlines()[-1]  # argparse prints usage lines above it
    assert message.startswith("tapegrad train: error:"), proc.stderr
    assert named in message, message
    assert "trained" not in proc.stdout and not list(tmp_path.iterdir())  # stopped before training


def test_bench_kernels_quick_json(tmp_path):
    proc = tapegrad_cli("bench", "kernels", "--quick", "--repeats", "1", "--backends", "cython",
                        "--json", "out.json", cwd=tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    result = json.loads((tmp_path / "out.json").read_text())
    rows = result["rows"]
    matmuls = [r for r in rows if r["kernel"] == "matmul"]
    # the MNIST-MLP GEMMs and the quick squares 256, 512, 1024
    from tapegrad.benchmark.kernels import MLP_SHAPES

    assert len(matmuls) == len(MLP_SHAPES) + 3
    assert {r["size"] for r in matmuls if r["shape"].startswith("square")} == {256, 512, 1024}
    assert {r["kernel"] for r in rows} == {"matmul", "relu", "relu_backward", "softmax_cross_entropy",
                                            "bias_grad", "relu_bias_grad", "rmsprop_update",
                                            # chapter 8's convnet layers and its pools
                                            "conv2d", "conv2d_input_grad", "conv2d_kernel_grad",
                                            "max_pool2d", "max_pool2d_backward"}
    for r in rows:
        assert r["backend"] == "cython"
        assert math.isfinite(r["ratio"]) and r["ratio"] > 0, r
        assert r["gflops"] > 0 and r["blas_gflops"] > 0, r
        assert 0 < r["ratio_q1"] <= r["ratio"] <= r["ratio_q3"], r
        if r["shape"] != "square 1024":  # one round (1024 gets at least three), so one ratio:
            # baseline time / our time, i.e. our throughput / the baseline's
            assert r["ratio"] == pytest.approx(r["gflops"] / r["blas_gflops"], rel=1e-9)
            assert r["ratio_q1"] == r["ratio_q3"] == r["ratio"]
    assert result["info"]["threads"] == 1
    assert "ratio" in proc.stdout and "results written to out.json" in proc.stdout


def test_bench_rejects_unknown_backend(tmp_path):
    proc = tapegrad_cli("bench", "kernels", "--quick", "--repeats", "1", "--backends", "blas",
                        cwd=tmp_path, timeout=180)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "unknown backend 'blas'" in proc.stderr.strip().splitlines()[-1]


def test_ratio_quartiles_pair_the_rounds():
    from tapegrad.benchmark.timing import medians, ratio_quartiles

    # the baseline slowed down in round 3 along with ours: pairing by round keeps that out
    rounds = {"blas": [2.0, 2.0, 8.0, 2.0, 2.0], "ours": [1.0, 2.0, 4.0, 4.0, 2.0]}
    assert ratio_quartiles(rounds, "blas", "ours") == (1.0, 1.0, 2.0)  # ratios 2, 1, 2, 0.5, 1
    assert medians(rounds) == {"blas": 2.0, "ours": 2.0}
    assert ratio_quartiles({"blas": [3.0], "ours": [2.0]}, "blas", "ours") == (1.5, 1.5, 1.5)


# ------------------------------------------------------------------ behaving like a Unix tool
SMOKE_TRAIN = ["train", "--epochs", "1", "--limit", "500", "--backend", "cython"]


def test_version(tmp_path):
    import tapegrad

    proc = tapegrad_cli("--version", cwd=tmp_path, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"tapegrad {tapegrad.__version__}"


def test_train_into_a_closed_pipe_ends_quietly(tmp_path):
    """``tapegrad train | head -1``: the reader leaves after one line; no error, no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "tapegrad", *SMOKE_TRAIN], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()                      # what head does after its line
    stderr = proc.communicate(timeout=120)[1].decode()
    assert first.startswith(b"tapegrad ")
    assert stderr == "" and proc.returncode == 141   # 128 + SIGPIPE, what a shell shows for such a tool


def test_train_on_an_ascii_terminal_prints_an_ascii_bar(tmp_path):
    env = dict(os.environ, PYTHONIOENCODING="ascii")
    proc = tapegrad_cli(*SMOKE_TRAIN, "--verbose", "1", cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^4/4 ={20} ", proc.stdout, re.M), proc.stdout
    parse_train(proc.stdout)


@pytest.mark.parametrize("debug", [False, True])
def test_unexpected_error_is_one_line_with_a_hint(tmp_path, debug):
    """An exception the CLI does not expect (here the EOFError of a damaged cache file)."""
    probe = ("import sys, tapegrad.cli, tapegrad.keras.datasets.mnist as mnist\n"
             "def broken():\n"
             "    raise EOFError('Ran out of input')\n"
             "mnist.load_data = broken\n"
             f"sys.exit(tapegrad.cli.main({SMOKE_TRAIN!r}))\n")
    env = dict(os.environ)
    env.pop("TAPEGRAD_DEBUG", None)
    if debug:
        env["TAPEGRAD_DEBUG"] = "1"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    if debug:
        assert "Traceback" in proc.stderr and "EOFError: Ran out of input" in proc.stderr
    else:
        assert proc.stderr == ("tapegrad train: error: EOFError: Ran out of input "
                               "(unexpected; run with TAPEGRAD_DEBUG=1 for the traceback)\n")


def run_parser(capsys, *argv):
    """Parse ``argv`` as ``tapegrad`` does; return (exit code, stdout, stderr) of the SystemExit it raises."""
    from tapegrad.cli import build_parser

    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(list(argv))
    out, err = capsys.readouterr()
    return stop.value.code, out, err


def test_top_level_help_is_plain_text(capsys):
    code, out, _ = run_parser(capsys, "--help")
    assert code == 0
    assert "``" not in out  # no reStructuredText markup leaks into the terminal
    assert "The tapegrad command: train the book's network" in out
    assert "tapegrad train --epochs 1 --backend cython --threads 1" in out  # the examples, as written


def test_train_help_shows_defaults_and_backend_choices(capsys):
    from tapegrad.kernels._dispatch import _MODULES

    code, out, _ = run_parser(capsys, "train", "--help")
    assert code == 0
    text = " ".join(out.split())  # argparse wraps lines at the terminal width
    for option, default in [("--epochs N", "5"), ("--batch-size N", "128"), ("--hidden N", "512"),
                            ("--seed SEED", "0"), ("--optimizer {rmsprop,sgd,adam}", "rmsprop")]:
        assert re.search(re.escape(option) + r" [^-]*default: " + default + r"\)?", text), option
    # every backend the registry knows, and only those, offered as choices
    choices = re.search(r"--backend \{([\w,]+)\}", text).group(1).split(",")
    assert sorted(choices) == sorted(_MODULES) and choices[:3] == ["cython", "numba", "numpy"]


@pytest.mark.parametrize("argv, message", [
    (["--hidden", "x"], "argument --hidden: must be a positive integer, got 'x'"),
    (["--epochs", "0"], "argument --epochs: must be a positive integer, got 0"),
    (["--learning-rate", "fast"], "argument --learning-rate: must be a positive number, got 'fast'"),
    (["--learning-rate", "inf"], "argument --learning-rate: must be a positive number, got inf"),
    (["--seed", "1.5"], "argument --seed: must be an integer, got '1.5'"),
    (["--backend", "blas"], "argument --backend: invalid choice: 'blas'"),
])
def test_bad_values_are_named_in_words(capsys, argv, message):
    code, _, err = run_parser(capsys, "train", *argv)
    assert code == 2
    assert message in err, err
    assert "_positive" not in err and "_integer" not in err  # no Python function names
