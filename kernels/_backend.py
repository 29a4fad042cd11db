"""The contract every kernel backend fulfils.

A backend is one object that knows how to allocate arrays where it computes
(host memory or a GPU) and how to run each kernel of the public API.  The
public functions (each family's ``api.py``) validate every argument
(ranks, shapes, dtypes, label range, writeability), allocate the outputs with
:meth:`Backend.empty`, and only then call the backend method; so a backend
method may assume:

* float arguments are arrays of this backend, all of one dtype, float32 or
  float64 (a backend lists what it supports in ``dtypes``);
* every array is C-contiguous (the API copies or re-views what is not;
  for ``matmul`` it turns a transposed view into a transpose flag instead);
* outputs are preallocated, C-contiguous, of the right shape and dtype;
* no dimension is zero (the API answers empty problems itself);
* element-wise kernels (``relu``, ``relu_backward``) and the optimizer
  updates get flat 1-D views, whatever the caller's shape;
* inputs may be read-only; only outputs and optimizer state are written;
* no output shares memory with an input, except that the element-wise and
  row-wise kernels (``relu``, ``relu_backward``, ``softmax``) may get an
  output that is exactly one of their inputs (same address, same shape):
  they read each element before writing it.  The optimizer's ``grad``
  shares no memory with ``param`` or the state, which share none either.

The plain NumPy backend (:mod:`tapegrad.kernels.numpy_backend`) runs each
family's ``reference.py``, the contract each compiled backend is tested against.

Besides the kernels, a backend offers ``xp``: the small, declared set of
NumPy-style array functions (:data:`ARRAY_OPS`) that the layers above may call
for the generic math of the autodiff (broadcasting arithmetic, exp, sums...).
"""

from __future__ import annotations

import operator

import numpy as np


#: The array contract: every name the layers above the kernels (src/tapegrad)
#: may call on ``backend.xp``, with its semantics, which are NumPy's for these
#: arguments.  Host backends pass these NumPy functions through; the cuda
#: backend implements each on device arrays (kernels/cuda_xp.py).  Any other
#: name on ``xp`` is an AttributeError, so the set stays bounded: an op that
#: needs more math adds a name here (and to cuda_xp), and tests/test_architecture.py
#: fails when src/tapegrad uses a name missing here.
ARRAY_OPS = {
    # element-wise, with NumPy broadcasting (x, a, b: arrays or Python scalars)
    "add": "a + b; ``out=`` writes in place; ``add.at(a, index, b)`` adds b at index in place, repeats adding up",
    "subtract": "a - b; ``out=`` writes in place",
    "multiply": "a * b",
    "true_divide": "a / b (integers give floats)",
    "power": "a ** p for a scalar exponent p",
    "maximum": "the larger of a and b, a NaN winning",
    "minimum": "the smaller of a and b, a NaN winning",
    "negative": "-x",
    "abs": "|x|",
    "sign": "-1, 0 or 1 by the sign of x (NaN stays NaN)",
    "square": "x * x",
    "sqrt": "the square root (NaN below 0)",
    "exp": "e ** x",
    "log": "the natural log (-inf at 0, NaN below 0)",
    "tanh": "the hyperbolic tangent",
    "clip": "clip(x, lo, hi) with scalar bounds: min(max(x, lo), hi)",
    "less": "a < b as a bool array",
    "less_equal": "a <= b as a bool array",
    "greater": "a > b as a bool array",
    "greater_equal": "a >= b as a bool array",
    "equal": "a == b as a bool array",
    "not_equal": "a != b as a bool array",
    "logical_and": "a and b of two bool arrays",
    # reductions: axis is None or a tuple of axes, keepdims keeps them as size 1
    "sum": "sum(x, axis, keepdims): the sum over the axes",
    "mean": "mean(x, axis, keepdims): the mean over the axes",
    "max": "max(x, axis, keepdims): the largest entry over the axes, a NaN winning",
    "argmax": "argmax(x, axis): the first index of the largest entry along one axis (int)",
    # shapes and creation
    "transpose": "transpose(x, perm): axes permuted",
    "take": "take(x, index, axis=0): the slices of x at the integer positions index along axis, a new array "
            "(a position out of range is an IndexError): fit's shuffled batch, x[rows]",
    "broadcast_to": "broadcast_to(x, shape): x repeated to shape by NumPy's rule (read-only)",
    "asarray": "asarray(x): x as an array of this backend, not copied when it is one",
    "array": "array(x): a new array with x's values (host backends also take copy=, order=)",
}


