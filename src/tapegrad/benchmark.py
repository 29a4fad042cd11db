"""``tapegrad bench``: our kernels against OpenBLAS, and a training epoch against NumPy.

Shared machines are noisy, so nothing here reports a lone time.  Each row
times our kernel and the baseline side by side in one process, alternating
blocks of calls.  Each round times every candidate back to back, so a change
in the machine's load between rounds hits both sides of that round's ratio;
a row reports the median of those per-round ratios (above 1.0 means ours is
faster) and their quartiles, which show how much the load moved it.  Between blocks it pauses, because OpenBLAS's idle threads
keep spinning for about 0.1 s after a call and would slow whatever runs next.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable, NamedTuple

import numpy as np

_REEXEC_FLAG = "TAPEGRAD_BENCH_CHILD"
_CORES_VAR = "TAPEGRAD_BENCH_CORES"  # the cores the child was held to, for its header


# ------------------------------------------------------------------ setup
def _pin_blas_threads(threads: int, pin_cores: bool = False) -> None:
    """Re-run this process with OpenBLAS pinned to ``threads`` threads.

    OpenBLAS reads its thread count once, when NumPy is imported, so the only
    reliable way to set it is the environment of a fresh process.  The
    ``OPENBLAS_CORETYPE`` override some machines set (for old OpenBLAS
    builds) is dropped so that the baseline runs its best kernel.

    With ``pin_cores`` (``bench train``) the new process is also held to
    ``threads`` cores when the machine has more: a framework may overlap work
    on helper threads however few compute threads it is given (JAX dispatches
    each step asynchronously, so Keras's Python loop and the XLA program run
    on two cores at once), and "1 thread" should mean one core for everyone.
    """
    if os.environ.get(_REEXEC_FLAG) == "1":
        return
    env = dict(os.environ)
    env[_REEXEC_FLAG] = "1"
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[name] = str(threads)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    # for the peers of `bench train --peers`: Keras 3 on JAX; XLA's own flags
    # can only make it single-threaded, more threads come from the cores it has
    env["KERAS_BACKEND"] = "jax"
    if threads == 1:
        xla = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {xla}".strip()
    cores = None
    if pin_cores and hasattr(os, "sched_getaffinity"):
        available = sorted(os.sched_getaffinity(0))
        if threads < len(available):
            cores = set(available[:threads])
    env[_CORES_VAR] = ",".join(map(str, sorted(cores))) if cores else ""
    sys.stdout.flush()
    result = subprocess.run([sys.executable, "-m", "tapegrad", *sys.argv[1:]], env=env,
                            preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None)
    sys.exit(result.returncode)


def _time_block(fn, inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def _calibrate(fn, target_s: float = 0.02) -> int:
    """Calls per timing block so that one block lasts about ``target_s``."""
    fn()
    t = _time_block(fn, 1)
    return max(1, min(10_000, int(target_s / max(t, 1e-7))))


def timed_rounds(candidates: dict, repeats: int, pause: float) -> dict:
    """Seconds per call of each candidate in each of ``repeats`` rounds; a round
    times one block of every candidate, one after another."""
    inner = {name: _calibrate(fn) for name, fn in candidates.items()}
    samples = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            samples[name].append(_time_block(fn, inner[name]))
            if pause:
                time.sleep(pause)
    return samples


def medians(rounds: dict) -> dict:
    """Median seconds per call of each candidate."""
    return {name: statistics.median(s) for name, s in rounds.items()}


def ratio_quartiles(rounds: dict, baseline: str, name: str) -> tuple:
    """(first quartile, median, third quartile) of baseline time / our time,
    taken round by round."""
    ratios = sorted(b / o for b, o in zip(rounds[baseline], rounds[name]))
    if len(ratios) < 2:
        return ratios[0], ratios[0], ratios[0]
    return tuple(statistics.quantiles(ratios, n=4, method="inclusive"))


def measured_peak_gflops() -> float:
    """Single-thread float32 FMA throughput of this CPU, measured.

    Twelve independent vector FMA chains held in registers (no memory
    traffic), at the vector width the Cython micro-kernels use: what the FMA
    units do at the clock the CPU runs now, the ceiling a GEMM can approach.
    The best of five runs, since a shared machine only ever slows it down.
    """
    from tapegrad.kernels import cython_backend

    if cython_backend.backend.extension is None:
        raise RuntimeError("measuring the peak needs the compiled Cython kernels; pass --peak-gflops")
    ext = cython_backend.backend.extension
    return max(ext.fma_peak_gflops() for _ in range(5))


# ------------------------------------------------------------------ kernels
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
    from .bench_conv import conv_rows   # the convnet's layers (a module of its own)
    rows += conv_rows(backends, repeats, pause, timed_rounds, medians, ratio_quartiles)
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


def plot_kernels(rows, peak, threads, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install 'tapegrad[plot]'") from None
    squares = [r for r in rows if r["shape"].startswith("square")]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for backend in sorted({r["backend"] for r in squares}):
        pts = sorted((r["size"], r["gflops"]) for r in squares if r["backend"] == backend)
        ax.plot(*zip(*pts), marker="o", label="your kernel" if backend == "yours" else f"tapegrad {backend}")
    blas = {}
    for r in squares:
        blas.setdefault(r["size"], []).append(r["blas_gflops"])
    pts = sorted((s, statistics.median(v)) for s, v in blas.items())
    ax.plot(*zip(*pts), marker="s", color="black", label="OpenBLAS (NumPy)")
    ax.axhline(peak * threads, color="red", linestyle="--", label=f"FMA peak ({peak * threads:.0f})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("n (n x n x n float32 matmul)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title(f"tapegrad matmul, {threads} thread(s)")
    ax.set_ylim(bottom=0)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot written to {path}")


# ------------------------------------------------------------------ your kernel, the ladder
#: the awkward shapes (m, k, n) on which tests/test_kernels.py checks every backend's GEMM:
#: 1s, primes, non-multiples of every tile, and the MLP's shapes
CHECK_SHAPES = [
    (1, 1, 1), (1, 7, 1), (3, 1, 5), (17, 31, 33), (129, 257, 65),
    (8, 16, 16), (13, 384, 17), (97, 1000, 23),
    (128, 784, 512), (784, 128, 512), (128, 512, 10), (128, 10, 512),
]


def load_user_kernel(spec):
    """``"module:function"`` -> the function; the current directory is importable."""
    import importlib

    module_name, sep, function_name = spec.partition(":")
    if not sep or not module_name or not function_name:
        raise ValueError(f"--kernel must be MODULE:FUNCTION (e.g. mygemm:matmul), got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--kernel: cannot import module {module_name!r}: {exc}") from None
    fn = getattr(module, function_name, None)
    if not callable(fn):
        raise ValueError(f"--kernel: module {module_name!r} has no function {function_name!r}")
    return fn


def check_matmul(fn, shapes=CHECK_SHAPES, dtype=np.float32):
    """The first shape on which ``fn(a, b)`` is not ``a @ b``, as a message; None if it passes all.

    The reference is computed in float64; an entry may be off by a few float32
    rounding errors of its sum of products, ``|a| @ |b|`` times a tolerance
    growing with sqrt(k), as in tests/test_kernels.py.
    """
    rng = np.random.default_rng(0)
    eps = np.finfo(dtype).eps
    for m, k, n in shapes:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        where = f"shape (m, k, n) = {(m, k, n)} (a is {m}x{k}, b is {k}x{n})"
        try:
            c = np.asarray(fn(a.copy(), b.copy()))
        except Exception as exc:  # noqa: BLE001 (any error of the user's code is a failure to report)
            return f"{where}: your kernel raised {type(exc).__name__}: {exc}"
        if c.shape != (m, n):
            return f"{where}: your kernel returned shape {c.shape}, expected {(m, n)}"
        ref = a.astype(np.float64) @ b.astype(np.float64)
        bound = 32 * eps * max(1.0, np.sqrt(k)) * (np.abs(a).astype(np.float64) @ np.abs(b)) + 1e-30
        err = np.abs(c.astype(np.float64) - ref)
        err[np.isnan(err)] = np.inf
        if not np.all(err <= bound):
            i, j = np.unravel_index(np.argmax(err - bound), err.shape)
            return (f"{where}: C[{i}, {j}] is {c[i, j]!r}, expected {ref[i, j]:.6g} "
                    f"(max error {err.max():.3g}, allowed {bound[i, j]:.3g})")
    return None


def ladder_rows(size, backend, repeats, peak):
    """Each rung of the GEMM ladder (tapegrad.ladder) on one size x size x size float32 matmul."""
    from tapegrad import ladder

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(np.float32)
    b = rng.standard_normal((size, size)).astype(np.float32)
    ref = a.astype(np.float64) @ b
    rows = []
    for name, fn, idea in ladder.ladder(backend):
        failure = check_matmul(fn, shapes=[(17, 31, 33)])
        if failure is None and np.abs(fn(a, b) - ref).max() > 1e-2 * max(1.0, np.abs(ref).max()):
            failure = f"wrong at {size}x{size}x{size}"
        if failure:
            raise RuntimeError(f"ladder step {name!r} is wrong: {failure}")
        seconds = medians(timed_rounds({name: lambda fn=fn: fn(a, b)}, repeats, 0.0))[name]
        gflops = 2.0 * size ** 3 / seconds / 1e9
        rows.append({"step": name, "idea": idea, "seconds": seconds, "gflops": gflops,
                     "percent_of_peak": 100 * gflops / peak})
    return rows


def print_ladder(rows, size, peak):
    print(f"\nGEMM ladder, {size}x{size}x{size} float32, 1 thread; peak {peak:.0f} GFLOP/s")
    print(f"{'step':14} {'GFLOP/s':>9} {'% peak':>7} {'vs previous':>12}   idea")
    previous = None
    for r in rows:
        gain = "" if previous is None else f"{r['gflops'] / previous:11.1f}x"
        print(f"{r['step']:14} {r['gflops']:9.2f} {r['percent_of_peak']:6.1f}% {gain:>12}   {r['idea']}")
        previous = r["gflops"]


# ------------------------------------------------------------------ training
def _mnist(limit=None):
    from tapegrad.keras.datasets import mnist

    (x, y), _ = mnist.load_data()
    x = x.reshape(len(x), 784).astype(np.float32) / 255
    return (x[:limit], y[:limit]) if limit else (x, y)


RMSPROP = {"lr": 1e-3, "rho": 0.9, "eps": 1e-7}  # Keras's defaults, as compile("rmsprop") uses


def numpy_mlp_params(seed=0):
    """The book's network's weights as Dense initialises them: Glorot-uniform, zero biases."""
    rng = np.random.default_rng(seed)
    lim1, lim2 = np.sqrt(6 / (784 + 512)), np.sqrt(6 / (512 + 10))
    return [rng.uniform(-lim1, lim1, (784, 512)).astype(np.float32), np.zeros(512, np.float32),
            rng.uniform(-lim2, lim2, (512, 10)).astype(np.float32), np.zeros(10, np.float32)]


def numpy_step(params, state, xb, yb, lr=RMSPROP["lr"], rho=RMSPROP["rho"], eps=RMSPROP["eps"]):
    """One RMSprop step of the network in plain NumPy + OpenBLAS, in place.

    The baseline a user would write by hand: the same steps as tapegrad's
    ``fit`` (forward, softmax-cross-entropy, backward, RMSprop), each a NumPy
    expression, none fused.  Returns the batch's mean loss before the update.
    """
    w1, b1, w2, b2 = params
    h = np.maximum(xb @ w1 + b1, 0)
    z = h @ w2 + b2
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    rows = np.arange(len(yb))
    loss = -np.log(p[rows, yb]).mean()
    p[rows, yb] -= 1
    dz = p / len(yb)
    dh = (dz @ w2.T) * (h > 0)
    grads = [xb.T @ dh, dh.sum(axis=0), h.T @ dz, dz.sum(axis=0)]
    for param, grad, v in zip(params, grads, state):
        v *= rho
        v += (1 - rho) * grad * grad
        param -= lr * grad / np.sqrt(v + eps)
    return loss


def numpy_epoch_loop(x, y, batch_size=128, seed=0):
    """A function that runs one epoch of ``numpy_step`` over shuffled batches."""
    rng = np.random.default_rng(seed)
    params = numpy_mlp_params(seed)
    state = [np.zeros_like(p) for p in params]

    def epoch():
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            numpy_step(params, state, x[idx], y[idx])

    return epoch


# ------------------------------------------------------------------ peers
# The frameworks a user would pick instead, each running the same epoch:
# MNIST from tapegrad's files, 784-512 relu-10 softmax, RMSprop (lr 1e-3,
# rho 0.9, eps 1e-7), batch 128, shuffled, one or more threads.
class Peer(NamedTuple):
    """A row of ``bench train --peers``: ``make(x, y, batch_size, threads)``
    returns a function that trains one epoch; ``modules`` must all be
    importable for the peer to count as installed, else the row says
    "not installed" and gives ``pip``."""

    name: str
    modules: tuple
    pip: str
    make: Callable


def torch_epoch_loop(x, y, batch_size=128, threads=1):
    """PyTorch eager mode: one Python call per op, autograd, torch's RMSprop."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
    opt = torch.optim.RMSprop(model.parameters(), lr=RMSPROP["lr"], alpha=RMSPROP["rho"], eps=RMSPROP["eps"])
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch():
        order = torch.randperm(len(xt))
        for start in range(0, len(xt), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    return epoch


def keras_epoch_loop(x, y, batch_size=128, threads=1):
    """Keras 3 ``model.fit``, its train step compiled by XLA (on the JAX
    backend the bench selects; one thread is set through ``XLA_FLAGS`` in
    ``_pin_blas_threads``, before JAX starts, and the process is held to
    ``threads`` cores)."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.RMSprop(RMSPROP["lr"], rho=RMSPROP["rho"], epsilon=RMSPROP["eps"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=True)

    def epoch():
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=True)

    return epoch


def tensorflow_epoch_loop(x, y, batch_size=128, threads=1):
    """TensorFlow 2, the step a ``tf.function`` graph (GradientTape, RMSprop
    written with TF ops, so it does not depend on which Keras is installed)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    params = [tf.Variable(p) for p in numpy_mlp_params(0)]
    state = [tf.Variable(tf.zeros_like(p)) for p in params]
    xt, yt = tf.constant(x), tf.constant(y.astype(np.int32))
    lr, rho, eps = RMSPROP["lr"], RMSPROP["rho"], RMSPROP["eps"]

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            h = tf.nn.relu(xb @ params[0] + params[1])
            logits = h @ params[2] + params[3]
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits))
        for p, v, g in zip(params, state, tape.gradient(loss, params)):
            v.assign(rho * v + (1 - rho) * g * g)
            p.assign_sub(lr * g / tf.sqrt(v + eps))
        return loss

    rng = np.random.default_rng(0)

    def epoch():
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            idx = tf.constant(order[start:start + batch_size])
            step(tf.gather(xt, idx), tf.gather(yt, idx))

    return epoch


