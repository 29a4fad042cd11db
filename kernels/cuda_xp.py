"""The array contract on Numba device arrays: ``CudaBackend.xp``.

The autodiff layer does some generic array math outside the kernels
(broadcasting arithmetic, exp/log, sums, argmax...): exactly the names of
``ARRAY_OPS`` in kernels/_backend.py.  For a host backend they are NumPy's
own functions; for the cuda backend this module implements each of them, and
``CudaBackend.xp`` exposes exactly those (any other name is an AttributeError,
never a silent trip through the host).

Two paths inside each function:

* **on the device** (float32 operands, the common cases of a training
  step): element-wise binary ops with NumPy broadcasting (up to 4-D),
  array-scalar ops, comparisons (giving bool arrays), unary math, sum /
  mean / max over leading or trailing axes, argmax over any axis,
  broadcast_to, 2-D transpose, zeros/ones/full, copies and casts to the
  same dtype;
* **the slow generic path**, stated in each function that takes it (other
  dtypes, ``logical_and`` of bool arrays, ``add.at``, N-D transposes,
  middle-axis reductions): copy the device arrays to the host, run NumPy,
  copy the result back.  It is correct, and about two PCIe copies slower
  than it needs to be; a training step does not use it, because training
  runs the fused kernels.

Results are always device arrays (a full reduction gives a 0-d array).
"""

from __future__ import annotations

import builtins
import math

import numpy as np
from numba import cuda, float32 as nb_float32

float32 = np.dtype("float32")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")

_F32 = float32
_NEG_INF = np.float32(-np.inf)
_NAN = np.float32(np.nan)
_THREADS = 256
_MAX_BLOCKS = 4096
_NDIM = 4  # broadcasting kernels pad every shape to this rank

# op codes shared by the element-wise kernels
_ADD, _SUB, _MUL, _DIV, _POW, _MAX, _MIN, _LEFT = range(8)
_GT, _GE, _LT, _LE, _EQ, _NE = range(8, 14)
_NEG, _EXP, _LOG, _SQRT, _SQUARE, _ABS, _SIGN, _TANH, _COPY = range(9)


# ====================================================================== kernels
@cuda.jit(device=True)
def _apply(op, x, y):
    """One binary op on two scalars (comparisons give 1 or 0)."""
    one = nb_float32(1)
    zero = nb_float32(0)
    if op == _ADD:
        return x + y
    if op == _SUB:
        return x - y
    if op == _MUL:
        return x * y
    if op == _DIV:
        return x / y
    if op == _POW:
        return x ** y
    if op == _MAX:   # NaN-propagating, like np.maximum
        return x if (x >= y or x != x) else y
    if op == _MIN:
        return x if (x <= y or x != x) else y
    if op == _LEFT:
        return x
    if op == _GT:
        return one if x > y else zero
    if op == _GE:
        return one if x >= y else zero
    if op == _LT:
        return one if x < y else zero
    if op == _LE:
        return one if x <= y else zero
    if op == _EQ:
        return one if x == y else zero
    return one if x != y else zero


@cuda.jit
def _binary_kernel(op, a, a_strides, b, b_strides, out, shape):
    """out.flat[i] = a[..] op b[..]: ``a``, ``b`` flat, broadcast by 0 strides."""
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, out.shape[0], stride):
        rest = i
        ai = 0
        bi = 0
        for d in range(_NDIM - 1, -1, -1):   # unravel i over the padded shape
            coord = rest % shape[d]
            rest //= shape[d]
            ai += coord * a_strides[d]
            bi += coord * b_strides[d]
        out[i] = _apply(op, a[ai], b[bi])


@cuda.jit
def _scalar_kernel(op, a, s, scalar_first, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, out.shape[0], stride):
        if scalar_first:
            out[i] = _apply(op, s, a[i])
        else:
            out[i] = _apply(op, a[i], s)


