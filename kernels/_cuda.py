"""What every family's CUDA kernels share: numba.cuda, the launch settings, float32.

Importing this module never touches a GPU and never fails: numba.cuda is
imported inside a ``try`` (``cuda`` is None without it).  :data:`launch` holds
the launch geometry the families' kernels use (threads per block, a cap on
blocks, the SGEMM tiles); the cuda backend's attributes of those names read
and write it.  :func:`load_array_overloads` works around numba-cuda needing
``np.row_stack``, which NumPy 2.5 removed, without adding it to NumPy for good.
"""

from __future__ import annotations

import importlib
import math

import numpy as np

try:
    from numba import cuda
    from numba.core import config as _numba_config
    IMPORT_ERROR = None
except ImportError as exc:  # numba without a CUDA target
    cuda = None
    IMPORT_ERROR = exc

F32 = np.dtype(np.float32)


def f32(x) -> np.float32:
    """A scalar argument as the kernels' float32."""
    return np.float32(x)


def simulated() -> bool:
    """True when numba.cuda is Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1)."""
    return cuda is not None and bool(_numba_config.ENABLE_CUDASIM)


class Launch:
    """The launch geometry of the cuda backend's kernels (one per process)."""

    #: threads per block of the 1-D (grid-stride) kernels
    threads = 256
    #: upper bound on the blocks of a grid-stride launch (None: 32 per SM)
    max_blocks = None
    #: force one SGEMM tile configuration (a ``gemm.cuda.Tiles``); None picks
    #: one by problem size from ``gemm.cuda.PRODUCTION_TILES``
    gemm_tiles = None

    def __init__(self):
        self._sm_count = None
        self._dummy = None

    def sm_count(self) -> int:
        """The GPU's streaming multiprocessors (1 under the simulator)."""
        if self._sm_count is None:
            count = 1
            get_device = getattr(cuda, "get_current_device", None)
            if get_device is not None and not simulated():
                count = int(getattr(get_device(), "MULTIPROCESSOR_COUNT", 1))
            self._sm_count = count
        return self._sm_count

    def grid1d(self, n: int):
        """(blocks, threads) for a grid-stride loop over n elements."""
        cap = self.max_blocks or 32 * self.sm_count()
        return max(1, min(math.ceil(n / self.threads), cap)), self.threads

    def placeholder(self):
        """A 1-element float32 array passed where an optional array is absent."""
        if self._dummy is None:
            self._dummy = cuda.device_array(1, F32)
        return self._dummy


launch = Launch()


def load_array_overloads(numpy=np, import_module=importlib.import_module) -> None:
    """Import numba-cuda's NumPy array overloads with ``np.row_stack`` present.

    numba-cuda (0.30 at least) registers an overload for ``np.row_stack``
    when it imports ``numba.cuda.np.arrayobj``, which it does while compiling
    its first kernel; NumPy 2.5 removed that alias of ``vstack``, and the
    import then fails with AttributeError (seen on an H200, 2026-11-30).  So
    that module is imported here, first, with the alias set for the length of
    the import only and removed after: the user's NumPy is left as it was.
    """
    if cuda is None or simulated() or hasattr(numpy, "row_stack"):
        return
    numpy.row_stack = numpy.vstack
    try:
        import_module("numba.cuda.np.arrayobj")
    except ImportError:   # a numba-cuda that keeps its overloads elsewhere
        pass
    finally:
        del numpy.row_stack
