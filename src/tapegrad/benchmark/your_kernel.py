"""``tapegrad bench kernels --kernel MODULE:FUNCTION``: your matmul, checked before it is timed."""

from __future__ import annotations

import os
import sys

import numpy as np


#: the awkward shapes (m, k, n) on which tests/test_kernels.py checks every backend's GEMM:
#: 1s, primes, non-multiples of every tile, and the MLP's shapes
CHECK_SHAPES = [
    (1, 1, 1), (1, 7, 1), (3, 1, 5), (17, 31, 33), (129, 257, 65),
    (8, 16, 16), (13, 384, 17), (97, 1000, 23),
    (128, 784, 512), (784, 128, 512), (128, 512, 10), (128, 10, 512),
]


def load_user_kernel(spec):
    """``"module:function"`` -> the function; the current directory is importable."""
    import importlib

    module_name, sep, function_name = spec.partition(":")
    if not sep or not module_name or not function_name:
        raise ValueError(f"--kernel must be MODULE:FUNCTION (e.g. mygemm:matmul), got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--kernel: cannot import module {module_name!r}: {exc}") from None
    fn = getattr(module, function_name, None)
    if not callable(fn):
        raise ValueError(f"--kernel: module {module_name!r} has no function {function_name!r}")
    return fn


def check_matmul(fn, shapes=CHECK_SHAPES, dtype=np.float32):
    """The first shape on which ``fn(a, b)`` is not ``a @ b``, as a message; None if it passes all.

    The reference is computed in float64; an entry may be off by a few float32
    rounding errors of its sum of products, ``|a| @ |b|`` times a tolerance
    growing with sqrt(k), as in tests/test_kernels.py.
    """
    rng = np.random.default_rng(0)
    eps = np.finfo(dtype).eps
    for m, k, n in shapes:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        where = f"shape (m, k, n) = {(m, k, n)} (a is {m}x{k}, b is {k}x{n})"
        try:
            c = np.asarray(fn(a.copy(), b.copy()))
        except Exception as exc:  # noqa: BLE001 (any error of the user's code is a failure to report)
            return f"{where}: your kernel raised {type(exc).__name__}: {exc}"
        if c.shape != (m, n):
            return f"{where}: your kernel returned shape {c.shape}, expected {(m, n)}"
        ref = a.astype(np.float64) @ b.astype(np.float64)
        bound = 32 * eps * max(1.0, np.sqrt(k)) * (np.abs(a).astype(np.float64) @ np.abs(b)) + 1e-30
        err = np.abs(c.astype(np.float64) - ref)
        err[np.isnan(err)] = np.inf
        if not np.all(err <= bound):
            i, j = np.unravel_index(np.argmax(err - bound), err.shape)
            return (f"{where}: C[{i}, {j}] is {c[i, j]!r}, expected {ref[i, j]:.6g} "
                    f"(max error {err.max():.3g}, allowed {bound[i, j]:.3g})")
    return None
