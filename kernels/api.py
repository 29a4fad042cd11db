"""The public kernel functions: validate, allocate, dispatch.

Every function here checks its arguments in Python and raises a clear
``ValueError`` or ``TypeError`` before any compiled code runs (compiled
kernels run with bounds checks off, so a bad shape must never reach them).
It then allocates the outputs on the chosen backend and calls the backend's
method of the same name; see :mod:`tapegrad.kernels._backend` for what a
backend may assume.
"""

from __future__ import annotations

import math

import numpy as np

from ._dispatch import get_backend
from ._threads import run_gemm

_FLOATS = "float32 or float64"


# ---------------------------------------------------------------- checks
def _float_array(be, x, what, fn, dtype=None):
    if not be.is_array(x):
        x = np.asarray(x)
        if x.dtype.kind in "biu" or x.dtype == object:
            raise TypeError(
                f"{fn}: {what} must be a float32 or float64 array, got {x.dtype}"
            )
        x = be.asarray(x)
    if x.dtype not in be.dtypes:
        names = " or ".join(str(d) for d in be.dtypes)
        raise TypeError(f"{fn}: {what} has dtype {x.dtype}; the {be.name} backend takes {names}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{fn}: {what} has dtype {x.dtype} but the other operands are {dtype}; "
            "cast one of them so the dtypes match"
        )
    return x


def _rank(x, ndim, what, fn):
    if x.ndim != ndim:
        raise ValueError(f"{fn}: {what} must be {ndim}-D, got shape {tuple(x.shape)}")


def _c_contiguous(be, x):
    return x if be.is_c_contiguous(x) else be.ascontiguous(x)


def _operand(be, x, what, fn, dtype=None, ndim=None, contiguous=True):
    """``x`` as a kernel reads it: a float array of ``be`` (of ``dtype`` and
    rank ``ndim`` when given), C-contiguous (copied when not) unless
    ``contiguous=False``.  Every operand of every kernel call goes through
    here, so an array that passes as it is (the usual case) costs one frame
    and two flag tests; anything else takes the checks above."""
    if not (be.is_array(x) and x.dtype in be.dtypes and (dtype is None or x.dtype == dtype)
            and (not contiguous or be.is_c_contiguous(x))):
        x = _float_array(be, x, what, fn, dtype)
        if contiguous:
            x = _c_contiguous(be, x)
    if ndim is not None and x.ndim != ndim:
        _rank(x, ndim, what, fn)
    return x


def _out(be, out, shape, dtype, fn):
    if out is None:
        return be.empty(shape, dtype)
    if not be.is_array(out):
        raise TypeError(f"{fn}: out must be a {be.name} array, got {type(out).__name__}")
    if tuple(out.shape) != tuple(shape) or out.dtype != dtype:
        raise ValueError(
            f"{fn}: out has shape {tuple(out.shape)} and dtype {out.dtype}; "
            f"expected shape {tuple(shape)} and dtype {dtype}"
        )
    if not be.is_c_contiguous(out) or not be.is_writeable(out):
        raise ValueError(f"{fn}: out must be a writeable C-contiguous array")
    return out


def _overlaps(be, out, *inputs):
    """True when ``out`` shares memory with any of ``inputs`` (None skipped).

    A kernel writes its output while it still reads its inputs (the GEMM
    reads a block of A long after the rows of C it packed it from were
    written), so an output that aliases an input is computed into a fresh
    array and copied over; outputs the API allocated never alias.
    """
    may_overlap = be.may_overlap
    for x in inputs:          # a plain loop: this runs on every kernel call given ``out``
        if x is not None and may_overlap(out, x):
            return True
    return False


def _through_temporary(be, out, *inputs):
    """Where the kernel should write: ``out``, or a fresh array when ``out``
    overlaps an input (the caller then copies it into ``out``)."""
    return be.empty(out.shape, out.dtype) if _overlaps(be, out, *inputs) else out


def _elementwise_target(be, out, *inputs):
    """Like :func:`_through_temporary` for kernels that read each element (or
    row) before writing it: ``out`` being exactly an input is safe there, so
    only a partial overlap (a shifted view of the same buffer) needs a copy."""
    for x in inputs:
        if be.may_overlap(out, x) and not (be.same_start(out, x) and out.shape == x.shape):
            return be.empty(out.shape, out.dtype)
    return out


def _finish(be, out, target):
    """Copy the result computed into a temporary (``target``) into ``out``."""
    be.copy_into(out, target)
    return out


