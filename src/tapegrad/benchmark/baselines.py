"""The references of ``bench train``: the book's network in plain NumPy, and the floor.

``numpy_step`` is the loop a user would write by hand (the same steps as
``fit``, each a NumPy expression, none fused); the floor is only each
step's five matmuls, what a step would cost if all else were free.
"""

from __future__ import annotations

import numpy as np


RMSPROP = {"lr": 1e-3, "rho": 0.9, "eps": 1e-7}  # Keras's defaults, as compile("rmsprop") uses


def numpy_mlp_params(seed=0):
    """The book's network's weights as Dense initialises them: Glorot-uniform, zero biases."""
    rng = np.random.default_rng(seed)
    lim1, lim2 = np.sqrt(6 / (784 + 512)), np.sqrt(6 / (512 + 10))
    return [rng.uniform(-lim1, lim1, (784, 512)).astype(np.float32), np.zeros(512, np.float32),
            rng.uniform(-lim2, lim2, (512, 10)).astype(np.float32), np.zeros(10, np.float32)]


def numpy_step(params, state, xb, yb, lr=RMSPROP["lr"], rho=RMSPROP["rho"], eps=RMSPROP["eps"]):
    """One RMSprop step of the network in plain NumPy + OpenBLAS, in place.

    The baseline a user would write by hand: the same steps as tapegrad's
    ``fit`` (forward, softmax-cross-entropy, backward, RMSprop), each a NumPy
    expression, none fused.  Returns the batch's mean loss before the update.
    """
    w1, b1, w2, b2 = params
    h = np.maximum(xb @ w1 + b1, 0)
    z = h @ w2 + b2
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    rows = np.arange(len(yb))
    loss = -np.log(p[rows, yb]).mean()
    p[rows, yb] -= 1
    dz = p / len(yb)
    dh = (dz @ w2.T) * (h > 0)
    grads = [xb.T @ dh, dh.sum(axis=0), h.T @ dz, dz.sum(axis=0)]
    for param, grad, v in zip(params, grads, state):
        v *= rho
        v += (1 - rho) * grad * grad
        param -= lr * grad / np.sqrt(v + eps)
    return loss


def numpy_epoch_loop(x, y, batch_size=128, seed=0):
    """A function that runs one epoch of ``numpy_step`` over shuffled batches."""
    rng = np.random.default_rng(seed)
    params = numpy_mlp_params(seed)
    state = [np.zeros_like(p) for p in params]

    def epoch():
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            numpy_step(params, state, x[idx], y[idx])

    return epoch


FLOOR = "floor: OpenBLAS, 5 matmuls/step"


def floor_epoch_loop(x, y, batch_size=128):
    """Only the epoch's five matmuls per step, by OpenBLAS: the floor.

    Forward ``x @ W1`` and ``h @ W2``; backward ``dz @ W2.T``, ``x.T @ dh``
    and ``h.T @ dz``, on each batch's shapes (the last batch is short), into
    preallocated outputs.  What a step would cost if everything but the
    matmuls (element-wise work, the optimizer, the batch gather, Python)
    were free.
    """
    rng = np.random.default_rng(0)
    w1, _, w2, _ = numpy_mlp_params(0)
    dz_full = rng.standard_normal((batch_size, 10)).astype(np.float32)
    h_full = np.empty((batch_size, 512), np.float32)
    dh_full = np.empty((batch_size, 512), np.float32)
    z_full = np.empty((batch_size, 10), np.float32)
    gw1, gw2 = np.empty_like(w1), np.empty_like(w2)

    def epoch():
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size]
            rows = len(xb)
            h, z, dz, dh = h_full[:rows], z_full[:rows], dz_full[:rows], dh_full[:rows]
            np.matmul(xb, w1, out=h)
            np.matmul(h, w2, out=z)
            np.matmul(dz, w2.T, out=dh)
            np.matmul(xb.T, dh, out=gw1)
            np.matmul(h.T, dz, out=gw2)

    return epoch
