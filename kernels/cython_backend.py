"""The Cython backend: ahead-of-time compiled kernels (``kernels/_cython_impl.pxi``).

The kernel source is compiled twice by ``setup.py``: ``_cython_base`` with
portable flags and ``_cython_avx2`` with ``-mavx2 -mfma``.  At import this
module asks the CPU (through the base extension) whether it runs AVX2 and
FMA and loads the matching extension; inside ``_cython_avx2`` the GEMM
micro-kernel widens to 512-bit vectors when the CPU also has AVX-512F.

``TAPEGRAD_CYTHON_ISA`` overrides the choice: ``base`` (the portable
build), ``avx2`` (the AVX2 build with 256-bit micro-kernels only), or
``auto`` / unset (the widest the CPU supports).
"""

from __future__ import annotations

import os

import numpy as np

from ._backend import Backend

_ISA_CHOICES = ("auto", "base", "avx2", "avx512")


def _load_extension():
    """(module, None) for the best usable build, or (None, reason)."""
    want = os.environ.get("TAPEGRAD_CYTHON_ISA", "auto").strip().lower() or "auto"
    if want not in _ISA_CHOICES:
        return None, (f"TAPEGRAD_CYTHON_ISA={want!r} is not one of {', '.join(_ISA_CHOICES)}")
    try:
        from . import _cython_base as base
    except ImportError as exc:
        return None, (
            "the Cython kernels were not compiled (no tapegrad.kernels._cython_base "
            f"extension: {exc}); build them with `pip install -e .` or "
            "`python setup.py build_ext --inplace` (needs Cython and a C compiler)"
        )
    if want == "base" or not base.cpu_supports_avx2_fma():
        return base, None
    try:
        from . import _cython_avx2 as avx2
    except ImportError:
        return base, None
    avx2.select_kernels(want != "avx2")  # 512-bit micro-kernels unless avx2 asked
    return avx2, None


_ext, _unavailable = _load_extension()


def check_available() -> None:
    """Raise ImportError when the compiled extensions are missing."""
    if _ext is None:
        raise ImportError(_unavailable)


def _specializations(fn):
    """dtype -> the float32 / float64 specialisation of a fused Cython function."""
    sigs = fn.__signatures__
    return {np.dtype(np.float32): sigs["float"], np.dtype(np.float64): sigs["double"]}


class CythonBackend(Backend):
    """Kernels compiled ahead of time by Cython, threaded with OpenMP."""

    name = "cython"

    def __init__(self):
        self.extension = _ext
        if _ext is None:
            return
        for kernel in ("relu", "relu_backward", "softmax", "softmax_cross_entropy",
                       "bias_grad", "sgd_update", "rmsprop_update",
                       "adam_update", "dropout_forward", "dropout_backward",
                       "sigmoid_cross_entropy", "relu_bias_grad"):
            setattr(self, "_" + kernel, _specializations(getattr(_ext, kernel)))

    @property
    def isa(self) -> str:
        """The micro-kernels in use: "base", "avx2" or "avx512"."""
        return _ext.kernel_info()["isa"]

    def set_num_threads(self, n: int) -> None:
        _ext.set_num_threads(int(n))

    def get_num_threads(self) -> int:
        return _ext.get_num_threads()

    # ------------------------------------------------------------ kernels
    # matmul and dense_forward take the arrays and check their dtype in C
    def matmul(self, a, b, transpose_a, transpose_b, out):
        _ext.matmul(a, b, transpose_a, transpose_b, out)
        return out

    def relu(self, x, out):
        self._relu[x.dtype](x, out)
        return out

    def relu_backward(self, grad_out, x, out):
        self._relu_backward[x.dtype](grad_out, x, out)
        return out

    def softmax(self, logits, out):
        self._softmax[logits.dtype](logits, out)
        return out

    def softmax_cross_entropy(self, logits, labels, scale, loss_out, grad_out):
        self._softmax_cross_entropy[logits.dtype](logits, labels, scale, loss_out, grad_out)

    def dropout_forward(self, x, uniform, rate, scale, out, mask):
        self._dropout_forward[x.dtype](x, uniform, rate, scale, out, mask)

    def dropout_backward(self, grad_out, mask, out):
        self._dropout_backward[mask.dtype](grad_out, mask, out)
        return out

    def sigmoid_cross_entropy(self, logits, labels, scale, loss_out, grad_out):
        self._sigmoid_cross_entropy[logits.dtype](logits, labels, scale, loss_out, grad_out)

    def dense_forward(self, x, w, b, relu, out):
        _ext.dense_forward(x, w, b, relu, out)
        return out

    def bias_grad(self, grad_out, out):
        self._bias_grad[grad_out.dtype](grad_out, out)
        return out

    def relu_bias_grad(self, grad_out, x, out, bias_out):
        self._relu_bias_grad[x.dtype](grad_out, x, out, bias_out)

    def sgd_update(self, param, grad, velocity, lr, momentum, nesterov):
        self._sgd_update[param.dtype](param, grad, velocity, lr, momentum, bool(nesterov))

    def rmsprop_update(self, param, grad, v, lr, rho, eps):
        self._rmsprop_update[param.dtype](param, grad, v, lr, rho, eps)

    def adam_update(self, param, grad, m, v, lr, beta1, beta2, eps, step):
        self._adam_update[param.dtype](param, grad, m, v, lr, beta1, beta2, eps, int(step))


backend = CythonBackend()
