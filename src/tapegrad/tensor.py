"""Tensor and Variable: an array of the current kernel backend, plus operators.

A ``Tensor`` is immutable: every operation makes a new one, and when a
``GradientTape`` is recording, the operation is written down on the tape so
that the chain rule can later be run backwards over it.  A ``Variable`` is the
one mutable kind of tensor (weights): ``assign_sub`` changes its array in
place, and a tape watches trainable Variables automatically when they are used.
A write never changes an array that a tape still holds for its backward pass:
the Variable then writes into a fresh copy (see ``Variable._own_data``).
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .kernels import get_backend

# Python values become float32 / int32 tensors, as in TensorFlow; NumPy arrays
# keep their own dtype.
_PY_DTYPES = {np.dtype("float64"): np.dtype("float32"), np.dtype("int64"): np.dtype("int32")}

#: set by tapegrad.trace while a function is traced: called as ``hook(tensor, what)``
#: before Python reads a tensor's numbers (``"numpy"``, ``"float"``, ``"bool"``...);
#: it raises or gives up the trace when the tensor is a value of the graph.  Asked
#: ``"str"``, it answers True for such a tensor (printed without numbers).  None otherwise.
_read_hook = None


def as_dtype(dtype):
    """``"float32"``, ``np.float32`` or ``tapegrad.float32`` -> ``np.dtype``."""
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype; use e.g. 'float32' or tapegrad.float32") from None


def to_array(value, dtype=None, backend=None):
    """Turn Python/NumPy data (or a Tensor) into an array of ``backend``.

    Arrays in the other byte order (``>f4`` on a little-endian machine) come
    in as the native dtype, the values converted, as NumPy's own ops do.
    """
    be = get_backend(backend)
    dtype = as_dtype(dtype)
    if dtype is not None and not dtype.isnative:
        dtype = dtype.newbyteorder("=")
    if isinstance(value, (np.ndarray, np.generic)) and not value.dtype.isnative:
        value = value.astype(value.dtype.newbyteorder("="))
    if isinstance(value, Tensor):
        data = value._data
        return data if dtype is None or data.dtype == dtype else value._backend.astype(data, dtype)
    if be.is_array(value):
        return value if dtype is None or value.dtype == dtype else be.astype(value, dtype)
    if not isinstance(value, (np.ndarray, np.generic)):
        host = np.asarray(value)
        if host.dtype == object:
            raise TypeError(f"cannot convert {type(value).__name__} {value!r:.60} to a tensor")
        if dtype is None:
            dtype = _PY_DTYPES.get(host.dtype, host.dtype)
        value = host
    return be.asarray(value, dtype=dtype)


def fresh_copy(data, backend):
    """A new C-contiguous, writeable array of ``backend`` with ``data``'s values."""
    xp = backend.xp
    if backend.host:
        return xp.array(data, copy=True, order="C")
    return backend.asarray(np.array(kernels.to_numpy(data), copy=True, order="C"))


