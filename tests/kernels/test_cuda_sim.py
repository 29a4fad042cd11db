"""The cuda backend: under Numba's CUDA simulator, in a subprocess.

``NUMBA_ENABLE_CUDASIM=1`` only takes effect if it is set before numba is
first imported, and the rest of the suite imports numba in this process, so
the simulator cases (``tests/kernels/cuda_sim_cases.py``) run in a child pytest.
The tests in this file itself check what a machine without a GPU sees.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]   # the repository

pytestmark = pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                                reason="numba is not installed")


@pytest.mark.cudasim
def test_cuda_backend_under_the_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("TAPEGRAD_BACKEND", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(HERE / "cuda_sim_cases.py"), "-q",
         "-p", "no:cacheprovider", "-o", "addopts=-ra"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, f"simulator cases failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert " passed" in proc.stdout and "skipped" not in proc.stdout.splitlines()[-1], proc.stdout[-2000:]


@pytest.mark.cudasim
@pytest.mark.slow
def test_gpu_check_smoke_under_the_simulator():
    """bench/gpu_check.py --smoke: every code path of the GPU check (each check, the
    timing loops, the conv layers, the MNIST kernel loop with a ragged batch) at the
    smallest sizes; the kernels themselves are checked in cuda_sim_cases.py (about
    20 s of CPU, half of what the earlier sizes took)."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--smoke"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert "all checks passed" in proc.stdout


def test_import_never_fails_and_missing_gpu_is_explained():
    from numba.core import config

    from tapegrad.kernels import cuda_backend
    import tapegrad.kernels as K

    if config.ENABLE_CUDASIM or cuda_backend.cuda is None or cuda_backend.cuda.is_available():
        pytest.skip("this machine has a GPU (or the simulator is on in-process)")
    with pytest.raises(RuntimeError, match="no CUDA GPU found"):
        cuda_backend.check_available()
    assert "cuda" not in K.available_backends()
    with pytest.raises(K.BackendUnavailableError, match="no CUDA GPU found"):
        K.get_backend("cuda")
