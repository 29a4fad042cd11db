"""Data-parallel training over MPI: ``tapegrad.distribute`` and ``keras.distribution``.

The equivalence tests run the book's MLP (784-512-10, RMSprop) through ``fit``
on 6,001 MNIST images, global batch 128, shuffled: as one plain process, then
under ``mpiexec -n 2`` and ``-n 3`` (3 ranks on a 2-core machine: oversubscribed;
MPICH's Hydra needs no flag for that).  Splits are uneven (128 = 43+43+42, the
last batch of 113 = 38+38+37), so a wrong weighting shows.  Every rank must end
with bit-identical weights, within 2e-4 (float32) or 1e-10 (float64) of one
process, relative to the largest weight.  Two negative controls flip a private
switch and show that the same comparison then fails.  Every MPI job runs under
a timeout: a hang fails the test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import tapegrad
from tapegrad import distribute, keras
from tapegrad.keras import data_parallel, layers


def _find_mpiexec():
    beside_python = Path(sys.executable).parent / "mpiexec"
    return str(beside_python) if beside_python.exists() else shutil.which("mpiexec")


MPIEXEC = _find_mpiexec()
needs_mpiexec = pytest.mark.skipif(
    MPIEXEC is None, reason='mpiexec not found: pip install "tapegrad[mpi]" (mpi4py and MPICH) to run the MPI tests')

TRAIN_MLP = textwrap.dedent('''
    """The book's MLP trained by fit on 6,001 images; each rank saves what it ended with."""
    import sys
    import numpy as np
    import tapegrad
    from tapegrad import keras
    from tapegrad.keras import data_parallel, layers

    out, dtypes, switches = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
    if tapegrad.distribute.launched_by_mpi():           # the two lines a script adds
        keras.distribution.initialize()
        keras.distribution.set_distribution(keras.distribution.DataParallel())
    data_parallel._BROADCAST_WEIGHTS = "no-broadcast" not in switches
    data_parallel._WEIGHT_BY_SHARE = "mean-of-means" not in switches
    rank = tapegrad.distribute.rank()

    (x, y), (x_test, y_test) = keras.datasets.mnist.load_data()
    x, y = x[:6001].reshape(6001, 784).astype("float32") / 255, y[:6001]
    x_test, y_test = x_test[:1001].reshape(1001, 784).astype("float32") / 255, y_test[:1001]
    result = {"threads": np.array(tapegrad.kernels.get_backend().get_num_threads())}
    for dtype in dtypes:
        tapegrad.random.set_seed(1000 * rank)   # the ranks start apart: only the broadcast makes them equal
        model = keras.Sequential([layers.Dense(512, activation="relu", dtype=dtype),
                                  layers.Dense(10, activation="softmax", dtype=dtype)])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=1, batch_size=128, shuffle=True, verbose=2)
        for i, w in enumerate(model.get_weights()):
            result[f"{dtype}_w{i}"] = w
        result[f"{dtype}_history"] = np.array([history.history["loss"][0], history.history["accuracy"][0]])
        result[f"{dtype}_evaluate"] = np.array(model.evaluate(x_test, y_test, batch_size=100, verbose=0))
        result[f"{dtype}_predict"] = model.predict(x_test, batch_size=100, verbose=0)
    np.savez(f"{out}-rank{rank}.npz", **result)
