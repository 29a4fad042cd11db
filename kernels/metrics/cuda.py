"""The metric totals on the GPU (numba.cuda): a float64 running sum that stays
on the device, so a training loop never waits for a copy back after a step."""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32

from .._cuda import f32, launch


# ---- metric totals: a float64 running sum that stays on the device
@cuda.jit
def _accumulate_sum(values, weight, total):
    """One block: each thread sums a strided share, then adds it atomically."""
    partial = 0.0                       # float64
    for i in range(cuda.threadIdx.x, values.shape[0], cuda.blockDim.x):
        partial += values[i]
    cuda.atomic.add(total, 0, partial * weight)

@cuda.jit
def _accumulate_correct(scores, labels, total):
    """One thread per row: its argmax (first on ties, as np.argmax); a row
    holding a NaN has no argmax and never counts."""
    i = cuda.grid(1)
    if i < scores.shape[0]:
        best = 0
        top = scores[i, 0]
        has_nan = top != top
        for j in range(1, scores.shape[1]):
            v = scores[i, j]
            if v != v:
                has_nan = True
            elif v > top:
                best = j
                top = v
        if best == labels[i] and not has_nan:
            cuda.atomic.add(total, 0, 1.0)



# ---------------------------------------------------------------- the backend's methods
def accumulate_sum(values, weight, total):
    _accumulate_sum[1, launch.threads](values, np.float64(weight), total)


def accumulate_correct(scores, labels, total):
    rows = scores.shape[0]
    _accumulate_correct[math.ceil(rows / launch.threads), launch.threads](scores, labels, total)
