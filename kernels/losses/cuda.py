"""The losses family on the GPU (numba.cuda).

``sigmoid_cross_entropy`` is one grid-stride pass.  ``softmax`` and
``softmax_cross_entropy``: one warp-sized row of threads per matrix row,
several rows per block; the row max and the row sum are tree reductions in
shared memory.  (Warp shuffles, ``cuda.shfl_xor_sync``, would do the same
without shared memory, but Numba's CUDA simulator does not implement them,
and the simulator is where these kernels are tested.)
``softmax_cross_entropy`` writes the loss and the gradient in one kernel.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32

from .._cuda import f32, launch


@cuda.jit
def _sigmoid_cross_entropy(x, z, scale, loss_out, grad_out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    zero = float32(0)
    one = float32(1)
    for i in range(start, x.shape[0], stride):
        xi = x[i]
        zi = z[i]
        e = math.exp(-abs(xi))          # in (0, 1]: never overflows
        loss_out[i] = (xi if xi > zero else zero) - xi * zi + math.log1p(e)
        s = one / (one + e) if xi >= zero else e / (one + e)
        grad_out[i] = (s - zi) * scale

# ---- row-wise kernels: block = (WARP lanes, ROWS rows); lane j of row i
# visits columns j, j + WARP, ...; the per-row reductions go through
# shared memory, a tree over the WARP lanes.
WARP = 32
ROWS = 4

@cuda.jit(device=True)
def _row_max(sh, row, lane, value):
    sh[row, lane] = value
    cuda.syncthreads()
    step = WARP // 2
    while step > 0:
        if lane < step:
            sh[row, lane] = max(sh[row, lane], sh[row, lane + step])
        cuda.syncthreads()
        step //= 2
    result = sh[row, 0]
    cuda.syncthreads()   # everyone has read it before sh is reused
    return result

@cuda.jit(device=True)
def _row_sum(sh, row, lane, value):
    sh[row, lane] = value
    cuda.syncthreads()
    step = WARP // 2
    while step > 0:
        if lane < step:
            sh[row, lane] += sh[row, lane + step]
        cuda.syncthreads()
        step //= 2
    result = sh[row, 0]
    cuda.syncthreads()
    return result

@cuda.jit(device=True)
def _row_max_and_logsum(logits, sh, i, local, lane, valid):
    """The max of row i and log(sum(exp(row - max))); all threads call it."""
    c = logits.shape[1]
    mx = logits[i, 0] if valid else float32(0)
    if valid:
        for j in range(lane, c, WARP):
            mx = max(mx, logits[i, j])
    mx = _row_max(sh, local, lane, mx)
    total = float32(0)
    if valid:
        for j in range(lane, c, WARP):
            total += math.exp(logits[i, j] - mx)
    total = _row_sum(sh, local, lane, total)
    return mx, math.log(total) if valid else float32(0)

@cuda.jit
def _softmax(logits, out):
    sh = cuda.shared.array((ROWS, WARP), float32)
    lane = cuda.threadIdx.x
    local = cuda.threadIdx.y
    i = cuda.blockIdx.x * ROWS + local
    valid = i < logits.shape[0]   # no early return: every thread must sync
    mx, log_sum = _row_max_and_logsum(logits, sh, i, local, lane, valid)
    if valid:
        for j in range(lane, logits.shape[1], WARP):
            out[i, j] = math.exp(logits[i, j] - mx - log_sum)

@cuda.jit
def _softmax_cross_entropy(logits, labels, scale, loss_out, grad_out):
    sh = cuda.shared.array((ROWS, WARP), float32)
    lane = cuda.threadIdx.x
    local = cuda.threadIdx.y
    i = cuda.blockIdx.x * ROWS + local
    valid = i < logits.shape[0]
    mx, log_sum = _row_max_and_logsum(logits, sh, i, local, lane, valid)
    if valid:
        label = labels[i]
        if lane == 0:   # -log p[label] = log_sum - (logit[label] - max)
            loss_out[i] = log_sum - (logits[i, label] - mx)
        for j in range(lane, logits.shape[1], WARP):
            p = math.exp(logits[i, j] - mx - log_sum)
            if j == label:
                p -= float32(1)
            grad_out[i, j] = p * scale



# ---------------------------------------------------------------- the backend's methods
def sigmoid_cross_entropy(logits, labels, scale, loss_out, grad_out):
    blocks, threads = launch.grid1d(logits.shape[0])
    _sigmoid_cross_entropy[blocks, threads](logits, labels, f32(scale), loss_out, grad_out)


def softmax(logits, out):
    _softmax[math.ceil(logits.shape[0] / ROWS), (WARP, ROWS)](logits, out)
    return out


def softmax_cross_entropy(logits, labels, scale, loss_out, grad_out):
    grid = math.ceil(logits.shape[0] / ROWS)
    _softmax_cross_entropy[grid, (WARP, ROWS)](logits, labels, f32(scale), loss_out, grad_out)


def softmax_cross_entropy_head(logits, labels, scale, loss_out, grad_out):
    """The classifier's head as the sequence of this file's kernels and the metrics'
    count (kernels/metrics/cuda.py); the loss sum and the count are copied back.
    Only the numba backend fuses it (fit's traced step on a GPU keeps the unfused calls)."""
    from ..metrics.cuda import accumulate_correct
    probs = cuda.device_array(logits.shape, logits.dtype)
    softmax(logits, probs)
    softmax_cross_entropy(logits, labels, scale, loss_out, grad_out)
    total = cuda.to_device(np.zeros(1, np.float64))
    accumulate_correct(probs, labels, total)
    return loss_out.copy_to_host().sum(), int(total.copy_to_host()[0])
