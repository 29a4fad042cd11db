"""Shared setup of the pytest-benchmark suites in bench/ (not part of the default ``pytest`` run).

Thread counts.  OpenBLAS reads ``OPENBLAS_NUM_THREADS`` once, when NumPy is first imported.
pytest imports this file before any module of bench/, so when bench/ is run on its own
(``pytest bench/``) NumPy is not loaded yet and the variable is pinned to 1 here, unless you
set it yourself.  When NumPy is already loaded (``pytest tests bench``, or a plugin that imports
it), setting it has no effect any more; the report header says which case you are in, and
``OPENBLAS_NUM_THREADS=1 pytest bench/`` always works.  Our compiled kernels are pinned to one
thread too (``tapegrad.kernels.set_num_threads(1)``), so every row compares one core to one core.
"""

from __future__ import annotations

import os
import sys

_BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_NUMPY_PRELOADED = "numpy" in sys.modules
if not _NUMPY_PRELOADED:
    for _name in _BLAS_VARS:
        os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402  (after the environment above, on purpose)
import pytest  # noqa: E402

#: The five GEMMs of one training step of the book's MLP (784-512-10, batch 128), as
#: (label, m, k, n, transpose_a, transpose_b): ``op(a)`` is m x k, ``op(b)`` is k x n, and a
#: transposed operand is stored the other way round, as the training step holds it.
MLP_MATMULS = [
    ("x@W1 128x784x512", 128, 784, 512, False, False),       # forward, layer 1
    ("x.T@dh 784x128x512 ta", 784, 128, 512, True, False),   # dW1
    ("h@W2 128x512x10", 128, 512, 10, False, False),         # forward, layer 2
    ("dz@W2.T 128x10x512 tb", 128, 10, 512, False, True),    # dh
    ("h.T@dz 512x128x10 ta", 512, 128, 10, True, False),     # dW2
]
SQUARE_MATMULS = [(f"square {n}", n, n, n, False, False) for n in (256, 512)]
MATMUL_CASES = MLP_MATMULS + SQUARE_MATMULS

#: What each benchmark group holds, side by side: NumPy (the baseline) and our compiled backends.
COMPILED_BACKENDS = ("numba", "cython")
IMPLEMENTATIONS = ("numpy", *COMPILED_BACKENDS)


def pytest_report_header(config):
    if _NUMPY_PRELOADED:
        blas = (f"NumPy was imported before bench/conftest.py, so OpenBLAS threads could not be pinned "
                f"here (OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}); "
                "for a one-core baseline run: OPENBLAS_NUM_THREADS=1 pytest bench/")
    else:
        blas = f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']} (set before NumPy was imported)"
    return [f"bench: {blas}; tapegrad kernels pinned to 1 thread"]


@pytest.fixture(scope="session", autouse=True)
def _one_kernel_thread():
    import tapegrad.kernels as K

    K.set_num_threads(1)


@pytest.fixture
def rng():
    """A fresh, seeded generator per test: the same operands on every run."""
    return np.random.default_rng(0)


def require_backend(name: str):
    """The tapegrad backend object, or a skip that says why it cannot run here."""
    import tapegrad.kernels as K

    try:
        return K.get_backend(name)
    except K.BackendUnavailableError as exc:
        pytest.skip(f"backend {name!r} is not available on this machine: {exc}")


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request):
    """``"numpy"`` (the baseline) or the name of a compiled backend that is available here."""
    if request.param != "numpy":
        require_backend(request.param)
    return request.param


@pytest.fixture
def impl_backend(impl):
    """The tapegrad backend object of ``impl``; None for the NumPy baseline."""
    return None if impl == "numpy" else require_backend(impl)


@pytest.fixture(params=MATMUL_CASES, ids=[case[0].replace(" ", "_") for case in MATMUL_CASES])
def matmul_case(request):
    return request.param


@pytest.fixture(scope="session")
def mnist_batch():
    """The first 128 MNIST training images (flattened, scaled to [0, 1]) and their labels."""
    from tapegrad.keras.datasets import mnist

    (x, y), _ = mnist.load_data()
    return x[:128].reshape(128, 784).astype(np.float32) / 255, y[:128].astype(np.int64)
