"""The differentiable ops: each forward next to its gradient, one file per kind.

An op computes its output with the kernels (``tapegrad.kernels``) or the
backend's array namespace ``xp`` and returns it through ``_result``
(base.py), the one place an op gets onto a recording tape, with a
``backward(g, ctx, needs)`` named ``_<op>_grad`` that maps the gradient of
the output ``g`` to a tuple of exactly one gradient per input (``None`` where
``needs`` says nobody asked).  Backward functions are built from these same
ops, so they can be differentiated again.

The files, lowest first (a file imports only from files above it in this
list, so the package has no import cycle):

==================  ===========================================================
base.py             ``convert`` (operands to tensors), ``_result`` (recording),
                    ``input_of`` (what an output was computed from),
                    ``_fused_gradient`` (a fused kernel's stored gradient or a
                    differentiable one)
shape.py            reshape, transpose, getitem / scatter, concat
broadcasting.py     broadcast_to and reduce_sum (each the other's gradient),
                    unbroadcast
elementwise.py      add ... divide, power, exp, log, maximum, compare, cast...
reductions.py       reduce_mean, reduce_max, argmax
activations.py      relu, sigmoid, tanh, softmax
linalg.py           matmul, and dense (the fused Dense layer op), bias_grad
conv.py             conv2d (bias and relu fused) and its two gradients,
                    max_pool2d, avg_pool2d and their backwards
labels.py           class_ids: label batches checked once
losses.py           the fused cross-entropies
dropout.py          dropout and its backward
state.py            optimizer updates and metric totals written in place
creation.py         zeros_like, ones_like
operators.py        the wiring: Tensor's operators, the tape's three ops
==================  ===========================================================

To add a kind of op (say ``conv.py``): write the file with each op's
forward next to its ``_<op>_grad``, import what it uses from the files
above it, list it in the table above, and add one line below,
``from .conv import conv2d, ...``, so that ``ops.conv2d`` works like every
other op.  tests/test_architecture.py then asks for one small case of each
new op (every ``_<op>_grad`` of the package must have one).
"""

from __future__ import annotations

from .base import convert, input_of
from .shape import concat, getitem, reshape, scatter, transpose
from .broadcasting import broadcast_to, reduce_sum, unbroadcast
from .elementwise import (
    COMPARISONS, abs, add, cast, clip_by_value, compare, divide, exp, log, maximum, minimum, multiply,
    negative, power, sign, sqrt, square, subtract,
)
from .reductions import argmax, reduce_max, reduce_mean
from .activations import relu, relu_backward, sigmoid, softmax, tanh
from .linalg import bias_grad, dense, matmul
from .conv import (avg_pool2d, avg_pool2d_backward, conv2d, conv2d_input_grad, conv2d_kernel_grad, max_pool2d,
                   max_pool2d_backward)
from .labels import ClassIds, class_ids
from .losses import sigmoid_binary_cross_entropy, sparse_softmax_cross_entropy
from .dropout import dropout, dropout_backward
from .state import accumulate_correct, accumulate_sum, add_to_total, apply_update, apply_updates, zeros_variable
from .creation import ones_like, zeros_like
from .operators import TENSOR_OPERATORS

