"""What a caller that checked a kernel call once needs to repeat it without the API's checks.

A traced plan (tapegrad.trace, its ``bind_kernels`` pass) calls the same
kernels on arrays of the same shapes at every step; the public API checks
every operand every time.  The plan checks what cannot change once, when it
is traced, and calls the backend's method directly from then on, with the
same thread policy and the same geometry the API would compute.  These are
the public names it does that with, each the API's own code:

* ``run_gemm`` and ``THREADED_BACKENDS``: the thread policy's entry
  (kernels/_threads.py) and the backends it sizes;
* ``learning_settings``: an optimizer's hyperparameters, checked as the
  update kernels check them (still at every call: they may change);
* ``row_index``: a batch's row numbers, copied and checked against the range
  (at every call: the values change);
* ``labels_for``: a batch's class ids (a ``ClassIds``), their shape and range
  checked against the logits (at every call: the values change);
* ``conv_geometry`` and ``pool_geometry``: strides and padding read as
  ``conv2d`` and ``max_pool2d`` read them, and the output's size.
"""

from __future__ import annotations

import math

from ._labels import labels_for
from ._threads import THREADED_BACKENDS, run_gemm
from .conv import api as _conv_api
from .gemm.api import row_index
from .optim.api import rmsprop_settings

__all__ = ["THREADED_BACKENDS", "run_gemm", "row_index", "labels_for", "learning_settings", "conv_geometry", "pool_geometry"]


def learning_settings(learning_rate, rho, epsilon, fn):
    """``(learning_rate, rho, epsilon)`` as floats, checked as ``rmsprop_update`` checks them
    (learning_rate >= 0, 0 <= rho < 1, epsilon > 0, all finite).  Three floats in range,
    an optimizer's usual settings, are returned as they are after one comparison each."""
    if type(learning_rate) is float and type(rho) is float and type(epsilon) is float \
            and 0.0 <= learning_rate < math.inf and 0.0 <= rho < 1.0 and 0.0 < epsilon < math.inf:
        return learning_rate, rho, epsilon
    return rmsprop_settings(learning_rate, rho, epsilon, fn)


def conv_geometry(fn, x_shape, w_shape, strides, padding):
    """``(strides, pads, (oh, ow))`` of a convolution of an NHWC ``x_shape`` by an HWIO ``w_shape``."""
    strides = _conv_api._pair(strides, "strides", fn)
    (oh, ow), pads = _conv_api._conv_shapes(fn, x_shape, w_shape, strides, _conv_api._padding(padding, fn))
    return strides, pads, (oh, ow)


def pool_geometry(fn, x_shape, pool_size, strides, padding):
    """``(pool_size, strides, (oh, ow), pads)`` of a pooling of an NHWC ``x_shape``."""
    return _conv_api._pool_args(fn, x_shape, pool_size, strides, padding)
