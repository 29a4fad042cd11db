"""Our kernels against NumPy, one benchmark group per problem, each group holding every
implementation side by side: ``numpy`` (OpenBLAS through ``@`` for matmul, the plain NumPy
expression for the others) and each compiled backend available here (``numba``, ``cython``).

    pytest bench/test_bench_kernels.py --benchmark-group-by=group --benchmark-columns=median,iqr,rounds

Every benchmark first checks that the call it times computes the right thing (against NumPy in
float64, or the exact NumPy expression), so ``pytest bench/ --benchmark-disable`` is a quick
correctness run of the very calls being timed.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad.kernels as K

# ------------------------------------------------------------------ matmul
def test_matmul(benchmark, matmul_case, impl_backend, rng):
    label, m, k, n, ta, tb = matmul_case
    a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    a_op, b_op = (a.T if ta else a), (b.T if tb else b)  # what the user means: a_op @ b_op
    out = np.empty((m, n), np.float32)
    be = impl_backend
    if be is None:  # the BLAS baseline: `a_op @ b_op`, written into a preallocated out like ours
        def fn():
            return np.matmul(a_op, b_op, out=out)
    else:  # a transposed operand is passed as stored plus a flag, the way the training step does
        def fn():
            return K.matmul(a, b, transpose_a=ta, transpose_b=tb, out=out, backend=be)

    expected = a_op.astype(np.float64) @ b_op.astype(np.float64)
    fn()  # warm-up outside the timing (Numba compiles, or loads its cache, on the first call)
    out.fill(np.nan)  # so the check below sees what the timed calls wrote
    benchmark.group = f"matmul {label}"
    benchmark.extra_info.update(m=m, k=k, n=n, transpose_a=ta, transpose_b=tb, flops=2 * m * k * n)
    result = benchmark(fn)

    assert result is out
    # each entry is a k-term float32 dot product of N(0, 1) numbers (size ~sqrt(k)); a wrong
    # index or a missed tile is off by O(sqrt(k)), float32 rounding by ~1e-7 * k at most
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=2e-6 * k)


# ------------------------------------------------------------------ relu
def test_relu(benchmark, impl_backend, rng):
    x = rng.standard_normal((128, 512), dtype=np.float32)  # the hidden layer of one batch
    out = np.empty_like(x)
    be = impl_backend
    if be is None:
        def fn():
            return np.maximum(x, 0, out=out)
    else:
        def fn():
            return K.relu(x, out=out, backend=be)

    fn()
    out.fill(np.nan)
    benchmark.group = "relu 128x512"
    result = benchmark(fn)

    assert result is out
    np.testing.assert_array_equal(out, np.maximum(x, 0))  # exact: relu involves no rounding


# ------------------------------------------------------------------ softmax cross-entropy
def _numpy_softmax_cross_entropy(z, labels):
    """What one writes in NumPy: mean loss and its gradient, (softmax - onehot) / N."""
    n = len(z)
    s = z - z.max(axis=1, keepdims=True)
    e = np.exp(s)
    p = e / e.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(n), labels]).mean()
    p[np.arange(n), labels] -= 1
    return loss, p / n


def test_softmax_cross_entropy(benchmark, impl_backend, rng):
    z = rng.standard_normal((128, 10), dtype=np.float32) * 3  # logits of one batch
    labels = rng.integers(0, 10, 128)
    be = impl_backend
    if be is None:
        def fn():
            return _numpy_softmax_cross_entropy(z, labels)
    else:
        def fn():
            return K.softmax_cross_entropy(z, labels, backend=be)

    fn()
    benchmark.group = "softmax_cross_entropy 128x10"
    loss, grad = benchmark(fn)

    ref_loss, ref_grad = _numpy_softmax_cross_entropy(z.astype(np.float64), labels)
    assert float(loss) == pytest.approx(ref_loss, rel=1e-5)
    assert grad.shape == (128, 10) and grad.dtype == np.float32
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-6)  # softmax rows sum to 1 = onehot


# ------------------------------------------------------------------ RMSprop update
LR, RHO, EPS = 1e-3, 0.9, 1e-7


def _numpy_rmsprop(w, g, v):
    """The Keras update as a NumPy expression, in place."""
    v[...] = RHO * v + (1 - RHO) * g * g
    w[...] = w - LR * g / np.sqrt(v + EPS)


def test_rmsprop_update(benchmark, impl_backend, rng):
    size = 784 * 512  # W1, the largest weight of the network
    g = rng.standard_normal(size, dtype=np.float32)
    w0 = rng.standard_normal(size, dtype=np.float32)
    v0 = rng.uniform(0, 2, size).astype(np.float32)
    be = impl_backend
    step = _numpy_rmsprop if be is None else (
        lambda w, g, v: K.rmsprop_update(w, g, v, learning_rate=LR, rho=RHO, epsilon=EPS, backend=be))

    # correctness of one step, from a known state, against float64
    w, v = w0.copy(), v0.copy()
    step(w, g, v)
    w64, v64 = w0.astype(np.float64), v0.astype(np.float64)
    _numpy_rmsprop(w64, g.astype(np.float64), v64)
    np.testing.assert_allclose(v, v64, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(w, w64, rtol=1e-5, atol=1e-6)

    # then time it, on the arrays it keeps updating, as an optimizer does
    benchmark.group = "rmsprop_update 784*512"
    benchmark(step, w, g, v)
    # with a fixed gradient v only moves from v0 towards g^2, and w stays finite
    lo, hi = np.minimum(v0, g * g), np.maximum(v0, g * g)
    assert np.all(v >= lo * (1 - 1e-5)) and np.all(v <= hi * (1 + 1e-5))
    assert np.isfinite(w).all()
