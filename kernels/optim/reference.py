"""The optimizer family's contract, in plain NumPy (Keras's semantics): what
the numpy backend runs and what every compiled backend is tested against.

Each update works in place on flat arrays of one dtype: ``param`` and the
state are written, ``grad`` is only read and shares no memory with them.
"""

from __future__ import annotations

import numpy as np

from .backward_sequence import sequence


def sgd_update(param, grad, velocity, lr, momentum, nesterov):
    """velocity is None when momentum == 0: param -= lr*g.  Otherwise
    v = momentum*v - lr*g; param += v, or param += momentum*v - lr*g if nesterov."""
    if velocity is None:
        param -= lr * grad
        return
    velocity *= momentum
    velocity -= lr * grad
    if nesterov:
        param += momentum * velocity - lr * grad
    else:
        param += velocity


def rmsprop_update(param, grad, v, lr, rho, eps):
    """v = rho*v + (1-rho)*g^2; param -= lr*g/sqrt(v+eps)."""
    v *= rho
    v += (1 - rho) * grad * grad
    param -= lr * grad / np.sqrt(v + eps)


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, step):
    """``step`` counts from 1: m += (g-m)(1-b1); v += (g^2-v)(1-b2);
    param -= lr*sqrt(1-b2^step)/(1-b1^step) * m/(sqrt(v)+eps)."""
    alpha = lr * np.sqrt(1 - beta2**step) / (1 - beta1**step)
    m += (grad - m) * (1 - beta1)
    v += (grad * grad - v) * (1 - beta2)
    param -= alpha * m / (np.sqrt(v) + eps)


def bias_grad_rmsprop(grad_out, x, out, b, v, lr, rho, eps):
    """A Dense layer's bias gradient and its RMSprop step: db = the column sums
    of ``grad_out`` (x None), or of out = grad_out where x > 0, else 0 (relu's
    backward, written to ``out``); then ``rmsprop_update(b, db, v)``."""
    from ..elementwise.reference import bias_grad, relu_bias_grad

    db = np.empty_like(b)
    if x is None:
        bias_grad(grad_out, db)
    else:
        relu_bias_grad(grad_out, x, out, db)
    rmsprop_update(b, db, v, lr, rho, eps)


# A narrow output layer's backward and the RMSprop steps of its weights, its bias and
# the bias of the relu layer before it: the sequence of the methods above and the
# GEMM's (backward_sequence.py)
dense_backward_rmsprop = sequence("numpy")
