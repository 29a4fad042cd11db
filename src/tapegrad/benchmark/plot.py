"""``tapegrad bench kernels --plot``: GFLOP/s of the square matmuls against size."""

from __future__ import annotations

import statistics


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
