"""The optimizer family's public functions: SGD, RMSprop and Adam, each for
one weight and for a list of weights (``*_foreach``).

The hyperparameters are checked once per call, every array of every weight
before any is updated; then the backend's method runs on flat views, in
place.  kernels/optim/DESIGN.md: the contract.
"""

from __future__ import annotations

import numpy as np

from .._checks import float_array, operand, positive_float
from .._dispatch import get_backend


# ---------------------------------------------------------------- optimizers
# Each optimizer comes twice: ``rmsprop_update(param, grad, v)`` for one
# weight and ``rmsprop_update_foreach(params, grads, vs)`` for a list of them
# (PyTorch's "foreach" optimizers), which a training step calls once for all
# its weights: the hyperparameters are checked once per call, every array of
# every weight as for one.  The one-weight form is the list form on one weight.
def _updated_in_place(be, x, what, fn, dtype=None, shape=None):
    """``x`` as an update writes it: a writeable C-contiguous float array of
    ``be`` (of ``dtype`` and ``shape`` when given)."""
    if not (be.is_array(x) and x.dtype in be.dtypes and (dtype is None or x.dtype == dtype)):
        x = float_array(be, x, what, fn, dtype)
    if not be.is_c_contiguous(x) or not be.is_writeable(x):
        raise ValueError(f"{fn}: {what} is updated in place, so it must be a writeable C-contiguous array")
    if shape is not None and x.shape != shape:
        raise ValueError(f"{fn}: {what} has shape {tuple(x.shape)}, expected {tuple(shape)}")
    return x


def _update_operands(be, fn, param, grad, names, states):
    """One weight's arrays, checked as an optimizer kernel needs them.

    ``param`` and the state arrays ``states`` (called ``names``) are written
    in place, so each must be writeable, C-contiguous, of param's dtype and
    shape; ``grad`` is an operand of that dtype and shape.  Returns
    ``([param, *states], grad)``, grad copied when it overlaps any of them
    (see :func:`_distinct_state`)."""
    param = _updated_in_place(be, param, "param", fn)
    dtype, shape = param.dtype, param.shape
    grad = operand(be, grad, "grad", fn, dtype)
    if grad.shape != shape:
        raise ValueError(f"{fn}: grad has shape {tuple(grad.shape)} but param has {tuple(shape)}")
    arrays = [param]
    for name, x in zip(names, states):
        arrays.append(_updated_in_place(be, x, name, fn, dtype, shape))
    return arrays, _distinct_state(be, fn, grad, names, arrays)


def _distinct_state(be, fn, grad, names, arrays):
    """Check that ``arrays``, a param and its optimizer state (called
    ``names``), share no memory (each is updated in place, so aliases would
    make the step depend on the order of the writes), and return ``grad``,
    copied when it overlaps any of them.

    Runs on every optimizer step of every weight: plain loops over two or
    three arrays, one bounds check (``may_overlap``) per pair."""
    may_overlap = be.may_overlap
    for i in range(1, len(arrays)):
        for j in range(i):
            if may_overlap(arrays[j], arrays[i]):
                names = ("param", *names)
                raise ValueError(f"{fn}: {names[j]} and {names[i]} share memory; each is updated "
                                 "in place, so they must be separate arrays")
    for x in arrays:
        if may_overlap(grad, x):
            copy = be.empty(grad.shape, grad.dtype)
            be.copy_into(copy, grad)
            return copy
    return grad