FLOOR = "floor: OpenBLAS, 5 matmuls/step"

PEERS = [
    Peer("pytorch eager", ("torch",), "pip install torch", torch_epoch_loop),
    Peer("keras 3 on jax (xla)", ("keras", "jax"), "pip install jax keras", keras_epoch_loop),
    Peer("tensorflow (tf.function)", ("tensorflow",), "pip install tensorflow", tensorflow_epoch_loop),
]


def peer_installed(peer) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in peer.modules)


def floor_epoch_loop(x, y, batch_size=128):
    """Only the epoch's five matmuls per step, by OpenBLAS: the floor.

    Forward ``x @ W1`` and ``h @ W2``; backward ``dz @ W2.T``, ``x.T @ dh``
    and ``h.T @ dz``, on each batch's shapes (the last batch is short), into
    preallocated outputs.  What a step would cost if everything but the
    matmuls (element-wise work, the optimizer, the batch gather, Python)
    were free.
    """
    rng = np.random.default_rng(0)
    w1, _, w2, _ = numpy_mlp_params(0)
    dz_full = rng.standard_normal((batch_size, 10)).astype(np.float32)
    h_full = np.empty((batch_size, 512), np.float32)
    dh_full = np.empty((batch_size, 512), np.float32)
    z_full = np.empty((batch_size, 10), np.float32)
    gw1, gw2 = np.empty_like(w1), np.empty_like(w2)

    def epoch():
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size]
            rows = len(xb)
            h, z, dz, dh = h_full[:rows], z_full[:rows], dz_full[:rows], dh_full[:rows]
            np.matmul(xb, w1, out=h)
            np.matmul(h, w2, out=z)
            np.matmul(dz, w2.T, out=dh)
            np.matmul(xb.T, dh, out=gw1)
            np.matmul(h.T, dz, out=gw2)

    return epoch


