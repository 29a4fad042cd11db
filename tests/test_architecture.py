"""The architecture docs/architecture.md describes, checked on the source.

Imports point one way: tensor <- tape <- ops <- functions / nn / utils <- keras
<- the package and its programs.  This test parses every module of
src/tapegrad with ``ast`` and collects every import of a tapegrad module, at
module level AND inside functions (a lazy import in a method is still an
import), then checks each one against the layering below.  A later change
that makes tape import ops, or tensor import anything above it, fails here.
"""

from __future__ import annotations

import ast
import contextlib
import functools
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "tapegrad"

# Each module of src/tapegrad, by layer (lowest first).  A module may import a
# module of a LOWER layer only, or one of its own package at its own layer
# (keras.layers may import keras.regularizers).  "kernels" (tapegrad.kernels,
# the compiled kernels and their contract) is below everything.
LAYERS = [
    ["kernels", "atomic_file"],                 # no tapegrad imports above the kernels
    ["tensor", "datasets"],                     # Tensor, Variable: arrays + operators; MNIST files
    ["tape", "random"],                         # the gradient tape; seeded generators
    ["ops"],                                    # the differentiable ops
    ["trace"],                                  # tapegrad.function: tracing, passes, replay
    ["functions", "nn", "utils", "data", "distribute"],  # TF's names over ops; tape drawing; tf.data; MPI
    ["keras"],                                  # the Keras API
    ["", "ladder"],                             # the package (``import tapegrad``); the GEMM ladder
    ["benchmark"],                              # the programs on top of it
    ["cli"],
    ["__main__"],                               # ``python -m tapegrad`` runs the CLI
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _module_name(path):
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")


MODULES = sorted(SRC.rglob("*.py"))
KNOWN = {_module_name(p) for p in MODULES} | {"kernels"}


def _imports(path):
    """The tapegrad modules ``path`` imports anywhere in its code, as names below tapegrad."""
    return _imports_in(path.read_text(), _module_name(path), path.name == "__init__.py")


def _imports_in(source, module, is_package):
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module == "tapegrad" or node.module.startswith("tapegrad."):
                    base = node.module[len("tapegrad."):] if node.module != "tapegrad" else ""
                else:
                    continue
            else:
                parts = package.split(".") if package else []
                parts = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:  # ``from . import ops`` imports a module, ``from .x import f`` x
                name = f"{base}.{alias.name}".strip(".")
                found.add(name if name in KNOWN or name.startswith("kernels.") else base)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "tapegrad" or alias.name.startswith("tapegrad."):
                    found.add(alias.name[len("tapegrad."):] if alias.name != "tapegrad" else "")
    found.discard(module)
    return found


def _top(name):
    """The layer key of a module name: ``keras.layers`` -> ``keras``."""
    return name.split(".")[0]




def test_every_module_has_a_layer():
    for path in MODULES:
        assert _top(_module_name(path)) in RANK, f"{path}: add its module to LAYERS in this test"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p) or "tapegrad")
def test_imports_point_down(path):
    module = _module_name(path)
    here = RANK[_top(module)]
    for target in sorted(_imports(path)):
        there = RANK.get(_top(target))
        assert there is not None, f"{module} imports {target!r}, which has no layer"
        same_package = _top(target) == _top(module) and here == there and module
        assert there < here or same_package, (
            f"tapegrad.{module or '__init__'} (layer {here}: {LAYERS[here]}) imports tapegrad.{target} "
            f"(layer {there}: {LAYERS[there]}); imports must point down: {LAYERS}"
        )


def test_the_core_layers_exactly():
    """The three core modules, spelled out: tensor imports none of tape/ops/...,
    tape imports only tensor, the files of the ops package only tensor/tape/kernels/random
    (and each other)."""
    imports = {_module_name(p): {_top(t) for t in _imports(p)} for p in MODULES}
    assert imports["tensor"] <= {"kernels"}
    assert imports["tape"] <= {"tensor"}
    ops_files = [name for name in imports if _top(name) == "ops"]
    assert len(ops_files) > 1, "ops is a package of files by kind"
    for name in ops_files:
        assert imports[name] <= {"kernels", "random", "tensor", "tape", "ops"}, (name, imports[name])


