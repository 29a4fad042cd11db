"""The losses family's contract, in plain NumPy: what the numpy backend runs
and what every compiled backend is tested against.

Every loss works on shifted logits (``x - max``, or ``exp(-|x|)``), so it is
finite for logits of any size; ``scale`` multiplies the gradient (``1/N`` for
a mean, 1 for a sum).  ``softmax`` may write into its own input.
"""

from __future__ import annotations

import numpy as np

from .head_sequence import sequence


def softmax(logits, out):
    """Row-wise softmax of a 2-D (N, C) array."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def softmax_cross_entropy(logits, labels, scale, loss_out, grad_out):
    """Fused softmax + cross-entropy, one pass over each row.

    ``labels`` is a C-contiguous int64 array of N valid class ids.  Writes
    the per-sample loss ``-log softmax(logits)[i, labels[i]]`` into
    ``loss_out`` (N,) and ``(softmax(logits) - onehot) * scale`` into
    ``grad_out`` (N, C).  Returns nothing.
    """
    n = logits.shape[0]
    rows = np.arange(n)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=1))
    loss_out[...] = log_sum - shifted[rows, labels]
    probs = np.exp(shifted - log_sum[:, None])
    probs[rows, labels] -= 1
    grad_out[...] = probs * scale


def sigmoid_cross_entropy(logits, labels, scale, loss_out, grad_out):
    """Flat arrays, labels of the logits' dtype in [0, 1].  Writes
    ``max(x, 0) - x*z + log1p(exp(-|x|))`` into ``loss_out`` and
    ``(sigmoid(x) - z) * scale`` into ``grad_out``, with sigmoid taken from
    the same ``exp(-|x|)`` (1/(1+e) for x >= 0, e/(1+e) below)."""
    x, z = logits, labels
    e = np.exp(-np.abs(x))                      # in (0, 1]: never overflows
    loss_out[...] = np.maximum(x, 0) - x * z + np.log1p(e)
    sigmoid = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    grad_out[...] = (sigmoid - z) * scale


# The head of a classifier's step (softmax for the accuracy, the loss, its sum, the
# gradient scaled, the correct rows) as the sequence of the two kernels above
# (head_sequence.py): what the numba backend's one-pass kernel is tested against.
softmax_cross_entropy_head = sequence(softmax, softmax_cross_entropy)
