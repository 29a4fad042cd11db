"""The public TensorFlow-style functions: ``tapegrad.matmul``, ``zeros``, ...

They are thin: creation functions build arrays on the current kernel backend,
and the math functions are the differentiable ops of :mod:`tapegrad.ops`
under TensorFlow's names, so ``import tapegrad as tf`` runs the book's code.
"""

from __future__ import annotations

import functools

import numpy as np

from . import ops
from .kernels import get_backend
from .ops import (  # noqa: F401  (re-exported under TF's names)
    abs, add, argmax, broadcast_to, cast, clip_by_value, divide, exp, log, matmul, maximum,
    minimum, multiply, negative, reduce_max, reduce_mean, reduce_sum, reshape, sign, sqrt,
    square, subtract, tanh, transpose, unbroadcast,
)
from .tensor import Tensor, as_dtype, fresh_copy, to_array

pow = ops.power  # noqa: A001


def _shape(shape):
    if isinstance(shape, Tensor):
        shape = shape.numpy().tolist()
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    for n in shape:
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"shape must be non-negative integers, got {shape}")
    return tuple(int(n) for n in shape)


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


def identity(x):
    return ops.reshape(x, ops.convert(x).shape)


def function(func=None, input_signature=None, autograph=True, jit_compile=None, reduce_retracing=False,
             **experimental):
    """``@tf.function``: in tapegrad it runs the decorated function eagerly, as plain Python.

    TensorFlow traces a ``tf.function`` once into a graph and then runs the
    graph; tapegrad has no graphs (every op runs its kernel at once), so the
    decorator only returns the same function: the results are the ones the
    undecorated code gives, and ``jit_compile`` and the other options change
    nothing.  Use it bare (``@tf.function``) or with arguments
    (``@tf.function(jit_compile=True)``).
    """
    for name in experimental:
        if not name.startswith("experimental_"):
            raise TypeError(f"function() got an unexpected keyword argument {name!r}")
    if func is None:   # @tf.function(...) : return the decorator itself
        return lambda f: function(f, input_signature, autograph, jit_compile, reduce_retracing, **experimental)
    if not callable(func):
        raise TypeError(f"tf.function decorates a function, got {type(func).__name__}")

    @functools.wraps(func)
    def run_eagerly(*args, **kwargs):
        return func(*args, **kwargs)

    run_eagerly.python_function = func
    return run_eagerly
