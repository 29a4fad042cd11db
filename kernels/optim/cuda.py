"""The optimizer family on the GPU (numba.cuda): one fused grid-stride pass
over param, grad and the state per update; scalars in float32, Adam's bias
corrections computed once per step in float64 on the host."""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32

from .._cuda import f32, launch
from .backward_sequence import sequence


# ---- optimizer updates: one fused pass over param, grad and the state
@cuda.jit
def _sgd(param, grad, velocity, lr, momentum, has_velocity, nesterov):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, param.shape[0], stride):
        g = grad[i]
        if has_velocity:
            v = momentum * velocity[i] - lr * g
            velocity[i] = v
            if nesterov:
                param[i] += momentum * v - lr * g
            else:
                param[i] += v
        else:
            param[i] -= lr * g

@cuda.jit
def _rmsprop(param, grad, v, lr, rho, one_minus_rho, eps):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, param.shape[0], stride):
        g = grad[i]
        vi = rho * v[i] + one_minus_rho * g * g
        v[i] = vi
        param[i] -= lr * g / math.sqrt(vi + eps)

@cuda.jit
def _adam(param, grad, m, v, alpha, one_minus_b1, one_minus_b2, eps):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, param.shape[0], stride):
        g = grad[i]
        mi = m[i] + (g - m[i]) * one_minus_b1
        vi = v[i] + (g * g - v[i]) * one_minus_b2
        m[i] = mi
        v[i] = vi
        param[i] -= alpha * mi / (math.sqrt(vi) + eps)



# ---------------------------------------------------------------- the backend's methods
def sgd_update(param, grad, velocity, lr, momentum, nesterov):
    blocks, threads = launch.grid1d(param.shape[0])
    has_velocity = velocity is not None
    _sgd[blocks, threads](param, grad, velocity if has_velocity else launch.placeholder(),
                          f32(lr), f32(momentum), int(has_velocity), int(bool(nesterov)))


def rmsprop_update(param, grad, v, lr, rho, eps):
    blocks, threads = launch.grid1d(param.shape[0])
    _rmsprop[blocks, threads](param, grad, v, f32(lr), f32(rho), f32(1.0 - rho), f32(eps))


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, step):
    # the bias corrections are one scalar per step: computed here in float64
    alpha = lr * math.sqrt(1.0 - beta2**step) / (1.0 - beta1**step)
    blocks, threads = launch.grid1d(param.shape[0])
    _adam[blocks, threads](param, grad, m, v, f32(alpha), f32(1.0 - beta1), f32(1.0 - beta2), f32(eps))


def bias_grad_rmsprop(grad_out, x, out, b, v, lr, rho, eps):
    """The element-wise family's bias gradient kernel, then RMSprop's (two launches)."""
    from ..elementwise.cuda import bias_grad, relu_bias_grad

    db = cuda.device_array(b.shape, b.dtype)
    if x is None:
        bias_grad(grad_out, db)
    else:
        relu_bias_grad(grad_out, x, out, db)
    rmsprop_update(b, db, v, lr, rho, eps)


# the narrow output layer's backward: the sequence of this backend's methods (backward_sequence.py)
dense_backward_rmsprop = sequence("cuda")