''')

FAIL_ON_RANK_ONE = textwrap.dedent('''
    import numpy as np
    import tapegrad
    from tapegrad import keras
    from tapegrad.keras import layers
    keras.distribution.initialize()
    keras.distribution.set_distribution(keras.distribution.DataParallel())

    class FailOnRankOne(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 3 and tapegrad.distribute.rank() == 1:
                raise RuntimeError("rank 1 fails on purpose")

    x = np.random.default_rng(0).random((512, 20), dtype=np.float32)
    y = (x.sum(axis=1) > 10).astype("int64")
    model = keras.Sequential([layers.Dense(8, activation="relu"), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=10_000, batch_size=32, verbose=0, callbacks=[FailOnRankOne()])   # rank 0 would train on
''')


PRE_SHARDED = textwrap.dedent('''
    """auto_shard_dataset=False: each rank trains on its own rows (300 and 290), 64 per step."""
    import sys
    import numpy as np
    import tapegrad
    from tapegrad import keras
    from tapegrad.keras import layers

    rng = np.random.default_rng(7)
    x = rng.standard_normal((590, 20))
    y = (x[:, :3].sum(axis=1) > 0).astype("int64")
    local = {0: slice(0, 300), 1: slice(300, 590)}

    def model():
        tapegrad.random.set_seed(5)
        m = keras.Sequential([layers.Dense(16, activation="relu", dtype="float64"),
                              layers.Dense(2, activation="softmax", dtype="float64")])
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        return m

    if sys.argv[1] == "ranks":
        keras.distribution.initialize()
        keras.distribution.set_distribution(keras.distribution.DataParallel(auto_shard_dataset=False))
        rank = tapegrad.distribute.rank()
        m = model()
        m.fit(x[local[rank]], y[local[rank]], batch_size=64, epochs=2, shuffle=False, verbose=0)
    else:   # one process, each global batch = rank 0's local batch then rank 1's
        parts = [(x[local[r]], y[local[r]]) for r in (0, 1)]
        order = np.concatenate([np.arange(590)[local[r]][k:k + 64] for k in range(0, 300, 64) for r in (0, 1)])
        batches = tapegrad.data.Dataset.from_tensor_slices((x[order], y[order])).batch(128)
        rank = 0
        m = model()
        m.fit(batches, epochs=2, shuffle=False, verbose=0)
    np.savez(f"{sys.argv[2]}-rank{rank}.npz", *m.get_weights())
''')

TINY_LAST_BATCH = textwrap.dedent('''
    """257 rows in batches of 128: the last batch has 1 row, so 2 of 3 ranks get an empty share."""
    import sys
    import numpy as np
    import tapegrad
    from tapegrad import keras
    from tapegrad.keras import layers

    if tapegrad.distribute.launched_by_mpi():
        keras.distribution.initialize()
        keras.distribution.set_distribution(keras.distribution.DataParallel())
    rng = np.random.default_rng(3)
    x = rng.standard_normal((257, 12))
    y = (x[:, 0] > 0).astype("int64")
    tapegrad.random.set_seed(11)
    model = keras.Sequential([layers.Dense(8, activation="relu", dtype="float64"),
                              layers.Dense(2, activation="softmax", dtype="float64")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=128, epochs=3, verbose=0)
    result = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    result["loss"] = np.array(history.history["loss"])
    result["evaluate"] = np.array(model.evaluate(x, y, batch_size=128, verbose=0))
    result["predict"] = model.predict(x[:129], batch_size=128, verbose=0)
    np.savez(f"{sys.argv[1]}-rank{tapegrad.distribute.rank()}.npz", **result)
''')

def _run(command, timeout, cwd):
    """Run a job in its own process group; on a timeout kill the whole group and fail (a hang is a bug)."""
    env = {k: v for k, v in os.environ.items() if k not in distribute._LAUNCHER_VARIABLES}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"{' '.join(command)} did not end within {timeout} s (hung?):\n{output[-3000:]}")
    return process.returncode, output, time.perf_counter() - start


def _mpiexec(n):
    return [MPIEXEC, "-n", str(n)]


def _train(tmp_path, name, launcher, dtypes="float32,float64", switches=()):
    script = tmp_path / "train_mlp.py"
    script.write_text(TRAIN_MLP)
    code, output, _ = _run([*launcher, sys.executable, str(script), str(tmp_path / name), dtypes, *switches],
                           timeout=300, cwd=tmp_path)
    assert code == 0, output[-3000:]
    ranks = sorted(tmp_path.glob(f"{name}-rank*.npz"))
    return [dict(np.load(path)) for path in ranks], output


def _relative(got, want):
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


TOLERANCE = {"float32": 2e-4, "float64": 1e-10}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One process, then 2 and 3 ranks, each training in float32 and in float64."""
    tmp_path = tmp_path_factory.mktemp("mpi")
    one, _ = _train(tmp_path, "one", [])
    results = {1: one}
    outputs = {}
    for n in (2, 3):
        results[n], outputs[n] = _train(tmp_path, f"ranks{n}", _mpiexec(n))
    return results, outputs, tmp_path


# ------------------------------------------------------------------ under mpiexec
@needs_mpiexec
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_on_several_processes_ends_where_one_process_does(runs, n, dtype):
    results, _, _ = runs
    one, ranks = results[1][0], results[n]
    assert len(ranks) == n, f"expected {n} ranks' results, got {len(ranks)} (did mpi4py load another MPI?)"
    for i in range(4):
        key = f"{dtype}_w{i}"
        assert ranks[0][key].dtype == np.dtype(dtype)
        for r in range(1, n):
            assert np.array_equal(ranks[r][key], ranks[0][key]), f"rank {r}'s {key} differs from rank 0's"
        assert _relative(ranks[0][key], one[key]) <= TOLERANCE[dtype], (key, _relative(ranks[0][key], one[key]))


@needs_mpiexec
@pytest.mark.parametrize("n", [2, 3])
def test_logs_evaluate_and_predict_are_those_of_the_whole_data(runs, n):
    """The epoch's loss and accuracy, evaluate's, and predict's outputs (gathered in
    order) are one process's, on every rank; float64 so that only a wrong reduction
    (a per-rank mean, a lost share) could move them by more than 1e-9."""
    results, _, _ = runs
    one = results[1][0]
    for rank_result in results[n]:
        for what in ("history", "evaluate", "predict"):
            key = f"float64_{what}"
            assert rank_result[key].shape == one[key].shape, key
            np.testing.assert_allclose(rank_result[key], one[key], rtol=1e-9, atol=1e-12, err_msg=key)


@needs_mpiexec
@pytest.mark.parametrize("n", [2, 3])
def test_only_rank_zero_prints_progress(runs, n):
    _, outputs, _ = runs
    assert outputs[n].count("Epoch 1/1") == 2      # one fit per dtype, printed once, not once per rank


@needs_mpiexec
def test_each_rank_gets_its_share_of_the_cores(runs):
    results, _, _ = runs
    for n in (2, 3):
        for rank_result in results[n]:
            assert int(rank_result["threads"]) == distribute.threads_per_rank(n)


@needs_mpiexec
def test_without_the_broadcast_the_equivalence_fails(runs):
    """Negative control: the ranks initialize from different seeds; without the broadcast they
    never agree, and rank 1's weights are far from one process's."""
    results, _, tmp_path = runs
    ranks, _ = _train(tmp_path, "no-broadcast", _mpiexec(2), dtypes="float32", switches=["no-broadcast"])
    one = results[1][0]
    assert not np.array_equal(ranks[0]["float32_w0"], ranks[1]["float32_w0"])
    assert max(_relative(ranks[1][f"float32_w{i}"], one[f"float32_w{i}"]) for i in range(4)) > TOLERANCE["float32"]


@needs_mpiexec
def test_averaging_the_ranks_means_on_an_uneven_split_fails_the_equivalence(runs):
    """Negative control: 3 ranks share 128 as 43/43/42 (and 113 as 38/38/37); giving each
    share's mean the weight 1/3 instead of its rows/128 biases the gradient."""
    results, _, tmp_path = runs
    ranks, _ = _train(tmp_path, "mean-of-means", _mpiexec(3), dtypes="float32", switches=["mean-of-means"])
    one = results[1][0]
    assert max(_relative(ranks[0][f"float32_w{i}"], one[f"float32_w{i}"]) for i in range(4)) > TOLERANCE["float32"]


@needs_mpiexec
def test_data_already_split_by_rank_is_weighted_by_its_rows(tmp_path):
    """auto_shard_dataset=False: the ranks' batches (64 + 64, the last 44 + 34) make one
    global batch, weighted by their rows; one process training on those global batches
    (a Dataset batched by 128) ends with the same weights (float64)."""
    script = tmp_path / "pre_sharded.py"
    script.write_text(PRE_SHARDED)
    for launcher, name in (([], "one"), (_mpiexec(2), "ranks")):
        code, output, _ = _run([*launcher, sys.executable, str(script), name, str(tmp_path / name)],
                               timeout=120, cwd=tmp_path)
        assert code == 0, output
    one = np.load(tmp_path / "one-rank0.npz")
    ranks = [np.load(tmp_path / f"ranks-rank{r}.npz") for r in (0, 1)]
    for key in one.files:
        assert np.array_equal(ranks[0][key], ranks[1][key])
        assert _relative(ranks[0][key], one[key]) <= 1e-12, key


@needs_mpiexec
def test_ranks_with_an_empty_share_of_the_last_batch_still_step_alike(tmp_path):
    """A last batch of one row over 3 ranks: two ranks send zero gradients and no metric
    counts; weights, losses, evaluate and predict still match one process (float64)."""
    script = tmp_path / "tiny_last_batch.py"
    script.write_text(TINY_LAST_BATCH)
    for launcher, name in (([], "one"), (_mpiexec(3), "ranks")):
        code, output, _ = _run([*launcher, sys.executable, str(script), str(tmp_path / name)],
                               timeout=120, cwd=tmp_path)
        assert code == 0, output
    one = np.load(tmp_path / "one-rank0.npz")
    for r in range(3):
        ranks = np.load(tmp_path / f"ranks-rank{r}.npz")
        for key in one.files:
            np.testing.assert_allclose(ranks[key], one[key], rtol=1e-10, atol=1e-13, err_msg=f"rank {r}: {key}")


@needs_mpiexec
def test_a_failing_rank_ends_the_job_non_zero_within_30_seconds(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text(FAIL_ON_RANK_ONE)
    code, output, seconds = _run([*_mpiexec(2), sys.executable, str(script)], timeout=30, cwd=tmp_path)
    assert code != 0, output
    assert "rank 1 fails on purpose" in output
    assert seconds < 30


@needs_mpiexec
def test_the_cli_trains_data_parallel_under_mpiexec(tmp_path):
    weights = tmp_path / "w.npz"
    code, output, _ = _run([*_mpiexec(2), sys.executable, "-m", "tapegrad", "train", "--limit", "600",
                            "--epochs", "1", "--verbose", "2", "--save-weights", str(weights)],
                           timeout=120, cwd=tmp_path)
    assert code == 0, output
    assert "2 processes" in output
    assert output.count("trained 1 epoch(s)") == 1 and output.count("weights saved") == 1
    assert sum(name.startswith("weight_") for name in np.load(weights).files) == 4


# ------------------------------------------------------------------ in one process, no MPI
@pytest.mark.parametrize("rows, ranks", [(128, 3), (113, 3), (2, 3), (1, 2), (128, 1), (7, 7), (1000, 64)])
def test_shares_are_contiguous_and_differ_by_at_most_one_row(rows, ranks):
    expected = np.array_split(np.arange(rows), ranks)   # NumPy's split: the first rows % ranks get one more
    for rank, part in enumerate(expected):
        start, stop = data_parallel.share_bounds(rows, ranks, rank)
        assert list(range(start, stop)) == part.tolist()


def test_one_process_never_imports_mpi4py():
    """``import tapegrad``, and even the two lines run as a plain ``python train.py``, leave
    MPI alone: one process, rank 0 (a laptop without MPI runs the same script)."""
    code = "import sys, numpy as np, tapegrad; from tapegrad import keras; " \
           "keras.distribution.initialize(); " \
           "keras.distribution.set_distribution(keras.distribution.DataParallel()); " \
           "m = keras.Sequential([keras.layers.Dense(1)]); m.compile(loss='mse'); " \
           "m.fit(np.ones((4, 2), np.float32), np.ones(4, np.float32), verbose=0); " \
           "print('mpi4py' in sys.modules, tapegrad.distribute.size(), tapegrad.distribute.rank())"
    env = {k: v for k, v in os.environ.items() if k not in distribute._LAUNCHER_VARIABLES}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "1", "0"], out.stderr


def test_grouped_allreduce_in_one_process_scales_and_keeps_kinds():
    a = tapegrad.constant([[1.0, 2.0], [3.0, 4.0]])
    b = np.arange(3, dtype=np.float64)
    out = distribute.grouped_allreduce([a, None, b], op=distribute.Sum, prescale_factor=0.5, postscale_factor=3.0)
    assert isinstance(out[0], tapegrad.Tensor) and out[0].dtype == np.float32 and out[1] is None
    np.testing.assert_array_equal(out[0].numpy(), a.numpy() * 1.5)
    np.testing.assert_array_equal(out[2], b * 1.5)
    assert distribute.allreduce(2.0, op=distribute.Average) == 2.0
    workspace = {}
    first = distribute.grouped_allreduce([a, b], op=distribute.Sum, prescale_factor=2.0, workspace=workspace)
    buffers = dict(workspace)
    second = distribute.grouped_allreduce([a, b], op=distribute.Sum, workspace=workspace)
    assert all(workspace[d] is buffers[d] for d in buffers)      # packed into the same buffers again
    np.testing.assert_array_equal(second[0].numpy(), a.numpy())
    np.testing.assert_array_equal(second[1], b)
    assert np.shares_memory(first[1], second[1])                 # views of the workspace, as documented
    with pytest.raises(ValueError, match="op must be"):
        distribute.allreduce(1.0, op="max")


def test_broadcast_variables_needs_variables():
    with pytest.raises(TypeError, match="needs Variables"):
        distribute.broadcast_variables([np.zeros(3)])


def test_threads_per_rank_divides_the_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert [distribute.threads_per_rank(n) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]


def test_the_keras_distribution_api_in_one_process():
    assert keras.distribution.list_devices() == ["cpu:0"] and keras.distribution.get_device_count() == 1
    with pytest.raises(ValueError, match="device_type"):
        keras.distribution.list_devices("gpu")
    dp = keras.distribution.DataParallel()
    assert dp.num_model_replicas == 1 and dp.num_processes == 1 and dp.batch_dim_name == "batch"
    assert dp.get_data_layout((128, 784)).axes == ("batch", None)
    assert dp.device_mesh.devices.tolist() == ["cpu:0"]
    with pytest.raises(ValueError, match="one model replica per MPI process"):
        keras.distribution.DataParallel(devices=["cpu:0", "cpu:1"])
    with pytest.raises(ValueError, match="Shape and axis_names should have same size"):
        keras.distribution.DeviceMesh((1,), ["batch", "model"])
    assert keras.distribution.distribution() is None
    with dp.scope():
        assert keras.distribution.distribution() is dp
    assert keras.distribution.distribution() is None
    with pytest.raises(ValueError, match="expected a Distribution"):
        keras.distribution.set_distribution("data_parallel")
    with pytest.raises(ValueError, match="MPI started 1 processes"):
        keras.distribution.initialize(num_processes=2)
    keras.distribution.initialize(num_processes=1, process_id=0)   # agrees: fine


def test_a_data_parallel_distribution_over_one_process_changes_nothing():
    """With DataParallel set in a single process, fit takes the plain path: same weights."""
    x = np.random.default_rng(1).random((50, 6), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype("int64")

    def train():
        tapegrad.random.set_seed(3)
        model = keras.Sequential([layers.Dense(4, activation="relu"), layers.Dense(2, activation="softmax")])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        assert data_parallel.session(model) is None
        return model.get_weights()

    plain = train()
    with keras.distribution.DataParallel().scope():
        distributed = train()
    for a, b in zip(plain, distributed):
        np.testing.assert_array_equal(a, b)


def test_only_rank_zero_keeps_the_callbacks_that_write_files(monkeypatch, tmp_path):
    keep = [keras.callbacks.EarlyStopping(monitor="loss"), keras.callbacks.History()]
    writers = [keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
               keras.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"))]
    monkeypatch.setattr(distribute, "rank", lambda: 1)
    assert data_parallel.DataParallelSession._for_this_rank(keep + writers, 1) == (keep, 0)
    monkeypatch.setattr(distribute, "rank", lambda: 0)
    assert data_parallel.DataParallelSession._for_this_rank(keep + writers, 1) == (keep + writers, 1)


def test_fit_refuses_an_overridden_train_step_when_distributed(monkeypatch):
    """Its gradients would never be summed over the ranks: fit says so before any collective."""
    monkeypatch.setattr(distribute, "size", lambda: 2)
    monkeypatch.setattr(distribute, "rank", lambda: 0)

    class Custom(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2, activation="softmax")

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            return super().train_step(data)

    model = Custom()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with keras.distribution.DataParallel().scope():
        with pytest.raises(NotImplementedError, match="overrides train_step"):
            model.fit(np.zeros((4, 3), np.float32), np.zeros(4, np.int64), verbose=0)
