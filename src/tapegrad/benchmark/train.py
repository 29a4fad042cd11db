"""``tapegrad bench train``: seconds per epoch of tapegrad, the NumPy loop, the floor and the peers.

Every loop gets a warm-up epoch, then each round times one epoch of every
loop back to back; a row gives the median.  A new loop is one more entry of
``loops`` in :func:`train_rows` (a peer framework: one more ``Peer`` in
peers.py).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from . import peers as frameworks   # (train_rows has a ``peers`` flag)
from .baselines import FLOOR, floor_epoch_loop, numpy_epoch_loop


def _mnist(limit=None):
    from tapegrad.keras.datasets import mnist

    (x, y), _ = mnist.load_data()
    x = x.reshape(len(x), 784).astype(np.float32) / 255
    return (x[:limit], y[:limit]) if limit else (x, y)


def book_model(backend, run_eagerly=False):
    """The book's network, compiled as chapter 2 does, built on ``backend`` with seed 0
    (``run_eagerly=True``: each step as plain Python instead of the traced plan)."""
    import tapegrad
    from tapegrad import keras

    with tapegrad.kernels.use(backend):
        tapegrad.random.set_seed(0)
        model = keras.Sequential([keras.layers.Dense(512, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      run_eagerly=run_eagerly)
    return model


def tapegrad_epoch(x, y, backend, batch_size=128, run_eagerly=False):
    import tapegrad

    model = book_model(backend, run_eagerly)

    def epoch():
        with tapegrad.kernels.use(backend):
            model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)

    return epoch


def tape_overhead_us(repeats=2000):
    """Python overhead per recorded op: tiny tensors, many ops, on a tape."""
    import tapegrad

    x = tapegrad.Variable(np.ones((2, 2), np.float32))

    def run(record):
        start = time.perf_counter()
        if record:
            with tapegrad.GradientTape():
                for _ in range(repeats):
                    x * 2.0
        else:
            for _ in range(repeats):
                np.multiply(x.numpy(), 2.0)
        return (time.perf_counter() - start) / repeats

    run(True)
    recorded = statistics.median(run(True) for _ in range(5))
    plain = statistics.median(run(False) for _ in range(5))
    return recorded * 1e6, plain * 1e6


def train_rows(backends, threads, epochs, quick, peers=False):
    """Seconds per epoch of the NumPy loop, tapegrad's backends and, with
    ``peers``, the floor and each framework of ``peers.PEERS``: a warm-up epoch
    each, then ``epochs`` rounds that time one epoch of every loop back to
    back; a row gives the median.  A peer that is not installed (or fails
    to start) is a row with a ``status`` and no time."""
    x, y = _mnist(limit=12_800 if quick else None)
    loops = {"numpy+openblas": numpy_epoch_loop(x, y)}
    missing = []
    if peers:
        loops[FLOOR] = floor_epoch_loop(x, y)
        for peer in frameworks.PEERS:
            if not frameworks.peer_installed(peer):
                missing.append({"loop": peer.name, "status": "not installed", "install": peer.pip})
                continue
            try:
                loops[peer.name] = peer.make(x, y, batch_size=128, threads=threads)
            except Exception as exc:  # noqa: BLE001 (a peer that cannot start is reported, not fatal)
                missing.append({"loop": peer.name, "status": f"failed: {type(exc).__name__}: {exc}",
                                "install": peer.pip})
    for name in backends:   # fit's traced step (the default), and the same step as plain Python
        loops[f"tapegrad {name}"] = tapegrad_epoch(x, y, name)
        loops[f"tapegrad {name} run_eagerly"] = tapegrad_epoch(x, y, name, run_eagerly=True)
    for fn in loops.values():  # warm up: compile kernels and XLA programs, touch memory
        fn()
    samples = {name: [] for name in loops}
    for _ in range(epochs):
        for name, fn in loops.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
            time.sleep(0.15 if threads > 1 else 0.0)
    base = statistics.median(samples["numpy+openblas"])
    floor = statistics.median(samples[FLOOR]) if FLOOR in samples else None
    rows = []
    for name, s in samples.items():
        med = statistics.median(s)
        row = {"loop": name, "status": "ok", "seconds_per_epoch": med, "speedup_vs_numpy": base / med,
               "images": len(x)}
        if floor is not None:
            row["floor_over_this"] = floor / med
        rows.append(row)
    return rows + missing


def print_train_table(rows):
    images = rows[0]["images"]
    with_floor = any("floor_over_this" in r for r in rows)
    print(f"\n{'training loop':32} {'s/epoch':>8} {'vs numpy':>9}" + (f" {'floor/this':>10}" if with_floor else "")
          + f"   ({images} images, 784-512-10, batch 128, RMSprop)")
    for r in rows:
        if r["status"] != "ok":
            print(f"{r['loop']:32} {r['status']} ({r['install']})")
            continue
        line = f"{r['loop']:32} {r['seconds_per_epoch']:8.2f} {r['speedup_vs_numpy']:8.2f}x"
        if with_floor:
            line += f" {r['floor_over_this']:10.2f}"
        print(line)
    if with_floor:
        print("floor/this: the floor's time over this loop's (1.00 = as fast as the matmuls alone)")
