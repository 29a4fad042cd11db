"""The losses family on the Cython backend: the extension's kernels (kernels/losses/cython.pxi),
each called through its float32 or float64 specialisation, and the classifier head
``softmax_cross_entropy_head`` as the unfused sequence of two of them (head_sequence.py);
only the numba backend fuses it."""

from __future__ import annotations

from .._cython_entry import extension_entry as _entry
from .head_sequence import sequence


def softmax(logits, out):
    _entry("softmax")(logits, out)
    return out


def softmax_cross_entropy(logits, labels, scale, loss_out, grad_out):
    _entry("softmax_cross_entropy")(logits, labels, scale, loss_out, grad_out)


def sigmoid_cross_entropy(logits, labels, scale, loss_out, grad_out):
    _entry("sigmoid_cross_entropy")(logits, labels, scale, loss_out, grad_out)


softmax_cross_entropy_head = sequence(softmax, softmax_cross_entropy)
