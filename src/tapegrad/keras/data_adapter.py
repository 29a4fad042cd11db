"""How ``fit`` / ``evaluate`` / ``predict`` read their data, batch by batch.

NumPy arrays (or Tensors) are cut into batches of ``batch_size`` here, in a
new random order each epoch when ``shuffle``; a model with several inputs or
outputs takes a list or a dict of arrays, sliced together (``HostData``).  A
``tapegrad.data.Dataset`` already yields batches: its elements are ``(x, y)``
pairs (``x`` alone is enough for ``predict``), where ``x`` and ``y`` may be
tuples or dicts for such models, and as in Keras ``y`` and ``batch_size``
must then be left out.  A Python generator of ``(x, y)`` batches and a
``PyDataset`` (batches by index) are read the same way, batch by batch.  Either way an epoch is an iterable of host ``(x, y)``
pairs with the inputs in float32, checked by the model's ``prepare``.
"""

from __future__ import annotations

import inspect
import itertools
import math
import warnings

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
        for index in self.batch_indices():
            yield self.take(index)

    def batch_indices(self):
        """Each batch's rows: a slice, or (shuffled) an array of positions; one permutation per epoch."""
        n = self.x.n
        order = generator().permutation(n) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            yield slice(start, stop) if order is None else order[start:stop]

    def take(self, index):
        """The batch ``(x, y)`` at ``index`` (part of a batch's index: a data-parallel rank's share)."""
        return self.x.take(index, as_float=True), (None if self.y is None else self.y.take(index))

    def whole_arrays(self):
        """``(x, y)``, the whole arrays a traced step may gather its batches from
        itself (``Trainer.fit``, ``_train_step_rows``), or None when a batch must be
        gathered here: one input array and one target array, the inputs already
        float32 and C-contiguous (any other gets converted batch by batch)."""
        if self.y is None or self.x.structure is not None or self.y.structure is not None:
            return None
        x, y = self.x.leaves[0], self.y.leaves[0]
        if x.dtype != np.float32 or not x.flags.c_contiguous or not y.flags.c_contiguous:
            return None
        return x, y


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
            yield _checked_batch(element, self.prepare, self.what, self.needs_targets, "dataset")


def _checked_batch(element, prepare, what, needs_targets, source):
    """One ``(x, y)`` batch of host arrays from an element a dataset or generator gave.

    As in Keras, a tuple element is ``(x, y)`` or ``(x,)``; several inputs are
    one tuple or dict inside it: ``((x1, x2), y)`` or ``({"a": x1, "b": x2}, y)``.
    """
    if isinstance(element, list) and source != "dataset":   # Keras's unpack_x_y_sample_weight: a list
        element = tuple(element)                             # from a generator is read as a tuple
    if isinstance(element, tuple) and len(element) in (1, 2):
        x, y = element if len(element) == 2 else (element[0], None)
    elif isinstance(element, tuple) and len(element) == 3:
        raise ValueError(f"{what}: the {source} yields (x, y, sample_weight) batches, but sample weights are "
                         f"not supported by tapegrad's fit, evaluate and predict yet; yield (x, y) pairs")
    elif isinstance(element, tuple):
        raise ValueError(f"{what}: {source} elements must be (x, y) pairs, got a tuple of {len(element)}; "
                         f"give several inputs as one tuple or dict: ((x1, x2), y)")
    elif element is None or isinstance(element, (str, bytes, int, float)):
        raise ValueError(f"{what}: {source} elements must be (x, y) pairs of arrays, got "
                         f"{type(element).__name__} {element!r:.60}")
    else:
        x, y = element, None
    if y is None and needs_targets:
        raise ValueError(f"{what}: the {source} must yield (x, y) pairs, got elements without targets "
                         f"(a {type(element).__name__})")
    x, y = prepare(x, y) if needs_targets else (prepare(x), None)
    return x.take(slice(None), as_float=True), (None if y is None else y.take(slice(None)))


