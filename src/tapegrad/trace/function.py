"""``tapegrad.function`` (``tf.function``): trace once per input signature, then replay the plan.

A call first computes the *signature* of its arguments: for each tensor or
array its shape and dtype, for each other value (a Python number, a string,
an object) the value itself.  The first call with a signature traces: it
runs the Python function eagerly, recorded (``record.py``), turns the record
into a graph, runs the passes (``passes.py``) and compiles the plan
(``codegen.py``).  Every later call with that signature runs the plan alone:
no Python of the layers, no tape.  As in TensorFlow, Python side effects
(``print``, appending to a list) happen while tracing only, and
``tapegrad.print`` prints at every call.

When the recorder refuses a function (control flow on tensor values, NumPy
code outside the kernels, an op it cannot replay), that signature runs
eagerly from then on, after one warning: never a wrong answer.
"""

from __future__ import annotations

import functools
import sys
import threading
import warnings

import numpy as np

from .. import kernels
from ..tape import _thread_tapes
from ..tensor import Tensor, Variable, as_dtype
from . import record
from .codegen import Plan, _leaves, rebuild
from .graph import graph_to_dot
from .passes import run_pipeline

_EAGER = object()          # a signature the recorder refused: runs as plain Python
_run_eagerly = [False]     # tapegrad.config.run_functions_eagerly


def run_functions_eagerly(run_eagerly):
    """``tf.config.run_functions_eagerly``: when True every ``tapegrad.function`` runs its Python."""
    _run_eagerly[0] = bool(run_eagerly)


def functions_run_eagerly():
    return _run_eagerly[0]


class TensorSpec:
    """``tf.TensorSpec``: the shape (``None`` for any size) and dtype an input must have."""

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = None if shape is None else tuple(None if n is None else int(n) for n in shape)
        self.dtype = as_dtype(dtype)
        self.name = name

    def is_compatible_with(self, x):
        shape, dtype = tuple(np.shape(x._data if isinstance(x, Tensor) else x)), getattr(x, "dtype", None)
        if dtype is None or np.dtype(dtype) != self.dtype:
            return False
        if self.shape is None:
            return True
        return len(shape) == len(self.shape) and all(a is None or a == b for a, b in zip(self.shape, shape))

    def __repr__(self):
        return f"TensorSpec(shape={self.shape}, dtype={self.dtype.name}, name={self.name!r})"


def _signature(args, kwargs):
    """``(key, leaves)``: the cache key of a call and its tensor/array leaves, in order."""
    leaves, key = [], []

    def walk(x):
        if isinstance(x, Variable):            # captured by reference: one trace per Variable object
            key.append(("V", id(x)))
        elif isinstance(x, Tensor):
            leaves.append(x)
            key.append(("T", x.shape, x.dtype.str, x._backend.name, x._data.flags.c_contiguous))
        elif isinstance(x, np.ndarray):
            leaves.append(x)
            key.append(("A", x.shape, x.dtype.str, x.flags.c_contiguous))
        elif isinstance(x, (list, tuple)):
            key.append((type(x).__name__, len(x)))
            for item in x:
                walk(item)
        elif isinstance(x, dict):
            key.append(("dict", tuple(sorted(map(repr, x)))))
            for k in sorted(x, key=repr):
                walk(x[k])
        elif isinstance(x, (int, float, str, bool, type(None), np.generic)):
            key.append((type(x).__name__, x))
        else:
            key.append(("id", id(x)))          # an object (a model, a layer): by identity, as TF does
    walk(list(args))
    walk(kwargs)
    return tuple(key), leaves


def _flat_key(args):
    """``(key, arrays)``: the short key of a call whose arguments are all arrays or
    tensors, given positionally (a training step's ``(x, y)``, fit's ``(x, y,
    rows)``), and the arrays its plan runs on; ``(None, None)`` for any other call.

    It names what ``_signature`` names of each one (shape, dtype, layout, and a
    tensor's backend), so one short key always stands for one signature: the
    trace found for it once is found again with a dictionary lookup, not a walk.
    (The dtype itself rather than its ``str``: two dtypes are equal exactly when
    they read memory alike, and comparing them makes no string.)
    A Variable, a subclass, a list or any other value: None (the full walk)."""
    key, arrays = [], []
    for x in args:
        kind = type(x)
        if kind is np.ndarray:
            key.append((x.shape, x.dtype, x.flags.c_contiguous))
            arrays.append(x)
        elif kind is Tensor:
            data = x._data
            key.append((x._backend.name, data.shape, data.dtype, data.flags.c_contiguous))
            arrays.append(data)
        else:
            return None, None
    return tuple(key), arrays