def test_no_import_cycle():
    """Over the whole package graph (submodules included), no module reaches itself."""
    graph = {_module_name(p): _imports(p) for p in MODULES}
    state = {}

    def visit(node, trail):
        if state.get(node) == "done":
            return
        assert state.get(node) != "open", "import cycle: " + " -> ".join(trail + [node])
        state[node] = "open"
        for target in graph.get(node, ()):
            if target in graph:
                visit(target, trail + [node])
        state[node] = "done"

    for node in graph:
        visit(node, [])


def test_the_checker_sees_lazy_imports():
    """The parser finds imports inside a method, relative or absolute (so the
    tests above would catch tape.py importing ops lazily again)."""
    source = "def f():\n    from . import ops, kernels\n    from .tensor import Tensor\n    import tapegrad.utils\n"
    assert _imports_in(source, "tape", False) == {"ops", "kernels", "tensor", "utils"}
    source = "class A:\n    def f(self):\n        from .. import ops\n        from ..tape import record\n"
    assert _imports_in(source, "keras.layers", False) == {"ops", "tape"}


# ------------------------------------------------------------------ one way to define an op
def _op_cases():
    """One small call of every op that records, by op name (``op/variant`` for a second
    call); float64 on the numpy backend."""
    import numpy as np

    import tapegrad as tg
    from tapegrad import ops

    rng = np.random.default_rng(0)
    a = tg.Variable(rng.uniform(0.5, 2.0, (3, 4)))
    b = tg.Variable(rng.uniform(0.5, 2.0, (1, 4)))
    w = tg.Variable(rng.standard_normal((4, 5)))
    bias = tg.Variable(rng.standard_normal(5))
    mask = ops.dropout(ops.ones_like(a), 0.5, seed=1)
    return {
        "add": lambda: ops.add(a, b), "subtract": lambda: ops.subtract(a, b),
        "multiply": lambda: ops.multiply(a, b), "divide": lambda: ops.divide(a, b),
        "negative": lambda: ops.negative(a), "power": lambda: ops.power(a, 3),
        "square": lambda: ops.square(a), "exp": lambda: ops.exp(a), "sqrt": lambda: ops.sqrt(a),
        "log": lambda: ops.log(a), "abs": lambda: ops.abs(a),
        "maximum": lambda: ops.maximum(a, b), "minimum": lambda: ops.minimum(a, b),
        "clip_by_value": lambda: ops.clip_by_value(a, 0.8, 1.5), "cast": lambda: ops.cast(a, "float32"),
        "reshape": lambda: ops.reshape(a, (4, 3)), "transpose": lambda: ops.transpose(a),
        "broadcast_to": lambda: ops.broadcast_to(b, (3, 4)), "getitem": lambda: a[1:, ::2],
        "scatter": lambda: ops.scatter(a, 0, (2, 3, 4)),
        "reduce_sum": lambda: ops.reduce_sum(a, axis=0), "reduce_mean": lambda: ops.reduce_mean(a, axis=1),
        "reduce_max": lambda: ops.reduce_max(a, axis=1), "matmul": lambda: ops.matmul(a, w),
        "relu": lambda: ops.relu(ops.subtract(a, 1.0)), "relu_backward": lambda: ops.relu_backward(a, ops.subtract(a, 1.0)),
        "sigmoid": lambda: ops.sigmoid(a), "tanh": lambda: ops.tanh(a), "softmax": lambda: ops.softmax(a),
        "dense": lambda: ops.dense(a, w, bias, "relu"), "dense/no bias": lambda: ops.dense(a, w),
        "bias_grad": lambda: ops.bias_grad(a),
        "sparse_softmax_cross_entropy": lambda: ops.sparse_softmax_cross_entropy(a, np.array([0, 3, 1])),
        "sparse_softmax_cross_entropy/mean":
            lambda: ops.sparse_softmax_cross_entropy(a, np.array([0, 3, 1]), reduction="mean"),
        "sigmoid_binary_cross_entropy":
            lambda: ops.sigmoid_binary_cross_entropy(a, np.full((3, 4), 0.25)),
        "dropout": lambda: ops.dropout(a, 0.5, seed=2), "dropout_backward": lambda: ops.dropout_backward(a, mask),
        "concat": lambda: ops.concat([a, b], axis=0), "concat/last axis": lambda: ops.concat([a, a], axis=-1),
        **_conv_op_cases(rng),
    }


