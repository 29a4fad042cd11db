"""The pass that binds a plan's GEMM, convolution and optimizer calls to the backend's entry points.

Every kernel call of a plan goes through the public API (kernels/*/api.py):
it finds the backend, checks each operand's type, dtype, rank, contiguity and
shape, checks the output and its overlap with the inputs, then calls the
backend's method.  That is 5-15 us of Python per call, ~20 calls a step.  In
a plan most of those facts were settled when it was traced: the inputs'
shapes, dtypes and contiguity are the trace's signature (another signature
is another trace), each ``out=`` is a buffer of the plan (planned by
``reuse_buffers``, shared with nothing it could overlap), and every call ran
once, checked, while the function was traced.

``bind_kernels`` replaces such a call's function by a *bound* one, made now
for this node, that calls the backend's method directly after a few
identity-cheap guards on what CAN change between steps:

* a Variable's array (``var._data``: a user may replace it): its shape,
  dtype, contiguity (and writeability where updated) are compared with the
  trace's; any difference sends the call through the checked public API,
  which copies, or raises the API's error;
* any other operand's layout (a strided view such as a transpose, which the
  API would copy or turn into a flag): one flag test, the API's path when
  it is not C-contiguous;
* the row numbers of a batch (``rows``): checked against the range at every
  step, as the kernel reads ``x[rows[i]]`` without bounds checks: by a call
  of their own before their first reader (``checked_in2 = row_index(in2,
  60000, ...)``: a private copy, then its range), whose result every bound
  reader of those rows takes as it is (the first Dense layer's forward GEMM
  and its fused weight update: one check a step, not two);
* an operand that might share memory with a weight an update writes (or the
  weight with its slot): looked at at every call, the API's path taken when
  it does;
* the optimizer's hyperparameters: read and checked at every call (a
  schedule or a callback may change the learning rate).

Label values are not bound: ``class_ids`` and the loss check them at every
step (a wrong label is a ``ValueError``, never an out-of-bounds read).
The bound call runs the same kernel on the same arrays: the numbers do not
change by a bit.  ``BINDERS`` maps each API function to its binder; a
binder returns None to leave a call as it is.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import kernels
from ..kernels import prepared
from .fuse_head import add_to_metrics, rmsprop_dense_backward_step, softmax_head_step
from .fuse_optimizer import _arrays, rmsprop_bias_step, rmsprop_weight_step
from .graph import Node, TensorOf, Value



def _backend(node):
    """The node's backend when it is a compiled host backend named at trace time, else None."""
    be = node.kwargs.get("backend")
    if be is None or isinstance(be, (str, Value)):
        return None
    return be if getattr(be, "host", False) and be.name in prepared.THREADED_BACKENDS else None


def _array_value(item, ndim=None):
    """The shape and dtype ``(shape, dtype)`` a Value stands for (a float array), else None."""
    if isinstance(item, TensorOf):
        item = item.value
    if not isinstance(item, Value) or item.shape is None or item.dtype is None or item.dtype.kind != "f":
        return None
    if ndim is not None and len(item.shape) != ndim or 0 in item.shape:
        return None
    return tuple(item.shape), item.dtype


def _fits(a, spec):
    """``a`` is a C-contiguous ndarray of the trace's shape and dtype: checked on the
    arrays of Variables only (``_guard``); an input's facts are the trace's
    signature, a result's are made by the plan's own calls."""
    return isinstance(a, np.ndarray) and a.shape == spec[0] and a.dtype == spec[1] and a.flags.c_contiguous


def _updatable(weight, slot, spec):
    """The arrays an update writes, ``weight`` and its ``slot``, are both writeable
    C-contiguous ndarrays of the trace's shape and dtype ``spec`` (``_fits``, written
    out: this runs at every update)."""
    shape, dtype = spec
    return isinstance(weight, np.ndarray) and isinstance(slot, np.ndarray) \
        and weight.shape == shape and slot.shape == shape and weight.dtype == dtype and slot.dtype == dtype \
        and weight.flags.c_contiguous and slot.flags.c_contiguous and weight.flags.writeable \
        and slot.flags.writeable


def _c_contiguous(a):
    return a.flags.c_contiguous


