"""The cuda backend: arrays and copies on an NVIDIA GPU (numba.cuda).

Arrays of this backend are Numba device arrays (``cuda.device_array``,
``cuda.to_device``); they stay on the GPU between calls, so a training loop
that keeps its parameters, optimizer state and activations here copies
only each batch in and the loss out.  :func:`tapegrad.kernels.to_numpy` (or
``backend.to_numpy``) copies an array back.

This module is the array plumbing (allocation, copies, overlap checks, the
``xp`` array contract of :mod:`.cuda_xp`); the kernels are each family's
``cuda.py`` (kernels/gemm/cuda.py: the tiled SGEMM; the others: grid-stride
passes and row-wise reductions), installed as methods from
kernels/_families.py.  Their launch geometry lives in :mod:`._cuda`.

Only float32 is supported (``dtypes``): that is what GPUs are fast at.

Importing this module never touches a GPU and never fails: numba.cuda is
imported inside a ``try`` and every kernel compiles on its first launch.
:func:`check_available` (called by the dispatcher when the backend is first
asked for) raises a clear error on a machine without a GPU.  Under Numba's
CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` set before numba is imported)
everything runs, slowly, in Python: that is how the tests run it.
"""

from __future__ import annotations

import math

import numpy as np

from . import _families
from ._backend import ArrayOps, Backend
from ._cuda import F32, IMPORT_ERROR, cuda, launch, load_array_overloads, simulated  # noqa: F401 (simulated: public)

if cuda is not None:
    from . import cuda_xp
else:
    cuda_xp = None

_NO_GPU = (
    "no CUDA GPU found (and NUMBA_ENABLE_CUDASIM is not set); install the cuda extra "
    "(pip install 'tapegrad[cuda]') and run on a machine with an NVIDIA GPU"
)


def check_available() -> None:
    """Raise ImportError or RuntimeError, with the reason, if no GPU can run us."""
    if cuda is None:
        raise ImportError(f"numba.cuda cannot be imported ({IMPORT_ERROR}); {_NO_GPU}")
    if not cuda.is_available():
        raise RuntimeError(_NO_GPU)
    load_array_overloads()


# ====================================================================== copies
# Defined only when numba.cuda imported; ``cuda.jit`` without a signature
# compiles lazily, on the first launch, for the argument types it sees.
if cuda is not None:

    @cuda.jit
    def _fill(out, value):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, out.shape[0], stride):
            out[i] = value

    @cuda.jit
    def _copy1d(src, out):
        """out[i] = src[i] for a src of any stride."""
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, out.shape[0], stride):
            out[i] = src[i]

    @cuda.jit
    def _copy2d(src, out):
        """out[i, j] = src[i, j] for a src of any strides (a C-contiguous copy)."""
        j, i = cuda.grid(2)
        if i < out.shape[0] and j < out.shape[1]:
            out[i, j] = src[i, j]


