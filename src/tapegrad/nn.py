"""``tapegrad.nn``: activations and the fused cross-entropy, under TF's names."""

from __future__ import annotations

from . import ops
from .ops import relu, sigmoid, softmax, tanh  # noqa: F401


def sparse_softmax_cross_entropy_with_logits(labels, logits):
    """Per-example ``-log softmax(logits)[label]``, on the fused kernel."""
    return ops.sparse_softmax_cross_entropy(logits, labels)


def log_softmax(logits, axis=-1):
    x = ops.convert(logits)
    shifted = ops.subtract(x, ops.reduce_max(x, axis=axis, keepdims=True))
    return ops.subtract(shifted, ops.log(ops.reduce_sum(ops.exp(shifted), axis=axis, keepdims=True)))


def sigmoid_cross_entropy_with_logits(labels, logits):
    """Per-element binary cross-entropy of ``sigmoid(logits)``, on the fused, stable kernel."""
    return ops.sigmoid_binary_cross_entropy(logits, labels)


def dropout(x, rate, noise_shape=None, seed=None, name=None):
    """Inverted dropout: zero each element with probability ``rate``, scale the rest by 1/(1-rate)."""
    return ops.dropout(x, rate, noise_shape=noise_shape, seed=seed)
