"""Which backend runs a kernel: the registry, the default and ``use()``.

Backends are imported lazily, the first time they are asked for, so that
``import tapegrad`` never compiles a kernel or touches a GPU.  The default is
chosen in this order: the innermost ``with use(name):`` block, the last
``use(name)`` call, the ``TAPEGRAD_BACKEND`` environment variable, then the
first importable backend of ``CPU_PREFERENCE``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading

import numpy as np

from . import _threads
from ._backend import Backend

#: name -> module that defines a module-level ``backend`` object
_MODULES = {
    "numba": "numba_backend",
    "cython": "cython_backend",
    "numpy": "numpy_backend",
    "cuda": "cuda_backend",
}

#: CPU backends in order of preference.  Cython comes first: on the MNIST
#: network it trains as fast as Numba (about 1.3-1.5 s per epoch each, on 2
#: cores) and, being compiled ahead of time, it starts at once, where Numba
#: spends ~40 s compiling its kernels on the first run of a new install.
CPU_PREFERENCE = ("cython", "numba", "numpy")

#: every name ``use()`` accepts, the preferred CPU backends first
BACKEND_NAMES = (*CPU_PREFERENCE, *(name for name in _MODULES if name not in CPU_PREFERENCE))

_loaded: dict[str, Backend] = {}
_errors: dict[str, str] = {}
_state = threading.local()
_global_default: list[str | None] = [None]


class BackendUnavailableError(RuntimeError):
    """A backend was asked for that cannot run here (not built, no GPU...)."""


def _load(name: str) -> Backend:
    if name in _loaded:
        return _loaded[name]
    if name not in _MODULES:
        raise ValueError(
            f"unknown backend {name!r}; the backends are {sorted(_MODULES)}"
        )
    if name in _errors:
        raise BackendUnavailableError(f"backend {name!r} is not available: {_errors[name]}")
    try:
        module = importlib.import_module(f"{__package__}.{_MODULES[name]}")
        backend = module.backend
        check = getattr(module, "check_available", None)
        if check is not None:
            check()
    except (ImportError, OSError, RuntimeError) as exc:
        _errors[name] = f"{type(exc).__name__}: {exc}"
        raise BackendUnavailableError(
            f"backend {name!r} is not available: {_errors[name]}"
        ) from exc
    _loaded[name] = backend
    return backend


def available_backends() -> list[str]:
    """Names of the backends that can run on this machine, preferred CPU first."""
    names = []
    for name in (*CPU_PREFERENCE, "cuda"):
        try:
            _load(name)
        except BackendUnavailableError:
            continue
        names.append(name)
    return names


def _default_name() -> str:
    stack = getattr(_state, "stack", None)
    if stack:
        return stack[-1]
    if _global_default[0] is not None:
        return _global_default[0]
    env = os.environ.get("TAPEGRAD_BACKEND", "").strip().lower()
    if env:
        return env
    for name in CPU_PREFERENCE:
        try:
            _load(name)
        except BackendUnavailableError:
            continue
        return name
    return "numpy"


def loaded_backends() -> list[Backend]:
    """The backends loaded so far in this process (a tensor can only live on one of these)."""
    return list(_loaded.values())


def get_backend(backend: str | Backend | None = None) -> Backend:
    """The backend object for a name, a backend, or None (the default)."""
    if isinstance(backend, Backend):
        return backend
    if backend is None:
        backend = _default_name()
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a name or None, got {type(backend).__name__}")
    return _load(backend.lower())


class use(contextlib.ContextDecorator):
    """Set the default backend: ``use("cython")`` for good, or for a block::

        with tapegrad.kernels.use("numpy"):
            ...   # every kernel call in here runs the NumPy reference
    """

    def __init__(self, name: str):
        self.backend = get_backend(name)  # fails now, clearly, if unavailable
        self._previous = _global_default[0]
        _global_default[0] = self.backend.name

    def __enter__(self):
        # Entering a block undoes the global effect of the constructor and
        # scopes the choice to this thread's block instead.
        _global_default[0] = self._previous
        if not hasattr(_state, "stack"):
            _state.stack = []
        _state.stack.append(self.backend.name)
        return self.backend

    def __exit__(self, *exc_info):
        _state.stack.pop()
        return False


def set_num_threads(n) -> None:
    """Threads for the compiled CPU backends (Numba and Cython/OpenMP).

    An int uses exactly that many; ``"auto"`` (the default) lets each
    backend drop to one thread while other processes make its threads wait
    for each other, and return when they stop (see ``kernels/_threads.py``).
    """
    if n != "auto" and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"set_num_threads needs a positive int or 'auto', got {n!r}")
    for name in _threads.THREADED_BACKENDS:
        try:
            _threads.set_threads(_load(name), n)
        except BackendUnavailableError:
            pass


def to_numpy(x) -> np.ndarray:
    """A host NumPy array for an array of any backend (copies from a GPU)."""
    if isinstance(x, np.ndarray):
        return x
    copy_to_host = getattr(x, "copy_to_host", None)
    if copy_to_host is not None:
        return copy_to_host()
    return np.asarray(x)
