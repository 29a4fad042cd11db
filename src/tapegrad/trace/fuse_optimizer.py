"""The pass that folds RMSprop's update into the kernels that make the gradients.

In a traced training step the optimizer is one host call at the end,
``RMSprop._apply_pairs(optimizer, [(gradient, variable), ...])``: it reads
every gradient the backward pass wrote (W1's is 1.6 MB) and updates each
weight in a pass of its own.  ``fuse_optimizer_update`` rewrites the graph so
that the kernel making a gradient also applies it:

* ``dW = matmul(x, g, transpose_a=True)`` (a Dense layer's weight gradient)
  becomes ``weight_grad_rmsprop(x, g, w, v)``: the GEMM updates each tile of
  W from its registers (kernels/gemm/DESIGN.md, "Fused kernels"), dW is
  never stored;
* ``db = bias_grad(g)`` becomes ``bias_grad_rmsprop(g, b, v)``, and
  ``dh, db = relu_bias_grad(g, h)`` becomes ``dh = bias_grad_rmsprop(g, b, v,
  relu_input=h)``: the column sums go straight into the update.

A gradient is fused only when the optimizer's host call is its one reader,
and the fused call runs where it cannot change what another call reads: a
weight's update runs where the optimizer's step ran (its inputs are results
no one writes), a bias's where its gradient was made, if no call between
there and the optimizer's step reads the bias.  What is not fused stays in
the host call; when nothing stays, a small call still counts the step
(``optimizer.iterations``).  The learning rate is read from the optimizer
at every step, so a schedule or a callback that changes it is followed.
The numbers are the unfused step's, bit for bit: the fused kernels add the
same products in the same order and update with the same operations.
"""

from __future__ import annotations

from .. import kernels
from .graph import Node, TensorOf, Value


def _arrays(variable, slot):
    """The arrays an update writes, a Variable's and its slot's, as ``ops.apply_updates``
    takes them (a copy first when a tape still holds the old one)."""
    return (variable._own_data() if variable._pins else variable._data,
            slot._own_data() if slot._pins else slot._data)


def _settings(optimizer):
    """RMSprop's hyperparameters as they are now (a callback may change the learning rate)."""
    return {"learning_rate": optimizer.learning_rate, "rho": optimizer.rho, "epsilon": optimizer.epsilon}


def rmsprop_weight_step(optimizer, x, g, weight, slot, rows=None, backend=None):
    """RMSprop on the Variable ``weight`` (its mean squares ``slot``) with the gradient ``x.T @ g``."""
    w, v = _arrays(weight, slot)
    kernels.weight_grad_rmsprop(x, g, w, v, rows=rows, backend=backend, **_settings(optimizer))


def rmsprop_bias_step(optimizer, g, bias, slot, relu_input=None, backend=None):
    """RMSprop on the Variable ``bias`` with the column sums of ``g`` (masked by
    ``relu_input > 0`` when given, which is then returned)."""
    b, v = _arrays(bias, slot)
    return kernels.bias_grad_rmsprop(g, b, v, relu_input=relu_input, backend=backend, **_settings(optimizer))


def count_step(optimizer):
    """What is left of the optimizer's host call when every update is fused: its step count."""
    optimizer.iterations += 1
    return optimizer.iterations


def _rmsprop_apply(node):
    """The optimizer and its (gradient, variable) pairs when ``node`` is an
    RMSprop step's host call, else None."""
    if not node.op.endswith("._apply_pairs") or len(node.args) != 2 or node.kwargs:
        return None
    optimizer, pairs = node.args
    if getattr(optimizer, "_kernel", None) != "rmsprop_update" or not isinstance(pairs, list):
        return None
    if not all(isinstance(p, tuple) and len(p) == 2 and all(isinstance(t, TensorOf) for t in p) for p in pairs):
        return None
    return optimizer, pairs


def _slot(optimizer, var):
    """The Value of ``var``'s mean squares (an optimizer state Variable, made now if new)."""
    (slot,) = optimizer.slots_for(var.source)
    return Value(f"{var.name}_ms", "variable", slot, tuple(slot.shape), slot.dtype)


