"""Passes over a traced graph: each one function ``graph -> graph``, run in ``PIPELINE`` order.

A pass takes a :class:`~tapegrad.trace.graph.Graph`, never changes it, and
returns a new one (``graph.copy()`` first) that computes the same numbers:

``dead_code``
    drops the calls whose outputs nothing reads and that write nothing (a
    value the function computed and then ignored).
``fold_constants``
    runs once, now, the calls that read only constants, and makes their
    outputs constants of the plan.
``fuse_elementwise``
    replaces a chain of calls by one fused kernel where tapegrad has one
    (``FUSIONS``): ``matmul`` then a bias ``xp.add`` then ``relu`` becomes
    one ``dense_forward``, which adds the bias and applies relu in the GEMM's
    epilogue while the tile is still in registers; ``relu_backward`` then
    the column sums of its result (the bias gradient) becomes one
    ``relu_bias_grad``, other column sums one ``bias_grad``.
``fuse_optimizer_update`` (fuse_optimizer.py)
    folds RMSprop's update into the kernels that make the gradients.
``fuse_head`` (fuse_head.py)
    a classifier's softmax, sparse cross-entropy, mean loss, the mean's
    gradient and its accuracy become one ``softmax_cross_entropy_head`` call;
    ``fuse_head_backward`` makes the output layer's backward (``dz @ W.T``
    and the RMSprop steps of W, b and the relu layer's bias) one call.
``fold_gather`` (gather.py)
    a batch gathered in the step (``xp.take(x, rows, axis=0)``, fit's shuffled
    batch) is read where it lies by the kernels that can: the first Dense
    layer's ``dense_forward_rows`` and its fused weight update.
``reuse_buffers``
    gives each call that can write into a given array (an ``out=`` keyword)
    a buffer planned now, allocated once when the plan is built; two values
    whose lifetimes do not overlap share one buffer.  A step then allocates
    only what its kernels cannot take an ``out`` for, and what it returns.
``bind_kernels`` (bind.py)
    binds the GEMM and fused-update calls to the backend's entry points: the
    checks the trace settled are not repeated at each step, those on what can
    change (a Variable's array, the rows, the learning rate) are.

To add a pass, write ``def my_pass(graph): graph = graph.copy(); ...; return
graph`` and insert it in ``PIPELINE`` before ``reuse_buffers`` (buffer
planning needs the final list of calls; binding, the planned buffers).  ``run_pipeline`` runs the list and keeps
every intermediate graph, so a reader can draw each step.
"""

from __future__ import annotations

from .. import kernels
from .fuse_optimizer import fuse_optimizer_update   # trace-fuse's pass (kernels/gemm/DESIGN.md)
from .fuse_pool import fuse_pool_backward   # Conv2D(relu) -> MaxPooling2D's backward (kernels/conv/DESIGN.md)
from .fuse_head import fuse_head, fuse_head_backward   # a classifier's softmax, loss, mean, gradient and accuracy in one call
from .bind import bind_kernels
from .gather import fold_gather
from .graph import Buffer, Node, Value, replace_values


# ---------------------------------------------------------------- dead code
def dead_code(graph):
    """Drop the nodes that nothing needs: walking backwards, a node is kept
    when it has an effect, writes a Variable, or makes a value a kept node
    (or the function's return) reads."""
    graph = graph.copy()
    live = set(graph.output_values())
    kept = []
    for node in reversed(graph.nodes):
        needed = node.effect or any(v.kind == "variable" or v in live for v in node.writes) \
            or any(v in live for v in node.outputs)
        if needed:
            kept.append(node)
            live.update(node.inputs())
            live.update(node.writes)
    graph.nodes = kept[::-1]
    return graph


# ---------------------------------------------------------------- constant folding
def _constant_of(item):
    """``item`` with each constant Value replaced by the array it holds (for running a node now)."""
    if isinstance(item, Value):
        return item.source
    if isinstance(item, (list, tuple)):
        return type(item)(_constant_of(x) for x in item)
    if isinstance(item, dict):
        return {k: _constant_of(x) for k, x in item.items()}
    return item


def fold_constants(graph):
    """Run now, once, every node that reads only constants (the gradient of a mean
    starts as one: ``broadcast_to(1) / n``); its outputs become constants of the plan.
    Nodes with an effect (host calls, in-place updates) are never folded."""
    graph = graph.copy()
    mapping, kept = {}, []
    for node in graph.nodes:
        node.args, node.kwargs = replace_values(node.args, mapping), replace_values(node.kwargs, mapping)
        inputs = node.inputs()
        if node.effect or node.writes or not node.outputs or not all(v.kind == "constant" for v in inputs):
            kept.append(node)
            continue
        result = node.fn(*_constant_of(node.args), **_constant_of(node.kwargs))
        results = result if node.returns == "tuple" else (result,)
        for old, new in zip(node.outputs, results):
            mapping[old] = Value(old.name.replace("t", "c", 1) if old.name[0] in "tv" else old.name, "constant",
                                 new, old.shape, old.dtype)
    graph.nodes = kept
    graph.outputs = replace_values(graph.outputs, mapping)
    return graph


