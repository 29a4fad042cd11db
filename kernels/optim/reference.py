"""The optimizer family's contract, in plain NumPy (Keras's semantics): what
the numpy backend runs and what every compiled backend is tested against.

Each update works in place on flat arrays of one dtype: ``param`` and the
state are written, ``grad`` is only read and shares no memory with them.
"""

from __future__ import annotations

import numpy as np


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
