"""Bench: one epoch of the book's MLP (60,000 MNIST images, batch 128) as one process
with the default threads vs under ``mpiexec -n 2`` with one thread per rank, and the
allreduce of the step's 1.6 MB of gradients.

    python bench/mpi_epoch.py worker            # one timed epoch (under mpiexec or not)
    python bench/mpi_epoch.py compare [--repeats 3]
    mpiexec -n 2 python bench/mpi_epoch.py allreduce

``compare`` alternates the two launches and reports medians of the epoch wall
time (after a warm-up epoch in each launch); docs/distributed.md has the numbers.
"""

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
        keras.distribution.set_distribution(keras.distribution.DataParallel())
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


def allreduce(repeats=200):
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
        print(f"ALLREDUCE {grads.nbytes / 1e6:.2f} MB over {comm.size} ranks: median "
              f"{statistics.median(times) * 1e3:.3f} ms, min {min(times) * 1e3:.3f} ms")


def compare(repeats):
    here = str(Path(__file__).resolve())
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    launches = {"1 process, default threads": [sys.executable, here, "worker"],
                "2 ranks x 1 thread": [mpiexec, "-n", "2", sys.executable, here, "worker"]}
    times = {name: [] for name in launches}
    for _ in range(repeats):
        for name, command in launches.items():
            out = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True).stdout
            times[name].append(float(out.split("EPOCH")[1].split()[0]))
            time.sleep(1)
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.2f} s  {['%.2f' % v for v in values]}")
    one, two = (statistics.median(v) for v in times.values())
    print(f"speed of 2 ranks relative to 1 process: {one / two:.2f}x")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "compare"
    if what == "worker":
        worker()
    elif what == "allreduce":
        allreduce()
    else:
        compare(int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 3)
