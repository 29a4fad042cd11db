"""tapegrad.utils: the tape drawn as a Graphviz graph (DOT text, PNG, SVG)."""

import importlib
import inspect
import pkgutil
import re
import shutil

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras, ops
from tapegrad.keras import layers
from tapegrad.tape import op_name
from tapegrad.utils import KERNEL_OF_OP, plot_tape, tape_to_dot

HAS_DOT = shutil.which("dot") is not None
NEEDS_DOT = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's `dot` is not installed (.ci/run installs it)")


def parse_dot(text):
    """Nodes {name: label} and edges [(from_label, to_label)] of the DOT text tape_to_dot writes."""
    nodes = {}
    for name, label in re.findall(r'^\s*(t\d+) \[label="((?:[^"\\]|\\.)*)"', text, re.M):
        nodes[name] = label.replace("\\n", "\n").replace('\\"', '"')
    edges = [(nodes[a], nodes[b]) for a, b in re.findall(r"^\s*(t\d+) -> (t\d+);", text, re.M)]
    return nodes, edges


def first_line(label):
    return label.split("\n")[0]


def ops_in(nodes):
    """The op names drawn (the op boxes: the labels that name a kernel and backend)."""
    return sorted(first_line(label) for label in nodes.values() if "backend" in label)


def edge_names(edges):
    return sorted((first_line(a), first_line(b)) for a, b in edges)


def test_book_scalar_snippet_is_drawn_before_gradient():
    x = tg.Variable(0.)
    with tg.GradientTape() as tape:
        y = 2 * x + 3
    nodes, edges = parse_dot(tape_to_dot(tape, target=y))
    assert ops_in(nodes) == ["add", "multiply"]
    # data flows: x and the constant 2 into multiply, its output and 3 into add
    assert edge_names(edges) == sorted([
        ("Variable 'Variable:0'", "multiply"), ("constant", "multiply"),
        ("multiply", "add"), ("constant", "add"),
    ])
    labels = list(nodes.values())
    assert any("= 2" in l and l.startswith("constant") for l in labels)
    assert any("= 3" in l and l.startswith("constant") for l in labels)
    (source,) = [l for l in labels if l.startswith("Variable")]
    assert source.endswith("source") and "() float32" in source
    (add,) = [l for l in labels if l.startswith("add")]
    assert add.endswith("target") and "() float32" in add
    backend = tg.kernels.get_backend().name
    assert f"array math, {backend} backend" in add
    # drawing did not use up the (non-persistent) tape
    assert float(tape.gradient(y, x)) == 2.0


def test_book_matmul_snippet_names_the_gemm_kernel_and_follows_data_flow():
    W = tg.Variable(tg.random.uniform((2, 3)), name="W")
    b = tg.Variable(tg.zeros((3,)), name="b")
    x = tg.random.uniform((4, 2))
    with tg.GradientTape() as tape:
        y = tg.matmul(x, W) + b
    dot = tape_to_dot(tape)
    nodes, edges = parse_dot(dot)
    assert ops_in(nodes) == ["add", "matmul"]
    (matmul,) = [l for l in nodes.values() if l.startswith("matmul")]
    assert "(4, 3) float32" in matmul
    assert f"kernels.matmul, {tg.kernels.get_backend().name} backend" in matmul
    assert edge_names(edges) == sorted([
        ("constant", "matmul"), ("Variable 'W:0'", "matmul"),
        ("matmul", "add"), ("Variable 'b:0'", "add"),
    ])
    # the un-watched input x is drawn as a constant of its shape; W, b as sources
    assert any(l.startswith("constant\n(4, 2) float32") for l in nodes.values())
    assert sum(l.endswith("source") for l in nodes.values()) == 2
    gW, gb = tape.gradient(y, [W, b])
    np.testing.assert_allclose(gb.numpy(), [4, 4, 4])


def test_target_keeps_only_the_ops_it_depends_on():
    W = tg.Variable(np.ones((3, 2), np.float32), name="W")
    v = tg.Variable(np.ones((2,), np.float32), name="v")
    x = tg.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    with tg.GradientTape(persistent=True) as tape:
        h = tg.matmul(x, W)
        y = tg.reduce_mean(tg.nn.relu(h))
        unrelated = tg.exp(v) * 2.0
    everything, _ = parse_dot(tape_to_dot(tape))
    assert ops_in(everything) == ["exp", "matmul", "multiply", "reduce_mean", "relu"]
    only_y, edges = parse_dot(tape_to_dot(tape, target=y))
    assert ops_in(only_y) == ["matmul", "reduce_mean", "relu"]
    assert not any("'v:0'" in l for l in only_y.values())
    assert edge_names(edges) == sorted([
        ("constant", "matmul"), ("Variable 'W:0'", "matmul"), ("matmul", "relu"), ("relu", "reduce_mean"),
    ])
    (mean,) = [l for l in only_y.values() if l.startswith("reduce_mean")]
    assert mean.endswith("target") and "() float32" in mean
    # two targets: the union of what each depends on
    both, _ = parse_dot(tape_to_dot(tape, target=[y, unrelated]))
    assert ops_in(both) == ops_in(everything)
    # a persistent tape still draws after gradient() ran
    tape.gradient(y, W)
    assert parse_dot(tape_to_dot(tape, target=y))[0] == only_y
    # a target that is a source is drawn on its own, marked
    alone, edges = parse_dot(tape_to_dot(tape, target=v))
    assert edges == [] and list(alone.values()) == ["Variable 'v:0'\n(2,) float32\nsource\ntarget"]


