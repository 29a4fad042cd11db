"""The optimizer family: SGD (momentum, Nesterov), RMSprop and Adam as fused
in-place updates.  DESIGN.md: the contract."""

#: the backend methods this family supplies (kernels/_families.py)
KERNELS = ("sgd_update", "rmsprop_update", "adam_update", "bias_grad_rmsprop", "dense_backward_rmsprop")
#: the Cython kernels are called through cython_entry.py, which adds the narrow backward's sequence
BACKEND_FILES = {"cython": "cython_entry"}
