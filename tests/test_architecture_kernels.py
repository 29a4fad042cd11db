"""The layout of kernels/ that kernels/_families.py promises, checked on the source.

* every family in ``FAMILIES`` is a folder with ``__init__.py`` (its
  ``KERNELS``), ``api.py``, ``reference.py`` and ``DESIGN.md``, and every
  folder of kernels/ is a family or shared infrastructure (``_numba``);
* each backend file a family has defines every one of its ``KERNELS``;
* no code outside kernels/ (src/tapegrad) uses a private name of tapegrad.kernels;
* importing the kernels changes neither the process's environment nor NumPy.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KERNELS = ROOT / "kernels"
SRC = ROOT / "src" / "tapegrad"


def _families():
    tree = ast.parse((KERNELS / "_families.py").read_text())
    return next(ast.literal_eval(node.value) for node in tree.body
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "FAMILIES")


def _assigned(path, name):
    """The literal value of a module-level assignment ``name = ...`` in ``path``, or None."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    return None


def _defined(path):
    """The names a backend file defines at module level (functions, imports, assignments)."""
    if path.suffix == ".pxi":
        return set(re.findall(r"^def (\w+)\(", path.read_text(), re.M))
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


FAMILIES = _families()


def test_every_family_folder_has_its_files():
    for family in FAMILIES:
        folder = KERNELS / family
        for name in ("__init__.py", "api.py", "reference.py", "DESIGN.md"):
            assert (folder / name).is_file(), f"kernels/{family}/ has no {name}"
        assert _assigned(folder / "__init__.py", "KERNELS"), f"kernels/{family}/__init__.py names no KERNELS"


def test_every_kernel_folder_is_a_registered_family():
    shared = {"_numba"}   # infrastructure every family's Numba code shares
    folders = {p.name for p in KERNELS.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders - shared <= set(FAMILIES), (
        f"kernels/ folders {sorted(folders - shared - set(FAMILIES))} are not in FAMILIES (kernels/_families.py)")


@pytest.mark.parametrize("family", FAMILIES)
def test_each_backend_file_defines_the_family_kernels(family):
    folder = KERNELS / family
    kernels = set(_assigned(folder / "__init__.py", "KERNELS"))
    overrides = _assigned(folder / "__init__.py", "BACKEND_FILES") or {}
    files = {"numpy": "reference.py", "numba": "numba.py", "cython": "cython.pxi", "cuda": "cuda.py"}
    for kind, default in files.items():
        source = overrides.get(kind)
        path = folder / (f"{source}.py" if source and source != "cython" else default)
        assert path.is_file(), f"kernels/{family}: the {kind} backend needs {path.name}"
        missing = kernels - _defined(path)
        assert not missing, f"kernels/{family}/{path.name} does not define {sorted(missing)}"


def _private_kernel_names(source):
    """Private names of tapegrad.kernels used in ``source``: ``from tapegrad.kernels(.x) import _y``,
    ``import tapegrad.kernels._x``, ``from tapegrad.kernels._x import ...``, ``kernels._x``, ``kernels.x._y``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if "kernels" not in module.split("."):
                continue
            if any(part.startswith("_") for part in module.split(".") if part):
                found.append(module)
            found += [f"{module}.{a.name}" for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names
                      if "kernels" in a.name.split(".") and any(p.startswith("_") for p in a.name.split("."))]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            chain, inner = [node.attr], node.value
            while isinstance(inner, ast.Attribute):
                chain.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name):
                chain.append(inner.id)
            if "kernels" in chain[1:]:
                found.append(".".join(reversed(chain)))
    return found


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_private_kernel_name_is_used_outside_kernels(path):
    used = _private_kernel_names(path.read_text())
    assert not used, f"{path.relative_to(ROOT)} uses private names of tapegrad.kernels: {used}; give them a public name"


def test_the_private_name_checker_sees_what_it_should():
    source = textwrap.dedent("""
        from tapegrad.kernels._dispatch import BACKEND_NAMES
        from .kernels import _labels
        from tapegrad.kernels.elementwise.api import check_dropout_rate
        import tapegrad.kernels._numba
        rate = kernels.api._dropout_rate(0.5, "dropout")
        fine = kernels.check_dropout_rate(0.5) + kernels.__name__
    """)
    assert _private_kernel_names(source) == [
        "tapegrad.kernels._dispatch", ".kernels._labels", "tapegrad.kernels._numba", "kernels.api._dropout_rate"]


def _import_time_nodes(node):
    """Every node that runs when the module is imported: not the bodies of functions or classes."""
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            yield from _import_time_nodes(child)


def _module_level_mutations(source):
    """Assignments at import time to ``os.environ`` (or ``os.putenv``) or to a ``np``/``numpy`` attribute."""
    found = []
    for node in _import_time_nodes(ast.parse(source)):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        found += [ast.unparse(t) for t in targets if ast.unparse(t).startswith(("os.environ", "np.", "numpy."))]
        if isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            first = ast.unparse(node.args[0]) if node.args else ""
            if func in ("os.environ.setdefault", "os.environ.update", "os.putenv") or (
                    func == "setattr" and first in ("np", "numpy")):
                found.append(func)
    return found


@pytest.mark.parametrize("path", sorted(KERNELS.rglob("*.py")), ids=lambda p: str(p.relative_to(KERNELS)))
def test_no_kernel_module_changes_the_environment_or_numpy_at_import(path):
    assert _module_level_mutations(path.read_text()) == [], path


def test_the_mutation_checker_sees_what_it_should():
    source = textwrap.dedent("""
        import os
        if os.environ.get("X") is None:
            os.environ["X"] = "1"
        if not hasattr(np, "row_stack"):
            np.row_stack = np.vstack
        os.environ.setdefault("Y", "2")

        def inside():
            np.row_stack = np.vstack   # in a function: not at import
    """)
    assert _module_level_mutations(source) == ["os.environ['X']", "np.row_stack", "os.environ.setdefault"]


IMPORT_EVERYTHING = """
import os, sys, importlib, pkgutil
import numpy as np
env = dict(os.environ)
numpy_before = dict(vars(np))
import tapegrad.kernels as K
names = [m.name for m in pkgutil.walk_packages(K.__path__, "tapegrad.kernels.")]
for name in names:
    try:
        importlib.import_module(name)
    except ImportError:                 # a cuda module, with numba lacking a CUDA target
        assert "cuda" in name, name
be = K.get_backend("numba")
be.relu(np.ones(3), np.empty(3))        # compiles (or loads) a kernel
changed = sorted(k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k))
import types                            # a submodule NumPy imports lazily (np.random) is no patch
numpy_changed = sorted(k for k in set(numpy_before) | set(vars(np))
                       if numpy_before.get(k, None) is not vars(np).get(k, None)
                       and not (k not in numpy_before and isinstance(vars(np)[k], types.ModuleType)))
from numba.core import config
print(changed, numpy_changed, config.SLP_VECTORIZE, len(names) > 10)
"""


def test_importing_and_running_the_kernels_leaves_environment_and_numpy_alone(tmp_path):
    """Before: kernels/numba_gemm.py set NUMBA_SLP_VECTORIZE=1 in os.environ at
    import (so the user's own Numba functions compiled with it too); and
    cuda_backend.py put np.row_stack back on a NumPy without it (caught by the
    static check above: this NumPy has it, and Numba itself needs it here)."""
    env = {k: v for k, v in __import__("os").environ.items() if k != "NUMBA_SLP_VECTORIZE"}
    env["NUMBA_CACHE_DIR"] = str(tmp_path)
    run = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split("\n")[0] == "[] [] 0 True", run.stdout
