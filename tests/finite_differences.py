"""Central finite differences: the independent check every derivative test uses.

``(f(x + eps e_i) - f(x - eps e_i)) / 2 eps`` for each entry ``i`` of ``x0``
(float64): the error is O(eps^2) for smooth ``f``, so with eps = 1e-6 the
estimate agrees with an exact gradient to about 1e-8 relative.
"""

import numpy as np


def central_differences(f, x0, eps=1e-6):
    """The gradient of the scalar function ``f`` at the array ``x0``."""
    x0 = np.asarray(x0, dtype=np.float64)
    numeric = np.zeros_like(x0)
    for idx in np.ndindex(x0.shape):
        plus, minus = x0.copy(), x0.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (f(plus) - f(minus)) / (2 * eps)
    return numeric


def hessian_vector_products(tg, loss_fn, x0, v):
    """(the tape's H v, central differences of grad . v) for ``loss_fn`` at ``x0``.

    The tape's: the gradient of ``sum(grad(loss) * v)`` through a nested tape.
    The reference: central differences of that same scalar as a function of
    the point, taken with one tape at a time, so that it checks the second
    derivative against first derivatives only.  ``tg`` is the tapegrad module
    (passed in: this file itself needs only NumPy).
    """
    def grad_dot_v(value):
        x = tg.Variable(value)
        with tg.GradientTape() as t:
            loss = loss_fn(x)
        return float(tg.reduce_sum(t.gradient(loss, x) * v))

    x = tg.Variable(x0)
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            loss = loss_fn(x)
        gv = tg.reduce_sum(inner.gradient(loss, x) * v)
    return outer.gradient(gv, x).numpy(), central_differences(grad_dot_v, x0)
