"""The element-wise family on the GPU (numba.cuda): one grid-stride pass per kernel.

Every thread handles elements ``i, i + stride, ...``, so one launch of a
fixed size (``launch.grid1d``) covers any length.  ``bias_grad`` is column
sums, a 32 x 8 block per 32 columns; ``relu_bias_grad`` is relu_backward then
bias_grad (two launches: on a GPU the fused pass buys little).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32

from .._cuda import f32, launch


@cuda.jit
def _relu(x, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    zero = float32(0)
    for i in range(start, x.shape[0], stride):
        v = x[i]
        out[i] = v if not v < zero else zero   # keeps NaN, like np.maximum

@cuda.jit
def _relu_backward(grad_out, x, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, x.shape[0], stride):
        out[i] = grad_out[i] if x[i] > float32(0) else float32(0)

@cuda.jit
def _dropout(x, u, threshold, scale, out, mask):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    zero = float32(0)
    for i in range(start, x.shape[0], stride):
        if u[i] >= threshold:
            mask[i] = scale
            out[i] = x[i] * scale
        else:
            mask[i] = zero
            out[i] = zero

@cuda.jit
def _dropout_backward(grad_out, mask, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    zero = float32(0)
    for i in range(start, mask.shape[0], stride):
        m = mask[i]
        out[i] = grad_out[i] * m if m != zero else zero

# ---- column sums: block = (32 columns, 8 row groups)
COL_TILE = 32
ROW_GROUPS = 8

@cuda.jit
def _bias_grad(grad_out, out):
    sh = cuda.shared.array((ROW_GROUPS, COL_TILE), float32)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    j = cuda.blockIdx.x * COL_TILE + tx
    n, m = grad_out.shape
    total = float32(0)
    if j < m:
        for i in range(ty, n, ROW_GROUPS):   # coalesced: a warp reads one row
            total += grad_out[i, j]
    sh[ty, tx] = total
    cuda.syncthreads()
    if ty == 0 and j < m:
        for g in range(1, ROW_GROUPS):
            total += sh[g, tx]
        out[j] = total



# ---------------------------------------------------------------- the backend's methods
def relu(x, out):
    blocks, threads = launch.grid1d(x.shape[0])
    _relu[blocks, threads](x, out)
    return out


def relu_backward(grad_out, x, out):
    blocks, threads = launch.grid1d(x.shape[0])
    _relu_backward[blocks, threads](grad_out, x, out)
    return out


def dropout_forward(x, uniform, rate, scale, out, mask):
    blocks, threads = launch.grid1d(x.shape[0])
    _dropout[blocks, threads](x, uniform, f32(rate), f32(scale), out, mask)


def dropout_backward(grad_out, mask, out):
    blocks, threads = launch.grid1d(mask.shape[0])
    _dropout_backward[blocks, threads](grad_out, mask, out)
    return out


def bias_grad(grad_out, out):
    grid = math.ceil(grad_out.shape[1] / COL_TILE)
    _bias_grad[grid, (COL_TILE, ROW_GROUPS)](grad_out, out)
    return out


def relu_bias_grad(grad_out, x, out, bias_out):
    relu_backward(grad_out.reshape(-1), x.reshape(-1), out.reshape(-1))
    bias_grad(out, bias_out)
