"""Activations: relu, sigmoid, tanh and softmax, each on its kernel or ``xp``.

Each gradient is written with its output (``saves_output``): relu'(x) is
(relu(x) > 0), sigmoid' is s (1 - s), tanh' is 1 - t^2.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from .base import _result, convert
from .broadcasting import reduce_sum
from .elementwise import multiply, square, subtract


def relu(x):
    x = convert(x)
    return _result(kernels.relu(x._data, backend=x._backend), x._backend, (x,), _relu_grad,
                   saves_output=True)


def _relu_grad(g, out, needs):
    return (relu_backward(g, out),)  # relu'(x) = (x > 0) = (relu(x) > 0)


def relu_backward(g, out):
    """``g`` where ``out > 0``, else 0: relu's derivative applied (a kernel)."""
    data = kernels.relu_backward(g._data, out._data, backend=g._backend)
    return _result(data, g._backend, (g, out), _relu_backward_grad, out)


def _relu_backward_grad(gg, out, needs):
    return (relu_backward(gg, out) if needs[0] else None, None)  # piecewise constant in out


def sigmoid(x):
    """``1 / (1 + exp(-x))``; the output remembers ``x`` (``input_of(out, "sigmoid")``),
    like softmax, so a binary cross-entropy can use the stable logits formula."""
    x = convert(x)
    xp = x._backend.xp
    with np.errstate(over="ignore"):
        data = xp.true_divide(1, xp.add(1, xp.exp(xp.negative(x._data))))
    out = _result(x._backend.astype(data, x.dtype), x._backend, (x,), _sigmoid_grad, saves_output=True)
    out._source = ("sigmoid", x)
    return out


def _sigmoid_grad(g, s, needs):
    return (multiply(g, multiply(s, subtract(1, s))),)


def tanh(x):
    x = convert(x)
    return _result(x._backend.xp.tanh(x._data), x._backend, (x,), _tanh_grad, saves_output=True)


def _tanh_grad(g, t, needs):
    return (multiply(g, subtract(1, square(t))),)


def softmax(x, axis=-1):
    """Softmax over the last axis on the kernel; the output remembers ``x``.

    Keeping the logits on the output (``input_of(out, "softmax")``; Keras
    keeps them as ``_keras_logits``) lets a later cross-entropy skip
    ``log(softmax)`` and use the fused kernel.
    """
    x = convert(x)
    if x.ndim == 0 or axis not in (-1, x.ndim - 1):
        raise ValueError(f"softmax: needs rank >= 1 and axis=-1, got shape {x.shape}, axis={axis}")
    be = x._backend
    data = x._data if x.ndim == 2 else x._data.reshape(-1, x.shape[-1])
    data = kernels.softmax(data, backend=be)
    if x.ndim != 2:
        data = data.reshape(x.shape)
    out = _result(data, be, (x,), _softmax_grad, saves_output=True)
    out._source = ("softmax", x)
    return out


def _softmax_grad(g, s, needs):
    # ds_i/dx_j = s_i (delta_ij - s_j), so dx = s * (g - sum(g * s))
    return (multiply(s, subtract(g, reduce_sum(multiply(g, s), axis=-1, keepdims=True))),)
