"""The kernel tests (tests/kernels/, laid out like kernels/): the shared test
helpers of tests/ (finite_differences.py) stay importable from here."""

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent.parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
