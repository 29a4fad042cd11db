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