def _guard(item, spec):
    """The check made at every call of the array ``item`` stands for: ``_fits`` its
    ``spec`` (shape, dtype, layout) for a Variable's array; its layout alone for any
    other (an input's shape and dtype are the signature, a result's are made by the
    plan's own calls, but either may be a strided view, a transpose, the API would copy)."""
    if isinstance(item, TensorOf):
        item = item.value
    return functools.partial(_fits, spec=spec) if isinstance(item, Value) and item.kind == "variable" \
        else _c_contiguous


def _shares(be, operands, weight, slot):
    """True when an operand (None skipped) may share memory with the weight or its
    slot, which the update writes, or those two with each other: the API's path
    (which copies the operand, or refuses) is taken then.  Looked at every call:
    a caller's input may be any array."""
    may_overlap = be.may_overlap
    if may_overlap(weight, slot):
        return True
    for a in operands:
        if a is not None and (may_overlap(a, weight) or may_overlap(a, slot)):
            return True
    return False


def _operands(node, names, defaults):
    """The node's arguments by name (positional first, then keywords), with ``defaults``."""
    found = dict(defaults)
    found.update(zip(names, node.args))
    found.update({k: v for k, v in node.kwargs.items() if k in names})
    return found


def _checked_rows(rows, count):
    """True when ``rows`` is the result of ``check_rows_once``'s ``row_index(.., count, ..)``:
    a private int64 copy already checked to lie in [0, count) at this step."""
    producer = rows.producer if isinstance(rows, Value) else None
    return producer is not None and producer.fn is prepared.row_index and producer.args[1] == count


# ---------------------------------------------------------------- GEMMs
def bind_dense_forward(node, rows=False):
    be = _backend(node)
    if be is None or node.buffer is None:
        return None
    names = ("x", "rows", "w", "b", "activation") if rows else ("x", "w", "b", "activation")
    given = _operands(node, names, {"b": None, "activation": None})
    if given["activation"] not in (None, "relu", "linear") or isinstance(given["activation"], Value):
        return None
    x, w = _array_value(given["x"], 2), _array_value(given["w"], 2)
    b = None if given["b"] is None else _array_value(given["b"], 1)
    if x is None or w is None or (given["b"] is not None and b is None) or x[0][1] != w[0][0]:
        return None
    if rows and (not isinstance(given["rows"], Value) or given["rows"].shape is None):
        return None
    out_shape = (x[0][0] if not rows else given["rows"].shape[0], w[0][1])
    if out_shape != tuple(node.buffer.shape) or len({x[1], w[1], *((b[1],) if b else ())}) != 1:
        return None
    relu = given["activation"] == "relu"
    gx, gw, gb = _guard(given["x"], x), _guard(given["w"], w), b and _guard(given["b"], b)
    m, k, n = out_shape[0], w[0][0], w[0][1]
    flops, api = 2.0 * m * n * k, node.fn
    if not rows:
        key = ("dense", m, n, k, x[1].char)

        def dense_forward_bound(x_, w_, b_=None, activation=None, *, out=None, backend=None):
            if not (gx(x_) and gw(w_) and (b is None or gb(b_))):
                return api(x_, w_, b_, activation, out=out, backend=backend)
            prepared.run_gemm(be, flops, key, be.dense_forward, x_, w_, b_, relu, out)
            return out
        return dense_forward_bound
    key = ("dense_rows", m, n, k, x[1].char)
    if not _checked_rows(given["rows"], x[0][0]):     # (bind_kernels checks every gather's rows first)
        return None

    def dense_forward_rows_bound(x_, rows_, w_, b_=None, activation=None, *, out=None, backend=None):
        if not (gx(x_) and gw(w_) and (b is None or gb(b_))):
            return api(x_, rows_, w_, b_, activation, out=out, backend=backend)
        prepared.run_gemm(be, flops, key, be.dense_forward_rows, x_, rows_, w_, b_, relu, out)
        return out
    return dense_forward_rows_bound if n > 0 else None