def _arrays_as_tensors(structure, be):
    """NumPy arrays among the arguments as Tensors (no copy), as TF converts them."""
    if isinstance(structure, np.ndarray):
        return Tensor._wrap(structure if structure.dtype.isnative else structure.astype(structure.dtype.newbyteorder("=")), be)
    if isinstance(structure, list):
        return [_arrays_as_tensors(x, be) for x in structure]
    if isinstance(structure, tuple) and not hasattr(structure, "_fields"):
        return tuple(_arrays_as_tensors(x, be) for x in structure)
    if isinstance(structure, dict):
        return {k: _arrays_as_tensors(v, be) for k, v in structure.items()}
    return structure


def _traced_copy(structure, rec):
    """The call's arguments with every tensor and array replaced by its traced stand-in."""
    if isinstance(structure, Variable):
        return structure
    if isinstance(structure, (Tensor, np.ndarray)):
        return rec.traced_input(structure)
    if isinstance(structure, list):
        return [_traced_copy(x, rec) for x in structure]
    if isinstance(structure, tuple):
        items = [_traced_copy(x, rec) for x in structure]
        return type(structure)(*items) if hasattr(structure, "_fields") else tuple(items)
    if isinstance(structure, dict):   # in the order _signature walks a dict, rebuilt in the caller's order
        copied = {k: _traced_copy(structure[k], rec) for k in sorted(structure, key=repr)}
        return {k: copied[k] for k in structure}
    return structure


def _plain(structure):
    """A traced run's result as the caller gets it: arrays as plain ndarrays."""
    if isinstance(structure, Variable):
        return structure
    if isinstance(structure, Tensor):
        data = structure._data
        return Tensor._wrap(data.view(np.ndarray), structure._backend) if isinstance(data, record.TracedArray) \
            else structure
    if isinstance(structure, record.TracedArray):
        return structure.view(np.ndarray)
    if isinstance(structure, (record.TracedFloat, record.TracedInt)):
        return structure.plain()
    if isinstance(structure, list):
        return [_plain(x) for x in structure]
    if isinstance(structure, tuple):
        items = [_plain(x) for x in structure]
        return type(structure)(*items) if hasattr(structure, "_fields") else tuple(items)
    if isinstance(structure, dict):
        return {k: _plain(v) for k, v in structure.items()}
    return structure


def _captured(fn):
    """The tensors and arrays ``fn`` refers to through its closure and globals: constants it may read."""
    fn = getattr(fn, "__func__", fn)
    found = []
    candidates = [cell.cell_contents for cell in (getattr(fn, "__closure__", None) or ())
                  if _has_contents(cell)]
    code = getattr(fn, "__code__", None)
    if code is not None:
        candidates += [fn.__globals__[name] for name in code.co_names if name in fn.__globals__]
    for c in candidates:
        items = c if isinstance(c, (list, tuple)) else [c]
        found += [t._data if isinstance(t, Tensor) else t for t in items
                  if (isinstance(t, Tensor) and not isinstance(t, Variable)) or isinstance(t, np.ndarray)]
    return found


def _has_contents(cell):
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


class ConcreteTrace:
    """What one signature traced into: the graph as recorded, after the passes, and the plan.

    Each thread replays its own compiled plan (``plan_for_thread``): a plan
    writes into its buffers, so two threads running one plan at once would
    overwrite each other's values."""

    def __init__(self, recorded, steps, plan):
        self.recorded, self.steps, self.plan = recorded, steps, plan
        self.graph = plan.graph
        self._per_thread = threading.local()
        self._per_thread.plan = plan

    def plan_for_thread(self):
        plan = getattr(self._per_thread, "plan", None)
        if plan is None:
            plan = self._per_thread.plan = Plan(self.graph)
        return plan


