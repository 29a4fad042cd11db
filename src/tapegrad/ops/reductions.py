"""Reductions: mean, max and argmax over axes (``reduce_sum`` is in broadcasting.py).

A reduction's gradient spreads the incoming gradient back over the entries
that were reduced: equally for a mean, to the largest entries for a max.
"""

from __future__ import annotations

import builtins

import numpy as np

from .base import _axes, _result, _wrap, convert
from .broadcasting import _reduce_sum_grad, reduce_sum
from .elementwise import cast, compare, divide, multiply
from .shape import reshape


def reduce_mean(x, axis=None, keepdims=False):
    x = convert(x)
    if x.dtype.kind not in "f":
        total = reduce_sum(x, axis, keepdims)
        count = x.size // builtins.max(total.size, 1)
        return _wrap(total._data // builtins.max(count, 1), x._backend)
    axes = _axes(axis, x.ndim)
    count = 1
    for a in axes:
        count *= x.shape[a]
    data = x._backend.xp.mean(x._data, axis=axes, keepdims=keepdims)
    return _result(data, x._backend, (x,), _reduce_mean_grad, (x.shape, axes, keepdims, count))


def _reduce_mean_grad(g, ctx, needs):
    shape, axes, keepdims, count = ctx
    (gx,) = _reduce_sum_grad(g, (shape, axes, keepdims), needs)
    return (divide(gx, count),)


def reduce_max(x, axis=None, keepdims=False):
    x = convert(x)
    axes = _axes(axis, x.ndim)
    data = x._backend.xp.max(x._data, axis=axes, keepdims=keepdims)
    return _result(data, x._backend, (x,), _reduce_max_grad, (x, axes), saves_output=True)


def _reduce_max_grad(g, ctx, needs):
    x, axes, out = ctx  # ties share the gradient equally, as in TF
    kept = [1 if i in axes else n for i, n in enumerate(x.shape)]
    picked = cast(compare(x, reshape(out, kept), "equal"), g.dtype)
    share = divide(picked, reduce_sum(picked, axes, keepdims=True))
    return (multiply(share, reshape(g, kept)),)


def argmax(x, axis=None):
    """Index of the largest entry along ``axis`` (TF's default axis is 0)."""
    x = convert(x)
    axis = 0 if axis is None else int(axis)
    be = x._backend
    return _wrap(be.astype(be.xp.argmax(x._data, axis=axis), np.int64), be)