def bind_matmul(node):
    be = _backend(node)
    if be is None or node.buffer is None or len(node.args) != 2:
        return None
    ta, tb = bool(node.kwargs.get("transpose_a")), bool(node.kwargs.get("transpose_b"))
    a, b = _array_value(node.args[0], 2), _array_value(node.args[1], 2)
    if a is None or b is None or a[1] != b[1]:
        return None
    m, k = (a[0][1], a[0][0]) if ta else a[0]
    k2, n = (b[0][1], b[0][0]) if tb else b[0]
    if k != k2 or (m, n) != tuple(node.buffer.shape):
        return None
    flops, key, api = 2.0 * m * n * k, ("matmul", m, n, k, ta, tb, a[1].char), node.fn
    ga, gb = _guard(node.args[0], a), _guard(node.args[1], b)

    def matmul_bound(a_, b_, *, transpose_a=False, transpose_b=False, out=None, backend=None):
        if not (ga(a_) and gb(b_)):     # a transposed view: the API turns it into a flag
            return api(a_, b_, transpose_a=transpose_a, transpose_b=transpose_b, out=out, backend=backend)
        prepared.run_gemm(be, flops, key, be.matmul, a_, b_, ta, tb, out)
        return out
    return matmul_bound


# ---------------------------------------------------------------- the fused RMSprop steps
# (RMSprop's learning rate, rho and epsilon are read from the optimizer at every
# call and checked as the API checks them: a schedule or a callback may change them)
def bind_weight_step(node):
    be = _backend(node)
    if be is None or len(node.args) != 5:
        return None
    _, x_value, g_value, weight, slot = node.args
    x, g, w = _array_value(x_value, 2), _array_value(g_value, 2), _array_value(weight, 2)
    rows = node.kwargs.get("rows")
    if x is None or g is None or w is None or len({x[1], g[1], w[1]}) != 1:
        return None
    batch = g[0][0]
    if (rows is not None and (not isinstance(rows, Value) or rows.shape != (batch,))) \
            or (rows is None and x[0][0] != batch) or (x[0][1], g[0][1]) != w[0]:
        return None
    if rows is not None and not _checked_rows(rows, x[0][0]):    # (checked by bind_kernels's row_index)
        return None
    m, n = w[0]
    flops, key = 2.0 * m * n * batch, ("weight_grad_rmsprop", m, n, batch, w[1].char)

    def weight_grad_rmsprop_bound(optimizer, x_, g_, weight_, slot_, rows=None, backend=None):
        w_, v_ = _arrays(weight_, slot_)
        if not (_updatable(w_, v_, w) and x_.flags.c_contiguous and g_.flags.c_contiguous) \
                or _shares(be, (x_, g_), w_, v_):
            return rmsprop_weight_step(optimizer, x_, g_, weight_, slot_, rows=rows, backend=backend)
        lr, rho, eps = prepared.learning_settings(optimizer.learning_rate, optimizer.rho, optimizer.epsilon,
                                                  "weight_grad_rmsprop")
        prepared.run_gemm(be, flops, key, be.weight_grad_rmsprop, x_, rows, g_, w_, v_, lr, rho, eps)
    return weight_grad_rmsprop_bound


def bind_bias_step(node):
    be = _backend(node)
    if be is None or len(node.args) != 4 or set(node.kwargs) - {"relu_input", "backend"}:
        return None
    _, g_value, bias, slot = node.args
    g, b = _array_value(g_value, 2), _array_value(bias, 1)
    relu_value = node.kwargs.get("relu_input")
    h = None if relu_value is None else _array_value(relu_value, 2)
    if g is None or b is None or g[0][1] != b[0][0] or g[1] != b[1] or (relu_value is not None and h != g):
        return None

    def bias_grad_rmsprop_bound(optimizer, g_, bias_, slot_, relu_input=None, backend=None):
        b_, v_ = _arrays(bias_, slot_)
        if not (_updatable(b_, v_, b) and g_.flags.c_contiguous
                and (relu_input is None or relu_input.flags.c_contiguous)) \
                or _shares(be, (g_, relu_input), b_, v_):
            return rmsprop_bias_step(optimizer, g_, bias_, slot_, relu_input=relu_input, backend=backend)
        lr, rho, eps = prepared.learning_settings(optimizer.learning_rate, optimizer.rho, optimizer.epsilon,
                                                  "bias_grad_rmsprop")
        out = None if h is None else be.empty(g[0], g[1])
        be.bias_grad_rmsprop(g_, relu_input, out, b_, v_, lr, rho, eps)
        return bias_ if out is None else out
    return bias_grad_rmsprop_bound