def _each_weight(be, fn, params, grads, names, state_lists):
    """The checked ``([param, *states], grad)`` of every weight (``state_lists``
    holds one list per name in ``names``), all checked before any is updated,
    so a bad array anywhere in the lists changes nothing; an error names the
    weight's index in the lists."""
    count = len(params)
    if len(grads) != count or any(len(states) != count for states in state_lists):
        lengths = ", ".join(f"{len(x)} {what}" for x, what in zip((params, grads, *state_lists),
                                                                    ("params", "grads", *names)))
        raise ValueError(f"{fn}: the lists differ in length ({lengths}); give one of each per weight")
    weights = []
    for param, grad, *states in zip(params, grads, *state_lists):
        try:
            weights.append(_update_operands(be, fn, param, grad, names, states))
        except (TypeError, ValueError) as exc:
            if count == 1:
                raise
            raise type(exc)(f"{exc} (weight {len(weights)} of {count})") from None
    return weights


def _unit_interval(value, what, fn):
    """A float in [0, 1): a decay rate such as rho or beta_1."""
    value = positive_float(value, what, fn, allow_zero=True)
    if value >= 1:
        raise ValueError(f"{fn}: {what} must be in [0, 1), got {value}")
    return value


def rmsprop_settings(learning_rate, rho, epsilon, fn):
    """RMSprop's ``(learning_rate, rho, epsilon)`` as floats, checked: learning_rate >= 0,
    0 <= rho < 1, epsilon > 0, all finite (a clear ValueError naming ``fn`` otherwise)."""
    return (positive_float(learning_rate, "learning_rate", fn, allow_zero=True), _unit_interval(rho, "rho", fn),
            positive_float(epsilon, "epsilon", fn))


def sgd_update_foreach(params, grads, velocities=None, *, learning_rate=0.01, momentum=0.0,
                       nesterov=False, backend=None):
    """:func:`sgd_update` on each weight of the lists, in order; returns ``params``."""
    be = get_backend(backend)
    fn = "sgd_update"
    lr = positive_float(learning_rate, "learning_rate", fn, allow_zero=True)
    momentum = positive_float(momentum, "momentum", fn, allow_zero=True)
    if momentum:
        if velocities is None or any(v is None for v in velocities):
            raise ValueError(f"{fn}: momentum={momentum} needs a velocity array")
        weights = _each_weight(be, fn, params, grads, ("velocity",), (velocities,))
    elif nesterov:
        raise ValueError(f"{fn}: nesterov=True needs momentum > 0")
    else:     # plain SGD keeps no state (a velocity given is not used)
        weights = _each_weight(be, fn, params, grads, (), ())
    for (param, *velocity), grad in weights:
        if param.size:
            be.sgd_update(param.reshape(-1), grad.reshape(-1),
                          velocity[0].reshape(-1) if velocity else None, lr, momentum, bool(nesterov))
    return [arrays[0] for arrays, _ in weights]


def sgd_update(param, grad, velocity=None, *, learning_rate=0.01, momentum=0.0,
               nesterov=False, backend=None):
    """One SGD step in place: ``param -= lr * grad``, with optional momentum.

    With momentum (Keras semantics) ``velocity = momentum*velocity - lr*grad``
    and ``param += velocity`` (Nesterov: ``param += momentum*velocity - lr*grad``);
    ``velocity`` is required then, and updated in place too.
    """
    return sgd_update_foreach([param], [grad], [velocity], learning_rate=learning_rate,
                              momentum=momentum, nesterov=nesterov, backend=backend)[0]


def rmsprop_update_foreach(params, grads, vs, *, learning_rate=0.001, rho=0.9, epsilon=1e-7,
                           backend=None):
    """:func:`rmsprop_update` on each weight of the lists, in order; returns ``params``."""
    be = get_backend(backend)
    fn = "rmsprop_update"
    lr, rho, eps = rmsprop_settings(learning_rate, rho, epsilon, fn)
    weights = _each_weight(be, fn, params, grads, ("v",), (vs,))
    for (param, v), grad in weights:
        if param.size:
            be.rmsprop_update(param.reshape(-1), grad.reshape(-1), v.reshape(-1), lr, rho, eps)
    return [arrays[0] for arrays, _ in weights]


