"""The element-wise family in Numba: single passes that LLVM vectorizes.

Each flat kernel is a range kernel, ``_x_range(lo, hi, args)`` over elements
``lo <= i < hi`` of the flat arrays in ``args``, made parallel by the one
chunked ``prange`` skeleton of kernels/_numba (``run_chunked``): on the calling
thread below ``PARALLEL_MIN`` elements, in chunks over the threads above.
``bias_grad`` and ``relu_bias_grad`` are column sums over (N, M) arrays, one
pass each.  Every ``@njit`` uses ``cache=True``; flags arrive as Python bools
and the scalars in the arrays' dtype, so each kernel has one compiled
specialization per dtype.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, pool, run_chunked
from .._numba.cache import depends_on, guard_caches
from .._numba.intrinsics import _zero

depends_on(__file__, "_numba/__init__.py", "_numba/intrinsics.py")  # run_chunked, _zero are compiled in


# ---------------------------------------------------------------- relu
@njit(cache=True)
def _relu_range(lo, hi, args):
    """out = max(x, 0): a branch-free select LLVM turns into vmaxps-like code."""
    x, out = args
    z = _zero(x)
    for i in range(lo, hi):
        v = x[i]
        out[i] = z if v <= z else v  # NaN propagates, as in np.maximum


@njit(cache=True)
def _relu_backward_range(lo, hi, args):
    """out = g where x > 0 else 0 (a masked select, vectorized)."""
    g, x, out = args
    z = _zero(x)
    for i in range(lo, hi):
        out[i] = g[i] if x[i] > z else z


# ---------------------------------------------------------------- dropout
@njit(cache=True)
def _dropout_range(lo, hi, args):
    """Inverted dropout, fused: compare the draw with the rate, write the
    scaled mask and the scaled input in one pass (threshold and scale arrive
    in x's dtype, so the result matches the NumPy reference bit for bit)."""
    x, u, threshold, scale, out, mask = args
    z = _zero(x)
    for i in range(lo, hi):
        keep = u[i] >= threshold
        mask[i] = scale if keep else z
        out[i] = x[i] * scale if keep else z


@njit(cache=True)
def _dropout_backward_range(lo, hi, args):
    """out = g * mask where the mask kept the unit, else 0."""
    g, mask, out = args
    z = _zero(g)
    for i in range(lo, hi):
        m = mask[i]
        out[i] = g[i] * m if m != z else z


@njit(cache=True, parallel=True)
def _relu(n, args):
    """relu over n elements, in chunks over threads when long."""
    run_chunked(_relu_range, n, args)


@njit(cache=True, parallel=True)
def _relu_backward(n, args):
    """relu's backward over n elements."""
    run_chunked(_relu_backward_range, n, args)


@njit(cache=True, parallel=True)
def _dropout(n, args):
    """dropout's forward over n elements."""
    run_chunked(_dropout_range, n, args)


@njit(cache=True, parallel=True)
def _dropout_backward(n, args):
    """dropout's backward over n elements."""
    run_chunked(_dropout_backward_range, n, args)


# ---------------------------------------------------------------- bias grad
@njit(cache=True)
def _bias_grad(g, out):
    """Column sums.  Eight rows at a time are added pairwise in g's dtype (three
    roundings), and each partial sum goes into a float64 accumulator row, which
    is rounded once into ``out``.  Every read is contiguous, so the loops
    vectorize; one float64 add per eight rows (not per row) is what makes this
    faster than NumPy's column sum, and more exact at any batch size."""
    n, m = g.shape
    acc = np.zeros(m, np.float64)
    n8 = n - n % 8
    for i in range(0, n8, 8):
        for j in range(m):
            acc[j] += (((g[i, j] + g[i + 1, j]) + (g[i + 2, j] + g[i + 3, j]))
                       + ((g[i + 4, j] + g[i + 5, j]) + (g[i + 6, j] + g[i + 7, j])))
    for i in range(n8, n):
        for j in range(m):
            acc[j] += g[i, j]
    for j in range(m):
        out[j] = acc[j]


@njit(cache=True)
def _relu_bias_grad(g, x, out, db):
    """out = g where x > 0 else 0 (relu's backward) and db = the column sums of
    out (a Dense layer's bias gradient) in one pass: each block of eight rows
    is masked into out and summed while still in cache, as ``_bias_grad``
    sums, so db is ``_bias_grad(out)`` bit for bit."""
    n, m = g.shape
    z = _zero(x)
    acc = np.zeros(m, np.float64)
    n8 = n - n % 8
    for i in range(0, n8, 8):
        for r in range(i, i + 8):
            for j in range(m):
                out[r, j] = g[r, j] if x[r, j] > z else z
        for j in range(m):
            acc[j] += (((out[i, j] + out[i + 1, j]) + (out[i + 2, j] + out[i + 3, j]))
                       + ((out[i + 4, j] + out[i + 5, j]) + (out[i + 6, j] + out[i + 7, j])))
    for i in range(n8, n):
        for j in range(m):
            out[i, j] = g[i, j] if x[i, j] > z else z
            acc[j] += out[i, j]
    for j in range(m):
        db[j] = acc[j]


# ---------------------------------------------------------------- the backend's methods
def relu(x, out):
    pool.run(_relu, x.shape[0], (x, out))
    return out


def relu_backward(grad_out, x, out):
    pool.run(_relu_backward, x.shape[0], (grad_out, x, out))
    return out


def dropout_forward(x, uniform, rate, scale, out, mask):
    t = x.dtype.type
    pool.run(_dropout, x.shape[0], (x, uniform, t(rate), t(scale), out, mask))


def dropout_backward(grad_out, mask, out):
    pool.run(_dropout_backward, grad_out.shape[0], (grad_out, mask, out))
    return out


def bias_grad(grad_out, out):
    _bias_grad(grad_out, out)
    return out


def relu_bias_grad(grad_out, x, out, bias_out):
    _relu_bias_grad(grad_out, x, out, bias_out)


guard_caches(globals())  # a corrupt cache entry is dropped and recompiled