# ---------------------------------------------------------------- the classifier's head
def bind_softmax_head(node):
    """``softmax_cross_entropy_head`` of fuse_head.py: the labels are checked against the
    logits at every call (their values change), the rest was settled by the trace."""
    be = _backend(node)
    if be is None or node.buffer is None or len(node.args) != 8 or set(node.kwargs) - {"backend"}:
        return None
    spec = _array_value(node.args[0], 2)
    if spec is None or tuple(node.buffer.shape) != spec[0] or node.buffer.dtype != spec[1]:
        return None
    guard, (n, c), dtype = _guard(node.args[0], spec), spec[0], spec[1]
    method, labels_for = be.softmax_cross_entropy_head, prepared.labels_for

    def softmax_cross_entropy_head_bound(logits, labels, scale, divisor, loss_metric, sample_weight,
                                         accuracy=None, counter=None, *, out=None, backend=None):
        if not guard(logits):
            return softmax_head_step(logits, labels, scale, divisor, loss_metric, sample_weight, accuracy, counter,
                                     out=out, backend=backend)
        ids = labels_for(be, labels, n, c, "softmax_cross_entropy")
        loss_sum, correct = method(logits, ids, scale, be.empty((n,), dtype), out)
        add_to_metrics(be, dtype.type(loss_sum), correct, logits, labels, divisor, loss_metric, sample_weight,
                       accuracy, counter)
        return out
    return softmax_cross_entropy_head_bound


def bind_dense_backward(node):
    """``dense_backward_rmsprop`` of fuse_head.py: the six arrays it updates guarded as the
    separate RMSprop steps guarded theirs (layout; sharing with an operand, each weight
    with its slot), the hyperparameters read and checked at every call."""
    be = _backend(node)
    if be is None or len(node.args) != 9 or set(node.kwargs) - {"backend"}:
        return None
    dz, h, w = (_array_value(node.args[i], 2) for i in (1, 2, 3))
    b, prev_b = _array_value(node.args[4], 1), _array_value(node.args[7], 1)
    if None in (dz, h, w, b, prev_b) or len({dz[1], h[1], w[1], b[1], prev_b[1]}) != 1 \
            or w[0] != (h[0][1], dz[0][1]) or b[0] != (dz[0][1],) or prev_b[0] != (h[0][1],) or h[0][0] != dz[0][0]:
        return None

    def dense_backward_rmsprop_bound(optimizer, dz_, h_, *state, backend=None):
        weight, bias, weight_slot, bias_slot, prev_bias, prev_slot = state
        (w_, vw_), (b_, vb_), (pb_, pv_) = (_arrays(weight, weight_slot), _arrays(bias, bias_slot),
                                            _arrays(prev_bias, prev_slot))
        if not (_updatable(w_, vw_, w) and _updatable(b_, vb_, b) and _updatable(pb_, pv_, prev_b)
                and dz_.flags.c_contiguous and h_.flags.c_contiguous) \
                or _shares(be, (h_, dz_), w_, vw_) or _shares(be, (dz_,), b_, vb_) or _shares(be, (h_,), pb_, pv_):
            return rmsprop_dense_backward_step(optimizer, dz_, h_, *state, backend=backend)
        lr, rho, eps = prepared.learning_settings(optimizer.learning_rate, optimizer.rho, optimizer.epsilon,
                                                  "dense_backward_rmsprop")
        dh = be.empty(h[0], h[1])
        be.dense_backward_rmsprop(dz_, h_, w_, b_, vw_, vb_, pb_, pv_, lr, rho, eps, dh)
        return dh
    return dense_backward_rmsprop_bound


# ---------------------------------------------------------------- convolutions and pooling
def _conv_geometry(fn, x_shape, w_shape, strides, padding):
    """The API's own reading of strides and padding, done once: ``(strides, pads, (oh, ow))``."""
    return prepared.conv_geometry(fn, x_shape, w_shape, strides, padding)


