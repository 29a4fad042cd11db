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


# ---------------------------------------------------------------- the classifier's head in one pass
@njit(cache=True)
def _block_sum(a, start, n):
    """``a[start:start + n].sum()`` for 1 <= n <= 128 in NumPy's order: up to 8 numbers
    one after another, more in eight interleaved partial sums, then the rest."""
    if n < 8:
        res = a[start]
        if res == 0:            # NumPy starts from 0.0, and 0.0 + -0.0 is 0.0
            res = abs(res)
        for i in range(1, n):
            res += a[start + i]
        return res
    r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
    r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
    i = 8
    while i < n - n % 8:
        r0 += a[start + i]
        r1 += a[start + i + 1]
        r2 += a[start + i + 2]
        r3 += a[start + i + 3]
        r4 += a[start + i + 4]
        r5 += a[start + i + 5]
        r6 += a[start + i + 6]
        r7 += a[start + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[start + i]
        i += 1
    return res


@njit(cache=True)
def _pairwise_sum(a, n):
    """``a[:n].sum()`` (n >= 1) bit for bit as ``np.sum`` adds it: NumPy's pairwise sum
    splits more than 128 numbers into two halves (the lower one a multiple of 8), sums
    each the same way, and adds the two.  Walked here with a stack of the halves, not by
    recursion (Numba's cache cannot load a recursive function back)."""
    if n <= 128:
        return _block_sum(a, 0, n)
    starts = np.empty(64, np.int64)
    counts = np.empty(64, np.int64)
    lefts = np.empty(64, a.dtype)          # a finished left half, waiting for its right half
    left_done = np.zeros(64, np.bool_)
    top = 0
    starts[0], counts[0] = 0, n
    while True:
        while counts[top] > 128:           # down the left halves to a block
            half = counts[top] // 2
            half -= half % 8
            starts[top + 1], counts[top + 1], left_done[top + 1] = starts[top], half, False
            top += 1
        value = _block_sum(a, starts[top], counts[top])
        while True:                        # up: a finished half goes to its parent
            top -= 1
            if top < 0:
                return value
            if not left_done[top]:
                half = counts[top] // 2
                half -= half % 8
                lefts[top], left_done[top] = value, True
                starts[top + 1], counts[top + 1], left_done[top + 1] = starts[top] + half, counts[top] - half, False
                top += 1
                break                      # then down the right half
            value = lefts[top] + value


@njit(cache=True)
def _softmax_cross_entropy_head(logits, labels, scale, loss_out, grad_out, probs):
    """What a classifier's training step does after its logits, one row at a time:
    the softmax probabilities (as ``_softmax`` makes them) for the accuracy's
    argmax, then the loss and its gradient (as ``_softmax_cross_entropy`` with
    scale 1), the gradient then multiplied by ``scale`` in the dtype, as the
    step's separate multiply did.  Returns (the losses' sum, the correct rows)."""
    n, c = logits.shape
    correct = 0
    for i in range(n):
        mx = logits[i, 0]
        for j in range(1, c):
            mx = max(mx, logits[i, j])
        s = 0.0
        for j in range(c):
            e = np.exp(logits[i, j] - mx)
            probs[j] = e
            s += e
        inv = 1.0 / s
        best, has_nan = 0, False
        for j in range(c):
            probs[j] = probs[j] * inv
            has_nan |= probs[j] != probs[j]
            if probs[j] > probs[best]:
                best = j
        lab = labels[i]
        if best == lab and not has_nan:
            correct += 1
        s = 0.0
        for j in range(c):
            e = math.exp(np.float64(logits[i, j]) - mx)
            grad_out[i, j] = e
            s += e
        loss_out[i] = math.log(s) - (np.float64(logits[i, lab]) - mx)
        inv = 1.0 / s
        for j in range(c):
            p = math.exp(np.float64(logits[i, j]) - mx) * inv if j == lab else grad_out[i, j] * inv
            if j == lab:
                p -= 1.0
            grad_out[i, j] = p
            grad_out[i, j] = grad_out[i, j] * scale
    return _pairwise_sum(loss_out, n), correct


# ---------------------------------------------------------------- the backend's methods
def sigmoid_cross_entropy(logits, labels, scale, loss_out, grad_out):
    _sigmoid_cross_entropy(logits, labels, float(scale), loss_out, grad_out)


def softmax(logits, out):
    _softmax(logits, out)
    return out


def softmax_cross_entropy(logits, labels, scale, loss_out, grad_out):
    _softmax_cross_entropy(logits, labels, float(scale), loss_out, grad_out)


def softmax_cross_entropy_head(logits, labels, scale, loss_out, grad_out):
    scale = logits.dtype.type(scale)    # the multiply is done in the dtype, as NumPy's with a Python float
    loss_sum, correct = _softmax_cross_entropy_head(logits, labels, scale, loss_out, grad_out,
                                                    np.empty(logits.shape[1], logits.dtype))
    return logits.dtype.type(loss_sum), int(correct)


guard_caches(globals())  # a corrupt cache entry is dropped and recompiled
