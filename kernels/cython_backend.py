"""The Cython backend: ahead-of-time compiled kernels (each family's ``cython.pxi``).

The families' kernel sources, included into one extension (kernels/_cython.pxi),
are compiled twice by ``setup.py``: ``_cython_base`` with
portable flags and ``_cython_avx2`` with ``-mavx2 -mfma``.  At import this
module asks the CPU (through the base extension) whether it runs AVX2 and
FMA and loads the matching extension; inside ``_cython_avx2`` the GEMM
micro-kernel widens to 512-bit vectors when the CPU also has AVX-512F.

``TAPEGRAD_CYTHON_ISA`` overrides the choice: ``base`` (the portable
build), ``avx2`` (the AVX2 build with 256-bit micro-kernels only), or
``auto`` / unset (the widest the CPU supports).
"""

from __future__ import annotations

import os

import numpy as np

from . import _families
from ._backend import Backend

_ISA_CHOICES = ("auto", "base", "avx2", "avx512")


def _load_extension():
    """(module, None) for the best usable build, or (None, reason)."""
    want = os.environ.get("TAPEGRAD_CYTHON_ISA", "auto").strip().lower() or "auto"
    if want not in _ISA_CHOICES:
        return None, (f"TAPEGRAD_CYTHON_ISA={want!r} is not one of {', '.join(_ISA_CHOICES)}")
    try:
        from . import _cython_base as base
    except ImportError as exc:
        return None, (
            "the Cython kernels were not compiled (no tapegrad.kernels._cython_base "
            f"extension: {exc}); build them with `pip install -e .` or "
            "`python setup.py build_ext --inplace` (needs Cython and a C compiler)"
        )
    if want == "base" or not base.cpu_supports_avx2_fma():
        return base, None
    try:
        from . import _cython_avx2 as avx2
    except ImportError:
        return base, None
    avx2.select_kernels(want != "avx2")  # 512-bit micro-kernels unless avx2 asked
    return avx2, None


_ext, _unavailable = _load_extension()


def check_available() -> None:
    """Raise ImportError when the compiled extensions are missing."""
    if _ext is None:
        raise ImportError(_unavailable)


_F32 = np.dtype(np.float32)


def _by_dtype(function):
    """A Cython kernel as the backend's method: a fused (float/double) function
    is called through the specialisation for its first argument's dtype (the
    float32 one, or else float64: the API has checked every dtype already),
    skipping Cython's run-time dispatch on every call; the GEMM entries, which
    take plain arrays and check their dtype in C, are used as they are."""
    signatures = getattr(function, "__signatures__", None)
    if signatures is None:
        return function
    single, double = signatures["float"], signatures["double"]

    def kernel(first, *args):
        return (single if first.dtype == _F32 else double)(first, *args)

    kernel.__name__ = kernel.__qualname__ = function.__name__
    kernel.__doc__ = function.__doc__
    return kernel


class CythonBackend(Backend):
    """Kernels compiled ahead of time by Cython, threaded with OpenMP."""

    name = "cython"

    def __init__(self):
        self.extension = _ext
        if _ext is not None:
            _families.install(self, "cython", extension=_ext, adapt=_by_dtype)

    @property
    def isa(self) -> str:
        """The micro-kernels in use: "base", "avx2" or "avx512"."""
        return _ext.kernel_info()["isa"]

    def set_num_threads(self, n: int) -> None:
        _ext.set_num_threads(int(n))

    def get_num_threads(self) -> int:
        return _ext.get_num_threads()


backend = CythonBackend()