def _positive_float(value, what, fn, allow_zero=False):
    if type(value) is float and (0.0 < value < math.inf or allow_zero and value == 0.0):
        return value   # already a float in range: the optimizers' case, every weight of every step
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: {what} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{fn}: {what} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value


# ---------------------------------------------------------------- matmul
def _as_row_major(be, x, transposed):
    """A C-contiguous array and a transpose flag that together mean ``x``.

    A Fortran-ordered array (such as ``m.T``) is the C-ordered transpose of
    its base, so it is passed as that with the flag flipped: no copy.
    """
    if be.is_c_contiguous(x):
        return x, transposed
    if be.is_f_contiguous(x):
        return x.T, not transposed
    return be.ascontiguous(x), transposed


def matmul(a, b, *, transpose_a=False, transpose_b=False, out=None, backend=None):
    """``op(a) @ op(b)`` for 2-D float arrays, ``op`` = transpose if asked.

    The compiled backends implement the Goto/BLIS cache-blocked GEMM; pass
    ``out`` to write into an existing C-contiguous array.
    """
    be = get_backend(backend)
    a = _operand(be, a, "a", "matmul", ndim=2, contiguous=False)   # a transposed view stays one
    b = _operand(be, b, "b", "matmul", a.dtype, ndim=2, contiguous=False)
    m, k = (a.shape[1], a.shape[0]) if transpose_a else a.shape
    k2, n = (b.shape[1], b.shape[0]) if transpose_b else b.shape
    if k != k2:
        raise ValueError(
            f"matmul: inner dimensions differ: op(a) is {m}x{k} (a.shape={tuple(a.shape)}, "
            f"transpose_a={transpose_a}) and op(b) is {k2}x{n} (b.shape={tuple(b.shape)}, "
            f"transpose_b={transpose_b})"
        )
    given = out is not None
    out = _out(be, out, (m, n), a.dtype, "matmul")
    if m == 0 or n == 0:
        return out
    if k == 0:
        be.write(out, np.zeros((m, n), a.dtype))
        return out
    a, transpose_a = _as_row_major(be, a, bool(transpose_a))
    b, transpose_b = _as_row_major(be, b, bool(transpose_b))
    target = _through_temporary(be, out, a, b) if given else out
    run_gemm(be, 2.0 * m * n * k, ("matmul", m, n, k, transpose_a, transpose_b, a.dtype.char),
             be.matmul, a, b, transpose_a, transpose_b, target)
    return out if target is out else _finish(be, out, target)


# ---------------------------------------------------------------- relu
def relu(x, *, out=None, backend=None):
    """``max(x, 0)`` element-wise, any shape."""
    be = get_backend(backend)
    x = _operand(be, x, "x", "relu")
    given = out is not None
    out = _out(be, out, x.shape, x.dtype, "relu")
    if x.size == 0:
        return out
    target = _elementwise_target(be, out, x) if given else out
    be.relu(x.reshape(-1), target.reshape(-1))
    return out if target is out else _finish(be, out, target)


def relu_backward(grad_out, x, *, out=None, backend=None):
    """The derivative of relu, applied: ``grad_out`` where ``x > 0``, else 0."""
    be = get_backend(backend)
    x = _operand(be, x, "x", "relu_backward")
    grad_out = _operand(be, grad_out, "grad_out", "relu_backward", x.dtype)
    if tuple(grad_out.shape) != tuple(x.shape):
        raise ValueError(
            f"relu_backward: grad_out has shape {tuple(grad_out.shape)} but x has {tuple(x.shape)}"
        )
    given = out is not None
    out = _out(be, out, x.shape, x.dtype, "relu_backward")
    if x.size == 0:
        return out
    target = _elementwise_target(be, out, grad_out, x) if given else out
    be.relu_backward(grad_out.reshape(-1), x.reshape(-1), target.reshape(-1))
    return out if target is out else _finish(be, out, target)


# ---------------------------------------------------------------- softmax
def softmax(logits, *, out=None, backend=None):
    """Row-wise softmax of (N, C) logits, stable: rows are shifted by their max."""
    be = get_backend(backend)
    logits = _operand(be, logits, "logits", "softmax", ndim=2)
    given = out is not None
    out = _out(be, out, logits.shape, logits.dtype, "softmax")
    if logits.size == 0:
        return out
    target = _elementwise_target(be, out, logits) if given else out
    be.softmax(logits, target)
    return out if target is out else _finish(be, out, target)


