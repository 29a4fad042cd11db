"""What every op file is built on: operands made tensors, and the one place an op is recorded.

An op converts its operands with :func:`convert` (or :func:`_pair` for two
that must share a dtype), computes its output array with the kernels or the
backend's array namespace ``xp``, and returns it through :func:`_result`,
which wraps it and writes the op down on the recording tapes, if any;
:func:`input_of` reads where an output came from, for the ops that keep it.
:func:`_fused_gradient` is the one choice between a fused kernel's stored
gradient and a differentiable one.
"""

from __future__ import annotations

import builtins

import numpy as np

from ..kernels import get_backend
from ..tape import _thread_tapes, is_recording, record
from ..tensor import Tensor, to_array

_wrap = Tensor._wrap

#: set by tapegrad.trace while a function is traced: told each op's output and inputs
#: (how the tracer learns which arrays are Variables'); None otherwise
_observer = None


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
    if _observer is not None:
        _observer(out, inputs)
    if _thread_tapes.stack:
        if saves_output:
            ctx = out if ctx is None else ctx + (out,)
        record(out, inputs, backward, ctx)
    return out


def input_of(y, op):
    """The tensor ``y`` was computed from by the op named ``op``, when that op
    recorded it in ``y._source`` (softmax and sigmoid do: a cross-entropy of
    their output then starts from the logits), else None."""
    source = getattr(y, "_source", None)   # unset on most tensors: getattr's default
    return source[1] if source is not None and source[0] == op else None


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
