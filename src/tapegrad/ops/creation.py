"""New tensors shaped like another: ``zeros_like`` and ``ones_like`` (not recorded)."""

from __future__ import annotations

import numpy as np

from .base import _wrap, convert


def zeros_like(x, dtype=None):
    x = convert(x)
    return _wrap(x._backend.zeros(x.shape, np.dtype(dtype) if dtype else x.dtype), x._backend)


def ones_like(x, dtype=None):
    x = convert(x)
    data = x._backend.full(x.shape, 1, np.dtype(dtype) if dtype else x.dtype)
    return _wrap(data, x._backend)