class NonIntegerLabelsError(TypeError, ValueError):
    """Float labels with a fractional part: not integer class ids (a TypeError,
    as the kernels always raised) and bad values (a ValueError, as Keras's
    losses always raised); one check, so one error that is both."""


class ClassIds:
    """A batch of integer class ids, copied and checked ONCE, then read by any
    number of kernels (a training step's loss and its accuracy share one).

    ``class_ids(labels)`` makes it: the ids are copied into a private int64
    array, checked (whole numbers, none negative), and on a device backend
    uploaded once.  Nothing else holds that copy, so the ids a kernel reads
    are the ids that were checked: a compiled kernel indexes rows by them
    without bounds checks and without the GIL, and checking the caller's own
    array would let another thread rewrite an id in between (a crash, not an
    error).  A kernel call then only compares ``high`` with its number of
    classes and ``shape`` with its rows.  ``np.asarray(ids)`` gives a copy.
    """

    __slots__ = ("host", "data", "backend", "high", "shape", "ndim", "size")
    dtype = np.dtype(np.int64)

    def __init__(self, host, data, backend, high):
        self.host, self.data, self.backend, self.high = host, data, backend, high
        self.shape, self.ndim, self.size = host.shape, host.ndim, host.size

    @property
    def low(self):
        """The smallest id (None for no ids); checked to be >= 0 at creation."""
        return int(self.host.min()) if self.size else None

    def __len__(self):
        return len(self.host)

    def numpy(self):
        return self.host.copy()

    def __array__(self, dtype=None, copy=None):
        return self.host.astype(dtype or self.host.dtype, copy=True)

    def reshape(self, shape):
        """The same checked ids viewed in another shape (no copy, no new check)."""
        if type(shape) is int:
            shape = (shape,)
        if type(shape) is tuple and (shape == self.shape or shape == (-1,) and self.ndim == 1):
            return self                      # already that shape (the loss and accuracy ask each step)
        host = self.host.reshape(shape)
        data = host if self.data is self.host else self.data.reshape(shape)
        return ClassIds(host, data, self.backend, self.high)

    def check_classes(self, num_classes, fn):
        """Raise unless every id is below ``num_classes``."""
        if self.high is not None and self.high >= num_classes:
            raise ValueError(f"{fn}: label {self.high} is out of range for {num_classes} classes "
                             f"(valid: 0..{num_classes - 1})")

    def on(self, be):
        """The ids as an array of backend ``be`` (the upload made at creation, or a new one)."""
        if be.host:
            return self.host
        return self.data if be is self.backend else be.asarray(self.host)

    def __repr__(self):
        return f"<ClassIds shape={self.shape} range={self.low}..{self.high}>"


def class_ids(labels, *, backend=None, fn="class_ids"):
    """Copy and check integer class ids once: a ``ClassIds`` the kernels trust.

    Accepts integers, floats holding whole numbers (as Keras does) and bools
    (False/True are classes 0/1, as TF casts them); anything else is a
    TypeError.  A ``ClassIds`` is returned as it is.  Negative ids are refused here; ids too large for a
    kernel's classes are refused by that kernel call.
    """
    if isinstance(labels, ClassIds):
        return labels
    be = get_backend(backend)
    # the private copy: every check below reads it, never the caller's array
    host = np.array(be.to_numpy(labels) if be.is_array(labels) and not be.host else labels, copy=True)
    kind = host.dtype.kind
    if kind == "f":
        if host.size and not np.all(np.mod(host, 1) == 0):
            raise NonIntegerLabelsError(f"{fn}: labels must be integer class ids, got non-integer values")
    elif kind not in "iub":
        raise TypeError(f"{fn}: labels must be integer class ids, got dtype {host.dtype}")
    # no id can be negative when they came as bools or unsigned ints narrower
    # than int64 (uint8 labels: MNIST's), so only the largest is looked for
    can_be_negative = not (kind in "ub" and host.dtype.itemsize < 8)
    host = np.ascontiguousarray(host, dtype=np.int64)   # range checked below, on what the kernels read
    host.flags.writeable = False          # private, and read-only besides
    high = None
    if host.size:
        high = int(np.maximum.reduce(host, axis=None))
        if can_be_negative:
            low = int(np.minimum.reduce(host, axis=None))
            if low < 0:
                raise ValueError(f"{fn}: label {low} is out of range (class ids start at 0)")
    return ClassIds(host, host if be.host else be.asarray(host), be, high)