class Tensor:
    """An immutable n-d array living on a kernel backend.

    Build one with ``tapegrad.constant(...)``; ops return new Tensors.  An op
    whose output is better used through its input records where the output
    came from in the ``_source`` slot, a pair ``(op name, input)``: softmax and
    sigmoid do, so that a cross-entropy of their output can start from the
    logits, on the fused and stable kernel.  Every other tensor leaves the slot
    unset (``ops.input_of`` reads it), so no constructor has to clear it.
    """

    __slots__ = ("_data", "_backend", "_source", "__weakref__")
    _trainable = False  # only trainable Variables are auto-watched by tapes
    __array_priority__ = 100  # so ndarray <op> Tensor calls our reflected op

    def __init__(self, value, dtype=None):
        be = get_backend()
        self._data = to_array(value, dtype, be)
        self._backend = be

    @classmethod
    def _wrap(cls, data, backend):
        """Wrap a backend array without copying or checking (used by ops)."""
        t = object.__new__(Tensor)
        t._data = data
        t._backend = backend
        return t

    # ---------------------------------------------------------- properties
    @property
    def shape(self):
        return tuple(self._data.shape)

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def ndim(self):
        return self._data.ndim

    @property
    def size(self):
        return int(self._data.size)

    @property
    def backend(self):
        return self._backend

    def numpy(self):
        """The values as a host NumPy array (a scalar tensor gives a 0-d array)."""
        if _read_hook is not None:
            _read_hook(self, "numpy")
        return np.asarray(kernels.to_numpy(self._data))

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        if dtype is not None:
            a = a.astype(dtype, copy=False)
        return a.copy() if copy else a

    # ---------------------------------------------------------- conversions
    def _scalar(self, what):
        if self._data.size != 1:
            raise TypeError(f"only a tensor with one element can be converted to {what}, got shape {self.shape}")
        if _read_hook is not None:
            _read_hook(self, what)
        return np.asarray(kernels.to_numpy(self._data)).reshape(()).item()

    def __float__(self):
        return float(self._scalar("float"))

    def __int__(self):
        return int(self._scalar("int"))

    def __index__(self):
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype}")
        return int(self._scalar("an index"))

    def __bool__(self):
        if self._data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with shape {self.shape} is ambiguous; "
                "use tapegrad.reduce_any/reduce_all or compare its .numpy()"
            )
        return bool(self._scalar("bool"))

    def __format__(self, spec):
        if spec and self._data.size == 1:
            return format(self._scalar("a number"), spec)
        return format(str(self), spec)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a scalar (0-d) tensor")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __hash__(self):  # identity, so tensors can be dict keys despite ==
        return id(self)

    # ---------------------------------------------------------- printing
    def _numpy_text(self, use_repr):
        value = self.numpy()
        text = repr(value) if use_repr and value.ndim else str(value)
        return "\n" + text if "\n" in text else text

    def __str__(self):
        if _read_hook is not None and _read_hook(self, "str"):   # a traced tensor has no numbers yet
            return f"tapegrad.Tensor(<traced>, shape={self.shape}, dtype={self.dtype.name})"
        return f"tapegrad.Tensor({self._numpy_text(False)}, shape={self.shape}, dtype={self.dtype.name})"

    __repr__ = __str__

    # ---------------------------------------------------------- operators
    # ``a + b``, ``a @ b``, ``-a``, ``a[key]``, ``a < b``... are the differentiable
    # ops themselves: ops/operators.py, the layer above, sets ``Tensor.__add__ = add`` and the
    # rest when it is imported (see ``ops.TENSOR_OPERATORS``), so this module never
    # imports ops.  ``==`` and ``!=`` compare element-wise too, which is why
    # ``__hash__`` above is by identity.

    def __pos__(self):
        return self


