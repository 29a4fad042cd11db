"""The differentiable ops: each forward next to its gradient.

An op computes its output with the kernels (``tapegrad.kernels``) or the
backend's array namespace ``xp`` and returns it through :func:`_result`, the
one place an op gets onto a recording tape, with a ``backward(g, ctx, needs)``
named ``_<op>_grad`` that maps the gradient of the output ``g`` to a tuple of
exactly one gradient per input (``None`` where ``needs`` says nobody asked).
Backward functions are built from these same ops, so they can be
differentiated again.
"""

from __future__ import annotations

import builtins
import operator

import numpy as np

from . import kernels
from . import random as _random
from .kernels import get_backend
from .tape import Seed, _thread_tapes, is_recording, provide_gradient_ops, record
from .tensor import Tensor, Variable, VariableSlice, to_array

_wrap = Tensor._wrap


# ------------------------------------------------------------------ helpers
def convert(x, like=None):
    """``x`` as a Tensor; a non-tensor operand of ``like`` takes ``like``'s dtype.

    TensorFlow converts a Python number, list or NumPy array that meets a
    tensor in an op to the tensor's dtype (float32 tensor * float64 ndarray
    -> float32).  It does so only when no kind of value is lost: integers ->
    any int or float dtype, floats -> float dtypes; a float for an integer
    tensor (or a bool for a number) is a TypeError, as in TF.
    """
    if isinstance(x, Tensor):
        return x
    be = like._backend if like is not None else get_backend()
    if like is None:
        if be.is_array(x) and x.dtype.isnative:   # the backend's own array (a batch): wrapped as it is
            return _wrap(x, be)
        return _wrap(to_array(x, None, be), be)
    target = like._data.dtype
    kind = type(x)   # fast path: a Python number, the common case (``x * 2.0``)
    if (kind is float and target.kind in "fc") or (kind is int and target.kind in "iufc"):
        return _wrap(be.asarray(x, dtype=target), be)
    source = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
    if source == object:
        raise TypeError(f"cannot convert {type(x).__name__} {x!r:.60} to a tensor")
    if not _convertible(np.dtype(source), target):
        what = f"{type(x).__name__} {x!r:.40}" if np.ndim(x) == 0 else f"{type(x).__name__} of dtype {source}"
        raise TypeError(f"cannot convert {what} to the dtype {target.name} of the other operand, a tensor "
                        f"(as in TF, a {np.dtype(source).name} value is not converted to {target.name}); "
                        f"cast the tensor first, e.g. tapegrad.cast(x, 'float32')")
    return _wrap(to_array(x, target, be), be)


def _convertible(source, target):
    """TF's rule for converting a non-tensor of dtype ``source`` to ``target``."""
    if source == target:
        return True
    if target.kind in "iu":
        return source.kind in "iu"
    if target.kind in "fc":
        return source.kind in "iuf" or (target.kind == "c" and source.kind == "c")
    return False


def _pair(a, b, name):
    """Both operands as tensors of one dtype (TF never mixes dtypes silently)."""
    if not isinstance(a, Tensor):
        a = convert(a, b if isinstance(b, Tensor) else None)
    if not isinstance(b, Tensor):
        b = convert(b, a)
    if a._data.dtype != b._data.dtype:
        raise TypeError(
            f"{name}: operands have different dtypes, {a.dtype.name} and {b.dtype.name}; "
            f"convert one with tapegrad.cast(x, {a.dtype.name!r})"
        )
    return a, b


def _broadcast_check(a, b, name):
    try:
        return np.broadcast_shapes(a._data.shape, b._data.shape)
    except ValueError:
        raise ValueError(
            f"{name}: shapes {a.shape} and {b.shape} are not compatible for broadcasting"
        ) from None


