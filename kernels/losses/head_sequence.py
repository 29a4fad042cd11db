"""A classifier's head after its logits as the sequence of a backend's own kernels.

The numba backend runs ``softmax_cross_entropy_head`` fused, one pass over
each row (numba.py).  The numpy backend (the reference the fused kernel is
tested against) and the cython backend run it as the traced step ran it
before the fusion: ``softmax`` for the probabilities the accuracy takes its
argmax of, ``softmax_cross_entropy`` with scale 1, ``np.sum`` of the losses,
the gradient multiplied by ``scale`` in its dtype, and the accuracy's count.
"""

from __future__ import annotations

import numpy as np


def correct_rows(probs, labels):
    """The rows whose argmax (the first on ties) is their label; a row holding a NaN never counts."""
    return int(np.count_nonzero((probs.argmax(axis=1) == labels) & ~np.isnan(probs.max(axis=1))))


def sequence(softmax, softmax_cross_entropy):
    """The backend method ``softmax_cross_entropy_head`` made of a host backend's two kernels."""

    def softmax_cross_entropy_head(logits, labels, scale, loss_out, grad_out):
        probs = softmax(logits, np.empty_like(logits))
        softmax_cross_entropy(logits, labels, 1.0, loss_out, grad_out)
        np.multiply(grad_out, logits.dtype.type(scale), out=grad_out)
        return np.sum(loss_out), correct_rows(probs, labels)

    return softmax_cross_entropy_head
