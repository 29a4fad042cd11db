"""The frameworks a user would pick instead, each a row of ``bench train --peers``.

Each runs the same epoch: MNIST from tapegrad's files, 784-512 relu-10
softmax, RMSprop (lr 1e-3, rho 0.9, eps 1e-7), batch 128, shuffled, one or
more threads.  A new peer is one more ``Peer`` in ``PEERS``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from .baselines import RMSPROP, numpy_mlp_params


class Peer(NamedTuple):
    """A row of ``bench train --peers``: ``make(x, y, batch_size, threads)``
    returns a function that trains one epoch; ``modules`` must all be
    importable for the peer to count as installed, else the row says
    "not installed" and gives ``pip``."""

    name: str
    modules: tuple
    pip: str
    make: Callable


def torch_epoch_loop(x, y, batch_size=128, threads=1):
    """PyTorch eager mode: one Python call per op, autograd, torch's RMSprop."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
    opt = torch.optim.RMSprop(model.parameters(), lr=RMSPROP["lr"], alpha=RMSPROP["rho"], eps=RMSPROP["eps"])
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch():
        order = torch.randperm(len(xt))
        for start in range(0, len(xt), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    return epoch


def keras_epoch_loop(x, y, batch_size=128, threads=1):
    """Keras 3 ``model.fit``, its train step compiled by XLA (on the JAX
    backend the bench selects; one thread is set through ``XLA_FLAGS`` in
    ``_pin_blas_threads``, before JAX starts, and the process is held to
    ``threads`` cores)."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.RMSprop(RMSPROP["lr"], rho=RMSPROP["rho"], epsilon=RMSPROP["eps"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=True)

    def epoch():
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=True)

    return epoch


def tensorflow_epoch_loop(x, y, batch_size=128, threads=1):
    """TensorFlow 2, the step a ``tf.function`` graph (GradientTape, RMSprop
    written with TF ops, so it does not depend on which Keras is installed)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    params = [tf.Variable(p) for p in numpy_mlp_params(0)]
    state = [tf.Variable(tf.zeros_like(p)) for p in params]
    xt, yt = tf.constant(x), tf.constant(y.astype(np.int32))
    lr, rho, eps = RMSPROP["lr"], RMSPROP["rho"], RMSPROP["eps"]

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            h = tf.nn.relu(xb @ params[0] + params[1])
            logits = h @ params[2] + params[3]
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits))
        for p, v, g in zip(params, state, tape.gradient(loss, params)):
            v.assign(rho * v + (1 - rho) * g * g)
            p.assign_sub(lr * g / tf.sqrt(v + eps))
        return loss

    rng = np.random.default_rng(0)

    def epoch():
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            idx = tf.constant(order[start:start + batch_size])
            step(tf.gather(xt, idx), tf.gather(yt, idx))

    return epoch


PEERS = [
    Peer("pytorch eager", ("torch",), "pip install torch", torch_epoch_loop),
    Peer("keras 3 on jax (xla)", ("keras", "jax"), "pip install jax keras", keras_epoch_loop),
    Peer("tensorflow (tf.function)", ("tensorflow",), "pip install tensorflow", tensorflow_epoch_loop),
]


def peer_installed(peer) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in peer.modules)