def bind_conv2d(node):
    be = _backend(node)
    if be is None or node.buffer is None or not 2 <= len(node.args) <= 3 \
            or set(node.kwargs) - {"strides", "padding", "activation", "backend", "out"}:
        return None
    x, w = _array_value(node.args[0], 4), _array_value(node.args[1], 4)
    b_value = node.args[2] if len(node.args) == 3 else None
    b = None if b_value is None else _array_value(b_value, 1)
    activation = node.kwargs.get("activation")
    if x is None or w is None or (b_value is not None and b is None) or activation not in (None, "relu", "linear") \
            or x[1] != w[1] or x[0][3] != w[0][2] or x[0][3] == 0:
        return None
    strides, pads, (oh, ow) = _conv_geometry("conv2d", x[0], w[0], node.kwargs.get("strides", (1, 1)),
                                             node.kwargs.get("padding", "valid"))
    n, c, f = x[0][0], x[0][3], w[0][3]
    if (n, oh, ow, f) != tuple(node.buffer.shape):
        return None
    gx, gw, gb = _guard(node.args[0], x), _guard(node.args[1], w), None if b is None else _guard(b_value, b)
    flops = 2.0 * n * oh * ow * w[0][0] * w[0][1] * c * f
    key, relu, api = ("conv2d", x[0], w[0], strides, pads, x[1].char), activation == "relu", node.fn

    def conv2d_bound(x_, w_, b_=None, **kwargs):
        out = kwargs["out"]
        if not (gx(x_) and gw(w_) and (b is None or gb(b_))):
            return api(x_, w_, b_, **kwargs)
        prepared.run_gemm(be, flops, key, be.conv2d, x_, w_, b_, strides, pads, relu, out)
        return out
    return conv2d_bound


def bind_conv_grad(node, kernel_grad):
    """``conv2d_input_grad(grad_out, w, input_shape)`` or ``conv2d_kernel_grad(grad_out, x, kernel_shape)``."""
    be = _backend(node)
    if be is None or len(node.args) != 3 or set(node.kwargs) - {"strides", "padding", "backend"}:
        return None
    g, other = _array_value(node.args[0], 4), _array_value(node.args[1], 4)
    shape = node.args[2]
    if g is None or other is None or g[1] != other[1] or not isinstance(shape, tuple) \
            or len(shape) != 4 or not all(type(d) is int and d > 0 for d in shape):
        return None
    fn = "conv2d_kernel_grad" if kernel_grad else "conv2d_input_grad"
    x_shape, w_shape = (other[0], shape) if kernel_grad else (shape, other[0])
    strides, pads, (oh, ow) = _conv_geometry(fn, x_shape, w_shape, node.kwargs.get("strides", (1, 1)),
                                             node.kwargs.get("padding", "valid"))
    if g[0] != (x_shape[0], oh, ow, w_shape[3]):
        return None
    gg, go = _guard(node.args[0], g), _guard(node.args[1], other)
    flops = 2.0 * x_shape[0] * oh * ow * w_shape[0] * w_shape[1] * w_shape[2] * w_shape[3]
    key = (fn, other[0] if kernel_grad else shape, shape if kernel_grad else other[0], strides, pads, g[1].char)
    dtype, api, method = g[1], node.fn, fn

    def conv_grad_bound(grad_out, operand, shape_, **kwargs):
        if not (gg(grad_out) and go(operand)):
            return api(grad_out, operand, shape_, **kwargs)
        out = be.empty(shape, dtype)
        prepared.run_gemm(be, flops, key, getattr(be, method), grad_out, operand, strides, pads, out)
        return out
    conv_grad_bound.__name__ = f"{fn}_bound"
    return conv_grad_bound


def _pool_geometry(fn, x_shape, node):
    return prepared.pool_geometry(fn, x_shape, node.kwargs.get("pool_size", (2, 2)), node.kwargs.get("strides"),
                                  node.kwargs.get("padding", "valid"))


def bind_max_pool2d(node):
    be = _backend(node)
    if be is None or node.buffer is None or len(node.args) != 1 \
            or set(node.kwargs) - {"pool_size", "strides", "padding", "backend", "out"}:
        return None
    x = _array_value(node.args[0], 4)
    if x is None:
        return None
    pool_size, strides, (oh, ow), pads = _pool_geometry("max_pool2d", x[0], node)
    if (x[0][0], oh, ow, x[0][3]) != tuple(node.buffer.shape):
        return None
    gx, api = _guard(node.args[0], x), node.fn

    def max_pool2d_bound(x_, **kwargs):
        if not gx(x_):
            return api(x_, **kwargs)
        out = kwargs["out"]
        be.max_pool2d(x_, pool_size, strides, pads, out)
        return out
    return max_pool2d_bound


