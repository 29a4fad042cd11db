"""The traced graph: values, the calls between them, and its drawing in DOT.

A :class:`Graph` is a straight list of :class:`Node` calls in the order they
ran when the function was traced.  Each node is one call ``fn(*args,
**kwargs)`` of a kernel (``tapegrad.kernels.matmul``), of the backend's array
math (``xp.add``), or of a *host call*: a Python method that keeps Python
state and is re-run as Python at every step (an optimizer's
``apply_gradients``, a metric's ``update_state``, ``tapegrad.print``).  In
``args`` and ``kwargs`` every array is replaced by the :class:`Value` that
stands for it; everything else (flags, shapes, learning rates) is a constant
of the graph.

A value is one of four kinds: an ``input`` of the function (a new array at
each call), a ``variable`` (a ``tapegrad.Variable`` read by reference: its
current array at each call), a ``constant`` (an array or object fixed at
trace time) or a ``result`` of a node.  A node may also write values in place
(``writes``: a Variable updated by the optimizer) or have another effect
(``effect``: printing, Python state); dead-code removal keeps those.
"""

from __future__ import annotations

import copy


def quote(text):
    """``text`` as a DOT string; a newline (or the two characters ``\\n``) breaks the line."""
    return '"' + str(text).replace('"', '\\"').replace("\n", "\\n") + '"'


class Value:
    """One array (or object) of the graph.

    ``kind`` is ``"input"``, ``"variable"``, ``"constant"`` or ``"result"``;
    ``source`` is the input's position, the Variable, the constant itself, or
    None for a result (``producer`` is then the node).  ``shape`` and
    ``dtype`` are None for a non-array (a ``ClassIds`` batch of labels, a
    Python value a host call returned).  ``view_of`` names the value whose
    memory a view shares (the buffer planner keeps the base alive as long as
    the view).
    """

    __slots__ = ("name", "kind", "source", "shape", "dtype", "producer", "view_of")

    def __init__(self, name, kind, source=None, shape=None, dtype=None, producer=None, view_of=None):
        self.name, self.kind, self.source = name, kind, source
        self.shape, self.dtype, self.producer, self.view_of = shape, dtype, producer, view_of

    def describe(self):
        """``f32[128, 512]`` or the value's kind when it is not an array."""
        if self.shape is None:
            return type(self.source).__name__ if self.kind == "constant" else "object"
        return f"{self.dtype.name}[{', '.join(map(str, self.shape))}]"

    def __repr__(self):
        return f"<Value {self.name} {self.kind} {self.describe()}>"


class Buffer:
    """A preallocated array that a node writes its output into (``out=``):
    planned once by the ``reuse_buffers`` pass, allocated once when the plan
    is built, written at every step.  Several values whose lifetimes do not
    overlap share one buffer."""

    __slots__ = ("name", "shape", "dtype")

    def __init__(self, name, shape, dtype):
        self.name, self.shape, self.dtype = name, tuple(shape), dtype

    def __repr__(self):
        return f"<Buffer {self.name} {self.dtype.name}{list(self.shape)}>"


class Node:
    """One call of the plan: ``outputs = fn(*args, **kwargs)``.

    ``op`` is the short name drawn and printed (``"matmul"``, ``"xp.add"``,
    ``"RMSprop.apply_gradients"``).  ``returns`` says how the call's return
    value maps onto ``outputs``: ``"one"`` (a single value), ``"tuple"``
    (unpacked, one value per item) or ``"none"`` (nothing used).
    ``out_keyword`` is the keyword under which ``fn`` accepts a
    preallocated output (``"out"``), when it does and the call returns one
    array; ``buffer`` is the :class:`Buffer` the reuse pass chose for it.
    ``writes`` lists the values the call changes in place, ``effect`` marks a
    call that must run even when nothing reads its outputs.  ``fused`` lists
    the names of the nodes a fusion pass merged into this one.
    """

    __slots__ = ("op", "fn", "args", "kwargs", "outputs", "returns", "out_keyword", "buffer",
                 "writes", "effect", "fused")

    def __init__(self, op, fn, args, kwargs, outputs, returns="one", *, out_keyword=None, writes=(),
                 effect=False, fused=()):
        self.op, self.fn, self.args, self.kwargs = op, fn, tuple(args), dict(kwargs)
        self.outputs, self.returns = tuple(outputs), returns
        self.out_keyword, self.buffer = out_keyword, None
        self.writes, self.effect, self.fused = tuple(writes), bool(effect), tuple(fused)

    def inputs(self):
        """Every value this node reads, in argument order (nested lists and dicts included)."""
        found = []
        for item in (*self.args, *self.kwargs.values()):
            _values_in(item, found)
        return found

    def __repr__(self):
        return f"<Node {self.op} -> {', '.join(v.name for v in self.outputs) or '-'}>"


