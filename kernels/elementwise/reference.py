"""The element-wise family's contract, in plain NumPy: what the numpy backend
runs and what every compiled backend is tested against.

The flat kernels (``relu``, ``relu_backward``, ``dropout_*``) get 1-D views
of any-shaped arrays; ``bias_grad`` and ``relu_bias_grad`` get (N, M) arrays.
``relu`` and ``relu_backward`` may be given an output that is exactly one of
their inputs: each element is read before it is written.
"""

from __future__ import annotations

import numpy as np


def relu(x, out):
    """out = max(x, 0); a NaN stays NaN."""
    return np.maximum(x, 0, out=out)


def relu_backward(grad_out, x, out):
    """out = grad_out where x > 0, else 0."""
    out[...] = np.where(x > 0, grad_out, 0)
    return out


def dropout_forward(x, uniform, rate, scale, out, mask):
    """Flat arrays.  With ``t`` = x's dtype: where ``uniform[i] >= t(rate)``
    write ``mask[i] = t(scale)`` and ``out[i] = x[i] * t(scale)``, else 0 in
    both (a select, so a dropped NaN becomes 0).  One multiply in the dtype,
    so every backend gives the same bits for the same draw."""
    t = x.dtype.type
    keep = uniform >= t(rate)
    mask[...] = np.where(keep, t(scale), t(0))
    out[...] = np.where(keep, x * t(scale), t(0))


def dropout_backward(grad_out, mask, out):
    """Flat arrays: out = grad_out * mask where mask != 0, else 0."""
    out[...] = np.where(mask != 0, grad_out * mask, 0)
    return out


def bias_grad(grad_out, out):
    """out[j] = sum over rows of grad_out[:, j]."""
    return np.sum(grad_out, axis=0, out=out)


def relu_bias_grad(grad_out, x, out, bias_out):
    """(N, M) arrays and an (M,) ``bias_out``: ``out = grad_out where x > 0,
    else 0`` and ``bias_out`` = the column sums of ``out`` (relu_backward,
    then bias_grad, of a Dense layer), which a compiled backend does in one pass."""
    out[...] = np.where(x > 0, grad_out, 0)
    np.sum(out, axis=0, out=bias_out)
