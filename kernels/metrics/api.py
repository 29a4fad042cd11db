"""The metric totals' public functions: running sums that stay on the device.

kernels/metrics/DESIGN.md: the contract.
"""

from __future__ import annotations

import numpy as np

from .._checks import operand
from .._dispatch import get_backend
from .._labels import labels_for


# ---------------------------------------------------------------- metrics
def _total(be, total, fn):
    if not be.is_array(total) or tuple(total.shape) != (1,) or total.dtype != np.float64:
        got = f"{type(total).__name__} of shape {getattr(total, 'shape', '?')} and dtype {getattr(total, 'dtype', '?')}"
        raise TypeError(f"{fn}: total must be a (1,) float64 array of the {be.name} backend "
                        f"(e.g. backend.zeros((1,), 'float64')), got a {got}")
    if not be.is_writeable(total):
        raise ValueError(f"{fn}: total is updated in place, so it must be writeable")
    return total


def accumulate_sum(values, total, *, weight=1.0, backend=None):
    """Add ``weight * sum(values)`` to the running total ``total[0]``, in float64.

    This is how a metric's mean stays on the device: each batch adds to a
    one-element array where the values live, and only reading the result
    copies a number back.  ``total`` is a (1,) float64 array of the backend.
    """
    be = get_backend(backend)
    fn = "accumulate_sum"
    values = operand(be, values, "values", fn)
    total = _total(be, total, fn)
    try:
        weight = float(weight)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: weight must be a number, got {weight!r}") from None
    if values.size:
        be.accumulate_sum(values.reshape(-1), weight, total)
    return total


def accumulate_correct(scores, labels, *, total, backend=None):
    """Add the number of rows of (N, C) ``scores`` whose argmax is the row's
    label to ``total[0]``: the numerator of sparse categorical accuracy.
    A row holding a NaN never counts (a NaN prediction is never right)."""
    be = get_backend(backend)
    fn = "accumulate_correct"
    scores = operand(be, scores, "scores", fn, ndim=2)
    n, c = scores.shape
    if c == 0:
        raise ValueError(f"{fn}: scores have 0 classes")
    labels = labels_for(be, labels, n, c, fn)
    total = _total(be, total, fn)
    if n:
        be.accumulate_correct(scores, labels, total)
    return total