def _labels(be, labels, n, c, fn):
    """The labels as the checked int64 array of ``be`` a kernel reads: a
    ``ClassIds`` is used as it is (copied and checked when it was made),
    anything else is made into one first (see ``ClassIds`` for why a copy)."""
    ids = class_ids(labels, backend=be, fn=fn)
    if ids.shape != (n,) and ids.shape != (n, 1):
        raise ValueError(
            f"{fn}: labels must have shape ({n},) to match logits of shape ({n}, {c}), "
            f"got {ids.shape}"
        )
    ids.check_classes(c, fn)
    return ids.on(be).reshape(-1) if ids.ndim == 2 else ids.on(be)


def softmax_cross_entropy(logits, labels, *, reduction="mean", backend=None):
    """Fused softmax + cross-entropy against integer labels, in one pass.

    Returns ``(loss, grad)``.  With ``reduction="mean"`` (the default),
    ``loss`` is the mean over rows (a Python float) and ``grad`` is its
    derivative, ``(softmax(logits) - onehot(labels)) / N``.  With
    ``reduction="none"``, ``loss`` is the per-row array and ``grad`` is the
    derivative of their sum, ``softmax - onehot``.  Working on shifted
    logits keeps it finite for logits of any magnitude.
    """
    be = get_backend(backend)
    logits = _operand(be, logits, "logits", "softmax_cross_entropy", ndim=2)
    n, c = logits.shape
    if reduction not in ("mean", "none"):
        raise ValueError(f"softmax_cross_entropy: reduction must be 'mean' or 'none', got {reduction!r}")
    if c == 0:
        raise ValueError("softmax_cross_entropy: logits have 0 classes")
    labels = _labels(be, labels, n, c, "softmax_cross_entropy")
    losses = be.empty((n,), logits.dtype)
    grad = be.empty((n, c), logits.dtype)
    if n == 0:
        return (float("nan") if reduction == "mean" else losses), grad
    scale = 1.0 / n if reduction == "mean" else 1.0
    be.softmax_cross_entropy(logits, labels, scale, losses, grad)
    if reduction == "mean":
        return float(np.mean(be.to_numpy(losses), dtype=np.float64)), grad
    return losses, grad


# ---------------------------------------------------------------- dense
def dense_forward(x, w, b=None, activation=None, *, out=None, backend=None):
    """``activation(x @ w + b)`` with the bias and relu fused into the GEMM.

    ``x`` is (N, K), ``w`` (K, M), ``b`` (M,) or None; ``activation`` is
    ``"relu"`` or None.
    """
    be = get_backend(backend)
    fn = "dense_forward"
    x = _operand(be, x, "x", fn, ndim=2)
    w = _operand(be, w, "w", fn, x.dtype, ndim=2)
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"{fn}: x has shape {tuple(x.shape)} but w has {tuple(w.shape)}; "
            f"x.shape[1] must equal w.shape[0]"
        )
    if b is not None:
        b = _operand(be, b, "b", fn, x.dtype)
        if tuple(b.shape) != (w.shape[1],):
            raise ValueError(f"{fn}: b has shape {tuple(b.shape)}, expected ({w.shape[1]},)")
    if activation not in (None, "relu", "linear"):
        raise ValueError(f"{fn}: activation must be 'relu' or None, got {activation!r}")
    given = out is not None
    out = _out(be, out, (x.shape[0], w.shape[1]), x.dtype, fn)
    if out.size == 0:
        return out
    if x.shape[1] == 0:  # no inputs: every row is the bias (through relu)
        row = np.zeros(w.shape[1], x.dtype) if b is None else be.to_numpy(b)
        if activation == "relu":
            row = np.maximum(row, 0)
        be.write(out, np.broadcast_to(row, out.shape))
        return out
    target = _through_temporary(be, out, x, w, b) if given else out
    m, k, n = x.shape[0], x.shape[1], w.shape[1]
    run_gemm(be, 2.0 * m * n * k, ("dense", m, n, k, x.dtype.char),
             be.dense_forward, x, w, b, activation == "relu", target)
    return out if target is out else _finish(be, out, target)


def bias_grad(grad_out, *, out=None, backend=None):
    """Column sums of (N, M) ``grad_out``: the gradient of a broadcast bias."""
    be = get_backend(backend)
    grad_out = _operand(be, grad_out, "grad_out", "bias_grad", ndim=2)
    given = out is not None
    out = _out(be, out, (grad_out.shape[1],), grad_out.dtype, "bias_grad")
    if grad_out.shape[0] == 0:
        be.write(out, np.zeros(out.shape, out.dtype))
        return out
    if out.size == 0:
        return out
    target = _through_temporary(be, out, grad_out) if given else out
    be.bias_grad(grad_out, target)
    return out if target is out else _finish(be, out, target)


