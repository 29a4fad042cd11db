"""One convnet epoch (chapter 8, 6,400 images, batch 64) with the Numba backend's
conv1 / pooling / relu_bias_grad kernels of a git revision swapped in, beside the
tree's own, alternating in one process (rounds of old, new).

    python bench/conv_small_epoch.py [--rev f66ed7d] [--threads 1] [--rounds 3]

Only the kernels this bench names are swapped (shallow conv2d and its kernel
gradient, the pools, relu_bias_grad); the GEMM-path convolutions are the
tree's on both sides.  Prints seconds per epoch, median of the rounds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv_small_kernels import load_old  # noqa: E402

import tapegrad.kernels as K  # noqa: E402
from tapegrad.benchmark.convnet import _mnist_images, tapegrad_convnet_epoch  # noqa: E402
from tapegrad.kernels._dispatch import get_backend  # noqa: E402

SWAPPED = ("max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rev", default="f66ed7d")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    K.set_num_threads(args.threads)
    be = get_backend("numba")
    old_conv, old_elem = load_old(args.rev, "conv"), load_old(args.rev, "elementwise")
    new = {name: getattr(be, name) for name in SWAPPED + ("conv2d", "conv2d_kernel_grad", "relu_bias_grad")}
    shallow = old_conv.SHALLOW_K

    def old_conv2d(x, w, b, strides, pads, relu, out):
        kh, kw, c, _ = w.shape
        return (old_conv.conv2d if kh * kw * c <= shallow else new["conv2d"])(x, w, b, strides, pads, relu, out)

    def old_kernel_grad(grad_out, x, strides, pads, out):
        kh, kw, c, _ = out.shape
        fn = old_conv.conv2d_kernel_grad if kh * kw * c <= shallow else new["conv2d_kernel_grad"]
        return fn(grad_out, x, strides, pads, out)

    old = {name: getattr(old_conv, name) for name in SWAPPED}
    old.update(conv2d=old_conv2d, conv2d_kernel_grad=old_kernel_grad, relu_bias_grad=old_elem.relu_bias_grad)
    x, y = _mnist_images(6400)
    epoch = tapegrad_convnet_epoch(x, y, "numba")
    times = {"old": [], "new": []}
    for side in ("old", "new") * (args.rounds + 1):
        for name, fn in (old if side == "old" else new).items():
            setattr(be, name, fn)
        t = time.perf_counter()
        epoch()
        times[side].append(time.perf_counter() - t)
    for side in times:
        times[side] = times[side][1:]   # the first of each side warms up (compiles)
    o, n = np.median(times["old"]), np.median(times["new"])
    print(f"convnet epoch, 6,400 images, numba, {args.threads} thread(s), median of {args.rounds}: "
          f"old ({args.rev}) {o:.2f} s, new {n:.2f} s, old/new {o / n:.2f}  "
          f"(old {['%.2f' % v for v in times['old']]}, new {['%.2f' % v for v in times['new']]})")


if __name__ == "__main__":
    main()
