"""``tapegrad bench ladder``: each rung of the GEMM ladder (``tapegrad.ladder``), checked and timed."""

from __future__ import annotations

import numpy as np

from .timing import medians, timed_rounds
from .your_kernel import check_matmul


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
