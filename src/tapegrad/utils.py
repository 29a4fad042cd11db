"""Draw what a GradientTape recorded: the computation graph behind backprop.

A tape is a list of entries ``(output, inputs, backward, ctx, needs)``, one
per op, in the order the ops ran.  Read as a graph, each entry is a node with
an edge from each of its inputs, and that graph is exactly what
``tape.gradient`` walks backwards with the chain rule.  ``tape_to_dot`` writes
it in Graphviz's DOT language; ``plot_tape`` saves it as ``.dot`` text or, via
Graphviz's ``dot`` program, as a ``.png`` / ``.svg`` picture.

    with tapegrad.GradientTape(persistent=True) as tape:
        y = tapegrad.matmul(x, W) + b
    tapegrad.utils.plot_tape(tape, "tape.png", target=y)
"""

from __future__ import annotations

import os
import shutil
import subprocess

from .tape import GradientTape, _flatten, op_name
from .tensor import Tensor, Variable

#: ops whose forward is one call of a compiled kernel (``tapegrad.kernels.<name>``);
#: every other op runs on the backend's array namespace (``backend.xp``, NumPy on the CPU)
KERNEL_OF_OP = {
    "matmul": "matmul",
    "dense": "dense_forward",
    "relu": "relu",
    "relu_backward": "relu_backward",
    "softmax": "softmax",
    "bias_grad": "bias_grad",
    "sparse_softmax_cross_entropy": "softmax_cross_entropy",
}

_PICTURE_FORMATS = ("png", "svg")
_STYLE = {
    "op": 'shape=box, style="rounded,filled", fillcolor="#eeeeee"',
    "source": 'shape=ellipse, style=filled, fillcolor="#cfe2ff"',
    "constant": 'shape=ellipse, style=dashed, color="#888888", fontcolor="#555555"',
}
_TARGET_STYLE = 'style="filled,bold", fillcolor="#ffd966", peripheries=2'


def kernel_label(name, backend):
    """Which code ran an op: ``kernels.matmul, cython backend`` or ``numpy array math, ...``."""
    kernel = KERNEL_OF_OP.get(name)
    where = f"kernels.{kernel}" if kernel else f"{backend.xp.__name__.split('.')[-1]} array math"
    return f"{where}, {backend.name} backend"


def _recorded_entries(tape):
    if tape._used and not tape._persistent:
        raise RuntimeError(
            "this GradientTape was used by gradient() and has freed its record; draw it before "
            "calling gradient(), or use GradientTape(persistent=True)"
        )
    return list(tape._ops)


def _entries_behind(entries, targets):
    """The entries each target depends on (walk the tape backwards from the targets)."""
    needed = {id(t) for t in targets}
    kept = []
    for entry in reversed(entries):
        out, inputs = entry[0], entry[1]
        if id(out) in needed:
            kept.append(entry)
            needed.update(id(x) for x in inputs)
    return kept[::-1]


def quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _describe(t, show_shapes):
    return f"{t.shape} {t.dtype.name}" if show_shapes else ""


def _leaf_label(t, tape, show_shapes):
    """A tensor no recorded op produced: a source the tape watches, or a constant."""
    if id(t) in tape._watched:
        kind = f"Variable '{t.name}'" if isinstance(t, Variable) else "watched tensor"
        lines = [kind, _describe(t, show_shapes), "source"]
        return lines, "source"
    lines = ["constant", _describe(t, show_shapes)]
    if t.size == 1:
        lines.append(f"= {t.numpy().reshape(()).item():.4g}")
    return lines, "constant"


