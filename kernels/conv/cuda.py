"""The convolution family on the GPU (numba.cuda): direct kernels, one thread per output.

The readable first version: each thread computes one element of its output
by walking the window it depends on, with grid-stride loops so any size
works.  The innermost index of every output is the channel (NHWC, HWIO), so
the 32 threads of a warp handle 32 neighbouring channels: they read the same
image pixel (one broadcast load) and neighbouring kernel numbers (one
coalesced load).  float32 only, as the cuda backend.

* ``conv2d``: out[n, i, j, f] sums x[n, i*s+p-top, j*s+q-left, c] * w[p, q, c, f];
* ``conv2d_input_grad``: a gather, not a scatter: dx[n, y, x, c] sums over the
  taps (p, q) whose output pixel ((y+top-p)/s, (x+left-q)/s) exists, so no
  two threads write one element (no atomics);
* ``conv2d_kernel_grad``: dw[p, q, c, f] sums over all N*OH*OW output pixels;
* the pools: one thread per window; the backwards add into a zeroed dx with
  ``cuda.atomic.add`` (windows may overlap);
* the backward of Conv2D(relu) -> MaxPooling2D: the unfused sequence of these
  kernels and relu_bias_grad (pool_block_sequence.py); only numba fuses it.

An implicit GEMM with shared-memory tiles (as kernels/cuda_gemm.py) is the
next step for speed; DESIGN.md says where these kernels stand.
"""

from __future__ import annotations

import numpy as np

from .._cuda import cuda, launch
from ..elementwise.cuda import relu_bias_grad as _relu_bias_grad
from .pool_block_sequence import sequence

