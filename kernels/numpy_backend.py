"""The reference backend: each family's ``reference.py``, plain NumPy.

It is the definition every compiled backend is tested against, so it favours
the obvious formula over speed (matmul still goes to NumPy's BLAS).  This
module holds no kernel of its own: kernels/_families.py installs the
families' reference functions as its methods.
"""

from __future__ import annotations

from . import _families
from ._backend import Backend


class NumpyBackend(Backend):
    name = "numpy"

    def __init__(self):
        _families.install(self, "numpy")


backend = NumpyBackend()
