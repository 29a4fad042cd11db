"""The convolution family in Numba: implicit GEMM (numba_implicit.py), conv1's direct loops, the pools.

kernels/conv/DESIGN.md explains the design; in short, a convolution is the
matrix product of the patch matrix P (one row per output pixel, one column
per kernel tap and input channel: M x K) with the kernel seen as a K x F
matrix.  P is never built, nor packed block by block: numba_implicit.py's
drivers run the convolution's own micro-kernels (numba_microkernels.py: the
GEMM's register tile, reading the image where it lies through a table of
offsets), forward (P @ W, bias and relu in the epilogue), for the input
gradient (G @ W.T, each finished tile added into dx: col2im in the store)
and for the kernel gradient (P.T @ G, a reduction over the pixels).

A shallow K (conv1: one input channel, K = 9) has its own direct loops here,
and the pools are memory-bound single passes with their own loops.
"""

from __future__ import annotations

import numpy as np

import numba

from .._numba import njit, prange
from .._numba.cache import depends_on, guard_caches
from .._numba.intrinsics import _zero
from .numba_implicit import conv_forward, conv_input_grad, conv_kernel_grad

depends_on(__file__, "_numba/intrinsics.py")

_NO_BIAS = {np.dtype(np.float32): np.zeros(1, np.float32), np.dtype(np.float64): np.zeros(1, np.float64)}
#: convolutions under this many flops run on one thread
PARALLEL_FLOPS = 4e6


# ---------------------------------------------------------------- shallow K (conv1)
#: K = KH*KW*C at or below this goes to the direct loops below: with C = 1
#: (the convnet's first layer, K = 9) a patch row is KH*KW runs of one number,
#: and packing them cost more than the GEMM they fed (MEASUREMENTS.md)
SHALLOW_K = 16


@njit(cache=True, parallel=True)
def _conv_shallow(x, w, bias, use_bias, relu, sh, sw, top, left, out):
    """out[n, i, j, :] = sum over the taps of x[...] * w[p, q, c, :] (+ bias,
    relu): one output pixel at a time, the F outputs in a row of accumulators
    (vector registers), each input number broadcast against a row of w."""
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    _, oh, ow, _ = out.shape
    z = _zero(out)
    for img in prange(n):
        acc = np.empty(f, out.dtype)
        for i in range(oh):
            for j in range(ow):
                for o in range(f):
                    acc[o] = bias[o] if use_bias else z
                for p in range(kh):
                    r = i * sh + p - top
                    if r < 0 or r >= h:
                        continue
                    for q in range(kw):
                        col = j * sw + q - left
                        if col < 0 or col >= wd:
                            continue
                        for ch in range(c):
                            v = x[img, r, col, ch]
                            for o in range(f):
                                acc[o] += v * w[p, q, ch, o]
                for o in range(f):
                    out[img, i, j, o] = max(acc[o], z) if relu else acc[o]


@njit(cache=True, parallel=True)
def _kernel_grad_shallow(x, grad, sh, sw, top, left, parts):
    """parts[t] = this task's share of dW = P.T @ grad: each pixel adds
    x[tap] * grad[pixel, :] to row ``tap`` of dW (K x F, small: in L1).
    Images are split between ``parts.shape[0]`` tasks; the caller sums."""
    n, h, wd, c = x.shape
    _, oh, ow, f = grad.shape
    _, kh, kw, _, _ = parts.shape
    tasks = parts.shape[0]
    z = _zero(parts)
    for t in prange(tasks):
        dw = parts[t]
        dw[...] = z
        for img in range(t, n, tasks):
            for i in range(oh):
                for j in range(ow):
                    for p in range(kh):
                        r = i * sh + p - top
                        if r < 0 or r >= h:
                            continue
                        for q in range(kw):
                            col = j * sw + q - left
                            if col < 0 or col >= wd:
                                continue
                            for ch in range(c):
                                v = x[img, r, col, ch]
                                for o in range(f):
                                    dw[p, q, ch, o] += v * grad[img, i, j, o]


def _threads(flops):
    return 1 if flops < PARALLEL_FLOPS else numba.get_num_threads()


# ---------------------------------------------------------------- the backend functions
def conv2d(x, w, b, strides, pads, relu, out):
    kh, kw, c, f = w.shape
    n, oh, ow, _ = out.shape
    use_bias = b is not None
    bias = (b if b.flags.writeable else b.copy()) if use_bias else _NO_BIAS[out.dtype]
    if kh * kw * c <= SHALLOW_K:
        _conv_shallow(x, w, bias, use_bias, bool(relu), *strides, *pads, out)
        return out
    return conv_forward(x, w, bias, use_bias, bool(relu), strides, pads, out, _threads(2.0 * out.size * kh * kw * c))


def conv2d_input_grad(grad_out, w, strides, pads, out):
    kh, kw, c, f = w.shape
    return conv_input_grad(grad_out, w, strides, pads, out, _threads(2.0 * grad_out.size * kh * kw * c))


