"""What every family's Numba kernels share: how they compile, how they thread.

* :func:`njit`: ``numba.njit`` with LLVM's SLP vectorizer switched on for our
  kernels only.  Numba leaves it off by default (``config.SLP_VECTORIZE``),
  and the small straight-line code of the GEMM drivers needs it.  Numba reads
  the setting each time it builds an LLVM pass pipeline, inside a compile, so
  it is set around each compile of one of our functions (under Numba's
  compiler lock) and restored after: the user's own ``@njit`` functions, and
  the user's environment, are left as they were.  A ``NUMBA_SLP_VECTORIZE``
  the user sets still wins.
* :func:`run_chunked`: the one parallel skeleton of the flat kernels
  (element-wise passes, optimizer updates): a range kernel runs on the calling
  thread for short arrays, and in chunks of ``CHUNK`` elements over ``prange``
  for arrays of at least ``PARALLEL_MIN``.
* :data:`pool`: serializes parallel regions when Numba's thread pool cannot
  be shared between Python threads (the ``workqueue`` layer).
* :func:`num_threads`: ``numba.get_num_threads()`` without its per-call
  start-up check, for the wrappers that ask on every parallel call.
* :mod:`.cache` (where the machine code is cached, how a bad entry heals) and
  :mod:`.intrinsics` (LLVM intrinsics, ``_zero``, unsigned constants).
"""

from __future__ import annotations

import os
import threading

import numba
import numpy as np
from numba import prange
from numba.core import config as _numba_config
from numba.core.compiler_lock import global_compiler_lock
from numba.np.ufunc import parallel as _numba_parallel

from .cache import install_locator

install_locator()  # before any @njit(cache=True): a read-only install still caches

#: flat arrays at least this long are split over threads
PARALLEL_MIN = 1 << 16
#: flat kernels work in chunks of this many elements per thread task
CHUNK = 1 << 14


# ---------------------------------------------------------------- compiling
def _with_slp_vectorizer(dispatcher):
    """Make ``dispatcher`` compile (or load from its cache) with the SLP
    vectorizer on, restoring Numba's setting afterwards.  The functions it
    calls compile inside its compile, so they get the same setting."""
    compile_now = dispatcher.compile

    def compile(sig):
        with global_compiler_lock:
            if "NUMBA_SLP_VECTORIZE" in os.environ:   # the user's choice, read by Numba itself
                return compile_now(sig)
            _numba_config.reload_config()   # apply any pending NUMBA_* change now, not mid-compile
            before = _numba_config.SLP_VECTORIZE
            _numba_config.SLP_VECTORIZE = 1
            try:
                return compile_now(sig)
            finally:
                _numba_config.SLP_VECTORIZE = before

    dispatcher.compile = compile
    return dispatcher


def njit(*args, **options):
    """``numba.njit`` for tapegrad's kernels: compiled with the SLP vectorizer
    on (see the module docstring); used as ``@njit`` or ``@njit(cache=True)``."""
    if len(args) == 1 and callable(args[0]) and not options:
        return _with_slp_vectorizer(numba.njit(args[0]))
    return lambda function: _with_slp_vectorizer(numba.njit(*args, **options)(function))


# ---------------------------------------------------------------- threads
@njit(inline="always")
def run_chunked(range_kernel, n, args):
    """The parallel skeleton of the flat kernels: ``range_kernel(lo, hi, args)``
    does elements ``lo <= i < hi`` of the flat arrays in ``args`` (a tuple).

    Below ``PARALLEL_MIN`` elements the range is one call on the calling thread
    (waking the pool costs more than such a pass); above, chunks of ``CHUNK``
    elements go to the threads.  Indices are unsigned, as every kernel's are.
    A family's kernel is this, inlined into a cached ``parallel=True``
    function of its own module::

        @njit(cache=True, parallel=True)
        def _relu(n, args):
            run_chunked(_relu_range, n, args)

    (a function made by a factory instead would be a closure, and Numba keys
    a closure's cache entry by a pickle of what it closes over, which for a
    dispatcher differs in every process: it would compile on every run)."""
    size = np.uint64(n)
    if size < PARALLEL_MIN:
        range_kernel(np.uint64(0), size, args)
        return
    for c in prange((n + CHUNK - 1) // CHUNK):
        lo = np.uint64(c * CHUNK)
        range_kernel(lo, min(lo + np.uint64(CHUNK), size), args)


def num_threads() -> int:
    """The calling thread's Numba thread count, as ``numba.get_num_threads()``.

    That function first makes sure the pool is started, taking two locks (one
    of them a process-wide lock) on every call: about 1 us, where reading the
    count is 0.15 us.  The wrappers ask on every parallel GEMM, so once the pool
    is started this reads the count directly (Numba's own reader, a private
    name: where a Numba version lacks it, the public call is used).
    """
    read = _read_num_threads
    if read is None:
        return _start_and_read()
    count = read()
    return count if count > 0 else numba.get_num_threads()   # Numba raises on a bad count


def _start_and_read() -> int:
    global _read_num_threads
    count = numba.get_num_threads()   # starts the pool
    _read_num_threads = getattr(_numba_parallel, "_get_num_threads", None)
    return count


_read_num_threads = None


class PoolGuard:
    """Serializes the parallel kernels when Numba's thread pool cannot be shared.

    Numba's ``workqueue`` threading layer (its fallback without OpenMP or TBB)
    aborts the process when two Python threads launch parallel regions at
    once.  Until a parallel region has run, ``numba.threading_layer()`` cannot
    say which layer was picked, so calls hold a lock; afterwards they hold it
    only on ``workqueue``, and on the other layers cost one attribute test.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.needed = True

    def run(self, kernel, *args):
        if not self.needed:
            return kernel(*args)
        with self.lock:
            result = kernel(*args)
            try:
                self.needed = numba.threading_layer() == "workqueue"
            except ValueError:  # no parallel region has run yet: still unknown
                pass
        return result


#: the one guard of every family's parallel Numba kernels
pool = PoolGuard()

__all__ = ["CHUNK", "PARALLEL_MIN", "njit", "num_threads", "pool", "prange", "run_chunked"]