def relu_bias_grad(grad_out, x, *, backend=None):
    """relu's backward and the bias gradient of a Dense layer, in one pass.

    For (N, M) ``grad_out`` and ``x`` (relu's output, or its input: only the
    sign matters) returns ``(g, db)``: ``g`` = ``grad_out`` where ``x > 0``,
    else 0 (:func:`relu_backward`), and ``db`` = the column sums of ``g``
    (:func:`bias_grad`).  Reading the gradient once instead of twice is what
    the fusion buys; the result is the two calls' result.
    """
    be = get_backend(backend)
    fn = "relu_bias_grad"
    x = _operand(be, x, "x", fn, ndim=2)
    grad_out = _operand(be, grad_out, "grad_out", fn, x.dtype, ndim=2)
    if grad_out.shape != x.shape:
        raise ValueError(f"{fn}: grad_out has shape {tuple(grad_out.shape)} but x has {tuple(x.shape)}")
    n, m = x.shape
    out = be.empty((n, m), x.dtype)
    db = be.empty((m,), x.dtype)
    if n == 0:
        be.write(db, np.zeros(m, x.dtype))
    elif m:
        be.relu_bias_grad(grad_out, x, out, db)
    return out, db


# ---------------------------------------------------------------- optimizers
# Each optimizer comes twice: ``rmsprop_update(param, grad, v)`` for one
# weight and ``rmsprop_update_foreach(params, grads, vs)`` for a list of them
# (PyTorch's "foreach" optimizers), which a training step calls once for all
# its weights: the hyperparameters are checked once per call, every array of
# every weight as for one.  The one-weight form is the list form on one weight.
def _updated_in_place(be, x, what, fn, dtype=None, shape=None):
    """``x`` as an update writes it: a writeable C-contiguous float array of
    ``be`` (of ``dtype`` and ``shape`` when given)."""
    if not (be.is_array(x) and x.dtype in be.dtypes and (dtype is None or x.dtype == dtype)):
        x = _float_array(be, x, what, fn, dtype)
    if not be.is_c_contiguous(x) or not be.is_writeable(x):
        raise ValueError(f"{fn}: {what} is updated in place, so it must be a writeable C-contiguous array")
    if shape is not None and x.shape != shape:
        raise ValueError(f"{fn}: {what} has shape {tuple(x.shape)}, expected {tuple(shape)}")
    return x


def _update_operands(be, fn, param, grad, names, states):
    """One weight's arrays, checked as an optimizer kernel needs them.

    ``param`` and the state arrays ``states`` (called ``names``) are written
    in place, so each must be writeable, C-contiguous, of param's dtype and
    shape; ``grad`` is an operand of that dtype and shape.  Returns
    ``([param, *states], grad)``, grad copied when it overlaps any of them
    (see :func:`_distinct_state`)."""
    param = _updated_in_place(be, param, "param", fn)
    dtype, shape = param.dtype, param.shape
    grad = _operand(be, grad, "grad", fn, dtype)
    if grad.shape != shape:
        raise ValueError(f"{fn}: grad has shape {tuple(grad.shape)} but param has {tuple(shape)}")
    arrays = [param]
    for name, x in zip(names, states):
        arrays.append(_updated_in_place(be, x, name, fn, dtype, shape))
    return arrays, _distinct_state(be, fn, grad, names, arrays)


def _distinct_state(be, fn, grad, names, arrays):
    """Check that ``arrays``, a param and its optimizer state (called
    ``names``), share no memory (each is updated in place, so aliases would
    make the step depend on the order of the writes), and return ``grad``,
    copied when it overlaps any of them.

    Runs on every optimizer step of every weight: plain loops over two or
    three arrays, one bounds check (``may_overlap``) per pair."""
    may_overlap = be.may_overlap
    for i in range(1, len(arrays)):
        for j in range(i):
            if may_overlap(arrays[j], arrays[i]):
                names = ("param", *names)
                raise ValueError(f"{fn}: {names[j]} and {names[i]} share memory; each is updated "
                                 "in place, so they must be separate arrays")
    for x in arrays:
        if may_overlap(grad, x):
            copy = be.empty(grad.shape, grad.dtype)
            be.copy_into(copy, grad)
            return copy
    return grad


