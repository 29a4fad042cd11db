"""``softmax_cross_entropy_head``: a classifier's step after its logits in one call.

Checked on every host backend against (1) a NumPy formula written here (the
log-softmax in float64), (2) finite differences of the mean loss, and (3) the
separate public calls a traced step made before the fusion (``softmax``,
``softmax_cross_entropy(reduction="none")``, ``np.sum``, a multiply,
``accumulate_correct``), bit for bit: the fused kernel must change no number.
"""

from __future__ import annotations

import numpy as np
import pytest
from finite_differences import central_differences

import tapegrad.kernels as K

BACKENDS = [b for b in ("numpy", "numba", "cython") if b in K.available_backends()]
SHAPES = [(1, 1), (1, 10), (2, 2), (7, 3), (13, 10), (96, 10), (128, 16), (129, 17), (257, 10), (1000, 2)]


def _data(n, c, dtype, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, c)) * scale).astype(dtype)
    labels = rng.integers(0, c, n)
    labels[0] = c - 1                 # both ends of the class range
    labels[-1] = 0
    return logits, labels


def _formula(logits, labels, scale):
    """The loss, its sum, the scaled gradient and the correct rows, in float64."""
    x = logits.astype(np.float64)
    shifted = x - x.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(x))
    grad = np.exp(log_p)
    hits = int(np.count_nonzero(grad.argmax(axis=1) == labels))
    grad[rows, labels] -= 1
    return -log_p[rows, labels].sum(), grad * scale, hits


def _unfused(logits, labels, scale, backend):
    """The calls the traced step made before the fusion."""
    probs = K.softmax(logits, backend=backend)
    losses, grad = K.softmax_cross_entropy(logits, labels, reduction="none", backend=backend)
    total = np.zeros(1)
    K.accumulate_correct(probs, labels, total=total, backend=backend)
    return np.sum(losses), np.multiply(grad, scale), int(total[0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,c", SHAPES)
def test_the_head_is_the_formula_and_bit_for_bit_the_unfused_calls(backend, dtype, n, c):
    logits, labels = _data(n, c, dtype)
    scale = 1.0 / n
    loss_sum, correct, grad = K.softmax_cross_entropy_head(logits, labels, scale, backend=backend)
    want_sum, want_grad, want_hits = _formula(logits, labels, scale)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    assert type(loss_sum) is np.dtype(dtype).type and grad.dtype == dtype and grad.shape == (n, c)
    np.testing.assert_allclose(loss_sum, want_sum, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad, want_grad, rtol=tol, atol=tol * scale)
    assert correct == want_hits
    old_sum, old_grad, old_hits = _unfused(logits, labels, scale, backend)
    assert loss_sum == old_sum and correct == old_hits
    assert np.array_equal(grad, old_grad)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_gradient_is_the_mean_losss_by_finite_differences(backend):
    logits, labels = _data(5, 4, np.float64, seed=3)

    def mean_loss(x):
        return K.softmax_cross_entropy_head(x, labels, 1.0, backend=backend)[0] / len(x)

    _, _, grad = K.softmax_cross_entropy_head(logits, labels, 1 / 5, backend=backend)
    np.testing.assert_allclose(grad, central_differences(mean_loss, logits), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_is_written_even_when_it_is_the_logits(backend):
    logits, labels = _data(13, 10, np.float32, seed=4)
    want = K.softmax_cross_entropy_head(logits, labels, 0.5, backend=backend)
    out = np.full_like(logits, np.nan)
    got = K.softmax_cross_entropy_head(logits, labels, 0.5, out=out, backend=backend)
    assert got[2] is out and got[:2] == want[:2] and np.array_equal(out, want[2])
    same = logits.copy()
    got = K.softmax_cross_entropy_head(same, labels, 0.5, out=same, backend=backend)
    assert got[2] is same and got[:2] == want[:2] and np.array_equal(same, want[2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_row_of_nan_is_never_correct_and_huge_logits_stay_finite(backend):
    logits = np.array([[1e4, -1e4, 0.0], [np.nan, 5.0, 1.0], [0.0, 0.0, 0.0], [2.0, 2.0, 1.0]], np.float32)
    labels = np.array([0, 1, 0, 1])
    loss_sum, correct, grad = K.softmax_cross_entropy_head(logits, labels, 1.0, backend=backend)
    assert correct == 2                 # row 0, and row 2's tie goes to the first class; row 3's does not
    assert np.all(np.isfinite(grad[[0, 2, 3]])) and np.isnan(loss_sum)
    finite = K.softmax_cross_entropy_head(logits[[0, 2, 3]], labels[[0, 2, 3]], 1.0, backend=backend)
    assert np.isfinite(finite[0]) and finite[1] == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_labels_raise_before_anything_is_written(backend):
    logits, _ = _data(4, 3, np.float32)
    out = np.zeros_like(logits)
    for bad, message in (([0, 1, 3, 0], "label 3 is out of range for 3 classes"),
                         ([0, -1, 2, 0], r"label -1 is out of range \(class ids start at 0\)"), ([0, 1], r"shape \(4,\)")):
        with pytest.raises(ValueError, match=message):
            K.softmax_cross_entropy_head(logits, np.array(bad), 1.0, out=out, backend=backend)
        assert not out.any()
    with pytest.raises(ValueError, match="label 3 is out of range"):    # a checked ClassIds is checked again
        K.softmax_cross_entropy_head(logits, K.class_ids(np.array([0, 1, 3, 0])), 1.0, backend=backend)
    with pytest.raises(TypeError, match="scale must be a number"):
        K.softmax_cross_entropy_head(logits, np.zeros(4, int), "half", backend=backend)
    with pytest.raises(ValueError, match="out has shape"):
        K.softmax_cross_entropy_head(logits, np.zeros(4, int), 1.0, out=np.zeros((4, 4), np.float32),
                                     backend=backend)
