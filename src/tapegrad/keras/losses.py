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
from . import serialization

EPSILON = 1e-7  # Keras clips probabilities to [eps, 1 - eps] before the log


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """Per-sample ``-log p[label]`` for integer labels; shape ``y_pred.shape[:-1]``."""
    return _sparse_ce(y_true, y_pred, from_logits, "none")


def _sparse_ce(y_true, y_pred, from_logits, reduction):
    y_pred = ops.convert(y_pred)
    if y_pred.ndim < 1:
        raise ValueError("sparse_categorical_crossentropy: y_pred must have a class axis")
    # one copy and check of the ids (none when the trainer made them a ClassIds for the step)
    labels = ops.class_ids(y_true, like=y_pred, what="sparse_categorical_crossentropy")
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.shape != y_pred.shape[:-1]:
        hint = ("; these look like one-hot targets: use categorical_crossentropy, or integer class ids "
                "(np.argmax(y, axis=-1))" if labels.shape == y_pred.shape else "")
        raise ValueError(f"sparse_categorical_crossentropy: labels of shape {labels.shape} do not match "
                         f"predictions of shape {y_pred.shape} (one integer class id per sample){hint}")
    logits = y_pred if from_logits else ops.input_of(y_pred, "softmax")
    if logits is not None:
        return ops.sparse_softmax_cross_entropy(logits, labels, reduction)
    # probabilities from elsewhere: clip, then -log of p[label] over the row's sum (Keras
    # takes the log-softmax of log(clip(p)), which rescales rows that do not sum to 1)
    labels.check_classes(y_pred.shape[-1], "sparse_categorical_crossentropy")
    labels = labels.numpy()
    rows = np.arange(labels.size)
    flat = ops.clip_by_value(ops.reshape(y_pred, (-1, y_pred.shape[-1])), EPSILON, 1 - EPSILON)
    picked = ops.getitem(flat, (rows, labels.reshape(-1)))
    per_row = ops.subtract(ops.log(ops.reduce_sum(flat, axis=-1)), ops.log(picked))
    per_sample = ops.reshape(per_row, labels.shape)
    return per_sample if reduction == "none" else ops.reduce_mean(per_sample)


def _aligned(y_true, y_pred, name):
    """``y_true`` cast to ``y_pred``'s dtype, with the same rank and shape.

    As Keras's ``squeeze_or_expand_to_same_rank``: labels of shape (N,) meet
    predictions of shape (N, 1) as (N, 1) (not broadcast to (N, N)); a
    trailing axis of 1 on one side is dropped when the other has one rank
    less.  The shapes must then be equal (Keras raises too).
    """
    y_pred = ops.convert(y_pred)
    y_true = ops.convert(y_true)
    if y_true.dtype.kind not in "biuf":
        raise TypeError(f"{name}: y_true must be numeric, got dtype {y_true.dtype}")
    y_true = ops.cast(y_true, y_pred.dtype)
    given = y_true.shape
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_true = ops.reshape(y_true, y_true.shape + (1,))
    elif y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = ops.reshape(y_true, y_true.shape[:-1])
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: y_true of shape {given} does not match y_pred of shape {y_pred.shape}")
    return y_true, y_pred


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample ``-sum(y_true * log p)`` for one-hot (or soft) targets.

    Keras's formula: probabilities are first scaled to sum to 1 along the
    class axis, then clipped to ``[1e-7, 1 - 1e-7]``; a softmax output (or
    ``from_logits=True``) uses the log-softmax of the logits instead.
    """
    y_pred = ops.convert(y_pred)
    target = tuple(y_true.shape) if isinstance(y_true, Tensor) else np.shape(y_true)
    one_id_per_sample = len(target) == y_pred.ndim - 1
    one_column_of_ids = len(target) == y_pred.ndim and target[-1:] == (1,) and y_pred.shape[-1:] != (1,)
    if one_id_per_sample or one_column_of_ids:
        raise ValueError(f"categorical_crossentropy: y_true of shape {target} holds class ids, but this loss "
                         f"needs one-hot targets of shape {y_pred.shape}: use sparse_categorical_crossentropy, "
                         f"or keras.utils.to_categorical(y, {y_pred.shape[-1]})")
    y_true, y_pred = _aligned(y_true, y_pred, "categorical_crossentropy")
    if label_smoothing:
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), label_smoothing / y_pred.shape[-1])
    logits = y_pred if from_logits else ops.input_of(y_pred, "softmax")
    if logits is not None:  # log softmax, shifted to stay finite
        shifted = ops.subtract(logits, ops.reduce_max(logits, axis=-1, keepdims=True))
        log_p = ops.subtract(shifted, ops.log(ops.reduce_sum(ops.exp(shifted), axis=-1, keepdims=True)))
    else:
        y_pred = ops.divide(y_pred, ops.reduce_sum(y_pred, axis=-1, keepdims=True))
        log_p = ops.log(ops.clip_by_value(y_pred, EPSILON, 1 - EPSILON))
    return ops.negative(ops.reduce_sum(ops.multiply(y_true, log_p), axis=-1))


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample mean over the last axis of ``-(z log p + (1 - z) log(1 - p))``.

    Probabilities are clipped to ``[1e-7, 1 - 1e-7]`` first, as Keras does.
    For a sigmoid output (which remembers its logits) or ``from_logits=True``
    the loss is computed from the logits by ``ops.sigmoid_binary_cross_entropy``,
    the stable form (and the place a fused kernel plugs in).
    """
    y_pred = ops.convert(y_pred)
    logits = y_pred if from_logits else ops.input_of(y_pred, "sigmoid")
    y_true, y_pred_aligned = _aligned(y_true, y_pred, "binary_crossentropy")
    if label_smoothing:
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    if logits is not None:
        if logits.shape != y_pred_aligned.shape:
            logits = ops.reshape(logits, y_pred_aligned.shape)
        per_value = ops.sigmoid_binary_cross_entropy(logits, y_true)
    else:
        p = ops.clip_by_value(y_pred_aligned, EPSILON, 1 - EPSILON)
        per_value = ops.negative(ops.add(ops.multiply(y_true, ops.log(p)),
                                         ops.multiply(ops.subtract(1, y_true), ops.log(ops.subtract(1, p)))))
    return ops.reduce_mean(per_value, axis=-1)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean of ``(y_true - y_pred)^2`` over the last axis."""
    y_true, y_pred = _aligned(y_true, y_pred, "mean_squared_error")
    return ops.reduce_mean(ops.square(ops.subtract(y_pred, y_true)), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean of ``|y_true - y_pred|`` over the last axis."""
    y_true, y_pred = _aligned(y_true, y_pred, "mean_absolute_error")
    return ops.reduce_mean(ops.abs(ops.subtract(y_pred, y_true)), axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


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

    def get_config(self):
        """The arguments that rebuild this loss: ``type(loss).from_config(config)``."""
        return {"name": self.name, "reduction": self.reduction, **self.kwargs}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

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


class BinaryCrossentropy(Loss):
    fn = staticmethod(binary_crossentropy)
    name = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, from_logits=from_logits, label_smoothing=label_smoothing)


