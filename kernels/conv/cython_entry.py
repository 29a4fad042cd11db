"""The convolution family on the Cython backend: thin calls into the extension.

The kernels are kernels/conv/cython.pxi, compiled into the one Cython
extension (setup.py includes every family's cython.pxi); this module picks the
float32 or float64 specialization and reshapes the arrays as they expect
(the family's BACKEND_FILES names it for the cython backend).
The input gradient is G @ W.T block by block, each block added into dx (cython.pxi).
The backward of Conv2D(relu) -> MaxPooling2D is the unfused sequence of these
kernels (pool_block_sequence.py); only the numba backend fuses it.
"""

from __future__ import annotations

import numpy as np

from .pool_block_sequence import sequence

_entries = {}


def _entry(name):
    """The extension's function ``name``, picking the float32 or float64
    specialisation by its first argument's dtype.  Looked up on first use:
    the cython backend module imports this one while it is being built."""
    function = _entries.get(name)
    if function is None:
        from ..cython_backend import _by_dtype, _ext
        function = _entries[name] = _by_dtype(getattr(_ext, name))
    return function
_DUMMY = {t: np.zeros((1, 1, 1, 1), t) for t in (np.dtype(np.float32), np.dtype(np.float64))}


def conv2d(x, w, b, strides, pads, relu, out):
    kh, kw, c, f = w.shape
    oh, ow = out.shape[1:3]
    bias = b if b is not None else _DUMMY[x.dtype].reshape(-1)
    _entry("conv_implicit_gemm")(x.reshape(-1), x.shape, kw, tuple(strides), tuple(pads), (1, 1), oh, ow,
                   w.reshape(kh * kw * c, f), out.reshape(-1), bias, b is not None, bool(relu))
    return out


def conv2d_input_grad(grad_out, w, strides, pads, out):
    kh, kw, c, f = w.shape
    oh, ow = grad_out.shape[1:3]
    _entry("conv_input_grad")(grad_out.reshape(-1), out.shape, kw, tuple(strides), tuple(pads), oh, ow,
                              w.reshape(kh * kw * c, f), out.reshape(-1))
    return out


def conv2d_kernel_grad(grad_out, x, strides, pads, out):
    kh, kw, c, f = out.shape
    oh, ow = grad_out.shape[1:3]
    _entry("conv_kernel_grad")(x.reshape(-1), x.shape, kw, tuple(strides), tuple(pads), oh, ow,
                          grad_out.reshape(-1, f), out.reshape(kh * kw * c, f))
    return out


def max_pool2d(x, pool_size, strides, pads, out):
    d = _DUMMY[x.dtype]
    _entry("pool2d")(x, out, d, d, *pool_size, *strides, *pads, 0)
    return out


def max_pool2d_backward(grad_out, x, pool_size, strides, pads, out):
    _entry("pool2d")(x, _DUMMY[x.dtype], grad_out, out, *pool_size, *strides, *pads, 1)
    return out


def avg_pool2d(x, pool_size, strides, pads, out):
    d = _DUMMY[x.dtype]
    _entry("pool2d")(x, out, d, d, *pool_size, *strides, *pads, 2)
    return out


def avg_pool2d_backward(grad_out, pool_size, strides, pads, out):
    d = _DUMMY[out.dtype]
    _entry("pool2d")(d, d, grad_out, out, *pool_size, *strides, *pads, 3)
    return out


def _relu_bias_grad(grad_out, x, out, db):
    _entry("relu_bias_grad")(grad_out, x, out, db)


_BLOCK = sequence(max_pool2d_backward, _relu_bias_grad, conv2d_kernel_grad, np.empty)
max_pool_relu_backward = _BLOCK[0]
max_pool_relu_weight_grads = _BLOCK[1]
