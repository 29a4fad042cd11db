"""``grouped_allreduce(in_place=True)``: large arrays summed where they lie, the rest packed.

A training step hands its fresh gradients to the allreduce and never reads them
again, so the big ones are summed in their own memory instead of being copied
into the fused buffer.  What may be overwritten is decided per array: only a
large, contiguous, writeable array that owns its memory and shares it with no
other entry.  These tests check, under ``mpiexec -n 2``, that every result is
the NumPy sum over the ranks, that the arrays taken in place are the results
themselves, and that views, an array given twice and small arrays come out
right while the arrays they belong to are left alone.
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
from test_distribute import MPIEXEC, _relative, _run, needs_mpiexec   # tests/distribute/test_distribute.py

import tapegrad
from tapegrad import distribute

IN_PLACE = textwrap.dedent('''
    import sys
    import numpy as np
    import tapegrad
    from tapegrad import distribute

    distribute.init()
    rank, ranks = distribute.rank(), distribute.size()

    def values(r):
        """The arrays rank r contributes (rank-dependent, so a missed sum shows)."""
        rng = np.random.default_rng(100 + r)
        big = rng.standard_normal((200, 100)).astype(np.float32)          # 80 KB, owns its memory
        big64 = rng.standard_normal((150, 90))                            # 108 KB, float64
        strided_base = rng.standard_normal((200, 200)).astype(np.float32)
        flat_base = rng.standard_normal(40000).astype(np.float32)
        shared = rng.standard_normal((300, 100)).astype(np.float32)       # given twice
        small = rng.standard_normal(17).astype(np.float32)
        tensor = rng.standard_normal((256, 80)).astype(np.float32)        # 80 KB, as a Tensor
        return dict(big=big, big64=big64, strided_base=strided_base, flat_base=flat_base,
                    shared=shared, small=small, tensor=tensor)

    mine = values(rank)
    kept = {name: value.copy() for name, value in mine.items()}
    tensor = tapegrad.constant(mine["tensor"])
    entries = [mine["big"], mine["strided_base"][:, :150], mine["flat_base"][:30000], mine["shared"],
               mine["small"], mine["shared"], None, tensor, mine["big64"]]
    out = distribute.grouped_allreduce(entries, op=sys.argv[2], postscale_factor=2.0, in_place=True)

    everyone = [values(r) for r in range(ranks)]
    scale = 2.0 / (ranks if sys.argv[2] == "average" else 1)
    def total(name, cut=lambda a: a):
        return sum(cut(v[name]).astype(np.float64) for v in everyone) * scale
    wanted = [total("big"), total("strided_base", lambda a: a[:, :150]), total("flat_base", lambda a: a[:30000]),
              total("shared"), total("small"), total("shared"), None, total("tensor"), total("big64")]
    report = {}
    for i, (got, want) in enumerate(zip(out, wanted)):
        if want is None:
            report[f"{i}"] = got is None
            continue
        got = got.numpy() if isinstance(got, tapegrad.Tensor) else got
        report[f"{i}"] = bool(np.allclose(got, want, rtol=1e-5, atol=1e-5))
    report["big in place"] = out[0] is mine["big"] and out[8] is mine["big64"]
    report["tensor in place"] = out[7] is tensor
    report["views' arrays untouched"] = (np.array_equal(mine["strided_base"], kept["strided_base"])
                                         and np.array_equal(mine["flat_base"], kept["flat_base"]))
    report["twice: not summed twice"] = np.array_equal(mine["shared"], kept["shared"])
    report["small untouched"] = np.array_equal(mine["small"], kept["small"])
    gathered = distribute.allgather_object([o.numpy() if isinstance(o, tapegrad.Tensor) else o for o in out])
    report["identical on every rank"] = all(
        (a is None and b is None) or np.array_equal(a, b) for other in gathered for a, b in zip(gathered[0], other))
    if rank == 0:
        print("REPORT", sorted(report.items()))
        print("ALL OK" if all(report.values()) else "FAILED")
''')


EMPTY_SHARE_BIG_WEIGHT = textwrap.dedent('''
    """257 rows in batches of 128 on 3 ranks: in the last batch (1 row) two ranks have an empty
    share and send zeros; the first kernel (100 x 96 float64, 77 KB) is large enough to be
    summed in place, so every rank must still make the same allreduce calls."""
    import sys
    import numpy as np
    import tapegrad
    from tapegrad import keras
    from tapegrad.keras import layers

    if tapegrad.distribute.launched_by_mpi():
        keras.distribution.initialize()
        keras.distribution.set_distribution(keras.distribution.DataParallel())
    rng = np.random.default_rng(5)
    x = rng.standard_normal((257, 100))
    y = (x[:, :4].sum(axis=1) > 0).astype("int64")
    tapegrad.random.set_seed(3)
    model = keras.Sequential([layers.Dense(96, activation="relu", dtype="float64"),
                              layers.Dense(2, activation="softmax", dtype="float64")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=128, epochs=2, verbose=0)
    np.savez(f"{sys.argv[1]}-rank{tapegrad.distribute.rank()}.npz", *model.get_weights())
''')


@needs_mpiexec
def test_an_empty_share_makes_the_same_allreduce_calls_as_the_other_ranks(tmp_path):
    """Fails (an MPI error or a hang) when a rank with an empty share packs its zero
    gradients into one buffer while the others sum their large gradient alone."""
    script = tmp_path / "empty_share.py"
    script.write_text(EMPTY_SHARE_BIG_WEIGHT)
    for launcher, name in (([], "one"), ([MPIEXEC, "-n", "3"], "ranks")):
        code, output, _ = _run([*launcher, sys.executable, str(script), str(tmp_path / name)],
                               timeout=120, cwd=tmp_path)
        assert code == 0, output[-3000:]
    one = np.load(tmp_path / "one-rank0.npz")
    ranks = [np.load(tmp_path / f"ranks-rank{r}.npz") for r in range(3)]
    for key in one.files:
        assert all(np.array_equal(ranks[0][key], other[key]) for other in ranks[1:]), key
        assert _relative(ranks[0][key], one[key]) <= 1e-10, key


@needs_mpiexec
@pytest.mark.parametrize("op", ["sum", "average"])
def test_in_place_allreduce_sums_every_entry_and_overwrites_only_what_it_may(tmp_path, op):
    script = tmp_path / "in_place.py"
    script.write_text(IN_PLACE)
    code, output, _ = _run([MPIEXEC, "-n", "2", sys.executable, str(script), str(tmp_path), op],
                           timeout=120, cwd=tmp_path)
    assert code == 0, output[-3000:]
    assert "ALL OK" in output, output[-3000:]


def test_in_place_in_one_process_returns_the_values_scaled():
    big = np.arange(20000, dtype=np.float32)
    out = distribute.grouped_allreduce([big, tapegrad.constant([1.0, 2.0])], op=distribute.Sum,
                                       postscale_factor=0.5, in_place=True)
    np.testing.assert_array_equal(out[0], np.arange(20000, dtype=np.float32) * 0.5)
    assert out[0] is big                                # taken in place: the result is the array itself
    np.testing.assert_array_equal(out[1].numpy(), [0.5, 1.0])
