"""``tapegrad bench kernels``: each kernel against OpenBLAS or the NumPy expression.

A table of kernels is a function returning rows of one format (``kernel``,
``shape``, ``size``, ``backend``, ``gflops``, ``blas_gflops``, ``ratio``,
``ratio_q1``, ``ratio_q3``, ``unit``); :func:`kernel_rows` concatenates the
tables, so a new table (say a ``conv_rows`` in ``benchmark/conv.py``) is one
more line there, and its rows print, plot and save like the others.
"""

from __future__ import annotations

import numpy as np

from .timing import medians, ratio_quartiles, timed_rounds


MLP_SHAPES = [  # label, m, k, n, transpose_a, transpose_b
    ("x @ W1   128x784x512", 128, 784, 512, False, False),
    ("x.T @ dy 784x128x512", 784, 128, 512, True, False),
    ("h @ W2   128x512x10", 128, 512, 10, False, False),
    ("dy @ W2.T 128x10x512", 128, 10, 512, False, True),
    ("h.T @ dy 512x128x10", 512, 128, 10, True, False),
    ("dy @ B   128x10x512", 128, 10, 512, False, False),   # the plain K=10 form, not transposed
]


def kernel_rows(backends, threads, repeats, quick, user_kernel=None):
    """GEMM rows on the MLP's shapes and squares, then the memory-bound kernels;
    ``user_kernel`` (a ``matmul(a, b)``) is timed in the GEMM rows as backend ``yours``."""
    import tapegrad.kernels as K

    rng = np.random.default_rng(0)
    pause = 0.15 if threads > 1 else 0.0
    shapes = list(MLP_SHAPES)
    squares = (256, 512, 1024) if quick else (256, 512, 1024, 2048)
    shapes += [(f"square {n}", n, n, n, False, False) for n in squares]
    rows = []
    for label, m, k, n, ta, tb in shapes:
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
        a_op, b_op = (a.T if ta else a), (b.T if tb else b)
        out = np.empty((m, n), np.float32)
        candidates = {"blas": lambda: np.matmul(a_op, b_op, out=out)}
        for name in backends:
            be = K.get_backend(name)
            candidates[name] = (lambda be=be: K.matmul(a, b, transpose_a=ta, transpose_b=tb,
                                                       out=out, backend=be))
        if user_kernel is not None:  # yours gets plain row-major operands
            a_c, b_c = np.ascontiguousarray(a_op), np.ascontiguousarray(b_op)
            candidates["yours"] = lambda: user_kernel(a_c, b_c)
        reps = repeats if n * m * k < 1e9 else max(3, repeats // 3)
        rounds = timed_rounds(candidates, reps, pause)
        times = medians(rounds)
        flops = 2.0 * m * n * k
        for name in [name for name in candidates if name != "blas"]:
            q1, ratio, q3 = ratio_quartiles(rounds, "blas", name)
            rows.append({"kernel": "matmul", "shape": label, "size": max(m, n, k), "backend": name,
                         "gflops": flops / times[name] / 1e9, "blas_gflops": flops / times["blas"] / 1e9,
                         "ratio": ratio, "ratio_q1": q1, "ratio_q3": q3,
                         "unit": "GFLOP/s"})
    rows += _memory_bound_rows(backends, repeats, pause, rng)
    from .conv_kernels import conv_rows   # the convnet's layers (conv_kernels.py)
    rows += conv_rows(backends, repeats, pause, timed_rounds, medians, ratio_quartiles)
    # a further table of kernels (rows of the same format) is one more line here
    return rows


def _memory_bound_rows(backends, repeats, pause, rng):
    """Kernels limited by memory traffic: GB/s, against a NumPy expression."""
    import tapegrad.kernels as K

    x = rng.standard_normal((128, 512)).astype(np.float32)
    g = rng.standard_normal((128, 512)).astype(np.float32)
    z = rng.standard_normal((128, 10)).astype(np.float32) * 3
    labels = rng.integers(0, 10, 128)
    w = rng.standard_normal(784 * 512).astype(np.float32)
    gw = rng.standard_normal(784 * 512).astype(np.float32)
    v = np.zeros_like(w)

    def numpy_ce():
        s = z - z.max(axis=1, keepdims=True)
        e = np.exp(s)
        p = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(128), labels]).mean()
        p[np.arange(128), labels] -= 1
        return loss, p / 128

    def numpy_rmsprop():
        v[...] = 0.9 * v + 0.1 * gw * gw
        w[...] = w - 1e-3 * gw / np.sqrt(v + 1e-7)

    cases = [  # name, shape label, bytes moved, numpy baseline, our call
        ("relu", "128x512", 2 * x.nbytes, lambda: np.maximum(x, 0),
         lambda be: K.relu(x, backend=be)),
        ("relu_backward", "128x512", 3 * x.nbytes, lambda: np.where(x > 0, g, 0),
         lambda be: K.relu_backward(g, x, backend=be)),
        ("softmax_cross_entropy", "128x10", 2 * z.nbytes, numpy_ce,
         lambda be: K.softmax_cross_entropy(z, labels, backend=be)),
        ("bias_grad", "128x512", g.nbytes, lambda: g.sum(axis=0),
         lambda be: K.bias_grad(g, backend=be)),
        ("relu_bias_grad", "128x512", 3 * x.nbytes, lambda: np.where(x > 0, g, 0).sum(axis=0),
         lambda be: K.relu_bias_grad(g, x, backend=be)),
        ("rmsprop_update", "784*512", 5 * w.nbytes, numpy_rmsprop,
         lambda be: K.rmsprop_update(w, gw, v, backend=be)),
    ]
    rows = []
    for name, label, nbytes, baseline, ours in cases:
        candidates = {"numpy": baseline}
        for backend in backends:
            be = K.get_backend(backend)
            candidates[backend] = (lambda be=be, ours=ours: ours(be))
        rounds = timed_rounds(candidates, repeats, pause)
        times = medians(rounds)
        for backend in backends:
            q1, ratio, q3 = ratio_quartiles(rounds, "numpy", backend)
            rows.append({"kernel": name, "shape": label, "size": 0, "backend": backend,
                         "gflops": nbytes / times[backend] / 1e9, "blas_gflops": nbytes / times["numpy"] / 1e9,
                         "ratio": ratio, "ratio_q1": q1, "ratio_q3": q3,
                         "unit": "GB/s"})
    return rows


def print_kernel_table(rows, peak, threads):
    print(f"\n{'kernel':22} {'shape':22} {'backend':8} {'ours':>9} {'baseline':>9} {'ratio':>6} "
          f"{'spread':>11} {'% peak':>7}")
    for r in rows:
        unit = r["unit"]
        pct = f"{100 * r['gflops'] / (peak * threads):6.0f}%" if unit == "GFLOP/s" else "      -"
        spread = f"{r['ratio_q1']:.2f}-{r['ratio_q3']:.2f}"
        print(f"{r['kernel']:22} {r['shape']:22} {r['backend']:8} {r['gflops']:9.1f} {r['blas_gflops']:9.1f} "
              f"{r['ratio']:6.2f} {spread:>11} {pct}")
    print("units: GFLOP/s for matmul (baseline: NumPy's OpenBLAS), GB/s for the others "
          "(baseline: the NumPy expression), medians of alternating blocks in this one process; "
          "ratio = baseline time / our time, the median over rounds (each round times both sides "
          "back to back), spread = its quartiles")
