"""How ``fit`` / ``evaluate`` / ``predict`` read their data, batch by batch.

NumPy arrays (or Tensors) are cut into batches of ``batch_size`` here, in a
new random order each epoch when ``shuffle``.  A ``tapegrad.data.Dataset``
already yields batches: its elements are ``(x, y)`` pairs (``x`` alone is
enough for ``predict``), and as in Keras ``y`` and ``batch_size`` must then
be left out.  Either way an epoch is an iterable of host ``(x, y)`` pairs
with ``x`` in float32, checked by the model's ``prepare(x, y, what)``.
"""

from __future__ import annotations

import math

import numpy as np

from ..data import INFINITE_CARDINALITY, Dataset
from ..random import generator


def _float32(x):
    return x if x.dtype == np.float32 else x.astype(np.float32)


class ArrayBatches:
    """Consecutive slices of arrays that were checked once, up front."""

    def __init__(self, x, y, batch_size, shuffle=False):
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.num_batches = math.ceil(len(x) / batch_size)

    def __iter__(self):
        n = len(self.x)
        order = generator().permutation(n) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            index = slice(start, stop) if order is None else order[start:stop]
            yield _float32(self.x[index]), (None if self.y is None else self.y[index])


class DatasetBatches:
    """The batches of a Dataset, each checked as it arrives (the dataset is re-iterated every epoch)."""

    def __init__(self, dataset, prepare, what, needs_targets=True):
        n = dataset._cardinality()
        if n == INFINITE_CARDINALITY:
            raise ValueError(f"{what}: the dataset is infinite (it was repeat()ed without a count); "
                             "pass a finite dataset, e.g. dataset.take(steps)")
        if n == 0:
            raise ValueError(f"{what}: no data (the dataset is empty)")
        self.dataset, self.prepare, self.what = dataset, prepare, what
        self.needs_targets = needs_targets
        self.num_batches = n

    def __iter__(self):
        for element in self.dataset._elements():
            if isinstance(element, tuple) and len(element) in (1, 2):
                x, y = element if len(element) == 2 else (element[0], None)
            elif isinstance(element, tuple):
                raise ValueError(f"{self.what}: dataset elements must be (x, y) pairs, got a tuple of "
                                 f"{len(element)} (sample weights are not supported)")
            else:
                x, y = element, None
            if isinstance(x, dict) or isinstance(y, dict):
                raise TypeError(f"{self.what}: dict elements need a model with named inputs; this model takes "
                                "one array")
            if y is None and self.needs_targets:
                raise ValueError(f"{self.what}: the dataset must yield (x, y) pairs, got elements without targets")
            x, y = self.prepare(x, y) if self.needs_targets else (self.prepare(x), None)
            yield _float32(x), y


def adapt(x, y, batch_size, what, prepare, shuffle=False, needs_targets=True):
    """``ArrayBatches`` or ``DatasetBatches`` for the arguments of fit / evaluate / predict.

    ``prepare(x, y)`` (or ``prepare(x)`` without targets) checks and converts
    host data; for arrays it runs once here, for a dataset on every batch.
    """
    if isinstance(x, Dataset):
        if y is not None:
            raise ValueError(f"{what}: `y` argument is not supported when using dataset as input "
                             "(the dataset yields (x, y) pairs)")
        if batch_size is not None:
            raise ValueError(f"{what}: batch_size must be None when x is a Dataset: its elements are already "
                             f"batches (call dataset.batch(n) to choose their size); got batch_size={batch_size}")
        return DatasetBatches(x, prepare, what, needs_targets)
    batch_size = 32 if batch_size is None else batch_size
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if needs_targets:
        x, y = prepare(x, y)
    else:
        x = prepare(x)
    return ArrayBatches(x, y, int(batch_size), shuffle)
