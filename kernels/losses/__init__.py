"""The losses family: row-wise softmax, fused softmax + cross-entropy, fused
sigmoid + binary cross-entropy, and a classifier's
whole head after the logits (``softmax_cross_entropy_head``).  DESIGN.md: the contract."""

#: the backend methods this family supplies (kernels/_families.py)
KERNELS = ("softmax", "softmax_cross_entropy", "sigmoid_cross_entropy", "softmax_cross_entropy_head")
#: the Cython kernels are called through cython_entry.py, which adds the head's unfused sequence
BACKEND_FILES = {"cython": "cython_entry"}
