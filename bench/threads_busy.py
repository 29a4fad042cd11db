"""ms per training step: 1 thread, 2 threads fixed, and the "auto" policy,
on the machine as it is and beside one busy process (started and killed here).

    python bench/threads_busy.py [--rounds 5] [--limit 12800] [--backend cython] [--model convnet]

Each round trains one epoch of the book's network (784-512-10, batch 128,
RMSprop; or with ``--model convnet`` chapter 8's convnet, batch 64) on
``--limit`` images with each setting, back to back, with a pause
between; the table shows medians over rounds and the median per-round ratio
to the one-thread run.  The "auto" policy keeps its state across rounds, as
it would through one long ``fit``.  Load average is printed with the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import tapegrad
from tapegrad import keras
from tapegrad.benchmark.train import _mnist
from tapegrad.kernels import _threads


def make_model(backend, kind="mlp"):
    if kind == "convnet":   # chapter 8's, as `tapegrad bench train --model convnet` builds it
        from tapegrad.benchmark.convnet import tapegrad_convnet_epoch
        return tapegrad_convnet_epoch
    with tapegrad.kernels.use(backend):
        tapegrad.random.set_seed(0)
        model = keras.Sequential([keras.layers.Dense(512, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    return model


def run(args, label):
    batch = 64 if args.model == "convnet" else 128
    if args.model == "convnet":
        from tapegrad.benchmark.convnet import _mnist_images
        x, y = _mnist_images(args.limit)
    else:
        x, y = _mnist(limit=args.limit)
    steps = -(-len(x) // batch)
    be = tapegrad.kernels.get_backend(args.backend)
    settings = {"1 thread": 1, "2 threads fixed": 2, "auto": "auto"}
    if args.model == "convnet":
        epochs = {name: make_model(args.backend, "convnet")(x, y, args.backend) for name in settings}
    else:
        models = {name: make_model(args.backend) for name in settings}
        epochs = {name: (lambda m=m: _fit(m, x, y, args.backend)) for name, m in models.items()}
    tapegrad.kernels.set_num_threads("auto")
    auto_policy = _threads.policy(be)
    samples = {name: [] for name in settings}
    for r in range(args.rounds + 1):               # round 0 warms up
        for name, n in settings.items():
            if n == "auto":
                _threads._settings[be.name].auto = auto_policy   # keep its state across rounds
                _threads._settings[be.name].apply(auto_policy.current)
            else:
                tapegrad.kernels.set_num_threads(n)
            start = time.perf_counter()
            epochs[name]()
            if r:
                samples[name].append((time.perf_counter() - start) / steps * 1e3)
            time.sleep(0.2)
    load = os.getloadavg()
    print(f"\n{label}: {args.backend} {args.model}, {steps} steps x {args.rounds} rounds, "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"{'setting':18} {'ms/step':>8} {'vs 1 thread':>12}")
    for name in settings:
        ratios = [t / o for t, o in zip(samples[name], samples["1 thread"])]
        print(f"{name:18} {statistics.median(samples[name]):8.2f} {statistics.median(ratios):11.2f}x")
    print(f"auto ended on {auto_policy.current} thread(s); "
          f"parallel/serial ratio {auto_policy.parallel_to_serial_ratio()}")


def _fit(model, x, y, backend):
    with tapegrad.kernels.use(backend):
        model.fit(x, y, batch_size=128, epochs=1, verbose=0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=("mlp", "convnet"), default="mlp")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=12_800)
    parser.add_argument("--backend", default="cython")
    parser.add_argument("--only", choices=("quiet", "busy"), default=None)
    args = parser.parse_args()
    if args.only != "busy":
        run(args, "as is (no neighbour of ours)")
    if args.only != "quiet":
        neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.5)
            run(args, "beside one busy process")
        finally:
            neighbour.kill()
            neighbour.wait()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
