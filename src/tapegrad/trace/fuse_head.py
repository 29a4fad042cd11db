"""The pass that makes a classifier's head, after its logits, one call.

A Keras classifier compiled with ``loss="sparse_categorical_crossentropy"``
and ``metrics=["accuracy"]`` records, after the last Dense layer's logits
``z``, eight calls of Python and small kernels:

    p = softmax(z)                                         # for the accuracy only
    losses, g = softmax_cross_entropy(z, ids, reduction='none')
    s = xp.sum(losses); m = xp.true_divide(s, N); m = xp.asarray(m)
    Mean.update_state(loss, m, sample_weight=N)            # the "loss" of the logs
    dz = xp.multiply(g, 1/N)                               # the mean's gradient
    ...                                                    # the backward pass, the updates
    _AccuracyByShape.update_state(accuracy, ids, p)        # argmax(p) == ids, counted

``fuse_head`` rewrites them into ONE ``softmax_cross_entropy_head`` call
(``softmax_head_step``): the kernel (kernels/losses: on numba one pass over
each row) returns the losses' sum, the number of rows whose argmax is their
label and ``dz``, and the step adds the mean loss and the hits to the two
metrics' running totals as their ``update_state`` would.  The labels are
checked against the number of classes before the kernel runs, as the loss
checked them.  The numbers are the unfused calls', bit for bit: the kernel
makes the probabilities, the losses, their sum (in ``np.sum``'s order) and the
scaled gradient with the same operations.

The chain is rewritten only when it is exactly this: each intermediate value
read by the next call alone, the host arrays' ``np.sum``/``np.true_divide``/
``np.asarray``/``np.multiply`` by Python numbers, the stock ``Mean`` and
(when present) the stock sparse categorical accuracy, with no sample weights
(they are other calls: a weighted step keeps its calls).  The accuracy joins
only when the probabilities have no other reader; otherwise it stays as it is.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..tensor import Tensor
from .fuse_optimizer import _arrays, _settings, rmsprop_bias_step, rmsprop_weight_step
from .graph import Node, TensorOf, Value

_METRICS = "tapegrad.keras.metrics"


def _stock(fn, qualname):
    """``fn`` is tapegrad's own metric method ``qualname`` (not a user's override)."""
    fn = getattr(fn, "__wrapped__", fn)
    return getattr(fn, "__module__", None) == _METRICS and getattr(fn, "__qualname__", None) == qualname


def _hits_counter(metric):
    """The metric a batch's correct rows are added to, when ``metric`` counts them as
    tapegrad's sparse categorical accuracy does (its ``hits_counter()``), else None."""
    counter = getattr(metric, "hits_counter", None)
    return counter() if callable(counter) else None


def _number(x):
    return type(x) in (int, float)


def softmax_head_step(logits, labels, scale, divisor, loss_metric, sample_weight, accuracy=None, counter=None,
                      *, out=None, backend=None):
    """What the head's eight calls did (module docstring); returns the gradient ``dz``."""
    be = kernels.get_backend(backend)
    loss_sum, correct, grad = kernels.softmax_cross_entropy_head(logits, labels, scale, out=out, backend=be)
    add_to_metrics(be, loss_sum, correct, logits, labels, divisor, loss_metric, sample_weight, accuracy, counter)
    return grad


def add_to_metrics(be, loss_sum, correct, logits, labels, divisor, loss_metric, sample_weight, accuracy, counter):
    """The two metrics' ``update_state``, given the head's sums: the mean loss is ``loss_sum /
    divisor`` in the logits' dtype (``xp.true_divide``), added to ``loss_metric`` weighted by
    ``sample_weight`` (as ``Mean.update_state`` adds a 0-d value); the hits go to ``counter``,
    the sparse accuracy ``accuracy`` counts with, while it still is (else ``accuracy.update_state``
    is called with the softmax probabilities, as before the fusion)."""
    like = Tensor._wrap(logits, be)
    mean = np.true_divide(loss_sum, divisor)
    counted = float(sample_weight)
    loss_metric.add_batch_totals(counted * np.float64(mean), counted, like)
    if accuracy is not None:
        if accuracy.hits_counter() is counter:
            counter.add_batch_totals(correct, logits.shape[0], like)
        else:
            accuracy.update_state(labels, Tensor._wrap(kernels.softmax(logits, backend=be), be))


def _only(readers, outputs, value):
    found = readers.get(value, [])
    return found[0] if len(found) == 1 and value not in outputs else None


def _is(node, op, fn, nargs, kwargs=()):
    """``node`` calls ``fn`` (itself or a recording door around it) with ``nargs`` arguments
    and keywords among ``kwargs``."""
    return node is not None and node.op == op and getattr(node.fn, "__wrapped__", node.fn) is fn \
        and len(node.args) == nargs \
        and set(node.kwargs) <= set(kwargs)


