"""Shape ops: reshape, transpose, indexing and its dual scatter, concat.

They move values without computing new ones, so each gradient moves the
incoming gradient back: reshape it back, transpose it back, scatter it back
into the slots indexing read from.  (``broadcast_to`` lives with its dual
``reduce_sum`` in broadcasting.py.)
"""

from __future__ import annotations

import builtins

import numpy as np

from ..tensor import Tensor, Variable, VariableSlice
from .base import _result, convert


def reshape(x, shape):
    x = convert(x)
    shape = tuple(int(n) for n in (shape.numpy() if isinstance(shape, Tensor) else shape))
    try:
        data = x._data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} values) into {shape}") from None
    return _result(data, x._backend, (x,), _reshape_grad, x.shape)


def _reshape_grad(g, shape, needs):
    return (reshape(g, shape),)


def transpose(x, perm=None):
    x = convert(x)
    perm = tuple(range(x.ndim - 1, -1, -1)) if perm is None else tuple(int(p) for p in perm)
    data = x._backend.xp.transpose(x._data, perm)
    return _result(data, x._backend, (x,), _transpose_grad, perm)


def _transpose_grad(g, perm, needs):
    return (transpose(g, tuple(np.argsort(perm))),)


def _plain_key(key):
    if isinstance(key, tuple):
        return tuple(_plain_key(k) for k in key)
    if isinstance(key, Tensor):
        return key.__index__() if key.ndim == 0 and key.dtype.kind in "iu" else key._data
    if isinstance(key, list):
        return np.asarray(key)
    return key


def getitem(x, key):
    """``x[key]``: the gradient is scattered back into a zero tensor."""
    x = convert(x)
    key = _plain_key(key)
    data = x._data[key]
    out = None
    if isinstance(x, Variable):  # a snapshot, not a view of the weights, that can assign into them
        out = VariableSlice._wrap_slice(x._backend.xp.array(data), x._backend, x, key)
    return _result(data, x._backend, (x,), _getitem_grad, (x.shape, key), out=out)


def _getitem_grad(g, ctx, needs):
    shape, key = ctx
    return (scatter(g, key, shape),)


def _is_basic(key):
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (int, np.integer, slice)) for k in keys)


def scatter(g, key, shape):
    """A zero tensor of ``shape`` with ``g`` added at ``key`` (the dual of indexing)."""
    be = g._backend
    data = be.zeros(shape, g.dtype)
    if _is_basic(key):
        data[key] = g._data
    else:
        be.xp.add.at(data, key, g._data)  # repeated indices add up
    return _result(data, be, (g,), _scatter_grad, key)


def _scatter_grad(gg, key, needs):
    return (getitem(gg, key),)


def concat(values, axis):
    """Join tensors along ``axis`` (``tf.concat``); the other axes must match.

    Each piece is copied into its slot of one output array; the gradient
    slices ``g`` back into the pieces' slots.
    """
    values = [convert(v) for v in values]
    if not values:
        raise ValueError("concat: needs at least one tensor")
    first = values[0]
    rank = first.ndim
    if not -rank <= axis < builtins.max(rank, 1) or rank == 0:
        raise ValueError(f"concat: axis {axis} is out of range for tensors of rank {rank}")
    axis = int(axis) % rank
    for v in values[1:]:
        if v.dtype != first.dtype:
            raise TypeError(f"concat: tensors have different dtypes, {first.dtype.name} and {v.dtype.name}")
        if v.ndim != rank or any(a != b for i, (a, b) in enumerate(zip(v.shape, first.shape)) if i != axis):
            raise ValueError(f"concat: shapes {[v.shape for v in values]} differ outside axis {axis}")
    be = first._backend
    shape = list(first.shape)
    shape[axis] = sum(v.shape[axis] for v in values)
    data = be.zeros(tuple(shape), first.dtype)
    keys, start = [], 0
    for v in values:
        key = (slice(None),) * axis + (slice(start, start + v.shape[axis]),)
        data[key] = v._data
        keys.append(key)
        start += v.shape[axis]
    return _result(data, be, tuple(values), _concat_grad, keys)


def _concat_grad(g, keys, needs):
    return tuple(getitem(g, key) if need else None for key, need in zip(keys, needs))
