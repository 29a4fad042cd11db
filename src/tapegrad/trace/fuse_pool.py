"""The pass that fuses the backward of ``Conv2D(activation="relu") -> MaxPooling2D``.

In a traced convnet step, after ``fuse_elementwise`` and
``fuse_optimizer_update``, each such block's backward is recorded as

    dz = max_pool2d_backward(g, y)                    # (N, H, W, F), zero but at each window's max
    g2 = bias_grad_rmsprop(optimizer, view(dz), b, v, relu_input=view(y))   # relu mask, db, b's update
         (or  g2, db = relu_bias_grad(view(dz), view(y))  when the update was not fused)
    dw = conv2d_kernel_grad(view(g2), x, kernel_shape)
    dx = conv2d_input_grad(view(g2), w, x.shape)      # absent for the first layer

``fuse_pool_backward`` rewrites it (kernels/conv/numba_pool_fused.py does the work):

* a first layer (no input gradient, KH*KW*C <= ``MAX_FUSED_TAPS``): the
  three calls become ONE ``max_pool_relu_weight_grads(g, y, x)`` that makes
  dw and db reading only the pooled gradient, y and the image; dz is never
  written.  The bias update, when it was fused, runs right after, from db;
* any other layer: the pool backward and the relu/bias call become one
  ``max_pool_relu_backward(g, y)`` that writes g2 in one pass; the conv's
  gradients read it as before.

A chain is rewritten only when each of its intermediate values has no other
reader and the relu mask is read from the very array the pool read; a graph
without the pattern comes back unchanged.  The numbers: on the numba backend
the sums (db, dw) run in another order than the unfused kernels', so they
agree with the eager step within float32 rounding; the other backends run
the block's backward as the unfused sequence, bit for bit the eager step's.
"""

from __future__ import annotations

from .. import kernels
from .fuse_optimizer import _arrays, _settings
from .graph import Node, TensorOf, Value, replace_values

#: a first layer's kernel gradient is fused when its patch has at most this many taps (3x3 RGB)
MAX_FUSED_TAPS = 27


def pool_weight_step(g, y, x, kernel_shape, pool, conv, optimizer=None, bias=None, slot=None, backend=None):
    """``(dw, db)`` of a relu conv followed by a max-pool (``kernels.max_pool_relu_weight_grads``);
    given the optimizer, the bias's RMSprop step is taken with db and only dw is returned."""
    dw, db = kernels.max_pool_relu_weight_grads(g, y, x, kernel_shape, **pool, **conv, backend=backend)
    if optimizer is None:
        return dw, db
    _bias_step(optimizer, db, bias, slot, backend)
    return dw


def pool_relu_step(g, y, pool, optimizer=None, bias=None, slot=None, backend=None):
    """``(g2, db)`` of ``kernels.max_pool_relu_backward``; given the optimizer, the bias's
    RMSprop step is taken with db and only g2 is returned."""
    g2, db = kernels.max_pool_relu_backward(g, y, **pool, backend=backend)
    if optimizer is None:
        return g2, db
    _bias_step(optimizer, db, bias, slot, backend)
    return g2


def _bias_step(optimizer, db, bias, slot, backend):
    """RMSprop on ``bias`` with the gradient db, by the kernel the unfused step used
    (``bias_grad_rmsprop`` of db as one row: its column sums are db exactly)."""
    b, v = _arrays(bias, slot)
    kernels.bias_grad_rmsprop(db.reshape(1, -1), b, v, backend=backend, **_settings(optimizer))


def _rows_view(node, base, shape):
    """True when ``node`` is ``view(base)`` as a C-contiguous array of ``shape`` from offset 0."""
    if node is None or node.op != "view" or len(node.args) != 5 or node.args[0] is not base:
        return False
    _, offset, view_shape, strides, dtype = node.args
    expected, step = [], dtype.itemsize
    for size in reversed(shape):
        expected.append(step)
        step *= size
    return offset == 0 and tuple(view_shape) == tuple(shape) and tuple(strides) == tuple(reversed(expected))


class _Chain:
    """One block's backward found in the graph: its nodes and values."""

    def __init__(self, **parts):
        self.__dict__.update(parts)


def _find_chain(pool, readers, producer, outputs):
    """The chain starting at ``pool`` (a ``max_pool2d_backward`` node), or None."""
    def only(value):
        found = readers.get(value, [])
        return found[0] if len(found) == 1 and value not in outputs else None

    if pool.op != "max_pool2d_backward" or len(pool.args) != 2 or len(pool.outputs) != 1 \
            or set(pool.kwargs) - {"pool_size", "strides", "padding", "backend"}:
        return None
    g, y = pool.args
    dz = pool.outputs[0]
    if not all(isinstance(v, Value) and v.shape is not None and len(v.shape) == 4 for v in (g, y, dz)):
        return None
    n, h, w, f = y.shape
    rows = (n * h * w, f)
    dz_rows = only(dz)
    if not _rows_view(dz_rows, dz, rows):
        return None
    relu = only(dz_rows.outputs[0])
    if relu is None:
        return None
    if relu.op == "bias_grad_rmsprop" and len(relu.args) == 4 and relu.args[1] is dz_rows.outputs[0] \
            and set(relu.kwargs) <= {"relu_input", "backend"} and len(relu.outputs) == 1:
        optimizer, _, bias, slot = relu.args
        mask_rows, db = relu.kwargs.get("relu_input"), None
        if not (isinstance(bias, TensorOf) and isinstance(slot, TensorOf)):
            return None
    elif relu.op == "relu_bias_grad" and len(relu.args) == 2 and relu.args[0] is dz_rows.outputs[0] \
            and set(relu.kwargs) <= {"backend"} and len(relu.outputs) == 2:
        mask_rows, optimizer, bias, slot, db = relu.args[1], None, None, None, relu.outputs[1]
    else:
        return None
    if not isinstance(mask_rows, Value) or not _rows_view(producer.get(mask_rows), y, rows):
        return None                   # relu's mask must be read from the array the pool read
    back = only(relu.outputs[0])
    if not _rows_view(back, relu.outputs[0], y.shape):
        return None
    g2 = back.outputs[0]
    if g2 in outputs:
        return None
    return _Chain(pool=pool, dz_rows=dz_rows, relu=relu, back=back, g=g, y=y, g2=g2, db=db,
                  optimizer=optimizer, bias=bias, slot=slot, users=readers.get(g2, []))


