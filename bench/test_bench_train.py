"""One training step of the book's MNIST network (784-512-10, batch 128, RMSprop), per backend,
against the same step written in plain NumPy (OpenBLAS for the GEMMs).

    pytest bench/test_bench_train.py --benchmark-group-by=group --benchmark-columns=median,iqr,rounds

The tapegrad step is ``model.train_on_batch`` on one batch of 128: forward, loss, tape,
gradients and the optimizer update, plus the input checks and loss tracking around them.  The
model is compiled without metrics, since the NumPy step computes none.  Before timing, one step from the same initial weights must move every weight
exactly as the NumPy step does, so this doubles as an end-to-end check of each backend.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.kernels as K
from tapegrad import keras

from tapegrad.benchmark.baselines import numpy_mlp_params as initial_params
from tapegrad.benchmark.baselines import numpy_step


def batch_loss(params, xb, yb):
    w1, b1, w2, b2 = (p.astype(np.float64) for p in params)
    z = np.maximum(xb @ w1 + b1, 0) @ w2 + b2
    z -= z.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(yb)), yb]))


class TapegradStep:
    """The book's model on one backend; calling it runs ``train_on_batch(xb, yb)``."""

    def __init__(self, backend, params, xb, yb):
        self.backend, self.xb, self.yb = backend, xb, yb
        with K.use(backend):
            self.model = keras.Sequential([keras.layers.Dense(512, activation="relu"),
                                           keras.layers.Dense(10, activation="softmax")])
            self.model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
            self.model.build((None, 784))
            self.model.set_weights([p.copy() for p in params])

    def __call__(self):
        with K.use(self.backend):
            return self.model.train_on_batch(self.xb, self.yb)

    def params(self):
        return self.model.get_weights()


def test_train_step(benchmark, impl, impl_backend, mnist_batch):
    xb, yb = mnist_batch
    params0 = initial_params()
    before = batch_loss(params0, xb, yb)

    # the NumPy reference for one step from params0
    expected = [p.copy() for p in params0]
    expected_loss = numpy_step(expected, [np.zeros_like(p) for p in expected], xb, yb)

    if impl_backend is None:
        params = [p.copy() for p in params0]
        state = [np.zeros_like(p) for p in params]

        def step():
            return numpy_step(params, state, xb, yb)

        def current():
            return params
    else:
        tapegrad.random.set_seed(0)
        step = TapegradStep(impl_backend.name, params0, xb, yb)
        current = step.params

    # one step from params0 moves each weight as the reference does (this also warms up:
    # Numba compiles, or loads its cache, on the first call)
    loss = step()  # the batch loss before the update, as Keras's train_on_batch reports it
    assert float(loss) == pytest.approx(expected_loss, rel=1e-5)
    assert expected_loss == pytest.approx(before, rel=1e-5)
    for name, got, want, init in zip(("W1", "b1", "W2", "b2"), current(), expected, params0):
        # RMSprop's first step is about lr * sign(g) / sqrt(1 - rho) ~ 3e-3 per weight; compare deltas
        np.testing.assert_allclose(got - init, want - init, rtol=1e-3, atol=2e-6, err_msg=name)
    after_one = batch_loss(current(), xb, yb)
    assert after_one < before, (before, after_one)

    benchmark.group = "train step 784-512-10, batch 128, RMSprop"
    benchmark.extra_info["implementation"] = ("plain NumPy" if impl_backend is None
                                              else f"tapegrad train_on_batch, {impl}")
    benchmark(step)

    # however many steps the benchmark ran, they all trained on this one batch: its loss went down
    final = current()
    assert all(np.isfinite(p).all() for p in final)
    assert batch_loss(final, xb, yb) <= after_one + 1e-6
