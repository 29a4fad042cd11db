"""The Numba backend: every kernel as readable, compiled Python.

The GEMM (matmul and dense_forward) lives in :mod:`.numba_gemm`, which also
switches on LLVM's SLP vectorizer before anything compiles (see its docstring).
The kernels here are single passes over their data: element-wise loops that
LLVM vectorizes, split over threads (``prange``) only when an array is large
enough (``PARALLEL_MIN`` elements) to pay for waking the thread pool.

Every ``@njit`` uses ``cache=True``: the first run on a machine compiles (the
micro-kernels take seconds), later processes load the machine code from
``__pycache__``.  Flags are always passed as Python bools and sizes as ints,
so each kernel has one compiled specialization per dtype (plus one more when
an input array is read-only).  The optimizer loops use
``error_model="numpy"``: by default Numba checks every float division for a
zero divisor (to raise ZeroDivisionError), and that branch stops LLVM from
vectorizing the loop (RMSprop on 784x512 took 1.1 ms instead of 0.21 ms).
"""

from __future__ import annotations

import math
import threading

import numpy as np

from . import numba_gemm  # sets NUMBA_SLP_VECTORIZE before numba compiles
from ._backend import Backend
from ._numba_cache import depends_on, guard_caches
from .numba_gemm import _NO_BIAS, _zero, numba, njit, prange

depends_on(__file__, "numba_intrinsics.py")  # _zero is compiled into these kernels

#: flat arrays at least this long are split over threads
PARALLEL_MIN = 1 << 16
#: element-wise kernels work in chunks of this many elements per thread task
CHUNK = 1 << 14


# ---------------------------------------------------------------- element-wise
@njit(cache=True)
def _relu_range(x, out, lo, hi):
    z = _zero(x)
    for i in range(lo, hi):
        v = x[i]
        out[i] = z if v <= z else v  # NaN propagates, as in np.maximum


@njit(cache=True, parallel=True)
def _relu(x, out):
    """out = max(x, 0): a branch-free select LLVM turns into vmaxps-like code;
    chunks go to threads only for long arrays."""
    n = np.uint64(x.shape[0])
    if n < PARALLEL_MIN:
        _relu_range(x, out, np.uint64(0), n)
        return
    nchunks = (x.shape[0] + CHUNK - 1) // CHUNK
    for c in prange(nchunks):
        lo = np.uint64(c * CHUNK)
        _relu_range(x, out, lo, min(lo + np.uint64(CHUNK), n))


@njit(cache=True)
def _relu_backward_range(g, x, out, lo, hi):
    z = _zero(x)
    for i in range(lo, hi):
        out[i] = g[i] if x[i] > z else z


@njit(cache=True, parallel=True)
def _relu_backward(g, x, out):
    """out = g where x > 0 else 0 (a masked select, vectorized)."""
    n = np.uint64(x.shape[0])
    if n < PARALLEL_MIN:
        _relu_backward_range(g, x, out, np.uint64(0), n)
        return
    nchunks = (x.shape[0] + CHUNK - 1) // CHUNK
    for c in prange(nchunks):
        lo = np.uint64(c * CHUNK)
        _relu_backward_range(g, x, out, lo, min(lo + np.uint64(CHUNK), n))


# ---------------------------------------------------------------- dropout
@njit(cache=True)
def _dropout_range(x, u, threshold, scale, out, mask, lo, hi):
    z = _zero(x)
    for i in range(lo, hi):
        keep = u[i] >= threshold
        mask[i] = scale if keep else z
        out[i] = x[i] * scale if keep else z


