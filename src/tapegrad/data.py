"""``tapegrad.data.Dataset`` (``tf.data.Dataset``): a small in-memory input pipeline.

A dataset is a recipe for a sequence of elements: ``from_tensor_slices``
cuts arrays along their first axis, and each method (``shuffle``, ``map``,
``batch``, ``take``, ``repeat``) returns a new dataset that transforms the
sequence of the one before it.  Nothing runs until you iterate, and every
iteration runs the recipe again (so a reshuffling dataset gives a new order
each epoch).  Elements keep the structure you gave: an array, a tuple such
as ``(x, y)`` or a dict, with tapegrad Tensors as leaves.

Unlike TensorFlow's, everything runs eagerly in the calling thread:
``prefetch`` and ``num_parallel_calls`` are accepted and change nothing.
"""

from __future__ import annotations

import itertools

import numpy as np

from .kernels import get_backend
from .random import generator
from .tensor import _PY_DTYPES, Tensor

AUTOTUNE = -1
INFINITE_CARDINALITY = -1
UNKNOWN_CARDINALITY = -2


# ---------------------------------------------------------------- structures
# An element is a "structure": a NumPy array, or a tuple / dict of structures.

def _map_structure(fn, structure):
    if isinstance(structure, tuple):
        return tuple(_map_structure(fn, s) for s in structure)
    if isinstance(structure, dict):
        return {k: _map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def _leaves(structure):
    if isinstance(structure, tuple):
        return [leaf for s in structure for leaf in _leaves(s)]
    if isinstance(structure, dict):
        return [leaf for s in structure.values() for leaf in _leaves(s)]
    return [structure]


def _host_array(value):
    """A leaf as a NumPy array; Python numbers become float32 / int32 as in TensorFlow."""
    if isinstance(value, Tensor):
        return value.numpy()
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    host = np.asarray(value)
    if host.dtype == object:
        raise TypeError(f"cannot make a tensor of {type(value).__name__} {value!r:.60} (ragged or not numeric)")
    return host.astype(_PY_DTYPES.get(host.dtype, host.dtype), copy=False)


def _host_structure(value):
    """Any user structure (lists count as tensors, as in TF) as a structure of arrays."""
    if isinstance(value, tuple):
        return tuple(_host_structure(v) for v in value)
    if isinstance(value, dict):
        return {k: _host_structure(v) for k, v in value.items()}
    return _host_array(value)


def _to_tensors(structure):
    backend = get_backend()
    return _map_structure(lambda a: Tensor._wrap(backend.asarray(a), backend), structure)


def _stack(elements):
    """Structures of equal shape stacked along a new first axis."""
    first = elements[0]
    if isinstance(first, tuple):
        return tuple(_stack([e[i] for e in elements]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _stack([e[k] for e in elements]) for k in first}
    for i, e in enumerate(elements):
        if e.shape != first.shape:
            raise ValueError(f"Dataset.batch: cannot batch elements of different shapes: the first element "
                             f"has shape {first.shape} and element {i} has shape {e.shape}")
    return np.stack(elements)


def _bounded_count(count, what):
    if isinstance(count, Tensor):
        count = int(count)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)):
        raise TypeError(f"{what} must be an integer, got {type(count).__name__}")
    return int(count)


# ---------------------------------------------------------------- datasets

