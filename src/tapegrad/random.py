"""Random tensors from one global NumPy generator (``set_seed`` reseeds it).

All randomness in tapegrad (these functions, weight initializers, shuffling
in ``fit``) draws from this one generator, so ``tapegrad.random.set_seed(0)``
makes a whole training run reproducible.  Numbers are drawn on the host and
then moved to the current kernel backend.
"""

from __future__ import annotations

import numpy as np

from .kernels import get_backend
from .tensor import Tensor, as_dtype

_generator = [np.random.default_rng()]


def set_seed(seed):
    """Reseed the global generator (TF's ``tf.random.set_seed``)."""
    _generator[0] = np.random.default_rng(seed)


def generator(seed=None):
    """The global generator, or a fresh one for an op-level ``seed``."""
    return _generator[0] if seed is None else np.random.default_rng(seed)


def uniform_draw(seed, rng, shape, dtype):
    """``shape`` numbers uniform in [0, 1) of ``dtype``, from ``rng`` or else from
    ``generator(seed)``: the draw an op makes at each call (dropout's mask).  A
    traced ``tapegrad.function`` records this call and repeats it at every step."""
    return (rng if rng is not None else generator(seed)).random(shape, dtype=dtype)


def _to_tensor(host):
    be = get_backend()
    return Tensor._wrap(be.asarray(host), be)


def _shape(shape):
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)
    if any(n < 0 for n in shape):
        raise ValueError(f"shape must be non-negative, got {shape}")
    return shape


def uniform(shape, minval=0, maxval=None, dtype="float32", seed=None):
    """Values drawn uniformly from ``[minval, maxval)`` (maxval defaults to 1)."""
    dtype = as_dtype(dtype)
    rng = generator(seed)
    if dtype.kind in "iu":
        if maxval is None:
            raise ValueError("random.uniform: an integer dtype needs maxval")
        return _to_tensor(rng.integers(minval, maxval, _shape(shape), dtype=dtype))
    maxval = 1 if maxval is None else maxval
    if not maxval > minval:
        raise ValueError(f"random.uniform: need minval < maxval, got {minval} and {maxval}")
    values = rng.random(_shape(shape), dtype=np.float64 if dtype == np.float64 else np.float32)
    return _to_tensor((values * (maxval - minval) + minval).astype(dtype, copy=False))


def normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None):
    """Values drawn from a normal distribution N(mean, stddev^2)."""
    dtype = as_dtype(dtype)
    values = generator(seed).standard_normal(_shape(shape), dtype=np.float64 if dtype == np.float64 else np.float32)
    return _to_tensor((values * stddev + mean).astype(dtype, copy=False))


def shuffle(value, seed=None):
    """A copy of ``value`` with its first axis permuted."""
    host = np.asarray(value)
    return _to_tensor(host[generator(seed).permutation(len(host))])
