"""Where one convnet epoch's kernel time goes.

Wraps every public ``tapegrad.kernels`` function with a timer, trains one epoch of
chapter 8's convnet on 6,400 MNIST images (after a warm-up epoch), and prints the
seconds, calls and milliseconds per call of each (kernel, first argument's shape),
largest first: the profile that kernels/conv/MEASUREMENTS.md's work started from.

    python bench/prof_conv_kernels.py [numba|cython] [threads]
"""
import collections
import sys
import time

import tapegrad.kernels as K
from tapegrad.benchmark.convnet import _mnist_images, tapegrad_convnet_epoch

NOT_KERNELS = {"use", "get_backend", "available_backends", "set_num_threads", "to_numpy",
               "Backend", "BackendUnavailableError", "ClassIds"}


def wrap_kernels(seconds, calls):
    """Replace each kernel function of ``tapegrad.kernels`` by a timed one."""
    for name in dir(K):
        kernel = getattr(K, name)
        if name.startswith("_") or name in NOT_KERNELS or not callable(kernel):
            continue

        def timed(*args, _kernel=kernel, _name=name, **kwargs):
            start = time.perf_counter()
            try:
                return _kernel(*args, **kwargs)
            finally:
                key = (_name, tuple(args[0].shape) if hasattr(args[0], "shape") else None)
                seconds[key] += time.perf_counter() - start
                calls[key] += 1

        setattr(K, name, timed)


def main(backend="numba", threads=1):
    K.set_num_threads(threads)
    seconds, calls = collections.Counter(), collections.Counter()
    wrap_kernels(seconds, calls)   # before the warm-up: fit's traced step keeps the functions it saw
    x, y = _mnist_images(6400)
    epoch = tapegrad_convnet_epoch(x, y, backend)
    epoch()   # warm-up: compiles the kernels and traces the step
    seconds.clear()
    calls.clear()
    start = time.perf_counter()
    epoch()
    total = time.perf_counter() - start
    print(f"epoch {total:.2f} s; in kernels {sum(seconds.values()):.2f} s")
    for key, s in seconds.most_common():
        print(f"{str(key):60s} {s:6.3f} s {calls[key]:5d} calls {1e3 * s / calls[key]:7.3f} ms/call")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "numba", int(sys.argv[2]) if len(sys.argv) > 2 else 1)
