"""The GEMM family's public functions: ``matmul`` and ``dense_forward``.

Each validates its arguments, allocates the output on the chosen backend and
calls the backend's method of the same name (timed by the thread policy of
kernels/_threads.py).  kernels/gemm/DESIGN.md: the design and the contract.
"""

from __future__ import annotations

import numpy as np

from .._checks import finish, operand, output, rank, through_temporary
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


# ---------------------------------------------------------------- fused for a training step
def row_index(rows, count, fn):
    """``rows`` as the fused kernels read it: a private 1-D int64 NumPy array
    (copied, so nothing can change it after this check) of row numbers in
    [0, count).  A compiled kernel reads x[rows[i]] without bounds checks,
    so a row out of range must be refused here."""
    given = np.asarray(rows)
    if given.ndim != 1 or given.dtype.kind not in "iu":
        raise TypeError(f"{fn}: rows must be a 1-D integer array, got dtype {given.dtype} and "
                        f"shape {tuple(given.shape)}")
    index = np.array(given, dtype=np.int64, copy=True)
    # read as unsigned, a negative row is larger than any count: one maximum checks both ends
    if index.size and np.maximum.reduce(index.view(np.uint64)) >= count:
        raise ValueError(f"{fn}: rows must lie in [0, {count}) (the rows of x); got values from "
                         f"{index.min()} to {index.max()}")
    return index


def dense_forward_rows(x, rows, w, b=None, activation=None, *, out=None, backend=None):
    """``activation(x[rows] @ w + b)``: ``dense_forward`` on a batch of rows of
    ``x`` named by ``rows`` (a shuffled batch), gathered while A is packed.

    The batch is never copied out as an array of its own: the compiled
    backends copy its rows into the GEMM's packed blocks of A, which they
    make anyway (kernels/gemm/DESIGN.md, "Fused kernels").
    """
    be = get_backend(backend)
    fn = "dense_forward_rows"
    x = operand(be, x, "x", fn, ndim=2)
    w = operand(be, w, "w", fn, x.dtype, ndim=2)
    index = row_index(rows, x.shape[0], fn)
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"{fn}: x has shape {tuple(x.shape)} but w has {tuple(w.shape)}; "
                         f"x.shape[1] must equal w.shape[0]")
    if b is not None:
        b = operand(be, b, "b", fn, x.dtype)
        if tuple(b.shape) != (w.shape[1],):
            raise ValueError(f"{fn}: b has shape {tuple(b.shape)}, expected ({w.shape[1]},)")
    if activation not in (None, "relu", "linear"):
        raise ValueError(f"{fn}: activation must be 'relu' or None, got {activation!r}")
    m, k, n = index.size, x.shape[1], w.shape[1]
    if m == 0 or n == 0 or k == 0:   # no product to compute: dense_forward's answer for these shapes
        return dense_forward(be.empty((m, k), x.dtype), w, b, activation, out=out, backend=be)
    given = out is not None
    out = output(be, out, (m, n), x.dtype, fn)
    target = through_temporary(be, out, x, w, b) if given else out
    run_gemm(be, 2.0 * m * n * k, ("dense_rows", m, n, k, x.dtype.char),
             be.dense_forward_rows, x, index, w, b, activation == "relu", target)
    return out if target is out else finish(be, out, target)


def weight_grad_rmsprop(x, g, w, v, *, rows=None, learning_rate=0.001, rho=0.9, epsilon=1e-7, backend=None):
    """One RMSprop step of a Dense layer's weights from its input and output gradient.

    The gradient is ``dW = op(x).T @ g`` (``op(x)`` = ``x[rows]``, or ``x``
    when ``rows`` is None); ``w`` and its mean squares ``v`` are updated in
    place as :func:`tapegrad.kernels.rmsprop_update` updates them, and ``w``
    is returned.  The compiled backends apply the update to each tile of dW
    while it is still in the GEMM's registers, so dW is never stored
    (kernels/gemm/DESIGN.md, "Fused kernels").
    """
    from ..optim.api import _distinct_state, _updated_in_place, rmsprop_settings   # one family's checks

    be = get_backend(backend)
    fn = "weight_grad_rmsprop"
    lr, rho, eps = rmsprop_settings(learning_rate, rho, epsilon, fn)
    w = _updated_in_place(be, w, "w", fn)
    rank(w, 2, "w", fn)
    v = _updated_in_place(be, v, "v", fn, w.dtype, w.shape)
    x = operand(be, x, "x", fn, w.dtype, ndim=2)
    g = operand(be, g, "g", fn, w.dtype, ndim=2)
    index = None if rows is None else row_index(rows, x.shape[0], fn)
    batch = x.shape[0] if index is None else index.size
    if g.shape[0] != batch or (x.shape[1], g.shape[1]) != w.shape:
        raise ValueError(f"{fn}: op(x) is {batch}x{x.shape[1]} (x.shape={tuple(x.shape)}"
                         f"{', rows' if index is not None else ''}) and g is {tuple(g.shape)}, so dW = "
                         f"op(x).T @ g would be {x.shape[1]}x{g.shape[1]}, but w has shape {tuple(w.shape)}")
    x = _distinct_state(be, fn, x, ("v",), [w, v])   # also refuses a w and v that share memory
    g = _distinct_state(be, fn, g, ("v",), [w, v])
    if w.size == 0:
        return w
    if batch == 0:   # dW = 0: the mean squares decay, the weights stay
        be.rmsprop_update(w.reshape(-1), be.asarray(np.zeros(w.size, w.dtype)), v.reshape(-1), lr, rho, eps)
        return w
    m, n = w.shape
    run_gemm(be, 2.0 * m * n * batch, ("weight_grad_rmsprop", m, n, batch, w.dtype.char),
             be.weight_grad_rmsprop, x, index, g, w, v, lr, rho, eps)
    return w
