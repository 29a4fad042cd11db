"""From a graph to the Python function that replays it: one line per call.

The plan is generated source, compiled once: a straight-line function whose
arguments are the input arrays and whose body is one line per node, e.g.::

    def train_step(in0, in1):
        t3 = class_ids(in1, backend=be0, fn='sparse_categorical_crossentropy')
        t4 = dense_forward(in0, var0._data, var1._data, activation='relu', backend=be0, out=buf0)
        ...
        RMSprop_apply(opt0, [T(t21, be0), T(t19, be0), ...], [var0, var1, ...])
        return (T(t9, be0),)

Why source rather than a list of bound calls walked by a loop: a reader can
print it (``f.plan_source()``) and see exactly what a step runs, and the
interpreter runs it without a loop, a dispatch or a dict lookup per call.
A Variable is read by reference (``var0._data``) at each use, so updates
made between calls, or by the step itself, are seen; buffers (``buf0``) are
allocated here, once.
"""

from __future__ import annotations

import itertools
import keyword
import linecache
import math

import numpy as np

from ..kernels import get_backend
from ..tensor import Tensor
from .graph import TensorOf, Value

_LITERALS = (int, float, str, bool, type(None))
_serial = itertools.count()


class Plan:
    """A compiled graph: ``run(arrays)`` replays it on the input arrays and
    returns the flat list of the function's output leaves; ``source`` is the
    generated Python."""

    def __init__(self, graph):
        self.graph = graph
        self.namespace = {"T": Tensor._wrap, "plan": None}
        self._names = {}
        self.source = self._generate(graph)
        filename = f"<tapegrad.function {graph.name} #{next(_serial)}>"
        linecache.cache[filename] = (len(self.source), None, self.source.splitlines(True), filename)
        exec(compile(self.source, filename, "exec"), self.namespace)
        self.run = self.namespace["plan"]

    def _name(self, obj, prefix):
        """The namespace name of a constant, a function, a Variable or a buffer."""
        key = id(obj)
        name = self._names.get(key)
        if name is None:
            base = "".join(c if c.isalnum() else "_" for c in prefix)
            if not base or base[0].isdigit() or keyword.iskeyword(base):
                base = "_" + base
            name = base
            n = 0
            while name in self.namespace:
                n += 1
                name = f"{base}{n}"
            self._names[key] = name
            self.namespace[name] = obj
        return name

    def _render(self, item):
        if isinstance(item, Value):
            if item.kind == "variable":
                return f"{self._name(item.source, item.name)}._data"
            if item.kind == "constant":
                return self._constant(item.source)
            return item.name
        if isinstance(item, TensorOf):
            if item.value.kind == "variable":
                return self._name(item.value.source, item.value.name)
            return f"T({self._render(item.value)}, {self._name(item.backend, 'be')})"
        if isinstance(item, list):
            return "[" + ", ".join(self._render(x) for x in item) + "]"
        if isinstance(item, tuple):
            inner = ", ".join(self._render(x) for x in item)
            return f"({inner},)" if len(item) == 1 else f"({inner})"
        if isinstance(item, dict) and all(type(k) is str for k in item):
            return "{" + ", ".join(f"{k!r}: {self._render(v)}" for k, v in item.items()) + "}"
        return self._constant(item)

    def _constant(self, item):
        if type(item) in _LITERALS and not (type(item) is float and not math.isfinite(item)):
            return repr(item)
        name = getattr(item, "name", None)
        if isinstance(item, np.ndarray) or not isinstance(name, str):
            name = "c" if isinstance(item, np.ndarray) else type(item).__name__.lower()
        return self._name(item, name)

    def _generate(self, graph):
        for buffer in graph.buffers:
            backend = next((n.kwargs.get("backend") for n in graph.nodes if n.buffer is buffer), None)
            be = get_backend(backend) if backend is not None else get_backend()
            self.namespace[buffer.name] = be.empty(buffer.shape, buffer.dtype)
        lines = [f"def plan({', '.join(v.name for v in graph.inputs)}):"]
        for node in graph.nodes:
            fn = self._name(node.fn, node.op.replace(".", "_"))
            parts = [self._render(a) for a in node.args]
            parts += [f"{k}={self._render(v)}" for k, v in node.kwargs.items()]
            if node.buffer is not None:
                parts.append(f"{node.out_keyword}={node.buffer.name}")
            call = f"{fn}({', '.join(parts)})"
            if node.returns == "none" or not node.outputs:
                lines.append(f"    {call}")
            elif node.returns == "one":
                lines.append(f"    {node.outputs[0].name} = {call}")
            else:
                lines.append(f"    {', '.join(v.name for v in node.outputs)}, = {call}")
        leaves = []
        _leaves(graph.outputs, leaves)
        lines.append(f"    return ({''.join(self._render(x) + ', ' for x in leaves)})")
        return "\n".join(lines) + "\n"


def _leaves(structure, out):
    """The leaves of a function's return value (lists, tuples and dicts walked, dicts by key order)."""
    if isinstance(structure, (list, tuple)):
        for x in structure:
            _leaves(x, out)
    elif isinstance(structure, dict):
        for k in sorted(structure, key=repr):
            _leaves(structure[k], out)
    else:
        out.append(structure)
    return out


def rebuild(structure, flat):
    """``structure`` with its leaves replaced, in ``_leaves`` order, by the items of iterator ``flat``."""
    if isinstance(structure, list):
        return [rebuild(x, flat) for x in structure]
    if isinstance(structure, tuple):
        items = [rebuild(x, flat) for x in structure]
        return type(structure)(*items) if hasattr(structure, "_fields") else tuple(items)
    if isinstance(structure, dict):
        rebuilt = {k: rebuild(structure[k], flat) for k in sorted(structure, key=repr)}
        return {k: rebuilt[k] for k in structure}
    return next(flat)