def _conv_op_cases(rng):
    """The convolution and pooling ops (ops/conv.py) on a 2x5x5x3 image and a 3x3x3x4 kernel."""
    import tapegrad as tg
    from tapegrad import ops

    image = tg.Variable(rng.standard_normal((2, 5, 5, 3)))
    kernel = tg.Variable(rng.standard_normal((3, 3, 3, 4)))
    bias = tg.Variable(rng.standard_normal(4))
    grad_out = tg.Variable(rng.standard_normal((2, 3, 3, 4)))
    pooled = tg.Variable(rng.standard_normal((2, 2, 2, 3)))
    return {
        "conv2d": lambda: ops.conv2d(image, kernel, bias, activation="relu"),
        "conv2d/no bias, same": lambda: ops.conv2d(image, kernel, padding="same", strides=2),
        "conv2d_input_grad": lambda: ops.conv2d_input_grad(grad_out, kernel, image.shape),
        "conv2d_kernel_grad": lambda: ops.conv2d_kernel_grad(grad_out, image, kernel.shape),
        "max_pool2d": lambda: ops.max_pool2d(image, 2), "avg_pool2d": lambda: ops.avg_pool2d(image, 2),
        "max_pool2d_backward": lambda: ops.max_pool2d_backward(pooled, image, (2, 2), (2, 2), "valid"),
        "avg_pool2d_backward": lambda: ops.avg_pool2d_backward(pooled, image.shape, (2, 2), (2, 2), "valid"),
    }


def _ops_files():
    """The modules of the ops package (ops/*.py), imported."""
    import importlib
    import pkgutil

    from tapegrad import ops

    return [importlib.import_module(f"tapegrad.ops.{info.name}") for info in pkgutil.iter_modules(ops.__path__)]


def test_every_op_records_one_gradient_per_input():
    """Every op of the ops package that has a ``_<op>_grad`` is run under a tape; each entry's
    backward returns a tuple of exactly len(inputs) gradients, each of its input's
    shape, whether nested tapes record the backward pass or not."""
    import inspect

    import tapegrad as tg
    from tapegrad import kernels, ops
    from tapegrad.tape import op_name

    with kernels.use("numpy"):
        cases = _op_cases()
        backwards = {op_name(f) for module in _ops_files()
                     for name, f in inspect.getmembers(module, inspect.isfunction)
                     if name.startswith("_") and name.endswith("_grad")}
        assert {"add", "matmul", "softmax", "dropout", "concat"} <= backwards
        covered = {name.split("/")[0] for name in cases}
        assert backwards <= covered, f"add a case for these ops: {sorted(backwards - covered)}"
        for name, run in cases.items():
            for outer in (False, True):  # outer: the backward pass itself is recorded
                with tg.GradientTape(persistent=True) as tape:
                    out = run()
                entries = [e for e in tape._ops if e[0] is out]
                assert len(entries) == 1, f"{name}: its output was not recorded once"
                _, inputs, backward, ctx, needs = entries[0]
                assert op_name(backward) == name.split("/")[0]
                g = ops.ones_like(out)
                with tg.GradientTape() if outer else contextlib.nullcontext():
                    grads = backward(g, ctx, [True] * len(inputs))
                assert isinstance(grads, tuple) and len(grads) == len(inputs), (name, grads)
                for x, gx in zip(inputs, grads):
                    if gx is not None:
                        assert gx.shape == x.shape, (name, gx.shape, x.shape)
                assert isinstance(backward(g, ctx, [False] * len(inputs)), tuple)


def test_a_backward_of_the_wrong_length_is_a_clear_error():
    """The tape refuses a backward that returns fewer gradients than inputs (zip
    would silently drop the rest)."""
    import numpy as np

    import tapegrad as tg
    from tapegrad import ops
    from tapegrad.ops.base import _result

    def _bad_grad(g, ctx, needs):
        return (g,)

    x = tg.Variable(np.ones(3))
    with tg.GradientTape() as tape:
        y = _result(ops.add(x, x)._data, x.backend, (x, x), _bad_grad)
    with pytest.raises(RuntimeError, match="returned 1 gradients for its 2 inputs"):
        tape.gradient(y, x)


