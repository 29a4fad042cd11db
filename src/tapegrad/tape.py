"""GradientTape: record ops as they run, then apply the chain rule backwards.

While a tape is open, every op whose inputs the tape watches appends one
entry ``(output, inputs, backward, ctx, needs)`` to a plain list.  To get
gradients, the tape walks that list in reverse: each entry receives the
gradient of the target with respect to its output and its ``backward`` turns
it into gradients for its inputs, which are summed into a dict keyed by
tensor id.  Backward functions are written with the same differentiable ops,
so an outer tape that is still recording sees the gradient computation too:
that is how nested tapes give second derivatives.

Each thread has its own stack of recording tapes, as in TensorFlow: a tape
records the ops of the thread that opened it, so two threads can each train
a model (or one can predict while another records) without mixing records.
"""

from __future__ import annotations

import contextlib
import threading

from .tensor import Tensor, Variable


class _ThreadTapes(threading.local):
    """The tapes recording in the current thread, innermost last: ``stack``
    is a fresh empty list in every thread (ops test it before recording)."""

    def __init__(self):
        self.stack = []


_thread_tapes = _ThreadTapes()


class _GradientOps:
    """The three ops ``GradientTape.gradient`` needs, handed over by the ops.

    The backward walk sums the gradients of a tensor used twice with ``add``
    (a differentiable op, so an outer tape records the sum: second
    derivatives), converts ``output_gradients`` with ``convert`` and answers
    ``zeros_like`` for ``unconnected_gradients="zero"``.  tape.py sits below
    the ops and never imports them; ops/operators.py calls :func:`provide_gradient_ops`
    once, when it is imported (``import tapegrad`` does that).
    """

    add = zeros_like = convert = None


def provide_gradient_ops(*, add, zeros_like, convert):
    """Give the tape the ops its backward walk uses (called by ops/operators.py at import)."""
    _GradientOps.add = staticmethod(add)
    _GradientOps.zeros_like = staticmethod(zeros_like)
    _GradientOps.convert = staticmethod(convert)


class Seed(Tensor):
    """The gradient a backward walk starts from when none is given: ones in
    the target's shape (d target / d target = 1).  Its own type tells a
    backward that multiplying by it would change nothing, so the fused loss
    can hand back its stored gradient without that multiply."""

    __slots__ = ()

    @classmethod
    def like(cls, target):
        seed = object.__new__(cls)
        seed._data = target._backend.full(target._data.shape, 1, target._data.dtype)
        seed._backend = target._backend
        return seed


def is_recording() -> bool:
    """True when some tape would record an op run now."""
    return bool(_thread_tapes.stack)


def record(out, inputs, backward, ctx):
    """Write an op down on every recording tape that watches one of its inputs.

    ``needs[i]`` says whether input ``i`` leads back to something the tape
    watches, so backward can skip gradients nobody asked for (for example
    the gradient of a Dense layer's input data).
    """
    for tape in _thread_tapes.stack:
        watched = tape._watched
        needs = []
        hit = False
        for x in inputs:
            if id(x) in watched:
                needs.append(True)
                hit = True
            elif x._trainable and tape._watch_accessed:
                watched[id(x)] = x  # a trainable Variable read inside the tape
                needs.append(True)
                hit = True
            else:
                needs.append(False)
        if hit:
            watched[id(out)] = out
            tape._ops.append((out, inputs, backward, ctx, needs))


_NESTED = (list, tuple, dict)


def _flatten(structure, out):
    """Append the tensors of ``structure`` (nested lists/tuples/dicts, dicts in
    key order) to ``out``; a leaf is appended without a call of its own, since
    a training step flattens its list of weights twice."""
    if isinstance(structure, dict):
        structure = [structure[key] for key in sorted(structure)]
    elif not isinstance(structure, (list, tuple)):
        out.append(structure)
        return out
    for s in structure:
        if isinstance(s, _NESTED):
            _flatten(s, out)
        else:
            out.append(s)
    return out


def _pack(structure, flat):
    """Rebuild ``structure`` (lists/tuples/dicts) from the iterator ``flat``."""
    if isinstance(structure, (list, tuple)):
        items = [_pack(s, flat) if isinstance(s, _NESTED) else next(flat) for s in structure]
        return items if isinstance(structure, list) else type(structure)(items)
    if isinstance(structure, dict):
        return {key: _pack(structure[key], flat) for key in sorted(structure)}
    return next(flat)


