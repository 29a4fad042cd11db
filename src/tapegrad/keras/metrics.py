"""Metrics: running averages kept on the host, updated once per batch.

A metric has state (a total and a count), ``update_state`` adds a batch,
``result`` reads the running value and ``reset_state`` starts over: that is
why the numbers in Keras's progress bar are means over the epoch so far.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor


def _host(x):
    return np.asarray(x.numpy() if isinstance(x, Tensor) else x)


class Metric:
    name = "metric"

    def __init__(self, name=None):
        if name:
            self.name = name
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def result(self):
        return self.total / self.count if self.count else 0.0

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} result={self.result():.4f}>"


class Mean(Metric):
    """The (weighted) mean of the values it is given."""

    name = "mean"

    def update_state(self, values, sample_weight=None):
        values = _host(values).astype(np.float64)
        if sample_weight is None:
            self.total += float(values.sum())
            self.count += values.size
        else:
            weight = np.broadcast_to(_host(sample_weight).astype(np.float64), values.shape)
            self.total += float((values * weight).sum())
            self.count += float(weight.sum())


class _MatchRate(Metric):
    """Fraction of samples where ``_matches`` is true."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        matches = self._matches(_host(y_true), _host(y_pred))
        self.total += float(matches.sum())
        self.count += matches.size


class SparseCategoricalAccuracy(_MatchRate):
    """Integer labels against the argmax of predicted scores."""

    name = "sparse_categorical_accuracy"

    def _matches(self, y_true, y_pred):
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        return np.argmax(y_pred, axis=-1) == y_true.reshape(y_pred.shape[:-1])


class CategoricalAccuracy(_MatchRate):
    """One-hot labels: argmax against argmax."""

    name = "categorical_accuracy"

    def _matches(self, y_true, y_pred):
        return np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)


class BinaryAccuracy(_MatchRate):
    name = "binary_accuracy"

    def __init__(self, name=None, threshold=0.5):
        self.threshold = threshold
        super().__init__(name)

    def _matches(self, y_true, y_pred):
        return (y_pred > self.threshold) == (y_true.reshape(y_pred.shape) > 0.5)


class Accuracy(_MatchRate):
    """Exact equality of labels and predictions."""

    name = "accuracy"

    def _matches(self, y_true, y_pred):
        return y_true.reshape(y_pred.shape) == y_pred


_BY_NAME = {
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
}


def get(identifier, loss_name=None):
    """A metric from a name.  ``"accuracy"`` picks the variant that fits the
    loss, as Keras does: integer labels -> sparse categorical accuracy."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc"):
            if loss_name == "categorical_crossentropy":
                cls = CategoricalAccuracy
            elif loss_name in ("mean_squared_error", "binary_crossentropy"):
                cls = BinaryAccuracy
            else:
                cls = SparseCategoricalAccuracy
            return cls(name=identifier)
        if key in _BY_NAME:
            return _BY_NAME[key]()
        raise ValueError(f"unknown metric {identifier!r}; valid names are {['accuracy', *sorted(_BY_NAME)]}")
    raise TypeError(f"a metric must be a name or a Metric, got {type(identifier).__name__}")
