"""The two local shims that replaced import-time changes to the user's process.

* kernels/_numba ``njit``: LLVM's SLP vectorizer on while our kernels compile,
  Numba's setting restored after (before: ``NUMBA_SLP_VECTORIZE=1`` was put
  in ``os.environ`` at import, for every Numba function of the process);
* kernels/_cuda ``load_array_overloads``: ``np.row_stack`` present only while
  numba-cuda's array overloads import (before: assigned on NumPy for good).
"""

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from numba.core import config  # noqa: E402

from tapegrad.kernels import _cuda, _numba  # noqa: E402


def _recording_dispatcher(seen):
    """A dispatcher made by our njit whose real compile is replaced by one that
    records Numba's SLP setting at the moment it would compile."""
    def add_one(x):
        return x + 1

    dispatcher = numba.njit(add_one)
    dispatcher.compile = lambda sig: seen.append(config.SLP_VECTORIZE)
    return _numba._with_slp_vectorizer(dispatcher)


def test_our_compiles_see_the_slp_vectorizer_and_leave_it_as_it_was(monkeypatch):
    monkeypatch.delenv("NUMBA_SLP_VECTORIZE", raising=False)
    before = config.SLP_VECTORIZE
    seen = []
    _recording_dispatcher(seen).compile(("int64",))
    assert seen == [1] and config.SLP_VECTORIZE == before


def test_the_setting_is_restored_when_a_compile_fails(monkeypatch):
    monkeypatch.delenv("NUMBA_SLP_VECTORIZE", raising=False)
    before = config.SLP_VECTORIZE
    dispatcher = numba.njit(lambda x: x)

    def failing(sig):
        raise RuntimeError("compile failed")

    dispatcher.compile = failing
    with pytest.raises(RuntimeError, match="compile failed"):
        _numba._with_slp_vectorizer(dispatcher).compile(("int64",))
    assert config.SLP_VECTORIZE == before


def test_a_users_numba_slp_vectorize_wins(monkeypatch):
    monkeypatch.setenv("NUMBA_SLP_VECTORIZE", "0")
    monkeypatch.setattr(config, "SLP_VECTORIZE", 0)
    seen = []
    _recording_dispatcher(seen).compile(("int64",))
    assert seen == [0]


def test_a_kernel_compiled_through_our_njit_runs():
    @_numba.njit(cache=False)
    def twice(x):
        return 2 * x

    assert twice(21) == 42 and config.SLP_VECTORIZE == int(__import__("os").environ.get("NUMBA_SLP_VECTORIZE", 0))


def test_row_stack_exists_only_while_numba_cuda_imports_its_overloads(monkeypatch):
    monkeypatch.delattr(np, "row_stack", raising=False)   # NumPy 2.5 has none
    monkeypatch.setattr(_cuda, "cuda", object())           # as if numba.cuda imported, on a GPU
    monkeypatch.setattr(_cuda, "simulated", lambda: False)
    seen = []

    def import_module(name):
        seen.append((name, getattr(np, "row_stack", None) is np.vstack))

    _cuda.load_array_overloads(import_module=import_module)
    assert seen == [("numba.cuda.np.arrayobj", True)]
    assert not hasattr(np, "row_stack")


def test_row_stack_is_removed_when_the_import_fails(monkeypatch):
    monkeypatch.delattr(np, "row_stack", raising=False)
    monkeypatch.setattr(_cuda, "cuda", object())
    monkeypatch.setattr(_cuda, "simulated", lambda: False)

    def import_module(name):
        raise ImportError("an older numba-cuda")

    _cuda.load_array_overloads(import_module=import_module)
    assert not hasattr(np, "row_stack")


def test_a_numpy_with_row_stack_is_not_touched(monkeypatch):
    monkeypatch.setattr(_cuda, "cuda", object())
    monkeypatch.setattr(_cuda, "simulated", lambda: False)
    if not hasattr(np, "row_stack"):
        monkeypatch.setattr(np, "row_stack", np.vstack, raising=False)
    original = np.row_stack
    calls = []
    _cuda.load_array_overloads(import_module=calls.append)
    assert calls == [] and np.row_stack is original