def _find_head(sce, readers, outputs):
    """The head's nodes and constants starting at ``sce`` (a ``softmax_cross_entropy``), or None."""
    if not _is(sce, "softmax_cross_entropy", kernels.softmax_cross_entropy, 2, ("reduction", "backend")) \
            or sce.kwargs.get("reduction") != "none" or len(sce.outputs) != 2:
        return None
    logits, ids = sce.args
    losses, g = sce.outputs
    if not isinstance(logits, Value) or logits.shape is None or len(logits.shape) != 2 \
            or logits.dtype is None or logits.dtype.kind != "f" or not isinstance(ids, Value):
        return None
    total = _only(readers, outputs, losses)
    if not _is(total, "xp.sum", np.sum, 1) or total.kwargs or total.args[0] is not losses:
        return None
    divide = _only(readers, outputs, total.outputs[0])
    if not _is(divide, "xp.true_divide", np.true_divide, 2) or divide.args[0] is not total.outputs[0] \
            or not _number(divide.args[1]):
        return None
    as_array = _only(readers, outputs, divide.outputs[0])
    if not _is(as_array, "xp.asarray", np.asarray, 1) or as_array.args[0] is not divide.outputs[0]:
        return None
    mean = _only(readers, outputs, as_array.outputs[0])
    if mean is None or not _stock(mean.fn, "Mean.update_state") or len(mean.args) != 2 \
            or set(mean.kwargs) != {"sample_weight"} or not _number(mean.kwargs["sample_weight"]) \
            or not isinstance(mean.args[1], TensorOf) or mean.args[1].value is not as_array.outputs[0] \
            or not callable(getattr(mean.args[0], "add_batch_totals", None)):
        return None
    scaled = _only(readers, outputs, g)
    if not _is(scaled, "xp.multiply", np.multiply, 2) or scaled.args[0] is not g or not _number(scaled.args[1]) \
            or scaled.outputs[0].dtype != logits.dtype or scaled.outputs[0].shape != logits.shape:
        return None
    head = {"sce": sce, "merged": [total, divide, as_array, mean, scaled], "logits": logits, "ids": ids,
            "scale": scaled.args[1], "divisor": divide.args[1], "loss_metric": mean.args[0],
            "sample_weight": mean.kwargs["sample_weight"], "dz": scaled.outputs[0], "accuracy": None}
    # the accuracy on softmax(logits), when the probabilities are read by it alone
    for soft in readers.get(logits, []):
        if not _is(soft, "softmax", kernels.softmax, 1, ("backend",)) or soft.outputs[0] in outputs:
            continue
        probs = soft.outputs[0]
        update = _only(readers, outputs, probs)
        if update is None or len(update.args) != 3 or update.kwargs or update.args[1] is not ids \
                or not isinstance(update.args[2], TensorOf) or update.args[2].value is not probs:
            continue
        if not (_stock(update.fn, "_AccuracyByShape.update_state") or _stock(update.fn, "_ArgmaxMatchRate.update_state")):
            continue
        counter = _hits_counter(update.args[0])
        if counter is not None:
            head["merged"] += [soft, update]
            head["accuracy"], head["counter"] = update.args[0], counter
            break
    return head


def fuse_head(graph):
    """The softmax, the loss, its mean, the mean's gradient and the accuracy in one call (module docstring)."""
    graph = graph.copy()
    readers = graph.readers()
    outputs = set(graph.output_values())
    replace = {}
    for node in graph.nodes:
        head = _find_head(node, readers, outputs) if node.op == "softmax_cross_entropy" else None
        if head is None or any(id(n) in replace for n in head["merged"]):
            continue
        args = (head["logits"], head["ids"], head["scale"], head["divisor"], head["loss_metric"],
                head["sample_weight"], head["accuracy"], head.get("counter"))
        replace[id(node)] = Node("softmax_cross_entropy_head", softmax_head_step, args,
                                 {"backend": node.kwargs.get("backend")}, (head["dz"],), "one", out_keyword="out",
                                 effect=True, fused=tuple(n.op for n in [node, *head["merged"]]))
        for merged in head["merged"]:
            replace[id(merged)] = None
    if not replace:
        return graph
    graph.nodes = [replace.get(id(n), n) for n in graph.nodes if replace.get(id(n), n) is not None]
    return graph


