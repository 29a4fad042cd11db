"""Per-kernel times of the convnet's conv2/conv3 (batch 64), this tree against an
older revision of kernels/conv/numba.py, side by side in one process.

    python bench/conv_layer_times.py [--before REV] [--threads N] [--rounds R] [--clock cpu]

``--before REV`` loads ``git show REV:kernels/conv/numba.py`` as a sibling module
(the same GEMM and helpers), so the two are timed alternately under the same load.
Prints median ms per call, GFLOP/s and % of the FMA peak (the Cython extension's
``fma_peak_gflops``, measured before the rounds).  ``--clock cpu`` (one thread
only) times the calling thread's CPU time (``time.thread_time``), for the peak
too: on a busy machine the time this process spends descheduled is then not
counted, which wall-clock medians cannot avoid.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from revision import kernel_modules

LAYERS = [("conv2", 13, 13, 32, 64), ("conv3", 5, 5, 64, 128)]


def load_before(rev):
    """The revision's kernels/conv/numba.py (its relative imports: today's helpers)."""
    return kernel_modules(rev, "conv", ("numba",))["numba"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = ap.parse_args()
    import numba
    import tapegrad.kernels as K
    from tapegrad.kernels.conv import numba as new
    numba.set_num_threads(args.threads)
    K.set_num_threads(args.threads)
    mods = {"new": new}
    if args.before:
        mods["before"] = load_before(args.before)
    if args.clock == "cpu" and args.threads != 1:
        ap.error("--clock cpu times one thread")
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    try:
        from tapegrad.kernels import cython_backend
        ext = cython_backend.backend.extension
        peaks = []
        for _ in range(5):   # GFLOP/s by the extension's wall clock, rescaled to this clock
            w, c = time.perf_counter(), clock()
            rate = ext.fma_peak_gflops()
            w, c = time.perf_counter() - w, clock() - c
            peaks.append(rate * w / c)
        peak = max(peaks)
    except Exception:   # no Cython extension: no peak
        peak = None
    rng = np.random.default_rng(0)
    for label, h, w, c, f in LAYERS:
        x = rng.standard_normal((64, h, w, c)).astype(np.float32)
        wt = rng.standard_normal((3, 3, c, f)).astype(np.float32)
        b = rng.standard_normal(f).astype(np.float32)
        g = rng.standard_normal((64, h - 2, w - 2, f)).astype(np.float32)
        flops = 2.0 * g.size * 9 * c
        for kern in ("conv2d", "conv2d_input_grad", "conv2d_kernel_grad"):
            calls = {}
            for name, mod in mods.items():
                if kern == "conv2d":
                    out = np.empty((64, h - 2, w - 2, f), np.float32)
                    calls[name] = (lambda mod=mod, out=out: mod.conv2d(x, wt, b, (1, 1), (0, 0), True, out))
                elif kern == "conv2d_input_grad":
                    out = np.empty(x.shape, np.float32)
                    calls[name] = (lambda mod=mod, out=out: mod.conv2d_input_grad(g, wt, (1, 1), (0, 0), out))
                else:
                    out = np.empty(wt.shape, np.float32)
                    calls[name] = (lambda mod=mod, out=out: mod.conv2d_kernel_grad(g, x, (1, 1), (0, 0), out))
            res = {n: fn().copy() for n, fn in calls.items()}
            if len(res) == 2:
                err = np.abs(res["new"] - res["before"]).max() / np.abs(res["before"]).max()
                assert err < 1e-4, (label, kern, err)
            times = {n: [] for n in calls}
            for _ in range(args.rounds):
                for n, fn in calls.items():
                    t = clock()
                    fn()
                    times[n].append(clock() - t)
            line = f"{label} {kern:20s}"
            for n in calls:
                med = float(np.median(times[n]))
                gf = flops / med / 1e9
                pct = f" {100 * gf / peak:4.0f}%" if peak else ""
                line += f" | {n}: {1e3 * med:6.3f} ms {gf:6.1f} GF/s{pct}"
            if len(calls) == 2:
                line += f" | before/new {np.median(times['before']) / np.median(times['new']):.2f}x"
            print(line, flush=True)
    if peak:
        print(f"FMA peak (max of 5, before the rounds): {peak:.1f} GFLOP/s; threads {args.threads}, "
              f"{args.clock} clock, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