class TensorOf:
    """In a host call's arguments: the Tensor the call was given, whose array
    is ``value`` (a Variable is passed as itself; any other value is wrapped
    in a new Tensor at each step, on ``backend``)."""

    __slots__ = ("value", "backend")

    def __init__(self, value, backend):
        self.value, self.backend = value, backend

    def __repr__(self):
        return f"Tensor({self.value.name})"


def _values_in(item, found):
    if isinstance(item, Value):
        found.append(item)
    elif isinstance(item, TensorOf):
        found.append(item.value)
    elif isinstance(item, (list, tuple)):
        for x in item:
            _values_in(x, found)
    elif isinstance(item, dict):
        for x in item.values():
            _values_in(x, found)


def replace_values(item, mapping):
    """``item`` (an argument, possibly nested) with each Value ``v`` replaced by ``mapping.get(v, v)``."""
    if isinstance(item, Value):
        return mapping.get(item, item)
    if isinstance(item, TensorOf):
        return TensorOf(mapping.get(item.value, item.value), item.backend)
    if isinstance(item, list):
        return [replace_values(x, mapping) for x in item]
    if isinstance(item, tuple):
        return tuple(replace_values(x, mapping) for x in item)
    if isinstance(item, dict):
        return {k: replace_values(x, mapping) for k, x in item.items()}
    return item


class Graph:
    """The traced function: ``inputs`` (Values, in the flattened order of the
    call's tensor arguments), ``nodes`` in run order, and ``outputs``, the
    function's return value with Values at its leaves (any nesting of lists,
    tuples and dicts).  ``buffers`` are filled in by the ``reuse_buffers``
    pass.  A pass never changes the graph it is given: :meth:`copy` first."""

    def __init__(self, name, inputs, nodes, outputs, buffers=()):
        self.name = name
        self.inputs, self.nodes, self.outputs = list(inputs), list(nodes), outputs
        self.buffers = list(buffers)

    def copy(self):
        """A graph a pass may change: new node objects (shallow copies), same values."""
        nodes = [copy.copy(node) for node in self.nodes]
        for node in nodes:
            node.kwargs = dict(node.kwargs)
        return Graph(self.name, self.inputs, nodes, self.outputs, self.buffers)

    def output_values(self):
        found = []
        _values_in(self.outputs, found)
        return found

    def readers(self):
        """value -> the nodes that read it, in run order."""
        readers = {}
        for node in self.nodes:
            for v in node.inputs():
                readers.setdefault(v, []).append(node)
        return readers

    def values(self):
        """Every value of the graph, inputs first, then in the order nodes read or make them."""
        seen = {}
        for v in self.inputs:
            seen.setdefault(v, None)
        for node in self.nodes:
            for v in (*node.inputs(), *node.outputs):
                seen.setdefault(v, None)
        for v in self.output_values():
            seen.setdefault(v, None)
        return list(seen)

    def summary(self):
        """One line per node: ``t5 = matmul(t3, w0, transpose_b=True)``, for reading in a terminal."""
        lines = []
        for node in self.nodes:
            call = f"{node.op}({_argument_text(node)})"
            outs = ", ".join(v.name for v in node.outputs)
            lines.append(f"{outs} = {call}" if outs else call)
        return "\n".join(lines)


