"""State that kernels update in place: optimizer slots and metric totals.

Optimizer slots and metric totals are Variables that fused kernels write
into.  These functions are the one place where such an update reaches a
Variable's array; they are not recorded on a tape (an update is not
differentiable).
"""

from __future__ import annotations

import operator

import numpy as np

from .. import kernels
from ..tensor import Tensor, Variable, to_array
from .base import convert


def zeros_variable(shape, dtype, like, name=None):
    """A non-trainable Variable of zeros on the backend of tensor ``like``
    (made there, not uploaded): an optimizer slot or a metric's running total."""
    be = like._backend
    return Variable._wrap_variable(be.zeros(tuple(shape), np.dtype(dtype)), be, False, name)


_UPDATE_KERNELS = ("sgd_update", "rmsprop_update", "adam_update")   # each has a _foreach form in kernels
_array_of = operator.attrgetter("_data")   # a slot Variable's array, read in C (once per weight per step)


def apply_updates(kernel_name, variables, grads, slots, **hyperparameters):
    """Run the fused optimizer kernel ``kernel_name`` (``"sgd_update"``,
    ``"rmsprop_update"``, ``"adam_update"``) on each Variable of ``variables``
    in place, with ONE kernel-API call for the whole list (its ``_foreach``
    form, which checks the hyperparameters once and every array as usual).

    ``grads[i]`` is the gradient of ``variables[i]`` and ``slots[i]`` the list
    of optimizer state Variables for it (from ``zeros_variable``), updated in
    place too; ``hyperparameters`` go to the kernel as keywords
    (``learning_rate=...``).
    """
    if kernel_name not in _UPDATE_KERNELS:
        raise ValueError(f"apply_update: unknown kernel {kernel_name!r}; valid: {list(_UPDATE_KERNELS)}")
    kernel = getattr(kernels, kernel_name + "_foreach")
    if not len(variables) == len(grads) == len(slots):
        raise ValueError(f"apply_updates: {len(variables)} variables, {len(grads)} grads and {len(slots)} "
                         "slot lists; give one of each per variable")
    if not variables:
        return
    be = variables[0]._backend if isinstance(variables[0], Variable) else None
    arrays, grad_arrays = [], []
    for variable, grad in zip(variables, grads):
        if not isinstance(variable, Variable):
            raise TypeError(f"apply_update needs a Variable to update, got {type(variable).__name__}")
        if variable._backend is not be:   # weights on several backends: one call per weight
            for variable, grad, state in zip(variables, grads, slots):
                apply_updates(kernel_name, [variable], [grad], [state], **hyperparameters)
            return
        arrays.append(variable._own_data() if variable._pins else variable._data)   # not an array a tape holds
        grad_arrays.append(grad._data if isinstance(grad, Tensor) else to_array(grad, variable.dtype, be))
    states = [list(map(_array_of, kind)) for kind in zip(*slots)]   # per kind of slot: one array per weight
    kernel(arrays, grad_arrays, *states, backend=be, **hyperparameters)


def apply_update(kernel_name, variable, grad, *slots, **hyperparameters):
    """:func:`apply_updates` on one Variable: ``slots`` are its state Variables.
    Returns ``variable``."""
    apply_updates(kernel_name, [variable], [grad], [slots], **hyperparameters)
    return variable


def _running_total(total, fn):
    if not isinstance(total, Variable):
        raise TypeError(f"{fn}: the running total must be a Variable (ops.zeros_variable((1,), 'float64', ...)), "
                        f"got {type(total).__name__}")
    return total._own_data()


def accumulate_sum(values, total, weight=1.0):
    """``total[0] += weight * sum(values)`` in place, in float64, on the values'
    backend (``kernels.accumulate_sum``): a metric's mean never leaves the device."""
    values = convert(values)
    kernels.accumulate_sum(values._data, _running_total(total, "accumulate_sum"), weight=weight,
                           backend=values._backend)
    return total


def add_to_total(total, amount):
    """``total[0] += amount`` in place: a float64 amount summed already (a traced step's fused
    classifier head counts its loss and hits in its own kernel, trace/fuse_head.py), added as
    ``accumulate_sum`` adds its sum.  The total must live on a host backend."""
    data = _running_total(total, "add_to_total")
    if not total._backend.host:
        raise ValueError(f"add_to_total: the running total is on the {total._backend.name} backend; "
                         "use accumulate_sum there")
    data[0] += amount
    return total


def accumulate_correct(scores, labels, total):
    """``total[0] +=`` the rows of (N, C) ``scores`` whose argmax is their label
    (``kernels.accumulate_correct``); ``labels`` may be a ``ClassIds``."""
    scores = convert(scores)
    kernels.accumulate_correct(scores._data, labels, total=_running_total(total, "accumulate_correct"),
                               backend=scores._backend)
    return total