def _result(data, be, inputs, backward, ctx=None, *, saves_output=False, out=None):
    """The one way an op returns: wrap ``data``, and record the op if a tape records.

    ``data`` is the backend array the op computed (or pass ``out``, a tensor
    the op built itself, such as getitem's VariableSlice).  While a tape
    records in this thread, the entry ``(output, inputs, backward, ctx)`` is
    written down; ``backward(g, ctx, needs)`` returns one gradient per input.
    With ``saves_output`` backward also gets the output itself (exp's
    gradient is its output): as ``ctx`` when ctx is None, else appended to the
    ctx tuple.  That costs no memory: the tape entry holds the output anyway.
    """
    if out is None:
        out = _wrap(data, be)
    if _thread_tapes.stack:
        if saves_output:
            ctx = out if ctx is None else ctx + (out,)
        record(out, inputs, backward, ctx)
    return out


def _axes(axis, ndim):
    """Normalize an ``axis`` argument (None, int, list) to a sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, Tensor):
        axis = axis.numpy().tolist()
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor of rank {ndim}")
        out.append(int(a) % builtins.max(ndim, 1))
    return tuple(sorted(set(out)))


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


# ------------------------------------------------------------------ arithmetic
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


# ------------------------------------------------------------------ shapes
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


# ------------------------------------------------------------------ reductions
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


# ------------------------------------------------------------------ matmul
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


# ------------------------------------------------------------------ activations
def relu(x):
    x = convert(x)
    return _result(kernels.relu(x._data, backend=x._backend), x._backend, (x,), _relu_grad,
                   saves_output=True)


def _relu_grad(g, out, needs):
    return (relu_backward(g, out),)  # relu'(x) = (x > 0) = (relu(x) > 0)


def relu_backward(g, out):
    """``g`` where ``out > 0``, else 0: relu's derivative applied (a kernel)."""
    data = kernels.relu_backward(g._data, out._data, backend=g._backend)
    return _result(data, g._backend, (g, out), _relu_backward_grad, out)


def _relu_backward_grad(gg, out, needs):
    return (relu_backward(gg, out) if needs[0] else None, None)  # piecewise constant in out


def sigmoid(x):
    """``1 / (1 + exp(-x))``; the output remembers ``x`` (``_keras_logits``), like
    softmax, so a binary cross-entropy can use the stable logits formula."""
    x = convert(x)
    xp = x._backend.xp
    with np.errstate(over="ignore"):
        data = xp.true_divide(1, xp.add(1, xp.exp(xp.negative(x._data))))
    out = _result(x._backend.astype(data, x.dtype), x._backend, (x,), _sigmoid_grad, saves_output=True)
    out._keras_logits = x
    out._keras_activation = "sigmoid"
    return out


def _sigmoid_grad(g, s, needs):
    return (multiply(g, multiply(s, subtract(1, s))),)


def tanh(x):
    x = convert(x)
    return _result(x._backend.xp.tanh(x._data), x._backend, (x,), _tanh_grad, saves_output=True)


def _tanh_grad(g, t, needs):
    return (multiply(g, subtract(1, square(t))),)


def softmax(x, axis=-1):
    """Softmax over the last axis on the kernel; the output remembers ``x``.

    Keeping the logits on the output (``_keras_logits``, as Keras does) lets
    a later cross-entropy skip ``log(softmax)`` and use the fused kernel.
    """
    x = convert(x)
    if x.ndim == 0 or axis not in (-1, x.ndim - 1):
        raise ValueError(f"softmax: needs rank >= 1 and axis=-1, got shape {x.shape}, axis={axis}")
    be = x._backend
    data = x._data if x.ndim == 2 else x._data.reshape(-1, x.shape[-1])
    data = kernels.softmax(data, backend=be)
    if x.ndim != 2:
        data = data.reshape(x.shape)
    out = _result(data, be, (x,), _softmax_grad, saves_output=True)
    out._keras_logits = x
    out._keras_activation = "softmax"
    return out


def _softmax_grad(g, s, needs):
    # ds_i/dx_j = s_i (delta_ij - s_j), so dx = s * (g - sum(g * s))
    return (multiply(s, subtract(g, reduce_sum(multiply(g, s), axis=-1, keepdims=True))),)