def _argument_text(node):
    parts = [_short(a) for a in node.args]
    parts += [f"{k}={_short(v)}" for k, v in node.kwargs.items() if k not in ("backend",)]
    if node.buffer is not None:
        parts.append(f"{node.out_keyword}={node.buffer.name}")
    return ", ".join(parts)


def _short(item):
    if isinstance(item, Value):
        return item.name
    if isinstance(item, TensorOf):
        return repr(item)
    if isinstance(item, (list, tuple)):
        inner = ", ".join(_short(x) for x in item)
        return f"[{inner}]" if isinstance(item, list) else f"({inner}{',' if len(item) == 1 else ''})"
    if isinstance(item, dict):
        return "{" + ", ".join(f"{k!r}: {_short(v)}" for k, v in item.items()) + "}"
    text = repr(item)
    return text if len(text) <= 24 else text[:21] + "..."


# ---------------------------------------------------------------- drawing
_STYLE = {
    "node": 'shape=box, style="rounded,filled", fillcolor="#eeeeee"',
    "host": 'shape=box, style="rounded,filled,dashed", fillcolor="#fff2cc"',
    "fused": 'shape=box, style="rounded,filled", fillcolor="#d9ead3"',
    "input": 'shape=ellipse, style=filled, fillcolor="#cfe2ff"',
    "variable": 'shape=ellipse, style=filled, fillcolor="#f4cccc"',
    "constant": 'shape=ellipse, style=dashed, color="#888888", fontcolor="#555555"',
    "output": 'shape=ellipse, style="filled,bold", fillcolor="#ffd966", peripheries=2',
}


def graph_to_dot(graph, title=None):
    """The graph in Graphviz's DOT language, drawn as ``utils.tape_to_dot`` draws a tape:
    a box per call (kernel calls grey, host calls dashed yellow, fused calls
    green), an ellipse per input (blue), Variable (red) and constant, and an
    edge from each value to the calls that read it, labelled with its shape.
    A call that writes a Variable in place has a bold edge to it."""
    lines = ["digraph traced {", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=8];']
    if title:
        lines.append(f"  label={quote(title)}; labelloc=t;")
    drawn = set()
    outputs = set(graph.output_values())

    def leaf(v):
        if v in drawn:
            return
        drawn.add(v)
        style = "output" if v in outputs else v.kind
        label = v.name if v.kind != "variable" else f"{v.name}\\n{getattr(v.source, 'name', '')}"
        lines.append(f"  {v.name} [label={quote(label + chr(10) + v.describe())}, {_STYLE[style]}];")

    for v in graph.inputs:
        leaf(v)
    producer_of = {}
    for i, node in enumerate(graph.nodes):
        box = f"n{i}"
        for v in node.outputs:
            producer_of[v] = box
        kind = "fused" if node.fused else ("host" if node.effect and not node.writes and not node.out_keyword
                                           else "node")
        extra = f"\\n= {' + '.join(node.fused)}" if node.fused else ""
        buffer = f"\\nout={node.buffer.name}" if node.buffer is not None else ""
        lines.append(f"  {box} [label={quote(node.op + extra + buffer)}, {_STYLE[kind]}];")
        for v in node.inputs():
            if v.kind != "result":
                leaf(v)
            origin = producer_of.get(v, v.name)
            lines.append(f"  {origin} -> {box} [label={quote(v.describe())}];")
        for v in node.writes:
            leaf(v)
            lines.append(f"  {box} -> {v.name} [style=bold, color=\"#cc0000\"];")
    for v in graph.output_values():
        if v.kind == "result" and v in producer_of:
            leaf(v)
            lines.append(f"  {producer_of[v]} -> {v.name};")
        else:
            leaf(v)
    lines.append("}")
    return "\n".join(lines) + "\n"
