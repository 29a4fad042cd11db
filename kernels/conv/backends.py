"""Which module implements the convolution family on each backend.

A backend object gets the family's kernels as methods (``backend.conv2d``...)
from the module named here; each module exposes plain functions with the
backend signature (kernels/conv/reference.py states it).  ``attach`` is called
once per backend when kernels/_dispatch.py loads it; ``kernels_of`` attaches on
first use for a backend object made some other way.
"""

from __future__ import annotations

import importlib

#: the family's kernels: every backend module defines each of them
KERNELS = ("conv2d", "conv2d_input_grad", "conv2d_kernel_grad", "max_pool2d", "max_pool2d_backward",
           "avg_pool2d", "avg_pool2d_backward")

#: backend name -> module of this package implementing KERNELS for it
MODULES = {"numpy": "reference", "numba": "numba", "cython": "cython", "cuda": "cuda"}


def attach(backend) -> None:
    """Give ``backend`` the family's kernels as attributes (plain functions)."""
    module = importlib.import_module(f"{__package__}.{MODULES.get(backend.name, 'reference')}")
    for name in KERNELS:
        setattr(backend, name, getattr(module, name))


def kernels_of(backend):
    """``backend``, with the family's kernels attached."""
    if "conv2d" not in vars(backend):
        attach(backend)
    return backend