def _pool_settings(pool):
    return {key: pool.kwargs[key] for key in ("pool_size", "strides", "padding") if key in pool.kwargs}


def _first_layer_grad(chain, position, readers):
    """The ``conv2d_kernel_grad`` node when it is g2's only reader and the conv is shallow, else None."""
    if len(chain.users) != 1:
        return None
    grad = chain.users[0]
    if grad.op != "conv2d_kernel_grad" or len(grad.args) != 3 or grad.args[0] is not chain.g2 \
            or set(grad.kwargs) - {"strides", "padding", "backend"} or len(grad.outputs) != 1:
        return None
    x, kernel_shape = grad.args[1], grad.args[2]
    if not isinstance(x, Value) or x.shape is None or len(x.shape) != 4 or not isinstance(kernel_shape, tuple) \
            or len(kernel_shape) != 4 or kernel_shape[0] * kernel_shape[1] * kernel_shape[2] > MAX_FUSED_TAPS:
        return None
    # the fused call runs where the kernel gradient ran: the bias it updates (or db)
    # must not be read in between
    start, end = position[id(chain.relu)], position[id(grad)]
    watched = {chain.bias.value, chain.slot.value} if chain.bias is not None else {chain.db}
    for value in watched:
        if any(start < position[id(r)] < end for r in readers.get(value, [])):
            return None
    return grad


def fuse_pool_backward(graph):
    """The backward of each ``Conv2D(relu) -> MaxPooling2D`` block in one or two calls (module docstring)."""
    graph = graph.copy()
    readers = graph.readers()
    outputs = set(graph.output_values())
    producer = {v: n for n in graph.nodes for v in n.outputs}
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    replace, renamed = {}, {}    # id(node) -> new node (None: dropped); old value -> new value
    for pool in graph.nodes:
        chain = _find_chain(pool, readers, producer, outputs)
        if chain is None or any(id(n) in replace for n in (chain.pool, chain.dz_rows, chain.relu, chain.back)):
            continue
        backend = {"backend": chain.relu.kwargs.get("backend") or pool.kwargs.get("backend")}
        update = {} if chain.optimizer is None else {"optimizer": chain.optimizer, "bias": chain.bias,
                                                      "slot": chain.slot}
        writes = chain.relu.writes
        grad = _first_layer_grad(chain, position, readers)
        if grad is not None:
            x, kernel_shape = grad.args[1], grad.args[2]
            conv = {key: grad.kwargs[key] for key in ("strides", "padding") if key in grad.kwargs}
            pool_kw = _pool_settings(pool)
            pool_kw = {"pool_size": pool_kw.get("pool_size", (2, 2)), "pool_strides": pool_kw.get("strides"),
                       "pool_padding": pool_kw.get("padding", "valid")}
            made = grad.outputs if chain.optimizer is not None else (grad.outputs[0], chain.db)
            fused = Node("max_pool_relu_weight_grads", pool_weight_step,
                         (chain.g, chain.y, x, kernel_shape, pool_kw, conv), {**update, **backend}, made,
                         "one" if chain.optimizer is not None else "tuple", writes=writes,
                         fused=(pool.op, chain.relu.op, grad.op))
            replace[id(grad)] = fused
            for merged in (chain.pool, chain.dz_rows, chain.relu, chain.back):
                replace[id(merged)] = None
            continue
        g2 = renamed[chain.g2] = Value(chain.g2.name, "result", None, chain.g2.shape, chain.g2.dtype)
        made = (g2,) if chain.optimizer is not None else (g2, chain.db)
        fused = Node("max_pool_relu_backward", pool_relu_step, (chain.g, chain.y, _pool_settings(pool)),
                     {**update, **backend}, made, "one" if chain.optimizer is not None else "tuple",
                     writes=writes, fused=(pool.op, chain.relu.op))
        replace[id(chain.relu)] = fused       # where the relu/bias call ran: b is updated where it was
        for merged in (chain.pool, chain.dz_rows, chain.back):
            replace[id(merged)] = None
    if not replace:
        return graph
    nodes = []
    for node in graph.nodes:
        new = replace.get(id(node), node)
        if new is None:
            continue
        new.args, new.kwargs = replace_values(new.args, renamed), replace_values(new.kwargs, renamed)
        nodes.append(new)
    graph.nodes = nodes
    graph.outputs = replace_values(graph.outputs, renamed)
    return graph