class Function:
    """A Python function traced per input signature and replayed (``tf.function``)."""

    def __init__(self, python_function, input_signature=None, jit_compile=None, reduce_retracing=False,
                 strict_numpy=True, name=None, passes=None, arrays_as_tensors=True):
        self.python_function = python_function
        self.input_signature = None if input_signature is None else list(input_signature)
        self.jit_compile = jit_compile
        self.reduce_retracing = reduce_retracing
        self._strict_numpy = strict_numpy
        self._passes = passes      # None: passes.PIPELINE
        self._arrays_as_tensors = arrays_as_tensors   # False for fit's steps, which take host batches
        self._name = name or getattr(python_function, "__name__", "function")
        self._traces = {}          # signature key -> ConcreteTrace, or _EAGER
        self._flat = {}            # _flat_key of an arrays-only call -> its ConcreteTrace (never _EAGER)
        self._keep = {}            # signature key -> the objects its key names by id (alive while cached)
        self._tracing_count = 0
        self._warned = set()
        functools.update_wrapper(self, python_function)

    def __get__(self, instance, owner):
        """``@tapegrad.function`` on a method: each instance gets its bound Function (cached)."""
        if instance is None:
            return self
        bound = instance.__dict__.get(f"_tapegrad_function_{id(self)}") if hasattr(instance, "__dict__") else None
        if bound is None:
            bound = Function(self.python_function.__get__(instance, owner), self.input_signature, self.jit_compile,
                             self.reduce_retracing, self._strict_numpy, self._name, self._passes,
                             self._arrays_as_tensors)
            if hasattr(instance, "__dict__"):
                instance.__dict__[f"_tapegrad_function_{id(self)}"] = bound
        return bound

    def experimental_get_tracing_count(self):
        """How many times the Python function was traced (TF's name)."""
        return self._tracing_count

    # ------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        if _run_eagerly[0] or _thread_tapes.stack or record._current[0] is not None:
            # an outer tape must see the ops (the plan has no gradient), and a function called
            # while another is traced is part of that trace: both run as Python
            return self.python_function(*args, **kwargs)
        if self.input_signature is not None:
            args = self._bind_signature(args, kwargs)
            kwargs = {}
        elif not kwargs:     # the common call: arrays (or tensors) only, found by their short key
            short, arrays = _flat_key(args) if not self._arrays_as_tensors or np.ndarray not in map(type, args) \
                else (None, None)
            trace = self._flat.get(short) if short is not None else None
            if trace is not None:
                flat = trace.plan_for_thread().run(*arrays)
                return rebuild(trace.graph.outputs, iter(flat))
        else:
            short = None
        if self._arrays_as_tensors:
            be = kernels.get_backend()
            args, kwargs = _arrays_as_tensors(args, be), _arrays_as_tensors(kwargs, be)
        key, leaves = _signature(args, kwargs)
        trace = self._traces.get(key)
        if trace is None:
            return self._trace(key, args, kwargs)
        if trace is _EAGER:
            return self.python_function(*args, **kwargs)
        if short is not None:
            self._flat[short] = trace      # the next call with this short key skips the walk
        flat = trace.plan_for_thread().run(*[x._data if isinstance(x, Tensor) else x for x in leaves])
        return rebuild(trace.graph.outputs, iter(flat))

    def _bind_signature(self, args, kwargs):
        specs = self.input_signature
        if kwargs or len(args) != len(specs):
            raise TypeError(f"{self._name}: called with {len(args)} positional and {len(kwargs)} keyword "
                            f"argument(s), but its input_signature has {len(specs)} TensorSpec(s)")
        bound = []
        for i, (x, spec) in enumerate(zip(args, specs)):
            if not isinstance(x, Tensor):
                x = Tensor._wrap(np.asarray(x, dtype=spec.dtype if not isinstance(x, np.ndarray) else None),
                                 kernels.get_backend())
            if not spec.is_compatible_with(x):
                raise TypeError(f"{self._name}: argument {i} of shape {tuple(np.shape(x._data if isinstance(x, Tensor) else x))} "
                                f"and dtype {x.dtype} does not match the input_signature's {spec}")
            bound.append(x)
        return tuple(bound)

    def _warn(self, reason):
        if reason not in self._warned:
            self._warned.add(reason)
            warnings.warn(f"tapegrad.function {self._name!r} runs eagerly (as plain Python) for these inputs: "
                          f"{reason}. Its results are right, only not traced.", RuntimeWarning, stacklevel=4)

    def _trace(self, key, args, kwargs):
        self._tracing_count += 1
        rec = record.Recorder(self._name, self._strict_numpy, _captured(self.python_function))
        backends = {kernels.get_backend()}
        _, leaves = _signature(args, kwargs)
        backends.update(x._backend for x in leaves if isinstance(x, Tensor))
        if not all(be.host for be in backends):
            self._traces[key] = _EAGER
            self._warn("tracing runs on the CPU backends only (a GPU backend is in use)")
            return self.python_function(*args, **kwargs)
        # every loaded backend is watched, not only the default and the arguments': a Variable the
        # function captures may live on another one (made before a ``kernels.use`` block), and an
        # op on it that nobody recorded would be frozen into the plan as a constant
        loaded = set(kernels.loaded_backends())
        backends |= {be for be in loaded if be.host}
        with record.recording(rec, backends, refused=[be for be in loaded if not be.host]):
            traced_args = _traced_copy(list(args), rec)
            traced_kwargs = _traced_copy(kwargs, rec)
            result = self.python_function(*traced_args, **traced_kwargs)
            graph = rec.finish(result)
        self._keep[key] = (args, kwargs)
        if graph is None:
            self._traces[key] = _EAGER
            self._warn(rec.poisoned)
        else:
            final, steps = run_pipeline(graph, self._passes)
            self._traces[key] = ConcreteTrace(graph, steps, Plan(final))
        return _plain(result)

    # ------------------------------------------------------------ looking at it
    def _trace_for(self, args, kwargs):
        if not self._traces:
            raise ValueError(f"{self._name} has not been traced yet: call it once first")
        if not args and not kwargs:
            trace = list(self._traces.values())[-1]
        else:
            if self.input_signature is not None:
                args = self._bind_signature(args, kwargs)
                kwargs = {}
            trace = self._traces.get(_signature(args, kwargs)[0])
            if trace is None:
                raise ValueError(f"{self._name} has no trace for these inputs: call it with them first")
        if trace is _EAGER:
            raise ValueError(f"{self._name} runs eagerly for these inputs (the recorder refused it; see the warning)")
        return trace

    def get_concrete_function(self, *args, **kwargs):
        """The trace for these arguments (traced now if needed), as TF's name; with no arguments the latest."""
        if (args or kwargs) and _signature(args, kwargs)[0] not in self._traces:
            self(*args, **kwargs)
        return self._trace_for(args, kwargs)

    def graph_dot(self, *args, passes=True, **kwargs):
        """The traced graph in DOT (draw it with Graphviz's ``dot``): after the passes, or as
        recorded with ``passes=False``.  With no arguments, the latest trace."""
        trace = self._trace_for(args, kwargs)
        graph = trace.graph if passes else trace.recorded
        title = f"{self._name}: {'after ' + ', '.join(n for n, _ in trace.steps) if passes else 'as recorded'}" \
                f" ({len(graph.nodes)} calls)"
        return graph_to_dot(graph, title)

    def plan_source(self, *args, **kwargs):
        """The generated Python that replays the trace: one line per call."""
        return self._trace_for(args, kwargs).plan.source