# ---------------------------------------------------------------- the narrow output layer's backward
def rmsprop_dense_backward_step(optimizer, dz, h, weight, bias, weight_slot, bias_slot, prev_bias, prev_slot,
                                backend=None):
    """``dh`` of the output layer ``h @ weight + bias`` (relu-masked by ``h > 0``), and the
    RMSprop steps of ``prev_bias`` (the relu layer's bias), ``weight`` and ``bias``
    (``kernels.dense_backward_rmsprop``), the learning rate read now."""
    (w, vw), (b, vb), (pb, pv) = _arrays(weight, weight_slot), _arrays(bias, bias_slot), _arrays(prev_bias, prev_slot)
    return kernels.dense_backward_rmsprop(dz, h, w, b, vw, vb, pb, pv, backend=backend, **_settings(optimizer))


def _step_of(node, fn, nargs, kwargs):
    """``node`` when it is a fused RMSprop step ``fn`` of ``nargs`` arguments, keywords among ``kwargs``."""
    if node is None or node.fn is not fn or len(node.args) != nargs or set(node.kwargs) - set(kwargs):
        return None
    if not all(isinstance(a, TensorOf) for a in node.args[-2:]):
        return None
    return node


def _find_backward(weight_step, readers, outputs, position, nodes):
    """The four calls of the output layer's backward around ``weight_step``, or None."""
    w_step = _step_of(weight_step, rmsprop_weight_step, 5, ("backend",))
    if w_step is None:
        return None
    optimizer, h, dz, weight, weight_slot = w_step.args
    if not all(isinstance(v, Value) and v.shape is not None and len(v.shape) == 2 for v in (h, dz)) \
            or weight.value.kind != "variable" or weight.value.shape != (h.shape[1], dz.shape[1]) \
            or h.shape[0] != dz.shape[0]:
        return None
    product = b_step = prev_step = None
    for reader in readers.get(dz, []):
        if reader.op == "matmul" and reader.fn is kernels.matmul and reader.args == (dz, weight.value) \
                and reader.kwargs.get("transpose_b") is True and not reader.kwargs.get("transpose_a") \
                and set(reader.kwargs) <= {"transpose_a", "transpose_b", "backend"}:
            product = reader
        elif _step_of(reader, rmsprop_bias_step, 4, ("backend",)) is not None and reader.args[1] is dz:
            b_step = reader
    if product is None or b_step is None:
        return None
    prev_step = _only(readers, outputs, product.outputs[0])
    if _step_of(prev_step, rmsprop_bias_step, 4, ("relu_input", "backend")) is None \
            or prev_step.args[1] is not product.outputs[0] or prev_step.kwargs.get("relu_input") is not h \
            or len(prev_step.outputs) != 1:
        return None
    if not (prev_step.args[0] is b_step.args[0] is optimizer):
        return None
    group = [product, prev_step, w_step, b_step]
    first, last = min(position[id(n)] for n in group), max(position[id(n)] for n in group)
    if position[id(prev_step)] < position[id(product)]:
        return None
    # the four run where b_prev's step ran: no other call in between may read or write what
    # they update (or write what they read)
    # (Variables compared by the Variable itself: each pass makes its own Value of a slot)
    watched = {id(t.value.source) for t in (weight, weight_slot, *b_step.args[2:], *prev_step.args[2:])}
    read_only = {dz, h}
    for node in nodes[first + 1:last]:
        if any(node is n for n in group):
            continue
        touched = [*node.inputs(), *node.writes]
        if any(v.kind == "variable" and id(v.source) in watched for v in touched) or read_only & set(node.writes):
            return None
    return group


def fuse_head_backward(graph):
    """The output layer's backward and its three RMSprop steps in one call (``dense_backward_rmsprop``):
    ``dz @ W.T``, b_prev's step masked by ``h > 0``, W's step and b's step, which the traced
    step made as four calls after ``fuse_optimizer_update``.  Matched only when the four
    share one optimizer and nothing else in between touches what they update."""
    graph = graph.copy()
    readers = graph.readers()
    outputs = set(graph.output_values())
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    replace = {}
    for node in graph.nodes:
        group = _find_backward(node, readers, outputs, position, graph.nodes) \
            if node.op == "weight_grad_rmsprop" else None
        if group is None or any(id(n) in replace for n in group):
            continue
        product, prev_step, w_step, b_step = group
        optimizer, h, dz, weight, weight_slot = w_step.args
        args = (optimizer, dz, h, weight, b_step.args[2], weight_slot, b_step.args[3], prev_step.args[2],
                prev_step.args[3])
        replace[id(prev_step)] = Node("dense_backward_rmsprop", rmsprop_dense_backward_step, args,
                                      {"backend": w_step.kwargs.get("backend")}, prev_step.outputs, "one",
                                      writes=(*prev_step.writes, *w_step.writes, *b_step.writes),
                                      fused=tuple(n.op for n in group))
        for merged in (product, w_step, b_step):
            replace[id(merged)] = None
    if not replace:
        return graph
    graph.nodes = [replace.get(id(n), n) for n in graph.nodes if replace.get(id(n), n) is not None]
    return graph
