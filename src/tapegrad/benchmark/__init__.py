"""``tapegrad bench``: our kernels against OpenBLAS, and a training epoch against NumPy and the peers.

Shared machines are noisy, so nothing here reports a lone time: every row
times ours and a baseline side by side in one process, in alternating
rounds, and reports the median of the per-round ratios (timing.py says how).

==================  ==========================================================
timing.py           the pinned process, timed rounds, medians, paired ratios,
                    the measured FMA peak
kernels.py          ``bench kernels``: the GEMM rows and the memory-bound rows
conv_kernels.py     ``bench kernels``: the convnet's conv and pool rows
plot.py             ``bench kernels --plot``
your_kernel.py      ``bench kernels --kernel``: your matmul, checked first
ladder.py           ``bench ladder``: the rungs of ``tapegrad.ladder``
baselines.py        the NumPy training loop and the floor (five matmuls a step)
peers.py            the frameworks of ``bench train --peers`` (``PEERS``)
train.py            ``bench train``: seconds per epoch of every loop
profile.py          ``bench train --profile``: where a step's time goes
convnet.py          ``bench train --model convnet``: chapter 8's convnet, its
                    FMA limit and peers
==================  ==========================================================

To add rows to a table: a kernel table is a function returning rows (see
kernels.py; a new one is one more line in ``kernel_rows``), a training loop
is one more entry of ``loops`` in ``train.train_rows``, a peer is one more
``Peer`` in ``peers.PEERS``.  A new table of its own (say an MPI epoch)
is a module here with a ``..._rows`` function and a ``print_...`` function,
called from :func:`main` under a new ``tapegrad bench <what>`` (cli.py).
"""

from __future__ import annotations

import json
import os
import platform
import sys

import numpy as np

from .kernels import kernel_rows, print_kernel_table
from .ladder import ladder_rows, print_ladder
from .plot import plot_kernels
from .profile import print_profile, profile_train_step
from .timing import _CORES_VAR, _pin_blas_threads, measured_peak_gflops
from .train import print_train_table, tape_overhead_us, train_rows
from .your_kernel import CHECK_SHAPES, check_matmul, load_user_kernel


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
    elif args.what == "train" and getattr(args, "model", "mlp") == "convnet":
        if getattr(args, "profile", False):
            raise ValueError("--profile is for the mlp; bench train --model convnet times whole epochs")
        from .convnet import convnet_rows, print_convnet_table
        peak = args.peak_gflops or measured_peak_gflops()
        rows = convnet_rows(backends, args.threads, args.epochs, args.quick, peers=getattr(args, "peers", False),
                            peak_gflops=peak)
        print_convnet_table(rows)
        result["rows"] = rows
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
