"""tapegrad: a small deep-learning engine whose every FLOP runs in compiled kernels.

Write ``import tapegrad as tf`` and the code of "Deep Learning with Python"
chapter 2 runs as written: Tensors and Variables, a GradientTape that records
ops and runs the chain rule backwards, and a Keras-style ``tapegrad.keras``.
The arithmetic runs in ``tapegrad.kernels`` (importing tapegrad compiles
nothing; backends load on first use).
"""

__version__ = "0.1.0"

import numpy as _np

from . import kernels
from .tensor import Tensor, Variable
from .tape import GradientTape
from .functions import (  # noqa: F401
    abs, add, argmax, broadcast_to, cast, clip_by_value, constant, convert_to_tensor, divide,
    equal, exp, fill, function, greater, identity, less, log, matmul, maximum, minimum, multiply,
    one_hot, print, TensorSpec,
    negative, not_equal, ones, ones_like, pow, reduce_max, reduce_mean, reduce_sum, reshape,
    shape, sign, sqrt, square, subtract, tanh, transpose, zeros, zeros_like,
)
from . import data, distribute, nn, random, trace, utils  # noqa: E402
from .trace import config  # noqa: E402  (tf.config.run_functions_eagerly)
from . import keras  # noqa: E402

float16 = _np.dtype("float16")
float32 = _np.dtype("float32")
float64 = _np.dtype("float64")
int8 = _np.dtype("int8")
int16 = _np.dtype("int16")
int32 = _np.dtype("int32")
int64 = _np.dtype("int64")
uint8 = _np.dtype("uint8")
bool = _np.dtype("bool")  # noqa: A001  (tf.bool)

__all__ = [
    "Tensor", "Variable", "GradientTape", "kernels", "keras", "nn", "random", "utils", "data", "distribute",
    "function", "print", "TensorSpec", "config",
    "abs", "add", "argmax", "broadcast_to", "cast", "clip_by_value", "constant",
    "convert_to_tensor", "divide", "equal", "exp", "fill", "greater", "identity", "less", "log",
    "matmul", "maximum", "minimum", "multiply", "negative", "not_equal", "one_hot", "ones", "ones_like",
    "pow", "reduce_max", "reduce_mean", "reduce_sum", "reshape", "shape", "sign", "sqrt",
    "square", "subtract", "tanh", "transpose", "zeros", "zeros_like",
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
]