def test_one_dense_step_names_the_fused_kernels_that_actually_ran(monkeypatch):
    tg.random.set_seed(0)
    model = keras.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    model.build((None, 5))
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    x = np.random.default_rng(0).random((6, 5)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2])

    called = []
    for kernel in set(KERNEL_OF_OP.values()):  # spy on every kernel a drawing could name
        real = getattr(tg.kernels, kernel)
        monkeypatch.setattr(tg.kernels, kernel,
                            lambda *a, _real=real, _name=kernel, **k: (called.append(_name), _real(*a, **k))[1])
    with tg.GradientTape() as tape:
        probs = model(x)
        loss = loss_fn(labels, probs)
    nodes, edges = parse_dot(tape_to_dot(tape, target=loss))
    monkeypatch.undo()

    named = re.findall(r"kernels\.(\w+),", "\n".join(nodes.values()))
    assert named and set(named) <= set(called), (named, called)
    assert "dense_forward" in named
    dense_shapes = sorted(l.split("\n")[1] for l in nodes.values() if l.startswith("dense\n"))
    assert dense_shapes == ["(6, 3) float32", "(6, 8) float32"]
    # the first Dense reads the images (a constant), its kernel and its bias
    first = next(l for l in nodes.values() if l.startswith("dense\n(6, 8)"))
    into_first = sorted(a.split("\n")[0] for a, b in edges if b == first)
    hidden = model.layers[0]
    assert into_first == sorted([f"Variable '{hidden.bias.name}'", f"Variable '{hidden.kernel.name}'", "constant"])
    second = next(l for l in nodes.values() if l.startswith("dense\n(6, 3)"))
    assert (first, second) in edges  # the hidden layer feeds the output layer
    # every recorded op ends in the loss, the single target
    targets = [l for l in nodes.values() if l.endswith("target")]
    assert len(targets) == 1 and "() float32" in targets[0]
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None for g in grads)


def test_every_backward_is_named_after_its_op():
    """op_name reads an entry's op off its backward ``_<op>_grad``: each must name a real op."""
    files = [importlib.import_module(f"tapegrad.ops.{info.name}") for info in pkgutil.iter_modules(ops.__path__)]
    backwards = {f for module in files for name, f in inspect.getmembers(module, inspect.isfunction)
                 if name.startswith("_") and name.endswith("_grad")}
    assert len(backwards) > 25
    for backward in backwards:
        name, op = backward.__name__, op_name(backward)
        assert callable(getattr(ops, op, None)), f"{name} names no op {op!r} in tapegrad.ops"
    for op, kernel in KERNEL_OF_OP.items():
        assert callable(getattr(ops, op)) and callable(getattr(tg.kernels, kernel)), (op, kernel)


def test_maximum_and_minimum_are_told_apart():
    a = tg.Variable(np.array([1.0, 5.0], np.float32))
    with tg.GradientTape(persistent=True) as tape:
        hi = tg.maximum(a, 2.0)
        lo = tg.minimum(a, 2.0)
    assert ops_in(parse_dot(tape_to_dot(tape, target=hi))[0]) == ["maximum"]
    assert ops_in(parse_dot(tape_to_dot(tape, target=lo))[0]) == ["minimum"]
    np.testing.assert_array_equal(tape.gradient(hi, a).numpy(), [0, 1])
    np.testing.assert_array_equal(tape.gradient(lo, a).numpy(), [1, 0])


def test_show_shapes_false_leaves_shapes_out():
    x = tg.Variable(np.ones((2, 3), np.float32))
    with tg.GradientTape() as tape:
        y = tg.reduce_sum(x * x)
    assert "(2, 3)" in tape_to_dot(tape) and "(2, 3)" not in tape_to_dot(tape, show_shapes=False)


def test_errors_name_the_problem(tmp_path):
    x = tg.Variable(1.0)
    with tg.GradientTape() as tape:
        y = x * 3.0
    with pytest.raises(ValueError, match="not recorded on this tape"):
        tape_to_dot(tape, target=tg.constant(1.0))
    with pytest.raises(TypeError, match="target must be a tensor"):
        tape_to_dot(tape, target="y")
    with pytest.raises(ValueError, match=r"\.dot, \.png or \.svg"):
        plot_tape(tape, tmp_path / "tape.jpg")
    tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="freed its record"):
        tape_to_dot(tape)
    assert tape._repr_svg_() is None


def test_plot_tape_dot_file(tmp_path):
    x = tg.Variable(np.ones(3, np.float32))
    with tg.GradientTape() as tape:
        y = tg.reduce_sum(tg.exp(x))
    path = plot_tape(tape, tmp_path / "tape.dot", target=y)
    assert open(path).read() == tape_to_dot(tape, target=y)


def test_pictures_without_graphviz_say_what_to_install(tmp_path, monkeypatch):
    x = tg.Variable(1.0)
    with tg.GradientTape() as tape:
        x * 2.0
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="`graphviz` package"):
        plot_tape(tape, tmp_path / "tape.png")
    assert tape._repr_svg_() is None  # Jupyter falls back to the text repr
    assert not (tmp_path / "tape.png").exists()


@NEEDS_DOT
def test_png_and_svg_through_graphviz(tmp_path):
    W = tg.Variable(tg.random.uniform((2, 2)))
    x = tg.random.uniform((2, 2))
    with tg.GradientTape() as tape:
        y = tg.matmul(x, W)
    png = plot_tape(tape, tmp_path / "tape.png", target=y)
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    svg = open(plot_tape(tape, tmp_path / "tape.svg"), encoding="utf-8").read()
    assert "<svg" in svg and "matmul" in svg and "kernels.matmul" in svg
    notebook = tape._repr_svg_()
    assert notebook.lstrip().startswith("<?xml") and "matmul" in notebook
