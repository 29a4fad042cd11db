"""Shared by every folder of tests/ (laid out like the source, see README.md):
this folder's helper modules (finite_differences.py) import by name from any test file."""

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
