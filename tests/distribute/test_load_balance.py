"""``DataParallel(balance_load=True)``: shares of a batch sized by the ranks' measured speeds.

The logic (``keras/load_balance.py``) is checked with synthetic timings against
its model, finish time = rest + rows * per_row, equal on every rank; then a
2-rank ``fit`` in which rank 1 is slowed on purpose must give rank 1 fewer rows
and still end where one process does (float64), identical on both ranks.
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
from test_distribute import MPIEXEC, _relative, _run, needs_mpiexec   # tests/distribute/test_distribute.py

from tapegrad.keras.load_balance import LoadBalance


def _feed(balance, rest, per_row, rows, steps=60):
    """Report ``steps`` steps with the given per-rank rest and per-row seconds at the current shares."""
    for _ in range(steps):
        counts = balance.counts(rows)
        summed = sum(balance.timings(r, rest[r], per_row[r] * counts[r], counts[r], np.float64)
                     for r in range(balance.ranks))
        balance.update(summed)
    return balance.counts(rows)


def test_equal_ranks_get_equal_shares():
    balance = LoadBalance(2)
    assert balance.counts(128) == [64, 64]                    # nothing measured yet: the even split
    assert _feed(balance, [1e-3, 1e-3], [30e-6, 30e-6], 128) == [64, 64]


@pytest.mark.parametrize("ranks, rows", [(2, 128), (3, 128), (3, 113), (4, 997)])
def test_a_slow_rank_gets_fewer_rows_and_the_modelled_finish_times_agree(ranks, rows):
    rng = np.random.default_rng(ranks * rows)
    rest = rng.uniform(0.5e-3, 2e-3, ranks)
    per_row = rng.uniform(15e-6, 60e-6, ranks)
    counts = _feed(LoadBalance(ranks), rest, per_row, rows)
    assert sum(counts) == rows and min(counts) >= 1
    finish = rest + np.array(counts) * per_row
    assert finish.max() - finish.min() <= per_row.max() + 1e-12   # equal up to one row's rounding
    if ranks <= 3:   # against the best split found by trying them all
        best = min(max(rest[0] + a * per_row[0], rest[1] + b * per_row[1],
                       rest[2] + (rows - a - b) * per_row[2] if ranks == 3 else 0.0)
                   for a in range(1, rows) for b in ([rows - a] if ranks == 2 else range(1, rows - a)))
        assert finish.max() <= best + per_row.max()


def test_steps_that_measured_nothing_are_skipped_and_small_batches_split_evenly():
    balance = LoadBalance(2)
    balance.update(balance.timings(0, -1.0, 1e-3, 64, np.float64) + balance.timings(1, 1e-3, 1e-3, 64, np.float64))
    balance.update(balance.timings(0, 1e-3, 0.0, 0, np.float64) + balance.timings(1, 1e-3, 1e-3, 64, np.float64))
    assert balance.rest is None                               # an unmeasured rest, an empty share: skipped
    _feed(balance, [1e-3, 3e-3], [30e-6, 30e-6], 128)
    assert balance.counts(128) != [64, 64]
    assert balance.counts(3) == [2, 1]                        # fewer than 2 rows per rank: even split
    bounds = [balance.bounds(128, r) for r in range(2)]
    assert bounds[0][0] == 0 and bounds[0][1] == bounds[1][0] and bounds[1][1] == 128


BALANCED = textwrap.dedent('''
    """Rank 1 sleeps 3 ms after each step: with balance_load it gets fewer rows, same weights."""
    import sys, time
    import numpy as np
    import tapegrad
    from tapegrad import keras
    from tapegrad.keras import data_parallel, layers

    if tapegrad.distribute.launched_by_mpi():
        keras.distribution.initialize()
        keras.distribution.set_distribution(keras.distribution.DataParallel(balance_load=True))
    rank = tapegrad.distribute.rank()
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1500, 30))
    y = (x[:, :5].sum(axis=1) > 0).astype("int64")
    tapegrad.random.set_seed(4)
    model = keras.Sequential([layers.Dense(64, activation="relu", dtype="float64"),
                              layers.Dense(2, activation="softmax", dtype="float64")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    shares = []

    class SlowRankOne(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            session = data_parallel.session(model)
            shares.append(session.share[0] if session is not None else 0)
            if rank == 1:
                time.sleep(0.003)

    model.fit(x, y, batch_size=100, epochs=3, verbose=0, callbacks=[SlowRankOne()])
    np.savez(f"{sys.argv[1]}-rank{rank}.npz", *model.get_weights(), shares=np.array(shares))
''')


@needs_mpiexec
def test_balanced_shares_follow_a_slow_rank_and_train_as_one_process(tmp_path):
    script = tmp_path / "balanced.py"
    script.write_text(BALANCED)
    for launcher, name in (([], "one"), ([MPIEXEC, "-n", "2"], "ranks")):
        code, output, _ = _run([*launcher, sys.executable, str(script), str(tmp_path / name)],
                               timeout=180, cwd=tmp_path)
        assert code == 0, output[-3000:]
    one = np.load(tmp_path / "one-rank0.npz")
    ranks = [np.load(tmp_path / f"ranks-rank{r}.npz") for r in range(2)]
    late = ranks[1]["shares"][-10:]
    assert late.mean() < 40, ranks[1]["shares"]                  # rank 1 (slowed) now takes well under half
    assert np.all(ranks[0]["shares"] + ranks[1]["shares"] == 100)
    for key in one.files:
        if key != "shares":
            assert np.array_equal(ranks[0][key], ranks[1][key]), key
            assert _relative(ranks[0][key], one[key]) <= 1e-10, key
