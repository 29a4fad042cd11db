"""Side by side in one process: the backward of chapter 8's Conv2D(relu) -> MaxPooling2D
blocks as the traced step ran it before trace/fuse_pool.py, and fused (Numba backend).

    python bench/conv_pool_fused.py [--threads 1] [--rounds 41]

* conv1 (64x28x28x1 -> 26x26x32 -> 13x13x32): ``max_pool2d_backward``, then
  ``bias_grad_rmsprop(relu_input=y)`` (relu's mask, the bias sums and its
  RMSprop step), then ``conv2d_kernel_grad``; fused: ``max_pool_relu_weight_grads``
  and the bias's RMSprop step from db;
* conv2 (64x13x13x32 -> 11x11x64 -> 5x5x64): ``max_pool2d_backward`` then
  ``bias_grad_rmsprop(relu_input=y)``; fused: ``max_pool_relu_backward`` and the
  bias's step (dz is still written: conv2's gradients read it).

Each round times one call of each side back to back (the order alternating);
prints the median ms per call with quartiles, in CPU time of the process (on
a busy machine wall time also counts the time the process waited for a core)
and in wall time, and the ratio old / fused of the medians.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import tapegrad.kernels as K

RMSPROP = dict(learning_rate=1e-3, rho=0.9, epsilon=1e-7)


def block(n, hw, c, f, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((n, hw, hw, c)).astype(np.float32)
    w = (rng.standard_normal((3, 3, c, f)) * 0.2).astype(np.float32)
    b = (rng.standard_normal(f) * 0.1).astype(np.float32)
    y = K.conv2d(x, w, b, activation="relu", backend="numba")
    g = rng.standard_normal(K.max_pool2d(y, backend="numba").shape).astype(np.float32) * 1e-3
    return x, w, y, g, b.copy(), np.full(f, 1e-4, np.float32)


def sides(n=64):
    x1, w1, y1, g1, b1, v1 = block(n, 28, 1, 32, 1)
    x2, w2, y2, g2, b2, v2 = block(n, 13, 32, 64, 2)

    def conv1_old():
        dz = K.max_pool2d_backward(g1, y1, backend="numba")
        masked = K.bias_grad_rmsprop(dz.reshape(-1, 32), b1, v1, relu_input=y1.reshape(-1, 32),
                                     backend="numba", **RMSPROP)
        return K.conv2d_kernel_grad(masked.reshape(y1.shape), x1, w1.shape, backend="numba")

    def conv1_fused():
        dw, db = K.max_pool_relu_weight_grads(g1, y1, x1, w1.shape, backend="numba")
        K.bias_grad_rmsprop(db.reshape(1, -1), b1, v1, backend="numba", **RMSPROP)
        return dw

    def conv2_old():
        dz = K.max_pool2d_backward(g2, y2, backend="numba")
        return K.bias_grad_rmsprop(dz.reshape(-1, 64), b2, v2, relu_input=y2.reshape(-1, 64),
                                   backend="numba", **RMSPROP)

    def conv2_fused():
        g, db = K.max_pool_relu_backward(g2, y2, backend="numba")
        K.bias_grad_rmsprop(db.reshape(1, -1), b2, v2, backend="numba", **RMSPROP)
        return g

    return {"conv1 block (26x26x32)": (conv1_old, conv1_fused), "conv2 block (11x11x64)": (conv2_old, conv2_fused)}


def _quartiles(a):
    return f"{np.median(a):6.3f} ms [{np.percentile(a, 25):.3f}, {np.percentile(a, 75):.3f}]"


def timed(fn):
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=41)
    args = parser.parse_args()
    K.set_num_threads(args.threads)
    print(f"numba, {args.threads} thread(s), {args.rounds} rounds; load average {os.getloadavg()}")
    for name, (old, new) in sides().items():
        for fn in (old, new, old, new):      # compile and warm the caches
            fn()
        times = {"old": [], "fused": []}
        for r in range(args.rounds):
            order = (("old", old), ("fused", new)) if r % 2 == 0 else (("fused", new), ("old", old))
            for label, fn in order:
                times[label].append(timed(fn))
        print(name)
        medians = {}
        for label, rows in times.items():
            cpu, wall = (np.array(col) * 1e3 for col in zip(*rows))
            medians[label] = (np.median(cpu), np.median(wall))
            print(f"  {label:6s} cpu {_quartiles(cpu)}   wall {_quartiles(wall)}")
        print(f"  ratio old / fused: cpu {medians['old'][0] / medians['fused'][0]:.2f}x, "
              f"wall {medians['old'][1] / medians['fused'][1]:.2f}x")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
