"""Broadcasting and its dual: ``broadcast_to``, ``reduce_sum`` and ``unbroadcast``.

Broadcasting copies an entry to many places, so the gradient of a broadcast
is a sum over those places, and the gradient of a sum is a broadcast: these
two ops are each other's gradient.  ``unbroadcast`` is the rule that every
element-wise op's gradient uses to undo NumPy's implicit broadcasting.
"""

from __future__ import annotations

from .base import _axes, _result, convert
from .shape import reshape


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting.

    If ``b`` of shape (3,) was broadcast against (2, 3), each of its entries
    was used twice, so its gradient is the sum of the two rows' gradients:
    reduce over the leading axes that broadcasting added and over the axes
    where ``shape`` has a 1.  This is the one place that rule lives.
    """
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1
    )
    if axes:
        grad = reduce_sum(grad, axis=axes, keepdims=True)
    return reshape(grad, shape)


def broadcast_to(x, shape):
    x = convert(x)
    shape = tuple(shape)
    try:
        data = x._backend.xp.broadcast_to(x._data, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: shape {x.shape} cannot be broadcast to {shape}") from None
    return _result(data, x._backend, (x,), _broadcast_to_grad, x.shape)


def _broadcast_to_grad(g, shape, needs):
    return (unbroadcast(g, shape),)


def reduce_sum(x, axis=None, keepdims=False):
    x = convert(x)
    axes = _axes(axis, x.ndim)
    data = x._backend.xp.sum(x._data, axis=axes, keepdims=keepdims)
    return _result(data, x._backend, (x,), _reduce_sum_grad, (x.shape, axes, keepdims))


def _reduce_sum_grad(g, ctx, needs):
    shape, axes, keepdims = ctx  # every summed entry gets the same gradient
    if not keepdims:
        g = reshape(g, [1 if i in axes else n for i, n in enumerate(shape)])
    return (broadcast_to(g, shape),)
