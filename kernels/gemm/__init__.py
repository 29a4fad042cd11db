"""The GEMM family: ``matmul`` and ``dense_forward`` (a GEMM with bias and relu
fused into its store), the Goto/BLIS design on the CPU, tiles on the GPU.
DESIGN.md is the design and the contract; MEASUREMENTS.md the dated numbers."""

#: the backend methods this family supplies (kernels/_families.py)
KERNELS = ("matmul", "dense_forward", "dense_forward_rows", "weight_grad_rmsprop")
