"""The losses family on the Cython backend: the extension's kernels (kernels/losses/cython.pxi),
each called through its float32 or float64 specialisation, and the classifier head
``softmax_cross_entropy_head`` as the unfused sequence of two of them (head_sequence.py);
only the numba backend fuses it."""

from __future__ import annotations

from .head_sequence import sequence

_entries = {}


def _entry(name):
    """The extension's function ``name`` as the backend's method (``_by_dtype``).  Looked up
    on first use: the cython backend module imports this one while it is being built."""
    function = _entries.get(name)
    if function is None:
        from ..cython_backend import _by_dtype, _ext
        function = _entries[name] = _by_dtype(getattr(_ext, name))
    return function


def softmax(logits, out):
    _entry("softmax")(logits, out)
    return out


def softmax_cross_entropy(logits, labels, scale, loss_out, grad_out):
    _entry("softmax_cross_entropy")(logits, labels, scale, loss_out, grad_out)


def sigmoid_cross_entropy(logits, labels, scale, loss_out, grad_out):
    _entry("sigmoid_cross_entropy")(logits, labels, scale, loss_out, grad_out)


softmax_cross_entropy_head = sequence(softmax, softmax_cross_entropy)
