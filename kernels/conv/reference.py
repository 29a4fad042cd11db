"""The contract of the convolution family, as loops: what every backend computes.

Layouts are Keras's: images NHWC ``(batch, height, width, channels)``, the
kernel HWIO ``(kernel_h, kernel_w, in_channels, filters)`` as ``Conv2D.kernel``
holds it.  Every function takes the backend signature: ``strides = (sh, sw)``
and ``pads = (top, left)``, the padding before the first row and column (the
API computes them, kernels/conv/geometry.py); the padding after is whatever
makes the output shape ``out.shape`` (TF puts the odd row/column there).

* ``conv2d``: ``out[n, i, j, f] = b[f] + sum over (p, q, c) of
  xpad[n, i*sh + p, j*sw + q, c] * w[p, q, c, f]``, ``xpad`` being x with zero
  padding, then relu if asked;
* ``conv2d_input_grad``: the gradient of ``sum(out * grad_out)`` with respect
  to x: each grad_out pixel spreads ``grad_out[n, i, j, :] @ w[p, q].T`` back
  onto the input pixel under kernel tap (p, q); taps on padding are dropped;
* ``conv2d_kernel_grad``: the gradient with respect to w: ``dw[p, q, c, f] = sum
  over (n, i, j) of xpad[n, i*sh + p, j*sw + q, c] * grad_out[n, i, j, f]``;
* ``max_pool2d``: the largest element of each window, looking only at real
  elements (padding never wins).  NaN handling is ``np.max``'s: a window holding
  a NaN gives NaN;
* ``max_pool2d_backward``: each output's gradient goes to one input element,
  the window's first maximum in row-major order (``np.argmax`` of the window:
  the first NaN if there is one); overlapping windows add up;
* ``avg_pool2d``: the mean of each window's real elements (with "same" padding
  an edge window averages fewer, as TF does), and ``avg_pool2d_backward``
  spreads ``grad / count`` evenly over them.

These loops run one output position (i, j) at a time with NumPy over the
batch and channels: slow, but each line is the formula.  The numpy backend
(bottom of the file) runs the convolutions as im2col + one matmul, tested
against these loops, and the pools as these loops.
"""

from __future__ import annotations

import numpy as np

from ..elementwise.reference import relu_bias_grad as _relu_bias_grad
from .pool_block_sequence import sequence


def _padded(x, pads, out_hw, strides, window):
    """x with zeros around it: ``pads`` before, enough after for every window."""
    n, h, w, c = x.shape
    need_h = (out_hw[0] - 1) * strides[0] + window[0]
    need_w = (out_hw[1] - 1) * strides[1] + window[1]
    xp = np.zeros((n, max(need_h, pads[0] + h), max(need_w, pads[1] + w), c), x.dtype)
    xp[:, pads[0]:pads[0] + h, pads[1]:pads[1] + w] = x
    return xp


def conv2d_loops(x, w, b, strides, pads, relu, out):
    kh, kw = w.shape[:2]
    sh, sw = strides
    oh, ow = out.shape[1:3]
    xp = _padded(x, pads, (oh, ow), strides, (kh, kw))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]      # (N, KH, KW, C)
            out[:, i, j, :] = np.einsum("npqc,pqcf->nf", patch, w)
    if b is not None:
        out += b
    if relu:
        np.maximum(out, 0, out=out)
    return out


def conv2d_input_grad_loops(grad_out, w, strides, pads, out):
    kh, kw = w.shape[:2]
    sh, sw = strides
    oh, ow = grad_out.shape[1:3]
    dxp = _padded(np.zeros(out.shape, out.dtype), pads, (oh, ow), strides, (kh, kw))
    for i in range(oh):
        for j in range(ow):
            dxp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :] += np.einsum(
                "nf,pqcf->npqc", grad_out[:, i, j, :], w)
    h, wd = out.shape[1:3]
    out[...] = dxp[:, pads[0]:pads[0] + h, pads[1]:pads[1] + wd]
    return out


def conv2d_kernel_grad_loops(grad_out, x, strides, pads, out):
    kh, kw = out.shape[:2]
    sh, sw = strides
    oh, ow = grad_out.shape[1:3]
    xp = _padded(x, pads, (oh, ow), strides, (kh, kw))
    out[...] = 0
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
            out += np.einsum("npqc,nf->pqcf", patch, grad_out[:, i, j, :])
    return out


def _window(i, stride, pad, window, size):
    """The input rows (or columns) of window i that are real, not padding."""
    start = i * stride - pad
    return slice(max(start, 0), min(start + window, size))


def max_pool2d(x, pool_size, strides, pads, out):
    n, h, w, c = x.shape
    for i in range(out.shape[1]):
        rows = _window(i, strides[0], pads[0], pool_size[0], h)
        for j in range(out.shape[2]):
            cols = _window(j, strides[1], pads[1], pool_size[1], w)
            out[:, i, j, :] = np.max(x[:, rows, cols, :], axis=(1, 2))
    return out