def _each_weight(be, fn, params, grads, names, state_lists):
    """The checked ``([param, *states], grad)`` of every weight (``state_lists``
    holds one list per name in ``names``), all checked before any is updated,
    so a bad array anywhere in the lists changes nothing; an error names the
    weight's index in the lists."""
    count = len(params)
    if len(grads) != count or any(len(states) != count for states in state_lists):
        lengths = ", ".join(f"{len(x)} {what}" for x, what in zip((params, grads, *state_lists),
                                                                    ("params", "grads", *names)))
        raise ValueError(f"{fn}: the lists differ in length ({lengths}); give one of each per weight")
    weights = []
    for param, grad, *states in zip(params, grads, *state_lists):
        try:
            weights.append(_update_operands(be, fn, param, grad, names, states))
        except (TypeError, ValueError) as exc:
            if count == 1:
                raise
            raise type(exc)(f"{exc} (weight {len(weights)} of {count})") from None
    return weights


def _unit_interval(value, what, fn):
    """A float in [0, 1): a decay rate such as rho or beta_1."""
    value = _positive_float(value, what, fn, allow_zero=True)
    if value >= 1:
        raise ValueError(f"{fn}: {what} must be in [0, 1), got {value}")
    return value


def sgd_update_foreach(params, grads, velocities=None, *, learning_rate=0.01, momentum=0.0,
                       nesterov=False, backend=None):
    """:func:`sgd_update` on each weight of the lists, in order; returns ``params``."""
    be = get_backend(backend)
    fn = "sgd_update"
    lr = _positive_float(learning_rate, "learning_rate", fn, allow_zero=True)
    momentum = _positive_float(momentum, "momentum", fn, allow_zero=True)
    if momentum:
        if velocities is None or any(v is None for v in velocities):
            raise ValueError(f"{fn}: momentum={momentum} needs a velocity array")
        weights = _each_weight(be, fn, params, grads, ("velocity",), (velocities,))
    elif nesterov:
        raise ValueError(f"{fn}: nesterov=True needs momentum > 0")
    else:     # plain SGD keeps no state (a velocity given is not used)
        weights = _each_weight(be, fn, params, grads, (), ())
    for (param, *velocity), grad in weights:
        if param.size:
            be.sgd_update(param.reshape(-1), grad.reshape(-1),
                          velocity[0].reshape(-1) if velocity else None, lr, momentum, bool(nesterov))
    return [arrays[0] for arrays, _ in weights]


def sgd_update(param, grad, velocity=None, *, learning_rate=0.01, momentum=0.0,
               nesterov=False, backend=None):
    """One SGD step in place: ``param -= lr * grad``, with optional momentum.

    With momentum (Keras semantics) ``velocity = momentum*velocity - lr*grad``
    and ``param += velocity`` (Nesterov: ``param += momentum*velocity - lr*grad``);
    ``velocity`` is required then, and updated in place too.
    """
    return sgd_update_foreach([param], [grad], [velocity], learning_rate=learning_rate,
                              momentum=momentum, nesterov=nesterov, backend=backend)[0]


def rmsprop_update_foreach(params, grads, vs, *, learning_rate=0.001, rho=0.9, epsilon=1e-7,
                           backend=None):
    """:func:`rmsprop_update` on each weight of the lists, in order; returns ``params``."""
    be = get_backend(backend)
    fn = "rmsprop_update"
    lr = _positive_float(learning_rate, "learning_rate", fn, allow_zero=True)
    rho = _unit_interval(rho, "rho", fn)
    eps = _positive_float(epsilon, "epsilon", fn)
    weights = _each_weight(be, fn, params, grads, ("v",), (vs,))
    for (param, v), grad in weights:
        if param.size:
            be.rmsprop_update(param.reshape(-1), grad.reshape(-1), v.reshape(-1), lr, rho, eps)
    return [arrays[0] for arrays, _ in weights]


def rmsprop_update(param, grad, v, *, learning_rate=0.001, rho=0.9, epsilon=1e-7, backend=None):
    """One RMSprop step in place (Keras): ``v = rho*v + (1-rho)*g^2``,
    ``param -= lr * g / sqrt(v + epsilon)``."""
    return rmsprop_update_foreach([param], [grad], [v], learning_rate=learning_rate, rho=rho,
                                  epsilon=epsilon, backend=backend)[0]


