"""The one registration point of the kernel families.

``kernels/<family>/`` holds one family of kernels: ``api.py`` (the public
functions: validate, allocate, dispatch), ``reference.py`` (the contract in
plain NumPy, which the numpy backend runs), ``numba.py``, ``cython.pxi``
(compiled into the one Cython extension), ``cuda.py`` and ``DESIGN.md``.
The family's ``__init__.py`` names the backend methods it supplies
(``KERNELS``); each backend file defines them as plain functions with the
method's signature, and :func:`install` sets them on a backend object.  So a
new kernel touches its family folder, its tests and the public list in
kernels/__init__.py; a new family adds its name here.
"""

from __future__ import annotations

import importlib

#: the kernel families, each a folder of kernels/ (setup.py reads this tuple
#: to include each family's cython.pxi in the Cython extension)
FAMILIES = ("gemm", "elementwise", "losses", "optim", "metrics", "conv")

#: backend kind -> the file of a family that implements its kernels for it
#: ("cython": the family's cython.pxi, compiled into the extension)
BACKEND_FILES = {"numpy": "reference", "numba": "numba", "cython": "cython", "cuda": "cuda"}


def family(name):
    """The package of family ``name`` (its ``KERNELS``, ``BACKEND_FILES``)."""
    return importlib.import_module(f"{__package__}.{name}")


def kernel_names() -> tuple:
    """Every backend method the families supply, in family order."""
    return tuple(kernel for name in FAMILIES for kernel in family(name).KERNELS)


def install(backend, kind, extension=None, adapt=None) -> None:
    """Set each family's kernels for backend ``kind`` as methods of ``backend``.

    A family may name another of its files for a kind in its own
    ``BACKEND_FILES`` (the metric totals run their NumPy reference on every
    host backend).  For ``"cython"`` the functions come from ``extension``,
    each passed through ``adapt`` (the Cython backend's dtype dispatch).
    """
    for name in FAMILIES:
        fam = family(name)
        source = getattr(fam, "BACKEND_FILES", {}).get(kind, BACKEND_FILES[kind])
        compiled = source == "cython"
        module = extension if compiled else importlib.import_module(f"{__package__}.{name}.{source}")
        for kernel in fam.KERNELS:
            function = getattr(module, kernel)
            setattr(backend, kernel, adapt(function) if compiled and adapt else function)
