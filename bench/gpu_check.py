"""Check and time the cuda backend on a real NVIDIA GPU; prints one table.

    pip install -e '.[cuda]' cupy-cuda12x     # CuPy only for the cuBLAS baseline
    python bench/gpu_check.py                 # about 2-4 minutes on an H200
    python bench/gpu_check.py --quick         # fewer sizes, a fifth of an epoch
    NUMBA_ENABLE_CUDASIM=1 python bench/gpu_check.py --smoke   # code paths only, the smallest sizes
    (tests/kernels/test_cuda_sim.py runs the smoke; the kernels' own simulator tests
    are tests/kernels/cuda_sim_cases.py and cuda_sim_conv_cases.py)

What it does:

1. correctness of every cuda kernel at full size against the NumPy
   reference (GEMM in all four transpose variants on ragged shapes, dense
   with bias+relu, relu, softmax, fused softmax-cross-entropy with 1e4
   logits, bias_grad, the three optimizers, a few ``xp`` ops);
2. SGEMM GFLOP/s for n = 1024, 2048, 4096, 8192 against cuBLAS through CuPy
   (float32, TF32 off: CuPy only enables it when ``CUPY_TF32`` is set, so
   it is removed from the environment here); CUDA events, warm-up, the
   median of the repetitions; each production tile configuration is timed
   too, so the size heuristic can be checked;
3. one MNIST epoch of the book's network (784-512-10, batch 128, RMSprop):
   a device-resident loop over the kernels (parameters, optimizer state,
   activations and the per-batch losses stay on the GPU; one host->device
   copy per batch; the loss comes back once per epoch) against the same
   loop on the numba and cython CPU backends, plus ``tapegrad.keras``
   ``fit`` on the cuda backend if that works.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import traceback

os.environ.pop("CUPY_TF32", None)  # cuBLAS baseline in strict float32

import numpy as np  # noqa: E402

# tapegrad must be installed (pip install -e ".[cuda]"): its kernels live in the
# top-level kernels/ folder, mapped to tapegrad.kernels only by the install.

ROWS: list = []


def row(section, item, size, ours="", reference="", ratio="", note=""):
    ROWS.append((section, item, size, ours, reference, ratio, note))
    print(f"  {section:6} {item:34} {size:18} {ours:>14} {reference:>14} {ratio:>8}  {note}",
          flush=True)


def print_table():
    head = ("section", "item", "size", "tapegrad cuda", "reference", "ratio", "note")
    widths = [max(len(str(r[i])) for r in [head, *ROWS]) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    print("\n" + "  ".join(h.ljust(w) for h, w in zip(head, widths)))
    print(line)
    for r in ROWS:
        print("  ".join(str(c).ljust(w) if i < 3 or i == 6 else str(c).rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))


# ====================================================================== 1. correctness
def rel_err(ours, ref):
    ours = np.asarray(ours, np.float64)
    ref = np.asarray(ref, np.float64)
    return float(np.max(np.abs(ours - ref)) / max(np.max(np.abs(ref)), 1e-30))


def check(item, size, err, tol):
    row("check", item, size, f"{err:.2e}", f"tol {tol:.0e}", "", "ok" if err <= tol else "FAIL")
    return err <= tol


def correctness(K, be, smoke):
    ok = True
    rng = np.random.default_rng(0)

    def r(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    shapes = [(6, 5, 3)] if smoke else [(1000, 777, 1500), (128, 784, 512), (128, 512, 10),
                                          (784, 128, 512), (4099, 65, 257)]
    for m, k, n in shapes:
        for ta in (False, True):
            for tb in (False, True):
                a = r(*((k, m) if ta else (m, k)))
                b = r(*((n, k) if tb else (k, n)))
                ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
                got = K.to_numpy(K.matmul(a, b, transpose_a=ta, transpose_b=tb, backend="cuda"))
                ok &= check(f"matmul ta={int(ta)} tb={int(tb)}", f"{m}x{k}x{n}",
                            rel_err(got, ref), 1e-5 * math.sqrt(k))
    m, k, n = (6, 5, 3) if smoke else (128, 784, 512)
    x, w, bias = r(m, k), r(k, n), r(n)
    ref = np.maximum(x.astype(np.float64) @ w + bias, 0)
    ok &= check("dense_forward bias+relu", f"{m}x{k}x{n}",
                rel_err(K.to_numpy(K.dense_forward(x, w, bias, "relu", backend="cuda")), ref),
                1e-5 * math.sqrt(k))

    big = (5, 7) if smoke else (4096, 1000)
    x = r(*big, scale=3)
    ok &= check("relu", f"{big}", rel_err(K.to_numpy(K.relu(x, backend="cuda")), np.maximum(x, 0)), 0)
    g = r(*big)
    ok &= check("relu_backward", f"{big}",
                rel_err(K.to_numpy(K.relu_backward(g, x, backend="cuda")), np.where(x > 0, g, 0)), 0)
    ok &= check("softmax", f"{big}", rel_err(K.to_numpy(K.softmax(x, backend="cuda")),
                                             K.softmax(x, backend="numpy")), 1e-5)
    labels = rng.integers(0, big[1], big[0])
    for scale in (1.0, 1e4):
        xs = x * np.float32(scale)
        loss, grad = K.softmax_cross_entropy(xs, labels, reduction="none", backend="cuda")
        loss_ref, grad_ref = K.softmax_cross_entropy(xs, labels, reduction="none", backend="numpy")
        ok &= check(f"softmax_cross_entropy loss x{scale:g}", f"{big}",
                    rel_err(K.to_numpy(loss), loss_ref), 1e-5)
        ok &= check(f"softmax_cross_entropy grad x{scale:g}", f"{big}",
                    rel_err(K.to_numpy(grad), grad_ref), 1e-5)
    ok &= check("bias_grad", f"{big}", rel_err(K.to_numpy(K.bias_grad(g, backend="cuda")),
                                               g.astype(np.float64).sum(0)), 1e-5)

    n = 5 * 7 if smoke else 784 * 512
    for name, kwargs, nstate in (("sgd_update momentum", dict(momentum=0.9, learning_rate=0.01), 1),
                                 ("rmsprop_update", dict(learning_rate=0.001), 1),
                                 ("adam_update", dict(learning_rate=0.001, step=3), 2)):
        fn = getattr(K, name.split()[0])
        p, gr = r(n), r(n)
        state = [np.abs(r(n)) for _ in range(nstate)]
        dp, dstate = be.asarray(p), [be.asarray(s) for s in state]
        fn(dp, gr, *dstate, backend="cuda", **kwargs)
        fn(p, gr, *state, backend="numpy", **kwargs)
        ok &= check(name, f"({n},)", max(rel_err(K.to_numpy(d), h)
                                         for d, h in zip([dp, *dstate], [p, *state])), 1e-5)

    xp = be.xp
    a, b = r(*big), r(big[1])
    ok &= check("xp add+multiply (broadcast)", f"{big}",
                rel_err(K.to_numpy(xp.multiply(xp.add(be.asarray(a), be.asarray(b)), 2.0)),
                        (a + b) * 2), 1e-6)
    ok &= check("xp sum axis 0", f"{big}",
                rel_err(K.to_numpy(xp.sum(be.asarray(a), axis=0)), a.astype(np.float64).sum(0)), 1e-5)
    ok &= check("xp argmax axis 1", f"{big}",
                float(np.mean(K.to_numpy(xp.argmax(be.asarray(a), axis=1)) != a.argmax(1))), 0)
    return ok


# ====================================================================== 2. SGEMM speed
def time_gpu(cuda, fn, reps, warmup=2):
    """Median milliseconds of ``fn`` between two CUDA events."""
    for _ in range(warmup):
        fn()
    cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = cuda.event(), cuda.event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return max(statistics.median(times), 1e-6)  # (the simulator's events read 0)


def time_cupy(cp, fn, reps, warmup=2):
    for _ in range(warmup):
        fn()
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(reps):
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, end))
    return statistics.median(times)


def sgemm_speed(K, be, sizes, smoke):
    from numba import cuda

    from tapegrad.kernels.gemm import cuda as cuda_gemm

    try:
        import cupy as cp
    except ImportError:
        cp = None
        row("sgemm", "cuBLAS baseline", "", "", "n/a", "", "CuPy is not installed: ours alone")
    rng = np.random.default_rng(1)
    saved = be.gemm_tiles
    for n in sizes:
        a = cuda.to_device(rng.random((n, n), dtype=np.float32) - 0.5)
        b = cuda.to_device(rng.random((n, n), dtype=np.float32) - 0.5)
        c = be.empty((n, n), np.float32)
        reps = 1 if smoke else (5 if n >= 4096 else 10)
        warm = 1 if smoke else 2
        flop = 2.0 * n**3
        per_tile = {}
        for tiles in cuda_gemm.PRODUCTION_TILES:
            be.gemm_tiles = tiles
            ms = time_gpu(cuda, lambda: be.matmul(a, b, False, False, c), reps, warm)
            per_tile[f"{tiles.BM}x{tiles.BN}"] = flop / ms / 1e6
        be.gemm_tiles = None
        auto = cuda_gemm.choose_tiles(n, n, be.sm_count())
        ms = time_gpu(cuda, lambda: be.matmul(a, b, False, False, c), reps, warm)
        ours = flop / ms / 1e6
        tiles_note = " ".join(f"{k}:{v:.0f}" for k, v in per_tile.items())
        note = f"auto {auto.BM}x{auto.BN}; GFLOP/s by tile {tiles_note}"
        if cp is not None:
            ca, cb = cp.asarray(a), cp.asarray(b)
            cc = cp.empty((n, n), cp.float32)
            ms_ref = time_cupy(cp, lambda: cp.matmul(ca, cb, out=cc), reps, warm)
            ref = flop / ms_ref / 1e6
            err = rel_err(K.to_numpy(c)[:64], cp.asnumpy(cc[:64]))
            row("sgemm", "GFLOP/s vs cuBLAS (TF32 off)", f"n={n}", f"{ours:.0f}", f"{ref:.0f}",
                f"{ours / ref:.0%}", f"{note}; max rel diff {err:.1e}")
        else:
            row("sgemm", "GFLOP/s", f"n={n}", f"{ours:.0f}", "n/a", "", note)
        del a, b, c
    be.gemm_tiles = saved


# ====================================================================== 3. MNIST epoch
def kernel_epoch_loop(K, be, x, y, hidden=512, batch=128, seed=0):
    """The book's network as a loop over the kernels, on any backend.

    Everything but the input batch lives where the backend computes: on the
    cuda backend the parameters, RMSprop state, activations, gradients and
    the per-batch losses are device arrays; each step copies its batch in
    (one host->device copy), and the epoch's loss comes back once at the end.
    Returns ``epoch() -> mean loss``.
    """
    rng = np.random.default_rng(seed)
    n_in, n_out = x.shape[1], 10
    lim1, lim2 = np.sqrt(6 / (n_in + hidden)), np.sqrt(6 / (hidden + n_out))
    host_params = [rng.uniform(-lim1, lim1, (n_in, hidden)), np.zeros(hidden),
                   rng.uniform(-lim2, lim2, (hidden, n_out)), np.zeros(n_out)]
    params = [be.asarray(p.astype(np.float32)) for p in host_params]
    state = [be.zeros(p.shape, np.float32) for p in params]
    steps = math.ceil(len(x) / batch)
    losses = be.zeros((steps, batch), np.float32)
    buffers = {}

    def bufs(nb):  # activations and gradients, one set per batch size
        if nb not in buffers:
            f = np.float32
            buffers[nb] = dict(h=be.empty((nb, hidden), f), z=be.empty((nb, n_out), f),
                               dz=be.empty((nb, n_out), f), dh=be.empty((nb, hidden), f),
                               grads=[be.empty(p.shape, f) for p in params])
        return buffers[nb]

    def epoch():
        order = rng.permutation(len(x))
        xs = x[order]
        ys = be.asarray(np.ascontiguousarray(y[order], dtype=np.int64))  # once per epoch
        w1, b1, w2, b2 = params
        for step in range(steps):
            lo, hi = step * batch, min((step + 1) * batch, len(x))
            nb = hi - lo
            B = bufs(nb)
            xb = be.asarray(xs[lo:hi])                    # the one copy in
            yb = ys[lo:hi]
            K.dense_forward(xb, w1, b1, "relu", out=B["h"], backend=be)
            K.dense_forward(B["h"], w2, b2, None, out=B["z"], backend=be)
            # fused loss + gradient straight into preallocated buffers
            be.softmax_cross_entropy(B["z"], yb, 1.0 / nb, losses[step, :nb], B["dz"])
            gw1, gb1, gw2, gb2 = B["grads"]
            K.matmul(B["h"], B["dz"], transpose_a=True, out=gw2, backend=be)
            K.bias_grad(B["dz"], out=gb2, backend=be)
            K.matmul(B["dz"], w2, transpose_b=True, out=B["dh"], backend=be)
            K.relu_backward(B["dh"], B["h"], out=B["dh"], backend=be)
            K.matmul(xb, B["dh"], transpose_a=True, out=gw1, backend=be)
            K.bias_grad(B["dh"], out=gb1, backend=be)
            for p, g, v in zip(params, B["grads"], state):
                K.rmsprop_update(p, g, v, learning_rate=1e-3, rho=0.9, epsilon=1e-7, backend=be)
        total = K.to_numpy(losses)                        # the one copy out
        if nb < batch:
            total[-1, nb:] = 0
        return float(total.sum() / len(x))

    def accuracy(xt, yt):
        h = K.dense_forward(xt, params[0], params[1], "relu", backend=be)
        z = K.to_numpy(K.dense_forward(h, params[2], params[3], backend=be))
        return float(np.mean(z.argmax(1) == yt))

    return epoch, accuracy


def mnist_epoch(K, be, quick, smoke):
    from numba import cuda

    if smoke:  # synthetic, tiny: the simulator runs each CUDA thread in Python
        rng = np.random.default_rng(0)
        x = rng.random((12, 6), dtype=np.float32)
        y = rng.integers(0, 10, 12)
        xt, yt, hidden, batch = x, y, 4, 8   # a full batch and a ragged one
        label = "synthetic 12x6, 6-4-10, b8"
    else:
        from tapegrad.keras.datasets import mnist

        (x, y), (xt, yt) = mnist.load_data()
        x = x.reshape(len(x), 784).astype(np.float32) / 255
        xt = xt.reshape(len(xt), 784).astype(np.float32) / 255
        if quick:
            x, y = x[:12_800], y[:12_800]
        hidden, batch = 512, 128
        label = f"{len(x)} images, 784-512-10, b128"

    # CPU backends for comparison (smoke: the reference backend, for the code path)
    cpu = ["numpy"] if smoke else [n for n in ("numba", "cython") if n in K.available_backends()]
    times = {}
    for name in ["cuda", *cpu]:
        be_n = K.get_backend(name)
        epoch, accuracy = kernel_epoch_loop(K, be_n, x, y, hidden, batch)
        epoch()  # warm-up: compiles every kernel
        if name == "cuda":
            cuda.synchronize()
        start = time.perf_counter()
        loss = epoch()
        if name == "cuda":
            cuda.synchronize()
        times[name] = time.perf_counter() - start
        acc = accuracy(xt, yt)
        note = f"loss {loss:.3f}, test acc {acc:.3f} after 2 epochs"
        if name == "cuda":
            row("mnist", "epoch, kernel loop, cuda", label, f"{times[name]:.3f} s", "", "", note)
        else:  # ratio = how many times faster the GPU epoch is
            row("mnist", f"epoch, kernel loop, {name} (CPU)", label, "", f"{times[name]:.3f} s",
                f"{times[name] / times['cuda']:.1f}x", note)
    if smoke:
        return
    try:  # the Keras fit on the cuda backend, if the lead's wiring is in
        from tapegrad.benchmark.train import tapegrad_epoch

        fit = tapegrad_epoch(x, y, "cuda")
        fit()
        cuda.synchronize()
        start = time.perf_counter()
        fit()
        cuda.synchronize()
        t = time.perf_counter() - start
        row("mnist", "tapegrad.keras fit, cuda", label, f"{t:.3f} s", "", "", "")
    except Exception as exc:  # report, don't fail the whole check
        row("mnist", "tapegrad.keras fit, cuda", label, "n/a", "", "",
            f"{type(exc).__name__}: {str(exc)[:120]}")


# ====================================================================== main
def conv_layers(K, be, cuda, smoke):
    """The conv family (kernels/conv/cuda.py) on chapter 8's convnet layers, batch 64:
    each kernel against the numpy backend at full size, then its time against
    the fastest CPU backend here (the CPU time includes no copies; the GPU
    time is device arrays in and out)."""
    ok = True
    rng = np.random.default_rng(0)
    layers = [(1, 4, 4, 1, 2), (1, 4, 4, 3, 2)] if smoke else [(64, 28, 28, 1, 32), (64, 13, 13, 32, 64),
                                                               (64, 5, 5, 64, 128)]
    cpu = "numpy" if smoke else next(n for n in ("cython", "numba", "numpy") if n in K.available_backends())
    reps = 1 if smoke else 20
    for n, h, wd, c, f in layers:
        x = rng.standard_normal((n, h, wd, c)).astype(np.float32)
        wt = rng.standard_normal((3, 3, c, f)).astype(np.float32)
        b = rng.standard_normal(f).astype(np.float32)
        g = rng.standard_normal((n, h - 2, wd - 2, f)).astype(np.float32)
        size = f"{n}x{h}x{wd}x{c}->{f}"
        dx_, dw_, db_, dg_ = be.asarray(x), be.asarray(wt), be.asarray(b), be.asarray(g)
        calls = {
            "conv2d+relu": (lambda bk, x, w, b, g: K.conv2d(x, w, b, activation="relu", backend=bk)),
            "conv2d_input_grad": (lambda bk, x, w, b, g: K.conv2d_input_grad(g, w, x.shape, backend=bk)),
            "conv2d_kernel_grad": (lambda bk, x, w, b, g: K.conv2d_kernel_grad(g, x, (3, 3, c, f), backend=bk)),
        }
        for name, call in calls.items():
            ref = call("numpy", x, wt, b, g)
            ours = K.to_numpy(call("cuda", dx_, dw_, db_, dg_))
            ok &= check(f"conv {name}", size, rel_err(ours, ref), 1e-4)
            gpu_ms = time_gpu(cuda, lambda: call("cuda", dx_, dw_, db_, dg_), reps, 1 if smoke else 2)
            call(cpu, x, wt, b, g)
            start = time.perf_counter()
            for _ in range(max(1, reps // 4)):
                call(cpu, x, wt, b, g)
            cpu_ms = (time.perf_counter() - start) / max(1, reps // 4) * 1e3
            row("conv", f"{name} (vs {cpu})", size, f"{gpu_ms:.3f} ms", f"{cpu_ms:.3f} ms",
                f"{cpu_ms / gpu_ms:.1f}x", "")
    x = rng.standard_normal((1, 4, 4, 2) if smoke else (64, 26, 26, 32)).astype(np.float32)
    gp = rng.standard_normal((x.shape[0], x.shape[1] // 2, x.shape[2] // 2, x.shape[3])).astype(np.float32)
    ok &= check("max_pool2d", str(x.shape), rel_err(K.to_numpy(K.max_pool2d(be.asarray(x), backend="cuda")),
                                                    K.max_pool2d(x, backend="numpy")), 0)
    ok &= check("max_pool2d_backward", str(x.shape),
                rel_err(K.to_numpy(K.max_pool2d_backward(be.asarray(gp), be.asarray(x), backend="cuda")),
                        K.max_pool2d_backward(gp, x, backend="numpy")), 0)
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes, 12,800 images")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, to run the code paths under NUMBA_ENABLE_CUDASIM=1")
    args = parser.parse_args(argv)

    import numba
    from numba import cuda

    import tapegrad.kernels as K
    from tapegrad.kernels import cuda_backend

    started = time.perf_counter()
    try:
        be = K.get_backend("cuda")
    except K.BackendUnavailableError as exc:
        print(f"gpu_check: {exc}")
        return 2
    if cuda_backend.simulated() and not args.smoke:
        print("gpu_check: NUMBA_ENABLE_CUDASIM is set: use --smoke (tiny sizes) under the simulator")
        return 2
    if cuda_backend.simulated():
        device = "CUDA simulator"
        sys.setswitchinterval(5e-4)   # the simulator's threads wait less for the GIL (tests/kernels/conftest.py)
    else:
        dev = cuda.get_current_device()
        device = f"{dev.name.decode() if isinstance(dev.name, bytes) else dev.name}, {be.sm_count()} SMs"
    try:
        from importlib.metadata import version
        nc = version("numba-cuda")
    except Exception:
        nc = "not installed (numba's built-in numba.cuda)"
    print(f"gpu_check on {device}; numba {numba.__version__}, numba-cuda {nc}, numpy {np.__version__}")

    ok = True
    stages = [("correctness", lambda: correctness(K, be, args.smoke)),
              ("sgemm", lambda: sgemm_speed(K, be, [16] if args.smoke else
                                            ([1024, 2048, 4096] if args.quick else
                                             [1024, 2048, 4096, 8192]), args.smoke)),
              ("conv", lambda: conv_layers(K, be, cuda, args.smoke)),
              ("mnist", lambda: mnist_epoch(K, be, args.quick, args.smoke))]
    for name, stage in stages:
        print(f"[{time.perf_counter() - started:6.1f} s] {name}...", flush=True)
        try:
            result = stage()
            ok &= result is not False
        except Exception as exc:
            ok = False
            traceback.print_exc()
            row(name, "stage failed", "", "", "", "", f"{type(exc).__name__}: {str(exc)[:150]}")
    print_table()
    print(f"\n{'all checks passed' if ok else 'SOME CHECKS FAILED'}; "
          f"{time.perf_counter() - started:.0f} s in all")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
