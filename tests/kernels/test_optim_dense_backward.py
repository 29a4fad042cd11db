"""``dense_backward_rmsprop``: a narrow output layer's backward and three RMSprop steps in one call.

Checked on every host backend against (1) the four public calls the traced
step made before the fusion (``matmul(dz, w.T)``, ``bias_grad_rmsprop`` with
the relu mask, ``weight_grad_rmsprop``, ``bias_grad_rmsprop``), bit for bit,
on awkward shapes; (2) a NumPy formula; (3) finite differences of the layer's
output for ``dh`` and for the weight gradient (read back from RMSprop's mean
squares with rho = 0, which then hold the squared gradient).
"""

from __future__ import annotations

import numpy as np
import pytest
from finite_differences import central_differences

import tapegrad.kernels as K

BACKENDS = [b for b in ("numpy", "numba", "cython") if b in K.available_backends()]
# (batch N, units M of h, classes K): primes, one row, M <= 16 (the GEMM's narrow path),
# K = 16 and 17 (the last the unfused weight step's fused GEMM), a batch past one K block (384)
SHAPES = [(1, 17, 1), (2, 33, 2), (7, 47, 10), (13, 100, 16), (96, 512, 10), (128, 31, 10), (3, 8, 4),
          (400, 20, 17), (389, 40, 3), (0, 5, 3)]
SETTINGS = {"learning_rate": 0.01, "rho": 0.9, "epsilon": 1e-7}


def _state(n, m, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    dz = (rng.standard_normal((n, k)) * 0.1).astype(dtype)
    h = np.maximum(rng.standard_normal((n, m)), 0).astype(dtype)     # a relu output: zeros included
    arrays = [rng.standard_normal((m, k)), rng.standard_normal(k), rng.random((m, k)), rng.random(k),
              rng.standard_normal(m), rng.random(m)]                 # w, b, their slots, prev_b, its slot
    return dz, h, [a.astype(dtype) for a in arrays]


def _four_calls(dz, h, w, b, w_v, b_v, prev_b, prev_v, backend, settings=SETTINGS):
    pre = K.matmul(dz, w, transpose_b=True, backend=backend)
    dh = K.bias_grad_rmsprop(pre, prev_b, prev_v, relu_input=h, backend=backend, **settings)
    K.weight_grad_rmsprop(h, dz, w, w_v, backend=backend, **settings)
    K.bias_grad_rmsprop(dz, b, b_v, backend=backend, **settings)
    return dh


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,m,k", SHAPES)
def test_one_call_is_the_four_calls_bit_for_bit(backend, dtype, n, m, k):
    dz, h, arrays = _state(n, m, k, dtype)
    separate = [a.copy() for a in arrays]
    want = _four_calls(dz, h, *separate, backend)
    got = K.dense_backward_rmsprop(dz, h, *arrays, backend=backend, **SETTINGS)
    assert got.shape == (n, m) and got.dtype == dtype
    assert np.array_equal(got, want)
    for a, b, name in zip(arrays, separate, ("w", "b", "w_v", "b_v", "prev_b", "prev_v")):
        assert np.array_equal(a, b), name


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_formula_and_finite_differences(backend):
    n, m, k = 6, 19, 3
    dz, _, arrays = _state(n, m, k, np.float64, seed=2)
    a = np.random.default_rng(3).standard_normal((n, m))
    a[np.abs(a) < 0.1] = 0.5                   # relu's input, away from its kink for differences
    h = np.maximum(a, 0)                       # the layer's input: the relu's output
    w0, b0, prev_b0 = arrays[0].copy(), arrays[1].copy(), arrays[4].copy()
    settings = {"learning_rate": 1e-3, "rho": 0.0, "epsilon": 1e-30}   # rho 0: the slots become g**2
    dh = K.dense_backward_rmsprop(dz, h, *arrays, backend=backend, **settings)
    w, b, w_v, b_v, prev_b, prev_v = arrays

    def output(a_, w_):        # what dz is the gradient of: sum(dz * (relu(a) @ w))
        return float(np.sum(dz * (np.maximum(a_, 0) @ w_)))

    want_dh = central_differences(lambda x: output(x, w0), a)       # dh: the gradient at relu's input
    np.testing.assert_allclose(dh, want_dh, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dh, (dz @ w0.T) * (h > 0), rtol=1e-12, atol=1e-15)
    dw = central_differences(lambda x: output(a, x), w0)
    np.testing.assert_allclose(w_v, dw ** 2, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(np.sign(w0 - w), np.sign(dw))
    np.testing.assert_allclose(b_v, dz.sum(axis=0) ** 2, rtol=1e-12)
    np.testing.assert_allclose(prev_v, dh.sum(axis=0) ** 2, rtol=1e-12)
    assert np.all(np.sign(b0 - b) == np.sign(dz.sum(axis=0)))
    assert np.all(np.sign(prev_b0 - prev_b) == np.sign(dh.sum(axis=0)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_arrays_raise_before_anything_changes(backend):
    dz, h, arrays = _state(5, 20, 3, np.float32)
    before = [a.copy() for a in arrays]
    with pytest.raises(ValueError, match=r"dz has shape \(5, 3\) and h \(4, 20\)"):
        K.dense_backward_rmsprop(dz, h[:4], *arrays, backend=backend)
    with pytest.raises(ValueError, match="param and w_v share memory"):
        K.dense_backward_rmsprop(dz, h, arrays[0], arrays[1], arrays[0], *arrays[3:], backend=backend)
    with pytest.raises(ValueError, match="prev_b has shape"):
        K.dense_backward_rmsprop(dz, h, *arrays[:4], arrays[4][:7], arrays[5], backend=backend)
    with pytest.raises(ValueError, match="w is updated in place"):
        K.dense_backward_rmsprop(dz, h, np.asfortranarray(arrays[0]), *arrays[1:], backend=backend)
    with pytest.raises(ValueError, match="learning_rate must be >= 0"):
        K.dense_backward_rmsprop(dz, h, *arrays, learning_rate=-1.0, backend=backend)
    for a, b in zip(arrays, before):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_operand_that_is_a_slot_is_read_as_it_was(backend):
    """dz given as the bias's own mean squares (b_v, read while it is updated): copied first."""
    dz, h, arrays = _state(1, 20, 3, np.float32, seed=5)
    dz = np.abs(dz)                                         # mean squares are never negative
    arrays[3] = np.ascontiguousarray(dz[0])                 # b_v is dz's only row
    dz_view = arrays[3].reshape(1, 3)
    separate = [a.copy() for a in arrays]
    want = _four_calls(dz.copy(), h, *separate, backend)
    got = K.dense_backward_rmsprop(dz_view, h, *arrays, backend=backend, **SETTINGS)
    assert np.array_equal(got, want)
    for a, b in zip(arrays, separate):
        assert np.array_equal(a, b)
