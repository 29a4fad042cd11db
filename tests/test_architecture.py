"""The architecture the README promises, checked on the source.

Imports point one way: tensor <- tape <- ops <- functions / nn / utils <- keras
<- the package and its programs.  This test parses every module of
src/tapegrad with ``ast`` and collects every import of a tapegrad module, at
module level AND inside functions (a lazy import in a method is still an
import), then checks each one against the layering below.  A later change
that makes tape import ops, or tensor import anything above it, fails here.
"""

from __future__ import annotations

import ast
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
    ["functions", "nn", "utils"],               # TF's names over ops; tape drawing
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
    tape imports only tensor, ops only tensor/tape/kernels/random."""
    imports = {_module_name(p): {_top(t) for t in _imports(p)} for p in MODULES}
    assert imports["tensor"] <= {"kernels"}
    assert imports["tape"] <= {"tensor"}
    assert imports["ops"] <= {"kernels", "random", "tensor", "tape"}


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
