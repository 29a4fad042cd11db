"""Bench: one epoch of the book's MLP (60,000 MNIST images, batch 128) as one process
with the default threads vs under ``mpiexec -n 2`` with one thread per rank, and the
allreduce of the step's 1.6 MB of gradients.

    python bench/mpi_epoch.py worker            # one timed epoch (under mpiexec or not)
    python bench/mpi_epoch.py compare [--repeats 3] [--before SRC] [--launch "NAME=ARGS"]...
    mpiexec -n 2 python bench/mpi_epoch.py allreduce [RATE_BITS_PER_S]

``compare`` alternates the two launches and reports medians of the epoch wall
time (after a warm-up epoch in each launch); docs/distributed.md has the numbers.
``--before SRC`` adds two ranks running the tapegrad package found in SRC (the
``src`` folder of a checkout of an older commit, same kernels), to measure a
change side by side; ``--launch "NAME=-bind-to core"`` adds two ranks started
with those extra ``mpiexec`` arguments (``VAR=value`` words set environment
variables instead; ``BENCH_BALANCE_LOAD=1`` makes the worker use
``DataParallel(balance_load=True)``).
"""

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def worker():
    import tapegrad
    from tapegrad import keras
    from tapegrad.keras import layers

    if tapegrad.distribute.launched_by_mpi():
        keras.distribution.initialize()
        balance = {"balance_load": True} if os.environ.get("BENCH_BALANCE_LOAD") == "1" else {}
        keras.distribution.set_distribution(keras.distribution.DataParallel(**balance))
    tapegrad.random.set_seed(0)
    (x, y), _ = keras.datasets.mnist.load_data()
    x = x.reshape(60000, 784).astype("float32") / 255
    model = keras.Sequential([layers.Dense(512, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:2048], y[:2048], epochs=1, batch_size=128, verbose=0)      # warm-up: kernels, pages
    tapegrad.distribute.barrier()
    start = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=128, verbose=0)
    seconds = time.perf_counter() - start
    if tapegrad.distribute.rank() == 0:
        print(f"EPOCH {seconds:.4f}")


def allreduce(repeats=200, rate_bits=None):
    """The median and minimum time of an allreduce of the MLP's gradients (and, given the
    link's rate in bits/s, their ratio to the ring's limit 2 (p - 1) / p * bytes / rate)."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    grads = np.ones(784 * 512 + 512 + 512 * 10 + 10, np.float32)       # the MLP's gradients: 1.63 MB
    for _ in range(20):
        comm.Allreduce(MPI.IN_PLACE, grads)
    times = []
    for _ in range(repeats):
        comm.Barrier()
        start = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, grads)
        times.append(time.perf_counter() - start)
    if comm.rank == 0:
        median, fastest = statistics.median(times), min(times)
        line = (f"ALLREDUCE {grads.nbytes / 1e6:.2f} MB over {comm.size} ranks: median {median * 1e3:.3f} ms, "
                f"min {fastest * 1e3:.3f} ms, p90 {np.percentile(times, 90) * 1e3:.3f} ms")
        if rate_bits:
            limit = 2 * (comm.size - 1) / comm.size * grads.nbytes * 8 / rate_bits
            line += (f"; ring limit {limit * 1e3:.2f} ms: median {median / limit:.2f}x, "
                     f"min {fastest / limit:.2f}x")
        print(line, flush=True)


def compare(repeats, before=None, extra=()):
    here = str(Path(__file__).resolve())
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    two_ranks = [mpiexec, "-n", "2", sys.executable, here, "worker"]
    launches = {"1 process, default threads": ([sys.executable, here, "worker"], {}),
                "2 ranks x 1 thread": (two_ranks, {})}
    if before:
        launches["2 ranks x 1 thread, before"] = (two_ranks, {"PYTHONPATH": str(Path(before).resolve())})
    for name, words in extra:
        env = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
        flags = [w for w in words if w not in [f"{k}={v}" for k, v in env.items()]]
        launches[f"2 ranks x 1 thread, {name}"] = ([mpiexec, *flags, *two_ranks[1:]], env)
    times = {name: [] for name in launches}
    for _ in range(repeats):
        for name, (command, env) in launches.items():
            done = subprocess.run(command, capture_output=True, text=True, timeout=600, env={**os.environ, **env})
            if done.returncode:
                raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
            out = done.stdout
            times[name].append(float(out.split("EPOCH")[1].split()[0]))
            time.sleep(1)
    one = statistics.median(times["1 process, default threads"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name}: median {median:.2f} s  {['%.2f' % v for v in values]}  speed vs 1 process {one / median:.2f}x")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "compare"
    if what == "worker":
        worker()
    elif what == "allreduce":
        allreduce(rate_bits=float(sys.argv[2]) if len(sys.argv) > 2 else None)
    else:
        args = sys.argv[2:]
        value = lambda flag: args[args.index(flag) + 1] if flag in args else None   # noqa: E731
        extra = [args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--launch"]
        compare(int(value("--repeats") or 3), value("--before"), [(n, w.split()) for n, w in extra])
