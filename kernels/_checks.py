"""The checks every family's public functions share: operands, outputs, overlaps, numbers.

Every public kernel function checks its arguments in Python and raises a
clear ``ValueError`` or ``TypeError`` before any compiled code runs
(compiled kernels run with bounds checks off, so a bad shape must never
reach them).  These are the shared steps; each family's ``api.py`` adds its
own (shapes that must agree, label ranges, hyperparameters).
"""

from __future__ import annotations

import math

import numpy as np

FLOATS = "float32 or float64"


def float_array(be, x, what, fn, dtype=None):
    if not be.is_array(x):
        x = np.asarray(x)
        if x.dtype.kind in "biu" or x.dtype == object:
            raise TypeError(
                f"{fn}: {what} must be a float32 or float64 array, got {x.dtype}"
            )
        x = be.asarray(x)
    if x.dtype not in be.dtypes:
        names = " or ".join(str(d) for d in be.dtypes)
        raise TypeError(f"{fn}: {what} has dtype {x.dtype}; the {be.name} backend takes {names}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{fn}: {what} has dtype {x.dtype} but the other operands are {dtype}; "
            "cast one of them so the dtypes match"
        )
    return x


def rank(x, ndim, what, fn):
    if x.ndim != ndim:
        raise ValueError(f"{fn}: {what} must be {ndim}-D, got shape {tuple(x.shape)}")


def c_contiguous(be, x):
    return x if be.is_c_contiguous(x) else be.ascontiguous(x)


def operand(be, x, what, fn, dtype=None, ndim=None, contiguous=True):
    """``x`` as a kernel reads it: a float array of ``be`` (of ``dtype`` and
    rank ``ndim`` when given), C-contiguous (copied when not) unless
    ``contiguous=False``.  Every operand of every kernel call goes through
    here, so an array that passes as it is (the usual case) costs one frame
    and two flag tests; anything else takes the checks above."""
    if not (be.is_array(x) and x.dtype in be.dtypes and (dtype is None or x.dtype == dtype)
            and (not contiguous or be.is_c_contiguous(x))):
        x = float_array(be, x, what, fn, dtype)
        if contiguous:
            x = c_contiguous(be, x)
    if ndim is not None and x.ndim != ndim:
        rank(x, ndim, what, fn)
    return x


def output(be, out, shape, dtype, fn):
    if out is None:
        return be.empty(shape, dtype)
    if not be.is_array(out):
        raise TypeError(f"{fn}: out must be a {be.name} array, got {type(out).__name__}")
    if tuple(out.shape) != tuple(shape) or out.dtype != dtype:
        raise ValueError(
            f"{fn}: out has shape {tuple(out.shape)} and dtype {out.dtype}; "
            f"expected shape {tuple(shape)} and dtype {dtype}"
        )
    if not be.is_c_contiguous(out) or not be.is_writeable(out):
        raise ValueError(f"{fn}: out must be a writeable C-contiguous array")
    return out


def overlaps(be, out, *inputs):
    """True when ``out`` shares memory with any of ``inputs`` (None skipped).

    A kernel writes its output while it still reads its inputs (the GEMM
    reads a block of A long after the rows of C it packed it from were
    written), so an output that aliases an input is computed into a fresh
    array and copied over; outputs the API allocated never alias.
    """
    may_overlap = be.may_overlap
    for x in inputs:          # a plain loop: this runs on every kernel call given ``out``
        if x is not None and may_overlap(out, x):
            return True
    return False


def through_temporary(be, out, *inputs):
    """Where the kernel should write: ``out``, or a fresh array when ``out``
    overlaps an input (the caller then copies it into ``out``)."""
    return be.empty(out.shape, out.dtype) if overlaps(be, out, *inputs) else out


def elementwise_target(be, out, *inputs):
    """Like :func:`through_temporary` for kernels that read each element (or
    row) before writing it: ``out`` being exactly an input is safe there, so
    only a partial overlap (a shifted view of the same buffer) needs a copy."""
    for x in inputs:
        if be.may_overlap(out, x) and not (be.same_start(out, x) and out.shape == x.shape):
            return be.empty(out.shape, out.dtype)
    return out


def finish(be, out, target):
    """Copy the result computed into a temporary (``target``) into ``out``."""
    be.copy_into(out, target)
    return out


def positive_float(value, what, fn, allow_zero=False):
    if type(value) is float and (0.0 < value < math.inf or allow_zero and value == 0.0):
        return value   # already a float in range: the optimizers' case, every weight of every step
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: {what} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{fn}: {what} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value
