"""The convolution family in Numba: implicit GEMM (numba_implicit.py), conv1's shallow case, the pools.

kernels/conv/DESIGN.md explains the design; in short, a convolution is the
matrix product of the patch matrix P (one row per output pixel, one column
per kernel tap and input channel: M x K) with the kernel seen as a K x F
matrix.  P is never built, nor packed block by block: numba_implicit.py's
drivers run the convolution's own micro-kernels (numba_microkernels.py: the
GEMM's register tile, reading the image where it lies through a table of
offsets), forward (P @ W, bias and relu in the epilogue), for the input
gradient (G @ W.T, each finished tile added into dx: col2im in the store)
and for the kernel gradient (P.T @ G, a reduction over the pixels).

The shallow case (conv1: K = KH*KW*C <= PIXEL_K forward, <= SHALLOW_K for
the kernel gradient; too few taps for a GEMM tile to reuse) is
numba_shallow.py; the pools, memory-bound single passes, are numba_pools.py;
the backward of Conv2D(relu) -> MaxPooling2D in one pass (pool backward,
relu, bias and, for a first layer, kernel gradient) is numba_pool_fused.py.
"""

from __future__ import annotations

import numpy as np

import numba

from .._numba.cache import depends_on, guard_caches
from .numba_implicit import conv_forward, conv_input_grad, conv_kernel_grad
from .numba_pool_fused import max_pool_relu_backward, max_pool_relu_weight_grads  # noqa: F401 (methods)
from .numba_pools import (avg_pool2d, avg_pool2d_backward, max_pool2d,  # noqa: F401 (backend methods)
                          max_pool2d_backward)
from .numba_shallow import PIXEL_K, SHALLOW_K, _kernel_grad_shallow, conv_shallow, kernel_grad_pixels

depends_on(__file__, "_numba/intrinsics.py")

_NO_BIAS = {np.dtype(np.float32): np.zeros(1, np.float32), np.dtype(np.float64): np.zeros(1, np.float64)}
#: convolutions under this many flops run on one thread
PARALLEL_FLOPS = 4e6


def _threads(flops):
    return 1 if flops < PARALLEL_FLOPS else numba.get_num_threads()


def _geometry(image_shape, kw, strides, pads, dilation=(1, 1)):
    """The int64 tuple numba_shallow.py's kernels read: (H, W, C, KW, sh, sw, top, left, dh, dw)."""
    _, h, w, c = image_shape
    return tuple(np.int64(v) for v in (h, w, c, kw, strides[0], strides[1], pads[0], pads[1],
                                       dilation[0], dilation[1]))


# ---------------------------------------------------------------- the backend functions
def conv2d(x, w, b, strides, pads, relu, out):
    kh, kw, c, f = w.shape
    n, oh, ow, _ = out.shape
    use_bias = b is not None
    bias = (b if b.flags.writeable else b.copy()) if use_bias else _NO_BIAS[out.dtype]
    threads = _threads(2.0 * out.size * kh * kw * c)
    if kh * kw * c <= PIXEL_K:   # numba_shallow.py: W in registers, pixel by pixel
        return conv_shallow(x, w, bias, use_bias, bool(relu), strides, pads, out, threads)
    return conv_forward(x, w, bias, use_bias, bool(relu), strides, pads, out, threads)


def conv2d_input_grad(grad_out, w, strides, pads, out):
    kh, kw, c, f = w.shape
    return conv_input_grad(grad_out, w, strides, pads, out, _threads(2.0 * grad_out.size * kh * kw * c))


def conv2d_kernel_grad(grad_out, x, strides, pads, out):
    kh, kw, c, f = out.shape
    n, oh, ow, _ = grad_out.shape
    threads = _threads(2.0 * grad_out.size * kh * kw * c)
    if kh * kw * c <= PIXEL_K:   # numba_shallow.py: a panel of dW in registers
        return kernel_grad_pixels(grad_out, x, strides, pads, out, threads)
    if kh * kw * c <= SHALLOW_K:
        _kernel_grad_shallow(x.reshape(-1), _geometry(x.shape, kw, strides, pads), np.int64(kh), np.int64(oh),
                             np.int64(ow), grad_out, out.reshape(kh * kw * c, f), threads)
        return out
    return conv_kernel_grad(grad_out, x, strides, pads, out, threads)


guard_caches(globals())  # a corrupt cache entry is dropped and recompiled
