"""The backward of ``Conv2D(relu) -> MaxPooling2D`` as the sequence of a backend's own kernels.

The numba backend runs the block's backward fused (numba_pool_fused.py).
The numpy backend (the reference the fused kernels are tested against), the
cython backend and the cuda backend run it as the traced step ran it before
the fusion: ``max_pool2d_backward`` writes dz, relu's backward masks it and
sums its columns (``relu_bias_grad``, in place: it reads and writes one
element at a time), and ``conv2d_kernel_grad`` correlates dz with the image.
:func:`sequence` builds the two backend methods from a backend's three kernels.
"""

from __future__ import annotations


def sequence(max_pool2d_backward, relu_bias_grad, conv2d_kernel_grad, empty):
    """The backend methods ``(max_pool_relu_backward, max_pool_relu_weight_grads)``
    made of the backend's own kernels; ``empty(shape, dtype)`` allocates on it."""

    def max_pool_relu_backward(grad_out, y, pool_size, strides, pads, out, db):
        max_pool2d_backward(grad_out, y, pool_size, strides, pads, out)
        f = y.shape[3]
        rows = out.reshape(-1, f)
        relu_bias_grad(rows, y.reshape(-1, f), rows, db)
        return out, db

    def max_pool_relu_weight_grads(grad_out, y, x, pool_size, pool_strides, pool_pads, conv_strides,
                                   conv_pads, dw, db):
        dz = empty(y.shape, y.dtype)
        max_pool_relu_backward(grad_out, y, pool_size, pool_strides, pool_pads, dz, db)
        conv2d_kernel_grad(dz, x, conv_strides, conv_pads, dw)
        return dw, db

    return max_pool_relu_backward, max_pool_relu_weight_grads