class ArrayOps:
    """``backend.xp``: exactly the functions of :data:`ARRAY_OPS`, taken from ``impl``.

    Built once per backend from a module (NumPy for the host backends,
    ``cuda_xp`` for the GPU).  Each declared name is a plain attribute, as fast
    to reach as a module's; asking for any other name raises AttributeError
    instead of silently reaching for NumPy on the host.
    """

    def __init__(self, name, impl):
        missing = [op for op in ARRAY_OPS if not callable(getattr(impl, op, None))]
        if missing:
            raise TypeError(f"{name} does not implement the array contract ARRAY_OPS: missing {missing}")
        self.__name__ = name
        for op in ARRAY_OPS:
            setattr(self, op, getattr(impl, op))

    def __getattr__(self, op):  # reached only for names that are not declared
        raise AttributeError(
            f"{op!r} is not in the array contract of backend.xp ({self.__name__}): the layers above "
            f"the kernels may call only {sorted(ARRAY_OPS)}; to use another, declare it in "
            f"ARRAY_OPS (kernels/_backend.py) and implement it in kernels/cuda_xp.py"
        )

    def __repr__(self):
        return f"<ArrayOps {self.__name__}: {len(ARRAY_OPS)} functions>"


class Backend:
    """Base class: the allocation helpers and the list of kernels."""

    #: short name used by ``use(name)`` and ``backend=``
    name: str = "abstract"
    #: float dtypes the kernels accept
    dtypes: tuple = (np.dtype(np.float32), np.dtype(np.float64))
    #: True when arrays live on the host as NumPy arrays
    host: bool = True
    #: the generic (non-kernel) array math the autodiff layer may do: exactly
    #: ARRAY_OPS, NumPy's own functions on the host backends; a device backend
    #: supplies its own implementation of the same names.
    xp = ArrayOps("numpy", np)

    # ------------------------------------------------------------ arrays
    def asarray(self, x, dtype=None):
        """Return ``x`` as an array of this backend (no copy when possible)."""
        return np.asarray(x, dtype=dtype)

    def astype(self, x, dtype):
        """``x`` converted to ``dtype`` (``x`` itself when it already has it)."""
        return x.astype(dtype, copy=False)

    def ascontiguous(self, x):
        return np.ascontiguousarray(x)

    def to_numpy(self, x) -> np.ndarray:
        return np.asarray(x)

    #: ``empty(shape, dtype)``: a new uninitialized array.  NumPy's own function,
    #: not a method wrapping it: the API allocates every kernel output with it.
    empty = staticmethod(np.empty)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    def full(self, shape, value, dtype):
        """A new array of ``shape`` with every element ``value`` (made on the backend:
        device arrays take no Python operators, so ``zeros(...) + 1`` is not an option)."""
        out = np.empty(shape, dtype=dtype)   # np.full's own steps, without its Python frames
        out.fill(value)
        return out

    # The API asks these of every operand of every kernel call, so on the host
    # each is a C-level callable rather than a Python method (whose frame would
    # cost more than the question); a device backend defines them as methods.
    #: ``is_array(x)``: ``isinstance(x, np.ndarray)``
    is_array = staticmethod(np.ndarray.__instancecheck__)
    #: ``is_c_contiguous(x)``, ``is_f_contiguous(x)``, ``is_writeable(x)``: the array's flags
    is_c_contiguous = staticmethod(operator.attrgetter("flags.c_contiguous"))
    is_f_contiguous = staticmethod(operator.attrgetter("flags.f_contiguous"))
    is_writeable = staticmethod(operator.attrgetter("flags.writeable"))

    def write(self, out, host_array) -> None:
        """Copy a host NumPy array (or scalar) into ``out`` (same shape)."""
        out[...] = host_array

    def copy_into(self, out, x) -> None:
        """Copy an array of this backend into ``out`` (same shape and dtype)."""
        out[...] = x

    #: ``may_overlap(a, b)``: True when ``a`` and ``b`` may share memory: a
    #: bounds check (about 0.2 us), exact for contiguous arrays.  NumPy's own
    #: function, not a method wrapping it: the API calls it several times per
    #: kernel call, and a Python frame would cost as much as the check.  Its
    #: ``_implementation`` (NEP 18) skips the ``__array_function__`` dispatch,
    #: which costs a Python frame too and which plain ndarrays never need.
    may_overlap = staticmethod(getattr(np.may_share_memory, "_implementation", np.may_share_memory))

    def same_start(self, a, b) -> bool:
        """True when ``a`` and ``b`` begin at the same address."""
        return a.__array_interface__["data"][0] == b.__array_interface__["data"][0]

    def set_num_threads(self, n: int) -> None:
        """Set the number of threads this backend's kernels use."""

    def get_num_threads(self) -> int:
        return 1

    # ------------------------------------------------------------ kernels
    # The kernel methods (matmul, relu, softmax_cross_entropy, sgd_update...)
    # are not written here: each family's backend file defines them as plain
    # functions, and kernels/_families.py sets them on each backend object.
    # Their contracts are the families' reference.py files.

    def __repr__(self) -> str:
        return f"<tapegrad.kernels backend {self.name!r}>"
