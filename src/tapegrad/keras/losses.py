"""Loss functions: per-sample functions (as in TF) and mean-reducing classes.

``sparse_categorical_crossentropy(y_true, y_pred)`` returns one loss per
sample.  When ``y_pred`` came out of a softmax, the loss reads the logits the
softmax remembered and runs the fused softmax-cross-entropy kernel, which is
both faster and numerically safer than ``-log(softmax)``.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..tensor import Tensor

EPSILON = 1e-7  # Keras clips probabilities to [eps, 1 - eps] before the log


def _labels(y_true, num_classes):
    """Integer class ids on the host (from ints, whole floats or bools), checked
    against the number of classes."""
    labels = np.asarray(y_true.numpy() if isinstance(y_true, Tensor) else y_true)
    if labels.dtype.kind == "f":
        if labels.size and not np.all(np.mod(labels, 1) == 0):
            raise ValueError("sparse_categorical_crossentropy: labels must be integer class ids, "
                             "got non-integer values")
        labels = labels.astype(np.int64)
    elif labels.dtype.kind == "b":     # False/True are classes 0/1, as TF casts them
        labels = labels.astype(np.int64)
    elif labels.dtype.kind not in "iu":
        raise TypeError(f"sparse_categorical_crossentropy: labels must be integer class ids, got {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(f"sparse_categorical_crossentropy: label {bad} is out of range for "
                         f"{num_classes} classes (valid: 0..{num_classes - 1})")
    return labels


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Per-sample ``-log p[label]`` for integer labels; shape ``y_pred.shape[:-1]``."""
    return _sparse_ce(y_true, y_pred, from_logits, "none")


def _sparse_ce(y_true, y_pred, from_logits, reduction):
    y_pred = ops.convert(y_pred)
    if y_pred.ndim < 1:
        raise ValueError("sparse_categorical_crossentropy: y_pred must have a class axis")
    labels = _labels(y_true, y_pred.shape[-1])
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(f"sparse_categorical_crossentropy: labels of shape {labels.shape} do not match "
                         f"predictions of shape {y_pred.shape}")
    logits = y_pred if from_logits else y_pred._keras_logits
    if logits is not None:
        return ops.sparse_softmax_cross_entropy(logits, labels, reduction)
    # probabilities from elsewhere: pick each row's p[label], clip, -log
    rows = np.arange(labels.size).reshape(labels.shape)
    flat = ops.reshape(y_pred, (-1, y_pred.shape[-1]))
    picked = ops.getitem(flat, (rows.reshape(-1), labels.reshape(-1)))
    picked = ops.reshape(ops.clip_by_value(picked, EPSILON, 1 - EPSILON), labels.shape)
    per_sample = ops.negative(ops.log(picked))
    return per_sample if reduction == "none" else ops.reduce_mean(per_sample)


def categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Per-sample ``-sum(y_true * log p)`` for one-hot (or soft) targets."""
    y_pred = ops.convert(y_pred)
    y_true = ops.cast(ops.convert(y_true, y_pred), y_pred.dtype)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"categorical_crossentropy: y_true has shape {y_true.shape}, y_pred {y_pred.shape}")
    logits = y_pred if from_logits else y_pred._keras_logits
    if logits is not None:  # log softmax, shifted to stay finite
        shifted = ops.subtract(logits, ops.reduce_max(logits, axis=-1, keepdims=True))
        log_p = ops.subtract(shifted, ops.log(ops.reduce_sum(ops.exp(shifted), axis=-1, keepdims=True)))
    else:
        log_p = ops.log(ops.clip_by_value(y_pred, EPSILON, 1 - EPSILON))
    return ops.negative(ops.reduce_sum(ops.multiply(y_true, log_p), axis=-1))


def mean_squared_error(y_true, y_pred):
    """Per-sample mean of ``(y_true - y_pred)^2`` over the last axis."""
    y_pred = ops.convert(y_pred)
    y_true = ops.cast(ops.convert(y_true, y_pred), y_pred.dtype)
    diff = ops.subtract(y_pred, y_true)
    return ops.reduce_mean(ops.square(diff), axis=-1)


mse = MSE = mean_squared_error


class Loss:
    """A loss object: calls a per-sample function, then averages over the batch."""

    fn = None
    name = "loss"

    def __init__(self, reduction="sum_over_batch_size", name=None, **kwargs):
        if reduction not in ("sum_over_batch_size", "sum", "none", None):
            raise ValueError(f"reduction must be 'sum_over_batch_size', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction
        self.kwargs = kwargs
        if name:
            self.name = name

    def call(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **self.kwargs)

    def __call__(self, y_true, y_pred):
        per_sample = self.call(y_true, y_pred)
        if self.reduction == "sum_over_batch_size":
            return ops.reduce_mean(per_sample)
        if self.reduction == "sum":
            return ops.reduce_sum(per_sample)
        return per_sample


class SparseCategoricalCrossentropy(Loss):
    fn = staticmethod(sparse_categorical_crossentropy)
    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, from_logits=from_logits)

    def __call__(self, y_true, y_pred):
        if self.reduction == "sum_over_batch_size":  # the mean, fused into one kernel op
            return _sparse_ce(y_true, y_pred, self.kwargs["from_logits"], "mean")
        return super().__call__(y_true, y_pred)


class CategoricalCrossentropy(Loss):
    fn = staticmethod(categorical_crossentropy)
    name = "categorical_crossentropy"

    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, from_logits=from_logits)


class MeanSquaredError(Loss):
    fn = staticmethod(mean_squared_error)
    name = "mean_squared_error"


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}


def get(identifier):
    """A loss object from a name, a Loss, or a per-sample function."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown loss {identifier!r}; valid names are {sorted(_BY_NAME)}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        for cls in _BY_NAME.values():
            if identifier is cls.fn:
                return cls()
        loss = Loss(name=getattr(identifier, "__name__", "loss"))
        loss.call = identifier
        return loss
    raise TypeError(f"a loss must be a name, a Loss or a function, got {type(identifier).__name__}")