def book_model(backend):
    """The book's network, compiled as chapter 2 does, built on ``backend`` with seed 0."""
    import tapegrad
    from tapegrad import keras

    with tapegrad.kernels.use(backend):
        tapegrad.random.set_seed(0)
        model = keras.Sequential([keras.layers.Dense(512, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def tapegrad_epoch(x, y, backend, batch_size=128):
    import tapegrad

    model = book_model(backend)

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
    ``peers``, the floor and each framework of ``PEERS``: a warm-up epoch
    each, then ``epochs`` rounds that time one epoch of every loop back to
    back; a row gives the median.  A peer that is not installed (or fails
    to start) is a row with a ``status`` and no time."""
    x, y = _mnist(limit=12_800 if quick else None)
    loops = {"numpy+openblas": numpy_epoch_loop(x, y)}
    missing = []
    if peers:
        loops[FLOOR] = floor_epoch_loop(x, y)
        for peer in PEERS:
            if not peer_installed(peer):
                missing.append({"loop": peer.name, "status": "not installed", "install": peer.pip})
                continue
            try:
                loops[peer.name] = peer.make(x, y, batch_size=128, threads=threads)
            except Exception as exc:  # noqa: BLE001 (a peer that cannot start is reported, not fatal)
                missing.append({"loop": peer.name, "status": f"failed: {type(exc).__name__}: {exc}",
                                "install": peer.pip})
    for name in backends:
        loops[f"tapegrad {name}"] = tapegrad_epoch(x, y, name)
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


# ------------------------------------------------------------------ profile
GEMM_KERNELS = ("matmul", "dense_forward")
UPDATE_KERNELS = ("sgd_update", "rmsprop_update", "adam_update",
                  "sgd_update_foreach", "rmsprop_update_foreach", "adam_update_foreach")
OTHER_KERNELS = ("relu", "relu_backward", "softmax", "softmax_cross_entropy", "bias_grad",
                 "relu_bias_grad", "dropout_forward", "dropout_backward", "sigmoid_cross_entropy",
                 "accumulate_sum", "accumulate_correct")
PROFILE_PARTS = ("GEMMs", "element-wise kernels", "optimizer", "batch gather + fit loop", "Python/tape")


class _StepTimers:
    """Wrap the kernel API functions, ``train_step`` and ``apply_gradients``
    of one model with timers; seconds accumulate per group until ``close()``."""

    def __init__(self, model):
        import tapegrad.kernels as K

        self.seconds = dict.fromkeys(("gemm", "kernels", "optimizer", "train_step"), 0.0)
        self._depth = {"optimizer": 0}
        self._restore = []
        for name in GEMM_KERNELS + OTHER_KERNELS + UPDATE_KERNELS:
            group = "gemm" if name in GEMM_KERNELS else "kernels"
            self._patch(K, name, group)
        self._patch(model, "train_step", "train_step")
        self._patch(model.optimizer, "apply_gradients", "optimizer")

    def _patch(self, owner, name, group):
        inner = getattr(owner, name)
        seconds, depth, clock = self.seconds, self._depth, time.perf_counter

        def timed(*args, **kwargs):
            if group == "kernels" and depth["optimizer"]:   # an update kernel: the optimizer's time
                return inner(*args, **kwargs)
            if group == "optimizer":
                depth["optimizer"] += 1
            start = clock()
            try:
                return inner(*args, **kwargs)
            finally:
                seconds[group] += clock() - start
                if group == "optimizer":
                    depth["optimizer"] -= 1

        had_own = name in vars(owner)
        self._restore.append((owner, name, inner if had_own else None))
        setattr(owner, name, timed)

    def close(self):
        for owner, name, inner in reversed(self._restore):
            if inner is None:
                delattr(owner, name)
            else:
                setattr(owner, name, inner)


def profile_train_step(backend, limit=12_800, rounds=3, batch_size=128):
    """Where one training step's time goes: ms per step and % of the step for
    each of ``PROFILE_PARTS``, from ``rounds`` timed epochs on ``limit`` images.

    Each round runs one epoch with timers around the kernel API functions,
    ``train_step`` and ``apply_gradients``, and one without, back to back: the
    parts of the round with the median timed epoch sum to it, and ``untimed_ms``
    says what a step costs without the timers.  Python/tape is what is left
    of ``train_step`` after the kernels and the optimizer: the tape, the
    layers' and ops' Python, input checks and allocation.
    """
    import tapegrad

    x, y = _mnist(limit=limit)
    steps = -(-len(x) // batch_size)
    model = book_model(backend)

    def epoch():
        start = time.perf_counter()
        with tapegrad.kernels.use(backend):
            model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
        return (time.perf_counter() - start) * 1e3 / steps

    epoch()  # warm up: compile, allocate
    parts = {name: [] for name in PROFILE_PARTS}
    timed_ms, untimed_ms = [], []
    for _ in range(rounds):
        timers = _StepTimers(model)
        try:
            total = epoch()
        finally:
            timers.close()
        sec = {k: v * 1e3 / steps for k, v in timers.seconds.items()}
        timed_ms.append(total)
        parts["GEMMs"].append(sec["gemm"])
        parts["element-wise kernels"].append(sec["kernels"])
        parts["optimizer"].append(sec["optimizer"])
        parts["batch gather + fit loop"].append(total - sec["train_step"])
        parts["Python/tape"].append(sec["train_step"] - sec["gemm"] - sec["kernels"] - sec["optimizer"])
        untimed_ms.append(epoch())
    # the round with the median timed step, whole, so its parts add up to its step
    median_round = sorted(range(rounds), key=timed_ms.__getitem__)[rounds // 2]
    step = timed_ms[median_round]
    rows = [{"part": name, "ms_per_step": v[median_round], "percent": 100 * v[median_round] / step}
            for name, v in parts.items()]
    return {"rows": rows, "step_ms": step, "untimed_ms": statistics.median(untimed_ms),
            "steps": steps, "rounds": rounds}


def print_profile(profile, backend):
    print(f"\nwhere one training step goes: tapegrad {backend}, {profile['steps']} steps x "
          f"{profile['rounds']} rounds (784-512-10, batch 128, RMSprop)")
    print(f"{'part':26} {'ms/step':>8} {'% of step':>10}")
    for r in profile["rows"]:
        print(f"{r['part']:26} {r['ms_per_step']:8.3f} {r['percent']:9.1f}%")
    print(f"{'step (with timers)':26} {profile['step_ms']:8.3f}")
    print(f"{'step (no timers)':26} {profile['untimed_ms']:8.3f}")


# ------------------------------------------------------------------ main
def main(args) -> int:
    _pin_blas_threads(args.threads, pin_cores=args.what == "train")
    import tapegrad.kernels as K

    backends = args.backends.split(",") if args.backends else [b for b in ("numba", "cython")
                                                                 if b in K.available_backends()]
    K.set_num_threads(args.threads)
    repeats = args.repeats or (5 if args.quick else 11)
    info = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
            "python": platform.python_version(), "numpy": np.__version__}
    print(f"tapegrad bench {args.what}: backends {', '.join(backends)}; {args.threads} thread(s); "
          f"OpenBLAS threads pinned to {os.environ.get('OPENBLAS_NUM_THREADS')}"
          + (f"; process held to core(s) {os.environ[_CORES_VAR]}" if os.environ.get(_CORES_VAR) else ""))
    result = {"info": info}
    user_kernel = None
    if getattr(args, "kernel", None):
        if args.what != "kernels":
            raise ValueError("--kernel is an option of `tapegrad bench kernels`")
        user_kernel = load_user_kernel(args.kernel)
        failure = check_matmul(user_kernel)
        if failure:
            print(f"tapegrad bench kernels: your kernel {args.kernel} is wrong at {failure}", file=sys.stderr)
            return 1
        print(f"your kernel {args.kernel} matches the reference on {len(CHECK_SHAPES)} shapes; "
              "timed as backend 'yours'")
    if getattr(args, "peers", False) and (args.what != "train" or getattr(args, "profile", False)):
        raise ValueError("--peers is an option of `tapegrad bench train` (without --profile)")
    if getattr(args, "profile", False) and args.what != "train":
        raise ValueError("--profile is an option of `tapegrad bench train`")
    if args.what == "ladder":
        peak = args.peak_gflops or measured_peak_gflops()
        backend = backends[0]
        print(f"(the micro-kernel step runs tapegrad's {backend} GEMM; Numba compiles the steps on first use)")
        rows = ladder_rows(args.size, backend, repeats, peak)
        print_ladder(rows, args.size, peak)
        result["rows"] = rows
    elif args.what == "kernels":
        peak = args.peak_gflops or measured_peak_gflops()
        info["peak_gflops_per_thread"] = peak
        print(f"float32 FMA peak per thread: {peak:.0f} GFLOP/s"
              f" ({'given' if args.peak_gflops else 'measured'})")
        rows = kernel_rows(backends, args.threads, repeats, args.quick, user_kernel)
        print_kernel_table(rows, peak, args.threads)
        result["rows"] = rows
        if args.plot:
            plot_kernels(rows, peak, args.threads, args.plot)
    elif getattr(args, "profile", False):
        result["profiles"] = {}
        for name in backends:
            profile = profile_train_step(name, limit=6_400 if args.quick else 12_800,
                                         rounds=args.repeats or (3 if args.quick else 5))
            print_profile(profile, name)
            result["profiles"][name] = profile
    else:
        rows = train_rows(backends, args.threads, args.epochs, args.quick, peers=getattr(args, "peers", False))
        print_train_table(rows)
        recorded, plain = tape_overhead_us()
        print(f"\ntape overhead: {recorded:.1f} us per recorded op on 2x2 tensors "
              f"(a bare NumPy multiply: {plain:.1f} us)")
        result["rows"] = rows
        result["tape_overhead_us"] = recorded
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"results written to {args.json}")
    return 0
