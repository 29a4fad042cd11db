"""Optimizers: one fused, in-place kernel per weight, one call per step.

``apply_gradients(zip(grads, weights))`` calls ``ops.apply_updates`` once
with the optimizer's kernel name (``"sgd_update"``, ``"rmsprop_update"``,
``"adam_update"``), its hyperparameters, the Variables, their gradients and
the optimizer's state for each (non-trainable Variables made where the weight
lives, on first use): the kernel updates each weight and its state in one
pass, with no temporary arrays.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import ops
from ..trace import host_call
from ..tensor import Variable
from . import serialization


class Optimizer:
    """Base class: keeps ``iterations`` and per-variable state, keyed by id."""

    name = "optimizer"
    _slots = ()  # names of the state arrays each variable gets

    def __init__(self, learning_rate, name=None):
        learning_rate = float(learning_rate)
        if not learning_rate >= 0:
            raise ValueError(f"learning_rate must be >= 0, got {learning_rate}")
        self.learning_rate = learning_rate
        self.iterations = 0
        self._state = {}  # id(variable) -> (variable, [state Variables])
        if name:
            self.name = name

    def _state_for(self, var):
        entry = self._state.get(id(var))
        if entry is None or entry[0] is not var:
            entry = (var, [ops.zeros_variable(var.shape, var.dtype, like=var, name=f"{self.name}/{slot}")
                           for slot in self._slots])
            self._state[id(var)] = entry
        return entry[1]

    def slots_for(self, variable):
        """The state Variables this optimizer keeps for ``variable`` (made now, as
        zeros, when new), one per name of ``_slots``: what a traced step's fused
        update kernels write (tapegrad/trace/fuse_optimizer.py)."""
        return list(self._state_for(variable))

    def apply_gradients(self, grads_and_vars):
        """Update each variable with its gradient; ``None`` gradients are skipped."""
        return self._apply_pairs(list(grads_and_vars))

    @host_call
    def _apply_pairs(self, pairs):
        """``apply_gradients`` on a list: a traced step (``tapegrad.function``) records
        this whole and re-runs it as Python each step (it counts ``iterations``)."""
        kept = [(g, v) for g, v in pairs if g is not None]
        if not kept:
            raise ValueError(f"No gradients provided for any variable: {[getattr(v, 'name', v) for _, v in pairs]}")
        if len(kept) < len(pairs):
            names = [v.name for g, v in pairs if g is None]
            warnings.warn(f"Gradients do not exist for variables {names} when minimizing the loss", stacklevel=2)
        self.iterations += 1
        variables, grads, states = [], [], []
        for g, var in kept:
            if not isinstance(var, Variable):
                raise TypeError(f"apply_gradients needs Variables, got {type(var).__name__}")
            variables.append(var)
            grads.append(g)
            states.append(self._state_for(var))
        ops.apply_updates(self._kernel, variables, grads, states, **self._hyperparameters())
        return self.iterations

    #: the fused update kernel (``kernels.<name>``) that ``apply_gradients`` runs
    _kernel = None

    def _hyperparameters(self):
        """The kernel's keyword arguments for this step."""
        raise NotImplementedError

    def get_config(self):
        """The arguments that rebuild this optimizer (``type(opt).from_config(config)``), not its state."""
        return {"name": self.name, "learning_rate": self.learning_rate}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # ---------------------------------------------------------- state, for model.save
    def export_state(self, variables):
        """``(iterations, slots)``: the step count and, per variable of ``variables``, its
        state arrays as NumPy copies (None for a variable never updated)."""
        slots = []
        for var in variables:
            entry = self._state.get(id(var))
            slots.append(None if entry is None or entry[0] is not var
                         else [slot.numpy() for slot in entry[1]])
        return self.iterations, slots

    def import_state(self, variables, iterations, slots):
        """Restore what ``export_state`` gave, for ``variables`` in the same order.

        Each array must have its variable's shape and dtype (checked first, so
        a bad file changes nothing)."""
        if len(slots) != len(variables):
            raise ValueError(f"optimizer state for {len(slots)} variables, but the model has {len(variables)}")
        for var, arrays in zip(variables, slots):
            if arrays is None:
                continue
            if len(arrays) != len(self._slots):
                raise ValueError(f"{self.name} keeps {len(self._slots)} state array(s) per variable "
                                 f"({', '.join(self._slots) or 'none'}), got {len(arrays)} for {var.name}")
            for a in arrays:
                if a.shape != var.shape or a.dtype != var.dtype:
                    raise ValueError(f"optimizer state for {var.name} has shape {a.shape} and dtype {a.dtype}, "
                                     f"but the variable has shape {var.shape} and dtype {var.dtype}")
        self.iterations = int(iterations)
        for var, arrays in zip(variables, slots):
            if arrays is not None:
                self._state.pop(id(var), None)
                for slot, a in zip(self._state_for(var), arrays):
                    slot.assign(np.asarray(a, var.dtype))


class SGD(Optimizer):
    """``w -= lr * g``; with momentum, ``v = m*v - lr*g; w += v`` (Nesterov:
    ``w += m*v - lr*g``)."""

    name = "SGD"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name=None):
        super().__init__(learning_rate, name)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self._slots = ("velocity",) if self.momentum else ()

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}

    _kernel = "sgd_update"

    def _hyperparameters(self):
        return {"learning_rate": self.learning_rate, "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """Divide each step by a running RMS of the gradient:
    ``v = rho*v + (1-rho)*g^2; w -= lr * g / sqrt(v + eps)``."""

    name = "RMSprop"
    _slots = ("v",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, name=None):
        super().__init__(learning_rate, name)
        self.rho = float(rho)
        self.epsilon = float(epsilon)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}

    _kernel = "rmsprop_update"

    def _hyperparameters(self):
        return {"learning_rate": self.learning_rate, "rho": self.rho, "epsilon": self.epsilon}


class Adam(Optimizer):
    """Momentum (m) plus RMS scaling (v), both bias-corrected by the step count."""

    name = "Adam"
    _slots = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None):
        super().__init__(learning_rate, name)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}

    _kernel = "adam_update"

    def _hyperparameters(self):
        return {"step": self.iterations, "learning_rate": self.learning_rate, "beta_1": self.beta_1,
                "beta_2": self.beta_2, "epsilon": self.epsilon}


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}
serialization.builtin("optimizer", SGD, RMSprop, Adam)


def serialize(optimizer):
    """``{"class_name": "RMSprop", "config": {...}}``: what ``deserialize`` and ``get`` read."""
    return serialization.serialize_keras_object(optimizer)


def deserialize(config, custom_objects=None):
    """A new optimizer from ``serialize``'s output (same hyperparameters, fresh state)."""
    return serialization.deserialize_keras_object(config, "optimizer", custom_objects)


def get(identifier):
    """An optimizer from a name (``"rmsprop"``), a config dict (``serialize``'s) or an Optimizer instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown optimizer {identifier!r}; valid names are {sorted(_BY_NAME)}")
        return cls()
    raise TypeError(f"an optimizer must be a name or an Optimizer, got {type(identifier).__name__}")
