"""The losses family's public functions: softmax and the fused losses.

Each validates its arguments (labels included: class ids through
:func:`..._labels.class_ids`, binary labels checked to lie in [0, 1]),
allocates the outputs on the chosen backend and calls the backend's method
of the same name.  kernels/losses/DESIGN.md: the contract.
"""

from __future__ import annotations

import numpy as np

from .._checks import elementwise_target, finish, operand, output, overlaps
from .._dispatch import get_backend
from .._labels import labels_for


# ---------------------------------------------------------------- softmax
def softmax(logits, *, out=None, backend=None):
    """Row-wise softmax of (N, C) logits, stable: rows are shifted by their max."""
    be = get_backend(backend)
    logits = operand(be, logits, "logits", "softmax", ndim=2)
    given = out is not None
    out = output(be, out, logits.shape, logits.dtype, "softmax")
    if logits.size == 0:
        return out
    target = elementwise_target(be, out, logits) if given else out
    be.softmax(logits, target)
    return out if target is out else finish(be, out, target)


def softmax_cross_entropy(logits, labels, *, reduction="mean", backend=None):
    """Fused softmax + cross-entropy against integer labels, in one pass.

    Returns ``(loss, grad)``.  With ``reduction="mean"`` (the default),
    ``loss`` is the mean over rows (a Python float) and ``grad`` is its
    derivative, ``(softmax(logits) - onehot(labels)) / N``.  With
    ``reduction="none"``, ``loss`` is the per-row array and ``grad`` is the
    derivative of their sum, ``softmax - onehot``.  Working on shifted
    logits keeps it finite for logits of any magnitude.
    """
    be = get_backend(backend)
    logits = operand(be, logits, "logits", "softmax_cross_entropy", ndim=2)
    n, c = logits.shape
    if reduction not in ("mean", "none"):
        raise ValueError(f"softmax_cross_entropy: reduction must be 'mean' or 'none', got {reduction!r}")
    if c == 0:
        raise ValueError("softmax_cross_entropy: logits have 0 classes")
    labels = labels_for(be, labels, n, c, "softmax_cross_entropy")
    losses = be.empty((n,), logits.dtype)
    grad = be.empty((n, c), logits.dtype)
    if n == 0:
        return (float("nan") if reduction == "mean" else losses), grad
    scale = 1.0 / n if reduction == "mean" else 1.0
    be.softmax_cross_entropy(logits, labels, scale, losses, grad)
    if reduction == "mean":
        return float(np.mean(be.to_numpy(losses), dtype=np.float64)), grad
    return losses, grad


def softmax_cross_entropy_head(logits, labels, scale, *, out=None, backend=None):
    """A classifier's training step after its logits, in one call: ``(loss_sum, correct, grad)``.

    ``loss_sum`` is the sum of the per-row cross-entropies (a scalar of the
    logits' dtype, added in ``np.sum``'s order), ``correct`` the number of rows
    whose softmax probabilities' argmax is their label (a row holding a NaN never
    counts: sparse categorical accuracy's numerator), and ``grad`` (written into
    ``out`` when given) is ``(softmax(logits) - onehot) * scale``, multiplied in
    the logits' dtype: with ``scale = 1/N`` the gradient of the mean loss.  Each
    number is the one the separate calls make (``softmax``, ``softmax_cross_entropy``
    with ``reduction="none"``, ``np.sum``, a multiply, ``accumulate_correct``);
    the numba backend makes them in one pass over each row.
    """
    be = get_backend(backend)
    fn = "softmax_cross_entropy"     # the labels' errors read as the loss's own
    logits = operand(be, logits, "logits", fn, ndim=2)
    n, c = logits.shape
    if c == 0:
        raise ValueError(f"{fn}: logits have 0 classes")
    try:
        scale = float(scale)
    except (TypeError, ValueError):
        raise TypeError(f"softmax_cross_entropy_head: scale must be a number, got {scale!r}") from None
    labels = labels_for(be, labels, n, c, fn)
    out = output(be, out, (n, c), logits.dtype, "softmax_cross_entropy_head")
    if n == 0:
        return logits.dtype.type(0), 0, out
    target = be.empty((n, c), logits.dtype) if overlaps(be, out, logits) else out   # rows are read after writes
    losses = be.empty((n,), logits.dtype)
    loss_sum, correct = be.softmax_cross_entropy_head(logits, labels, scale, losses, target)
    return logits.dtype.type(loss_sum), int(correct), out if target is out else finish(be, out, target)


# ---------------------------------------------------------------- sigmoid + binary cross-entropy
def _binary_labels(be, labels, logits, fn):
    """Labels as a C-contiguous array of the logits' shape and dtype, every value in [0, 1]."""
    on_device = be.is_array(labels) and not be.host
    host = np.asarray(be.to_numpy(labels) if on_device else labels)
    if host.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: labels must be numbers in [0, 1], got dtype {host.dtype}")
    if host.shape != tuple(logits.shape):
        raise ValueError(f"{fn}: labels have shape {host.shape} but logits have {tuple(logits.shape)}; "
                         "give one label per logit")
    if host.size and not (host.min() >= 0 and host.max() <= 1):   # NaN fails both tests
        bad = host[~((host >= 0) & (host <= 1))].reshape(-1)[0]
        raise ValueError(f"{fn}: labels must be probabilities in [0, 1], got {bad}")
    host = np.ascontiguousarray(host, dtype=logits.dtype)
    return host if be.host else be.asarray(host)


def sigmoid_cross_entropy(logits, labels, *, reduction="none", backend=None):
    """Fused sigmoid + binary cross-entropy, element-wise, stable for any logit.

    For logit x and label z in [0, 1] (soft labels allowed) the loss
    ``-z log s(x) - (1-z) log(1 - s(x))`` is computed as
    ``max(x, 0) - x z + log(1 + exp(-|x|))``, whose exponent is never
    positive, and its derivative as ``sigmoid(x) - z``.  Returns
    ``(loss, grad)``: with ``reduction="none"`` (the default) the per-element
    losses and the gradient of their sum; with ``"mean"`` their mean (a
    Python float) and the gradient of the mean.
    """
    be = get_backend(backend)
    fn = "sigmoid_cross_entropy"
    logits = operand(be, logits, "logits", fn)
    if reduction not in ("mean", "none"):
        raise ValueError(f"{fn}: reduction must be 'mean' or 'none', got {reduction!r}")
    labels = _binary_labels(be, labels, logits, fn)
    losses = be.empty(logits.shape, logits.dtype)
    grad = be.empty(logits.shape, logits.dtype)
    if logits.size == 0:
        return (float("nan") if reduction == "mean" else losses), grad
    scale = 1.0 / logits.size if reduction == "mean" else 1.0
    be.sigmoid_cross_entropy(logits.reshape(-1), labels.reshape(-1), scale,
                             losses.reshape(-1), grad.reshape(-1))
    if reduction == "mean":
        return float(np.mean(be.to_numpy(losses), dtype=np.float64)), grad
    return losses, grad
