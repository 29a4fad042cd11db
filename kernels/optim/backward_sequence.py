"""The backward pass of a classifier's narrow output layer as the sequence of a backend's own methods.

``dense_backward_rmsprop`` (kernels/optim/api.py) is, on every backend, the
four calls the traced step made before the fusion: ``dz @ W.T``, b_prev's
``bias_grad_rmsprop`` masked by ``h > 0`` (its output is ``dh``), W's
``weight_grad_rmsprop`` and b's ``bias_grad_rmsprop``, in that order (W is
read before it changes).  The numba backend makes the four one compiled call
(numba_backward.py); the numpy, cython and cuda backends run this sequence.
"""

from __future__ import annotations


def sequence(backend_name):
    """The backend method made of the methods of the backend ``backend_name`` (looked up at
    the first call: the backend object is still being built when its families load)."""
    found = []

    def dense_backward_rmsprop(dz, h, w, b, vw, vb, b_prev, vb_prev, lr, rho, eps, dh):
        if not found:
            from .._dispatch import get_backend
            found.append(get_backend(backend_name))
        be = found[0]
        pre = be.empty(dh.shape, dh.dtype)
        be.matmul(dz, w, False, True, pre)
        be.bias_grad_rmsprop(pre, h, dh, b_prev, vb_prev, lr, rho, eps)
        be.weight_grad_rmsprop(h, None, dz, w, vw, lr, rho, eps)
        be.bias_grad_rmsprop(dz, None, None, b, vb, lr, rho, eps)
        return dh

    return dense_backward_rmsprop
