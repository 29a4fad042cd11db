"""The convolution family: 2-D convolution and pooling in Keras's layout.

NHWC images, HWIO kernels; the public functions are in :mod:`.api`, the
contract in :mod:`.reference`, the design in DESIGN.md beside this file.
"""

#: the backend methods this family supplies (kernels/_families.py)
KERNELS = ("conv2d", "conv2d_input_grad", "conv2d_kernel_grad", "max_pool2d", "max_pool2d_backward",
           "avg_pool2d", "avg_pool2d_backward", "max_pool_relu_backward", "max_pool_relu_weight_grads")
#: the Cython kernels take reshaped arrays and a few extra arguments: cython_entry.py adapts them
BACKEND_FILES = {"cython": "cython_entry"}