class Variable(Tensor):
    """A mutable tensor: model weights.  ``assign*`` update it in place.

    Trainable Variables are watched automatically by a ``GradientTape`` the
    moment an op inside the tape reads them, which is why the book never
    calls ``tape.watch`` on its weights.
    """

    __slots__ = ("_trainable", "name", "_pins")

    def __init__(self, initial_value, trainable=True, name=None, dtype=None):
        if callable(initial_value):
            initial_value = initial_value()
        be = get_backend()
        self._data = fresh_copy(to_array(initial_value, dtype, be), be)  # our own, writeable
        self._backend = be
        self._trainable = bool(trainable)
        self.name = f"{name or 'Variable'}:0"
        self._pins = set()  # ids of the tapes whose record holds the current array

    @classmethod
    def _wrap_variable(cls, data, backend, trainable, name):
        """A Variable that owns ``data``, a new array of ``backend`` (used by ops
        to make state, such as optimizer slots, where the weights live)."""
        v = object.__new__(cls)
        v._data, v._backend = data, backend
        v._trainable = bool(trainable)
        v.name = f"{name or 'Variable'}:0"
        v._pins = set()
        return v

    def _own_data(self):
        """The array to write into: every write to a Variable goes through here.

        A tape that recorded an op reading this Variable keeps the array it
        read, so that ``gradient()`` uses the forward values, as TF's tape
        does.  While some tape still holds it (``_pins``), the Variable moves
        to a copy and the write goes there; once the tapes have let go (a
        non-persistent tape after ``gradient()``), writes stay in place, so
        a training step copies nothing.
        """
        if self._pins:
            self._data = fresh_copy(self._data, self._backend)
            self._pins.clear()
        return self._data

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """Keras freezes a layer's weights this way: a tape watches only trainable Variables."""
        self._trainable = bool(value)

    def numpy(self):
        if _read_hook is not None:
            _read_hook(self, "numpy")
        return np.array(kernels.to_numpy(self._data), copy=True)

    def _value(self, value, what):
        data = to_array(value, self.dtype, self._backend)
        if tuple(data.shape) != self.shape:
            raise ValueError(
                f"Variable.{what}: shape {tuple(data.shape)} does not match the variable's shape {self.shape}"
            )
        return data

    def assign(self, value):
        """Overwrite the values in place (the shape must match)."""
        value = self._value(value, "assign")
        self._own_data()[...] = value
        return self

    def assign_add(self, delta):
        delta = self._value(delta, "assign_add")
        data = self._own_data()
        self._backend.xp.add(data, delta, out=data)
        return self

    def assign_sub(self, delta):
        """``self -= delta`` in place: the book's manual weight update."""
        delta = self._value(delta, "assign_sub")
        data = self._own_data()
        self._backend.xp.subtract(data, delta, out=data)
        return self

    def _assign_at(self, key, value, what):
        """Write ``value`` (or add/subtract it) into ``self[key]``, in place.

        TF's strided-slice assignment does not broadcast: the value must have
        the slice's shape exactly.
        """
        current = self._data[key]
        data = to_array(value, self.dtype, self._backend)
        if tuple(data.shape) != tuple(np.shape(current)):
            raise ValueError(f"{what}: value of shape {tuple(data.shape)} does not match the shape "
                             f"{tuple(np.shape(current))} of the slice {key!r} of variable {self.name!r}")
        xp = self._backend.xp
        if what.endswith("assign_add"):
            data = xp.add(current, data)
        elif what.endswith("assign_sub"):
            data = xp.subtract(current, data)
        self._own_data()[key] = data
        return self

    def __str__(self):
        if _read_hook is not None and _read_hook(self, "str"):   # read by reference while traced
            return f"<tapegrad.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}>"
        return (f"<tapegrad.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}, "
                f"numpy={self._numpy_text(True)}>")

    __repr__ = __str__

    __hash__ = Tensor.__hash__


class VariableSlice(Tensor):
    """``v[key]`` for a Variable ``v``: a Tensor holding a copy of those values,
    plus ``assign``/``assign_add``/``assign_sub`` that write into ``v[key]``.

    As in TensorFlow, reading a slice gives a value that later writes do not
    change, and ``v[0, 0].assign(3.)`` writes through to the variable (and
    returns it).  Only basic keys (integers, slices, ``...``, ``None``) can be
    written, as TF's strided-slice assignment allows.  TF has ``assign`` only;
    ``assign_add``/``assign_sub`` are tapegrad's extension with the same rule.
    """

    __slots__ = ("_variable", "_key")

    @classmethod
    def _wrap_slice(cls, data, backend, variable, key):
        t = object.__new__(cls)
        t._data = data
        t._backend = backend
        t._variable = variable
        t._key = key
        return t

    def _write(self, value, what):
        keys = self._key if isinstance(self._key, tuple) else (self._key,)
        if not all(k is None or k is Ellipsis or isinstance(k, (int, np.integer, slice)) for k in keys):
            raise TypeError(f"{what}: only a slice taken with integers, slices, ... or None can be assigned "
                            f"to (as TF's strided-slice assignment), got the key {self._key!r}")
        return self._variable._assign_at(self._key, value, what)

    def assign(self, value):
        """Write ``value`` into the sliced part of the variable; returns the variable."""
        return self._write(value, "Variable slice assign")

    def assign_add(self, delta):
        return self._write(delta, "Variable slice assign_add")

    def assign_sub(self, delta):
        return self._write(delta, "Variable slice assign_sub")

