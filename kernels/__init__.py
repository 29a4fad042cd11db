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

The kernels live by family, one folder each (``gemm``, ``elementwise``,
``losses``, ``optim``, ``metrics``): the family's ``api.py`` holds the public
functions imported below, ``reference.py`` its contract in NumPy, and one
file per backend; kernels/_families.py lists the families and installs their
functions as the backends' methods.  A new kernel adds one import line here.
"""

from ._backend import Backend
from ._dispatch import (
    BACKEND_NAMES,
    CPU_PREFERENCE,
    BackendUnavailableError,
    available_backends,
    get_backend,
    loaded_backends,
    set_num_threads,
    to_numpy,
    use,
)
from ._labels import ClassIds, class_ids, class_ids_at
# the public kernels, by family (kernels/<family>/api.py); one line per kernel
from .conv.api import avg_pool2d
from .conv.api import avg_pool2d_backward
from .conv.api import conv2d
from .conv.api import conv2d_input_grad
from .conv.api import conv2d_kernel_grad
from .conv.api import max_pool2d
from .conv.api import max_pool2d_backward
from .conv.api import max_pool_relu_backward
from .conv.api import max_pool_relu_weight_grads
from .elementwise.api import bias_grad
from .elementwise.api import check_dropout_rate
from .elementwise.api import dropout_backward
from .elementwise.api import dropout_forward
from .elementwise.api import relu
from .elementwise.api import relu_backward
from .elementwise.api import relu_bias_grad
from .gemm.api import dense_forward
from .gemm.api import dense_forward_rows
from .gemm.api import matmul
from .gemm.api import weight_grad_rmsprop
from .losses.api import sigmoid_cross_entropy
from .losses.api import softmax
from .losses.api import softmax_cross_entropy
from .losses.api import softmax_cross_entropy_head
from .metrics.api import accumulate_correct
from .metrics.api import accumulate_sum
from .optim.api import adam_update
from .optim.api import adam_update_foreach
from .optim.api import bias_grad_rmsprop
from .optim.api import dense_backward_rmsprop
from .optim.api import rmsprop_update
from .optim.api import rmsprop_update_foreach
from .optim.api import sgd_update
from .optim.api import sgd_update_foreach

__all__ = [name for name in dir() if not name.startswith("_") and name not in (
    "annotations", "conv", "elementwise", "gemm", "losses", "metrics", "optim")]
