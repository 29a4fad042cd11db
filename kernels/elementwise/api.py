"""The element-wise family's public functions: relu and its derivative,
dropout, and the bias gradient (alone or fused with relu's backward).

Each validates its arguments, allocates the outputs on the chosen backend
and calls the backend's method of the same name on flat (or 2-D) views.
kernels/elementwise/DESIGN.md: the contract.
"""

from __future__ import annotations

import numpy as np

from .._checks import elementwise_target, finish, operand, output, through_temporary
from .._dispatch import get_backend


# ---------------------------------------------------------------- relu
def relu(x, *, out=None, backend=None):
    """``max(x, 0)`` element-wise, any shape."""
    be = get_backend(backend)
    x = operand(be, x, "x", "relu")
    given = out is not None
    out = output(be, out, x.shape, x.dtype, "relu")
    if x.size == 0:
        return out
    target = elementwise_target(be, out, x) if given else out
    be.relu(x.reshape(-1), target.reshape(-1))
    return out if target is out else finish(be, out, target)


def relu_backward(grad_out, x, *, out=None, backend=None):
    """The derivative of relu, applied: ``grad_out`` where ``x > 0``, else 0."""
    be = get_backend(backend)
    x = operand(be, x, "x", "relu_backward")
    grad_out = operand(be, grad_out, "grad_out", "relu_backward", x.dtype)
    if tuple(grad_out.shape) != tuple(x.shape):
        raise ValueError(
            f"relu_backward: grad_out has shape {tuple(grad_out.shape)} but x has {tuple(x.shape)}"
        )
    given = out is not None
    out = output(be, out, x.shape, x.dtype, "relu_backward")
    if x.size == 0:
        return out
    target = elementwise_target(be, out, grad_out, x) if given else out
    be.relu_backward(grad_out.reshape(-1), x.reshape(-1), target.reshape(-1))
    return out if target is out else finish(be, out, target)


def bias_grad(grad_out, *, out=None, backend=None):
    """Column sums of (N, M) ``grad_out``: the gradient of a broadcast bias."""
    be = get_backend(backend)
    grad_out = operand(be, grad_out, "grad_out", "bias_grad", ndim=2)
    given = out is not None
    out = output(be, out, (grad_out.shape[1],), grad_out.dtype, "bias_grad")
    if grad_out.shape[0] == 0:
        be.write(out, np.zeros(out.shape, out.dtype))
        return out
    if out.size == 0:
        return out
    target = through_temporary(be, out, grad_out) if given else out
    be.bias_grad(grad_out, target)
    return out if target is out else finish(be, out, target)


def relu_bias_grad(grad_out, x, *, backend=None):
    """relu's backward and the bias gradient of a Dense layer, in one pass.

    For (N, M) ``grad_out`` and ``x`` (relu's output, or its input: only the
    sign matters) returns ``(g, db)``: ``g`` = ``grad_out`` where ``x > 0``,
    else 0 (:func:`relu_backward`), and ``db`` = the column sums of ``g``
    (:func:`bias_grad`).  Reading the gradient once instead of twice is what
    the fusion buys; the result is the two calls' result.
    """
    be = get_backend(backend)
    fn = "relu_bias_grad"
    x = operand(be, x, "x", fn, ndim=2)
    grad_out = operand(be, grad_out, "grad_out", fn, x.dtype, ndim=2)
    if grad_out.shape != x.shape:
        raise ValueError(f"{fn}: grad_out has shape {tuple(grad_out.shape)} but x has {tuple(x.shape)}")
    n, m = x.shape
    out = be.empty((n, m), x.dtype)
    db = be.empty((m,), x.dtype)
    if n == 0:
        be.write(db, np.zeros(m, x.dtype))
    elif m:
        be.relu_bias_grad(grad_out, x, out, db)
    return out, db


# ---------------------------------------------------------------- dropout
def check_dropout_rate(rate, fn="dropout"):
    """``rate`` as a float in [0, 1), the fraction of units dropout zeroes; a
    TypeError or ValueError naming ``fn`` otherwise (NaN included)."""
    try:
        rate = float(rate)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: rate must be a number in [0, 1), got {rate!r}") from None
    if not 0 <= rate < 1:   # also refuses NaN
        raise ValueError(f"{fn}: rate must be in [0, 1) (the fraction of units dropped), got {rate}")
    return rate


def dropout_forward(x, uniform, rate, *, backend=None):
    """Inverted dropout in one fused pass, given a uniform random draw.

    Element ``i`` is kept where ``uniform[i] >= rate`` (compared in x's
    dtype) and multiplied by ``1/(1-rate)``, so every output's expected value
    is its input; the rest become 0.  Returns ``(out, mask)``: ``mask`` holds
    the factor each element got (0 or ``1/(1-rate)``), all the backward
    needs.  The draw comes from the caller (``tapegrad.random``'s generator),
    so every backend makes the same decisions, bit for bit, for one draw.
    """
    be = get_backend(backend)
    fn = "dropout_forward"
    x = operand(be, x, "x", fn)
    uniform = operand(be, uniform, "uniform", fn, x.dtype)
    if tuple(uniform.shape) != tuple(x.shape):
        raise ValueError(f"{fn}: uniform has shape {tuple(uniform.shape)} but x has {tuple(x.shape)}; "
                         "draw one uniform number per element")
    rate = check_dropout_rate(rate, fn)
    out = be.empty(x.shape, x.dtype)
    mask = be.empty(x.shape, x.dtype)
    if x.size:
        be.dropout_forward(x.reshape(-1), uniform.reshape(-1), rate, 1.0 / (1.0 - rate),
                           out.reshape(-1), mask.reshape(-1))
    return out, mask


def dropout_backward(grad_out, mask, *, out=None, backend=None):
    """Dropout's derivative applied: ``grad_out * mask`` where ``mask != 0``, else 0.

    ``mask`` is the second result of :func:`dropout_forward`.  Dropout is
    linear for a fixed mask, so this is also its own derivative.
    """
    be = get_backend(backend)
    fn = "dropout_backward"
    mask = operand(be, mask, "mask", fn)
    grad_out = operand(be, grad_out, "grad_out", fn, mask.dtype)
    if tuple(grad_out.shape) != tuple(mask.shape):
        raise ValueError(f"{fn}: grad_out has shape {tuple(grad_out.shape)} but mask has {tuple(mask.shape)}")
    out = output(be, out, mask.shape, mask.dtype, fn)
    if mask.size:
        be.dropout_backward(grad_out.reshape(-1), mask.reshape(-1), out.reshape(-1))
    return out
