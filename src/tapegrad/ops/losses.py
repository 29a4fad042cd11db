"""Fused losses: cross-entropy computed by one kernel that also returns its gradient.

The kernel returns the loss and the gradient of the summed loss in one
pass; backward then only scales that stored gradient by the incoming one,
or, under an outer tape, rebuilds it from differentiable ops
(:func:`~tapegrad.ops.base._fused_gradient`).
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..tape import Seed
from ..tensor import Tensor
from .activations import sigmoid, softmax
from .base import _fused_gradient, _result, _wrap, convert
from .elementwise import divide, multiply, subtract
from .labels import class_ids
from .shape import reshape


def sparse_softmax_cross_entropy(logits, labels, reduction="none"):
    """Per-row ``-log softmax(logits)[label]`` on the fused kernel.

    The kernel returns the gradient of the summed loss, softmax - onehot,
    in the same pass; backward only scales it by the incoming gradient.
    ``reduction="mean"`` returns the batch mean as one scalar op instead
    (what a Keras loss object does), saving the reduce_mean and its backward.
    """
    logits = convert(logits)
    be = logits._backend
    shape = logits.shape
    flat = logits._data if len(shape) == 2 else logits._data.reshape(-1, shape[-1])
    ids = class_ids(labels, like=logits, what="sparse_softmax_cross_entropy")
    if len(shape) != 2 and ids.ndim == len(shape) and ids.shape[-1] == 1:
        ids = ids.reshape(ids.shape[:-1])
    loss, grad = kernels.softmax_cross_entropy(flat, ids.reshape(-1), reduction="none", backend=be)
    if reduction == "mean":   # the mean stays on the backend: on a GPU, nothing is copied back
        # (sum / n is what np.mean computes, bit for bit, without its ~2 us of Python)
        data = be.xp.asarray(be.xp.true_divide(be.xp.sum(loss), loss.shape[0]))
    else:
        data = loss if len(shape) == 2 else loss.reshape(shape[:-1])
    return _result(data, be, (logits,), _sparse_softmax_cross_entropy_grad, (logits, ids.host, grad, reduction))


def _sparse_softmax_cross_entropy_grad(g, ctx, needs):
    return (_fused_gradient(g, ctx, _softmax_xent_stored, _softmax_xent_differentiable),)


def _softmax_xent_stored(g, ctx):
    """The kernel's (softmax - onehot) times g, and divided by N for the mean:
    one multiply.  For the mean of a plain loss g is the tape's ``Seed`` of
    ones, so the factor is 1/N alone; any other g is a scalar folded into it."""
    logits, labels, grad, reduction = ctx
    be = logits._backend
    xp = be.xp
    if reduction == "mean":   # d mean / d logits = (softmax - onehot) / N
        factor = 1.0 / labels.size if type(g) is Seed else xp.multiply(g._data, 1.0 / labels.size)
    else:                     # one gradient per row: broadcast along the classes
        factor = g._data.reshape(g.shape + (1,))
    return _wrap(xp.multiply(grad, factor).reshape(logits.shape), be)


def _softmax_xent_differentiable(g, ctx):
    """The same from ops, for an outer tape: softmax(logits) - onehot(labels)
    (/ N for the mean), times g."""
    logits, labels, _, reduction = ctx
    be = logits._backend
    onehot = _wrap(be.asarray(np.eye(logits.shape[-1], dtype=logits.dtype)[labels.reshape(-1)]), be)
    grad = subtract(softmax(logits), reshape(onehot, logits.shape))
    if reduction == "mean":
        return multiply(divide(grad, labels.size), g)
    return multiply(grad, reshape(g, g.shape + (1,)))


def sigmoid_binary_cross_entropy(logits, labels):
    """Per-element ``-z log sigmoid(x) - (1-z) log(1 - sigmoid(x))`` on the fused kernel.

    The kernel computes it as ``max(x, 0) - x z + log(1 + exp(-|x|))``, finite
    for logits of any size (the composed formula overflows or takes log(0)),
    and returns the gradient ``sigmoid(x) - z`` in the same pass; backward
    only multiplies it by the incoming gradient.  ``labels`` are numbers in
    [0, 1] (soft labels allowed) of the logits' shape; not differentiated.
    """
    logits = convert(logits)
    be = logits._backend
    # a Tensor's array goes to the kernel as it is (the kernel checks and copies it)
    label_data = labels._data if isinstance(labels, Tensor) else np.asarray(labels)
    if tuple(label_data.shape) != logits.shape:  # as TF: no broadcasting (Keras losses align first)
        raise ValueError(f"sigmoid_binary_cross_entropy: logits of shape {logits.shape} and labels of "
                         f"shape {tuple(label_data.shape)} must have the same shape")
    loss, grad = kernels.sigmoid_cross_entropy(logits._data, label_data, backend=be)
    return _result(loss, be, (logits,), _sigmoid_binary_cross_entropy_grad, (logits, label_data, grad))


def _sigmoid_binary_cross_entropy_grad(g, ctx, needs):
    return (_fused_gradient(g, ctx, _sigmoid_xent_stored, _sigmoid_xent_differentiable),)


def _sigmoid_xent_stored(g, ctx):
    """The kernel's sigmoid(x) - z times g (one per element)."""
    logits, _, grad = ctx
    be = logits._backend
    return _wrap(be.xp.multiply(grad, g._data), be)


def _sigmoid_xent_differentiable(g, ctx):
    """(sigmoid(logits) - labels) * g from ops, for an outer tape."""
    logits, labels, _ = ctx
    be = logits._backend
    host = kernels.to_numpy(labels) if be.is_array(labels) else labels
    return multiply(subtract(sigmoid(logits), _wrap(be.asarray(np.asarray(host, dtype=logits.dtype)), be)), g)