def remembered_logits(y, activation):
    """The logits ``y`` was computed from by ``activation`` ("softmax" or "sigmoid"), else None."""
    logits = getattr(y, "_keras_logits", None)
    made_by = getattr(y, "_keras_activation", None)
    if logits is None or made_by != activation and not (made_by is None and activation == "softmax"):
        return None
    return logits


# ------------------------------------------------------------------ fused ops
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


def sparse_softmax_cross_entropy(logits, labels, reduction="none"):
    """Per-row ``-log softmax(logits)[label]`` on the fused kernel.

    The kernel returns the gradient of the summed loss, softmax - onehot,
    in the same pass; backward only scales it by the incoming gradient.
    ``reduction="mean"`` returns the batch mean as one scalar op instead
    (what a Keras loss object does), saving the reduce_mean and its backward.
    """
    logits = convert(logits)
    be = logits._backend
    shape = logits.shape
    flat = logits._data if len(shape) == 2 else logits._data.reshape(-1, shape[-1])
    ids = class_ids(labels.numpy() if isinstance(labels, Tensor) else labels, like=logits,
                    what="sparse_softmax_cross_entropy")
    if len(shape) != 2 and ids.ndim == len(shape) and ids.shape[-1] == 1:
        ids = ids.reshape(ids.shape[:-1])
    loss, grad = kernels.softmax_cross_entropy(flat, ids.reshape(-1), reduction="none", backend=be)
    if reduction == "mean":   # the mean stays on the backend: on a GPU, nothing is copied back
        # (sum / n is what np.mean computes, bit for bit, without its ~2 us of Python)
        data = be.xp.asarray(be.xp.true_divide(be.xp.sum(loss), loss.shape[0]))
    else:
        data = loss if len(shape) == 2 else loss.reshape(shape[:-1])
    return _result(data, be, (logits,), _sparse_softmax_cross_entropy_grad, (logits, ids.host, grad, reduction))


def _fused_gradient(g, ctx, stored, differentiable):
    """A backward that has a fused kernel form: the ONE place that picks it.

    When nothing records the backward pass (every training step)
    ``stored(g, ctx)`` runs: for a fused loss it only scales the gradient the
    forward kernel returned with the loss by the incoming ``g``, in one
    multiply; for a relu Dense layer it masks ``g`` and sums the bias
    gradient in one kernel pass.  When an outer tape records it (a second
    derivative), the gradient must be built from differentiable ops so the
    outer tape sees how it depends on the inputs: ``differentiable(g, ctx)``
    recomputes it so.
    """
    return differentiable(g, ctx) if is_recording() else stored(g, ctx)


def _sparse_softmax_cross_entropy_grad(g, ctx, needs):
    return (_fused_gradient(g, ctx, _softmax_xent_stored, _softmax_xent_differentiable),)


def _softmax_xent_stored(g, ctx):
    """The kernel's (softmax - onehot) times g, and divided by N for the mean:
    one multiply.  For the mean of a plain loss g is the tape's ``Seed`` of
    ones, so the factor is 1/N alone; any other g is a scalar folded into it."""
    logits, labels, grad, reduction = ctx
    be = logits._backend
    xp = be.xp
    if reduction == "mean":   # d mean / d logits = (softmax - onehot) / N
        factor = 1.0 / labels.size if type(g) is Seed else xp.multiply(g._data, 1.0 / labels.size)
    else:                     # one gradient per row: broadcast along the classes
        factor = g._data.reshape(g.shape + (1,))
    return _wrap(xp.multiply(grad, factor).reshape(logits.shape), be)