def bind_max_pool2d_backward(node):
    be = _backend(node)
    if be is None or len(node.args) != 2 or set(node.kwargs) - {"pool_size", "strides", "padding", "backend"}:
        return None
    g, x = _array_value(node.args[0], 4), _array_value(node.args[1], 4)
    if g is None or x is None or g[1] != x[1]:
        return None
    pool_size, strides, (oh, ow), pads = _pool_geometry("max_pool2d_backward", x[0], node)
    if g[0] != (x[0][0], oh, ow, x[0][3]):
        return None
    gg, gx, api = _guard(node.args[0], g), _guard(node.args[1], x), node.fn

    def max_pool2d_backward_bound(grad_out, x_, **kwargs):
        if not (gg(grad_out) and gx(x_)):
            return api(grad_out, x_, **kwargs)
        out = be.empty(x[0], x[1])
        be.max_pool2d_backward(grad_out, x_, pool_size, strides, pads, out)
        return out
    return max_pool2d_backward_bound


#: the functions a plan calls that ``bind_kernels`` binds, each with its binder
BINDERS = {
    kernels.dense_forward: bind_dense_forward,
    kernels.dense_forward_rows: lambda node: bind_dense_forward(node, rows=True),
    kernels.matmul: bind_matmul,
    rmsprop_weight_step: bind_weight_step,
    rmsprop_bias_step: bind_bias_step,
    softmax_head_step: bind_softmax_head,
    rmsprop_dense_backward_step: bind_dense_backward,
    kernels.conv2d: bind_conv2d,
    kernels.conv2d_input_grad: lambda node: bind_conv_grad(node, kernel_grad=False),
    kernels.conv2d_kernel_grad: lambda node: bind_conv_grad(node, kernel_grad=True),
    kernels.max_pool2d: bind_max_pool2d,
    kernels.max_pool2d_backward: bind_max_pool2d_backward,
}


def _rows_read(node):
    """``(rows, x, fn)`` when ``node`` reads rows ``rows`` of ``x`` through a kernel
    that indexes without bounds checks (``dense_forward_rows``, a fused weight
    step with ``rows=``), else None."""
    if node.fn is kernels.dense_forward_rows and len(node.args) >= 2:
        x, rows = node.args[0], node.args[1]
    elif node.fn is rmsprop_weight_step and len(node.args) == 5 and node.kwargs.get("rows") is not None:
        x, rows = node.args[1], node.kwargs["rows"]
    else:
        return None
    if _backend(node) is None or not (isinstance(x, Value) and isinstance(rows, Value) and x.shape
                                      and rows.shape is not None):
        return None     # (a call bind_kernels will not bind: the public API checks its rows)
    return rows, x, "weight_grad_rmsprop" if node.fn is rmsprop_weight_step else "dense_forward_rows"


def check_rows_once(graph):
    """Before the first call that reads rows ``rows`` of ``x``, a call of its own,
    ``checked = row_index(rows, len(x), fn)``: a private copy of the row numbers,
    checked to lie in range (module docstring); every such reader then reads
    ``checked``.  A reader that ``bind_kernels`` cannot bind gets the checked
    copy too, and the public API checks it again: same rows, same error."""
    graph = graph.copy()
    nodes, checked = [], {}
    for node in graph.nodes:
        found = _rows_read(node)
        if found is not None:
            rows, x, fn = found
            key = (rows, x.shape[0])
            if key not in checked:
                name = f"checked_{rows.name}" + (f"_{len(checked)}" if checked else "")   # (unique in the plan)
                value = Value(name, "result", shape=rows.shape, dtype=np.dtype(np.int64))
                check = Node("row_index", prepared.row_index, (rows, x.shape[0], fn), {}, (value,))
                value.producer = check
                nodes.append(check)
                checked[key] = value
            new = checked[key]
            if node.fn is kernels.dense_forward_rows:
                node.args = (node.args[0], new, *node.args[2:])
            else:
                node.kwargs["rows"] = new
        nodes.append(node)
    graph.nodes = nodes
    return graph


def bind_kernels(graph):
    """Each call of ``BINDERS`` bound to its backend's entry point (module docstring);
    runs after ``reuse_buffers``, as it binds only calls that write into a planned buffer
    (or into Variables).  The node keeps its ``op``: the plan's line reads the same.
    The rows a batch is gathered by are checked first, once (``check_rows_once``)."""
    graph = check_rows_once(graph)
    for node in graph.nodes:
        binder = BINDERS.get(node.fn)
        bound = binder(node) if binder is not None else None
        if bound is not None:
            node.fn = bound
    return graph