def conv2d_kernel_grad(grad_out, x, strides, pads, out):
    kh, kw, c, f = out.shape
    n, oh, ow, _ = grad_out.shape
    if kh * kw * c <= SHALLOW_K:
        parts = np.empty((min(n, _threads(2.0 * grad_out.size * kh * kw * c)), kh, kw, c, f), out.dtype)
        _kernel_grad_shallow(x, grad_out, *strides, *pads, parts)
        np.sum(parts, axis=0, out=out)
        return out
    return conv_kernel_grad(grad_out, x, strides, pads, out, _threads(2.0 * grad_out.size * kh * kw * c))


# ---------------------------------------------------------------- pools
@njit(cache=True)
def _window(i, stride, pad, size, window):
    start = i * stride - pad
    return max(start, 0), min(start + window, size)


@njit(cache=True, parallel=True)
def _max_pool(x, ph, pw, sh, sw, top, left, out):
    """out[n, i, j, :] = the max of the window's real elements (np.max: a NaN
    wins); the channel loop is innermost, contiguous, vectorized."""
    n, h, w, c = x.shape
    _, oh, ow, _ = out.shape
    for img in prange(n):
        for i in range(oh):
            r0, r1 = _window(i, sh, top, h, ph)
            for j in range(ow):
                c0, c1 = _window(j, sw, left, w, pw)
                for ch in range(c):
                    out[img, i, j, ch] = x[img, r0, c0, ch]
                for r in range(r0, r1):
                    for s in range(c0, c1):
                        for ch in range(c):
                            v = x[img, r, s, ch]
                            best = out[img, i, j, ch]
                            if v > best or (v != v and best == best):
                                out[img, i, j, ch] = v


@njit(cache=True, parallel=True)
def _max_pool_backward(grad, x, ph, pw, sh, sw, top, left, out):
    """out = 0, then each grad[n, i, j, ch] added at its window's first maximum
    (row-major; the first NaN if any).  One image per task: windows of one
    image may overlap, different images never share an element."""
    n, h, w, c = x.shape
    _, oh, ow, _ = grad.shape
    z = _zero(x)
    for img in prange(n):
        best = np.empty(c, x.dtype)
        where = np.empty(c, np.int64)
        out[img] = z
        for i in range(oh):
            r0, r1 = _window(i, sh, top, h, ph)
            for j in range(ow):
                c0, c1 = _window(j, sw, left, w, pw)
                for ch in range(c):
                    best[ch] = x[img, r0, c0, ch]
                    where[ch] = r0 * w + c0
                for r in range(r0, r1):
                    for s in range(c0, c1):
                        for ch in range(c):
                            v = x[img, r, s, ch]
                            if v > best[ch] or (v != v and best[ch] == best[ch]):
                                best[ch] = v
                                where[ch] = r * w + s
                for ch in range(c):
                    pos = where[ch]
                    out[img, pos // w, pos % w, ch] += grad[img, i, j, ch]


@njit(cache=True, parallel=True)
def _avg_pool(x, ph, pw, sh, sw, top, left, out):
    n, h, w, c = x.shape
    _, oh, ow, _ = out.shape
    z = _zero(x)
    for img in prange(n):
        for i in range(oh):
            r0, r1 = _window(i, sh, top, h, ph)
            for j in range(ow):
                c0, c1 = _window(j, sw, left, w, pw)
                count = z + np.float32((r1 - r0) * (c1 - c0))
                for ch in range(c):
                    out[img, i, j, ch] = z
                for r in range(r0, r1):
                    for s in range(c0, c1):
                        for ch in range(c):
                            out[img, i, j, ch] += x[img, r, s, ch]
                for ch in range(c):
                    out[img, i, j, ch] /= count


@njit(cache=True, parallel=True)
def _avg_pool_backward(grad, ph, pw, sh, sw, top, left, out):
    n, h, w, c = out.shape
    _, oh, ow, _ = grad.shape
    z = _zero(out)
    for img in prange(n):
        out[img] = z
        for i in range(oh):
            r0, r1 = _window(i, sh, top, h, ph)
            for j in range(ow):
                c0, c1 = _window(j, sw, left, w, pw)
                count = z + np.float32((r1 - r0) * (c1 - c0))
                for r in range(r0, r1):
                    for s in range(c0, c1):
                        for ch in range(c):
                            out[img, r, s, ch] += grad[img, i, j, ch] / count


def max_pool2d(x, pool_size, strides, pads, out):
    _max_pool(x, *pool_size, *strides, *pads, out)
    return out


def max_pool2d_backward(grad_out, x, pool_size, strides, pads, out):
    _max_pool_backward(grad_out, x, *pool_size, *strides, *pads, out)
    return out


def avg_pool2d(x, pool_size, strides, pads, out):
    _avg_pool(x, *pool_size, *strides, *pads, out)
    return out


def avg_pool2d_backward(grad_out, pool_size, strides, pads, out):
    _avg_pool_backward(grad_out, *pool_size, *strides, *pads, out)
    return out


guard_caches(globals())  # a corrupt cache entry is dropped and recompiled
