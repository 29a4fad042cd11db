"""How ``fit`` / ``evaluate`` / ``predict`` read their data, batch by batch.

NumPy arrays (or Tensors) are cut into batches of ``batch_size`` here, in a
new random order each epoch when ``shuffle``; a model with several inputs or
outputs takes a list or a dict of arrays, sliced together (``HostData``).  A
``tapegrad.data.Dataset`` already yields batches: its elements are ``(x, y)``
pairs (``x`` alone is enough for ``predict``), where ``x`` and ``y`` may be
tuples or dicts for such models, and as in Keras ``y`` and ``batch_size``
must then be left out.  Either way an epoch is an iterable of host ``(x, y)``
pairs with the inputs in float32, checked by the model's ``prepare``.
"""

from __future__ import annotations

import math

import numpy as np

from ..data import INFINITE_CARDINALITY, Dataset
from ..random import generator
from ..tensor import Tensor
from .node import flatten, pack_like


def _host(x, what):
    if x is None:
        raise ValueError(f"{what} is required")
    a = np.asarray(x.numpy() if isinstance(x, Tensor) else x)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numeric, got dtype {a.dtype}")
    if a.ndim == 0:
        raise ValueError(f"{what} must have a batch axis, got a scalar")
    return a


def _is_structure(data):
    """A list / tuple / dict of arrays (several inputs or outputs), not one nested-list array."""
    if isinstance(data, dict):
        return True
    return isinstance(data, (list, tuple)) and len(data) > 0 and all(
        isinstance(a, (np.ndarray, Tensor, dict)) for a in data)


def _rows(a, index):
    """``a[index]`` along the first axis.  A shuffled batch gathers its rows
    with ``ndarray.take``, which copies them ~15% faster than ``a[index]``'s
    general fancy indexing (same result, a new array, bounds checked)."""
    return a[index] if isinstance(index, slice) else a.take(index, axis=0)


class HostData:
    """Host arrays of one or several inputs (or targets), sliced together batch by batch."""

    def __init__(self, data, what):
        self.structure = data if _is_structure(data) else None
        leaves = flatten(data) if self.structure is not None else [data]
        self.leaves = [_host(a, what if len(leaves) == 1 else f"{what}[{i}]") for i, a in enumerate(leaves)]
        lengths = {len(a) for a in self.leaves}
        if len(lengths) > 1:
            raise ValueError(f"{what}: all arrays must have the same number of samples, got "
                             f"{[len(a) for a in self.leaves]}")
        self.n = lengths.pop()

    def take(self, index, as_float=False):
        """The samples at ``index`` (a slice: views; an array of positions: new
        arrays), inputs in float32 when ``as_float``."""
        if self.structure is None:           # one array: the common case, once per batch
            part = _rows(self.leaves[0], index)
            return part.astype(np.float32) if as_float and part.dtype != np.float32 else part
        parts = [_rows(a, index) for a in self.leaves]
        if as_float:
            parts = [p if p.dtype == np.float32 else p.astype(np.float32) for p in parts]
        return parts[0] if self.structure is None else pack_like(self.structure, parts)

    def split(self, at):
        first, second = HostData.__new__(HostData), HostData.__new__(HostData)
        for part, index in ((first, slice(0, at)), (second, slice(at, None))):
            part.structure = self.structure
            part.leaves = [a[index] for a in self.leaves]
            part.n = len(part.leaves[0])
        return first, second


class ArrayBatches:
    """Consecutive slices of arrays that were checked once, up front."""

    def __init__(self, x, y, batch_size, shuffle=False):
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.num_batches = math.ceil(x.n / batch_size)

    def __iter__(self):
        n = self.x.n
        order = generator().permutation(n) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            index = slice(start, stop) if order is None else order[start:stop]
            yield self.x.take(index, as_float=True), (None if self.y is None else self.y.take(index))


class DatasetBatches:
    """The batches of a Dataset, each checked as it arrives (the dataset is re-iterated every epoch)."""

    def __init__(self, dataset, prepare, what, needs_targets=True):
        n = int(dataset.cardinality())   # the public tf.data API: a scalar tensor
        if n == INFINITE_CARDINALITY:
            raise ValueError(f"{what}: the dataset is infinite (it was repeat()ed without a count); "
                             "pass a finite dataset, e.g. dataset.take(steps)")
        if n == 0:
            raise ValueError(f"{what}: no data (the dataset is empty)")
        self.dataset, self.prepare, self.what = dataset, prepare, what
        self.needs_targets = needs_targets
        self.num_batches = n

    def __iter__(self):
        for element in self.dataset.as_numpy_iterator():
            # as in Keras, a tuple element is (x, y) or (x,); several inputs are
            # one tuple or dict inside it: ((x1, x2), y) or ({"a": x1, "b": x2}, y)
            if isinstance(element, tuple) and len(element) in (1, 2):
                x, y = element if len(element) == 2 else (element[0], None)
            elif isinstance(element, tuple):
                raise ValueError(f"{self.what}: dataset elements must be (x, y) pairs, got a tuple of "
                                 f"{len(element)} (sample weights are not supported); give several inputs "
                                 f"as one tuple or dict: ((x1, x2), y)")
            else:
                x, y = element, None
            if y is None and self.needs_targets:
                raise ValueError(f"{self.what}: the dataset must yield (x, y) pairs, got elements without targets")
            x, y = self.prepare(x, y) if self.needs_targets else (self.prepare(x), None)
            yield x.take(slice(None), as_float=True), (None if y is None else y.take(slice(None)))


def adapt(x, y, batch_size, what, prepare, shuffle=False, needs_targets=True):
    """``ArrayBatches`` or ``DatasetBatches`` for the arguments of fit / evaluate / predict.

    ``prepare(x, y)`` (or ``prepare(x)`` without targets) checks host data and
    returns it as ``HostData``; for arrays it runs once here, for a dataset on
    every batch.
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
