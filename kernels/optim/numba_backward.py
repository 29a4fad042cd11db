"""The backward pass of a classifier's narrow output layer and its RMSprop steps, in one Numba call.

For a Dense output layer ``z = h @ W + b`` of at most ``NARROW_N`` classes,
fed by a relu layer with bias ``b_prev`` (``h`` its output), the traced step
made four calls after ``dz = dL/dz``: ``dz @ W.T`` (a GEMM),
``bias_grad_rmsprop`` of it masked by ``h > 0`` (b_prev's step, returning
``dh``), ``weight_grad_rmsprop`` (W's step: for so few classes the GEMM
``h.T @ dz``, then ``rmsprop_update``) and ``bias_grad_rmsprop`` of ``dz``
(b's step).  ``_dense_backward_rmsprop`` runs the same compiled functions in
one call from Python, reading W before it changes: every number is the
unfused calls' number, bit for bit, and three calls' Python (checks,
dispatch, Numba's argument unboxing) are saved.  Wider output layers take
the unfused methods (their weight step is the fused GEMM of
kernels/gemm/numba_fused.py).
"""

from __future__ import annotations

import warnings

import numpy as np
from numba.core.errors import NumbaPerformanceWarning

from .._numba import njit, pool
from .._numba.cache import depends_on, guard_caches
from ..elementwise.numba import _bias_grad, _relu_bias_grad
from ..gemm.numba import _NO_BIAS, _NO_ROWS, NARROW_N, _gemm, threads_for
from .numba import _rmsprop_range

depends_on(__file__, "gemm/numba.py", "gemm/numba_microkernels.py", "_numba/intrinsics.py", "elementwise/numba.py",
           "optim/numba.py", "_numba/__init__.py")   # their compiled code is built into this function

# parallel=True like _gemm, which it calls (a cached function that is not, calling a parallel
# one, can crash when loaded from the cache: see kernels/gemm/numba.py); nothing of its own to split
warnings.filterwarnings("ignore", message=r"(?s).*no transformation for parallel execution.*numba_backward\.py",
                        category=NumbaPerformanceWarning)


@njit(cache=True, parallel=True, error_model="numpy")
def _dense_backward_rmsprop(dz, h, w, b, vw, vb, b_prev, vb_prev, lr, rho, one_minus_rho, eps, threads_dh,
                            threads_dw, no_bias, no_rows, pre, dh):
    """dh = (dz @ w.T) masked by h > 0 (into ``dh``, ``pre`` the GEMM's output), then the
    RMSprop steps of b_prev (dh's column sums), w (h.T @ dz) and b (dz's column sums)."""
    m, k = w.shape
    _gemm(dz, w, pre, no_bias, False, False, True, False, threads_dh, no_rows, False)   # w as it was
    db_prev = np.empty_like(b_prev)
    _relu_bias_grad(pre, h, dh, db_prev)
    _rmsprop_range(np.uint64(0), np.uint64(m), (b_prev, db_prev, vb_prev, lr, rho, one_minus_rho, eps))
    grad = np.empty_like(w)
    _gemm(h, dz, grad, no_bias, False, True, False, False, threads_dw, no_rows, False)
    _rmsprop_range(np.uint64(0), np.uint64(m * k),
                   (w.reshape(m * k), grad.reshape(m * k), vw.reshape(m * k), lr, rho, one_minus_rho, eps))
    db = np.empty_like(b)
    _bias_grad(dz, db)
    _rmsprop_range(np.uint64(0), np.uint64(k), (b, db, vb, lr, rho, one_minus_rho, eps))


def fused(w):
    """True when the unfused weight step of ``w`` is the plain GEMM and ``rmsprop_update``."""
    return w.shape[1] <= NARROW_N


def dense_backward_rmsprop(dz, h, w, b, vw, vb, b_prev, vb_prev, lr, rho, eps, dh):
    t = w.dtype.type
    pre = np.empty_like(dh)
    threads_dh, threads_dw = threads_for(dz, False, pre), threads_for(h, True, w)
    args = (dz, h, w, b, vw, vb, b_prev, vb_prev, t(lr), t(rho), t(1 - rho), t(eps), threads_dh, threads_dw,
            _NO_BIAS[w.dtype], _NO_ROWS, pre, dh)
    if max(threads_dh, threads_dw) == 1:
        _dense_backward_rmsprop(*args)
    else:
        pool.run(_dense_backward_rmsprop, *args)
    return dh


guard_caches(globals())  # a corrupt cache entry is dropped and recompiled
