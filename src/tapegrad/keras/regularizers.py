"""Weight regularizers: a penalty on large weights, added to the loss.

``Dense(16, kernel_regularizer=regularizers.l2(0.002))`` adds
``0.002 * sum(kernel ** 2)`` to the loss the model minimizes (and reports),
which pulls the weights towards zero and so makes the model simpler: the
book's chapter 5 cure for overfitting.  L1 adds ``l1 * sum(|w|)`` instead,
which drives weights to exactly zero.  As in Keras 3, ``l1``, ``l2`` and
``l1_l2`` are the classes ``L1``, ``L2`` and ``L1L2`` under other names.
"""

from __future__ import annotations

import math

from .. import ops


def _factor(value, name):
    """A penalty factor: a finite number >= 0 (Keras's check)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or math.isinf(value) or value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float. "
                         f"Received: {name}={value!r}")
    return float(value)


class Regularizer:
    """Base class: ``regularizer(weights)`` -> a scalar penalty tensor."""

    def __call__(self, x):
        raise NotImplementedError

    def get_config(self):
        return {}


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x^2)`` (both factors default to 0, as in Keras 3)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, x):
        x = ops.convert(x)
        penalty = ops.zeros_like(ops.reduce_sum(x))
        if self.l1:
            penalty = ops.add(penalty, ops.multiply(ops.reduce_sum(ops.abs(x)), self.l1))
        if self.l2:
            penalty = ops.add(penalty, ops.multiply(ops.reduce_sum(ops.square(x)), self.l2))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 * sum(|x|)``; the factor defaults to 0.01."""

    def __init__(self, l1=0.01):
        self.l1 = _factor(0.01 if l1 is None else l1, "l1")

    def __call__(self, x):
        return ops.multiply(ops.reduce_sum(ops.abs(ops.convert(x))), self.l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(x^2)``; the factor defaults to 0.01."""

    def __init__(self, l2=0.01):
        self.l2 = _factor(0.01 if l2 is None else l2, "l2")

    def __call__(self, x):
        return ops.multiply(ops.reduce_sum(ops.square(ops.convert(x))), self.l2)

    def get_config(self):
        return {"l2": self.l2}


l1 = L1
l2 = L2
l1_l2 = L1L2

_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}


def get(identifier):
    """A regularizer from None, a name (``"l2"``: default factor), a config dict or a callable."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown regularizer {identifier!r}; valid names are {sorted(_BY_NAME)}")
        return cls()
    if isinstance(identifier, dict):
        name = identifier.get("class_name", "")
        cls = _BY_NAME.get(str(name).lower())
        if cls is None:
            raise ValueError(f"unknown regularizer config {identifier!r}")
        return cls(**identifier.get("config", {}))
    if callable(identifier):
        return identifier
    raise TypeError(f"a regularizer must be None, a name, a dict or a callable, got {type(identifier).__name__}")


__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get"]