# ====================================================================== backend
class CudaBackend(Backend):
    """Kernels on an NVIDIA GPU through numba.cuda; arrays are device arrays."""

    name = "cuda"
    host = False
    dtypes = (F32,)

    def __init__(self):
        self._xp = None
        if cuda is not None:
            _families.install(self, "cuda")

    @property
    def xp(self):
        """The array contract (ARRAY_OPS) on device arrays, implemented in :mod:`.cuda_xp`."""
        if self._xp is None:
            self._xp = ArrayOps("cuda_xp", cuda_xp)
        return self._xp

    # ------------------------------------------------------------ launch settings (kernels/_cuda.py)
    #: threads per block of the 1-D (grid-stride) kernels
    threads = property(lambda self: launch.threads, lambda self, n: setattr(launch, "threads", n))
    #: upper bound on the blocks of a grid-stride launch (None: 32 per SM)
    max_blocks = property(lambda self: launch.max_blocks, lambda self, n: setattr(launch, "max_blocks", n))
    #: force one SGEMM tile configuration (a ``gemm.cuda.Tiles``); None picks by size
    gemm_tiles = property(lambda self: launch.gemm_tiles, lambda self, t: setattr(launch, "gemm_tiles", t))

    def sm_count(self) -> int:
        return launch.sm_count()

    # ------------------------------------------------------------ arrays
    def is_array(self, x) -> bool:
        return getattr(type(x), "__cuda_ndarray__", False) is True

    def asarray(self, x, dtype=None):
        """A device array: device arrays pass through (cast if ``dtype``
        differs), anything else is copied host -> device once."""
        if self.is_array(x):
            if dtype is not None and np.dtype(dtype) != x.dtype:
                return cuda_xp.astype(x, dtype)
            return x
        is_foreign = getattr(cuda, "is_cuda_array", None)   # (absent in the simulator)
        if is_foreign is not None and is_foreign(x):
            # another library's GPU array (CuPy, PyTorch): a view, no copy
            return self.asarray(cuda.as_cuda_array(x), dtype)
        # np.array(order="C"), not np.ascontiguousarray: that turns 0-d into (1,)
        host = np.array(x, dtype=dtype, order="C", copy=None)
        return cuda.to_device(host)

    def astype(self, x, dtype):
        if x.dtype == np.dtype(dtype):
            return x
        return cuda_xp.astype(x, dtype)

    def ascontiguous(self, x):
        if not self.is_array(x):
            return self.asarray(x)
        if x.is_c_contiguous():
            return x
        if x.ndim == 2:
            out = self.empty(x.shape, x.dtype)
            block = (16, 16)
            grid = (math.ceil(x.shape[1] / 16), math.ceil(x.shape[0] / 16))
            _copy2d[grid, block](x, out)
            return out
        if x.ndim == 1:
            out = self.empty(x.shape, x.dtype)
            blocks, threads = launch.grid1d(x.shape[0])
            _copy1d[blocks, threads](x, out)
            return out
        return cuda.to_device(np.array(x.copy_to_host(), order="C"))

    def to_numpy(self, x) -> np.ndarray:
        if self.is_array(x):
            return x.copy_to_host()
        return np.asarray(x)

    def empty(self, shape, dtype):
        return cuda.device_array(shape, dtype=np.dtype(dtype))

    def zeros(self, shape, dtype):
        return self.full(shape, 0, dtype)

    def full(self, shape, value, dtype):
        out = self.empty(shape, dtype)
        if out.size:
            self.fill(out, value)
        return out

    def fill(self, out, value):
        """Set every element of a C-contiguous device array to ``value``."""
        flat = out.reshape(-1)
        blocks, threads = launch.grid1d(flat.shape[0])
        _fill[blocks, threads](flat, out.dtype.type(value))
        return out

    def is_c_contiguous(self, x) -> bool:
        return x.is_c_contiguous() if self.is_array(x) else x.flags.c_contiguous

    def is_f_contiguous(self, x) -> bool:
        return x.is_f_contiguous() if self.is_array(x) else x.flags.f_contiguous

    def is_writeable(self, x) -> bool:
        return True

    def write(self, out, host_array) -> None:
        host = np.asarray(host_array, dtype=out.dtype)
        host = np.array(np.broadcast_to(host, out.shape), order="C")
        out.copy_to_device(host)

    def copy_into(self, out, x) -> None:
        out.copy_to_device(x)

    @staticmethod
    def _address(x) -> int:
        """The device address of an array's first element (under the CUDA
        simulator, the host address of the NumPy array it wraps)."""
        interface = getattr(x, "__cuda_array_interface__", None)
        if interface is None:
            interface = x._ary.__array_interface__
        return interface["data"][0] or 0

    @classmethod
    def _byte_span(cls, x):
        """(first byte, one past the last byte) of a device array's memory."""
        start = cls._address(x)
        lo = hi = start
        for length, stride in zip(x.shape, x.strides):
            if length == 0:
                return start, start
            if stride > 0:
                hi += (length - 1) * stride
            else:
                lo += (length - 1) * stride
        return lo, hi + x.dtype.itemsize

    def may_overlap(self, a, b) -> bool:
        a_lo, a_hi = self._byte_span(a)
        b_lo, b_hi = self._byte_span(b)
        return a_lo < b_hi and b_lo < a_hi

    def same_start(self, a, b) -> bool:
        return self._address(a) == self._address(b)

backend = CudaBackend()
