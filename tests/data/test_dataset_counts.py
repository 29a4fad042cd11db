"""How many elements ``repeat``, ``take``, ``skip`` and ``batch`` give, and the
cardinality they report, against tf.data's documented rules (issue 20 gaps).

Each case is checked two ways: element by element (``_elements``, the path of
a ``map``ped dataset) and through the row-gathering path ``batch`` takes for
plain slices (``_row_source``).  The expected lists are plain Python.
"""

import itertools

import numpy as np
import pytest

from tapegrad.data import INFINITE_CARDINALITY, Dataset


def values(dataset, limit=None):
    items = dataset.as_numpy_iterator()
    if limit is not None:
        items = itertools.islice(items, limit)
    return [int(v) if np.ndim(v) == 0 else v.tolist() for v in items]


def both_paths(make):
    """``make(ds)`` applied to a slices dataset and to the same one after ``map`` (no row source)."""
    plain = Dataset.from_tensor_slices(np.arange(5))
    mapped = plain.map(lambda x: x)
    return make(plain), make(mapped)


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_repeat_n_makes_exactly_n_passes(count):
    for ds in both_paths(lambda d: d.repeat(count)):
        assert values(ds) == list(range(5)) * count
        assert ds._cardinality() == 5 * count and len(ds) == 5 * count
        batched = ds.batch(2)
        flat = [v for b in batched.as_numpy_iterator() for v in np.ravel(b)]
        assert flat == list(range(5)) * count
        assert batched._cardinality() == -(-5 * count // 2)


@pytest.mark.parametrize("count", [None, -1])
def test_repeat_forever(count):
    for ds in both_paths(lambda d: d.repeat(count)):
        assert ds._cardinality() == INFINITE_CARDINALITY
        assert int(ds.cardinality().numpy()) == -1
        assert values(ds, 13) == (list(range(5)) * 3)[:13]
        assert values(ds.take(12)) == (list(range(5)) * 3)[:12]
        assert ds.take(12)._cardinality() == 12
        flat = [v for b in itertools.islice(ds.batch(3).as_numpy_iterator(), 4) for v in np.ravel(b)]
        assert flat == (list(range(5)) * 3)[:12]
        with pytest.raises(TypeError):
            len(ds)


@pytest.mark.parametrize("count,expected", [(0, 0), (3, 3), (5, 5), (6, 5), (100, 5), (-1, 5)])
def test_take_past_the_end(count, expected):
    for ds in both_paths(lambda d: d.take(count)):
        assert values(ds) == list(range(expected))
        assert ds._cardinality() == expected
        assert int(ds.cardinality().numpy()) == expected


@pytest.mark.parametrize("count,expected", [(0, 5), (2, 3), (5, 0), (9, 0), (-1, 0)])
def test_skip_counts(count, expected):
    for ds in both_paths(lambda d: d.skip(count)):
        assert values(ds) == list(range(5 - expected, 5))
        assert ds._cardinality() == expected


def test_take_skip_repeat_compose_like_tf_data():
    for ds in both_paths(lambda d: d.skip(1).take(3).repeat(2)):
        assert values(ds) == [1, 2, 3, 1, 2, 3]
        assert ds._cardinality() == 6
    for ds in both_paths(lambda d: d.repeat(2).take(7)):
        assert values(ds) == [0, 1, 2, 3, 4, 0, 1]
        assert ds._cardinality() == 7
    for ds in both_paths(lambda d: d.repeat().skip(3)):
        assert ds._cardinality() == INFINITE_CARDINALITY
        assert values(ds, 4) == [3, 4, 0, 1]
    empty = Dataset.from_tensor_slices(np.arange(5)).take(0)
    assert empty.repeat()._cardinality() == 0           # nothing repeated for ever is nothing
    assert empty.repeat(3)._cardinality() == 0


def test_batch_cardinality_with_drop_remainder():
    ds = Dataset.from_tensor_slices(np.arange(7))
    assert ds.batch(3)._cardinality() == 3 and len(values(ds.batch(3))) == 3
    assert ds.batch(3, drop_remainder=True)._cardinality() == 2
    assert len(values(ds.batch(3, drop_remainder=True))) == 2
    assert ds.repeat().batch(3)._cardinality() == INFINITE_CARDINALITY


def test_counts_must_be_integers():
    ds = Dataset.from_tensor_slices(np.arange(5))
    for method in (ds.take, ds.skip, ds.repeat):
        with pytest.raises(TypeError):
            method(2.0)
        with pytest.raises(TypeError):
            method(True)
    assert values(ds.take(np.int64(2))) == [0, 1]