def tape_to_dot(tape, target=None, show_shapes=True):
    """The graph recorded on ``tape`` as Graphviz DOT text.

    One box per recorded op (its name, output shape and dtype, and the kernel
    and backend that computed it), one oval per source (a watched Variable or
    tensor) and per constant, and an edge from each input to the op that
    consumed it, in the direction data flowed.  With ``target`` (a tensor or
    a list of them), only the ops the target depends on are drawn, and the
    target is highlighted.  Works while the tape records, on a persistent
    tape, or on any tape before ``gradient()`` frees its record.
    """
    entries = _recorded_entries(tape)
    targets = [] if target is None else _flatten(target, [])
    produced = {id(entry[0]) for entry in entries}
    for t in targets:
        if not isinstance(t, Tensor):
            raise TypeError(f"tape_to_dot: target must be a tensor, got {type(t).__name__}")
        if id(t) not in produced and id(t) not in tape._watched:
            raise ValueError(
                f"tape_to_dot: the target (shape {t.shape}) was not recorded on this tape: no recorded "
                "op produced it and the tape does not watch it"
            )
    if targets:
        entries = _entries_behind(entries, targets)
    target_ids = {id(t) for t in targets}

    node_of = {}  # id(tensor) -> DOT node name
    lines = ["digraph tape {", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=11];']

    def add_node(t, label_lines, kind):
        node = f"t{len(node_of)}"
        node_of[id(t)] = node
        style = _STYLE[kind]
        if id(t) in target_ids:
            label_lines = [*label_lines, "target"]
            style += ", " + _TARGET_STYLE
        label = "\n".join(line for line in label_lines if line)
        lines.append(f"  {node} [label={quote(label)}, {style}];")
        return node

    for t in targets:  # a target that is itself a source still gets its node
        if id(t) not in produced and id(t) not in node_of:
            add_node(t, *_leaf_label(t, tape, show_shapes))
    for out, inputs, backward, _ctx, _needs in entries:
        for x in inputs:
            if id(x) not in node_of:
                add_node(x, *_leaf_label(x, tape, show_shapes))
        name = op_name(backward)
        op_node = add_node(out, [name, _describe(out, show_shapes), kernel_label(name, out.backend)], "op")
        for x in inputs:
            lines.append(f"  {node_of[id(x)]} -> {op_node};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _render(dot_text, fmt):
    """Run Graphviz's ``dot`` on DOT text; the picture's bytes."""
    if shutil.which("dot") is None:
        raise RuntimeError(
            f"drawing a .{fmt} needs Graphviz's `dot` program, which is not on PATH: install the "
            "`graphviz` package (Debian/Ubuntu: apt-get install graphviz), or save a .dot file instead"
        )
    done = subprocess.run(["dot", f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"Graphviz `dot -T{fmt}` failed (exit {done.returncode}): {done.stderr.decode().strip()}")
    return done.stdout


def graph_format(to_file, what):
    """The format a drawing's file name asks for: ``dot``, ``png`` or ``svg`` (else a ValueError)."""
    fmt = os.path.splitext(os.fspath(to_file))[1].lower().lstrip(".")
    if fmt not in ("dot", *_PICTURE_FORMATS):
        raise ValueError(f"{what}: {os.fspath(to_file)!r} must end in .dot, .png or .svg")
    return fmt


def write_graph(dot_text, to_file, what):
    """Save DOT text to ``to_file``: ``.dot`` as the text itself (no Graphviz
    needed), ``.png`` / ``.svg`` drawn by Graphviz's ``dot`` program (a clear
    error naming the ``graphviz`` package when it is missing).  Returns ``to_file``."""
    to_file = os.fspath(to_file)
    fmt = graph_format(to_file, what)
    if fmt == "dot":
        with open(to_file, "w", encoding="utf-8") as f:
            f.write(dot_text)
    else:
        picture = _render(dot_text, fmt)
        with open(to_file, "wb") as f:
            f.write(picture)
    return to_file


def plot_tape(tape, to_file, target=None, show_shapes=True):
    """Save the graph of ``tape`` (see ``tape_to_dot``) to ``to_file``.

    The extension picks the format: ``.dot`` writes the DOT text (no
    Graphviz needed); ``.png`` and ``.svg`` are drawn by Graphviz's ``dot``.
    Returns ``to_file``.
    """
    graph_format(to_file, "plot_tape")
    return write_graph(tape_to_dot(tape, target=target, show_shapes=show_shapes), to_file, "plot_tape")


def tape_svg(tape):
    """The tape drawn as SVG text, or None without Graphviz or a record to draw (for Jupyter)."""
    if shutil.which("dot") is None or (tape._used and not tape._persistent):
        return None
    return _render(tape_to_dot(tape), "svg").decode("utf-8")


# Jupyter shows a tape as the graph it recorded.  tape.py sits below this
# module and does not import it, so the display hook is installed from here.
GradientTape._repr_svg_ = tape_svg