# ---------------------------------------------------------------- element-wise fusion
def _only_reader(readers, value, graph_outputs):
    """The one node reading ``value``, or None (read twice, or returned)."""
    nodes = readers.get(value, [])
    if len(nodes) != 1 or value in graph_outputs:
        return None
    return nodes[0]


def _bias_of(add, produced, matmul_out):
    """The bias vector of ``xp.add(matmul_out, bias)`` (either order), or None."""
    if add.op != "xp.add" or len(add.args) != 2 or add.kwargs:
        return None
    a, b = add.args
    bias = b if a is matmul_out else a if b is matmul_out else None
    if not isinstance(bias, Value) or bias.shape is None or len(bias.shape) != 1:
        return None
    if bias.shape[0] != produced.shape[1] or bias.dtype != produced.dtype:
        return None
    return bias


def _fuse_dense(graph, readers, outputs):
    """``matmul(x, w)`` -> ``xp.add(., b)`` [-> ``relu(.)``] becomes ``dense_forward(x, w, b, act)``;
    ``dense_forward(x, w, b, None)`` -> ``relu(.)`` becomes ``dense_forward(x, w, b, "relu")``."""
    replaced = {}   # id(node) -> new node (or None: merged away)
    for node in graph.nodes:
        if id(node) in replaced:
            continue
        if node.op == "matmul" and not node.kwargs.get("transpose_a") and not node.kwargs.get("transpose_b") \
                and len(node.args) == 2:
            product = node.outputs[0]
            add = _only_reader(readers, product, outputs)
            bias = add and _bias_of(add, product, product)
            if bias is None:
                continue
            chain, summed, activation, last = [node, add], add.outputs[0], None, add
            relu = _only_reader(readers, summed, outputs)
            if relu is not None and relu.op == "relu" and relu.args == (summed,) and "out" not in relu.kwargs:
                chain, activation, last = chain + [relu], "relu", relu
            x, w = node.args
            fused = Node("dense_forward", kernels.dense_forward, (x, w, bias), {
                "activation": activation, "backend": node.kwargs.get("backend")},
                last.outputs, out_keyword="out", fused=tuple(n.op for n in chain))
        elif node.op == "dense_forward" and len(node.args) == 3 and node.kwargs.get("activation") is None:
            relu = _only_reader(readers, node.outputs[0], outputs)
            if relu is None or relu.op != "relu" or relu.args != (node.outputs[0],) or "out" in relu.kwargs:
                continue
            chain, last = [node, relu], relu
            fused = Node("dense_forward", kernels.dense_forward, node.args, {
                **node.kwargs, "activation": "relu"}, relu.outputs, out_keyword="out",
                fused=(*(node.fused or ("dense_forward",)), "relu"))
        else:
            continue
        replaced[id(last)] = fused            # the fused call runs where the chain's last call ran,
        for merged in chain[:-1]:             # after every input of the chain is ready
            replaced[id(merged)] = None
    return [replaced.get(id(n), n) for n in graph.nodes if replaced.get(id(n), n) is not None], {}


def _column_sum(node, readers, outputs):
    """When ``node`` is ``xp.sum(g, axis=(0,), keepdims=True)`` of a 2-D ``g`` read
    only through a reshape to ``(n,)``: that view node (the bias gradient), else None."""
    if node.op != "xp.sum" or node.kwargs.get("axis") not in ((0,), 0) or not node.kwargs.get("keepdims") \
            or len(node.args) != 1 or set(node.kwargs) - {"axis", "keepdims"}:
        return None
    g = node.args[0]
    if not isinstance(g, Value) or g.shape is None or len(g.shape) != 2 or g.dtype.kind != "f":
        return None
    view = _only_reader(readers, node.outputs[0], outputs)
    if view is None or view.op != "view" or view.args[0] is not node.outputs[0]:
        return None
    _, offset, shape, strides, _ = view.args
    if offset != 0 or shape != (g.shape[1],) or strides != (g.dtype.itemsize,):
        return None
    return view


