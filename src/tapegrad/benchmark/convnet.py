"""``tapegrad bench train --model convnet``: seconds per epoch of chapter 8's MNIST convnet.

The model: Conv2D(32, 3x3, relu), MaxPooling2D(2), Conv2D(64), MaxPooling2D,
Conv2D(128), Flatten, Dense(10, softmax); 60,000 images, batch 64, RMSprop
(lr 1e-3, rho 0.9, eps 1e-7), shuffled; ``model.fit`` for tapegrad and
Keras.  One epoch is about 1.09 TFLOP (:func:`epoch_flop`); the ``FMA
limit`` row is that divided by the measured peak of the threads used: no
implementation can beat it.  With ``--peers``, PyTorch (eager, NCHW, its
oneDNN convolutions) and Keras 3 on JAX (XLA) train the same model, when
installed.  Timing as in train.py: a warm-up epoch each, then rounds that
time one epoch of every loop back to back; a row gives the median.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from .baselines import RMSPROP
from .peers import Peer, peer_installed

BATCH_SIZE = 64
CONV_LAYERS = ((28, 1, 32), (13, 32, 64), (5, 64, 128))   # (input side, in channels, filters), 3x3 "valid"


def epoch_flop(images=60_000):
    """FLOP of one epoch: forward 2*OH*OW*9*C*F per conv (+ the Dense layer); backward
    one kernel gradient per layer and one input gradient for every layer but the first."""
    forward = [2 * (side - 2) ** 2 * 9 * c * f for side, c, f in CONV_LAYERS] + [2 * 1152 * 10]
    return images * (3 * sum(forward) - forward[0])


def _mnist_images(limit=None):
    from tapegrad.keras.datasets import mnist

    (x, y), _ = mnist.load_data()
    x = x.reshape(len(x), 28, 28, 1).astype(np.float32) / 255
    return (x[:limit], y[:limit]) if limit else (x, y)


def tapegrad_convnet_epoch(x, y, backend, batch_size=BATCH_SIZE):
    """The book's code on tapegrad, ``backend``'s kernels, seed 0."""
    import tapegrad
    from tapegrad import keras
    from tapegrad.keras import layers

    with tapegrad.kernels.use(backend):
        tapegrad.random.set_seed(0)
        inputs = keras.Input(shape=(28, 28, 1))
        h = layers.MaxPooling2D(2)(layers.Conv2D(32, 3, activation="relu")(inputs))
        h = layers.MaxPooling2D(2)(layers.Conv2D(64, 3, activation="relu")(h))
        h = layers.Flatten()(layers.Conv2D(128, 3, activation="relu")(h))
        model = keras.Model(inputs, layers.Dense(10, activation="softmax")(h))
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    def epoch():
        with tapegrad.kernels.use(backend):
            model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)

    return epoch


def torch_convnet_epoch(x, y, batch_size=BATCH_SIZE, threads=1):
    """PyTorch eager mode, NCHW (its native layout), torch's RMSprop."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(64, 128, 3), nn.ReLU(), nn.Flatten(), nn.Linear(1152, 10))
    opt = torch.optim.RMSprop(model.parameters(), lr=RMSPROP["lr"], alpha=RMSPROP["rho"], eps=RMSPROP["eps"])
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y.astype(np.int64))
    loss_fn = nn.CrossEntropyLoss()

    def epoch():
        order = torch.randperm(len(xt))
        for start in range(0, len(xt), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()

    return epoch


def keras_convnet_epoch(x, y, batch_size=BATCH_SIZE, threads=1):
    """Keras 3 ``model.fit`` of the book's code, its step compiled by XLA (JAX backend)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.MaxPooling2D(2)(layers.Conv2D(32, 3, activation="relu")(inputs))
    h = layers.MaxPooling2D(2)(layers.Conv2D(64, 3, activation="relu")(h))
    h = layers.Flatten()(layers.Conv2D(128, 3, activation="relu")(h))
    model = keras.Model(inputs, layers.Dense(10, activation="softmax")(h))
    model.compile(optimizer=keras.optimizers.RMSprop(RMSPROP["lr"], rho=RMSPROP["rho"], epsilon=RMSPROP["eps"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=True)

    def epoch():
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=True)

    return epoch


PEERS = [
    Peer("pytorch eager", ("torch",), "pip install torch", torch_convnet_epoch),
    Peer("keras 3 on jax (xla)", ("keras", "jax"), "pip install jax keras", keras_convnet_epoch),
]


def convnet_rows(backends, threads, epochs, quick, peers=False, peak_gflops=None):
    """Seconds per epoch of tapegrad's backends and, with ``peers``, of each framework of
    ``PEERS``; the FMA limit of the images timed.  ``quick``: 6,400 images."""
    x, y = _mnist_images(limit=6_400 if quick else None)
    loops, missing = {}, []
    for name in backends:
        loops[f"tapegrad {name}"] = tapegrad_convnet_epoch(x, y, name)
    if peers:
        for peer in PEERS:
            if not peer_installed(peer):
                missing.append({"loop": peer.name, "status": "not installed", "install": peer.pip})
                continue
            try:
                loops[peer.name] = peer.make(x, y, batch_size=BATCH_SIZE, threads=threads)
            except Exception as exc:  # noqa: BLE001 (a peer that cannot start is reported, not fatal)
                missing.append({"loop": peer.name, "status": f"failed: {type(exc).__name__}: {exc}",
                                "install": peer.pip})
    for fn in loops.values():   # warm up: compile kernels and XLA programs, touch memory
        fn()
    samples = {name: [] for name in loops}
    for _ in range(epochs):
        for name, fn in loops.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    flop = epoch_flop(len(x))
    rows = []
    if peak_gflops:
        rows.append({"loop": "FMA limit", "status": "ok", "seconds_per_epoch": flop / (peak_gflops * 1e9 * threads),
                     "images": len(x)})
    for name, s in samples.items():
        rows.append({"loop": name, "status": "ok", "seconds_per_epoch": statistics.median(s), "images": len(x),
                     "gflops": flop / statistics.median(s) / 1e9, "samples": s})
    return rows + missing


def print_convnet_table(rows):
    timed = [r for r in rows if r["status"] == "ok"]
    peers = {r["loop"]: r["seconds_per_epoch"] for r in timed if not r["loop"].startswith(("tapegrad", "FMA"))}
    print(f"\n{'convnet training loop':32} {'s/epoch':>8} {'GFLOP/s':>8}"
          + "".join(f" {'vs ' + name.split()[0]:>12}" for name in peers)
          + f"   ({timed[0]['images'] if timed else 0} images, chapter 8's convnet, batch {BATCH_SIZE}, RMSprop)")
    for r in rows:
        if r["status"] != "ok":
            print(f"{r['loop']:32} {r['status']} ({r['install']})")
            continue
        gflops = f"{r['gflops']:8.1f}" if "gflops" in r else f"{'':8}"
        ratios = "".join(f" {seconds / r['seconds_per_epoch']:11.2f}x" for seconds in peers.values())
        print(f"{r['loop']:32} {r['seconds_per_epoch']:8.2f} {gflops}{ratios}")
    if peers:
        print("vs X: X's time over this loop's (above 1.00: faster than X)")