def rmsprop_update(param, grad, v, *, learning_rate=0.001, rho=0.9, epsilon=1e-7, backend=None):
    """One RMSprop step in place (Keras): ``v = rho*v + (1-rho)*g^2``,
    ``param -= lr * g / sqrt(v + epsilon)``."""
    return rmsprop_update_foreach([param], [grad], [v], learning_rate=learning_rate, rho=rho,
                                  epsilon=epsilon, backend=backend)[0]


def adam_update_foreach(params, grads, ms, vs, *, step, learning_rate=0.001, beta_1=0.9,
                        beta_2=0.999, epsilon=1e-7, backend=None):
    """:func:`adam_update` on each weight of the lists, in order; returns ``params``."""
    be = get_backend(backend)
    fn = "adam_update"
    lr = positive_float(learning_rate, "learning_rate", fn, allow_zero=True)
    beta_1 = _unit_interval(beta_1, "beta_1", fn)
    beta_2 = _unit_interval(beta_2, "beta_2", fn)
    eps = positive_float(epsilon, "epsilon", fn)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"{fn}: step must be an int >= 1, got {step!r}")
    weights = _each_weight(be, fn, params, grads, ("m", "v"), (ms, vs))
    for (param, m, v), grad in weights:
        if param.size:
            be.adam_update(param.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1),
                           lr, beta_1, beta_2, eps, int(step))
    return [arrays[0] for arrays, _ in weights]


def adam_update(param, grad, m, v, *, step, learning_rate=0.001, beta_1=0.9, beta_2=0.999,
                epsilon=1e-7, backend=None):
    """One Adam step in place (Keras semantics); ``step`` counts from 1."""
    return adam_update_foreach([param], [grad], [m], [v], step=step, learning_rate=learning_rate,
                               beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, backend=backend)[0]


def bias_grad_rmsprop(grad_out, b, v, *, relu_input=None, learning_rate=0.001, rho=0.9, epsilon=1e-7,
                      backend=None):
    """A Dense layer's bias gradient and its RMSprop step, in one call.

    ``db`` = the column sums of the (N, M) ``grad_out``, as
    :func:`tapegrad.kernels.bias_grad` sums them; with ``relu_input`` (the
    layer's relu output, or its input) the sums are of ``grad_out`` where
    ``relu_input > 0``, else 0, as :func:`tapegrad.kernels.relu_bias_grad`
    computes them, and that masked gradient is returned (the next GEMM of the
    backward pass needs it); without, ``b`` is returned.  ``b`` and its mean
    squares ``v`` are updated in place as :func:`rmsprop_update` does.
    """
    be = get_backend(backend)
    fn = "bias_grad_rmsprop"
    lr, rho, eps = rmsprop_settings(learning_rate, rho, epsilon, fn)
    b = _updated_in_place(be, b, "b", fn)
    if b.ndim != 1:
        raise ValueError(f"{fn}: b must be 1-D, got shape {tuple(b.shape)}")
    v = _updated_in_place(be, v, "v", fn, b.dtype, b.shape)
    grad_out = operand(be, grad_out, "grad_out", fn, b.dtype, ndim=2)
    if grad_out.shape[1] != b.shape[0]:
        raise ValueError(f"{fn}: grad_out has shape {tuple(grad_out.shape)}, so db has {grad_out.shape[1]} "
                         f"numbers, but b has shape {tuple(b.shape)}")
    out = None
    if relu_input is not None:
        relu_input = operand(be, relu_input, "relu_input", fn, b.dtype, ndim=2)
        if relu_input.shape != grad_out.shape:
            raise ValueError(f"{fn}: relu_input has shape {tuple(relu_input.shape)} but grad_out has "
                             f"{tuple(grad_out.shape)}")
        out = be.empty(grad_out.shape, b.dtype)
    grad_out = _distinct_state(be, fn, grad_out, ("v",), [b, v])
    if relu_input is not None:
        relu_input = _distinct_state(be, fn, relu_input, ("v",), [b, v])
    if grad_out.shape[0] == 0:   # db = 0
        if b.size:
            be.rmsprop_update(b, be.asarray(np.zeros(b.shape, b.dtype)), v, lr, rho, eps)
        return b if out is None else out
    if b.size:
        be.bias_grad_rmsprop(grad_out, relu_input, out, b, v, lr, rho, eps)
    return b if out is None else out


