"""The reference backend: each kernel written in plain NumPy.

It is the definition every compiled backend is tested against, so it favours
the obvious formula over speed (matmul still goes to NumPy's BLAS).
"""

from __future__ import annotations

import numpy as np

from ._backend import Backend


class NumpyBackend(Backend):
    name = "numpy"

    def matmul(self, a, b, transpose_a, transpose_b, out):
        a = a.T if transpose_a else a
        b = b.T if transpose_b else b
        return np.matmul(a, b, out=out)

    def relu(self, x, out):
        return np.maximum(x, 0, out=out)

    def relu_backward(self, grad_out, x, out):
        out[...] = np.where(x > 0, grad_out, 0)
        return out

    def softmax(self, logits, out):
        shifted = logits - logits.max(axis=1, keepdims=True)
        np.exp(shifted, out=out)
        out /= out.sum(axis=1, keepdims=True)
        return out

    def softmax_cross_entropy(self, logits, labels, scale, loss_out, grad_out):
        n = logits.shape[0]
        rows = np.arange(n)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_sum = np.log(np.exp(shifted).sum(axis=1))
        loss_out[...] = log_sum - shifted[rows, labels]
        probs = np.exp(shifted - log_sum[:, None])
        probs[rows, labels] -= 1
        grad_out[...] = probs * scale

    def dropout_forward(self, x, uniform, rate, scale, out, mask):
        t = x.dtype.type
        keep = uniform >= t(rate)
        mask[...] = np.where(keep, t(scale), t(0))
        out[...] = np.where(keep, x * t(scale), t(0))

    def dropout_backward(self, grad_out, mask, out):
        out[...] = np.where(mask != 0, grad_out * mask, 0)
        return out

    def sigmoid_cross_entropy(self, logits, labels, scale, loss_out, grad_out):
        x, z = logits, labels
        e = np.exp(-np.abs(x))                      # in (0, 1]: never overflows
        loss_out[...] = np.maximum(x, 0) - x * z + np.log1p(e)
        sigmoid = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        grad_out[...] = (sigmoid - z) * scale

    def dense_forward(self, x, w, b, relu, out):
        np.matmul(x, w, out=out)
        if b is not None:
            out += b
        if relu:
            np.maximum(out, 0, out=out)
        return out

    def bias_grad(self, grad_out, out):
        return np.sum(grad_out, axis=0, out=out)

    def relu_bias_grad(self, grad_out, x, out, bias_out):
        out[...] = np.where(x > 0, grad_out, 0)
        np.sum(out, axis=0, out=bias_out)

    def sgd_update(self, param, grad, velocity, lr, momentum, nesterov):
        if velocity is None:
            param -= lr * grad
            return
        velocity *= momentum
        velocity -= lr * grad
        if nesterov:
            param += momentum * velocity - lr * grad
        else:
            param += velocity

    def rmsprop_update(self, param, grad, v, lr, rho, eps):
        v *= rho
        v += (1 - rho) * grad * grad
        param -= lr * grad / np.sqrt(v + eps)

    def adam_update(self, param, grad, m, v, lr, beta1, beta2, eps, step):
        alpha = lr * np.sqrt(1 - beta2**step) / (1 - beta1**step)
        m += (grad - m) * (1 - beta1)
        v += (grad * grad - v) * (1 - beta2)
        param -= alpha * m / (np.sqrt(v) + eps)


backend = NumpyBackend()
