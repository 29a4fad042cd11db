"""tapegrad.kernels: the compiled kernels under the engine, usable on their own.

Every function takes NumPy arrays (or arrays of the chosen backend), checks
them, and runs on a backend: ``numba`` and ``cython`` compile the same
kernels two ways, ``numpy`` is the plain reference they are tested against,
and ``cuda`` runs them on an NVIDIA GPU with numba.cuda.

    >>> import numpy as np, tapegrad.kernels as K
    >>> a = np.ones((2, 3), np.float32); b = np.ones((3, 4), np.float32)
    >>> K.matmul(a, b, backend="numpy")[0, 0]
    np.float32(3.0)
    >>> with K.use("numpy"):
    ...     K.relu(np.array([-1.0, 2.0]))
    array([0., 2.])
"""

from ._backend import Backend
from ._dispatch import (
    BackendUnavailableError,
    available_backends,
    get_backend,
    set_num_threads,
    use,
)
from .api import (
    ClassIds,
    accumulate_correct,
    accumulate_sum,
    adam_update,
    adam_update_foreach,
    bias_grad,
    class_ids,
    dense_forward,
    dropout_backward,
    dropout_forward,
    matmul,
    relu,
    relu_backward,
    relu_bias_grad,
    rmsprop_update,
    rmsprop_update_foreach,
    sgd_update,
    sgd_update_foreach,
    sigmoid_cross_entropy,
    softmax,
    softmax_cross_entropy,
    to_numpy,
)
from .conv import (
    avg_pool2d,
    avg_pool2d_backward,
    conv2d,
    conv2d_input_grad,
    conv2d_kernel_grad,
    max_pool2d,
    max_pool2d_backward,
)

__all__ = [
    "Backend", "BackendUnavailableError", "available_backends", "get_backend",
    "set_num_threads", "use", "matmul", "relu", "relu_backward", "softmax",
    "softmax_cross_entropy", "dense_forward", "bias_grad", "relu_bias_grad", "sgd_update",
    "rmsprop_update", "adam_update", "sgd_update_foreach", "rmsprop_update_foreach",
    "adam_update_foreach", "accumulate_sum", "accumulate_correct", "to_numpy",
    "dropout_forward", "dropout_backward", "sigmoid_cross_entropy", "ClassIds", "class_ids",
    "conv2d", "conv2d_input_grad", "conv2d_kernel_grad", "max_pool2d", "max_pool2d_backward",
    "avg_pool2d", "avg_pool2d_backward",
]
