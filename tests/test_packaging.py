"""What the packaging promises, checked on the source tree (or an unpacked sdist, which carries the same files).

Building the artifacts takes minutes, so the builds themselves are checked by hand with
``python -m build`` and ``tools/build_wheels.sh``; these tests pin the facts those builds rely on.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="tomllib (reading pyproject.toml) is Python 3.11+")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_license_file_is_shipped_and_is_the_declared_license():
    project = pyproject()["project"]
    assert project["license"] == "MIT"
    for name in project["license-files"]:
        text = (ROOT / name).read_text()
        assert text.startswith("MIT License") and "the tapegrad authors" in text


def test_build_requires_numpy_only_if_a_kernel_compiles_against_it():
    sources = [*ROOT.glob("kernels/*.pyx"), *ROOT.glob("kernels/**/*.pxi")]
    assert sources, "no Cython sources found"
    cimports_numpy = any(re.search(r"^\s*(cimport numpy|from numpy cimport)", path.read_text(), re.M)
                         for path in sources)
    requires = [re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0].lower()
                for r in pyproject()["build-system"]["requires"]]
    assert ("numpy" in requires) == cimports_numpy, requires


def test_every_kernel_source_the_extension_includes_is_package_data():
    """The Cython extension includes each family's cython.pxi and C header
    (kernels/<family>/); a wheel or sdist without them cannot build it."""
    import fnmatch

    data = pyproject()["tool"]["setuptools"]["package-data"]
    needed = [p for p in (ROOT / "kernels").rglob("*") if p.suffix in (".pxi", ".h", ".pyx")
              and p.name != "_cython_families.pxi"]        # written by setup.py at build time
    assert any(p.parent.name == "gemm" for p in needed)
    for path in needed:
        folder = path.parent.relative_to(ROOT / "kernels")
        package = "tapegrad.kernels" + "".join(f".{part}" for part in folder.parts)
        patterns = data.get(package, []) + data.get("*", [])
        assert any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns), f"{path} is not package data"
    packages = set()   # and each family folder is a package setup.py names
    setup_source = (ROOT / "setup.py").read_text()
    assert 'find_packages(where="kernels")' in setup_source
    for path in needed:
        packages.add(path.parent)
    assert all((folder / "__init__.py").exists() for folder in packages)


def test_python_classifiers_match_requires_python():
    project = pyproject()
    minimum = re.fullmatch(r">=3\.(\d+)", project["project"]["requires-python"]).group(1)
    minors = sorted(int(c.rsplit(".", 1)[1]) for c in project["project"]["classifiers"]
                    if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c))
    assert minors and minors[0] == int(minimum)
    assert minors == list(range(minors[0], minors[-1] + 1))  # no gaps


def test_readme_has_no_relative_links():
    """PyPI renders README.md on its own: a link to a file of the repository goes nowhere there."""
    links = re.findall(r"\]\(([^)]+)\)", (ROOT / "README.md").read_text())
    relative = [link for link in links if not re.match(r"(https?://|#)", link)]
    assert relative == []


def test_no_merge_conflict_markers_are_left():
    """A conflict committed by mistake (it happened once, in README) fails here."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        files = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True,
                               check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (e.g. an unpacked sdist): nothing to list")
    bad = []
    for name in files:
        path = root / name
        if path.suffix in {".gz", ".png", ".svg", ".c"} or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if line.startswith(("<<<<<<< ", ">>>>>>> ")) or line == "=======":
                bad.append(f"{name}:{number}")
    assert bad == [], bad
