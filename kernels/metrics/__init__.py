"""The metric totals: running sums kept where the arrays live.  DESIGN.md: the contract."""

#: the backend methods this family supplies (kernels/_families.py)
KERNELS = ("accumulate_sum", "accumulate_correct")
#: bookkeeping, not worth compiling: the host backends run the NumPy reference
BACKEND_FILES = {"numba": "reference", "cython": "reference"}
