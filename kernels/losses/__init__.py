"""The losses family: row-wise softmax, fused softmax + cross-entropy, fused
sigmoid + binary cross-entropy.  DESIGN.md: the contract."""

#: the backend methods this family supplies (kernels/_families.py)
KERNELS = ("softmax", "softmax_cross_entropy", "sigmoid_cross_entropy")
