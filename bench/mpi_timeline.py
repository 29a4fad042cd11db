"""Bench: where a data-parallel step of the book's MLP spends its time, per rank.

    python bench/mpi_timeline.py                       # one process, default threads
    mpiexec -n 2 python bench/mpi_timeline.py          # two ranks (one thread each)

Wraps the step's parts (forward + loss, backward, gradient allreduce, optimizer,
metrics) with clocks and prints, for each rank, the median and mean milliseconds
per step of each part and of what is left (the fit loop: slicing batches, Python).
With ``--split-wait`` the allreduce is preceded by a barrier, so that the time a
rank waits for its partner (``wait``) is told apart from the allreduce itself
(``allreduce``); the barrier adds one small message per step.  ``--cpu`` measures
CPU time instead of wall time (robust on a busy machine); ``--threads N`` fixes the
kernel threads.
"""

import statistics
import sys
import time
from collections import defaultdict

import numpy as np


def main():
    import tapegrad
    from tapegrad import distribute, keras
    from tapegrad.keras import layers, trainer
    from tapegrad.tape import GradientTape

    split_wait = "--split-wait" in sys.argv
    rows = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else 30000
    if distribute.launched_by_mpi():
        keras.distribution.initialize()
        keras.distribution.set_distribution(keras.distribution.DataParallel())
    if "--threads" in sys.argv:
        tapegrad.kernels.set_num_threads(int(sys.argv[sys.argv.index("--threads") + 1]))
    # --cpu: the process's CPU time (all its threads) instead of the wall clock: the work
    # each part costs, whatever the load; a busy-polling wait counts, a descheduled rank not
    clock = time.process_time if "--cpu" in sys.argv else time.perf_counter
    spent = defaultdict(list)
    current = {}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            start = clock()
            try:
                return function(*args, **kwargs)
            finally:
                current[name] = current.get(name, 0.0) + clock() - start
        return wrapper

    tapegrad.random.set_seed(0)
    (x, y), _ = keras.datasets.mnist.load_data()
    x = x.reshape(60000, 784).astype("float32")[:rows] / 255
    y = y[:rows]
    model = keras.Sequential([layers.Dense(512, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:2048], y[:2048], epochs=1, batch_size=128, verbose=0)      # warm-up

    GradientTape.gradient = timed("backward", GradientTape.gradient)
    model.optimizer.apply_gradients = timed("optimizer", model.optimizer.apply_gradients)
    model.compiled_metrics.update_state = timed("metrics", model.compiled_metrics.update_state)
    loss = model.compiled_loss

    class TimedLoss(type(loss)):
        __call__ = timed("forward", type(loss).__call__)
    loss.__class__ = TimedLoss
    original_call = type(model).__call__

    class Timed(type(model)):
        __call__ = timed("forward", original_call)
    model.__class__ = Timed
    if distribute.size() > 1:
        comm = distribute._comm()
        distribute.grouped_allreduce = timed("reduce", distribute.grouped_allreduce)
        allreduce = comm.Allreduce
        barrier = comm.Barrier

        class Comm:
            def __getattr__(self, name):
                return getattr(comm, name)

            def Allreduce(self, *args, **kwargs):
                if split_wait:
                    timed("wait", barrier)()
                return timed("allreduce", allreduce)(*args, **kwargs)
        distribute._state["comm"] = Comm()

    original_step = trainer.Trainer._run_step

    def step(self, kind, xb, yb):
        if kind == "train_step":
            current["step_start"] = clock()
        return original_step(self, kind, xb, yb)
    trainer.Trainer._run_step = step

    class Record(keras.callbacks.Callback):
        last = None

        def on_train_batch_end(self, batch, logs=None):
            now = clock()
            if Record.last is not None:
                current["total"] = now - Record.last
                for name, value in current.items():
                    if name != "step_start":
                        spent[name].append(value)
            Record.last = now
            current.clear()

    distribute.barrier()
    start = clock()
    model.fit(x, y, epochs=1, batch_size=128, verbose=0, callbacks=[Record()])
    epoch = clock() - start
    report = [f"{'CPU' if '--cpu' in sys.argv else 'wall'} time, rank {distribute.rank()} of {distribute.size()}, {tapegrad.kernels.get_backend().get_num_threads()} "
              f"thread(s): epoch of {rows} rows {epoch:.3f} s, {len(spent['total'])} steps"]
    total = np.array(spent["total"])
    parts = {name: np.array(v) for name, v in spent.items() if name != "total" and len(v) == len(total)}
    if "reduce" in parts:
        parts["reduce (pack, unpack)"] = parts.pop("reduce") - sum(parts.get(k, 0) for k in ("wait", "allreduce"))
    parts["rest (loop, Python)"] = total - sum(parts.values())
    for name, values in [("step", total)] + sorted(parts.items()):
        report.append(f"  {name:24s} median {np.median(values) * 1e3:7.3f} ms  mean {values.mean() * 1e3:7.3f} ms"
                      f"  p90 {np.percentile(values, 90) * 1e3:7.3f} ms")
    everyone = distribute.allgather_object("\n".join(report))
    if distribute.rank() == 0:
        print("\n".join(everyone), flush=True)


if __name__ == "__main__":
    main()
