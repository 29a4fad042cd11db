"""The convolution rows of ``tapegrad bench kernels``: chapter 8's convnet, batch 64.

Each layer of the book's MNIST convnet (3x3 kernels, "valid", batch 64) is
timed forward, input gradient and kernel gradient, against the same product
done the textbook way in NumPy: im2col (the full patch matrix, built with
``sliding_window_view``) and one OpenBLAS matmul (plus the col2im scatter for
the input gradient).  The pools are timed in GB/s against NumPy reshapes.
Rows have the format of ``kernels.kernel_rows``, which calls ``conv_rows``.
"""

from __future__ import annotations

import numpy as np

#: (label, H, W, C, F) of the convnet's layers, batch 64, 3x3 kernels
CONVNET_LAYERS = [
    ("conv1 28x28x1->32", 28, 28, 1, 32),
    ("conv2 13x13x32->64", 13, 13, 32, 64),
    ("conv3 5x5x64->128", 5, 5, 64, 128),
]
BATCH = 64


def _im2col(x, k=3):
    n, h, w, c = x.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))   # (N, OH, OW, C, k, k)
    return win.transpose(0, 1, 2, 4, 5, 3).reshape(n * (h - k + 1) * (w - k + 1), k * k * c)


def _col2im(cols, x_shape, k=3):
    n, h, w, c = x_shape
    oh, ow = h - k + 1, w - k + 1
    dx = np.zeros(x_shape, cols.dtype)
    patches = cols.reshape(n, oh, ow, k, k, c)
    for p in range(k):
        for q in range(k):
            dx[:, p:p + oh, q:q + ow] += patches[:, :, :, p, q]
    return dx


def conv_rows(backends, repeats, pause, timed_rounds, medians, ratio_quartiles, layers=CONVNET_LAYERS):
    """GFLOP/s rows for each layer's forward, input and kernel gradient (the
    timing helpers are passed in from ``tapegrad.benchmark``)."""
    import tapegrad.kernels as K

    rng = np.random.default_rng(0)
    rows = []
    for label, h, w, c, f in layers:
        x = rng.standard_normal((BATCH, h, w, c)).astype(np.float32)
        wt = rng.standard_normal((3, 3, c, f)).astype(np.float32)
        b = rng.standard_normal(f).astype(np.float32)
        g = rng.standard_normal((BATCH, h - 2, w - 2, f)).astype(np.float32)
        wm = wt.reshape(9 * c, f)
        g2 = g.reshape(-1, f)
        flops = 2.0 * g2.shape[0] * 9 * c * f
        cases = {
            "conv2d": (lambda: np.maximum(_im2col(x) @ wm + b, 0),
                       lambda be: K.conv2d(x, wt, b, activation="relu", backend=be)),
            "conv2d_input_grad": (lambda: _col2im(g2 @ wm.T, x.shape),
                                  lambda be: K.conv2d_input_grad(g, wt, x.shape, backend=be)),
            "conv2d_kernel_grad": (lambda: _im2col(x).T @ g2,
                                   lambda be: K.conv2d_kernel_grad(g, x, wt.shape, backend=be)),
        }
        if c == 1:   # conv1 has no input gradient in a network (its input is the data)
            del cases["conv2d_input_grad"]
        for kernel, (baseline, ours) in cases.items():
            candidates = {"blas": baseline}
            for name in backends:
                be = K.get_backend(name)
                candidates[name] = (lambda be=be, ours=ours: ours(be))
            rounds = timed_rounds(candidates, repeats, pause)
            times = medians(rounds)
            for name in backends:
                q1, ratio, q3 = ratio_quartiles(rounds, "blas", name)
                rows.append({"kernel": kernel, "shape": label, "size": 0, "backend": name,
                             "gflops": flops / times[name] / 1e9, "blas_gflops": flops / times["blas"] / 1e9,
                             "ratio": ratio, "ratio_q1": q1, "ratio_q3": q3, "unit": "GFLOP/s"})
    rows += _pool_rows(backends, repeats, pause, timed_rounds, medians, ratio_quartiles, rng)
    return rows


def _pool_rows(backends, repeats, pause, timed_rounds, medians, ratio_quartiles, rng):
    """The convnet's first 2x2 max-pool (64x26x26x32) forward and backward, GB/s."""
    import tapegrad.kernels as K

    x = rng.standard_normal((BATCH, 26, 26, 32)).astype(np.float32)
    g = rng.standard_normal((BATCH, 13, 13, 32)).astype(np.float32)

    def numpy_pool():
        return x.reshape(BATCH, 13, 2, 13, 2, 32).max(axis=(2, 4))

    def numpy_pool_backward():
        win = x.reshape(BATCH, 13, 2, 13, 2, 32).transpose(0, 1, 3, 5, 2, 4).reshape(BATCH, 13, 13, 32, 4)
        first = win.argmax(axis=-1)
        dx = np.zeros((BATCH, 13, 13, 32, 4), np.float32)
        np.put_along_axis(dx, first[..., None], g[..., None], axis=-1)
        return dx.reshape(BATCH, 13, 13, 32, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(x.shape)

    cases = [("max_pool2d", x.nbytes + g.nbytes, numpy_pool, lambda be: K.max_pool2d(x, backend=be)),
             ("max_pool2d_backward", 2 * x.nbytes + g.nbytes, numpy_pool_backward,
              lambda be: K.max_pool2d_backward(g, x, pool_size=2, strides=2, backend=be))]
    rows = []
    for name, nbytes, baseline, ours in cases:
        candidates = {"numpy": baseline}
        for backend in backends:
            be = K.get_backend(backend)
            candidates[backend] = (lambda be=be, ours=ours: ours(be))
        rounds = timed_rounds(candidates, repeats, pause)
        times = medians(rounds)
        for backend in backends:
            q1, ratio, q3 = ratio_quartiles(rounds, "numpy", backend)
            rows.append({"kernel": name, "shape": "64x26x26x32 2x2", "size": 0, "backend": backend,
                         "gflops": nbytes / times[backend] / 1e9, "blas_gflops": nbytes / times["numpy"] / 1e9,
                         "ratio": ratio, "ratio_q1": q1, "ratio_q3": q3, "unit": "GB/s"})
    return rows
