"""Element-wise ops: arithmetic, powers, exp/log, comparisons and casts.

Two operands are converted to one dtype (TF never mixes dtypes silently)
and broadcast against each other; each gradient is summed back to its
input's shape with :func:`~tapegrad.ops.broadcasting.unbroadcast`.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .base import _broadcast_check, _pair, _result, _wrap, convert
from .broadcasting import unbroadcast


def add(a, b):
    a, b = _pair(a, b, "add")
    be = a._backend
    try:
        data = be.xp.add(a._data, b._data)
    except ValueError:
        _broadcast_check(a, b, "add")
        raise
    return _result(data, be, (a, b), _add_grad, (a.shape, b.shape))


def _add_grad(g, shapes, needs):
    return (unbroadcast(g, shapes[0]) if needs[0] else None,
            unbroadcast(g, shapes[1]) if needs[1] else None)


def subtract(a, b):
    a, b = _pair(a, b, "subtract")
    be = a._backend
    try:
        data = be.xp.subtract(a._data, b._data)
    except ValueError:
        _broadcast_check(a, b, "subtract")
        raise
    return _result(data, be, (a, b), _subtract_grad, (a.shape, b.shape))


def _subtract_grad(g, shapes, needs):
    return (unbroadcast(g, shapes[0]) if needs[0] else None,
            unbroadcast(negative(g), shapes[1]) if needs[1] else None)


def multiply(a, b):
    a, b = _pair(a, b, "multiply")
    be = a._backend
    try:
        data = be.xp.multiply(a._data, b._data)
    except ValueError:
        _broadcast_check(a, b, "multiply")
        raise
    return _result(data, be, (a, b), _multiply_grad, (a, b))


def _multiply_grad(g, ab, needs):
    a, b = ab  # d(ab)/da = b, d(ab)/db = a
    return (unbroadcast(multiply(g, b), a.shape) if needs[0] else None,
            unbroadcast(multiply(g, a), b.shape) if needs[1] else None)


def divide(a, b):
    a, b = _pair(a, b, "divide")
    if a.dtype.kind in "biu":  # TF's truediv of integers gives floats
        a, b = cast(a, "float64"), cast(b, "float64")
    be = a._backend
    try:
        data = be.xp.true_divide(a._data, b._data)
    except ValueError:
        _broadcast_check(a, b, "divide")
        raise
    return _result(data, be, (a, b), _divide_grad, (a, b))


def _divide_grad(g, ab, needs):
    a, b = ab  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
    return (unbroadcast(divide(g, b), a.shape) if needs[0] else None,
            unbroadcast(negative(divide(multiply(g, a), multiply(b, b))), b.shape) if needs[1] else None)


def negative(x):
    x = convert(x)
    return _result(x._backend.xp.negative(x._data), x._backend, (x,), _negative_grad)


def _negative_grad(g, ctx, needs):
    return (negative(g),)


def power(x, exponent):
    """``x ** exponent`` for a scalar exponent."""
    x = convert(x)
    if isinstance(exponent, Tensor):
        if exponent.size != 1:
            raise TypeError("power: the exponent must be a scalar")
        exponent = exponent.numpy().item()
    if not isinstance(exponent, (int, float, np.number)):
        raise TypeError(f"power: the exponent must be a number, got {type(exponent).__name__}")
    if exponent == 2:
        return square(x)
    be = x._backend
    data = be.xp.power(x._data, be.asarray(exponent, dtype=x.dtype) if x.dtype.kind == "f" else exponent)
    return _result(data, be, (x,), _power_grad, (x, exponent))


def _power_grad(g, ctx, needs):
    x, p = ctx  # d(x^p)/dx = p x^(p-1)
    return (multiply(g, multiply(power(x, p - 1), p)),)


def square(x):
    x = convert(x)
    return _result(x._backend.xp.square(x._data), x._backend, (x,), _square_grad, x)


def _square_grad(g, x, needs):
    return (multiply(g, multiply(x, 2)),)


def exp(x):
    x = convert(x)
    return _result(x._backend.xp.exp(x._data), x._backend, (x,), _exp_grad, saves_output=True)


def _exp_grad(g, out, needs):
    return (multiply(g, out),)  # d(e^x)/dx = e^x, the output itself


def sqrt(x):
    x = convert(x)
    with np.errstate(invalid="ignore"):
        data = x._backend.xp.sqrt(x._data)
    return _result(data, x._backend, (x,), _sqrt_grad, saves_output=True)


def _sqrt_grad(g, out, needs):  # d(sqrt x)/dx = 1 / (2 sqrt x)
    return (divide(g, multiply(out, 2)),)


def log(x):
    x = convert(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        data = x._backend.xp.log(x._data)
    return _result(data, x._backend, (x,), _log_grad, x)


def _log_grad(g, x, needs):
    return (divide(g, x),)


def abs(x):  # noqa: A001 (TF's name)
    x = convert(x)
    return _result(x._backend.xp.abs(x._data), x._backend, (x,), _abs_grad, x)


def _abs_grad(g, x, needs):
    return (multiply(g, sign(x)),)


def sign(x):
    x = convert(x)
    return _wrap(x._backend.xp.sign(x._data), x._backend)  # derivative 0: not recorded


def maximum(a, b):
    a, b = _pair(a, b, "maximum")
    _broadcast_check(a, b, "maximum")
    data = a._backend.xp.maximum(a._data, b._data)
    return _result(data, a._backend, (a, b), _maximum_grad, (a, b))


def minimum(a, b):
    a, b = _pair(a, b, "minimum")
    _broadcast_check(a, b, "minimum")
    data = a._backend.xp.minimum(a._data, b._data)
    return _result(data, a._backend, (a, b), _minimum_grad, (a, b))


def _maximum_grad(g, ab, needs):
    return _gradient_to_the_picked(g, ab, needs, "greater_equal")


def _minimum_grad(g, ab, needs):
    return _gradient_to_the_picked(g, ab, needs, "less_equal")


def _gradient_to_the_picked(g, ab, needs, test):
    a, b = ab  # the gradient flows to whichever input was picked (a on ties)
    picked_a = cast(compare(a, b, test), g.dtype)
    return (unbroadcast(multiply(g, picked_a), a.shape) if needs[0] else None,
            unbroadcast(multiply(g, subtract(1, picked_a)), b.shape) if needs[1] else None)


def clip_by_value(x, clip_value_min, clip_value_max):
    x = convert(x)
    data = x._backend.xp.clip(x._data, clip_value_min, clip_value_max)
    return _result(data, x._backend, (x,), _clip_by_value_grad, (x, clip_value_min, clip_value_max))


def _clip_by_value_grad(g, ctx, needs):
    x, lo, hi = ctx  # gradient passes where x was inside [lo, hi]
    xp = x._backend.xp
    inside = xp.logical_and(xp.greater_equal(x._data, lo), xp.less_equal(x._data, hi))
    return (multiply(g, _wrap(x._backend.astype(inside, x.dtype), x._backend)),)


#: the comparisons ``compare`` runs, each a function of the array contract (``backend.xp``)
COMPARISONS = ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal")


def compare(a, b, name):
    """Element-wise comparison ``name`` (one of COMPARISONS) -> bool tensor (not differentiable)."""
    if name not in COMPARISONS:
        raise ValueError(f"compare: {name!r} is not a comparison; use one of {COMPARISONS}")
    a, b = _pair(a, b, name) if not (isinstance(a, Tensor) and isinstance(b, Tensor)) else (a, b)
    _broadcast_check(a, b, name)
    return _wrap(getattr(a._backend.xp, name)(a._data, b._data), a._backend)


def cast(x, dtype):
    """Change the dtype; float -> float keeps the gradient, as in TF."""
    x = convert(x)
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    data = x._backend.astype(x._data, dtype)
    if dtype.kind != "f" or x.dtype.kind != "f":
        return _wrap(data, x._backend)
    return _result(data, x._backend, (x,), _cast_grad, x.dtype)


def _cast_grad(g, dtype, needs):
    return (cast(g, dtype),)