def max_pool2d_backward(grad_out, x, pool_size, strides, pads, out):
    n, h, w, c = x.shape
    out[...] = 0
    batch, chan = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
    for i in range(grad_out.shape[1]):
        rows = _window(i, strides[0], pads[0], pool_size[0], h)
        for j in range(grad_out.shape[2]):
            cols = _window(j, strides[1], pads[1], pool_size[1], w)
            win = x[:, rows, cols, :]                               # (N, wh, ww, C)
            first = np.argmax(win.reshape(n, -1, c), axis=1)        # (N, C), row-major
            r, q = np.divmod(first, win.shape[2])
            np.add.at(out, (batch, rows.start + r, cols.start + q, chan), grad_out[:, i, j, :])
    return out


def avg_pool2d(x, pool_size, strides, pads, out):
    n, h, w, c = x.shape
    for i in range(out.shape[1]):
        rows = _window(i, strides[0], pads[0], pool_size[0], h)
        for j in range(out.shape[2]):
            cols = _window(j, strides[1], pads[1], pool_size[1], w)
            out[:, i, j, :] = np.mean(x[:, rows, cols, :], axis=(1, 2))
    return out


def avg_pool2d_backward(grad_out, pool_size, strides, pads, out):
    n, h, w, c = out.shape
    out[...] = 0
    for i in range(grad_out.shape[1]):
        rows = _window(i, strides[0], pads[0], pool_size[0], h)
        for j in range(grad_out.shape[2]):
            cols = _window(j, strides[1], pads[1], pool_size[1], w)
            count = (rows.stop - rows.start) * (cols.stop - cols.start)
            out[:, rows, cols, :] += (grad_out[:, i, j, :] / out.dtype.type(count))[:, None, None, :]
    return out


# ---------------------------------------------------------------- the numpy backend
# Convolution as one matrix multiply: im2col writes every patch as a row of a
# (N*OH*OW, KH*KW*C) matrix, whose product with the kernel seen as a
# (KH*KW*C, F) matrix is the output seen as (N*OH*OW, F).  The compiled
# backends do the same product without building the matrix (DESIGN.md).
def im2col(x, kernel_hw, strides, pads, out_hw):
    """The patch matrix: row (n, i, j) is the flattened (KH, KW, C) patch under output (i, j)."""
    xp = _padded(x, pads, out_hw, strides, kernel_hw)
    windows = np.lib.stride_tricks.sliding_window_view(xp, kernel_hw, axis=(1, 2))  # (N, H', W', C, KH, KW)
    windows = windows[:, :out_hw[0] * strides[0]:strides[0], :out_hw[1] * strides[1]:strides[1]]
    n, c = x.shape[0], x.shape[3]
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * out_hw[0] * out_hw[1], -1)


def col2im(cols, x_shape, kernel_hw, strides, pads, out_hw, out):
    """The adjoint of im2col: every patch row added back onto the pixels it came from."""
    kh, kw = kernel_hw
    sh, sw = strides
    oh, ow = out_hw
    dxp = _padded(np.zeros(x_shape, cols.dtype), pads, out_hw, strides, kernel_hw)
    patches = cols.reshape(x_shape[0], oh, ow, kh, kw, x_shape[3])
    for p in range(kh):
        for q in range(kw):
            dxp[:, p:p + oh * sh:sh, q:q + ow * sw:sw, :] += patches[:, :, :, p, q, :]
    out[...] = dxp[:, pads[0]:pads[0] + x_shape[1], pads[1]:pads[1] + x_shape[2]]
    return out


def conv2d(x, w, b, strides, pads, relu, out):
    kh, kw, c, f = w.shape
    cols = im2col(x, (kh, kw), strides, pads, out.shape[1:3])
    np.matmul(cols, w.reshape(kh * kw * c, f), out=out.reshape(-1, f))
    if b is not None:
        out += b
    if relu:
        np.maximum(out, 0, out=out)
    return out


def conv2d_input_grad(grad_out, w, strides, pads, out):
    kh, kw, c, f = w.shape
    cols = grad_out.reshape(-1, f) @ w.reshape(kh * kw * c, f).T
    return col2im(cols, out.shape, (kh, kw), strides, pads, grad_out.shape[1:3], out)


def conv2d_kernel_grad(grad_out, x, strides, pads, out):
    kh, kw, c, f = out.shape
    cols = im2col(x, (kh, kw), strides, pads, grad_out.shape[1:3])
    np.matmul(cols.T, grad_out.reshape(-1, f), out=out.reshape(kh * kw * c, f))
    return out


# ---------------------------------------------------------------- Conv2D(relu) -> MaxPooling2D, backward
# The plain sequence of the three kernels above (pool_block_sequence.py): what the
# fused Numba kernels (numba_pool_fused.py) are tested against.
_BLOCK = sequence(max_pool2d_backward, _relu_bias_grad, conv2d_kernel_grad, np.empty)
max_pool_relu_backward = _BLOCK[0]
max_pool_relu_weight_grads = _BLOCK[1]