def _softmax_xent_differentiable(g, ctx):
    """The same from ops, for an outer tape: softmax(logits) - onehot(labels)
    (/ N for the mean), times g."""
    logits, labels, _, reduction = ctx
    be = logits._backend
    onehot = _wrap(be.asarray(np.eye(logits.shape[-1], dtype=logits.dtype)[labels.reshape(-1)]), be)
    grad = subtract(softmax(logits), reshape(onehot, logits.shape))
    if reduction == "mean":
        return multiply(divide(grad, labels.size), g)
    return multiply(grad, reshape(g, g.shape + (1,)))


def sigmoid_binary_cross_entropy(logits, labels):
    """Per-element ``-z log sigmoid(x) - (1-z) log(1 - sigmoid(x))`` on the fused kernel.

    The kernel computes it as ``max(x, 0) - x z + log(1 + exp(-|x|))``, finite
    for logits of any size (the composed formula overflows or takes log(0)),
    and returns the gradient ``sigmoid(x) - z`` in the same pass; backward
    only multiplies it by the incoming gradient.  ``labels`` are numbers in
    [0, 1] (soft labels allowed) of the logits' shape; not differentiated.
    """
    logits = convert(logits)
    be = logits._backend
    host_labels = np.asarray(labels.numpy() if isinstance(labels, Tensor) else labels)
    if host_labels.shape != logits.shape:  # as TF: no broadcasting (Keras losses align first)
        raise ValueError(f"sigmoid_binary_cross_entropy: logits of shape {logits.shape} and labels of "
                         f"shape {host_labels.shape} must have the same shape")
    loss, grad = kernels.sigmoid_cross_entropy(logits._data, host_labels, backend=be)
    return _result(loss, be, (logits,), _sigmoid_binary_cross_entropy_grad, (logits, host_labels, grad))


def _sigmoid_binary_cross_entropy_grad(g, ctx, needs):
    return (_fused_gradient(g, ctx, _sigmoid_xent_stored, _sigmoid_xent_differentiable),)


def _sigmoid_xent_stored(g, ctx):
    """The kernel's sigmoid(x) - z times g (one per element)."""
    logits, _, grad = ctx
    be = logits._backend
    return _wrap(be.xp.multiply(grad, g._data), be)


def _sigmoid_xent_differentiable(g, ctx):
    """(sigmoid(logits) - labels) * g from ops, for an outer tape."""
    logits, labels, _ = ctx
    be = logits._backend
    return multiply(subtract(sigmoid(logits), _wrap(be.asarray(np.asarray(labels, dtype=logits.dtype)), be)), g)


def dropout(x, rate, noise_shape=None, seed=None, generator=None):
    """Inverted dropout (TF's ``tf.nn.dropout``) on the fused kernel.

    Each element is zeroed with probability ``rate`` and the kept ones are
    scaled by ``1/(1-rate)``, so the expected output equals the input and
    nothing needs rescaling at inference.  The uniform draw comes from
    ``tapegrad.random`` (a fresh generator for ``seed``, or ``generator``),
    of ``noise_shape`` broadcast to x's shape when given (e.g. ``(N, 1)``
    drops whole rows); backward multiplies the gradient by the same mask.
    """
    x = convert(x)
    rate = kernels.api._dropout_rate(rate, "dropout")
    if x.dtype.kind != "f":
        raise TypeError(f"dropout: x must be a float tensor, got {x.dtype.name}")
    if rate == 0:
        return x
    shape = x.shape
    if noise_shape is not None:
        noise_shape = tuple(int(n) for n in noise_shape)
        try:
            fits = len(noise_shape) == x.ndim and np.broadcast_shapes(noise_shape, x.shape) == x.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"dropout: noise_shape {noise_shape} must have x's rank and broadcast "
                             f"to x's shape {x.shape} (each entry 1 or x's size there)")
        shape = noise_shape
    rng = generator if generator is not None else _random.generator(seed)
    draw = rng.random(shape, dtype=np.float32 if x.dtype == np.float32 else np.float64)
    if noise_shape is not None:
        draw = np.ascontiguousarray(np.broadcast_to(draw, x.shape))
    be = x._backend
    out, mask = kernels.dropout_forward(x._data, draw.astype(x.dtype, copy=False), rate, backend=be)
    return _result(out, be, (x,), _dropout_grad, _wrap(mask, be))