class Dataset:
    """A sequence of elements, rebuilt on every iteration; see the module docstring."""

    # ---- how subclasses describe themselves
    def _elements(self):
        """One pass over the elements, as structures of NumPy arrays."""
        raise NotImplementedError

    def _cardinality(self):
        raise NotImplementedError

    def _row_source(self):
        """``(arrays, indices)`` when the elements are rows of ``arrays`` (so ``batch``
        can gather a whole batch with one indexing per array); else None."""
        return None

    # ---- the public surface
    def __iter__(self):
        for element in self._elements():
            yield _to_tensors(element)

    def as_numpy_iterator(self):
        """The elements as NumPy arrays (with the same tuple / dict structure)."""
        return iter(self._elements())

    def cardinality(self):
        """The number of elements as a scalar int64 Tensor; ``INFINITE_CARDINALITY`` (-1) after ``repeat()``."""
        backend = get_backend()
        return Tensor._wrap(backend.asarray(np.int64(self._cardinality())), backend)

    def __len__(self):
        n = self._cardinality()
        if n == INFINITE_CARDINALITY:
            raise TypeError("The dataset is infinite.")
        if n == UNKNOWN_CARDINALITY:
            raise TypeError("The dataset length is unknown.")
        return n

    def __bool__(self):
        return True

    @staticmethod
    def from_tensor_slices(tensors, name=None):
        """One element per row: ``from_tensor_slices((x, y))`` yields ``(x[i], y[i])``.

        ``tensors`` is an array (or Tensor, or nested list), a tuple of them or
        a dict of them; every array must have the same first dimension.
        """
        return _TensorSlices(tensors)

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None, deterministic=None, name=None):
        """Stack ``batch_size`` consecutive elements into one (the last may be smaller
        unless ``drop_remainder``)."""
        return _Batch(self, batch_size, drop_remainder)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True, name=None):
        """Randomize the order with a buffer of ``buffer_size`` elements, as TF does.

        The buffer is filled with the first ``buffer_size`` elements; each output
        is drawn uniformly from the buffer and its place taken by the next
        input.  So an element can move at most ``buffer_size - 1`` places
        earlier, and ``buffer_size >= len(dataset)`` gives a uniform shuffle.
        Without ``seed`` one is drawn from ``tapegrad.random`` (``set_seed``
        makes it reproducible).  ``reshuffle_each_iteration`` draws a new order
        for every pass; otherwise every pass repeats the first order.
        """
        return _Shuffle(self, buffer_size, seed, reshuffle_each_iteration)

    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None):
        """Apply ``map_func`` to each element (a tuple element is unpacked: ``map_func(x, y)``).

        It is called eagerly with tapegrad Tensors, one element at a time;
        ``num_parallel_calls`` is accepted and ignored.
        """
        if not callable(map_func):
            raise TypeError(f"Dataset.map expects a function, got {type(map_func).__name__}")
        return _Map(self, map_func)

    def prefetch(self, buffer_size, name=None):
        """Returns the dataset unchanged in effect: in memory there is nothing to prepare ahead."""
        _bounded_count(buffer_size, "prefetch: buffer_size")
        return _Prefetch(self)

    def take(self, count, name=None):
        """The first ``count`` elements (all of them for ``count=-1``)."""
        return _Take(self, _bounded_count(count, "take: count"))

    def skip(self, count, name=None):
        """All but the first ``count`` elements (none for ``count=-1``)."""
        return _Skip(self, _bounded_count(count, "skip: count"))

    def repeat(self, count=None, name=None):
        """The elements ``count`` times over (for ever when ``count`` is None or -1)."""
        return _Repeat(self, -1 if count is None else _bounded_count(count, "repeat: count"))

    def __repr__(self):
        n = self._cardinality()
        size = "infinite" if n == INFINITE_CARDINALITY else f"{n} elements"
        return f"<{type(self).__name__.lstrip('_')}Dataset: {size}>"


class _TensorSlices(Dataset):
    def __init__(self, tensors):
        if isinstance(tensors, Dataset):
            raise TypeError("from_tensor_slices expects arrays, tensors or a tuple/dict of them, got a Dataset")
        # a private copy: later changes to the caller's arrays do not reach the elements
        self._arrays = _map_structure(np.array, _host_structure(tensors))
        leaves = _leaves(self._arrays)
        if not leaves:
            raise ValueError("from_tensor_slices: no arrays given")
        for leaf in leaves:
            if leaf.ndim == 0:
                raise ValueError("from_tensor_slices: every array needs a first axis to slice; got a scalar")
        sizes = {leaf.shape[0] for leaf in leaves}
        if len(sizes) > 1:
            raise ValueError(f"from_tensor_slices: all arrays must have the same first dimension, got sizes "
                             f"{[leaf.shape[0] for leaf in leaves]}")
        self._n = sizes.pop()

    def _cardinality(self):
        return self._n

    def _row_source(self):
        return self._arrays, iter(range(self._n))

    def _elements(self):
        for i in range(self._n):
            yield _map_structure(lambda a: a[i], self._arrays)


class _Transform(Dataset):
    """A dataset made from one other (``self._input``)."""

    def __init__(self, input_dataset):
        self._input = input_dataset


class _RowPreserving(_Transform):
    """A transform that only selects or reorders elements: rows of a source stay rows."""

    def _reorder(self, items):
        raise NotImplementedError

    def _row_source(self):
        source = self._input._row_source()
        return None if source is None else (source[0], self._reorder(source[1]))

    def _elements(self):
        return self._reorder(self._input._elements())


class _Prefetch(_RowPreserving):
    def _reorder(self, items):
        return items

    def _cardinality(self):
        return self._input._cardinality()


class _Take(_RowPreserving):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = count

    def _reorder(self, items):
        return items if self._count < 0 else itertools.islice(items, self._count)

    def _cardinality(self):
        n = self._input._cardinality()
        if self._count < 0:
            return n
        return self._count if n == INFINITE_CARDINALITY else min(n, self._count)


