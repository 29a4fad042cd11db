"""The public convolution and pooling functions: validate, allocate, dispatch.

Each function checks its arguments in Python (ranks, shapes, dtypes, strides,
padding) and raises a ``ValueError`` or ``TypeError`` naming the argument
before any compiled code runs, allocates the output, works out the output
size and padding (kernels/conv/geometry.py) and calls the backend's method of
the same name with resolved integers: ``strides = (sh, sw)`` and ``pads =
(top, left)``.  The contract each method fulfils is kernels/conv/reference.py.
"""

from __future__ import annotations

import operator

import numpy as np

from .._dispatch import get_backend
from .._threads import run_gemm
from .._checks import finish, operand, output, through_temporary
from .geometry import PADDINGS, output_shape_2d


# ---------------------------------------------------------------- checks
def _pair(value, what, fn):
    """An int or a pair of ints, each >= 1, as a tuple of two ints."""
    items = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    if len(items) != 2:
        raise ValueError(f"{fn}: {what} must be an int or a pair of ints, got {value!r}")
    out = []
    for v in items:
        if isinstance(v, bool):
            raise TypeError(f"{fn}: {what} must be an int or a pair of ints, got {value!r}")
        try:
            v = operator.index(v)
        except TypeError:
            raise TypeError(f"{fn}: {what} must be an int or a pair of ints, got {value!r}") from None
        if v < 1:
            raise ValueError(f"{fn}: {what} must be positive, got {value!r}")
        out.append(v)
    return tuple(out)


