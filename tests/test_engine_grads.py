"""Every op's gradient against central finite differences, in float64."""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import kernels, ops
from tapegrad.keras import losses

from finite_differences import hessian_vector_products  # tests/finite_differences.py

BACKENDS = sorted({"numpy", kernels.get_backend().name})


@pytest.fixture(params=BACKENDS, autouse=True)
def backend(request):
    with kernels.use(request.param):
        yield request.param


def rand(*shape, seed=0, low=-1.0, high=1.0):
    return np.random.default_rng(seed + len(shape)).uniform(low, high, shape)


def check_grad(f, *arrays, eps=1e-6, tol=1e-6):
    """Compare tape gradients of sum(f(...) * w) with central differences."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    out_shape = f(*[tg.constant(a) for a in arrays]).shape
    w = np.random.default_rng(42).uniform(0.5, 1.5, out_shape)

    def scalar(*values):
        return float(np.sum(f(*[tg.constant(v) for v in values]).numpy() * w))

    tensors = [tg.constant(a) for a in arrays]
    with tg.GradientTape() as tape:
        tape.watch(tensors)
        y = tg.reduce_sum(f(*tensors) * tg.constant(w))
    grads = tape.gradient(y, tensors)
    for i, (a, g) in enumerate(zip(arrays, grads)):
        assert g is not None, f"no gradient for input {i}"
        assert g.shape == a.shape and g.dtype == np.float64
        numeric = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            plus = [v.copy() for v in arrays]
            minus = [v.copy() for v in arrays]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            numeric[idx] = (scalar(*plus) - scalar(*minus)) / (2 * eps)
        np.testing.assert_allclose(g.numpy(), numeric, rtol=tol, atol=tol, err_msg=f"input {i}")


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)), ((), (2, 3))])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_broadcast_arithmetic(op, shapes):
    a, b = rand(*shapes[0]), rand(*shapes[1], seed=5, low=0.5, high=2.0)
    f = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y,
         "mul": lambda x, y: x * y, "div": lambda x, y: x / y}[op]
    check_grad(f, a, b)


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_matmul(ta, tb):
    a = rand(4, 3) if ta else rand(3, 4)
    b = rand(5, 4, seed=1) if tb else rand(4, 5, seed=1)
    check_grad(lambda x, y: tg.matmul(x, y, transpose_a=ta, transpose_b=tb), a, b)


@pytest.mark.parametrize("name", ["relu", "softmax", "sigmoid", "tanh"])
def test_activations(name):
    fn = getattr(tg.nn, name)
    x = rand(4, 5) + 0.05  # keep relu away from its kink
    check_grad(fn, x)


def test_softmax_rank3_and_rank1():
    check_grad(tg.nn.softmax, rand(2, 3, 4))
    check_grad(tg.nn.softmax, rand(5))


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "square", "abs", "negative"])
def test_unary(name):
    check_grad(getattr(tg, name), rand(3, 4, low=0.2, high=2.0))


def test_power_and_maximum():
    check_grad(lambda x: x ** 3, rand(3, 2))
    check_grad(lambda x: x ** 0.5, rand(3, 2, low=0.5, high=2))
    check_grad(tg.maximum, rand(3, 4), rand(4, seed=9))
    check_grad(lambda x: tg.clip_by_value(x, -0.5, 0.5), rand(3, 4))


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["reduce_sum", "reduce_mean", "reduce_max"])
def test_reductions(name, axis, keepdims):
    check_grad(lambda x: getattr(tg, name)(x, axis=axis, keepdims=keepdims), rand(3, 4))


def test_shape_ops():
    check_grad(lambda x: tg.reshape(x, (4, 3)), rand(3, 4))
    check_grad(lambda x: tg.transpose(x), rand(3, 4))
    check_grad(lambda x: tg.transpose(x, (1, 2, 0)), rand(2, 3, 4))
    check_grad(lambda x: tg.cast(x, "float64") * 2, rand(2, 2))


@pytest.mark.parametrize("key", [1, (slice(None), 2), slice(1, 3), (np.array([0, 2, 0]),), (Ellipsis, -1)])
def test_indexing(key):
    check_grad(lambda x: x[key], rand(4, 3))


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_dense_fused_op(activation, bias):
    x, w, b = rand(5, 4), rand(4, 3, seed=1), rand(3, seed=2)
    if bias:
        check_grad(lambda x, w, b: ops.dense(x, w, b, activation), x, w, b)
    else:
        check_grad(lambda x, w: ops.dense(x, w, None, activation), x, w)


def test_dense_matches_unfused():
    x, w, b = (tg.constant(a) for a in (rand(5, 4), rand(4, 3, seed=1), rand(3, seed=2)))
    np.testing.assert_allclose(ops.dense(x, w, b, "relu").numpy(), tg.nn.relu(tg.matmul(x, w) + b).numpy())


def test_sparse_crossentropy_fused_and_unfused_agree():
    labels = np.array([0, 2, 1, 2])
    logits = rand(4, 3)
    check_grad(lambda z: losses.sparse_categorical_crossentropy(labels, z, from_logits=True), logits)
    z = tg.constant(logits)
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(z)
        probs = tg.nn.softmax(z)
        fused = tg.reduce_mean(losses.sparse_categorical_crossentropy(labels, probs))
        plain = tg.nn.softmax(z)
        plain._source = None  # forget the logits: -log(clip(p[label]))
        unfused = tg.reduce_mean(losses.sparse_categorical_crossentropy(labels, plain))
    np.testing.assert_allclose(float(fused), float(unfused), rtol=1e-10)
    np.testing.assert_allclose(tape.gradient(fused, z).numpy(), tape.gradient(unfused, z).numpy(), atol=1e-10)


def test_categorical_crossentropy_and_mse():
    onehot = np.eye(3)[[0, 2, 1]]
    check_grad(lambda z: losses.categorical_crossentropy(onehot, tg.nn.softmax(z)), rand(3, 3))
    check_grad(lambda p: losses.mean_squared_error(onehot, p), rand(3, 3))


def test_second_derivative_nested_tapes():
    x = tg.Variable(np.float64(1.5))
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = x ** 3 + tg.exp(x)
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    np.testing.assert_allclose(float(dy), 3 * 1.5 ** 2 + np.exp(1.5))
    np.testing.assert_allclose(float(d2y), 6 * 1.5 + np.exp(1.5))


def test_second_derivative_through_matmul_softmax():
    """Hessian-vector product of a small softmax regression, vs finite differences."""
    xs = tg.constant(rand(4, 3))
    labels = np.array([0, 1, 1, 0])
    w0 = rand(3, 2, seed=3)
    v = rand(3, 2, seed=4)

    def loss_fn(w):
        return tg.reduce_mean(losses.sparse_categorical_crossentropy(labels, tg.nn.softmax(tg.matmul(xs, w))))

    hv, numeric = hessian_vector_products(tg, loss_fn, w0, v)
    np.testing.assert_allclose(hv, numeric, atol=1e-6)


@pytest.mark.parametrize("from_logits", [True, False])
def test_fused_mean_crossentropy_loss_object(from_logits):
    labels = np.array([2, 0, 1, 1, 0])
    loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    f = (lambda z: loss(labels, z)) if from_logits else (lambda z: loss(labels, tg.nn.softmax(z)))
    check_grad(f, rand(5, 3))
    z = tg.constant(rand(5, 3))
    per_sample = losses.sparse_categorical_crossentropy(labels, z, from_logits=True)
    np.testing.assert_allclose(float(loss(labels, z if from_logits else tg.nn.softmax(z))),
                               per_sample.numpy().mean(), rtol=1e-12)


@pytest.mark.parametrize("model", ["dense_relu", "dense_softmax_mean"])
def test_second_derivative_through_fused_ops(model):
    """Hessian-vector products through the fused dense / cross-entropy ops."""
    xs = tg.constant(rand(6, 3))
    labels = np.array([0, 1, 1, 0, 1, 0])
    w2 = tg.constant(rand(4, 2, seed=7))
    w0, v = rand(3, 4, seed=3), rand(3, 4, seed=4)

    def loss_fn(w):
        if model == "dense_relu":
            h = ops.dense(xs, w, None, "relu")
            return tg.reduce_sum(tg.square(ops.dense(h, w2)))
        probs = tg.nn.softmax(ops.dense(xs, w, None, None)[:, :2])
        return losses.SparseCategoricalCrossentropy()(labels, probs)

    hv, numeric = hessian_vector_products(tg, loss_fn, w0, v)
    np.testing.assert_allclose(hv, numeric, atol=1e-5)