class _Skip(_RowPreserving):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = count

    def _reorder(self, items):
        return iter(()) if self._count < 0 else itertools.islice(items, self._count, None)

    def _cardinality(self):
        n = self._input._cardinality()
        if n == INFINITE_CARDINALITY:
            return n
        return 0 if self._count < 0 else max(0, n - self._count)


class _Repeat(_RowPreserving):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = count

    def _row_source(self):
        first = self._input._row_source()
        if first is None or self._count == 0:
            return None if first is None else (first[0], iter(()))
        more = itertools.count() if self._count < 0 else range(self._count - 1)
        later = (self._input._row_source()[1] for _ in more)   # each pass asks again: a new shuffle
        return first[0], itertools.chain(first[1], itertools.chain.from_iterable(later))

    def _elements(self):
        passes = itertools.count() if self._count < 0 else range(self._count)
        return itertools.chain.from_iterable(self._input._elements() for _ in passes)

    def _cardinality(self):
        n = self._input._cardinality()
        if n == 0 or self._count == 0:
            return 0
        if self._count < 0 or n == INFINITE_CARDINALITY:
            return INFINITE_CARDINALITY
        return n * self._count


class _Shuffle(_RowPreserving):
    def __init__(self, input_dataset, buffer_size, seed, reshuffle_each_iteration):
        super().__init__(input_dataset)
        buffer_size = _bounded_count(buffer_size, "shuffle: buffer_size")
        if buffer_size <= 0:
            raise ValueError(f"shuffle: buffer_size must be positive, got {buffer_size}")
        self._buffer_size = buffer_size
        self._seed = int(generator().integers(2**63)) if seed is None else _bounded_count(seed, "shuffle: seed")
        self._reshuffle = bool(reshuffle_each_iteration)
        self._seeds = np.random.default_rng(self._seed)   # one seed per pass when reshuffling

    def _cardinality(self):
        return self._input._cardinality()

    def _reorder(self, items):
        seed = int(self._seeds.integers(2**63)) if self._reshuffle else self._seed
        return _buffer_shuffle(items, self._buffer_size, np.random.default_rng(seed))


def _buffer_shuffle(items, buffer_size, rng):
    """TF's shuffle buffer: emit a uniformly chosen buffered item, refill its slot from ``items``."""
    uniforms = iter(())

    def pick(size):
        nonlocal uniforms
        u = next(uniforms, None)
        if u is None:  # draw random numbers 1024 at a time: one call per item is slow
            uniforms = iter(rng.random(1024).tolist())
            u = next(uniforms)
        return min(int(u * size), size - 1)

    buffer = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        i = pick(len(buffer))
        yield buffer[i]
        buffer[i] = item
    while buffer:   # the input is exhausted: drain the buffer in random order
        i = pick(len(buffer))
        yield buffer[i]
        buffer[i] = buffer[-1]
        buffer.pop()


class _Map(_Transform):
    def __init__(self, input_dataset, map_func):
        super().__init__(input_dataset)
        self._func = map_func

    def _cardinality(self):
        return self._input._cardinality()

    def _elements(self):
        for element in self._input._elements():
            tensors = _to_tensors(element)
            result = self._func(*tensors) if isinstance(tensors, tuple) else self._func(tensors)
            if isinstance(result, list):   # TF treats a returned list as a tuple
                result = tuple(result)
            yield _host_structure(result)


class _Batch(_Transform):
    def __init__(self, input_dataset, batch_size, drop_remainder):
        super().__init__(input_dataset)
        batch_size = _bounded_count(batch_size, "batch: batch_size")
        if batch_size <= 0:
            raise ValueError(f"batch: batch_size must be positive, got {batch_size}")
        self._batch_size = batch_size
        self._drop_remainder = bool(drop_remainder)

    def _cardinality(self):
        n = self._input._cardinality()
        if n < 0:
            return n
        return n // self._batch_size if self._drop_remainder else -(-n // self._batch_size)

    def _chunks(self, items):
        while True:
            chunk = list(itertools.islice(items, self._batch_size))
            if not chunk or (self._drop_remainder and len(chunk) < self._batch_size):
                return
            yield chunk

    def _elements(self):
        source = self._input._row_source()
        if source is not None:
            arrays, indices = source
            for chunk in self._chunks(indices):
                rows = np.asarray(chunk, dtype=np.intp)
                yield _map_structure(lambda a: a[rows], arrays)
        else:
            for chunk in self._chunks(iter(self._input._elements())):
                yield _stack(chunk)
