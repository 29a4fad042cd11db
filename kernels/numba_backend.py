"""The Numba backend: every kernel as readable, compiled Python.

The kernels are each family's ``numba.py`` (kernels/gemm/numba.py: the
Goto/BLIS GEMM; the others: single passes over their data), installed as
this backend's methods by kernels/_families.py; what they share (``njit``
with the SLP vectorizer, the chunked ``prange`` skeleton, the thread-pool
guard, the on-disk cache) is kernels/_numba.  This module is the backend's
thread count.

Every ``@njit`` uses ``cache=True``: the first run on a machine compiles
(the micro-kernels take seconds), later processes load the machine code
from the per-user cache.  Flags are always passed as Python bools and sizes
as ints, so each kernel has one compiled specialization per dtype (plus one
more when an input array is read-only).
"""

from __future__ import annotations

import numba

from . import _families
from ._backend import Backend
from ._numba import num_threads


class NumbaBackend(Backend):
    """Kernels compiled by Numba (LLVM) for the host CPU, threads via prange."""

    name = "numba"

    def __init__(self):
        _families.install(self, "numba")

    def set_num_threads(self, n: int) -> None:
        numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))

    def get_num_threads(self) -> int:
        return num_threads()


backend = NumbaBackend()