def dense_backward_rmsprop(dz, h, w, b, w_v, b_v, prev_b, prev_v, *, learning_rate=0.001, rho=0.9, epsilon=1e-7,
                           backend=None):
    """The backward pass of a Dense layer ``z = h @ w + b`` fed by a relu layer (bias
    ``prev_b``, output ``h``), with the RMSprop steps of all three, in one call.

    Given ``dz`` = dL/dz (N, K), returns ``dh`` = ``(dz @ w.T)`` where ``h > 0``, else
    0 (N, M): the relu layer's output gradient, computed from ``w`` as it was.  Then
    ``prev_b`` steps with dh's column sums, ``w`` with ``h.T @ dz`` and ``b`` with
    dz's column sums (mean squares ``prev_v``, ``w_v``, ``b_v``), each as
    :func:`bias_grad_rmsprop`, :func:`tapegrad.kernels.weight_grad_rmsprop` and
    :func:`rmsprop_update` do it: the numbers are those four calls', bit for bit
    (kernels/optim/backward_sequence.py; on numba one compiled call for an output
    layer of at most 16 classes, numba_backward.py).
    """
    be = get_backend(backend)
    fn = "dense_backward_rmsprop"
    lr, rho, eps = rmsprop_settings(learning_rate, rho, epsilon, fn)
    w = _updated_in_place(be, w, "w", fn)
    if w.ndim != 2:
        raise ValueError(f"{fn}: w must be 2-D, got shape {tuple(w.shape)}")
    (m, k), dtype = w.shape, w.dtype
    w_v = _updated_in_place(be, w_v, "w_v", fn, dtype, w.shape)
    b = _updated_in_place(be, b, "b", fn, dtype, (k,))
    b_v = _updated_in_place(be, b_v, "b_v", fn, dtype, (k,))
    prev_b = _updated_in_place(be, prev_b, "prev_b", fn, dtype, (m,))
    prev_v = _updated_in_place(be, prev_v, "prev_v", fn, dtype, (m,))
    dz = operand(be, dz, "dz", fn, dtype, ndim=2)
    h = operand(be, h, "h", fn, dtype, ndim=2)
    if dz.shape[1] != k or h.shape != (dz.shape[0], m):
        raise ValueError(f"{fn}: dz has shape {tuple(dz.shape)} and h {tuple(h.shape)}, but w has shape "
                         f"{tuple(w.shape)}: expected dz (N, {k}) and h (N, {m})")
    states = [w, w_v, b, b_v, prev_b, prev_v]
    names = ("w_v", "b", "b_v", "prev_b", "prev_v")
    dz = _distinct_state(be, fn, dz, names, states)   # also refuses two updated arrays that share memory
    h = _distinct_state(be, fn, h, names, states)
    if w.size == 0 or dz.shape[0] == 0:     # nothing to multiply: the separate calls' own handling of it
        from ..gemm.api import matmul, weight_grad_rmsprop
        settings = {"learning_rate": lr, "rho": rho, "epsilon": eps, "backend": be}
        dh = bias_grad_rmsprop(matmul(dz, w, transpose_b=True, backend=be), prev_b, prev_v, relu_input=h,
                               **settings)
        weight_grad_rmsprop(h, dz, w, w_v, **settings)
        bias_grad_rmsprop(dz, b, b_v, **settings)
        return dh
    dh = be.empty(h.shape, dtype)
    be.dense_backward_rmsprop(dz, h, w, b, w_v, b_v, prev_b, prev_v, lr, rho, eps, dh)
    return dh