def _fuse_bias_grad(graph, readers, outputs):
    """``relu_backward(g, y)`` then its column sums (``xp.sum(axis=0)`` and a
    reshape) become ONE ``relu_bias_grad(g, y)`` pass that returns both; column
    sums of any other 2-D gradient become one ``bias_grad`` kernel call."""
    replaced, renamed = {}, {}
    producer = {v: n for n in graph.nodes for v in n.outputs}
    for node in graph.nodes:
        view = _column_sum(node, readers, outputs)
        if view is None or id(node) in replaced:
            continue
        g, old = node.args[0], view.outputs[0]
        db = renamed[old] = Value(old.name, "result", None, old.shape, old.dtype)   # made by a kernel: no view
        backend = next((n.kwargs.get("backend") for n in graph.nodes if n.kwargs.get("backend") is not None), None)
        relu = producer.get(g)
        if relu is not None and relu.op == "relu_backward" and len(relu.args) == 2 and "out" not in relu.kwargs \
                and id(relu) not in replaced:
            fused = Node("relu_bias_grad", kernels.relu_bias_grad, relu.args, {"backend": relu.kwargs.get("backend")},
                         (relu.outputs[0], db), "tuple", fused=("relu_backward", "xp.sum", "view"))
            replaced[id(relu)] = fused          # both outputs made where the mask was
        else:
            fused = Node("bias_grad", kernels.bias_grad, (g,), {"backend": backend}, (db,),
                         out_keyword="out", fused=("xp.sum", "view"))
            replaced[id(view)] = fused
            replaced[id(node)] = None
            continue
        replaced[id(node)] = replaced[id(view)] = None
    return [replaced.get(id(n), n) for n in graph.nodes if replaced.get(id(n), n) is not None], renamed


#: the fusion rules ``fuse_elementwise`` applies, in order: each maps a graph
#: (with its readers and returned values) to a new list of nodes and a dict
#: ``{old value: new value}`` for the outputs it remade
FUSIONS = [_fuse_dense, _fuse_bias_grad]


def fuse_elementwise(graph):
    """Apply each rule of ``FUSIONS``: a chain of calls whose intermediate
    values nobody else reads becomes one call of a fused kernel."""
    graph = graph.copy()
    for rule in FUSIONS:
        graph.nodes, renamed = rule(graph, graph.readers(), set(graph.output_values()))
        if renamed:
            for node in graph.nodes:
                node.args, node.kwargs = replace_values(node.args, renamed), replace_values(node.kwargs, renamed)
            graph.outputs = replace_values(graph.outputs, renamed)
    return graph


# ---------------------------------------------------------------- buffers
def _base(value):
    while value.view_of is not None:
        value = value.view_of
    return value


def reuse_buffers(graph):
    """Plan one buffer for each array a node can write into (``out_keyword``).

    A value lives from the node that makes it to the last node that reads it
    (or reads a view of it).  Walking the nodes in order, a buffer whose value
    has died goes back to a free list keyed by (shape, dtype) and the next
    value of that shape and dtype takes it.  Not planned: the values the
    function returns (a caller keeps them, so each call makes new ones), the
    values some node writes in place, calls given an ``out`` already, and 0-d
    values (NumPy hands back a scalar for them without ``out``, an array with
    it, and a later call could then return that buffer itself).
    """
    graph = graph.copy()
    last_read = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs():
            last_read[_base(v)] = i
    pinned = {_base(v) for v in graph.output_values()}
    for node in graph.nodes:
        pinned.update(_base(v) for v in node.writes)
    free, buffers, dying = {}, [], {}
    for i, node in enumerate(graph.nodes):
        node.buffer = None
        value = node.outputs[0] if len(node.outputs) == 1 else None
        if (node.out_keyword and node.returns == "one" and value is not None and value.shape  # not 0-d: see above
                and value not in pinned and node.out_keyword not in node.kwargs and value in last_read):
            key = (tuple(value.shape), value.dtype)
            pool = free.get(key)
            if pool:
                node.buffer = pool.pop()
            else:
                node.buffer = Buffer(f"buf{len(buffers)}", value.shape, value.dtype)
                buffers.append(node.buffer)
            dying.setdefault(last_read[value], []).append((key, node.buffer))
        for key, buffer in dying.pop(i, ()):   # free after this node ran: the next node may reuse it
            free.setdefault(key, []).append(buffer)
    graph.buffers = buffers
    return graph


#: the passes ``run_pipeline`` runs, in order (fusion passes before ``reuse_buffers``)
PIPELINE = [dead_code, fold_constants, fuse_elementwise, fuse_optimizer_update, fuse_pool_backward, fuse_head,
            fuse_head_backward, fold_gather, dead_code, reuse_buffers, bind_kernels]


def run_pipeline(graph, pipeline=None):
    """Run each pass of ``pipeline`` (default ``PIPELINE``) in turn; returns
    the final graph and the list ``[(pass name, graph after it), ...]``."""
    steps = []
    for each in PIPELINE if pipeline is None else pipeline:
        graph = each(graph)
        steps.append((each.__name__, graph))
    return graph, steps