def function(func=None, input_signature=None, autograph=True, jit_compile=None, reduce_retracing=False,
             **experimental):
    """``@tf.function``: trace ``func`` once per input signature into a graph of kernel calls and replay it.

    Use it bare (``@tapegrad.function``) or with arguments
    (``@tapegrad.function(input_signature=[tapegrad.TensorSpec((None, 3))])``).
    ``jit_compile`` and ``autograph`` are accepted and change nothing: the
    plan is always compiled, and Python control flow runs at trace time.
    ``experimental_passes`` (tapegrad's own) replaces ``passes.PIPELINE``, the
    list of passes run on each trace: ``[]`` replays the graph as recorded.
    """
    for name in experimental:
        if not name.startswith("experimental_"):
            raise TypeError(f"function() got an unexpected keyword argument {name!r}")
    passes = experimental.get("experimental_passes")
    if func is None:   # @tf.function(...): return the decorator itself
        return lambda f: function(f, input_signature, autograph, jit_compile, reduce_retracing, **experimental)
    if not callable(func):
        raise TypeError(f"tf.function decorates a function, got {type(func).__name__}")
    return Function(func, input_signature, jit_compile, reduce_retracing, passes=passes)


@record.host_call
def print_(*inputs, output_stream=None, sep=" ", end="\n", summarize=3):
    """``tf.print``: print tensors' values (and any other objects) when the code RUNS.

    Inside a traced function the print is part of the plan, so it prints at
    every call, while Python's ``print`` prints once, when tracing.  A tensor
    prints as its values, as NumPy prints them (at most ``summarize`` items
    at each end of a long axis); the default stream is standard error, as TF's.
    """
    stream = sys.stderr if output_stream is None else output_stream
    parts = []
    for x in inputs:
        if isinstance(x, Tensor):
            with np.printoptions(threshold=1000 if summarize is None or summarize < 0 else 2 * summarize + 1,
                                 edgeitems=summarize if summarize and summarize > 0 else 3):
                parts.append(str(np.asarray(kernels.to_numpy(x._data))))
        else:
            parts.append(str(x))
    print(*parts, sep=sep, end=end, file=stream)
