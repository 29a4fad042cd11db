"""Shares of each global batch sized so that the ranks finish their work together.

Data-parallel ranks meet at every step's allreduce, so a step lasts as long as
the slowest rank's work: on a machine shared with other programs, a rank whose
core is also running something else makes every other rank wait.  Since the
global gradient is ``sum_r (rows_r / B) * gradient_r`` for ANY split of the
batch, the split can follow the ranks' speeds without changing what is
computed (only the rounding): a slowed rank gets fewer rows.

Each step, every rank times its own work outside the allreduce: ``compute``
(forward and backward on its ``rows``) and ``rest`` (optimizer, metrics, the
loop).  The three numbers travel in a few extra slots of the gradient
allreduce, so every rank sees every rank's times and computes the SAME shares
for the next step: with ``per_row = compute / rows`` (smoothed over steps),
rank r's share is ``(T - rest_r) / per_row_r``, ``T`` chosen so that the
shares add up to the batch.  Pure logic, tested with synthetic timings.
"""

from __future__ import annotations

import numpy as np

#: weight of the newest step in the running means (a step is ms long; the load changes over ~0.1 s)
SMOOTHING = 0.2


class LoadBalance:
    """The shares of ``ranks`` ranks, from the timings they report."""

    def __init__(self, ranks: int):
        self.ranks = ranks
        self.rest = None        # smoothed seconds per step outside forward + backward, per rank
        self.per_row = None     # smoothed seconds of forward + backward per row, per rank

    def timings(self, rank, rest, compute, rows, dtype):
        """This rank's slots of the vector summed over the ranks (zeros elsewhere): ``rest``
        (< 0: not measured), ``compute`` seconds and ``rows``."""
        vector = np.zeros(3 * self.ranks, dtype)
        vector[3 * rank:3 * rank + 3] = (rest, compute, rows)
        return vector

    def update(self, summed):
        """Take in every rank's timings (the summed vector); a step where some rank
        measured nothing (an empty share, the first step of an epoch) is skipped."""
        rest, compute, rows = np.asarray(summed, np.float64).reshape(self.ranks, 3).T
        if np.any(rows <= 0) or np.any(compute <= 0) or np.any(rest < 0):
            return
        per_row = compute / rows
        if self.rest is None:
            self.rest, self.per_row = rest, per_row
        else:
            self.rest = (1 - SMOOTHING) * self.rest + SMOOTHING * rest
            self.per_row = (1 - SMOOTHING) * self.per_row + SMOOTHING * per_row

    def counts(self, rows):
        """Rows of each rank for a batch of ``rows``: equal finish times by the model,
        at least one row each (when there are enough), whole numbers adding up to ``rows``."""
        if self.rest is None or rows < 2 * self.ranks:
            base, extra = divmod(rows, self.ranks)
            return [base + (1 if r < extra else 0) for r in range(self.ranks)]
        speed = 1.0 / self.per_row
        finish = (rows + np.sum(self.rest * speed)) / np.sum(speed)
        share = np.maximum((finish - self.rest) * speed, 1.0)
        share *= rows / share.sum()
        counts = np.floor(share).astype(int)
        left = rows - counts.sum()
        order = sorted(range(self.ranks), key=lambda r: (-(share[r] - counts[r]), r))
        for r in order[:left]:
            counts[r] += 1
        return [int(c) for c in counts]

    def bounds(self, rows, rank):
        """Rows ``[start, stop)`` of the batch that ``rank`` takes (contiguous, in rank order)."""
        counts = self.counts(rows)
        start = sum(counts[:rank])
        return start, start + counts[rank]
