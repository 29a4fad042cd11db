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

import contextlib
import contextvars
import threading

import numpy as np

from .. import ops
from ..trace import host_call
from ..tensor import Tensor, Variable
from . import losses, serialization
from .layers import get_initializer


def _host(x):
    return np.asarray(x.numpy() if isinstance(x, Tensor) else x)


class Metric:
    """Base class.  It holds no state of its own (as in Keras): a subclass keeps
    its state in ``add_weight`` variables, under any names (``self.total`` too),
    and defines ``update_state`` and ``result``; the default ``reset_state``
    sets every such variable back to zero."""

    name = "metric"
    _state_is_per_call = False   # True where the state can live in a call's scope (see call_state)

    def __init_subclass__(cls, **kwargs):
        """Each ``update_state`` keeps Python state (counts), and ``result`` reads it, so a
        traced step (``tapegrad.function``) records both whole and re-runs them as Python."""
        super().__init_subclass__(**kwargs)
        for name in ("update_state", "result"):
            if name in cls.__dict__:
                setattr(cls, name, host_call(cls.__dict__[name]))

    def __init__(self, name=None, dtype=None):
        if name:
            self.name = name
        self.dtype = np.dtype(dtype or "float32")
        self._variables = []

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
        for var in self._variables:
            var.assign(np.zeros(var.shape, var.dtype))

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define update_state()")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must define result()")

    def get_config(self):
        """The arguments that rebuild this metric (its name; subclasses add theirs), not its state."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        try:
            shown = f" result={float(self.result()):.4f}"
        except NotImplementedError:
            shown = ""
        return f"<{type(self).__name__} name={self.name!r}{shown}>"


# ------------------------------------------------------------------ per-call state
_CALL_SCOPE = contextvars.ContextVar("tapegrad_metric_call_scope", default=None)
_SHARED_STATE_LOCK = threading.RLock()


class _RunningState:
    """A total (on the host, plus a one-element float64 Variable where the batches live) and a count."""

    __slots__ = ("host_total", "device_total", "count")

    def __init__(self):
        self.host_total = 0.0
        self.device_total = None
        self.count = 0.0


@contextlib.contextmanager
def call_state(metrics):
    """Give ``metrics`` fresh state that belongs to this call (``evaluate``) alone.

    Two threads evaluating one model then never mix their running totals:
    each call's ``Mean`` / accuracy state lives in a scope of its own
    (a ``contextvars`` variable, so per thread), and when the call ends its
    values become the metrics' own, readable as after a Keras ``evaluate``.
    A metric keeping its state in ``add_weight`` variables cannot be given a
    private copy; calls that use one run one at a time instead.
    """
    metrics = list(metrics)
    scope = {}
    shared = any(not m._state_is_per_call or m._variables for m in metrics)
    if shared:
        _SHARED_STATE_LOCK.acquire()
    token = _CALL_SCOPE.set(scope)
    try:
        yield
    finally:
        _CALL_SCOPE.reset(token)
        if shared:
            _SHARED_STATE_LOCK.release()
        for metric, state in scope.values():
            metric._own_state = state


class _RunningTotal(Metric):
    """A metric whose state is a running ``total`` and ``count``, kept per call
    inside ``call_state`` (the state of ``Mean`` and the accuracies).

    The total lives where the batches live: for a batch of tensors it is a
    one-element float64 Variable on their backend, to which a kernel adds.
    """

    _state_is_per_call = True

    def __init__(self, name=None, dtype=None):
        super().__init__(name, dtype)
        self._own_state = _RunningState()

    def _state(self):
        scope = _CALL_SCOPE.get()
        if scope is None:
            return self._own_state
        entry = scope.get(id(self))
        if entry is None:
            entry = scope[id(self)] = (self, _RunningState())
        return entry[1]

    def reset_state(self):
        scope = _CALL_SCOPE.get()
        if scope is None:
            self._own_state = _RunningState()
        else:
            scope[id(self)] = (self, _RunningState())
        super().reset_state()

    def _running_total(self, like):
        """The Variable that batches on tensor ``like``'s backend add to (made on first use)."""
        state = self._state()
        if state.device_total is None or state.device_total.backend is not like.backend:
            state.host_total = self.total   # fold in what another backend summed
            state.device_total = ops.zeros_variable((1,), np.float64, like=like, name=f"{self.name}/total")
        return state.device_total

    def add_batch_totals(self, amount, counted, like):
        """Add one batch as ``update_state`` adds it, its share given ready-made: ``amount``
        to the float64 running total on the backend of tensor ``like``, ``counted`` to the
        count.  The traced step's fused classifier head (trace/fuse_head.py) gives it the
        mean loss and the correct rows, which its kernel counted."""
        ops.add_to_total(self._running_total(like), amount)
        self._state().count += counted

    @property
    def total(self):
        """The running numerator (reading it copies one number from a GPU)."""
        state = self._state()
        if state.device_total is None:
            return state.host_total
        return state.host_total + float(state.device_total.numpy()[0])

    @property
    def count(self):
        """The running denominator: samples seen, or the sum of their weights."""
        return self._state().count

    def result(self):
        count = self.count
        return self.total / count if count else 0.0


