"""Recording one eager run of a function: every kernel and array call, with what it read and made.

Tracing runs the Python function once, for real, on the real inputs, while a
:class:`Recorder` listens at the three doors every computation of tapegrad
goes through: the kernel API (``tapegrad.kernels.matmul`` ...), the backend's
array math (``backend.xp.add`` ...) and the backend's array creation
(``backend.asarray``, ``zeros``, ``full``, ``astype``).  Each call at the top
level (not one made inside another recorded call) becomes a
:class:`~tapegrad.trace.graph.Node`; each array it reads or returns becomes a
:class:`~tapegrad.trace.graph.Value`.  Methods that keep Python state (an
optimizer's step, a metric's totals, ``Variable.assign``, ``tapegrad.print``)
are marked :func:`host_call` and recorded whole, to be re-run as Python.

The recorder refuses what it cannot replay faithfully, and the function then
runs eagerly from then on (this run's results are right either way: they are
the eager run's).  It refuses when Python reads a traced value (``bool(t)``,
``float(t)``: control flow on data), when NumPy code outside the kernels
computes with a traced array (traced arrays are a NumPy subclass,
:class:`TracedArray`, that notices), and when a kernel reads an array it never
saw being made (a random draw, say) that is not a Variable or a tensor the
function captured.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading

import numpy as np

from .. import kernels
from .. import random as random_module
from .. import tensor as tensor_module
from ..ops import base as ops_base
from ..tensor import Tensor, Variable
from .graph import Graph, Node, TensorOf, Value, replace_values
from .passes import dead_code

_lock = threading.RLock()       # one trace at a time (the doors are patched process-wide)
_current = [None]               # the Recorder tracing now, if any


def active():
    """The Recorder tracing in this thread at the top level, else None."""
    rec = _current[0]
    if rec is not None and rec.thread == threading.get_ident() and rec.depth == 0:
        return rec
    return None


class TracedNumpyError(TypeError):
    """``.numpy()`` (or ``float()``...) of a traced tensor inside ``tapegrad.function``."""


def _notice(what):
    """NumPy touched a traced array outside the recorded calls: give up the trace."""
    rec = active()
    if rec is not None:
        rec.poison(f"{what} ran on a traced array outside the kernels (NumPy code the tracer cannot replay)")


#: NumPy functions that only look at an array's shape or memory, harmless on a traced one
_HARMLESS = {"shape", "ndim", "size", "result_type", "may_share_memory", "shares_memory", "broadcast_shapes",
             "iscomplexobj", "isrealobj", "can_cast", "min_scalar_type"}


class TracedArray(np.ndarray):
    """A NumPy array holding a traced value while the function is traced.

    It behaves as a plain array, but while a trace is running it tells the
    recorder when NumPy math (a ufunc, an ``np.`` function), a Python read
    (``float``, ``bool``, ``.item()``) or an item assignment touches it
    outside a recorded call: the trace cannot replay that, so it falls back
    to eager.  After the trace it is an ordinary array."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _notice(f"NumPy's {ufunc.__name__}")
        inputs = tuple(x.view(np.ndarray) if isinstance(x, TracedArray) else x for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(x.view(np.ndarray) if isinstance(x, TracedArray) else x for x in kwargs["out"])
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func.__name__ not in _HARMLESS:
            _notice(f"np.{func.__name__}")
        return super().__array_function__(func, types, args, kwargs)

    def __setitem__(self, key, value):
        _notice("an item assignment")
        super().__setitem__(key, value)

    def _read(self, what):
        rec = active()
        if rec is not None:
            rec.poison(f"Python read a traced value ({what}): control flow or math on tensor values in Python")

    def item(self, *args):
        self._read("item()")
        return super().item(*args)

    def tolist(self):
        self._read("tolist()")
        return super().tolist()

    def __float__(self):
        self._read("float()")
        return super().__float__()

    def __int__(self):
        self._read("int()")
        return super().__int__()

    def __bool__(self):
        self._read("bool()")
        return super().__bool__()

    def __index__(self):
        self._read("an index")
        return super().__index__()


def _numbers_read(name):
    def method(self, *args):
        rec = active()
        if rec is not None:
            rec.poison(f"Python computed with a number a host call returned ({name}): the plan would keep "
                       "the traced number")
        return getattr(self._plain_type, name)(self.plain(), *args)
    method.__name__ = name
    return method


_NUMBER_METHODS = ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
                   "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__",
                   "__neg__", "__pos__", "__abs__", "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__",
                   "__bool__", "__int__", "__float__", "__index__", "__round__", "__format__", "__str__",
                   "__repr__", "__trunc__", "__floor__", "__ceil__")


