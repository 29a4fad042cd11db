"""A git revision's kernels beside the working tree's, in one process: for before/after timings.

This machine is shared and noisy, so a change to a kernel is timed against the code it
replaces side by side, alternating, in one process, never against a number from an
earlier run.  ``kernel_modules(rev, family, stems)`` loads ``kernels/<family>/<stem>.py``
as they were at ``rev`` (``git show``) as sibling modules of today's: a relative import
of one of ``stems`` goes to the revision's copy, every other import (the intrinsics, the
GEMM, the cache) to the working tree.  ``quartiles_ms`` times a call in rounds.

    from revision import kernel_modules, quartiles_ms     # bench/ is on sys.path
    old = kernel_modules("1e5b2a1", "conv", ("numba_shallow", "numba_pools", "numba"))["numba"]

The copies are written to a fixed folder under the temp dir and rewritten only when
their text changes, so Numba's on-disk cache keeps them between runs.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def kernel_modules(rev, family, stems):
    """The modules ``kernels/<family>/<stem>.py`` of git revision ``rev``, loaded in the
    order given (a module after those it imports), as a dict stem -> module."""
    folder = os.path.join(tempfile.gettempdir(), f"tapegrad-bench-{family}-{rev}")
    os.makedirs(folder, exist_ok=True)
    tag = f"_rev_{rev}_"
    modules = {}
    for stem in stems:
        src = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:kernels/{family}/{stem}.py"], check=True,
                             capture_output=True, text=True).stdout
        for other in stems:
            src = src.replace(f"from .{other} import", f"from .{tag}{other} import")
        path = os.path.join(folder, f"{tag}{stem}.py")
        if not os.path.exists(path) or open(path).read() != src:
            with open(path, "w") as fh:
                fh.write(src)
        name = f"tapegrad.kernels.{family}.{tag}{stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        module.__package__ = f"tapegrad.kernels.{family}"
        sys.modules[name] = module
        spec.loader.exec_module(module)
        modules[stem] = module
    return modules


def quartiles_ms(fn, rounds, clock, inner=5):
    """One warm-up call, then ``rounds`` blocks of ``inner`` calls timed by ``clock``:
    the 25th, 50th and 75th percentile of the ms per call."""
    fn()
    times = []
    for _ in range(rounds):
        start = clock()
        for _ in range(inner):
            fn()
        times.append((clock() - start) / inner * 1e3)
    return np.percentile(times, [25, 50, 75])