def _same_rank(values, weight):
    """Keras's ``squeeze_or_expand_to_same_rank``: ranks one apart meet by a trailing axis of 1."""
    if values.ndim == weight.ndim + 1 and values.shape[-1] == 1:
        if weight.ndim == 1:
            weight = weight[:, None]
        else:
            values = values[..., 0]
    if weight.ndim == values.ndim + 1 and weight.shape[-1] == 1:
        if values.ndim == 1:
            values = values[:, None]
        else:
            weight = weight[..., 0]
    return values, weight


def _samplewise(values, sample_weight, reduce=np.mean):
    """Keras's ``reduce_to_samplewise_values`` on the host: the per-sample
    (weighted) values, and the weights that count them (None when unweighted)."""
    if sample_weight is not None:
        values, weight = _same_rank(values, _host(sample_weight).astype(np.float64))
        if values.ndim > weight.ndim:
            values = reduce(values, axis=tuple(range(weight.ndim, values.ndim)))
        try:
            weight = np.broadcast_to(weight, values.shape)
        except ValueError:
            raise ValueError(f"sample_weight of shape {weight.shape} does not match values of shape "
                             f"{values.shape}") from None
        values = values * weight
        if weight.ndim > 1:
            weight = reduce(weight, axis=tuple(range(1, weight.ndim)))
        sample_weight = weight
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Mean(_RunningTotal):
    """The (weighted) mean of the values it is given, as Keras computes it:
    each sample's values are averaged first, then ``sum(w * x) / sum(w)``
    over samples (a scalar weight weighs the whole call's mean)."""

    name = "mean"

    def update_state(self, values, sample_weight=None):
        scalar_weight = sample_weight is None or (not isinstance(sample_weight, Tensor)
                                                  and np.ndim(sample_weight) == 0)
        if isinstance(values, Tensor) and values.dtype.kind == "f" and scalar_weight:
            # on the values' backend: total += sum(x) * (samples / size), the sum of the per-sample means
            if sample_weight is None:
                counted = values.shape[0] if values.ndim else 1
            else:
                counted = float(sample_weight)
            weight = counted / values.size if values.size else 0.0
            ops.accumulate_sum(values, self._running_total(values), weight=weight)
            self._state().count += counted
            return
        values, weight = _samplewise(_host(values).astype(np.float64), sample_weight)
        state = self._state()
        state.host_total += float(values.sum())
        state.count += float(values.shape[0] if values.ndim else 1) if weight is None else float(weight.sum())


class Sum(_RunningTotal):
    """The (weighted) sum of the values it is given: ``sum(w * x)``."""

    name = "sum"

    def update_state(self, values, sample_weight=None):
        values, _ = _samplewise(_host(values).astype(np.float64), sample_weight, reduce=np.sum)
        self._state().host_total += float(values.sum())

    def result(self):
        return self.total


class _MatchRate(Mean):
    """Fraction of samples where ``_matches`` is true (computed on the host),
    weighted by ``sample_weight`` as Keras's ``MeanMetricWrapper`` weighs them."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        matches = self._matches(_host(y_true), _host(y_pred))
        super().update_state(matches.astype(np.float64), sample_weight)


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
        self._state().count += y_pred.shape[0]

    def _matches(self, y_true, y_pred):
        # a row holding a NaN has no argmax: it is a miss (as in the kernel)
        has_nan = np.isnan(np.max(y_pred, axis=-1)) if y_pred.dtype.kind == "f" else False
        return (np.argmax(y_pred, axis=-1) == self._class_ids(y_true, y_pred)) & ~has_nan


class SparseCategoricalAccuracy(_ArgmaxMatchRate):
    """Integer labels against the argmax of predicted scores.  Labels the
    trainer checked once for the batch (a ``ClassIds``) go to the kernel as they are."""

    name = "sparse_categorical_accuracy"

    def hits_counter(self):
        """This metric when it counts a batch as tapegrad's own does (the argmax of each
        row against its class id, no weights), so that a fused step may count the hits
        itself and add them (``add_batch_totals``); None for a subclass of its own counting."""
        kind = type(self)
        own = kind.update_state is SparseCategoricalAccuracy.update_state \
            and kind._class_ids is SparseCategoricalAccuracy._class_ids
        return self if own else None

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

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        self.threshold = float(threshold)
        super().__init__(name, dtype)

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

    _state_is_per_call = True   # the chosen metric's state is
    _choosing = threading.Lock()

    def __init__(self, name="accuracy"):
        self.chosen = None
        super().__init__(name)

    def reset_state(self):
        if getattr(self, "chosen", None) is not None:
            self.chosen.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.chosen is None:
            true_shape = tuple(y_true.shape) if hasattr(y_true, "shape") else np.shape(y_true)
            chosen = accuracy_for(true_shape, tuple(np.shape(y_pred) if not hasattr(y_pred, "shape")
                                                    else y_pred.shape), self.name)
            with self._choosing:   # two threads' first batches choose one metric, not two
                if self.chosen is None:
                    self.chosen = chosen
        self.chosen.update_state(y_true, y_pred, sample_weight)

    def result(self):
        return self.chosen.result() if self.chosen is not None else 0.0

    def hits_counter(self):
        """The chosen variant's ``hits_counter()`` when it is sparse categorical accuracy, else None."""
        chosen = self.chosen
        if type(self).update_state is not _AccuracyByShape.update_state or not isinstance(chosen, SparseCategoricalAccuracy):
            return None
        return chosen.hits_counter()


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


serialization.builtin("metric", Metric, Mean, Sum, SparseCategoricalAccuracy, CategoricalAccuracy, BinaryAccuracy,
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
