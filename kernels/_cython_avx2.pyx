# cython: language_level=3
"""The Cython kernels, compiled for the avx2 instruction set (see setup.py)."""
include "_cython.pxi"
