"""Integer class ids, copied and checked once, then trusted by the kernels.

The losses (``softmax_cross_entropy``) and the metrics (``accumulate_correct``)
index rows by class ids in compiled code without bounds checks, so they read
a private, checked copy: a :class:`ClassIds`.
"""

from __future__ import annotations

import numpy as np

from ._dispatch import get_backend


class NonIntegerLabelsError(TypeError, ValueError):
    """Float labels with a fractional part: not integer class ids (a TypeError,
    as the kernels always raised) and bad values (a ValueError, as Keras's
    losses always raised); one check, so one error that is both."""


class ClassIds:
    """A batch of integer class ids, copied and checked ONCE, then read by any
    number of kernels (a training step's loss and its accuracy share one).

    ``class_ids(labels)`` makes it: the ids are copied into a private int64
    array, checked (whole numbers, none negative), and on a device backend
    uploaded once.  Nothing else holds that copy, so the ids a kernel reads
    are the ids that were checked: a compiled kernel indexes rows by them
    without bounds checks and without the GIL, and checking the caller's own
    array would let another thread rewrite an id in between (a crash, not an
    error).  A kernel call then only compares ``high`` with its number of
    classes and ``shape`` with its rows.  ``np.asarray(ids)`` gives a copy.
    """

    __slots__ = ("host", "data", "backend", "high", "shape", "ndim", "size")
    dtype = np.dtype(np.int64)

    def __init__(self, host, data, backend, high):
        self.host, self.data, self.backend, self.high = host, data, backend, high
        self.shape, self.ndim, self.size = host.shape, host.ndim, host.size

    @property
    def low(self):
        """The smallest id (None for no ids); checked to be >= 0 at creation."""
        return int(self.host.min()) if self.size else None

    def __len__(self):
        return len(self.host)

    def numpy(self):
        return self.host.copy()

    def __array__(self, dtype=None, copy=None):
        return self.host.astype(dtype or self.host.dtype, copy=True)

    def reshape(self, shape):
        """The same checked ids viewed in another shape (no copy, no new check)."""
        if type(shape) is int:
            shape = (shape,)
        if type(shape) is tuple and (shape == self.shape or shape == (-1,) and self.ndim == 1):
            return self                      # already that shape (the loss and accuracy ask each step)
        host = self.host.reshape(shape)
        data = host if self.data is self.host else self.data.reshape(shape)
        return ClassIds(host, data, self.backend, self.high)

    def check_classes(self, num_classes, fn):
        """Raise unless every id is below ``num_classes``."""
        if self.high is not None and self.high >= num_classes:
            raise ValueError(f"{fn}: label {self.high} is out of range for {num_classes} classes "
                             f"(valid: 0..{num_classes - 1})")

    def on(self, be):
        """The ids as an array of backend ``be`` (the upload made at creation, or a new one)."""
        if be.host:
            return self.host
        return self.data if be is self.backend else be.asarray(self.host)

    def __repr__(self):
        return f"<ClassIds shape={self.shape} range={self.low}..{self.high}>"


def class_ids(labels, *, backend=None, fn="class_ids"):
    """Copy and check integer class ids once: a ``ClassIds`` the kernels trust.

    Accepts integers, floats holding whole numbers (as Keras does) and bools
    (False/True are classes 0/1, as TF casts them); anything else is a
    TypeError.  A ``ClassIds`` is returned as it is.  Negative ids are refused here; ids too large for a
    kernel's classes are refused by that kernel call.
    """
    if isinstance(labels, ClassIds):
        return labels
    be = get_backend(backend)
    given = np.asarray(be.to_numpy(labels) if not be.host and be.is_array(labels) else labels)
    kind = given.dtype.kind
    if kind == "f":
        given = given.copy()   # private: the whole numbers checked are the ones converted below
        if given.size and not np.all(np.mod(given, 1) == 0):
            raise NonIntegerLabelsError(f"{fn}: labels must be integer class ids, got non-integer values")
    elif kind not in "iub":
        raise TypeError(f"{fn}: labels must be integer class ids, got dtype {given.dtype}")
    # no id can be negative when they came as bools or unsigned ints narrower
    # than int64 (uint8 labels: MNIST's), so only the largest is looked for
    can_be_negative = not (kind in "ub" and given.dtype.itemsize < 8)
    # the private copy, C-ordered int64: the range is checked below on it, never on
    # the caller's array, and it is what the kernels read
    host = given.astype(np.int64, order="C", copy=True)
    host.flags.writeable = False          # private, and read-only besides
    high = None
    if host.size:
        high = int(np.maximum.reduce(host, axis=None))
        if can_be_negative:
            low = int(np.minimum.reduce(host, axis=None))
            if low < 0:
                raise ValueError(f"{fn}: label {low} is out of range (class ids start at 0)")
    return ClassIds(host, host if be.host else be.asarray(host), be, high)


def class_ids_at(labels, rows, *, backend=None, fn="class_ids"):
    """``class_ids(labels[rows])``: the checked ids of a batch of rows of the whole
    array ``labels`` (fit's shuffled batch, traced: trace/gather.py), gathered by
    the array's own ``take``, which refuses a row out of range (IndexError)."""
    batch = labels.take(rows, axis=0) if isinstance(labels, np.ndarray) else np.take(labels, rows, axis=0)
    return class_ids(batch, backend=backend, fn=fn)


def labels_for(be, labels, n, c, fn):
    """The labels as the checked int64 array of ``be`` a kernel reads: a
    ``ClassIds`` is used as it is (copied and checked when it was made),
    anything else is made into one first (see ``ClassIds`` for why a copy)."""
    ids = class_ids(labels, backend=be, fn=fn)
    if ids.shape != (n,) and ids.shape != (n, 1):
        raise ValueError(
            f"{fn}: labels must have shape ({n},) to match logits of shape ({n}, {c}), "
            f"got {ids.shape}"
        )
    ids.check_classes(c, fn)
    return ids.on(be).reshape(-1) if ids.ndim == 2 else ids.on(be)