class PyDataset:
    """Batches by index, as Keras 3's ``keras.utils.PyDataset``: subclass it and define
    ``__len__`` (the number of batches in an epoch) and ``__getitem__(index)``
    (batch ``index``, an ``(x, y)`` pair).  ``fit`` asks for batches 0, 1, ...
    each epoch and calls ``on_epoch_end()`` after it (e.g. to reshuffle).
    ``workers`` and the other arguments are accepted for Keras compatibility:
    tapegrad reads the batches in the calling thread.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers, self.use_multiprocessing, self.max_queue_size = workers, use_multiprocessing, max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index), returning batch index")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__(), the number of batches")

    @property
    def num_batches(self):
        """Batches in an epoch: ``len(self)`` (None when the class defines no ``__len__``)."""
        try:
            return len(self)
        except NotImplementedError:
            return None

    def on_epoch_begin(self):
        """Called before each epoch (override to prepare one)."""

    def on_epoch_end(self):
        """Called after each epoch (override to reshuffle)."""


def is_batch_source(x):
    """Whether ``x`` yields batches itself: a PyDataset, a generator or another iterator."""
    return isinstance(x, PyDataset) or inspect.isgenerator(x) or (
        hasattr(x, "__next__") and not isinstance(x, (np.ndarray, Tensor, Dataset)))


class GeneratorBatches:
    """Batches from a ``PyDataset`` (by index, every epoch) or a Python generator / iterator.

    A generator is read once: with ``steps`` each epoch takes that many
    batches from where the last one stopped, without it the first epoch reads
    it to the end.  When it runs out before an epoch has any batch,
    ``ran_out`` is set and a warning says so, as in Keras (``fit`` then stops).
    """

    def __init__(self, source, prepare, what, needs_targets=True, steps=None):
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer))
                                  or steps <= 0):
            raise ValueError(f"{what}: steps must be a positive integer or None, got {steps!r}")
        self.source, self.prepare, self.what = source, prepare, what
        self.needs_targets = needs_targets
        self.ran_out = False
        if isinstance(source, PyDataset):
            length = source.num_batches
            if length is None and steps is None:
                raise ValueError(f"{what}: {type(source).__name__} defines no __len__: pass steps_per_epoch "
                                 f"(or steps) to say how many batches an epoch has")
            if length == 0:
                raise ValueError(f"{what}: no data (the PyDataset has no batches)")
            self.num_batches = length if steps is None else (steps if length is None else min(steps, length))
        else:
            self.iterator = iter(source)
            self.num_batches = steps   # None: unknown until the generator ends

    def _elements(self):
        if isinstance(self.source, PyDataset):
            self.source.on_epoch_begin()
            for index in range(self.num_batches):
                yield self.source[index]
            self.source.on_epoch_end()
            return
        for count in itertools.count():
            if self.num_batches is not None and count >= self.num_batches:
                return
            try:
                element = next(self.iterator)
            except StopIteration:
                if count == 0:
                    self.ran_out = True
                    warnings.warn(f"{self.what}: your input ran out of data; interrupting. Make sure that your "
                                  f"generator can generate at least `steps_per_epoch * epochs` batches.",
                                  stacklevel=4)
                elif self.num_batches is None:
                    self.num_batches = count   # now known: the next epochs' progress bars show it
                return
            yield element

    def __iter__(self):
        source = "PyDataset" if isinstance(self.source, PyDataset) else "generator"
        for element in self._elements():
            yield _checked_batch(element, self.prepare, self.what, self.needs_targets, source)


def adapt(x, y, batch_size, what, prepare, shuffle=False, needs_targets=True, steps=None):
    """``ArrayBatches``, ``DatasetBatches`` or ``GeneratorBatches`` for the arguments of fit / evaluate / predict.

    ``prepare(x, y)`` (or ``prepare(x)`` without targets) checks host data and
    returns it as ``HostData``; for arrays it runs once here, for a dataset on
    every batch.
    """
    if is_batch_source(x):
        if y is not None:
            raise ValueError(f"{what}: `y` argument is not supported when using a generator or PyDataset as "
                             "input (it yields (x, y) pairs)")
        if batch_size is not None:
            raise ValueError(f"{what}: batch_size must be None when x is a generator or PyDataset: its elements "
                             f"are already batches; got batch_size={batch_size}")
        return GeneratorBatches(x, prepare, what, needs_targets, steps)
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
