"""``tapegrad.nn``: activations and the fused cross-entropy, under TF's names."""

from __future__ import annotations

from . import ops
from .ops import relu, sigmoid, softmax, tanh  # noqa: F401


def sparse_softmax_cross_entropy_with_logits(labels, logits):
    """Per-example ``-log softmax(logits)[label]``, on the fused kernel."""
    return ops.sparse_softmax_cross_entropy(logits, labels)


def sigmoid_cross_entropy_with_logits(labels, logits):
    """Element-wise ``-z log sigmoid(x) - (1 - z) log(1 - sigmoid(x))``, in the stable form."""
    return ops.sigmoid_binary_cross_entropy(logits, labels)


def log_softmax(logits, axis=-1):
    x = ops.convert(logits)
    shifted = ops.subtract(x, ops.reduce_max(x, axis=axis, keepdims=True))
    return ops.subtract(shifted, ops.log(ops.reduce_sum(ops.exp(shifted), axis=axis, keepdims=True)))
