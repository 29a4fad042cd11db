"""The differentiable convolution and pooling ops: each forward next to its gradient.

A 2-D convolution is linear in its image and linear in its kernel, so its
gradients are convolutions again: the gradient with respect to the image is
the *transposed* convolution of the output gradient with the same kernel
(``conv2d_input_grad``), and the one with respect to the kernel correlates
the image with the output gradient (``conv2d_kernel_grad``).  Both are ops
here too, with gradients of their own, so a second derivative works.  The
bias and a fused relu are handled exactly as ``ops.dense`` handles them,
on the output seen as an (N*OH*OW, F) matrix: one row per pixel.

Pooling's backward routes each output gradient to the input(s) its window
read: all to the maximum (``max_pool2d``), or shared evenly (``avg_pool2d``).
Layout: NHWC images, HWIO kernels (Keras's ``channels_last``).
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..kernels.conv.geometry import output_shape_2d
from ..tape import is_recording
from .activations import relu_backward
from .base import _fused_gradient, _result, _wrap, convert
from .linalg import _relu_bias_differentiable, _relu_bias_stored, bias_grad
from .shape import getitem, reshape


def _as_rows(t):
    """(N, OH, OW, F) -> (N*OH*OW, F): one row per output pixel (a reshape op when a tape
    records the backward pass, else a plain view)."""
    shape = (-1, t.shape[-1])
    return reshape(t, shape) if is_recording() else _wrap(t._data.reshape(shape), t._backend)


def _pair(value):
    return (int(value), int(value)) if np.ndim(value) == 0 else tuple(int(v) for v in value)


# ------------------------------------------------------------------ convolution
def conv2d(x, w, b=None, strides=(1, 1), padding="valid", activation=None):
    """``activation(conv(x, w) + b)`` as ONE op on the ``kernels.conv2d`` kernel.

    ``x`` (N, H, W, C), ``w`` (KH, KW, C, F), ``b`` (F,) or None;
    ``activation`` None or "relu" (fused).  As in ``dense``, backward keeps
    only the output: relu'(pre) = (out > 0).
    """
    x = convert(x)
    w = convert(w, x)
    b = None if b is None else convert(b, x)
    be = x._backend
    strides = _pair(strides)
    data = kernels.conv2d(x._data, w._data, None if b is None else b._data, strides=strides, padding=padding,
                          activation=activation, backend=be)
    inputs = (x, w) if b is None else (x, w, b)
    return _result(data, be, inputs, _conv2d_grad, (x, w, strides, padding, activation), saves_output=True)


def _conv2d_grad(g, ctx, needs):
    x, w, strides, padding, activation, out = ctx
    wants_db = len(needs) == 3 and needs[2]
    if activation == "relu" and wants_db:   # relu's mask and the bias gradient in one kernel pass
        masked, db = _fused_gradient(_as_rows(g), _as_rows(out), _relu_bias_stored, _relu_bias_differentiable)
        g = reshape(masked, out.shape) if is_recording() else _wrap(masked._data.reshape(out.shape), g._backend)
    else:
        if activation == "relu":
            g = relu_backward(g, out)
        db = bias_grad(_as_rows(g)) if wants_db else None
    dx = conv2d_input_grad(g, w, x.shape, strides, padding) if needs[0] else None
    dw = conv2d_kernel_grad(g, x, w.shape, strides, padding) if needs[1] else None
    return (dx, dw) if len(needs) == 2 else (dx, dw, db)


def conv2d_input_grad(g, w, input_shape, strides=(1, 1), padding="valid"):
    """The gradient of ``conv2d(x, w)`` with respect to ``x`` (of ``input_shape``), for
    output gradient ``g``: the transposed convolution.  Linear in ``g`` and in ``w``."""
    g = convert(g)
    w = convert(w, g)
    be = g._backend
    strides = _pair(strides)
    data = kernels.conv2d_input_grad(g._data, w._data, tuple(input_shape), strides=strides, padding=padding,
                                     backend=be)
    return _result(data, be, (g, w), _conv2d_input_grad_grad, (g, w, strides, padding))


def _conv2d_input_grad_grad(gg, ctx, needs):
    # dx = conv^T(g, w) is bilinear: <gg, conv^T(g, w)> = <conv(gg, w), g>
    g, w, strides, padding = ctx
    return (conv2d(gg, w, strides=strides, padding=padding) if needs[0] else None,
            conv2d_kernel_grad(g, gg, w.shape, strides, padding) if needs[1] else None)


def conv2d_kernel_grad(g, x, kernel_shape, strides=(1, 1), padding="valid"):
    """The gradient of ``conv2d(x, w)`` with respect to ``w`` (of ``kernel_shape``), for
    output gradient ``g``: each kernel tap correlates the image with ``g``.  Linear in both."""
    g = convert(g)
    x = convert(x, g)
    be = g._backend
    strides = _pair(strides)
    data = kernels.conv2d_kernel_grad(g._data, x._data, tuple(kernel_shape), strides=strides, padding=padding,
                                      backend=be)
    return _result(data, be, (g, x), _conv2d_kernel_grad_grad, (g, x, strides, padding))


def _conv2d_kernel_grad_grad(gg, ctx, needs):
    # dw = K(g, x) with <gg, K(g, x)> = <conv(x, gg), g>
    g, x, strides, padding = ctx
    return (conv2d(x, gg, strides=strides, padding=padding) if needs[0] else None,
            conv2d_input_grad(g, gg, x.shape, strides, padding) if needs[1] else None)


# ------------------------------------------------------------------ pooling
def max_pool2d(x, pool_size=(2, 2), strides=None, padding="valid"):
    """The largest element of each window, per channel (``kernels.max_pool2d``)."""
    x = convert(x)
    pool_size = _pair(pool_size)
    strides = pool_size if strides is None else _pair(strides)
    data = kernels.max_pool2d(x._data, pool_size=pool_size, strides=strides, padding=padding, backend=x._backend)
    return _result(data, x._backend, (x,), _max_pool2d_grad, (x, pool_size, strides, padding))


def _max_pool2d_grad(g, ctx, needs):
    x, pool_size, strides, padding = ctx
    return (max_pool2d_backward(g, x, pool_size, strides, padding),)


def max_pool2d_backward(g, x, pool_size, strides, padding):
    """Each output gradient sent to the first maximum of its window (a kernel);
    windows that overlap add.  Linear in ``g``; piecewise constant in ``x``."""
    g = convert(g)
    x = convert(x, g)
    data = kernels.max_pool2d_backward(g._data, x._data, pool_size=pool_size, strides=strides, padding=padding,
                                       backend=g._backend)
    return _result(data, g._backend, (g, x), _max_pool2d_backward_grad, (x, pool_size, strides, padding))


def _max_pool2d_backward_grad(gg, ctx, needs):
    # the adjoint of routing g[o] to argmax(o) reads gg at argmax(o)
    x, pool_size, strides, padding = ctx
    if not needs[0]:
        return (None, None)
    flat = reshape(gg, (-1,))
    return (getitem(flat, _window_argmax(x, pool_size, strides, padding)), None)


def _window_argmax(x, pool_size, strides, padding):
    """For each output of ``max_pool2d(x)``, the flat index into ``x`` of the first
    maximum of its window (row-major, as the kernel's backward picks it): an
    (N, OH, OW, C) int array, computed on the host (used only by a second derivative)."""
    data = x.numpy()
    n, h, w, c = data.shape
    (oh, ow), (top, left) = output_shape_2d(h, w, pool_size, strides, padding)
    kh, kw = pool_size
    rows = np.arange(oh)[:, None] * strides[0] - top + np.arange(kh)[None, :]     # (OH, KH)
    cols = np.arange(ow)[:, None] * strides[1] - left + np.arange(kw)[None, :]    # (OW, KW)
    r = rows[:, None, :, None]                                                    # (OH, 1, KH, 1)
    q = cols[None, :, None, :]                                                    # (1, OW, 1, KW)
    inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)                              # (OH, OW, KH, KW)
    windows = data[:, np.clip(r, 0, h - 1), np.clip(q, 0, w - 1), :]              # (N, OH, OW, KH, KW, C)
    windows = np.where(inside[None, ..., None], windows, -np.inf).reshape(n, oh, ow, kh * kw, c)
    pick = np.argmax(windows, axis=3)                                             # (N, OH, OW, C)
    pr = rows[np.arange(oh)[None, :, None, None], pick // kw]
    pc = cols[np.arange(ow)[None, None, :, None], pick % kw]
    return ((np.arange(n)[:, None, None, None] * h + pr) * w + pc) * c + np.arange(c)


def avg_pool2d(x, pool_size=(2, 2), strides=None, padding="valid"):
    """The mean of each window, per channel; with "same" an edge window averages
    only the pixels inside the image (``kernels.avg_pool2d``)."""
    x = convert(x)
    pool_size = _pair(pool_size)
    strides = pool_size if strides is None else _pair(strides)
    data = kernels.avg_pool2d(x._data, pool_size=pool_size, strides=strides, padding=padding, backend=x._backend)
    return _result(data, x._backend, (x,), _avg_pool2d_grad, (x.shape, pool_size, strides, padding))


def _avg_pool2d_grad(g, ctx, needs):
    shape, pool_size, strides, padding = ctx
    return (avg_pool2d_backward(g, shape, pool_size, strides, padding),)


def avg_pool2d_backward(g, input_shape, pool_size, strides, padding):
    """Each output gradient shared evenly by the elements of its window (a kernel).
    It is the transpose of ``avg_pool2d``, so its own gradient is ``avg_pool2d``."""
    g = convert(g)
    data = kernels.avg_pool2d_backward(g._data, tuple(input_shape), pool_size=pool_size, strides=strides,
                                       padding=padding, backend=g._backend)
    return _result(data, g._backend, (g,), _avg_pool2d_backward_grad, (pool_size, strides, padding))


def _avg_pool2d_backward_grad(gg, ctx, needs):
    pool_size, strides, padding = ctx
    return (avg_pool2d(gg, pool_size, strides, padding),)


__all__ = ["conv2d", "conv2d_input_grad", "conv2d_kernel_grad", "max_pool2d", "max_pool2d_backward",
           "avg_pool2d", "avg_pool2d_backward"]