class MeanSquaredError(Loss):
    fn = staticmethod(mean_squared_error)
    name = "mean_squared_error"


class MeanAbsoluteError(Loss):
    fn = staticmethod(mean_absolute_error)
    name = "mean_absolute_error"


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
}


def check_targets(loss, y, output_shape):
    """Raise a clear error, before training, when targets ``y`` cannot go with ``loss``.

    Sparse CE: integer class ids below the number of outputs; categorical
    CE: one-hot rows as wide as the output; binary CE: values in [0, 1], one
    per output unit.
    """
    y = np.asarray(y)
    classes = output_shape[-1]
    if isinstance(loss, SparseCategoricalCrossentropy):
        if y.ndim >= 2 and y.shape[-1] == classes and classes > 1:
            raise ValueError(f"sparse_categorical_crossentropy: targets of shape {y.shape} look one-hot; this "
                             f"loss takes integer class ids of shape ({len(y)},): use categorical_crossentropy "
                             f"or np.argmax(y, axis=-1)")
        # non-integer or out-of-range labels: a clear error now, once for the whole array
        ops.class_ids(y, what="sparse_categorical_crossentropy", backend="numpy").check_classes(
            classes, "sparse_categorical_crossentropy")
    elif isinstance(loss, CategoricalCrossentropy):
        if y.ndim < 2 or y.shape[-1] != classes:
            raise ValueError(f"categorical_crossentropy: targets of shape {y.shape} do not match the model's "
                             f"{classes} outputs: this loss takes one-hot rows of length {classes} "
                             f"(keras.utils.to_categorical(y, {classes})), or use sparse_categorical_crossentropy")
    elif isinstance(loss, BinaryCrossentropy):
        per_sample = int(np.prod(y.shape[1:])) if y.ndim > 1 else 1
        if per_sample != classes:
            raise ValueError(f"binary_crossentropy: targets of shape {y.shape} give {per_sample} value(s) per "
                             f"sample but the model has {classes} output unit(s)")
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(f"binary_crossentropy: targets must lie in [0, 1] (0/1 labels), got values from "
                             f"{y.min()} to {y.max()}")


def serialize(loss):
    """A loss object or function as a config (``deserialize`` and ``get`` read it back)."""
    return serialization.serialize_keras_object(loss)


def deserialize(config, custom_objects=None):
    return serialization.deserialize_keras_object(config, "loss", custom_objects)


serialization.builtin("loss", Loss, SparseCategoricalCrossentropy, CategoricalCrossentropy, BinaryCrossentropy,
                      MeanSquaredError, MeanAbsoluteError)


def get(identifier):
    """A loss object from a name, a Loss, a config dict (``serialize``'s), or a per-sample function."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return get(deserialize(identifier))
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
