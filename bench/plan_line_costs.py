"""Microseconds of Python per line of a traced fit step's plan, outside the compiled kernels.

Traces the shuffled fit step (``_train_step_rows``) of the book's MLP (or the
convnet) on the numba backend, one thread, then replays a copy of its plan with
a clock read between lines.  Every backend method that runs a compiled kernel is
timed too (as in ``step_overhead.py``), so each line's cost is split into the
time inside the kernels and the rest: the plan's Python, the bound wrappers'
guards, the public API's checks, NumPy's array math.  The same is printed for a
whole call of the traced function (``Function.__call__``: the plan plus finding
it) and for a whole ``fit`` epoch per step.

    python bench/plan_line_costs.py [mlp|convnet] [--steps 400] [--stub]

``--stub`` makes every kernel method a no-op (the numbers become garbage, the
Python's cost does not change): the Python alone, with caches warm, which is
far steadier on a busy machine than the rest-of-the-step under real kernels,
where each line after a large GEMM runs with cold caches.  Medians per line;
the per-line clock adds ~0.2 us to each.  The fit line includes what each
``fit`` call does once (the arrays' checks, the callbacks, the metrics' reset),
spread over the few steps of these small epochs.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="mlp", choices=("mlp", "convnet"))
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--stub", action="store_true", help="every kernel a no-op: the Python alone")
    args = parser.parse_args()

    import numpy as np

    import tapegrad
    from tapegrad import keras

    tapegrad.kernels.set_num_threads(1)
    be = tapegrad.kernels.get_backend("numba")
    inside = [0.0]
    clock = time.perf_counter
    for name in tapegrad.kernels.__all__:
        method = getattr(be, name, None)
        if not callable(method) or name in ("to_numpy", "set_num_threads", "get_num_threads", "empty"):
            continue

        def timed(*a, _method=method, **kw):
            start = clock()
            try:
                return _method(*a, **kw)
            finally:
                inside[0] += clock() - start

        # (the metric kernels return what the metric reads: they run even with --stub)
        stub = args.stub and not name.startswith("accumulate")
        setattr(be, name, (lambda *a, **kw: None) if stub else timed)

    rng = np.random.default_rng(0)
    if args.model == "mlp":
        n, batch, shape = 128 * 40, 128, (784,)
        layers = [keras.layers.Dense(512, activation="relu"), keras.layers.Dense(10, activation="softmax")]
    else:
        n, batch, shape = 64 * 20, 64, (28, 28, 1)
        L = keras.layers
        layers = [L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2), L.Conv2D(64, 3, activation="relu"),
                  L.MaxPooling2D(2), L.Conv2D(128, 3, activation="relu"), L.Flatten(),
                  L.Dense(10, activation="softmax")]
    x = rng.random((n, *shape), dtype=np.float32)
    y = rng.integers(0, 10, n).astype(np.uint8)
    with tapegrad.kernels.use("numba"):
        tapegrad.random.set_seed(0)
        model = keras.Sequential([keras.Input(shape=shape), *layers])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)            # traced by now
        step = model._step_function("_train_step_rows")
        plan = step.get_concrete_function().plan
        header, *body, footer = plan.source.splitlines()
        timed_source = "\n".join([header, "    _mark(0)", *(f"{line}\n    _mark({i + 1})" for i, line in
                                                         enumerate(body)), footer])
        rest, whole = collections.defaultdict(list), collections.defaultdict(list)
        last = [0.0, 0.0]

        def _mark(i):
            now = clock()
            if i:
                whole[i].append(now - last[0])
                rest[i].append(now - last[0] - (inside[0] - last[1]))
            last[0], last[1] = clock(), inside[0]

        namespace = dict(plan.namespace, _mark=_mark)
        exec(compile(timed_source, "<timed plan>", "exec"), namespace)
        timed_plan = namespace["plan"]
        batches = [np.sort(rng.permutation(n)[:batch]) for _ in range(20)]
        for i in range(args.steps):
            timed_plan(x, y, batches[i % 20])
        calls = {"plan.run": [], "Function.__call__": []}
        for i in range(args.steps):
            for what, run in (("plan.run", plan.run), ("Function.__call__", step)):
                inside[0] = 0.0
                start = clock()
                run(x, y, batches[i % 20])
                calls[what].append(clock() - start - inside[0])
        epochs = []
        for _ in range(5):
            inside[0] = 0.0
            start = clock()
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
            epochs.append((clock() - start - inside[0]) / (n // batch))

    print(f"{args.model}, numba, 1 thread, batch {batch}{', kernels stubbed' if args.stub else ''}: "
          f"us per step, medians of {args.steps}")
    print(f"{'outside':>8} {'whole':>9}  plan line")
    for i, line in enumerate(body, 1):
        print(f"{1e6 * statistics.median(rest[i]):8.2f} {1e6 * statistics.median(whole[i]):9.2f}  {line.strip()[:100]}")
    for what, times in calls.items():
        print(f"{1e6 * statistics.median(times):8.2f} {'':9}  {what}, outside the kernels")
    print(f"{1e6 * statistics.median(epochs):8.2f} {'':9}  fit, per step, outside the kernels (median of 5 epochs)")


if __name__ == "__main__":
    main()