@njit(cache=True, parallel=True)
def _dropout(x, u, threshold, scale, out, mask):
    """Inverted dropout, fused: compare the draw with the rate, write the
    scaled mask and the scaled input in one pass (threshold and scale arrive
    in x's dtype, so the result matches the NumPy reference bit for bit)."""
    n = np.uint64(x.shape[0])
    if n < PARALLEL_MIN:
        _dropout_range(x, u, threshold, scale, out, mask, np.uint64(0), n)
        return
    for c in prange((x.shape[0] + CHUNK - 1) // CHUNK):
        lo = np.uint64(c * CHUNK)
        _dropout_range(x, u, threshold, scale, out, mask, lo, min(lo + np.uint64(CHUNK), n))


@njit(cache=True)
def _dropout_backward_range(g, mask, out, lo, hi):
    z = _zero(g)
    for i in range(lo, hi):
        m = mask[i]
        out[i] = g[i] * m if m != z else z


@njit(cache=True, parallel=True)
def _dropout_backward(g, mask, out):
    """out = g * mask where the mask kept the unit, else 0."""
    n = np.uint64(g.shape[0])
    if n < PARALLEL_MIN:
        _dropout_backward_range(g, mask, out, np.uint64(0), n)
        return
    for c in prange((g.shape[0] + CHUNK - 1) // CHUNK):
        lo = np.uint64(c * CHUNK)
        _dropout_backward_range(g, mask, out, lo, min(lo + np.uint64(CHUNK), n))


# ---------------------------------------------------------------- sigmoid + BCE
@njit(cache=True, error_model="numpy")
def _sigmoid_cross_entropy(x, z, scale, loss_out, grad_out):
    """Per element, in float64: e = exp(-|x|) (never overflows), loss =
    max(x, 0) - x z + log1p(e), grad = (sigmoid(x) - z) * scale with
    sigmoid = 1/(1+e) for x >= 0 and e/(1+e) below (no cancellation)."""
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        zi = np.float64(z[i])
        e = math.exp(-abs(xi))
        loss_out[i] = max(xi, 0.0) - xi * zi + math.log1p(e)
        s = 1.0 / (1.0 + e) if xi >= 0 else e / (1.0 + e)
        grad_out[i] = (s - zi) * scale


# ---------------------------------------------------------------- softmax
@njit(cache=True)
def _softmax(logits, out):
    """Row-wise softmax: shift each row by its max (so exp never overflows),
    exponentiate once into ``out``, then scale by 1/sum (sum in float64)."""
    n, c = logits.shape
    for i in range(n):
        mx = logits[i, 0]
        for j in range(1, c):
            mx = max(mx, logits[i, j])
        s = 0.0
        for j in range(c):
            e = np.exp(logits[i, j] - mx)
            out[i, j] = e
            s += e
        inv = 1.0 / s
        for j in range(c):
            out[i, j] = out[i, j] * inv


@njit(cache=True)
def _softmax_cross_entropy(logits, labels, scale, loss_out, grad_out):
    """Fused softmax + cross-entropy, one row at a time while it is in L1: max,
    sum of exp(x - max) in float64, loss = log(sum) - (x[label] - max), grad =
    (exp(x - max) / sum - onehot) * scale.  Stable for logits of any size."""
    n, c = logits.shape
    for i in range(n):
        mx = logits[i, 0]
        for j in range(1, c):
            mx = max(mx, logits[i, j])
        s = 0.0
        for j in range(c):
            e = math.exp(np.float64(logits[i, j]) - mx)
            grad_out[i, j] = e  # stash exp (rounded to the dtype for float32)
            s += e
        lab = labels[i]
        log_s = math.log(s)
        loss_out[i] = log_s - (np.float64(logits[i, lab]) - mx)
        inv = scale / s
        for j in range(c):
            # recompute exp in float64 for the label's -1 to cancel exactly
            p = math.exp(np.float64(logits[i, j]) - mx) * inv if j == lab else grad_out[i, j] * inv
            if j == lab:
                p -= scale
            grad_out[i, j] = p


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


# ---------------------------------------------------------------- optimizers
@njit(cache=True)
def _sgd_range(p, g, v, lr, mom, nesterov, has_v, lo, hi):
    if not has_v:
        for i in range(lo, hi):
            p[i] -= lr * g[i]
    elif nesterov:
        for i in range(lo, hi):
            vi = mom * v[i] - lr * g[i]
            v[i] = vi
            p[i] += mom * vi - lr * g[i]
    else:
        for i in range(lo, hi):
            vi = mom * v[i] - lr * g[i]
            v[i] = vi
            p[i] += vi


@njit(cache=True, parallel=True)
def _sgd(p, g, v, lr, mom, nesterov, has_v):
    """SGD (Keras): v = mom*v - lr*g; p += v (Nesterov: p += mom*v - lr*g).
    One pass over parameters, gradients and velocity; ``lr``/``mom`` arrive
    already cast to the parameters' dtype so nothing promotes to float64."""
    n = np.uint64(p.shape[0])
    if n < PARALLEL_MIN:
        _sgd_range(p, g, v, lr, mom, nesterov, has_v, np.uint64(0), n)
        return
    for c in prange((p.shape[0] + CHUNK - 1) // CHUNK):
        lo = np.uint64(c * CHUNK)
        _sgd_range(p, g, v, lr, mom, nesterov, has_v, lo, min(lo + np.uint64(CHUNK), n))


@njit(cache=True, error_model="numpy")
def _rmsprop_range(p, g, v, lr, rho, one_minus_rho, eps, lo, hi):
    for i in range(lo, hi):
        gi = g[i]
        vi = rho * v[i] + one_minus_rho * gi * gi
        v[i] = vi
        p[i] -= lr * gi / np.sqrt(vi + eps)


@njit(cache=True, parallel=True)
def _rmsprop(p, g, v, lr, rho, one_minus_rho, eps):
    """RMSprop (Keras): v = rho*v + (1-rho)*g^2; p -= lr*g/sqrt(v+eps), fused."""
    n = np.uint64(p.shape[0])
    if n < PARALLEL_MIN:
        _rmsprop_range(p, g, v, lr, rho, one_minus_rho, eps, np.uint64(0), n)
        return
    for c in prange((p.shape[0] + CHUNK - 1) // CHUNK):
        lo = np.uint64(c * CHUNK)
        _rmsprop_range(p, g, v, lr, rho, one_minus_rho, eps, lo, min(lo + np.uint64(CHUNK), n))


@njit(cache=True, error_model="numpy")
def _adam_range(p, g, m, v, alpha, one_minus_b1, one_minus_b2, eps, lo, hi):
    for i in range(lo, hi):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * one_minus_b1
        vi = v[i] + (gi * gi - v[i]) * one_minus_b2
        m[i] = mi
        v[i] = vi
        p[i] -= alpha * mi / (np.sqrt(vi) + eps)


@njit(cache=True, parallel=True)
def _adam(p, g, m, v, alpha, one_minus_b1, one_minus_b2, eps):
    """Adam (Keras): m += (g-m)(1-b1); v += (g^2-v)(1-b2); p -= alpha*m/(sqrt(v)+eps),
    alpha (with the bias corrections) computed once in Python; one fused pass."""
    n = np.uint64(p.shape[0])
    if n < PARALLEL_MIN:
        _adam_range(p, g, m, v, alpha, one_minus_b1, one_minus_b2, eps, np.uint64(0), n)
        return
    for c in prange((p.shape[0] + CHUNK - 1) // CHUNK):
        lo = np.uint64(c * CHUNK)
        _adam_range(p, g, m, v, alpha, one_minus_b1, one_minus_b2, eps, lo, min(lo + np.uint64(CHUNK), n))


# ---------------------------------------------------------------- thread safety
class _PoolGuard:
    """Serializes the parallel kernels when Numba's thread pool cannot be shared.

    Numba's ``workqueue`` threading layer (its fallback without OpenMP or TBB)
    aborts the process when two Python threads launch parallel regions at
    once.  Until a parallel region has run, ``numba.threading_layer()`` cannot
    say which layer was picked, so calls hold a lock; afterwards they hold it
    only on ``workqueue``, and on the other layers cost one attribute test.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.needed = True

    def run(self, kernel, *args):
        if not self.needed:
            return kernel(*args)
        with self.lock:
            result = kernel(*args)
            try:
                self.needed = numba.threading_layer() == "workqueue"
            except ValueError:  # no parallel region has run yet: still unknown
                pass
        return result


_pool = _PoolGuard()


class NumbaBackend(Backend):
    """Kernels compiled by Numba (LLVM) for the host CPU, threads via prange."""

    name = "numba"

    def set_num_threads(self, n: int) -> None:
        numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))

    def get_num_threads(self) -> int:
        return numba.get_num_threads()

    def matmul(self, a, b, transpose_a, transpose_b, out):
        threads = numba_gemm.threads_for(a, transpose_a, out)
        if threads == 1:   # no parallel region will run: nothing for the pool guard to do
            numba_gemm._gemm(a, b, out, _NO_BIAS[out.dtype], False, transpose_a, transpose_b, False, 1)
        else:
            _pool.run(numba_gemm._gemm, a, b, out, _NO_BIAS[out.dtype], False, transpose_a, transpose_b,
                      False, threads)
        return out

    def dense_forward(self, x, w, b, relu, out):
        threads = numba_gemm.threads_for(x, False, out)
        if threads == 1:
            return numba_gemm.gemm(x, w, False, False, out, b, relu, threads)
        return _pool.run(numba_gemm.gemm, x, w, False, False, out, b, relu, threads)

    def relu(self, x, out):
        _pool.run(_relu, x, out)
        return out

    def relu_backward(self, grad_out, x, out):
        _pool.run(_relu_backward, grad_out, x, out)
        return out

    def dropout_forward(self, x, uniform, rate, scale, out, mask):
        t = x.dtype.type
        _dropout(x, uniform, t(rate), t(scale), out, mask)

    def dropout_backward(self, grad_out, mask, out):
        _dropout_backward(grad_out, mask, out)
        return out

    def sigmoid_cross_entropy(self, logits, labels, scale, loss_out, grad_out):
        _sigmoid_cross_entropy(logits, labels, float(scale), loss_out, grad_out)

    def softmax(self, logits, out):
        _softmax(logits, out)
        return out

    def softmax_cross_entropy(self, logits, labels, scale, loss_out, grad_out):
        _softmax_cross_entropy(logits, labels, float(scale), loss_out, grad_out)

    def relu_bias_grad(self, grad_out, x, out, bias_out):
        _relu_bias_grad(grad_out, x, out, bias_out)

    def bias_grad(self, grad_out, out):
        _bias_grad(grad_out, out)
        return out

    def sgd_update(self, param, grad, velocity, lr, momentum, nesterov):
        t = param.dtype.type
        has_v = velocity is not None
        v = velocity if has_v else param[:1]
        _pool.run(_sgd, param, grad, v, t(lr), t(momentum), bool(nesterov), has_v)

    def rmsprop_update(self, param, grad, v, lr, rho, eps):
        t = param.dtype.type
        _pool.run(_rmsprop, param, grad, v, t(lr), t(rho), t(1 - rho), t(eps))

    def adam_update(self, param, grad, m, v, lr, beta1, beta2, eps, step):
        t = param.dtype.type
        alpha = lr * math.sqrt(1 - beta2**step) / (1 - beta1**step)
        _pool.run(_adam, param, grad, m, v, t(alpha), t(1 - beta1), t(1 - beta2), t(eps))


backend = NumbaBackend()
guard_caches(globals())  # a corrupt cache entry is dropped and recompiled