# ------------------------------------------------------------------ the array contract
def _xp_names_used():
    """Every ``<...>.xp.NAME`` / ``xp.NAME`` / ``getattr(xp, "NAME")`` in src/tapegrad, by file."""
    used = {}
    dynamic = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            target = name = None
            if isinstance(node, ast.Attribute):
                target, name = node.value, node.attr
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
                target = node.args[0]
                name = node.args[1].value if isinstance(node.args[1], ast.Constant) else None
            is_xp = (isinstance(target, ast.Name) and target.id == "xp") or (
                isinstance(target, ast.Attribute) and target.attr == "xp")
            if not is_xp:
                continue
            if name is None:
                dynamic.append(f"{_module_name(path)}: {ast.unparse(node)}")
            elif name != "__name__":  # the namespace's name, used in labels
                used.setdefault(name, set()).add(_module_name(path))
    return used, dynamic


def test_src_uses_only_declared_array_functions():
    """src/tapegrad calls on ``backend.xp`` exactly the names ARRAY_OPS declares."""
    from tapegrad import ops
    from tapegrad.kernels._backend import ARRAY_OPS

    used, dynamic = _xp_names_used()
    undeclared = {name: sorted(files) for name, files in used.items() if name not in ARRAY_OPS}
    assert not undeclared, f"declare these in ARRAY_OPS (kernels/_backend.py) and cuda_xp: {undeclared}"
    # the one dynamic lookup, compare's getattr(xp, name), is bounded by ops.COMPARISONS
    assert dynamic == ["ops.elementwise: getattr(a._backend.xp, name)"], dynamic
    assert set(ops.COMPARISONS) <= set(ARRAY_OPS)
    unused = set(ARRAY_OPS) - set(used) - set(ops.COMPARISONS)
    assert not unused, f"ARRAY_OPS declares names nothing uses (remove them): {sorted(unused)}"


def test_the_checker_sees_xp_names():
    used_before = _xp_names_used()[0]
    assert {"add", "sum", "broadcast_to"} <= set(used_before)
    tree = ast.parse("def f(be, xp):\n    be.xp.cumsum(1)\n    xp.add.at(a, k, v)\n")
    found = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
             and isinstance(n.value, (ast.Name, ast.Attribute))
             and getattr(n.value, "id", getattr(n.value, "attr", None)) == "xp"}
    assert found == {"cumsum", "add"}


def test_xp_is_exactly_the_contract():
    """backend.xp answers the declared names and refuses any other with a clear error;
    the cuda implementation defines every declared name and has no host fallback."""
    import numpy as np

    from tapegrad import kernels
    from tapegrad.kernels._backend import ARRAY_OPS, ArrayOps

    xp = kernels.get_backend("numpy").xp
    for name in ARRAY_OPS:
        assert getattr(xp, name) is getattr(np, name)
    with pytest.raises(AttributeError, match="'cumsum' is not in the array contract"):
        xp.cumsum
    assert xp.__name__ == "numpy"
    with pytest.raises(TypeError, match=r"missing \['add'"):
        ArrayOps("partial", type("M", (), {n: staticmethod(np.add) for n in ARRAY_OPS if n != "add"}))
    try:
        from tapegrad.kernels import cuda_xp
    except ImportError as exc:  # numba without its CUDA target: nothing to check here
        pytest.skip(f"numba.cuda is not importable: {exc}")
    assert not hasattr(cuda_xp, "__getattr__"), "cuda_xp must not fall back to NumPy for unknown names"
    ArrayOps("cuda_xp", cuda_xp)  # raises if a declared name is missing


# ------------------------------------------------------------------ keras talks to tensors, not their insides
KERAS = SRC / "keras"
TENSOR_INSIDES = ("_data", "_backend", "_source")


