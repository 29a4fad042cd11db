"""Metrics: running averages, updated once per batch, read when shown.

A metric has state (a total and a count), ``update_state`` adds a batch,
``result`` reads the running value and ``reset_state`` starts over: that is
why the numbers in Keras's progress bar are means over the epoch so far.

The total lives where the model's arrays live: for a batch of tensors it is
a one-element float64 Variable on their kernel backend, to which a kernel adds
(``ops.accumulate_sum``, ``ops.accumulate_correct``).  On a GPU a
training step therefore never waits for a number to come back; reading
``result()`` copies one scalar.  The count is known on the host from shapes.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..tensor import Tensor, Variable
from . import losses, serialization
from .layers import get_initializer


def _host(x):
    return np.asarray(x.numpy() if isinstance(x, Tensor) else x)


class Metric:
    """Base class.  A subclass of your own keeps its state in ``add_weight``
    variables, and defines ``update_state``, ``result`` and ``reset_state``."""

    name = "metric"

    def __init__(self, name=None, dtype=None):
        if name:
            self.name = name
        self.dtype = np.dtype(dtype or "float32")
        self._variables = []
        Metric.reset_state(self)   # the built-in running total; a subclass's own state comes later

    def add_weight(self, name=None, shape=(), initializer="zeros", dtype=None):
        """A non-trainable state variable (e.g. a running sum), as in Keras."""
        dtype = np.dtype(dtype or self.dtype)
        value = np.asarray(get_initializer(initializer)(tuple(shape), dtype), dtype=dtype)
        var = Variable(value, trainable=False, name=f"{self.name}/{name or 'variable'}")
        self._variables.append(var)
        return var

    @property
    def variables(self):
        return list(self._variables)

    def reset_state(self):
        self._host_total = 0.0
        self._device_total = None   # a (1,) float64 Variable where the batches live
        self.count = 0.0

    def _running_total(self, like):
        """The Variable that batches on tensor ``like``'s backend add to (made on first use)."""
        if self._device_total is None or self._device_total.backend is not like.backend:
            self._host_total = self.total   # fold in what another backend summed
            self._device_total = ops.zeros_variable((1,), np.float64, like=like, name=f"{self.name}/total")
        return self._device_total

    @property
    def total(self):
        """The running numerator (reading it copies one number from a GPU)."""
        if self._device_total is None:
            return self._host_total
        return self._host_total + float(self._device_total.numpy()[0])

    def result(self):
        return self.total / self.count if self.count else 0.0

    def get_config(self):
        """The arguments that rebuild this metric (its name; subclasses add theirs), not its state."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} result={float(self.result()):.4f}>"


class Mean(Metric):
    """The (weighted) mean of the values it is given."""

    name = "mean"

    def update_state(self, values, sample_weight=None):
        scalar_weight = sample_weight is None or type(sample_weight) in (int, float) or np.ndim(sample_weight) == 0
        if isinstance(values, Tensor) and values.dtype.kind == "f" and scalar_weight and not isinstance(
                sample_weight, Tensor):
            weight = 1.0 if sample_weight is None else float(sample_weight)
            ops.accumulate_sum(values, self._running_total(values), weight=weight)
            self.count += weight * values.size
            return
        values = _host(values).astype(np.float64)
        if sample_weight is None:
            self._host_total += float(values.sum())
            self.count += values.size
        else:
            weight = np.broadcast_to(_host(sample_weight).astype(np.float64), values.shape)
            self._host_total += float((values * weight).sum())
            self.count += float(weight.sum())


class _MatchRate(Metric):
    """Fraction of samples where ``_matches`` is true (computed on the host)."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        matches = self._matches(_host(y_true), _host(y_pred))
        self._host_total += float(matches.sum())
        self.count += matches.size


class _ArgmaxMatchRate(_MatchRate):
    """Fraction of rows whose predicted argmax is the true class id.

    For a 2-D tensor of predictions the comparison runs on its backend
    (one kernel that adds the hits to the running total); other inputs
    take the host path.
    """

    def _class_ids(self, y_true, y_pred):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        if not (isinstance(y_pred, Tensor) and y_pred.ndim == 2 and y_pred.dtype.kind == "f"
                and sample_weight is None):
            return super().update_state(y_true, y_pred, sample_weight)
        labels = self._class_ids(y_true if isinstance(y_true, ops.ClassIds) else _host(y_true), y_pred)
        ops.accumulate_correct(y_pred, labels, self._running_total(y_pred))
        self.count += y_pred.shape[0]

    def _matches(self, y_true, y_pred):
        # a row holding a NaN has no argmax: it is a miss (as in the kernel)
        has_nan = np.isnan(np.max(y_pred, axis=-1)) if y_pred.dtype.kind == "f" else False
        return (np.argmax(y_pred, axis=-1) == self._class_ids(y_true, y_pred)) & ~has_nan


class SparseCategoricalAccuracy(_ArgmaxMatchRate):
    """Integer labels against the argmax of predicted scores.  Labels the
    trainer checked once for the batch (a ``ClassIds``) go to the kernel as they are."""

    name = "sparse_categorical_accuracy"

    def _class_ids(self, y_true, y_pred):
        if y_true.ndim == len(y_pred.shape) and y_true.shape[-1] == 1:
            y_true = y_true.reshape(y_true.shape[:-1])
        return y_true.reshape(y_pred.shape[:-1])


