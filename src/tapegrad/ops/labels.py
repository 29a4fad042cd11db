"""Class-id labels: checked once per batch, read by every kernel of a step."""

from __future__ import annotations

from .. import kernels
from ..tensor import Tensor


ClassIds = kernels.ClassIds   # a checked batch of class ids (see kernels/_labels.py)


def class_ids(labels, like=None, what="class_ids", backend=None):
    """Integer class ids copied and checked once (``kernels.ClassIds``), uploaded
    once to the backend of tensor ``like`` (or ``backend``, or the current one):
    one label batch that every kernel of a step reads.  A ``ClassIds`` comes
    back as it is; ``backend="numpy"`` checks on the host and uploads nothing.
    A Tensor's array is read by the copy itself (no ``.numpy()`` first: inside a
    traced ``tapegrad.function`` the copy is the recorded kernel call)."""
    if isinstance(labels, kernels.ClassIds):
        return labels
    if isinstance(labels, Tensor):
        labels = labels._data
    return kernels.class_ids(labels, backend=like._backend if like is not None else backend, fn=what)