def _weight_gradient(node, var):
    """``(x, g)`` when ``node`` is ``matmul(x, g, transpose_a=True)`` making ``var``'s
    gradient from two results (not Variables, which the fused updates could change first)."""
    if node.op != "matmul" or len(node.args) != 2 or not node.kwargs.get("transpose_a") \
            or node.kwargs.get("transpose_b") or set(node.kwargs) - {"transpose_a", "transpose_b", "backend"}:
        return None
    x, g = node.args
    if not all(isinstance(a, Value) and a.kind in ("result", "input") and a.shape is not None and len(a.shape) == 2
               for a in (x, g)):
        return None
    if var.shape is None or tuple(var.shape) != (x.shape[1], g.shape[1]):
        return None
    return x, g


def fuse_optimizer_update(graph):
    """RMSprop's host call folded into the kernels that make the gradients (module docstring)."""
    graph = graph.copy()
    readers = graph.readers()
    outputs = set(graph.output_values())
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    producer = {v: n for n in graph.nodes for v in n.outputs}
    replace, before = {}, {}   # id(node) -> new node (None: dropped); id(apply) -> nodes to run before it
    for apply in graph.nodes:
        found = _rmsprop_apply(apply)
        if found is None or any(readers.get(v) or v in outputs for v in apply.outputs):
            continue
        optimizer, pairs = found
        kept, fused = [], []
        for pair in pairs:
            grad, var = pair[0].value, pair[1].value
            made_by = producer.get(grad)
            if var.kind != "variable" or made_by is None or readers.get(grad) != [apply] or grad in outputs \
                    or id(made_by) in replace:
                kept.append(pair)
                continue
            backend = {"backend": made_by.kwargs.get("backend")}
            operands = _weight_gradient(made_by, var)
            if operands is not None:
                slot = _slot(optimizer, var)
                fused.append(Node("weight_grad_rmsprop", rmsprop_weight_step, (optimizer, *operands, pair[1],
                                  TensorOf(slot, None)), backend, (), "none", writes=(var, slot),
                                  fused=("matmul", apply.op)))
                replace[id(made_by)] = None
            elif made_by.op == "bias_grad" and len(made_by.args) == 1 and made_by.outputs == (grad,):
                slot = _slot(optimizer, var)
                fused.append(Node("bias_grad_rmsprop", rmsprop_bias_step, (optimizer, made_by.args[0], pair[1],
                                  TensorOf(slot, None)), backend, (), "none", writes=(var, slot),
                                  fused=("bias_grad", apply.op)))
                replace[id(made_by)] = None
            elif made_by.op == "relu_bias_grad" and len(made_by.args) == 2 and made_by.outputs[1] is grad \
                    and all(not (position[id(made_by)] < position[id(r)] < position[id(apply)])
                            for r in readers.get(var, [])):
                slot = _slot(optimizer, var)
                g, h = made_by.args
                replace[id(made_by)] = Node("bias_grad_rmsprop", rmsprop_bias_step, (optimizer, g, pair[1],
                                            TensorOf(slot, None)), {"relu_input": h, **backend},
                                            (made_by.outputs[0],), "one", writes=(var, slot),
                                            fused=("relu_bias_grad", apply.op))
            else:
                kept.append(pair)
        if not fused and len(kept) == len(pairs):
            continue
        before[id(apply)] = fused
        if kept:
            replace[id(apply)] = Node(apply.op, apply.fn, (optimizer, kept), {}, (), apply.returns,
                                      writes=apply.writes, effect=True)
        else:
            replace[id(apply)] = Node(f"{type(optimizer).__name__}.count_step", count_step, (optimizer,), {}, (),
                                      "none", effect=True, fused=(apply.op,))
    nodes = []
    for node in graph.nodes:
        nodes += before.get(id(node), [])
        new = replace.get(id(node), node)
        if new is not None:
            nodes.append(new)
    graph.nodes = nodes
    return graph