def adam_update_foreach(params, grads, ms, vs, *, step, learning_rate=0.001, beta_1=0.9,
                        beta_2=0.999, epsilon=1e-7, backend=None):
    """:func:`adam_update` on each weight of the lists, in order; returns ``params``."""
    be = get_backend(backend)
    fn = "adam_update"
    lr = _positive_float(learning_rate, "learning_rate", fn, allow_zero=True)
    beta_1 = _unit_interval(beta_1, "beta_1", fn)
    beta_2 = _unit_interval(beta_2, "beta_2", fn)
    eps = _positive_float(epsilon, "epsilon", fn)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"{fn}: step must be an int >= 1, got {step!r}")
    weights = _each_weight(be, fn, params, grads, ("m", "v"), (ms, vs))
    for (param, m, v), grad in weights:
        if param.size:
            be.adam_update(param.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1),
                           lr, beta_1, beta_2, eps, int(step))
    return [arrays[0] for arrays, _ in weights]


def adam_update(param, grad, m, v, *, step, learning_rate=0.001, beta_1=0.9, beta_2=0.999,
                epsilon=1e-7, backend=None):
    """One Adam step in place (Keras semantics); ``step`` counts from 1."""
    return adam_update_foreach([param], [grad], [m], [v], step=step, learning_rate=learning_rate,
                               beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, backend=backend)[0]


# ---------------------------------------------------------------- metrics
def _total(be, total, fn):
    if not be.is_array(total) or tuple(total.shape) != (1,) or total.dtype != np.float64:
        got = f"{type(total).__name__} of shape {getattr(total, 'shape', '?')} and dtype {getattr(total, 'dtype', '?')}"
        raise TypeError(f"{fn}: total must be a (1,) float64 array of the {be.name} backend "
                        f"(e.g. backend.zeros((1,), 'float64')), got a {got}")
    if not be.is_writeable(total):
        raise ValueError(f"{fn}: total is updated in place, so it must be writeable")
    return total


def accumulate_sum(values, total, *, weight=1.0, backend=None):
    """Add ``weight * sum(values)`` to the running total ``total[0]``, in float64.

    This is how a metric's mean stays on the device: each batch adds to a
    one-element array where the values live, and only reading the result
    copies a number back.  ``total`` is a (1,) float64 array of the backend.
    """
    be = get_backend(backend)
    fn = "accumulate_sum"
    values = _operand(be, values, "values", fn)
    total = _total(be, total, fn)
    try:
        weight = float(weight)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: weight must be a number, got {weight!r}") from None
    if values.size:
        be.accumulate_sum(values.reshape(-1), weight, total)
    return total


def accumulate_correct(scores, labels, *, total, backend=None):
    """Add the number of rows of (N, C) ``scores`` whose argmax is the row's
    label to ``total[0]``: the numerator of sparse categorical accuracy.
    A row holding a NaN never counts (a NaN prediction is never right)."""
    be = get_backend(backend)
    fn = "accumulate_correct"
    scores = _operand(be, scores, "scores", fn, ndim=2)
    n, c = scores.shape
    if c == 0:
        raise ValueError(f"{fn}: scores have 0 classes")
    labels = _labels(be, labels, n, c, fn)
    total = _total(be, total, fn)
    if n:
        be.accumulate_correct(scores, labels, total)
    return total


# ---------------------------------------------------------------- arrays
def to_numpy(x) -> np.ndarray:
    """A host NumPy array for an array of any backend (copies from a GPU)."""
    if isinstance(x, np.ndarray):
        return x
    copy_to_host = getattr(x, "copy_to_host", None)
    if copy_to_host is not None:
        return copy_to_host()
    return np.asarray(x)


# ---------------------------------------------------------------- dropout
def _dropout_rate(rate, fn):
    try:
        rate = float(rate)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: rate must be a number in [0, 1), got {rate!r}") from None
    if not 0 <= rate < 1:   # also refuses NaN
        raise ValueError(f"{fn}: rate must be in [0, 1) (the fraction of units dropped), got {rate}")
    return rate


