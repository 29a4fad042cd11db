"""Linear algebra: ``matmul`` on the GEMM kernel, and the fused Dense layer op.

The gradient of a matrix product is two more matrix products; ``dense``
(``activation(x @ w + b)`` in one kernel) keeps only its output for backward
and gets the bias gradient as the column sums of g (``bias_grad``).
"""

from __future__ import annotations

from .. import kernels
from .activations import relu_backward
from .base import _fused_gradient, _pair, _result, _wrap, convert
from .broadcasting import broadcast_to


def matmul(a, b, transpose_a=False, transpose_b=False):
    """``op(a) @ op(b)`` on the GEMM kernel; its gradient is two more GEMMs."""
    a, b = _pair(a, b, "matmul")
    if a._data.ndim != 2 or b._data.ndim != 2:
        raise ValueError(f"matmul: both operands must be 2-D, got shapes {a.shape} and {b.shape}")
    be = a._backend
    data = kernels.matmul(a._data, b._data, transpose_a=transpose_a, transpose_b=transpose_b, backend=be)
    return _result(data, be, (a, b), _matmul_grad, (a, b, transpose_a, transpose_b))


def _matmul_grad(g, ctx, needs):
    # For C = A @ B: dA = G @ B^T and dB = A^T @ G; with the flags set the
    # same identities are rearranged, never copying a transposed matrix.
    a, b, ta, tb = ctx
    da = db = None
    if not ta and not tb:
        da = matmul(g, b, transpose_b=True) if needs[0] else None
        db = matmul(a, g, transpose_a=True) if needs[1] else None
    elif ta and not tb:
        da = matmul(b, g, transpose_b=True) if needs[0] else None
        db = matmul(a, g) if needs[1] else None
    elif not ta and tb:
        da = matmul(g, b) if needs[0] else None
        db = matmul(g, a, transpose_a=True) if needs[1] else None
    else:
        da = matmul(b, g, transpose_a=True, transpose_b=True) if needs[0] else None
        db = matmul(g, a, transpose_a=True, transpose_b=True) if needs[1] else None
    return da, db


def dense(x, w, b=None, activation=None):
    """``activation(x @ w + b)`` as ONE op on the fused ``dense_forward`` kernel.

    Backward keeps only the output: relu'(pre) = (out > 0).  Then
    dW = x^T g, db = column sums of g and dx = g w^T, each one kernel call,
    and dx is skipped when nothing upstream needs it (the input images).
    """
    x = convert(x)
    be = x._backend
    inputs = (x, w) if b is None else (x, w, b)
    data = kernels.dense_forward(x._data, w._data, None if b is None else b._data,
                                 activation, backend=be)
    return _result(data, be, inputs, _dense_grad, (x, w, activation), saves_output=True)


def _dense_grad(g, ctx, needs):
    x, w, activation, out = ctx
    wants_db = len(needs) == 3 and needs[2]   # inputs (x, w, b) and b's gradient asked for
    if activation == "relu" and wants_db:
        g, db = _fused_gradient(g, out, _relu_bias_stored, _relu_bias_differentiable)
    else:
        if activation == "relu":
            g = relu_backward(g, out)
        db = bias_grad(g) if wants_db else None
    dx = matmul(g, w, transpose_b=True) if needs[0] else None
    dw = matmul(x, g, transpose_a=True) if needs[1] else None
    return (dx, dw) if len(needs) == 2 else (dx, dw, db)


def _relu_bias_stored(g, out):
    """``relu_backward(g, out)`` and the ``bias_grad`` of that from ONE kernel
    pass over ``g`` (``kernels.relu_bias_grad``)."""
    be = g._backend
    masked, db = kernels.relu_bias_grad(g._data, out._data, backend=be)
    return _wrap(masked, be), _wrap(db, be)


def _relu_bias_differentiable(g, out):
    """The same from the two differentiable ops, for an outer tape."""
    g = relu_backward(g, out)
    return g, bias_grad(g)


def bias_grad(g):
    """Column sums of a 2-D gradient (a kernel): the gradient of a bias."""
    data = kernels.bias_grad(g._data, backend=g._backend)
    return _result(data, g._backend, (g,), _bias_grad_grad, g.shape)


def _bias_grad_grad(gg, shape, needs):
    return (broadcast_to(gg, shape),)