if cuda is not None:
    from numba import float32

    @cuda.jit(fastmath=True)
    def _conv2d(x, w, bias, use_bias, relu, sh, sw, top, left, out):
        n, h, wd, c = x.shape
        kh, kw, _, f = w.shape
        _, oh, ow, _ = out.shape
        total = n * oh * ow * f
        for t in range(cuda.grid(1), total, cuda.gridsize(1)):
            o = t % f
            pix = t // f
            j = pix % ow
            i = (pix // ow) % oh
            img = pix // (ow * oh)
            s = float32(0)
            for p in range(kh):
                r = i * sh + p - top
                if r < 0 or r >= h:
                    continue
                for q in range(kw):
                    col = j * sw + q - left
                    if col < 0 or col >= wd:
                        continue
                    for ch in range(c):
                        s += x[img, r, col, ch] * w[p, q, ch, o]
            if use_bias:
                s += bias[o]
            if relu and s < float32(0):
                s = float32(0)
            out[img, i, j, o] = s

    @cuda.jit(fastmath=True)
    def _conv2d_input_grad(g, w, sh, sw, top, left, dx):
        n, h, wd, c = dx.shape
        kh, kw, _, f = w.shape
        _, oh, ow, _ = g.shape
        total = n * h * wd * c
        for t in range(cuda.grid(1), total, cuda.gridsize(1)):
            ch = t % c
            pix = t // c
            y = (pix // wd) % h
            xx = pix % wd
            img = pix // (wd * h)
            s = float32(0)
            for p in range(kh):
                tr = y + top - p
                if tr < 0 or tr % sh != 0 or tr // sh >= oh:
                    continue
                i = tr // sh
                for q in range(kw):
                    tc = xx + left - q
                    if tc < 0 or tc % sw != 0 or tc // sw >= ow:
                        continue
                    j = tc // sw
                    for o in range(f):
                        s += g[img, i, j, o] * w[p, q, ch, o]
            dx[img, y, xx, ch] = s

    @cuda.jit(fastmath=True)
    def _conv2d_kernel_grad(g, x, sh, sw, top, left, dw):
        n, h, wd, c = x.shape
        kh, kw, _, f = dw.shape
        _, oh, ow, _ = g.shape
        total = kh * kw * c * f
        for t in range(cuda.grid(1), total, cuda.gridsize(1)):
            o = t % f
            ch = (t // f) % c
            q = (t // (f * c)) % kw
            p = t // (f * c * kw)
            s = float32(0)
            for img in range(n):
                for i in range(oh):
                    r = i * sh + p - top
                    if r < 0 or r >= h:
                        continue
                    for j in range(ow):
                        col = j * sw + q - left
                        if 0 <= col < wd:
                            s += x[img, r, col, ch] * g[img, i, j, o]
            dw[p, q, ch, o] = s

    @cuda.jit
    def _pool(x, grad, ph, pw, sh, sw, top, left, mode, out, dx):
        """mode 0: max (x -> out); 1: max backward (atomic adds into dx at the
        window's first maximum, the first NaN if any); 2: mean (x -> out);
        3: mean backward (grad/count to each real element of the window)."""
        n, oh, ow, c = grad.shape if mode % 2 else out.shape
        h, wd = (dx.shape[1], dx.shape[2]) if mode % 2 else (x.shape[1], x.shape[2])
        total = n * oh * ow * c
        for t in range(cuda.grid(1), total, cuda.gridsize(1)):
            ch = t % c
            pix = t // c
            j = pix % ow
            i = (pix // ow) % oh
            img = pix // (ow * oh)
            r0 = max(i * sh - top, 0)
            r1 = min(i * sh - top + ph, h)
            c0 = max(j * sw - left, 0)
            c1 = min(j * sw - left + pw, wd)
            count = float32((r1 - r0) * (c1 - c0))
            if mode == 3:
                share = grad[img, i, j, ch] / count
                for r in range(r0, r1):
                    for col in range(c0, c1):
                        cuda.atomic.add(dx, (img, r, col, ch), share)
            elif mode == 2:
                s = float32(0)
                for r in range(r0, r1):
                    for col in range(c0, c1):
                        s += x[img, r, col, ch]
                out[img, i, j, ch] = s / count
            else:
                best = x[img, r0, c0, ch]
                br = r0
                bc = c0
                for r in range(r0, r1):
                    for col in range(c0, c1):
                        v = x[img, r, col, ch]
                        if v > best or (v != v and best == best):
                            best = v
                            br = r
                            bc = col
                if mode == 0:
                    out[img, i, j, ch] = best
                else:
                    cuda.atomic.add(dx, (img, br, bc, ch), grad[img, i, j, ch])


def _launch(kernel, total, *args):
    blocks, threads = launch.grid1d(total)
    kernel[blocks, threads](*args)


def _dummy4():
    return launch.placeholder().reshape(1, 1, 1, 1)


def conv2d(x, w, b, strides, pads, relu, out):
    bias = b if b is not None else launch.placeholder()
    _launch(_conv2d, out.size, x, w, bias, b is not None, bool(relu), *strides, *pads, out)
    return out


def conv2d_input_grad(grad_out, w, strides, pads, out):
    _launch(_conv2d_input_grad, out.size, grad_out, w, *strides, *pads, out)
    return out


def conv2d_kernel_grad(grad_out, x, strides, pads, out):
    _launch(_conv2d_kernel_grad, out.size, grad_out, x, *strides, *pads, out)
    return out


def max_pool2d(x, pool_size, strides, pads, out):
    d = _dummy4()
    _launch(_pool, out.size, x, d, *pool_size, *strides, *pads, 0, out, d)
    return out


def max_pool2d_backward(grad_out, x, pool_size, strides, pads, out):
    _zero(out)
    _launch(_pool, grad_out.size, x, grad_out, *pool_size, *strides, *pads, 1, _dummy4(), out)
    return out


def avg_pool2d(x, pool_size, strides, pads, out):
    d = _dummy4()
    _launch(_pool, out.size, x, d, *pool_size, *strides, *pads, 2, out, d)
    return out


def avg_pool2d_backward(grad_out, pool_size, strides, pads, out):
    _zero(out)
    d = _dummy4()
    _launch(_pool, grad_out.size, d, grad_out, *pool_size, *strides, *pads, 3, d, out)
    return out


def _zero(out):
    """Clear ``out`` before a backward pass adds into it (atomics)."""
    from ..cuda_backend import backend   # the backend module installs this one: import it at call time
    backend.fill(out.reshape(-1), np.float32(0))


def _empty(shape, dtype):
    from ..cuda_backend import backend   # as _zero: the backend module installs this one
    return backend.empty(shape, dtype)


_BLOCK = sequence(max_pool2d_backward, _relu_bias_grad, conv2d_kernel_grad, _empty)
max_pool_relu_backward = _BLOCK[0]
max_pool_relu_weight_grads = _BLOCK[1]
