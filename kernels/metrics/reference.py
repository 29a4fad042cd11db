"""The metric totals' contract, in NumPy: running totals for the Keras metrics.

They stay where the arrays live, so a training loop on a GPU never waits for
a copy back after a step; one float64 read at the end (or at a progress
refresh) gives the mean.  Every host backend (numpy, numba, cython) runs
these NumPy versions: they are O(N*C) bookkeeping, not worth compiling.
"""

from __future__ import annotations

import numpy as np


def accumulate_sum(values, weight, total):
    """total[0] += weight * sum(values); ``total`` is a (1,) float64 array."""
    total[0] += weight * values.sum(dtype=np.float64)


def accumulate_correct(scores, labels, total):
    """total[0] += the number of rows i with argmax(scores[i]) == labels[i]
    (the first largest entry on ties, as np.argmax); a row holding a NaN has
    no argmax, so it never counts (``max`` propagates the NaN)."""
    hits = (scores.argmax(axis=1) == labels) & ~np.isnan(scores.max(axis=1))
    total[0] += np.count_nonzero(hits)
