"""``kernels.relu_bias_grad``: relu's backward and the bias gradient in one pass.

Checked on every CPU backend against the NumPy formula written out here (in
float64), against the two kernels it fuses (bit for bit on every backend), on
awkward shapes and both float dtypes; the Dense gradient that uses it is
checked by central finite differences, first and second order.
"""

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.kernels as K
from tapegrad import ops

from finite_differences import central_differences, hessian_vector_products  # tests/finite_differences.py

CPU_BACKENDS = ["numpy", "numba", "cython"]
DTYPES = [np.float32, np.float64]
SHAPES = [(1, 1), (1, 7), (7, 1), (8, 8), (9, 3), (15, 17), (16, 513), (128, 512), (131, 10), (1031, 37)]


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    return request.param


def _inputs(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(shape).astype(dtype)
    x = rng.standard_normal(shape).astype(dtype)
    x[x.size // 3 // max(shape[1], 1)] = 0.0        # a row of exact zeros: relu' is 0 there
    return g, x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_numpy_and_the_two_kernels_it_fuses(backend, dtype, shape):
    g, x = _inputs(shape, dtype)
    masked, db = K.relu_bias_grad(g, x, backend=backend)
    assert masked.shape == shape and masked.dtype == dtype
    assert db.shape == (shape[1],) and db.dtype == dtype
    ref = np.where(x > 0, g.astype(np.float64), 0.0)
    np.testing.assert_array_equal(masked, ref.astype(dtype))
    scale = np.abs(ref).sum(axis=0) + np.finfo(dtype).tiny
    assert np.all(np.abs(db - ref.sum(axis=0)) <= 4 * np.finfo(dtype).eps * scale)
    apart = K.relu_backward(g, x, backend=backend)
    np.testing.assert_array_equal(masked, apart)
    np.testing.assert_array_equal(db, K.bias_grad(apart, backend=backend))   # same sums, same bits


def test_a_nan_gradient_where_relu_was_off_is_blocked(backend):
    g = np.array([[np.nan, 1.0], [2.0, np.inf]])
    x = np.array([[-1.0, 1.0], [1.0, 0.0]])
    masked, db = K.relu_bias_grad(g, x, backend=backend)
    np.testing.assert_array_equal(masked, [[0.0, 1.0], [2.0, 0.0]])
    np.testing.assert_array_equal(db, [2.0, 1.0])


def test_inputs_that_are_views_read_only_or_lists(backend):
    g, x = _inputs((20, 12), np.float32, seed=3)
    x.setflags(write=False)
    masked, db = K.relu_bias_grad(g[:, ::2], x[:, 1::2], backend=backend)   # strided views: copied
    ref = np.where(x[:, 1::2] > 0, g[:, ::2], 0)
    np.testing.assert_array_equal(masked, ref)
    np.testing.assert_allclose(db, ref.sum(axis=0), rtol=1e-5)
    masked, db = K.relu_bias_grad([[1.0, -2.0]], [[3.0, 4.0]], backend=backend)
    np.testing.assert_array_equal(db, [1.0, -2.0])


def test_empty_batches_and_bad_arguments(backend):
    masked, db = K.relu_bias_grad(np.zeros((0, 5)), np.zeros((0, 5)), backend=backend)
    assert masked.shape == (0, 5)
    np.testing.assert_array_equal(db, np.zeros(5))
    masked, db = K.relu_bias_grad(np.zeros((3, 0)), np.zeros((3, 0)), backend=backend)
    assert masked.shape == (3, 0) and db.shape == (0,)
    with pytest.raises(ValueError, match=r"grad_out has shape \(4, 5\) but x has \(4, 6\)"):
        K.relu_bias_grad(np.zeros((4, 5)), np.zeros((4, 6)), backend=backend)
    with pytest.raises(TypeError, match="grad_out has dtype float64 but the other operands are float32"):
        K.relu_bias_grad(np.zeros((4, 5)), np.zeros((4, 5), np.float32), backend=backend)
    with pytest.raises(ValueError, match="x must be 2-D"):
        K.relu_bias_grad(np.zeros(5), np.zeros(5), backend=backend)
    with pytest.raises(TypeError, match="x has dtype int64; the .* backend takes float32 or float64"):
        K.relu_bias_grad(np.zeros((2, 2)), np.zeros((2, 2), np.int64), backend=backend)


@pytest.mark.parametrize("backend_name", CPU_BACKENDS)
def test_dense_relu_gradients_by_finite_differences(backend_name):
    """d/dx, d/dw, d/db of sum(dense(x, w, b, "relu") * c): the backward that
    calls the fused kernel, against central differences in float64."""
    rng = np.random.default_rng(7)
    x0, w0, b0 = rng.uniform(-1, 1, (9, 5)), rng.uniform(-1, 1, (5, 11)), rng.uniform(-0.5, 0.5, 11)
    c = rng.uniform(0.5, 1.5, (9, 11))
    with K.use(backend_name):
        def value(x, w, b):
            return float(np.sum(ops.dense(tg.constant(x), tg.constant(w), tg.constant(b), "relu").numpy() * c))

        tensors = [tg.constant(a) for a in (x0, w0, b0)]
        calls = []
        fused = K.relu_bias_grad
        K.relu_bias_grad = lambda *a, **k: calls.append(1) or fused(*a, **k)
        try:
            with tg.GradientTape() as tape:
                tape.watch(tensors)
                y = tg.reduce_sum(ops.dense(*tensors, "relu") * tg.constant(c))
            grads = tape.gradient(y, tensors)
        finally:
            K.relu_bias_grad = fused
        assert calls == [1]                                   # the fused kernel ran, once
        numeric = [central_differences(lambda a: value(a, w0, b0), x0),
                   central_differences(lambda a: value(x0, a, b0), w0),
                   central_differences(lambda a: value(x0, w0, a), b0)]
    for g, n in zip(grads, numeric):
        np.testing.assert_allclose(g.numpy(), n, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend_name", ["numpy", "cython"])
def test_second_derivative_through_the_bias_of_a_relu_layer(backend_name):
    """Under an outer tape the backward takes the two differentiable ops: the
    Hessian-vector product in the bias agrees with finite differences of the gradient."""
    with K.use(backend_name):              # every tensor below is made on this backend
        _check_bias_hessian_vector_product()


def _check_bias_hessian_vector_product():
    rng = np.random.default_rng(8)
    xs = tg.constant(rng.uniform(-1, 1, (6, 3)))
    w = tg.constant(rng.uniform(-1, 1, (3, 4)))
    w2 = tg.constant(rng.uniform(-1, 1, (4, 2)))
    b0, v = rng.uniform(-0.3, 0.3, 4), rng.uniform(-1, 1, 4)

    def loss_fn(b):
        return tg.reduce_sum(tg.square(ops.dense(ops.dense(xs, w, b, "relu"), w2)))

    hv, numeric = hessian_vector_products(tg, loss_fn, b0, v)
    np.testing.assert_allclose(hv, numeric, atol=1e-5)
