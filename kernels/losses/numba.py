"""The losses family in Numba: row-wise softmax and the fused losses.

Each works one row (or element) at a time while it is in L1, with its sums
and logarithms in float64.  ``error_model="numpy"`` keeps Numba from
checking every float division for a zero divisor, a branch that stops LLVM
from vectorizing a loop.
"""

from __future__ import annotations

import math

import numpy as np

from .._numba import njit
from .._numba.cache import guard_caches


# ---------------------------------------------------------------- sigmoid + BCE
@njit(cache=True, error_model="numpy")
def _sigmoid_cross_entropy(x, z, scale, loss_out, grad_out):
    """Per element, in float64: e = exp(-|x|) (never overflows), loss =
    max(x, 0) - x z + log1p(e), grad = (sigmoid(x) - z) * scale with
    sigmoid = 1/(1+e) for x >= 0 and e/(1+e) below (no cancellation)."""
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        zi = np.float64(z[i])
        e = math.exp(-abs(xi))
        loss_out[i] = max(xi, 0.0) - xi * zi + math.log1p(e)
        s = 1.0 / (1.0 + e) if xi >= 0 else e / (1.0 + e)
        grad_out[i] = (s - zi) * scale


# ---------------------------------------------------------------- softmax
@njit(cache=True)
def _softmax(logits, out):
    """Row-wise softmax: shift each row by its max (so exp never overflows),
    exponentiate once into ``out``, then scale by 1/sum (sum in float64)."""
    n, c = logits.shape
    for i in range(n):
        mx = logits[i, 0]
        for j in range(1, c):
            mx = max(mx, logits[i, j])
        s = 0.0
        for j in range(c):
            e = np.exp(logits[i, j] - mx)
            out[i, j] = e
            s += e
        inv = 1.0 / s
        for j in range(c):
            out[i, j] = out[i, j] * inv


@njit(cache=True)
def _softmax_cross_entropy(logits, labels, scale, loss_out, grad_out):
    """Fused softmax + cross-entropy, one row at a time while it is in L1: max,
    sum of exp(x - max) in float64, loss = log(sum) - (x[label] - max), grad =
    (exp(x - max) / sum - onehot) * scale.  Stable for logits of any size."""
    n, c = logits.shape
    for i in range(n):
        mx = logits[i, 0]
        for j in range(1, c):
            mx = max(mx, logits[i, j])
        s = 0.0
        for j in range(c):
            e = math.exp(np.float64(logits[i, j]) - mx)
            grad_out[i, j] = e  # stash exp (rounded to the dtype for float32)
            s += e
        lab = labels[i]
        log_s = math.log(s)
        loss_out[i] = log_s - (np.float64(logits[i, lab]) - mx)
        inv = scale / s
        for j in range(c):
            # recompute exp in float64 for the label's -1 to cancel exactly
            p = math.exp(np.float64(logits[i, j]) - mx) * inv if j == lab else grad_out[i, j] * inv
            if j == lab:
                p -= scale
            grad_out[i, j] = p


# ---------------------------------------------------------------- the backend's methods
def sigmoid_cross_entropy(logits, labels, scale, loss_out, grad_out):
    _sigmoid_cross_entropy(logits, labels, float(scale), loss_out, grad_out)


def softmax(logits, out):
    _softmax(logits, out)
    return out


def softmax_cross_entropy(logits, labels, scale, loss_out, grad_out):
    _softmax_cross_entropy(logits, labels, float(scale), loss_out, grad_out)


guard_caches(globals())  # a corrupt cache entry is dropped and recompiled