def dropout_forward(x, uniform, rate, *, backend=None):
    """Inverted dropout in one fused pass, given a uniform random draw.

    Element ``i`` is kept where ``uniform[i] >= rate`` (compared in x's
    dtype) and multiplied by ``1/(1-rate)``, so every output's expected value
    is its input; the rest become 0.  Returns ``(out, mask)``: ``mask`` holds
    the factor each element got (0 or ``1/(1-rate)``), all the backward
    needs.  The draw comes from the caller (``tapegrad.random``'s generator),
    so every backend makes the same decisions, bit for bit, for one draw.
    """
    be = get_backend(backend)
    fn = "dropout_forward"
    x = _operand(be, x, "x", fn)
    uniform = _operand(be, uniform, "uniform", fn, x.dtype)
    if tuple(uniform.shape) != tuple(x.shape):
        raise ValueError(f"{fn}: uniform has shape {tuple(uniform.shape)} but x has {tuple(x.shape)}; "
                         "draw one uniform number per element")
    rate = _dropout_rate(rate, fn)
    out = be.empty(x.shape, x.dtype)
    mask = be.empty(x.shape, x.dtype)
    if x.size:
        be.dropout_forward(x.reshape(-1), uniform.reshape(-1), rate, 1.0 / (1.0 - rate),
                           out.reshape(-1), mask.reshape(-1))
    return out, mask


def dropout_backward(grad_out, mask, *, out=None, backend=None):
    """Dropout's derivative applied: ``grad_out * mask`` where ``mask != 0``, else 0.

    ``mask`` is the second result of :func:`dropout_forward`.  Dropout is
    linear for a fixed mask, so this is also its own derivative.
    """
    be = get_backend(backend)
    fn = "dropout_backward"
    mask = _operand(be, mask, "mask", fn)
    grad_out = _operand(be, grad_out, "grad_out", fn, mask.dtype)
    if tuple(grad_out.shape) != tuple(mask.shape):
        raise ValueError(f"{fn}: grad_out has shape {tuple(grad_out.shape)} but mask has {tuple(mask.shape)}")
    out = _out(be, out, mask.shape, mask.dtype, fn)
    if mask.size:
        be.dropout_backward(grad_out.reshape(-1), mask.reshape(-1), out.reshape(-1))
    return out


# ---------------------------------------------------------------- sigmoid + binary cross-entropy
def _binary_labels(be, labels, logits, fn):
    """Labels as a C-contiguous array of the logits' shape and dtype, every value in [0, 1]."""
    on_device = be.is_array(labels) and not be.host
    host = np.asarray(be.to_numpy(labels) if on_device else labels)
    if host.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: labels must be numbers in [0, 1], got dtype {host.dtype}")
    if host.shape != tuple(logits.shape):
        raise ValueError(f"{fn}: labels have shape {host.shape} but logits have {tuple(logits.shape)}; "
                         "give one label per logit")
    if host.size and not (host.min() >= 0 and host.max() <= 1):   # NaN fails both tests
        bad = host[~((host >= 0) & (host <= 1))].reshape(-1)[0]
        raise ValueError(f"{fn}: labels must be probabilities in [0, 1], got {bad}")
    host = np.ascontiguousarray(host, dtype=logits.dtype)
    return host if be.host else be.asarray(host)


def sigmoid_cross_entropy(logits, labels, *, reduction="none", backend=None):
    """Fused sigmoid + binary cross-entropy, element-wise, stable for any logit.

    For logit x and label z in [0, 1] (soft labels allowed) the loss
    ``-z log s(x) - (1-z) log(1 - s(x))`` is computed as
    ``max(x, 0) - x z + log(1 + exp(-|x|))``, whose exponent is never
    positive, and its derivative as ``sigmoid(x) - z``.  Returns
    ``(loss, grad)``: with ``reduction="none"`` (the default) the per-element
    losses and the gradient of their sum; with ``"mean"`` their mean (a
    Python float) and the gradient of the mean.
    """
    be = get_backend(backend)
    fn = "sigmoid_cross_entropy"
    logits = _operand(be, logits, "logits", fn)
    if reduction not in ("mean", "none"):
        raise ValueError(f"{fn}: reduction must be 'mean' or 'none', got {reduction!r}")
    labels = _binary_labels(be, labels, logits, fn)
    losses = be.empty(logits.shape, logits.dtype)
    grad = be.empty(logits.shape, logits.dtype)
    if logits.size == 0:
        return (float("nan") if reduction == "mean" else losses), grad
    scale = 1.0 / logits.size if reduction == "mean" else 1.0
    be.sigmoid_cross_entropy(logits.reshape(-1), labels.reshape(-1), scale,
                             losses.reshape(-1), grad.reshape(-1))
    if reduction == "mean":
        return float(np.mean(be.to_numpy(losses), dtype=np.float64)), grad
    return losses, grad
