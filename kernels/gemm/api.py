"""The GEMM family's public functions: ``matmul`` and ``dense_forward``.

Each validates its arguments, allocates the output on the chosen backend and
calls the backend's method of the same name (timed by the thread policy of
kernels/_threads.py).  kernels/gemm/DESIGN.md: the design and the contract.
"""

from __future__ import annotations

import numpy as np

from .._checks import operand, output, through_temporary, finish
from .._dispatch import get_backend
from .._threads import run_gemm


def _as_row_major(be, x, transposed):
    """A C-contiguous array and a transpose flag that together mean ``x``.

    A Fortran-ordered array (such as ``m.T``) is the C-ordered transpose of
    its base, so it is passed as that with the flag flipped: no copy.
    """
    if be.is_c_contiguous(x):
        return x, transposed
    if be.is_f_contiguous(x):
        return x.T, not transposed
    return be.ascontiguous(x), transposed


def matmul(a, b, *, transpose_a=False, transpose_b=False, out=None, backend=None):
    """``op(a) @ op(b)`` for 2-D float arrays, ``op`` = transpose if asked.

    The compiled backends implement the Goto/BLIS cache-blocked GEMM; pass
    ``out`` to write into an existing C-contiguous array.
    """
    be = get_backend(backend)
    a = operand(be, a, "a", "matmul", ndim=2, contiguous=False)   # a transposed view stays one
    b = operand(be, b, "b", "matmul", a.dtype, ndim=2, contiguous=False)
    m, k = (a.shape[1], a.shape[0]) if transpose_a else a.shape
    k2, n = (b.shape[1], b.shape[0]) if transpose_b else b.shape
    if k != k2:
        raise ValueError(
            f"matmul: inner dimensions differ: op(a) is {m}x{k} (a.shape={tuple(a.shape)}, "
            f"transpose_a={transpose_a}) and op(b) is {k2}x{n} (b.shape={tuple(b.shape)}, "
            f"transpose_b={transpose_b})"
        )
    given = out is not None
    out = output(be, out, (m, n), a.dtype, "matmul")
    if m == 0 or n == 0:
        return out
    if k == 0:
        be.write(out, np.zeros((m, n), a.dtype))
        return out
    a, transpose_a = _as_row_major(be, a, bool(transpose_a))
    b, transpose_b = _as_row_major(be, b, bool(transpose_b))
    target = through_temporary(be, out, a, b) if given else out
    run_gemm(be, 2.0 * m * n * k, ("matmul", m, n, k, transpose_a, transpose_b, a.dtype.char),
             be.matmul, a, b, transpose_a, transpose_b, target)
    return out if target is out else finish(be, out, target)


# ---------------------------------------------------------------- dense
def dense_forward(x, w, b=None, activation=None, *, out=None, backend=None):
    """``activation(x @ w + b)`` with the bias and relu fused into the GEMM.

    ``x`` is (N, K), ``w`` (K, M), ``b`` (M,) or None; ``activation`` is
    ``"relu"`` or None.
    """
    be = get_backend(backend)
    fn = "dense_forward"
    x = operand(be, x, "x", fn, ndim=2)
    w = operand(be, w, "w", fn, x.dtype, ndim=2)
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"{fn}: x has shape {tuple(x.shape)} but w has {tuple(w.shape)}; "
            f"x.shape[1] must equal w.shape[0]"
        )
    if b is not None:
        b = operand(be, b, "b", fn, x.dtype)
        if tuple(b.shape) != (w.shape[1],):
            raise ValueError(f"{fn}: b has shape {tuple(b.shape)}, expected ({w.shape[1]},)")
    if activation not in (None, "relu", "linear"):
        raise ValueError(f"{fn}: activation must be 'relu' or None, got {activation!r}")
    given = out is not None
    out = output(be, out, (x.shape[0], w.shape[1]), x.dtype, fn)
    if out.size == 0:
        return out
    if x.shape[1] == 0:  # no inputs: every row is the bias (through relu)
        row = np.zeros(w.shape[1], x.dtype) if b is None else be.to_numpy(b)
        if activation == "relu":
            row = np.maximum(row, 0)
        be.write(out, np.broadcast_to(row, out.shape))
        return out
    target = through_temporary(be, out, x, w, b) if given else out
    m, k, n = x.shape[0], x.shape[1], w.shape[1]
    run_gemm(be, 2.0 * m * n * k, ("dense", m, n, k, x.dtype.char),
             be.dense_forward, x, w, b, activation == "relu", target)
    return out if target is out else finish(be, out, target)