def _dropout_grad(g, mask, needs):
    return (dropout_backward(g, mask),)


def dropout_backward(g, mask):
    """``g * mask`` where the mask kept a unit, else 0 (a kernel); linear in g,
    so its own gradient is the same op."""
    data = kernels.dropout_backward(g._data, mask._data, backend=g._backend)
    return _result(data, g._backend, (g,), _dropout_backward_grad, mask)


def _dropout_backward_grad(gg, mask, needs):
    return (dropout_backward(gg, mask),)


# ------------------------------------------------------------------ labels
ClassIds = kernels.ClassIds   # a checked batch of class ids (see kernels/api.py)


def class_ids(labels, like=None, what="class_ids", backend=None):
    """Integer class ids copied and checked once (``kernels.ClassIds``), uploaded
    once to the backend of tensor ``like`` (or ``backend``, or the current one):
    one label batch that every kernel of a step reads.  A ``ClassIds`` comes
    back as it is; ``backend="numpy"`` checks on the host and uploads nothing."""
    if isinstance(labels, kernels.ClassIds):
        return labels
    return kernels.class_ids(labels, backend=like._backend if like is not None else backend, fn=what)


# ------------------------------------------------------------------ state that kernels update in place
# Optimizer slots and metric totals are Variables that fused kernels write into.
# These functions are the one place where such an update reaches a Variable's
# array; they are not recorded on a tape (an update is not differentiable).
def zeros_variable(shape, dtype, like, name=None):
    """A non-trainable Variable of zeros on the backend of tensor ``like``
    (made there, not uploaded): an optimizer slot or a metric's running total."""
    be = like._backend
    return Variable._wrap_variable(be.zeros(tuple(shape), np.dtype(dtype)), be, False, name)


_UPDATE_KERNELS = ("sgd_update", "rmsprop_update", "adam_update")   # each has a _foreach form in kernels
_array_of = operator.attrgetter("_data")   # a slot Variable's array, read in C (once per weight per step)


def apply_updates(kernel_name, variables, grads, slots, **hyperparameters):
    """Run the fused optimizer kernel ``kernel_name`` (``"sgd_update"``,
    ``"rmsprop_update"``, ``"adam_update"``) on each Variable of ``variables``
    in place, with ONE kernel-API call for the whole list (its ``_foreach``
    form, which checks the hyperparameters once and every array as usual).

    ``grads[i]`` is the gradient of ``variables[i]`` and ``slots[i]`` the list
    of optimizer state Variables for it (from ``zeros_variable``), updated in
    place too; ``hyperparameters`` go to the kernel as keywords
    (``learning_rate=...``).
    """
    if kernel_name not in _UPDATE_KERNELS:
        raise ValueError(f"apply_update: unknown kernel {kernel_name!r}; valid: {list(_UPDATE_KERNELS)}")
    kernel = getattr(kernels, kernel_name + "_foreach")
    if not len(variables) == len(grads) == len(slots):
        raise ValueError(f"apply_updates: {len(variables)} variables, {len(grads)} grads and {len(slots)} "
                         "slot lists; give one of each per variable")
    if not variables:
        return
    be = variables[0]._backend if isinstance(variables[0], Variable) else None
    arrays, grad_arrays = [], []
    for variable, grad in zip(variables, grads):
        if not isinstance(variable, Variable):
            raise TypeError(f"apply_update needs a Variable to update, got {type(variable).__name__}")
        if variable._backend is not be:   # weights on several backends: one call per weight
            for variable, grad, state in zip(variables, grads, slots):
                apply_updates(kernel_name, [variable], [grad], [state], **hyperparameters)
            return
        arrays.append(variable._own_data() if variable._pins else variable._data)   # not an array a tape holds
        grad_arrays.append(grad._data if isinstance(grad, Tensor) else to_array(grad, variable.dtype, be))
    states = [list(map(_array_of, kind)) for kind in zip(*slots)]   # per kind of slot: one array per weight
    kernel(arrays, grad_arrays, *states, backend=be, **hyperparameters)


