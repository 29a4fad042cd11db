"""The optimizer family on the Cython backend: the extension's kernels (kernels/optim/cython.pxi),
each called through its float32 or float64 specialisation, and ``dense_backward_rmsprop`` as the
unfused sequence of the backend's methods (backward_sequence.py); only numba makes it one call."""

from __future__ import annotations

from .backward_sequence import sequence

_entries = {}


def _entry(name):
    """The extension's function ``name`` as the backend's method (``_by_dtype``).  Looked up
    on first use: the cython backend module imports this one while it is being built."""
    function = _entries.get(name)
    if function is None:
        from ..cython_backend import _by_dtype, _ext
        function = _entries[name] = _by_dtype(getattr(_ext, name))
    return function


def sgd_update(param, grad, velocity, lr, momentum, nesterov):
    return _entry("sgd_update")(param, grad, velocity, lr, momentum, nesterov)


def rmsprop_update(param, grad, v, lr, rho, eps):
    return _entry("rmsprop_update")(param, grad, v, lr, rho, eps)


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, step):
    return _entry("adam_update")(param, grad, m, v, lr, beta1, beta2, eps, step)


def bias_grad_rmsprop(grad_out, x, out, b, v, lr, rho, eps):
    return _entry("bias_grad_rmsprop")(grad_out, x, out, b, v, lr, rho, eps)


dense_backward_rmsprop = sequence("cython")