def _insides_touched(source):
    """``(line, expression)`` for each ``x._data...`` / ``x._backend...`` /
    ``x._source`` attribute (read, write or call) where ``x`` is not ``self``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and node.attr.startswith(TENSOR_INSIDES)
                and not (isinstance(node.value, ast.Name) and node.value.id == "self")):
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


@pytest.mark.parametrize("path", sorted(KERAS.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_keras_does_not_reach_into_tensors(path):
    """Keras uses the tensor API (ops, Tensor/Variable methods): the one place an
    update reaches a Variable's array is ops.apply_update(s) / ops.accumulate_*."""
    touched = _insides_touched(path.read_text())
    assert not touched, (f"{path.relative_to(SRC)} reads tensor internals: {touched}; use ops "
                         f"(ops.apply_updates, ops.accumulate_sum, ops.class_ids...) or public Tensor methods")


def test_the_insides_checker_sees_what_it_should():
    source = ("def f(var, g, self):\n    a = var._data\n    g._backend.zeros(1)\n    y._source = None\n"
              "    self._data = 1\n    t._keras_history = 2\n    var.backend\n")
    assert _insides_touched(source) == [(2, "var._data"), (3, "g._backend"), (4, "y._source")]


# ------------------------------------------------------------------ the core knows nothing of Keras
CORE = [SRC / "tensor.py", SRC / "tape.py", *sorted((SRC / "ops").glob("*.py"))]


def _keras_words(source):
    """``(line, word)`` for each name, attribute, argument, import or string of the
    code that says "keras" (docstrings and comments, which may cite Keras, aside)."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words = [node.id]
        elif isinstance(node, ast.Attribute):
            words = [node.attr]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            words = [node.name]
        elif isinstance(node, ast.arg):
            words = [node.arg]
        elif isinstance(node, ast.keyword):
            words = [node.arg or ""]
        elif isinstance(node, ast.alias):
            words = [node.name, node.asname or ""]
        elif isinstance(node, ast.ImportFrom):
            words = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words = [node.value]
        else:
            continue
        found += [(node.lineno, word) for word in words if "keras" in word.lower()]
    return sorted(found)


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(SRC)))
def test_the_core_knows_nothing_of_keras(path):
    """tensor, tape and ops speak their own terms: a softmax output remembers its
    logits as ``_source = ("softmax", x)``, read by ``ops.input_of``, not as a
    Keras attribute; keras/ builds on that."""
    assert _keras_words(path.read_text()) == [], f"{path.relative_to(SRC)} uses Keras's words"


def test_the_keras_word_checker_sees_what_it_should():
    source = ('"""Module docstring: as Keras does."""\nfrom .keras import x\n'
              'def f(y, keras_model=None):\n    """Like Keras."""\n'
              '    y._keras_logits = None  # Keras\n    return getattr(y, "_keras_activation", None)\n')
    assert _keras_words(source) == [(2, "keras"), (3, "keras_model"), (5, "_keras_logits"),
                                    (6, "_keras_activation")]


# ------------------------------------------------------------------ private names stay in their package
# A package is a folder of src/tapegrad (keras/, datasets/...), except that ops/ belongs
# to the folder above it: the ops are the core (tensor.py, tape.py, ops/) split into files
# by kind, and working on Tensor's insides (``_data``, ``_wrap``, the tape stack) is their job;
# trace/ (tapegrad.function) records and replays those same insides, so it is the core's too.
# Private names of tapegrad.kernels are checked by tests/test_architecture_kernels.py.
PART_OF_PARENT = {"ops", "trace"}


def _package(path):
    """The package folder of a source file, as a path relative to src/tapegrad ("" for the core)."""
    folder = path.parent.relative_to(SRC)
    return "" if folder.parts and folder.parts[0] in PART_OF_PARENT else str(folder).replace(".", "")


def _is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


FILES_BY_MODULE = {_module_name(p): p for p in MODULES}


def _module_of(name):
    """The longest prefix of dotted ``name`` (below tapegrad) that is a module of src/tapegrad, or None."""
    parts = name.split(".")
    for end in range(len(parts), -1, -1):
        prefix = ".".join(parts[:end])
        if prefix in FILES_BY_MODULE:
            return prefix, parts[end:]
    return None


def _private_defined(path):
    """Private names ``path`` defines: functions, classes, assignment targets
    (``_x = ...``, ``obj._x = ...``) and ``__slots__`` entries."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for leaf in ast.walk(target):
                    names.add(getattr(leaf, "id", getattr(leaf, "attr", "")))
            if any(getattr(t, "id", None) == "__slots__" for t in targets):
                names.update(c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant))
    return {name for name in names if isinstance(name, str) and _is_private(name)}