class CategoricalAccuracy(_ArgmaxMatchRate):
    """One-hot labels: argmax against argmax."""

    name = "categorical_accuracy"

    def _class_ids(self, y_true, y_pred):
        return np.argmax(y_true, axis=-1)


class BinaryAccuracy(_MatchRate):
    name = "binary_accuracy"

    def __init__(self, name=None, threshold=0.5):
        self.threshold = threshold
        super().__init__(name)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}

    def _matches(self, y_true, y_pred):
        # a NaN prediction is neither above nor below the threshold: a miss
        return ((y_pred > self.threshold) == (y_true.reshape(y_pred.shape) > 0.5)) & ~np.isnan(y_pred)


class Accuracy(_MatchRate):
    """Exact equality of labels and predictions."""

    name = "accuracy"

    def _matches(self, y_true, y_pred):
        return y_true.reshape(y_pred.shape) == y_pred


class MeanMetricWrapper(Mean):
    """The running mean of a per-sample function ``fn(y_true, y_pred)``
    (how Keras turns ``"mae"`` or ``"mse"`` into a metric)."""

    def __init__(self, fn, name=None, **kwargs):
        self._fn = fn
        self._fn_kwargs = kwargs
        super().__init__(name or getattr(fn, "__name__", "mean"))

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)


class MeanAbsoluteError(MeanMetricWrapper):
    """Mean of ``|y_true - y_pred|``, over the last axis and then over samples."""

    def __init__(self, name="mean_absolute_error"):
        super().__init__(losses.mean_absolute_error, name)


class MeanSquaredError(MeanMetricWrapper):
    """Mean of ``(y_true - y_pred)^2``, over the last axis and then over samples."""

    def __init__(self, name="mean_squared_error"):
        super().__init__(losses.mean_squared_error, name)


class _AccuracyByShape(Metric):
    """``"accuracy"`` as given to ``compile``: Keras picks the variant from the
    shapes of the first batch (``compile_utils``'s rule).  One prediction per
    sample (last axis 1) -> binary accuracy; labels of lower rank than the
    predictions, or a single label column against several outputs -> sparse
    categorical accuracy; otherwise categorical accuracy (one-hot labels).
    """

    def __init__(self, name="accuracy"):
        self.chosen = None
        super().__init__(name)

    def reset_state(self):
        if getattr(self, "chosen", None) is not None:
            self.chosen.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.chosen is None:
            true_shape = tuple(y_true.shape) if hasattr(y_true, "shape") else np.shape(y_true)
            self.chosen = accuracy_for(true_shape, tuple(np.shape(y_pred) if not hasattr(y_pred, "shape")
                                                         else y_pred.shape), self.name)
        self.chosen.update_state(y_true, y_pred, sample_weight)

    def result(self):
        return self.chosen.result() if self.chosen is not None else 0.0


def accuracy_for(true_shape, pred_shape, name="accuracy"):
    """The accuracy metric Keras uses for ``"accuracy"`` with these shapes."""
    is_binary = pred_shape[-1:] == (1,)
    is_sparse = len(true_shape) < len(pred_shape) or (true_shape[-1:] == (1,) and pred_shape[-1:] != (1,))
    if is_binary:
        return BinaryAccuracy(name=name)
    if is_sparse:
        return SparseCategoricalAccuracy(name=name)
    return CategoricalAccuracy(name=name)


_BY_NAME = {
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "mean_absolute_error": MeanAbsoluteError,
    "mean_squared_error": MeanSquaredError,
}

_FUNCTION_NAMES = {"mae": "mean_absolute_error", "mse": "mean_squared_error"}


serialization.builtin("metric", Metric, Mean, SparseCategoricalAccuracy, CategoricalAccuracy, BinaryAccuracy,
                      Accuracy, MeanAbsoluteError, MeanSquaredError)


def serialize(metric):
    return serialization.serialize_keras_object(metric)


def deserialize(config, custom_objects=None):
    return serialization.deserialize_keras_object(config, "metric", custom_objects)


def get(identifier, loss_name=None):
    """A metric from a name, a Metric, or a per-sample function.

    ``"accuracy"`` picks its variant from the shapes of the first batch, as
    Keras does (``loss_name`` is not needed for that and is ignored).  A
    metric keeps the name it was asked by: ``"mae"`` logs as ``mae`` and
    ``val_mae``, ``"mean_absolute_error"`` as ``mean_absolute_error``.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc"):
            return _AccuracyByShape(name=identifier)
        if key in _FUNCTION_NAMES:
            return MeanMetricWrapper(getattr(losses, _FUNCTION_NAMES[key]), name=identifier)
        if key in _BY_NAME:
            return _BY_NAME[key]()
        raise ValueError(f"unknown metric {identifier!r}; valid names are "
                         f"{['accuracy', *sorted(_FUNCTION_NAMES), *sorted(_BY_NAME)]}")
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"a metric must be a name, a Metric or a function, got {type(identifier).__name__}")
