"""``kernels.class_ids``: labels copied, then checked on the copy, for every label dtype.

The range check depends on the dtype the labels came in (bools and narrow
unsigned ints cannot be negative, so only their largest id is looked for);
these cases pin that every dtype still ends as the same checked int64 ids.
"""

import numpy as np
import pytest

import tapegrad.kernels as K


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64, np.int8, np.int16,
                                   np.int32, np.int64, np.float32, np.float64, np.bool_])
def test_every_label_dtype_gives_the_same_checked_ids(dtype):
    values = np.array([3, 0, 1, 1, 0, 2, 1]) if dtype is not np.bool_ else np.array([1, 0, 1, 1])
    ids = K.class_ids(values.astype(dtype), backend="numpy")
    assert ids.host.dtype == np.int64 and ids.host.flags.c_contiguous and not ids.host.flags.writeable
    np.testing.assert_array_equal(ids.host, values)
    assert ids.high == values.max() and ids.low == values.min()


@pytest.mark.parametrize("labels, message", [
    (np.array([0, -3, 2], np.int8), "label -3 is out of range"),
    (np.array([0, -1.0]), "label -1 is out of range"),
    (np.array([0, 2**63 + 5], np.uint64), "label -9223372036854775803 is out of range"),   # wraps in int64
    (np.array([0.5, 1.0]), "non-integer values"),
    (np.array([np.nan, 1.0]), "non-integer values"),
])
def test_bad_ids_are_refused(labels, message):
    with pytest.raises(ValueError, match=message):
        K.class_ids(labels, backend="numpy")


def test_the_ids_are_a_private_copy_and_the_range_is_the_copys():
    labels = np.array([[4, 0], [1, 9]], np.uint8).T        # a non-contiguous view
    ids = K.class_ids(labels, backend="numpy")
    labels[0, 0] = 200
    np.testing.assert_array_equal(ids.host, [[4, 1], [0, 9]])
    assert ids.high == 9 and ids.host.flags.c_contiguous
    ids.check_classes(10, "f")
    with pytest.raises(ValueError, match="label 9 is out of range for 9 classes"):
        ids.check_classes(9, "f")
    empty = K.class_ids(np.zeros(0, np.uint8), backend="numpy")
    assert empty.high is None and empty.low is None
    assert repr(K.class_ids([2, 5], backend="numpy")) == "<ClassIds shape=(2,) range=2..5>"


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.float32])
def test_class_ids_at_rows_are_the_class_ids_of_the_gathered_batch(dtype):
    """``class_ids_at(y, rows)`` (a traced fit's labels: trace/gather.py) is
    ``class_ids(y[rows])``: the same private checked copy, the same errors, and a
    row out of range an IndexError (NumPy's ``take``), never a read out of bounds."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 50).astype(dtype)
    rows = rng.permutation(50)[:17]
    ids = K.class_ids_at(labels, rows, backend="numpy", fn="f")
    want = K.class_ids(labels[rows], backend="numpy", fn="f")
    np.testing.assert_array_equal(ids.host, want.host)
    assert ids.high == want.high and ids.host.dtype == np.int64 and not ids.host.flags.writeable
    labels[rows[0]] = 9 - labels[rows[0]]               # the caller's array changes: the copy does not
    np.testing.assert_array_equal(ids.host, want.host)
    with pytest.raises(IndexError):
        K.class_ids_at(labels, np.array([3, 50]), backend="numpy")
    if dtype is not np.uint8:
        labels[rows[2]] = -1
        with pytest.raises(ValueError, match="label -1 is out of range"):
            K.class_ids_at(labels, rows, backend="numpy")