def _private_uses(source, module, is_package, defined_in):
    """``(line, expression)`` for each private name the code ``source`` of ``module``
    takes from another package: ``from tapegrad.x import _y`` (or from a private
    module), ``module._y`` through an imported module, and ``obj._y`` where only
    other packages define ``_y`` (``defined_in``: private name -> its packages)."""
    here = _package(FILES_BY_MODULE[module])
    package = module if is_package else module.rpartition(".")[0]
    tree = ast.parse(source)
    modules, found = {}, []   # local name -> the tapegrad module it is bound to

    def elsewhere(name):
        hit = _module_of(name)
        return hit is not None and _package(FILES_BY_MODULE[hit[0]]) != here, hit

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if not (node.module or "").startswith("tapegrad"):
                    continue
                base = node.module[len("tapegrad."):] if node.module != "tapegrad" else ""
            else:
                parts = package.split(".") if package else []
                parts = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                name = f"{base}.{alias.name}".strip(".")
                other, hit = elsewhere(name)
                if other and any(_is_private(p) for p in name.split(".")):
                    found.append((node.lineno, f"from {base or 'tapegrad'} import {alias.name}"))
                if hit and not hit[1]:
                    modules[alias.asname or alias.name] = name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "tapegrad" or alias.name.startswith("tapegrad."):
                    modules[alias.asname or "tapegrad"] = alias.name[len("tapegrad."):] if alias.asname else ""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _is_private(node.attr)):
            continue
        chain, inner = [node.attr], node.value
        while isinstance(inner, ast.Attribute):
            chain.append(inner.attr)
            inner = inner.value
        if not isinstance(inner, ast.Name) or (inner is node.value and inner.id in ("self", "cls")):
            continue   # ``self._x`` is the object's own; ``self.dataset._x`` is not
        if inner.id in modules:
            if elsewhere(".".join([modules[inner.id], *reversed(chain)]).strip("."))[0]:
                found.append((node.lineno, ast.unparse(node)))
        elif node.attr in defined_in and here not in defined_in[node.attr]:
            found.append((node.lineno, ast.unparse(node)))
    return sorted(set(found))


@functools.cache
def _private_definitions():
    """Private name -> the packages whose files define it."""
    defined_in = {}
    for path in MODULES:
        for name in _private_defined(path):
            defined_in.setdefault(name, set()).add(_package(path))
    return defined_in


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p) or "tapegrad")
def test_no_private_name_crosses_a_package(path):
    """keras/ (or any other package folder) uses the core, data and each other through
    public names only: a private name may change without notice inside its package."""
    used = _private_uses(path.read_text(), _module_name(path), path.name == "__init__.py", _private_definitions())
    assert not used, f"{path.relative_to(SRC)} uses private names of another package: {used}"


def test_the_private_name_checker_sees_what_it_should():
    source = ("from .. import ops, tape as t\nfrom ..tape import _thread_tapes, record\nimport tapegrad.ops.base\n"
              "from . import node\n\ndef f(dataset, self):\n    ops._result(1)\n    t._thread_tapes.stack\n"
              "    tapegrad.ops.base._wrap(1)\n    dataset._cardinality()\n    dataset._not_defined_anywhere\n"
              "    self._cardinality()\n    node._private_of_keras\n    ops.add\n    self.dataset._cardinality\n")
    defined_in = {"_cardinality": {""}, "_private_of_keras": {"keras"}}
    assert _private_uses(source, "keras.losses", False, defined_in) == [
        (2, "from tape import _thread_tapes"), (7, "ops._result"), (8, "t._thread_tapes"),
        (9, "tapegrad.ops.base._wrap"), (10, "dataset._cardinality"), (15, "self.dataset._cardinality")]
    # the core's own files share their insides: ops/ may use tape's private names
    core_source = source.replace("    node._private_of_keras\n", "\n")
    assert _private_uses(core_source, "ops.losses", False, defined_in) == []
    assert _package(SRC / "ops" / "base.py") == _package(SRC / "tape.py") == ""
    assert _package(SRC / "keras" / "losses.py") == "keras"
