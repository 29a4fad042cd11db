"""The public TensorFlow-style functions: ``tapegrad.matmul``, ``zeros``, ...

They are thin: creation functions build arrays on the current kernel backend,
and the math functions are the differentiable ops of :mod:`tapegrad.ops`
under TensorFlow's names, so ``import tapegrad as tf`` runs the book's code.
"""

from __future__ import annotations

import operator

import numpy as np

from . import ops
from .kernels import get_backend
from .ops import (  # noqa: F401  (re-exported under TF's names)
    abs, add, argmax, broadcast_to, cast, clip_by_value, divide, exp, log, matmul, maximum,
    minimum, multiply, negative, reduce_max, reduce_mean, reduce_sum, reshape, sign, sqrt,
    square, subtract, tanh, transpose, unbroadcast,
)
from .tensor import Tensor, as_dtype, fresh_copy, to_array
from . import trace as _trace
from .trace import TensorSpec, function  # noqa: F401  (tf.function, tf.TensorSpec)

pow = ops.power  # noqa: A001


def _shape(shape):
    """A shape as a tuple of ints; entries may be ints or integer scalar tensors
    (``tf.zeros((tf.shape(x)[0], 3))``)."""
    if isinstance(shape, Tensor):
        shape = shape.numpy().tolist()
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    out = []
    for n in shape:
        try:
            n = operator.index(n)
        except TypeError:
            raise ValueError(f"shape must be non-negative integers, got {shape}") from None
        if n < 0:
            raise ValueError(f"shape must be non-negative integers, got {shape}")
        out.append(n)
    return tuple(out)


def constant(value, dtype=None, shape=None):
    """A new tensor holding a copy of ``value`` (Python floats become float32)."""
    be = get_backend()
    data = to_array(value, dtype, be)
    if shape is not None:
        shape = _shape(shape)
        data = be.xp.broadcast_to(data, shape) if data.size == 1 else data.reshape(shape)
    return Tensor._wrap(fresh_copy(data, be), be)


def convert_to_tensor(value, dtype=None):
    """``value`` as a Tensor, without copying when it already is one."""
    if isinstance(value, Tensor):
        if dtype is not None and value.dtype != as_dtype(dtype):
            raise TypeError(f"convert_to_tensor: tensor has dtype {value.dtype}, requested {as_dtype(dtype)}")
        return value
    be = get_backend()
    return Tensor._wrap(to_array(value, dtype, be), be)


def zeros(shape, dtype="float32"):
    be = get_backend()
    return Tensor._wrap(be.zeros(_shape(shape), as_dtype(dtype)), be)


def ones(shape, dtype="float32"):
    be = get_backend()
    data = be.zeros(_shape(shape), as_dtype(dtype))
    data += 1
    return Tensor._wrap(data, be)


def fill(dims, value, dtype=None):
    return constant(value, dtype=dtype, shape=dims)


def zeros_like(x, dtype=None):
    return ops.zeros_like(x, dtype)


def ones_like(x, dtype=None):
    return ops.ones_like(x, dtype)


def equal(a, b):
    return ops.compare(a, b, "equal")


def not_equal(a, b):
    return ops.compare(a, b, "not_equal")


def less(a, b):
    return ops.compare(a, b, "less")


def greater(a, b):
    return ops.compare(a, b, "greater")


def shape(x):
    """The shape as an int32 tensor (TF's ``tf.shape``)."""
    return constant(np.asarray(ops.convert(x).shape, dtype=np.int32))


def one_hot(indices, depth, on_value=None, off_value=None, axis=-1, dtype=None):
    """TF's ``tf.one_hot``: ``on_value`` where the index selects, ``off_value`` elsewhere.

    The new axis of length ``depth`` goes at ``axis`` (-1: last).  An index
    outside ``[0, depth)`` (negative included) gives a row of ``off_value``,
    as in TF.  ``dtype`` defaults to that of ``on_value``/``off_value`` when
    given, else float32.  Not differentiable (indices are integers).
    """
    index = np.asarray(indices.numpy() if isinstance(indices, Tensor) else indices)
    if index.dtype.kind not in "iu":
        raise TypeError(f"one_hot: indices must be integers (uint8, int32, int64), got dtype {index.dtype}")
    try:
        depth = operator.index(depth)
    except TypeError:
        raise TypeError(f"one_hot: depth must be an integer, got {depth!r}") from None
    if depth < 0:
        raise ValueError(f"one_hot: depth must be non-negative, got {depth}")
    if not -1 <= axis <= index.ndim:
        raise ValueError(f"one_hot: axis must be in [-1, {index.ndim}] for indices of rank {index.ndim}, got {axis}")
    def scalar(value, default, what):
        if value is None:
            return default
        host = np.asarray(value.numpy() if isinstance(value, Tensor) else value)
        if host.ndim:
            raise ValueError(f"one_hot: {what} must be a scalar, got shape {host.shape}")
        return host.item()

    if dtype is None:
        dtype = next((ops.convert(v).dtype for v in (on_value, off_value) if v is not None), np.dtype("float32"))
    dtype = as_dtype(dtype)
    on, off = scalar(on_value, 1, "on_value"), scalar(off_value, 0, "off_value")
    hot = np.arange(depth) == index[..., None]          # False for indices outside [0, depth)
    values = np.where(hot, np.asarray(on).astype(dtype), np.asarray(off).astype(dtype))
    if axis != -1:
        values = np.moveaxis(values, -1, axis)
    be = get_backend()
    return Tensor._wrap(be.asarray(np.ascontiguousarray(values)), be)


def identity(x):
    return ops.reshape(x, ops.convert(x).shape)


def print(*inputs, output_stream=None, sep=" ", end="\n", summarize=3):  # noqa: A001
    """``tf.print``: prints the values of tensors when the code runs, also at every call of a
    traced ``tapegrad.function`` (Python's ``print`` there prints once, while tracing)."""
    return _trace.print_(*inputs, output_stream=output_stream, sep=sep, end=end, summarize=summarize)