def _padding(padding, fn):
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(f"{fn}: padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


def _shape(shape, what, fn):
    """A 4-tuple of non-negative ints."""
    try:
        items = tuple(operator.index(v) for v in shape)
    except TypeError:
        raise TypeError(f"{fn}: {what} must be a tuple of 4 ints, got {shape!r}") from None
    if len(items) != 4 or min(items) < 0:
        raise ValueError(f"{fn}: {what} must be 4 non-negative ints, got {shape!r}")
    return items


def _geometry(in_shape, window, strides, padding, fn, what):
    """Output (OH, OW) and (top, left) padding; a window larger than a
    "valid" input is an error (TF's 'negative dimension')."""
    h, w = in_shape[1], in_shape[2]
    if padding == "valid" and (window[0] > h or window[1] > w):
        raise ValueError(
            f"{fn}: the {what} {window[0]}x{window[1]} is larger than the input {h}x{w} with "
            "padding='valid'; use a smaller window or padding='same'"
        )
    return output_shape_2d(h, w, window, strides, padding)


def _conv_shapes(fn, x_shape, w_shape, strides, padding):
    """Check an image shape against a kernel shape; the output geometry."""
    if x_shape[3] != w_shape[2]:
        raise ValueError(
            f"{fn}: the input has {x_shape[3]} channels (shape {tuple(x_shape)}) but the kernel "
            f"expects {w_shape[2]} (kernel shape {tuple(w_shape)}, HWIO)"
        )
    return _geometry(x_shape, w_shape[:2], strides, padding, fn, "kernel")


def _kernel_grad_geometry(fn, x_shape, kernel_shape, strides, padding):
    """A kernel gradient's arguments checked: the kernel's shape (KH, KW, C, F)
    with a positive height and width, the strides, and the output (OH, OW)
    and (top, left) padding of the convolution of x with such a kernel."""
    kernel_shape = _shape(kernel_shape, "kernel_shape", fn)
    strides = _pair(strides, "strides", fn)
    padding = _padding(padding, fn)
    if min(kernel_shape[:2]) < 1:
        raise ValueError(f"{fn}: kernel_shape must have a positive height and width, got {kernel_shape}")
    (oh, ow), pads = _conv_shapes(fn, x_shape, kernel_shape, strides, padding)
    return kernel_shape, strides, (oh, ow), pads


def _grad_shape(fn, grad_out, expected):
    if tuple(grad_out.shape) != tuple(expected):
        raise ValueError(f"{fn}: grad_out has shape {tuple(grad_out.shape)}, expected {tuple(expected)}")


def _flops(n, oh, ow, kh, kw, c, f):
    return 2.0 * n * oh * ow * kh * kw * c * f


# ---------------------------------------------------------------- convolution
def conv2d(x, w, b=None, *, strides=(1, 1), padding="valid", activation=None, out=None, backend=None):
    """``activation(conv(x, w) + b)``: a 2-D convolution in Keras's layout.

    ``x`` is NHWC (N, H, W, C), ``w`` HWIO (KH, KW, C, F) as ``Conv2D.kernel``,
    ``b`` (F,) or None; ``strides`` an int or a pair; ``padding`` "valid" or
    "same" (TF's rule); ``activation`` None or "relu", fused into the output.
    Returns (N, OH, OW, F).  (As in Keras, this is a cross-correlation: the
    kernel is not flipped.)
    """
    be = get_backend(backend)
    fn = "conv2d"
    x = operand(be, x, "x", fn, ndim=4)
    w = operand(be, w, "w", fn, x.dtype, ndim=4)
    strides = _pair(strides, "strides", fn)
    padding = _padding(padding, fn)
    (oh, ow), pads = _conv_shapes(fn, x.shape, w.shape, strides, padding)
    if b is not None:
        b = operand(be, b, "b", fn, x.dtype)
        if tuple(b.shape) != (w.shape[3],):
            raise ValueError(f"{fn}: b has shape {tuple(b.shape)}, expected ({w.shape[3]},)")
    if activation not in (None, "relu", "linear"):
        raise ValueError(f"{fn}: activation must be 'relu' or None, got {activation!r}")
    n, c, f = x.shape[0], x.shape[3], w.shape[3]
    given = out is not None
    out = output(be, out, (n, oh, ow, f), x.dtype, fn)
    if out.size == 0:
        return out
    relu = activation == "relu"
    if c == 0:   # no input channels: every pixel is the bias (through relu)
        row = np.zeros(f, x.dtype) if b is None else be.to_numpy(b)
        be.write(out, np.broadcast_to(np.maximum(row, 0) if relu else row, out.shape))
        return out
    target = through_temporary(be, out, x, w, b) if given else out
    kernel = be.conv2d
    run_gemm(be, _flops(n, oh, ow, w.shape[0], w.shape[1], c, f),
             ("conv2d", x.shape, w.shape, strides, pads, x.dtype.char),
             kernel, x, w, b, strides, pads, relu, target)
    return out if target is out else finish(be, out, target)


def conv2d_input_grad(grad_out, w, input_shape, *, strides=(1, 1), padding="valid", backend=None):
    """The gradient of a ``conv2d`` with respect to its input x: (N, H, W, C).

    ``grad_out`` is the gradient of the output (N, OH, OW, F), ``w`` the kernel
    (KH, KW, C, F), ``input_shape`` x's shape; ``strides`` and ``padding`` as
    given to the forward call.
    """
    be = get_backend(backend)
    fn = "conv2d_input_grad"
    w = operand(be, w, "w", fn, ndim=4)
    grad_out = operand(be, grad_out, "grad_out", fn, w.dtype, ndim=4)
    input_shape = _shape(input_shape, "input_shape", fn)
    strides = _pair(strides, "strides", fn)
    padding = _padding(padding, fn)
    (oh, ow), pads = _conv_shapes(fn, input_shape, w.shape, strides, padding)
    _grad_shape(fn, grad_out, (input_shape[0], oh, ow, w.shape[3]))
    out = be.empty(input_shape, w.dtype)
    if out.size == 0:
        return out
    if grad_out.size == 0:
        be.write(out, np.zeros(input_shape, w.dtype))
        return out
    n, c = input_shape[0], input_shape[3]
    run_gemm(be, _flops(n, oh, ow, w.shape[0], w.shape[1], c, w.shape[3]),
             ("conv2d_input_grad", input_shape, w.shape, strides, pads, w.dtype.char),
             be.conv2d_input_grad, grad_out, w, strides, pads, out)
    return out


def conv2d_kernel_grad(grad_out, x, kernel_shape, *, strides=(1, 1), padding="valid", backend=None):
    """The gradient of a ``conv2d`` with respect to its kernel: (KH, KW, C, F).

    ``grad_out`` is the gradient of the output (N, OH, OW, F), ``x`` the
    forward input (N, H, W, C), ``kernel_shape`` the kernel's shape.  The bias
    gradient is ``bias_grad`` (or ``relu_bias_grad``) of ``grad_out`` seen as
    (N*OH*OW, F).
    """
    be = get_backend(backend)
    fn = "conv2d_kernel_grad"
    x = operand(be, x, "x", fn, ndim=4)
    grad_out = operand(be, grad_out, "grad_out", fn, x.dtype, ndim=4)
    kernel_shape, strides, (oh, ow), pads = _kernel_grad_geometry(fn, x.shape, kernel_shape, strides, padding)
    _grad_shape(fn, grad_out, (x.shape[0], oh, ow, kernel_shape[3]))
    out = be.empty(kernel_shape, x.dtype)
    if out.size == 0:
        return out
    if grad_out.size == 0:
        be.write(out, np.zeros(kernel_shape, x.dtype))
        return out
    run_gemm(be, _flops(x.shape[0], oh, ow, *kernel_shape),
             ("conv2d_kernel_grad", x.shape, kernel_shape, strides, pads, x.dtype.char),
             be.conv2d_kernel_grad, grad_out, x, strides, pads, out)
    return out


# ---------------------------------------------------------------- pooling
def _pool_args(fn, x_shape, pool_size, strides, padding):
    pool_size = _pair(pool_size, "pool_size", fn)
    strides = pool_size if strides is None else _pair(strides, "strides", fn)
    padding = _padding(padding, fn)
    (oh, ow), pads = _geometry(x_shape, pool_size, strides, padding, fn, "pool window")
    return pool_size, strides, (oh, ow), pads


def max_pool2d(x, *, pool_size=(2, 2), strides=None, padding="valid", out=None, backend=None):
    """The largest element of each ``pool_size`` window of NHWC ``x``, per channel.

    ``strides`` defaults to ``pool_size`` (as Keras's MaxPooling2D); with
    "same" padding the padding never wins.  A window holding a NaN gives NaN
    (as ``np.max``).  Returns (N, OH, OW, C).
    """
    return _pool("max_pool2d", x, pool_size, strides, padding, out, backend)


def _pool(fn, x, pool_size, strides, padding, out, backend):
    """Check, allocate and run pooling kernel ``fn`` (max_pool2d or avg_pool2d)."""
    be = get_backend(backend)
    x = operand(be, x, "x", fn, ndim=4)
    pool_size, strides, (oh, ow), pads = _pool_args(fn, x.shape, pool_size, strides, padding)
    given = out is not None
    out = output(be, out, (x.shape[0], oh, ow, x.shape[3]), x.dtype, fn)
    if out.size == 0:
        return out
    target = through_temporary(be, out, x) if given else out
    getattr(be, fn)(x, pool_size, strides, pads, target)
    return out if target is out else finish(be, out, target)


def max_pool2d_backward(grad_out, x, *, pool_size=(2, 2), strides=None, padding="valid", backend=None):
    """The gradient of ``max_pool2d`` with respect to ``x``: each output's
    gradient goes to the first maximum of its window in row-major order (the
    first NaN, where there is one: ``np.argmax``); overlapping windows add."""
    be = get_backend(backend)
    fn = "max_pool2d_backward"
    x = operand(be, x, "x", fn, ndim=4)
    grad_out = operand(be, grad_out, "grad_out", fn, x.dtype, ndim=4)
    pool_size, strides, (oh, ow), pads = _pool_args(fn, x.shape, pool_size, strides, padding)
    _grad_shape(fn, grad_out, (x.shape[0], oh, ow, x.shape[3]))
    out = be.empty(x.shape, x.dtype)
    if out.size == 0:
        return out
    if grad_out.size == 0:
        be.write(out, np.zeros(x.shape, x.dtype))
        return out
    be.max_pool2d_backward(grad_out, x, pool_size, strides, pads, out)
    return out


def avg_pool2d(x, *, pool_size=(2, 2), strides=None, padding="valid", out=None, backend=None):
    """The mean of each ``pool_size`` window of NHWC ``x``, per channel; with
    "same" padding an edge window averages only its real elements (as TF)."""
    return _pool("avg_pool2d", x, pool_size, strides, padding, out, backend)


def avg_pool2d_backward(grad_out, input_shape, *, pool_size=(2, 2), strides=None, padding="valid",
                        backend=None):
    """The gradient of ``avg_pool2d`` with respect to its input (of
    ``input_shape``): each output's gradient shared evenly by the real
    elements of its window."""
    be = get_backend(backend)
    fn = "avg_pool2d_backward"
    grad_out = operand(be, grad_out, "grad_out", fn, ndim=4)
    input_shape = _shape(input_shape, "input_shape", fn)
    pool_size, strides, (oh, ow), pads = _pool_args(fn, input_shape, pool_size, strides, padding)
    _grad_shape(fn, grad_out, (input_shape[0], oh, ow, input_shape[3]))
    out = be.empty(input_shape, grad_out.dtype)
    if out.size == 0:
        return out
    if grad_out.size == 0:
        be.write(out, np.zeros(input_shape, grad_out.dtype))
        return out
    be.avg_pool2d_backward(grad_out, pool_size, strides, pads, out)
    return out


# ---------------------------------------------------------------- Conv2D(relu) -> MaxPooling2D, backward
def _pooled_relu_operands(fn, grad_out, y, pool_size, strides, padding, be):
    """Check ``y`` (the relu conv's output, which was max-pooled) and the pooled gradient."""
    y = operand(be, y, "y", fn, ndim=4)
    grad_out = operand(be, grad_out, "grad_out", fn, y.dtype, ndim=4)
    pool_size, strides, (oh, ow), pads = _pool_args(fn, y.shape, pool_size, strides, padding)
    _grad_shape(fn, grad_out, (y.shape[0], oh, ow, y.shape[3]))
    return grad_out, y, pool_size, strides, pads


def max_pool_relu_backward(grad_out, y, *, pool_size=(2, 2), strides=None, padding="valid", backend=None):
    """The backward of a relu conv followed by a max-pool, down to the conv's output: ``(g, db)``.

    ``y`` (N, H, W, F) is the output of ``conv2d(..., activation="relu")`` that
    ``max_pool2d(y, pool_size, strides, padding)`` pooled, ``grad_out`` the
    gradient of the pooled (N, OH, OW, F).  ``g`` is
    ``relu_backward(max_pool2d_backward(grad_out, y), y)`` (the gradient of the
    conv before relu, which its ``conv2d_input_grad`` and ``conv2d_kernel_grad``
    read) and ``db`` its sums over N, H, W (the bias gradient).  Each pooled
    gradient lands on one element, whose relu mask is the window's max > 0, so
    a backend may do it in one pass (numba does; the others run the three
    kernels); the numbers are those calls' within float rounding (the sums'
    order differs).
    """
    be = get_backend(backend)
    fn = "max_pool_relu_backward"
    grad_out, y, pool_size, strides, pads = _pooled_relu_operands(fn, grad_out, y, pool_size, strides, padding, be)
    out = be.empty(y.shape, y.dtype)
    db = be.empty((y.shape[3],), y.dtype)
    if y.size == 0 or grad_out.size == 0:
        if out.size:
            be.write(out, np.zeros(y.shape, y.dtype))
        if db.size:
            be.write(db, np.zeros(db.shape, y.dtype))
        return out, db
    be.max_pool_relu_backward(grad_out, y, pool_size, strides, pads, out, db)
    return out, db


def max_pool_relu_weight_grads(grad_out, y, x, kernel_shape, *, pool_size=(2, 2), pool_strides=None,
                               pool_padding="valid", strides=(1, 1), padding="valid", backend=None):
    """The kernel and bias gradients ``(dw, db)`` of ``max_pool2d(conv2d(x, w, b, activation="relu"))``.

    ``x`` (N, H, W, C) is the conv's input, ``kernel_shape`` w's (KH, KW, C, F),
    ``strides`` and ``padding`` the conv's; ``y`` the conv's output and
    ``grad_out`` the pooled gradient, as in :func:`max_pool_relu_backward`.
    ``dw`` is ``conv2d_kernel_grad(g, x, kernel_shape)`` and ``db`` the bias
    gradient, for ``g`` that function's first result, which is never stored:
    for a first layer (no input gradient wanted) the numba backend adds each
    window's contribution to dw from registers (kernels/conv/numba_pool_fused.py);
    its cost grows with KH*KW*C, so it is meant for a shallow first layer.
    """
    be = get_backend(backend)
    fn = "max_pool_relu_weight_grads"
    grad_out, y, pool_size, pool_strides, pool_pads = _pooled_relu_operands(
        fn, grad_out, y, pool_size, pool_strides, pool_padding, be)
    x = operand(be, x, "x", fn, y.dtype, ndim=4)
    kernel_shape, strides, (oh, ow), pads = _kernel_grad_geometry(fn, x.shape, kernel_shape, strides, padding)
    if tuple(y.shape) != (x.shape[0], oh, ow, kernel_shape[3]):
        raise ValueError(f"{fn}: y has shape {tuple(y.shape)}, but the conv of x {tuple(x.shape)} with a "
                         f"{kernel_shape} kernel makes {(x.shape[0], oh, ow, kernel_shape[3])}")
    dw = be.empty(kernel_shape, y.dtype)
    db = be.empty((kernel_shape[3],), y.dtype)
    if dw.size == 0 and db.size == 0:
        return dw, db
    if y.size == 0 or grad_out.size == 0 or dw.size == 0:
        if dw.size:
            be.write(dw, np.zeros(kernel_shape, y.dtype))
        if y.size == 0 or grad_out.size == 0:
            be.write(db, np.zeros(db.shape, y.dtype))
            return dw, db
        return dw, max_pool_relu_backward(grad_out, y, pool_size=pool_size, strides=pool_strides,
                                          padding=pool_padding, backend=be)[1]
    be.max_pool_relu_weight_grads(grad_out, y, x, pool_size, pool_strides, pool_pads, strides, pads, dw, db)
    return dw, db
