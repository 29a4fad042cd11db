"""``keras.utils``: the array helpers the book uses on its labels and features."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor


def to_categorical(x, num_classes=None):
    """Class ids -> one-hot rows: ``to_categorical([0, 2], 3)`` is ``[[1, 0, 0], [0, 0, 1]]``.

    As in Keras: a trailing axis of 1 is dropped, the result has shape
    ``x.shape + (num_classes,)`` and dtype float64, and ``num_classes``
    defaults to ``max(x) + 1``.  Ids must be integers in ``[0, num_classes)``.
    """
    ids = np.asarray(x.numpy() if isinstance(x, Tensor) else x)
    if ids.dtype.kind == "f" and ids.size and not np.all(np.mod(ids, 1) == 0):
        raise ValueError("to_categorical: class ids must be integers, got non-integer values")
    if ids.dtype.kind not in "biuf":
        raise TypeError(f"to_categorical: class ids must be integers, got dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    shape = ids.shape[:-1] if ids.ndim > 1 and ids.shape[-1] == 1 else ids.shape
    ids = ids.reshape(-1)
    if num_classes is None:
        num_classes = int(ids.max()) + 1 if ids.size else 0
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"to_categorical: num_classes must be a positive integer, got {num_classes!r}")
    if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
        bad = ids.min() if ids.min() < 0 else ids.max()
        raise ValueError(f"to_categorical: class id {bad} is out of range for {num_classes} classes "
                         f"(valid: 0..{num_classes - 1})")
    onehot = np.zeros((ids.size, int(num_classes)))
    onehot[np.arange(ids.size), ids] = 1
    return onehot.reshape(shape + (int(num_classes),))


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (rows of norm 0 stay 0)."""
    x = np.asarray(x.numpy() if isinstance(x, Tensor) else x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def set_random_seed(seed):
    """Seed Python's ``random``, NumPy's global generator and tapegrad's (weights, shuffling), as Keras does."""
    import random as python_random

    from .. import random

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"set_random_seed: seed must be an integer, got {seed!r}")
    python_random.seed(int(seed))
    np.random.seed(int(seed))
    random.set_seed(int(seed))


__all__ = ["to_categorical", "normalize", "set_random_seed"]