class TracedFloat(float):
    """A number a host call returned while traced (a metric's ``result()``): returned
    from the function it is replaced by the step's own number; Python arithmetic or
    a comparison on it gives up the trace (the plan would keep this one)."""

    __hash__ = float.__hash__
    _plain_type = float

    def plain(self):
        """The number as a plain float (no trace is given up)."""
        return float.__float__(self)


class TracedInt(int):
    """The same for an integer (an optimizer's ``iterations``)."""

    __hash__ = int.__hash__
    _plain_type = int

    def plain(self):
        return int.__int__(self)


for _name in _NUMBER_METHODS:
    for _cls in (TracedFloat, TracedInt):
        if hasattr(_cls._plain_type, _name):
            setattr(_cls, _name, _numbers_read(_name))


def view(base, offset, shape, strides, dtype):
    """The view of ``base`` starting ``offset`` bytes in: how the plan remakes a
    reshape, a slice or a transpose that an op took with NumPy's methods."""
    return np.ndarray(shape, dtype, buffer=base, offset=offset, strides=strides)


def _zero_d(fn):
    """``fn`` handing back a 0-d array where it returns a NumPy scalar (``np.sum`` of a
    whole array does): the trace gave the function's caller a 0-d array, so that a
    reshape of it is a view the recorder can follow, and the replay must do the same."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        result = fn(*args, **kwargs)
        return np.asarray(result) if isinstance(result, np.generic) else result
    return call


def _address(a):
    return a.__array_interface__["data"][0]


def host_call(method):
    """Mark a method that keeps Python state (an optimizer's step count, a
    metric's totals) or talks to the outside (printing): traced, it is recorded
    as one node and re-run as Python at every step, with the step's tensors."""
    @functools.wraps(method)
    def run(*args, **kwargs):
        rec = active()
        if rec is None:
            return method(*args, **kwargs)
        return rec.host(method, args, kwargs)
    run.host_call = True
    return run


# methods of kernels that write an argument in place: their node always runs
_IN_PLACE = {"sgd_update", "rmsprop_update", "adam_update", "sgd_update_foreach", "rmsprop_update_foreach",
             "adam_update_foreach", "accumulate_sum", "accumulate_correct"}
_CREATION = ("asarray", "astype", "ascontiguous", "zeros", "full")
_STATEFUL = {"random.uniform_draw"}   # calls that change state (a generator's) even with constant arguments
_NOT_RECORDED = {"get_backend", "available_backends", "loaded_backends", "set_num_threads", "use",
                 "check_dropout_rate", "to_numpy"}


def _kernel_functions():
    return {name: getattr(kernels, name) for name in kernels.__all__
            if name not in _NOT_RECORDED and callable(getattr(kernels, name))
            and not isinstance(getattr(kernels, name), type)}


class Recorder:
    """Records one run of a function into a :class:`Graph` (see the module docstring)."""

    def __init__(self, name, strict_numpy=True, captured=()):
        self.name = name
        self.thread = threading.get_ident()
        self.depth = 0
        self.poisoned = None
        self.strict_numpy = strict_numpy
        self.values = {}       # id(array or object) -> Value
        self.keep = []         # every object whose id is a key above, alive until the trace ends
        self.ranges = []       # (start, end, Value): memory of the inputs and of fresh results, for views
        self.nodes = []
        self.inputs = []
        self.variables = {}    # id(array) -> Variable, from the ops that read them
        self.variable_values = {}   # id(Variable) -> Value
        self.created = []      # (constant made during the trace, a copy): checked unchanged at the end
        self.captured = {id(a) for a in captured}   # the arrays of the tensors the function refers to
        self.count = 0
        self.arrays = {}       # Value -> the array it stood for during the trace
        self.constant_ranges = []   # (start, end) of the constants made during the trace
        self.random_draws = {}      # id(array) -> the array: tapegrad.random's draws made during the trace
        self.pending_use = {}  # pending Value -> the first call that read it (for the refusal's message)

    # ------------------------------------------------------------ names and values
    def _new(self, prefix, kind, obj, **kw):
        self.count += 1
        shape = tuple(obj.shape) if isinstance(obj, (np.ndarray, np.generic)) else None
        dtype = obj.dtype if shape is not None else None
        value = Value(f"{prefix}{self.count}", kind, obj if kind in ("constant", "pending") else None,
                      shape, dtype, **kw)
        self.values[id(obj)] = value
        self.arrays[value] = obj
        self.keep.append(obj)
        return value

    def _register_memory(self, array, value):
        if isinstance(array, np.ndarray) and array.nbytes:
            start = _address(array)
            self.ranges.append((start, start + array.nbytes, value, array))

    def poison(self, reason):
        if self.poisoned is None:
            self.poisoned = reason

    def traced_input(self, x):
        """A Tensor or array argument: its traced stand-in, registered as the next input."""
        array = x._data if isinstance(x, Tensor) else x
        traced = array.view(TracedArray)
        value = Value(f"in{len(self.inputs)}", "input", len(self.inputs), tuple(array.shape), array.dtype)
        self.inputs.append(value)
        self.arrays[value] = traced
        for obj in (traced, array):
            self.values[id(obj)] = value
            self.keep.append(obj)
        self._register_memory(array, value)
        return Tensor._wrap(traced, x._backend) if isinstance(x, Tensor) else traced

    def variable(self, var):
        value = self.variable_values.get(id(var))
        if value is None:
            value = Value(f"var{len(self.variable_values)}", "variable", var, var.shape, var.dtype)
            self.variable_values[id(var)] = value
            self.keep.append(var)
        return value

    def leaf(self, x):
        """The Value standing for argument ``x`` (an array, a ClassIds), or ``x`` itself (a constant)."""
        if isinstance(x, (list, tuple)):
            items = [self.leaf(item) for item in x]
            return items if isinstance(x, list) else tuple(items)
        if isinstance(x, dict):
            return {k: self.leaf(item) for k, item in x.items()}
        if isinstance(x, np.ndarray):
            value = self.values.get(id(x))
            if value is not None:
                return value
            inside = [(end - start, base, array) for start, end, base, array in self.ranges
                      if start <= _address(x) and _address(x) + x.nbytes <= end and x.nbytes]
            if inside:     # a view: of the smallest array holding it (an input, or a call's result)
                if len({base for _, base, _ in inside if base.kind == "input"}) > 1:
                    self.poison("two inputs share memory, and a view of it reached a kernel")
                    return x
                _, base, array = min(inside, key=lambda item: item[0])
                return self._view(x, base, array)
            if x.nbytes and any(start <= _address(x) and _address(x) + x.nbytes <= end
                                for start, end in self.constant_ranges):
                return self._new("c", "constant", x)      # a view of a constant is a constant
            if isinstance(x, TracedArray):
                self.poison("an array computed from traced values by NumPy code outside the kernels "
                            "reached a kernel")
                return x
            return self._new("p", "pending", x)    # a Variable's array, a captured constant, or trouble
        if isinstance(x, kernels.ClassIds):
            value = self.values.get(id(x))
            if value is None:
                self.poison("a batch of class ids the tracer did not see being made reached a kernel")
                return x
            return value
        if isinstance(x, (np.generic, TracedFloat, TracedInt)):
            return self.values.get(id(x), x)
        if hasattr(x, "__cuda_array_interface__"):
            self.poison("an array on the GPU reached a kernel (tracing follows the CPU backends only)")
        return x

    def _view(self, x, base, base_array):
        offset = _address(x) - _address(base_array)
        value = self._new("v", "result", x, view_of=base)
        node = Node("view", view, (base, offset, tuple(x.shape), tuple(x.strides), x.dtype), {}, (value,))
        value.producer = node
        self.nodes.append(node)
        return value

    def _outputs(self, result, inputs):
        """Values for what a recorded call returned: ``(outputs, returns, result handed back)``."""
        if result is None:
            return (), "none", None
        items, returns = (result, "tuple") if type(result) is tuple else ((result,), "one")
        outputs, handed = [], []
        for item in items:
            if isinstance(item, np.generic) and returns == "one":
                item = np.asarray(item)       # a NumPy scalar: a 0-d array (see _zero_d)
            if isinstance(item, np.ndarray):
                base = next((v for v in inputs if isinstance(v, Value) and v.shape is not None
                             and self._shares(item, v)), None)
                traced = item if isinstance(item, TracedArray) else item.view(TracedArray)
                value = self._new("t", "result", traced, view_of=base)
                self.values[id(item)] = value
                self.keep.append(item)
                if base is None:
                    self._register_memory(item, value)
                outputs.append(value)
                handed.append(traced)
            elif isinstance(item, kernels.ClassIds):
                outputs.append(self._new("t", "result", item))
                handed.append(item)
            else:
                return None, None, result   # a Python value: not a graph value
        handed = tuple(handed) if returns == "tuple" else handed[0]
        return outputs, returns, handed

    def _shares(self, array, value):
        known = self.arrays.get(value)
        return known is not None and np.may_share_memory(array, known)

    # ------------------------------------------------------------ the doors
    def call(self, op, fn, args, kwargs, out_keyword=None):
        """Run ``fn`` (a kernel or an ``xp`` function) and record it."""
        self.depth += 1
        try:
            result = fn(*args, **kwargs)
        finally:
            self.depth -= 1
        if self.poisoned:
            return result
        arg_values = self.leaf(list(args))
        kw_values = {k: self.leaf(v) for k, v in kwargs.items()}
        found = []
        _collect(arg_values, found)
        _collect(kw_values, found)
        for v in found:
            if v.kind == "pending":
                self.pending_use.setdefault(v, op)
        written = kw_values.get("out")
        if written is not None and isinstance(written, Value) and result is kwargs.get("out"):
            node = Node(op, fn, arg_values, kw_values, (), "none", writes=(written,),
                        effect=written.kind in ("variable", "pending"))
            self.nodes.append(node)
            return result
        if any(result is a for a in args):          # handed back its own input (astype to the same dtype)
            return result
        outputs, returns, handed = self._outputs(result, found)
        if outputs is None:
            if found:
                self.poison(f"{op} returned a {type(result).__name__}, which the plan cannot hold")
            return result
        if not found and not outputs:
            return result
        name = op.rsplit(".", 1)[-1]
        if isinstance(result, np.generic):
            fn = _zero_d(fn)
        node = Node(op, fn, arg_values, kw_values, outputs, returns,
                    out_keyword=out_keyword if returns == "one" else None,
                    effect=name in _IN_PLACE or op in _STATEFUL, writes=())
        for v in outputs:
            v.producer = node
        self.nodes.append(node)
        return handed

    def create(self, op, fn, args, kwargs):
        """A backend creation call: a constant when made from Python values, else a node."""
        self.depth += 1
        try:
            result = fn(*args, **kwargs)
        finally:
            self.depth -= 1
        if self.poisoned or not isinstance(result, np.ndarray):
            return result
        if any(isinstance(a, (np.ndarray, np.generic)) for a in (*args, *kwargs.values())):
            return self._record_created(op, fn, args, kwargs, result)
        self._new("c", "constant", result)
        self.created.append((result, result.copy(), op))
        if result.nbytes:
            self.constant_ranges.append((_address(result), _address(result) + result.nbytes))
        return result

    def _record_created(self, op, fn, args, kwargs, result):
        arg_values = self.leaf(list(args))
        kw_values = {k: self.leaf(v) for k, v in kwargs.items()}
        if any(result is a for a in args):
            return result
        found = []
        _collect(arg_values, found)
        for v in found:
            if v.kind == "pending":
                self.pending_use.setdefault(v, op)
        outputs, returns, handed = self._outputs(result, found)
        if outputs is None:
            self.poison(f"{op} returned a {type(result).__name__}, which the plan cannot hold")
            return result
        node = Node(op, _zero_d(fn) if isinstance(result, np.generic) else fn, arg_values, kw_values, outputs,
                    returns)
        for v in outputs:
            v.producer = node
        self.nodes.append(node)
        return handed

    def host(self, method, args, kwargs):
        """Run a host call and record it whole (see :func:`host_call`)."""
        self.depth += 1
        try:
            result = method(*args, **kwargs)
        finally:
            self.depth -= 1
        if self.poisoned:
            return result
        owner = type(args[0]) if args else None
        op = f"{owner.__name__}.{method.__name__}" if owner is not None and \
            getattr(owner, method.__name__, None) is not None and "." in method.__qualname__ else method.__qualname__
        outputs, returns = (), "none"
        if type(result) in (float, int):       # a number: followed, as a TracedFloat / TracedInt
            result = (TracedFloat if type(result) is float else TracedInt)(result)
            outputs, returns = (self._new("t", "result", result),), "one"
        node = Node(op, method, self._host_leaf(list(args)),
                    {k: self._host_leaf(v) for k, v in kwargs.items()}, outputs, returns, effect=True)
        for v in outputs:
            v.producer = node
        self.nodes.append(node)
        return result

    def _host_leaf(self, x):
        if isinstance(x, Variable):
            return TensorOf(self.variable(x), x._backend)
        if isinstance(x, Tensor):
            value = self.leaf(x._data)
            return TensorOf(value, x._backend) if isinstance(value, Value) else x
        if isinstance(x, (list, tuple)):
            items = [self._host_leaf(item) for item in x]
            return items if isinstance(x, list) else tuple(items)
        if isinstance(x, dict):
            return {k: self._host_leaf(item) for k, item in x.items()}
        return self.leaf(x)

    def observe(self, out, inputs):
        """Called by every op (``ops.base._result``): learn which arrays are Variables'."""
        if threading.get_ident() != self.thread:
            return
        for x in inputs:
            if isinstance(x, Variable):
                self.variables[id(x._data)] = x
                self.keep.append(x._data)

    def read(self, tensor, what):
        """Python asks for a tensor's numbers (``Tensor.numpy``, ``float``, ``bool``...)."""
        if not isinstance(tensor, Variable) and id(tensor._data) not in self.values \
                and not isinstance(tensor._data, TracedArray):
            return False                            # a constant: its numbers are known now
        if what == "str":
            return True                             # printed as TF prints a symbolic tensor
        if what == "numpy" and self.strict_numpy:
            raise TracedNumpyError(
                f"{type(tensor).__name__}.numpy() is not available inside tapegrad.function "
                f"{self.name!r} while it is traced: the tensor is a value of the graph being built, whose "
                "numbers exist only when the graph runs (TensorFlow raises here too). Return the tensor and "
                "call .numpy() on the result, print it at run time with tapegrad.print, or call the "
                "function's .python_function to run it eagerly.")
        self.poison(f"Python read the value of a traced tensor ({what}): control flow or math on tensor "
                    "values in Python")

    # ------------------------------------------------------------ the end
    def finish(self, result):
        """The graph of the run that returned ``result`` (None when the trace was refused)."""
        outputs = self._host_leaf(result) if not self.poisoned else None
        read = set()     # the values some call that matters reads (a call nothing needs is dropped anyway)
        if not self.poisoned:
            for node in dead_code(Graph(self.name, self.inputs, self.nodes, outputs)).nodes:
                read.update(node.inputs())
            read.update(Graph(self.name, self.inputs, [], outputs).output_values())
        for value in list(self.values.values()):
            if value.kind != "pending" or self.poisoned:
                continue
            var = self.variables.get(id(value.source))
            first_use = self.pending_use.get(value, "a call")
            if var is not None:
                value.kind, value.source, value.name = "variable", var, self.variable(var).name
                self._merge(value, self.variable(var))
            elif id(value.source) in self.random_draws and value in read:
                self.poison(f"{first_use} read a random draw (tapegrad.random), which the plan would freeze")
            elif id(value.source) in self.captured or first_use.rsplit(".", 1)[-1] in _CREATION \
                    or value not in read:
                value.kind = "constant"     # captured, made from Python values (tf.constant(2.0)), or unused
            else:
                self.poison(f"{first_use} read an array ({value.describe()}) the "
                            "tracer did not see being made (a random draw, or NumPy code outside the kernels) "
                            "that is neither a Variable nor a tensor the function captures")
        for made, copy, op in self.created:
            if made.tobytes() != copy.tobytes():
                self.poison(f"an array made during the trace ({op}, {made.dtype.name}{list(made.shape)}) was "
                            "changed in place by code the tracer cannot see")
        if self.poisoned:
            return None
        return Graph(self.name, self.inputs, self.nodes, outputs)

    def _merge(self, pending, variable_value):
        """Point every use of ``pending`` (an array that turned out to be a Variable's) at the Variable."""
        mapping = {pending: variable_value}
        for node in self.nodes:
            node.args = replace_values(node.args, mapping)
            node.kwargs = replace_values(node.kwargs, mapping)
            node.writes = replace_values(node.writes, mapping)


def _collect(item, found):
    if isinstance(item, Value):
        found.append(item)
    elif isinstance(item, (list, tuple)):
        for x in item:
            _collect(x, found)
    elif isinstance(item, dict):
        for x in item.values():
            _collect(x, found)


# ---------------------------------------------------------------- the doors, opened during a trace
class _RecordingXp:
    """Stands in for ``backend.xp`` during a trace: each function it hands out records its calls."""

    def __init__(self, xp):
        self._xp = xp
        self._wrapped = {}

    def __getattr__(self, name):
        fn = getattr(self._xp, name)
        wrapped = self._wrapped.get(name)
        if wrapped is None:
            out_keyword = "out" if isinstance(fn, np.ufunc) else None
            wrapped = self._wrapped[name] = _door(f"xp.{name}", fn, out_keyword)
            if isinstance(fn, np.ufunc):     # ``xp.add.at(...)``: the ufunc's methods, not recorded (an
                for method in ("at", "reduce", "accumulate", "outer", "reduceat"):   # unrecorded write
                    setattr(wrapped, method, getattr(fn, method))      # is caught at the end)
        return wrapped


_NO_ATTRIBUTE = object()


def _refusing_xp(refusing, original, backend):
    """The ``xp`` property of a refused backend's class during a trace (see ``recording``):
    a refused backend's array functions behind a refusal, another instance's as they were."""
    wrapped = refusing.get(id(backend))
    if wrapped is not None:
        return wrapped
    return original.__get__(backend, type(backend)) if hasattr(original, "__get__") else original


class _RefusingXp:
    """Stands in for a GPU backend's ``xp`` during a trace: a call refuses the trace."""

    def __init__(self, xp, backend_name):
        self._xp = xp
        self._backend_name = backend_name

    def __getattr__(self, name):
        rec = active()
        if rec is not None:
            rec.poison(f"xp.{name} ran on the {self._backend_name} backend (a tensor on the GPU), which "
                       "tracing does not follow (CPU backends only)")
        return getattr(self._xp, name)


def _door(op, fn, out_keyword=None):
    @functools.wraps(fn)
    def record(*args, **kwargs):
        rec = active()
        if rec is None:
            return fn(*args, **kwargs)
        return rec.call(op, fn, args, kwargs, out_keyword)
    return record


def _creation_door(op, fn):
    def record(*args, **kwargs):
        rec = active()
        if rec is None:
            return fn(*args, **kwargs)
        return rec.create(op, fn, args, kwargs)
    return record


def _takes_out(fn):
    """True when kernel ``fn`` accepts ``out=`` (a preallocated output array)."""
    try:
        return "out" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


@contextlib.contextmanager
def recording(rec, backends, refused=()):
    """Open the doors for ``rec`` on ``backends`` for the duration of the block; an array
    function of a ``refused`` backend (a GPU's, which a plan cannot replay) called in it
    refuses the trace (the function then runs eagerly)."""
    with _lock:
        if _current[0] is not None:
            raise RuntimeError("a tapegrad.function is already being traced")
        saved_kernels = _kernel_functions()
        saved, saved_classes = [], []
        try:
            for name, fn in saved_kernels.items():
                setattr(kernels, name, _door(name, fn, "out" if _takes_out(fn) else None))
            for be in backends:
                saved.append((be, dict(be.__dict__)))
                be.xp = _RecordingXp(type(be).xp if "xp" not in be.__dict__ else be.__dict__["xp"])
                for name in _CREATION:
                    setattr(be, name, _creation_door(f"{be.name}.{name}", getattr(be, name)))
            # a GPU backend's ``xp`` is a property of its class: the class gets one in its place
            # for the block, handing each refused backend its array functions behind a refusal
            refusing = {id(be): _RefusingXp(be.xp, be.name) for be in refused}
            for cls in {type(be) for be in refused}:
                saved_classes.append((cls, cls.__dict__.get("xp", _NO_ATTRIBUTE)))
                inherited = next(k.__dict__["xp"] for k in cls.__mro__ if "xp" in k.__dict__)
                cls.xp = property(functools.partial(_refusing_xp, refusing, inherited))
            for name in ("assign", "assign_add", "assign_sub", "_assign_at"):
                setattr(Variable, name, host_call(Variable.__dict__[name]))
            Variable.__init__ = _untraced(Variable.__dict__["__init__"])
            random_module._to_tensor = _random_draw(random_module._to_tensor)
            random_module.uniform_draw = _door("random.uniform_draw", random_module.uniform_draw)
            Variable._wrap_variable = classmethod(_untraced(Variable.__dict__["_wrap_variable"].__func__))
            tensor_module._read_hook = _read_hook
            ops_base._observer = rec.observe
            _current[0] = rec
            yield rec
        finally:
            _current[0] = None
            ops_base._observer = None
            tensor_module._read_hook = None
            for name in ("assign", "assign_add", "assign_sub", "_assign_at", "__init__"):
                if hasattr(Variable.__dict__[name], "__wrapped__"):
                    setattr(Variable, name, Variable.__dict__[name].__wrapped__)
            for name in ("_to_tensor", "uniform_draw"):
                if hasattr(getattr(random_module, name), "__wrapped__"):
                    setattr(random_module, name, getattr(random_module, name).__wrapped__)
            made = Variable.__dict__["_wrap_variable"].__func__
            if hasattr(made, "__wrapped__"):
                Variable._wrap_variable = classmethod(made.__wrapped__)
            for be, attrs in saved:
                for name in ("xp", *_CREATION):
                    if name in attrs:
                        setattr(be, name, attrs[name])
                    else:
                        be.__dict__.pop(name, None)
            for cls, original in saved_classes:
                if original is _NO_ATTRIBUTE:
                    delattr(cls, "xp")
                else:
                    cls.xp = original
            for name, fn in saved_kernels.items():
                setattr(kernels, name, fn)


def _untraced(fn):
    """``fn`` run with recording suspended: making a Variable (a layer built on its
    first call, an optimizer's slots) happens once, at trace time, as in TF."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        rec = _current[0]
        if rec is None or rec.thread != threading.get_ident():
            return fn(*args, **kwargs)
        rec.depth += 1
        try:
            return fn(*args, **kwargs)
        finally:
            rec.depth -= 1
    return run


def _random_draw(to_tensor):
    """``tapegrad.random``'s one exit, noting each draw: a plan would replay it frozen."""
    @functools.wraps(to_tensor)
    def draw(host):
        tensor = _untraced(to_tensor)(host)
        rec = _current[0]
        if rec is not None and rec.thread == threading.get_ident():
            rec.random_draws[id(tensor._data)] = tensor._data
        return tensor
    return draw


def _read_hook(tensor, what):
    rec = active()
    return rec is not None and rec.read(tensor, what)
