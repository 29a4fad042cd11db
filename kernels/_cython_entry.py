"""The Cython extension's kernels by name, for the families' ``cython_entry.py`` modules.

A family whose Cython backend method is a Python function (a fused call run as the
unfused sequence of the extension's kernels) reaches those kernels through
``extension_entry(name)``: the extension's function ``name`` as the backend's method
(``cython_backend._by_dtype``: its float32 or float64 specialisation).  It is looked up
on first use, because the cython backend module imports the families while it is
being built.
"""

from __future__ import annotations

_entries = {}


def extension_entry(name):
    """The extension's function ``name`` as the Cython backend's method."""
    function = _entries.get(name)
    if function is None:
        from .cython_backend import _by_dtype, _ext
        function = _entries[name] = _by_dtype(getattr(_ext, name))
    return function