@cuda.jit
def _unary_kernel(op, x, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    zero = nb_float32(0)
    one = nb_float32(1)
    for i in range(start, out.shape[0], stride):
        v = x[i]
        if op == _NEG:
            r = -v
        elif op == _EXP:
            r = math.exp(v)
        elif op == _LOG:
            # (the GPU's logf/sqrtf give these too; the simulator's math raises)
            r = math.log(v) if v > zero else (_NEG_INF if v == zero else _NAN)
        elif op == _SQRT:
            r = math.sqrt(v) if v >= zero else _NAN
        elif op == _SQUARE:
            r = v * v
        elif op == _ABS:
            r = math.fabs(v)
        elif op == _SIGN:
            r = one if v > zero else (-one if v < zero else (zero if v == zero else v))
        elif op == _TANH:
            r = math.tanh(v)
        else:
            r = v
        out[i] = r


@cuda.jit
def _reduce_rows_kernel(x, out, is_max):
    """out[r] = sum (or max) of row r of a (R, C) array: one block per row."""
    sh = cuda.shared.array(_THREADS, nb_float32)
    r = cuda.blockIdx.x
    t = cuda.threadIdx.x
    c = x.shape[1]
    acc = x[r, 0] if is_max else nb_float32(0)
    for j in range(t, c, _THREADS):
        v = x[r, j]
        if is_max:
            acc = v if (v > acc or v != v) else acc
        else:
            acc += v
    sh[t] = acc
    cuda.syncthreads()
    step = _THREADS // 2
    while step > 0:
        if t < step:
            if is_max:
                w = sh[t + step]
                if w > sh[t] or w != w:
                    sh[t] = w
            else:
                sh[t] += sh[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        out[r] = sh[0]


@cuda.jit
def _reduce_cols_kernel(x, out, is_max):
    """out[c] = sum (or max) of column c of a (R, C) array: a thread per column."""
    j = cuda.grid(1)
    if j < x.shape[1]:
        acc = x[0, j] if is_max else nb_float32(0)
        for i in range(x.shape[0]):
            v = x[i, j]
            if is_max:
                acc = v if (v > acc or v != v) else acc
            else:
                acc += v
        out[j] = acc


@cuda.jit
def _argmax_kernel(x, out):
    """out[o, k] = argmax over j of x[o, j, k] (first index of the max; NaN wins)."""
    idx = cuda.grid(1)
    outer, n, inner = x.shape
    if idx < outer * inner:
        o = idx // inner
        k = idx % inner
        best = x[o, 0, k]
        arg = 0
        if best == best:
            for j in range(1, n):
                v = x[o, j, k]
                if v > best or v != v:
                    best = v
                    arg = j
                    if v != v:
                        break
        out[o, k] = arg


@cuda.jit
def _transpose_kernel(x, out):
    j, i = cuda.grid(2)
    if i < x.shape[0] and j < x.shape[1]:
        out[j, i] = x[i, j]


# ====================================================================== helpers
def is_array(x) -> bool:
    return getattr(type(x), "__cuda_ndarray__", False) is True


def _grid(n):
    return builtins.max(1, builtins.min(math.ceil(n / _THREADS), _MAX_BLOCKS)), _THREADS


def _empty(shape, dtype):
    return cuda.device_array(tuple(shape), dtype=np.dtype(dtype))


def _device(x):
    """A C-contiguous device array for an array-like (copies host data once)."""
    if is_array(x):
        return x if x.is_c_contiguous() else _from_host(_host(x))
    return _from_host(np.asarray(x))


def _from_host(a):
    return cuda.to_device(np.array(a, order="C", copy=None))  # keeps 0-d arrays 0-d


def _host(x):
    if is_array(x):
        return x.copy_to_host()
    if isinstance(x, (list, tuple)):
        return type(x)(_host(v) for v in x)
    return x


def _flat(x):
    return x.reshape(x.size) if x.ndim != 1 else x


def _is_scalar(x) -> bool:
    return isinstance(x, (int, float, bool, np.number, np.bool_)) and not is_array(x)


def _result_dtype(a, b):
    def like(x):
        if is_array(x):
            return np.empty(0, x.dtype)
        return x if _is_scalar(x) else np.asarray(x)
    return np.result_type(like(a), like(b))


def _host_call(fn, *args, **kwargs):
    """The slow generic path: run NumPy on host copies, copy the result back."""
    result = fn(*[_host(a) for a in args], **{k: _host(v) for k, v in kwargs.items()})
    return _to_device_result(result)


def _to_device_result(result):
    if isinstance(result, tuple):
        return tuple(_to_device_result(r) for r in result)
    if isinstance(result, (np.ndarray, np.generic)):
        return _from_host(np.asarray(result))
    return result


def _padded(shape):
    return (1,) * (_NDIM - len(shape)) + tuple(shape)


def _broadcast_strides(shape, out_shape):
    """Element strides of a C-contiguous ``shape`` read as ``out_shape`` (0 where broadcast)."""
    shape = _padded(shape)
    strides = [0] * _NDIM
    step = 1
    for d in range(_NDIM - 1, -1, -1):
        strides[d] = step if shape[d] != 1 else 0
        step *= shape[d]
    if len(out_shape) > _NDIM:
        raise ValueError
    return tuple(strides)


# ====================================================================== element-wise
class _Binary:
    """A binary ufunc-like: ``xp.add(a, b)``, plus ``xp.add.at`` on the host."""

    def __init__(self, name, op, numpy_fn):
        self.__name__ = name
        self.op = op
        self.numpy_fn = numpy_fn

    def __repr__(self):
        return f"<tapegrad cuda xp.{self.__name__}>"

    def __call__(self, a, b, out=None):
        result = self._device_call(a, b)
        if result is None:
            result = _host_call(self.numpy_fn, a, b)
        if out is not None:
            out.copy_to_device(result)
            return out
        return result

    def _device_call(self, a, b):
        compare = self.op >= _GT
        if not (is_array(a) or is_array(b)):
            return None
        try:
            if _result_dtype(a, b) != _F32:   # other dtypes: the host path
                return None
        except TypeError:
            return None
        out_dtype = bool_ if compare else _F32
        if _is_scalar(a) or _is_scalar(b):
            arr, s, first = (b, a, True) if _is_scalar(a) else (a, b, False)
            arr = _device(arr)
            out = _empty(arr.shape, out_dtype)
            if out.size:
                _scalar_kernel[_grid(out.size)](self.op, _flat(arr), np.float32(s), int(first),
                                                _flat(out))
            return out
        a, b = _device(a), _device(b)
        if a.dtype != _F32 or b.dtype != _F32:
            return None
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(
                f"operands could not be broadcast together with shapes {a.shape} {b.shape}"
            ) from None
        if len(shape) > _NDIM:
            return None
        out = _empty(shape, out_dtype)
        if out.size:
            _binary_kernel[_grid(out.size)](
                self.op, _flat(a), _broadcast_strides(a.shape, shape),
                _flat(b), _broadcast_strides(b.shape, shape), _flat(out), _padded(shape))
        return out

    def at(self, a, indices, b=None):
        """In place on a device array, through the host (the slow path)."""
        host = a.copy_to_host()
        key = _host(indices)
        if b is None:
            getattr(np, self.numpy_fn.__name__).at(host, key)
        else:
            self.numpy_fn.at(host, key, _host(b))
        a.copy_to_device(host)


add = _Binary("add", _ADD, np.add)
subtract = _Binary("subtract", _SUB, np.subtract)
multiply = _Binary("multiply", _MUL, np.multiply)
true_divide = _Binary("true_divide", _DIV, np.true_divide)
power = _Binary("power", _POW, np.power)
maximum = _Binary("maximum", _MAX, np.maximum)
minimum = _Binary("minimum", _MIN, np.minimum)
greater = _Binary("greater", _GT, np.greater)
greater_equal = _Binary("greater_equal", _GE, np.greater_equal)
less = _Binary("less", _LT, np.less)
less_equal = _Binary("less_equal", _LE, np.less_equal)
equal = _Binary("equal", _EQ, np.equal)
not_equal = _Binary("not_equal", _NE, np.not_equal)


def _unary(name, op, numpy_fn):
    def fn(x, out=None):
        if is_array(x) and x.dtype == _F32:
            x = _device(x)
            result = _empty(x.shape, _F32)
            if result.size:
                _unary_kernel[_grid(x.size)](op, _flat(x), _flat(result))
        else:
            result = _host_call(numpy_fn, x)
        if out is not None:
            out.copy_to_device(result)
            return out
        return result
    fn.__name__ = name
    fn.__doc__ = f"Element-wise ``np.{numpy_fn.__name__}`` (on the device for float32)."
    return fn


negative = _unary("negative", _NEG, np.negative)
exp = _unary("exp", _EXP, np.exp)
log = _unary("log", _LOG, np.log)
sqrt = _unary("sqrt", _SQRT, np.sqrt)
square = _unary("square", _SQUARE, np.square)
abs = _unary("abs", _ABS, np.abs)  # noqa: A001
sign = _unary("sign", _SIGN, np.sign)
tanh = _unary("tanh", _TANH, np.tanh)


def clip(x, a_min, a_max):
    if is_array(x) and x.dtype == _F32 and _is_scalar(a_min) and _is_scalar(a_max):
        return minimum(maximum(x, a_min), a_max)
    return _host_call(np.clip, x, a_min, a_max)


def logical_and(a, b):
    """Element-wise ``a and b`` of two bool arrays (the slow generic path: host)."""
    return _host_call(np.logical_and, a, b)


# ====================================================================== reductions
def _normalize_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted({int(a) % builtins.max(ndim, 1) for a in axes}))


def _reduce(x, axis, keepdims, is_max, numpy_fn):
    if not (is_array(x) and x.dtype == _F32 and x.size):
        return _host_call(numpy_fn, x, axis=axis, keepdims=keepdims)
    x = _device(x)
    axes = _normalize_axes(axis, x.ndim)
    kept_shape = tuple(1 if d in axes else n for d, n in enumerate(x.shape))
    final_shape = kept_shape if keepdims else tuple(n for d, n in enumerate(x.shape) if d not in axes)
    nd = x.ndim
    if not axes:
        return copy(x)
    if axes == tuple(range(nd - len(axes), nd)):      # trailing axes: rows
        rows = x.size // math.prod(x.shape[d] for d in axes)
        out = _empty((rows,), _F32)
        _reduce_rows_kernel[rows, _THREADS](x.reshape(rows, x.size // rows), out, int(is_max))
    elif axes == tuple(range(len(axes))):             # leading axes: columns
        cols = x.size // math.prod(x.shape[d] for d in axes)
        out = _empty((cols,), _F32)
        _reduce_cols_kernel[_grid(cols)[0], _THREADS](x.reshape(x.size // cols, cols), out,
                                                      int(is_max))
    else:
        return _host_call(numpy_fn, x, axis=axis, keepdims=keepdims)
    return out.reshape(final_shape) if final_shape else out.reshape(())


def sum(x, axis=None, keepdims=False, dtype=None):  # noqa: A001
    if dtype is not None and (not is_array(x) or np.dtype(dtype) != x.dtype):
        return _host_call(np.sum, x, axis=axis, keepdims=keepdims, dtype=dtype)
    return _reduce(x, axis, keepdims, False, np.sum)


def mean(x, axis=None, keepdims=False):
    if not (is_array(x) and x.dtype == _F32 and x.size):
        return _host_call(np.mean, x, axis=axis, keepdims=keepdims)
    axes = _normalize_axes(axis, x.ndim)
    count = math.prod(x.shape[d] for d in axes)
    return multiply(sum(x, axis=axis, keepdims=keepdims), 1.0 / count)


def max(x, axis=None, keepdims=False):  # noqa: A001
    return _reduce(x, axis, keepdims, True, np.max)


def argmax(x, axis=None):
    """Index of the first largest entry along ``axis`` (flat index if None); int64."""
    if not (is_array(x) and x.dtype == _F32 and x.size):
        return _host_call(np.argmax, x, axis=axis)
    x = _device(x)
    if axis is None:
        shape3, final = (1, x.size, 1), ()
    else:
        axis = int(axis) % x.ndim
        outer = math.prod(x.shape[:axis])
        inner = math.prod(x.shape[axis + 1:])
        shape3 = (outer, x.shape[axis], inner)
        final = x.shape[:axis] + x.shape[axis + 1:]
    out = _empty((shape3[0], shape3[2]), int64)
    _argmax_kernel[_grid(shape3[0] * shape3[2])[0], _THREADS](x.reshape(shape3), out)
    return out.reshape(final) if final else out.reshape(())


# ====================================================================== shapes & creation
def take(x, index, axis=None):
    """``np.take``: the slow generic path (copied to the host and back); a traced
    step, the one that gathers its batches with it, runs on the host backends only."""
    return _host_call(np.take, x, index, axis=axis)


def asarray(x, dtype=None):
    if is_array(x):
        return x if dtype is None or np.dtype(dtype) == x.dtype else astype(x, dtype)
    return _from_host(np.asarray(x, dtype=dtype))


def array(x, dtype=None, copy=True):  # noqa: A002
    if is_array(x):
        return astype(x, dtype) if dtype is not None else globals()["copy"](x)
    return _from_host(np.array(x, dtype=dtype))


def copy(x):
    """A new C-contiguous device array with the same values."""
    if not is_array(x):
        return _from_host(np.array(x))
    if not x.is_c_contiguous():
        return _device(x)
    out = _empty(x.shape, x.dtype)
    if x.size:
        out.copy_to_device(x)
    return out


def astype(x, dtype):
    """``x.astype(dtype)`` as a function (device arrays have no ``astype``)."""
    dtype = np.dtype(dtype)
    if is_array(x) and x.dtype == dtype:
        return copy(x)
    return _from_host(np.asarray(_host(x)).astype(dtype))


def transpose(x, axes=None):
    x = _device(x)
    if x.ndim < 2 or (axes is not None and tuple(axes) == tuple(range(x.ndim))):
        return x
    if x.ndim == 2 and x.dtype == _F32:
        out = _empty((x.shape[1], x.shape[0]), _F32)
        grid = (math.ceil(x.shape[1] / 16), math.ceil(x.shape[0] / 16))
        _transpose_kernel[grid, (16, 16)](x, out)
        return out
    return _host_call(np.transpose, x, axes)


def broadcast_to(x, shape):
    """A materialized (C-contiguous) broadcast: device arrays have no 0 strides."""
    shape = tuple(shape)
    if is_array(x) and x.dtype == _F32 and len(shape) <= _NDIM:
        x = _device(x)
        np.broadcast_shapes(x.shape, shape)  # raises for incompatible shapes
        out = _empty(shape, _F32)
        if out.size:
            flat = _flat(x)
            strides = _broadcast_strides(x.shape, shape)
            _binary_kernel[_grid(out.size)](_LEFT, flat, strides, flat, strides, _flat(out),
                                            _padded(shape))
        return out
    return _from_host(np.broadcast_to(_host(x), shape))

