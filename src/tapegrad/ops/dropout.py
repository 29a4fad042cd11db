"""Dropout on its fused kernel, and its backward (a mask multiply) as an op."""

from __future__ import annotations

import numpy as np

from .. import kernels
from .. import random as _random
from .base import _result, _wrap, convert


def dropout(x, rate, noise_shape=None, seed=None, generator=None):
    """Inverted dropout (TF's ``tf.nn.dropout``) on the fused kernel.

    Each element is zeroed with probability ``rate`` and the kept ones are
    scaled by ``1/(1-rate)``, so the expected output equals the input and
    nothing needs rescaling at inference.  The uniform draw comes from
    ``tapegrad.random`` (a fresh generator for ``seed``, or ``generator``),
    of ``noise_shape`` broadcast to x's shape when given (e.g. ``(N, 1)``
    drops whole rows); backward multiplies the gradient by the same mask.
    """
    x = convert(x)
    rate = kernels.check_dropout_rate(rate, "dropout")
    if x.dtype.kind != "f":
        raise TypeError(f"dropout: x must be a float tensor, got {x.dtype.name}")
    if rate == 0:
        return x
    shape = x.shape
    if noise_shape is not None:
        noise_shape = tuple(int(n) for n in noise_shape)
        try:
            fits = len(noise_shape) == x.ndim and np.broadcast_shapes(noise_shape, x.shape) == x.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"dropout: noise_shape {noise_shape} must have x's rank and broadcast "
                             f"to x's shape {x.shape} (each entry 1 or x's size there)")
        shape = noise_shape
    draw = _random.uniform_draw(seed, generator, shape, np.float32 if x.dtype == np.float32 else np.float64)
    if noise_shape is not None:
        draw = np.ascontiguousarray(np.broadcast_to(draw, x.shape))
    be = x._backend
    out, mask = kernels.dropout_forward(x._data, draw.astype(x.dtype, copy=False), rate, backend=be)
    return _result(out, be, (x,), _dropout_grad, _wrap(mask, be))


def _dropout_grad(g, mask, needs):
    return (dropout_backward(g, mask),)


def dropout_backward(g, mask):
    """``g * mask`` where the mask kept a unit, else 0 (a kernel); linear in g,
    so its own gradient is the same op."""
    data = kernels.dropout_backward(g._data, mask._data, backend=g._backend)
    return _result(data, g._backend, (g,), _dropout_backward_grad, mask)


def _dropout_backward_grad(gg, mask, needs):
    return (dropout_backward(gg, mask),)
