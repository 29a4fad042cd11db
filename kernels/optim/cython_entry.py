"""The optimizer family on the Cython backend: the extension's kernels (kernels/optim/cython.pxi),
each called through its float32 or float64 specialisation, and ``dense_backward_rmsprop`` as the
unfused sequence of the backend's methods (backward_sequence.py); only numba makes it one call."""

from __future__ import annotations

from .._cython_entry import extension_entry as _entry
from .backward_sequence import sequence


def sgd_update(param, grad, velocity, lr, momentum, nesterov):
    return _entry("sgd_update")(param, grad, velocity, lr, momentum, nesterov)


def rmsprop_update(param, grad, v, lr, rho, eps):
    return _entry("rmsprop_update")(param, grad, v, lr, rho, eps)


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, step):
    return _entry("adam_update")(param, grad, m, v, lr, beta1, beta2, eps, step)


def bias_grad_rmsprop(grad_out, x, out, b, v, lr, rho, eps):
    return _entry("bias_grad_rmsprop")(grad_out, x, out, b, v, lr, rho, eps)


dense_backward_rmsprop = sequence("cython")