def apply_update(kernel_name, variable, grad, *slots, **hyperparameters):
    """:func:`apply_updates` on one Variable: ``slots`` are its state Variables.
    Returns ``variable``."""
    apply_updates(kernel_name, [variable], [grad], [slots], **hyperparameters)
    return variable


def _running_total(total, fn):
    if not isinstance(total, Variable):
        raise TypeError(f"{fn}: the running total must be a Variable (ops.zeros_variable((1,), 'float64', ...)), "
                        f"got {type(total).__name__}")
    return total._own_data()


def accumulate_sum(values, total, weight=1.0):
    """``total[0] += weight * sum(values)`` in place, in float64, on the values'
    backend (``kernels.accumulate_sum``): a metric's mean never leaves the device."""
    values = convert(values)
    kernels.accumulate_sum(values._data, _running_total(total, "accumulate_sum"), weight=weight,
                           backend=values._backend)
    return total


def accumulate_correct(scores, labels, total):
    """``total[0] +=`` the rows of (N, C) ``scores`` whose argmax is their label
    (``kernels.accumulate_correct``); ``labels`` may be a ``ClassIds``."""
    scores = convert(scores)
    kernels.accumulate_correct(scores._data, labels, total=_running_total(total, "accumulate_correct"),
                               backend=scores._backend)
    return total


# ------------------------------------------------------------------ creation
def zeros_like(x, dtype=None):
    x = convert(x)
    return _wrap(x._backend.zeros(x.shape, np.dtype(dtype) if dtype else x.dtype), x._backend)


def ones_like(x, dtype=None):
    x = convert(x)
    data = x._backend.full(x.shape, 1, np.dtype(dtype) if dtype else x.dtype)
    return _wrap(data, x._backend)


# ------------------------------------------------------------------ wiring to the layers below
# tensor.py and tape.py sit below this module and never import it: this module
# hands them what they use from it, once, when it is imported.
provide_gradient_ops(add=add, zeros_like=zeros_like, convert=convert)


def _reflected(op):
    """``other <op> tensor`` for a tensor on the right (``2 * x`` is ``multiply(2, x)``)."""
    def reflected(self, other):
        return op(other, self)
    reflected.__name__ = f"reflected_{op.__name__}"
    return reflected


def _comparison(name):
    """``a < b`` and friends: element-wise ``compare`` giving a bool tensor."""
    def comparison(self, other):
        return compare(self, other, name)
    comparison.__name__ = name
    return comparison


def _equality(name):
    """``==`` / ``!=``: element-wise, except that ``x == None`` is False (``!=`` True)."""
    def equality(self, other):
        if other is None:
            return name == "not_equal"
        return compare(self, other, name)
    equality.__name__ = name
    return equality


#: Tensor's Python operators are these ops (``a + b`` is ``add(a, b)``).
TENSOR_OPERATORS = {
    "__add__": add, "__radd__": _reflected(add),
    "__sub__": subtract, "__rsub__": _reflected(subtract),
    "__mul__": multiply, "__rmul__": _reflected(multiply),
    "__truediv__": divide, "__rtruediv__": _reflected(divide),
    "__matmul__": matmul, "__rmatmul__": _reflected(matmul),
    "__neg__": negative, "__abs__": abs, "__pow__": power, "__getitem__": getitem,
    "__lt__": _comparison("less"), "__le__": _comparison("less_equal"),
    "__gt__": _comparison("greater"), "__ge__": _comparison("greater_equal"),
    "__eq__": _equality("equal"), "__ne__": _equality("not_equal"),
}
for _name, _op in TENSOR_OPERATORS.items():
    setattr(Tensor, _name, _op)
del _name, _op
