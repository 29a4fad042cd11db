"""The pass that folds a batch gather into the kernels that read the batch.

``fit`` hands a traced step the whole training arrays and each shuffled
batch's row numbers (``Trainer._train_step_rows``); the step gathers its
batch with the backend's ``take``, so the recorded graph starts with::

    t1 = xp.take(in0, in2, axis=0)          # x[rows]: 128 x 784 floats, copied
    t4 = dense_forward(t1, w1, b1, 'relu')  # ... read here
    weight_grad_rmsprop(opt, t1, g, w1, v1)  # ... and here

The gathered batch is read twice and never changed, and both readers have a
form that reads the rows where they are: ``dense_forward_rows(x, rows, ...)``
copies each row of the batch straight into the GEMM's packed blocks of A
(which it makes anyway), and ``weight_grad_rmsprop(x, g, ..., rows=rows)``
packs ``x[rows]^T`` the same way (kernels/gemm/DESIGN.md, "Fused kernels").
``fold_gather`` rewrites those readers; when no other reader is left the
gather itself is dead code, and a step no longer writes the batch out and
reads it back.  Gathering is exact and the row-reading kernels add the same
products in the same order, so the numbers do not change by a bit.

The labels' gather is read by ``class_ids`` alone (the private, checked int64
copy the loss and the metric read): the two calls become one,
``class_ids_at(y, rows)``, which takes the rows with the array's own ``take``
(bounds-checked) and checks the copy as ``class_ids`` does.  A gather some
other call reads (a convnet's batch) stays in the plan as it is.
"""

from __future__ import annotations

from .. import kernels
from .fuse_optimizer import rmsprop_weight_step
from .graph import Node, Value


def _row_gather(node):
    """``(source, rows)`` when ``node`` is ``xp.take(source, rows, axis=0)`` of a 2-D
    float array (a batch of inputs) or a 1-D array (of labels) by a 1-D integer
    index, else None."""
    if node.op != "xp.take" or len(node.args) != 2 or node.kwargs != {"axis": 0} or len(node.outputs) != 1:
        return None
    source, rows = node.args
    if not all(isinstance(v, Value) and v.shape is not None for v in (source, rows)):
        return None
    inputs = len(source.shape) == 2 and source.dtype.kind == "f"
    if not (inputs or len(source.shape) == 1) or len(rows.shape) != 1 or rows.dtype.kind not in "iu":
        return None
    return source, rows


def _dense_forward_at_rows(node, batch, source, rows):
    """``dense_forward(batch, w, b, act)`` as ``dense_forward_rows(source, rows, w, b, act)``, else None."""
    if node.op != "dense_forward" or not node.args or node.args[0] is not batch or len(node.args) > 4 \
            or any(batch is a for a in (*node.args[1:], *node.kwargs.values())) \
            or set(node.kwargs) - {"b", "activation", "backend", "out"}:
        return None
    new = Node("dense_forward_rows", kernels.dense_forward_rows, (source, rows, *node.args[1:]), node.kwargs,
               node.outputs, node.returns, out_keyword=node.out_keyword, fused=("xp.take", *(node.fused or
                                                                                             ("dense_forward",))))
    return new


def _weight_grad_at_rows(node, batch, source, rows):
    """RMSprop's fused weight step reading ``batch`` as its ``x``, made to read ``source[rows]``, else None."""
    if node.fn is not rmsprop_weight_step or len(node.args) != 5 or node.args[1] is not batch \
            or node.kwargs.get("rows") is not None or any(batch is a for a in (node.args[2], *node.kwargs.values())):
        return None
    optimizer, _, g, weight, slot = node.args
    return Node(node.op, node.fn, (optimizer, source, g, weight, slot), {**node.kwargs, "rows": rows},
                node.outputs, node.returns, writes=node.writes, effect=node.effect,
                fused=("xp.take", *node.fused))


def _class_ids_at_rows(node, batch, source, rows):
    """``class_ids(batch)`` of gathered labels as ``class_ids_at(source, rows)``, else None."""
    if node.fn is not kernels.class_ids or node.args != (batch,) or set(node.kwargs) - {"backend", "fn"}:
        return None
    return Node("class_ids_at", kernels.class_ids_at, (source, rows), node.kwargs, node.outputs, node.returns,
                fused=("xp.take", "class_ids"))


#: the readers of a gathered batch that can read the rows where they are, in the order tried
READERS_AT_ROWS = [_dense_forward_at_rows, _weight_grad_at_rows, _class_ids_at_rows]


def fold_gather(graph):
    """Each reader of a row gather ``xp.take(x, rows, axis=0)`` that has a form
    reading ``x`` through ``rows`` (``READERS_AT_ROWS``) is rewritten to it; the
    gather stays for its other readers (``dead_code`` drops it when none is left).
    ``x`` must be an input or a Variable's array that no call of the step writes
    (the gathered copy was taken before any of them ran)."""
    graph = graph.copy()
    written = {v for node in graph.nodes for v in node.writes}
    outputs = set(graph.output_values())
    replace = {}
    for node in graph.nodes:
        found = _row_gather(node)
        if found is None:
            continue
        source, rows = found
        batch = node.outputs[0]
        if source.kind not in ("input", "variable") or source in written or rows in written or batch in outputs:
            continue
        for reader in graph.nodes:
            if batch not in reader.inputs() or id(reader) in replace:
                continue
            for rule in READERS_AT_ROWS:
                new = rule(reader, batch, source, rows)
                if new is not None:
                    replace[id(reader)] = new
                    break
    graph.nodes = [replace.get(id(n), n) for n in graph.nodes]
    return graph