class GradientTape:
    """Record operations for automatic differentiation, as ``tf.GradientTape``.

        with tapegrad.GradientTape() as tape:
            y = 2 * x + 3          # x a Variable: watched automatically
        tape.gradient(y, x)        # -> tapegrad.Tensor(2.0, ...)
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self._persistent = bool(persistent)
        self._watch_accessed = bool(watch_accessed_variables)
        self._watched = {}  # id -> tensor; holding the tensor keeps its id unique
        self._ops = []
        self._used = False

    # ---------------------------------------------------------- recording
    def __enter__(self):
        if self in _thread_tapes.stack:
            raise RuntimeError("this GradientTape is already open (tapes are not re-entrant)")
        _thread_tapes.stack.append(self)
        return self

    def __exit__(self, *exc_info):
        self._stop()
        return False

    def _stop(self):
        stack = _thread_tapes.stack
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is self:
                del stack[i]

    def watch(self, tensor):
        """Watch a tensor (or a list of them): gradients can then be taken wrt it."""
        for t in _flatten(tensor, []):
            if not isinstance(t, Tensor):
                raise TypeError(f"GradientTape.watch expects tensors, got {type(t).__name__}")
            self._watched[id(t)] = t

    @contextlib.contextmanager
    def stop_recording(self):
        """A block in which ops are not recorded on this tape."""
        if self not in _thread_tapes.stack:
            raise RuntimeError("GradientTape.stop_recording() needs the tape to be recording")
        self._stop()
        try:
            yield
        finally:
            _thread_tapes.stack.append(self)

    def reset(self):
        """Forget everything recorded so far."""
        self._watched.clear()
        self._ops.clear()
        self._used = False

    def watched_variables(self):
        return tuple(t for t in self._watched.values() if isinstance(t, Variable))

    # ---------------------------------------------------------- gradients
    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """d(sum of target) / d(source) for each source, in the shape of ``sources``.

        A source the target does not depend on gets ``None``, or zeros with
        ``unconnected_gradients="zero"``.  A non-persistent tape can answer
        this only once; its record is freed afterwards.
        """
        ops = _GradientOps  # add, zeros_like, convert from the ops
        if ops.add is None:
            raise RuntimeError("GradientTape.gradient needs tapegrad.ops: import tapegrad first")
        if self._used and not self._persistent:
            raise RuntimeError(
                "A non-persistent GradientTape can only be used to compute one set of "
                "gradients; use GradientTape(persistent=True) to call gradient() more than once"
            )
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}")
        flat_sources = _flatten(sources, [])
        for s in flat_sources:
            if not isinstance(s, Tensor):
                raise TypeError(f"gradient sources must be tensors or variables, got {type(s).__name__}")
        targets = _flatten(target, [])
        seeds = [None] * len(targets) if output_gradients is None else _flatten(output_gradients, [])
        if len(seeds) != len(targets):
            raise ValueError(f"got {len(seeds)} output_gradients for {len(targets)} targets")

        was_recording = self in _thread_tapes.stack
        self._stop()  # backward ops are recorded by outer tapes only
        try:
            grads = {}
            for t, seed in zip(targets, seeds):
                if not isinstance(t, Tensor):
                    raise TypeError(f"gradient target must be a tensor, got {type(t).__name__}")
                if seed is None:
                    seed = Seed.like(t)
                else:
                    seed = ops.convert(seed, t)
                    if seed.shape != t.shape:
                        raise ValueError(f"output_gradients has shape {seed.shape}, target has {t.shape}")
                _accumulate(grads, t, seed, ops.add)
            keep = {id(s) for s in flat_sources}
            for out, inputs, backward, ctx, needs in reversed(self._ops):
                key = id(out)
                g = grads.get(key) if key in keep else grads.pop(key, None)
                if g is None:
                    continue
                input_grads = backward(g, ctx, needs)
                if len(input_grads) != len(inputs):
                    raise RuntimeError(f"the backward of {op_name(backward)!r} returned {len(input_grads)} "
                                       f"gradients for its {len(inputs)} inputs (one per input, None allowed)")
                for x, gx in zip(inputs, input_grads):
                    if gx is not None:
                        _accumulate(grads, x, gx, ops.add)
        finally:
            if was_recording:
                _thread_tapes.stack.append(self)
        result = []
        for s in flat_sources:
            g = grads.get(id(s)) if id(s) in self._watched else None
            if g is None and unconnected_gradients == "zero":
                g = ops.zeros_like(s)
            result.append(g)
        if not self._persistent:
            self._used = True
            self._ops = []
            self._watched = {}
        return _pack(sources, iter(result))


def _accumulate(grads, x, g, add):
    """grads[x] += g: a tensor used twice gets the sum of both gradients."""
    key = id(x)
    prev = grads.get(key)
    grads[key] = g if prev is None else add(prev, g)


def op_name(backward):
    """The op a tape entry recorded, read off its backward function.

    Every op ``f`` of the ops package registers a backward named ``_f_grad``, so an
    entry ``(out, inputs, _matmul_grad, ctx, needs)`` is a ``matmul``.
    """
    name = getattr(backward, "__name__", "op")
    if name.startswith("_") and name.endswith("_grad"):
        return name[1:-len("_grad")]
    return name
