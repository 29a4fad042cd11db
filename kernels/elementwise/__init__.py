"""The element-wise family: relu and its derivative, dropout, the bias
gradient (column sums) and relu's backward fused with it.  DESIGN.md: the contract."""

#: the backend methods this family supplies (kernels/_families.py)
KERNELS = ("relu", "relu_backward", "dropout_forward", "dropout_backward", "bias_grad", "relu_bias_grad")
