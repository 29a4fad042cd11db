"""The book's MLP step three ways, side by side in one process: fused kernels, unfused kernels, the floor.

    python bench/fused_step.py [--threads N] [--rounds R] [--block B] [--backend numba]

The book's network (MNIST-shaped images, 784-512-10, batch 128, RMSprop, a
shuffled order) trained by three loops, timed in interleaved blocks of B
steps (``rounds`` blocks each; on a busy machine a burst of load then hits
all three alike); the table gives each loop's median block as seconds per
epoch (469 steps) and the floor's time over each loop's:

* ``floor``: OpenBLAS doing only the five matmuls of each step on contiguous
  slices (tapegrad's ``bench train --peers`` floor, the same code);
* ``unfused``: the step as ``fit`` runs it, kernel by kernel, called
  directly (no tape, no Python per layer): a NumPy gather of the batch,
  ``dense_forward`` twice, ``softmax_cross_entropy``, three GEMMs,
  ``relu_bias_grad``, ``bias_grad``, one ``rmsprop_update_foreach``;
* ``fused``: the same step with the fused kernels: ``dense_forward_rows``
  (the gather in the packing of A), ``weight_grad_rmsprop`` (RMSprop in the
  epilogue of the weight-gradient GEMMs) and ``bias_grad_rmsprop``.

Both kernel loops start from the same weights and must end on the same bits
(checked before timing).  The process re-runs itself with OpenBLAS, Numba and
OpenMP held to ``--threads`` threads and ``--threads`` cores, and without the
``OPENBLAS_CORETYPE`` override (OpenBLAS at its best kernel), as ``tapegrad
bench`` does.  Images are random numbers: the time does not depend on them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

_CHILD = "TAPEGRAD_FUSED_STEP_CHILD"
FLOOR = "floor (OpenBLAS, 5 matmuls/step)"
STEPS_PER_EPOCH = 469   # 60,000 images in batches of 128


def _reexec(threads):
    env = dict(os.environ, **{_CHILD: "1"})
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[name] = str(threads)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    cores = sorted(os.sched_getaffinity(0))[:threads]
    result = subprocess.run([sys.executable, *sys.argv], env=env, preexec_fn=lambda: os.sched_setaffinity(0, cores))
    sys.exit(result.returncode)


def _loops(backend, images=60_000, batch=128, seed=0):
    import numpy as np

    import tapegrad.kernels as K
    from tapegrad.benchmark.baselines import RMSPROP, numpy_mlp_params

    rng = np.random.default_rng(seed)
    x = rng.random((images, 784), dtype=np.float32)
    y = rng.integers(0, 10, images).astype(np.int64)
    hyper = dict(learning_rate=RMSPROP["lr"], rho=RMSPROP["rho"], epsilon=RMSPROP["eps"], backend=backend)

    def state():
        params = numpy_mlp_params(seed)
        return params, [np.zeros_like(p) for p in params]

    def unfused_step(params, slots, idx):
        w1, b1, w2, b2 = params
        xb = x[idx]
        h = K.dense_forward(xb, w1, b1, "relu", backend=backend)
        z = K.dense_forward(h, w2, b2, backend=backend)
        _, dz = K.softmax_cross_entropy(z, y[idx], backend=backend)
        dh, db1 = K.relu_bias_grad(K.matmul(dz, w2, transpose_b=True, backend=backend), h, backend=backend)
        grads = [K.matmul(xb, dh, transpose_a=True, backend=backend), db1,
                 K.matmul(h, dz, transpose_a=True, backend=backend), K.bias_grad(dz, backend=backend)]
        K.rmsprop_update_foreach(params, grads, slots, **hyper)

    def fused_step(params, slots, idx):
        w1, b1, w2, b2 = params
        v1, vb1, v2, vb2 = slots
        h = K.dense_forward_rows(x, idx, w1, b1, "relu", backend=backend)
        z = K.dense_forward(h, w2, b2, backend=backend)
        _, dz = K.softmax_cross_entropy(z, y[idx], backend=backend)
        dh_pre = K.matmul(dz, w2, transpose_b=True, backend=backend)   # before w2 changes
        K.weight_grad_rmsprop(h, dz, w2, v2, **hyper)
        K.bias_grad_rmsprop(dz, b2, vb2, **hyper)
        dh = K.bias_grad_rmsprop(dh_pre, b1, vb1, relu_input=h, **hyper)
        K.weight_grad_rmsprop(x, dh, w1, v1, rows=idx, **hyper)

    def block_of(step):
        """A function running the next ``steps`` steps of one epoch after another (reshuffled per epoch)."""
        params, slots = state()
        order_rng = np.random.default_rng(1)
        batches, where = [], [0]

        def run(steps):
            for _ in range(steps):
                if where[0] == len(batches):
                    order = order_rng.permutation(images)
                    batches[:] = [order[s:s + batch] for s in range(0, images, batch)]
                    where[0] = 0
                step(params, slots, batches[where[0]])
                where[0] += 1
        return run

    def floor_block():
        """The floor's five matmuls per step (baselines.floor_epoch_loop's), on contiguous slices."""
        w1, _, w2, _ = numpy_mlp_params(seed)
        dz = rng.standard_normal((batch, 10)).astype(np.float32)
        h, z, dh = (np.empty((batch, n), np.float32) for n in (512, 10, 512))
        gw1, gw2 = np.empty_like(w1), np.empty_like(w2)
        where = [0]

        def run(steps):
            for _ in range(steps):
                start = where[0] * batch
                where[0] = (where[0] + 1) % (images // batch)
                xb = x[start:start + batch]
                np.matmul(xb, w1, out=h)
                np.matmul(h, w2, out=z)
                np.matmul(dz, w2.T, out=dh)
                np.matmul(xb.T, dh, out=gw1)
                np.matmul(h.T, dz, out=gw2)
        return run

    # the two kernel loops must agree bit for bit (five steps, the same batches)
    check = {}
    for name, step in (("unfused", unfused_step), ("fused", fused_step)):
        params, slots = state()
        order = np.random.default_rng(2).permutation(images)
        for s in range(5):
            step(params, slots, order[s * batch:(s + 1) * batch])
        check[name] = params
    for a, b in zip(check["unfused"], check["fused"]):
        assert np.array_equal(a, b), "the fused step does not give the unfused step's numbers"
    loops = {FLOOR: floor_block()}
    for name, step in (("unfused kernels", unfused_step), ("fused kernels", fused_step)):
        loops[name] = block_of(step)
    return loops


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--block", type=int, default=47, help="steps per timed block (47: a tenth of an epoch)")
    parser.add_argument("--backend", default="numba")
    args = parser.parse_args()
    if os.environ.get(_CHILD) != "1":
        _reexec(args.threads)
    import tapegrad.kernels as K

    K.set_num_threads(args.threads)
    loops = _loops(args.backend)
    for run in loops.values():   # warm up: compile, touch memory
        run(STEPS_PER_EPOCH)
    samples = {name: [] for name in loops}
    for _ in range(args.rounds):   # short blocks, interleaved: a burst of load hits all three alike
        for name, run in loops.items():
            start = time.perf_counter()
            run(args.block)
            samples[name].append((time.perf_counter() - start) / args.block * STEPS_PER_EPOCH)
            time.sleep(0.15 if args.threads > 1 else 0.0)   # OpenBLAS's idle threads spin for ~0.1 s
    floor = statistics.median(samples[FLOOR])
    print(f"{args.backend}, {args.threads} thread(s), {args.rounds} rounds of {args.block} steps each, "
          f"load average {os.getloadavg()[0]:.1f}, cores {sorted(os.sched_getaffinity(0))}")
    print(f"{'loop':34} {'s/epoch (median)':>16} {'q1':>7} {'q3':>7} {'floor/this':>10}")
    for name, s in samples.items():
        q1, med, q3 = statistics.quantiles(s, n=4)
        print(f"{name:34} {med:16.3f} {q1:7.3f} {q3:7.3f} {floor / med:10.2f}")

if __name__ == "__main__":
    main()
