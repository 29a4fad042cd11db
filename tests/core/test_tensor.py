"""Tensors: creation, dtypes, operators and broadcasting vs NumPy, printing."""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import kernels

BACKENDS = sorted({"numpy", kernels.get_backend().name})


@pytest.fixture(params=BACKENDS, autouse=True)
def backend(request):
    with kernels.use(request.param):
        yield request.param


def test_dtypes_follow_tensorflow():
    assert tg.constant(2.0).dtype == tg.float32
    assert tg.constant([1, 2]).dtype == tg.int32
    assert tg.constant(np.zeros(2)).dtype == tg.float64  # NumPy keeps its dtype
    assert tg.Variable(0.).dtype == np.float32
    assert tg.zeros((2,)).dtype == np.float32 and tg.ones((2, 3), dtype="float64").dtype == np.float64
    assert tg.random.uniform((2, 2)).dtype == np.float32
    assert tg.constant(1.0, shape=(2, 2)).shape == (2, 2)


def test_properties_and_conversions():
    t = tg.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and t.ndim == 2 and len(t) == 2 and t.size == 6
    assert isinstance(t.numpy(), np.ndarray)
    np.testing.assert_array_equal(np.asarray(t), [[1, 2, 3], [4, 5, 6]])
    s = tg.constant(2.5)
    assert float(s) == 2.5 and int(s) == 2 and bool(s)
    assert f"{s:.2f}" == "2.50"
    with pytest.raises(TypeError):
        float(t)
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t)
    with pytest.raises(TypeError):
        len(s)
    assert [r.shape for r in t] == [(3,), (3,)]


@pytest.mark.parametrize("op", ["+", "-", "*", "/"])
@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((2, 3), (3,)), ((4, 1), (1, 5)), ((), (3,))])
def test_arithmetic_matches_numpy(op, shapes):
    rng = np.random.default_rng(0)
    a = rng.uniform(1, 2, shapes[0]).astype(np.float32)
    b = rng.uniform(1, 2, shapes[1]).astype(np.float32)
    expected = eval(f"a {op} b")
    got = eval(f"tg.constant(a) {op} tg.constant(b)")
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
    assert got.dtype == np.float32
    # scalars on either side keep the tensor's dtype
    assert eval(f"2 {op} tg.constant(a)").dtype == np.float32
    assert eval(f"tg.constant(a) {op} 2").dtype == np.float32


def test_more_ops():
    a = np.array([[1.0, -2.0], [3.0, -4.0]], np.float32)
    t = tg.constant(a)
    np.testing.assert_allclose((-t).numpy(), -a)
    np.testing.assert_allclose((t ** 2).numpy(), a ** 2)
    np.testing.assert_allclose((t @ t).numpy(), a @ a)
    np.testing.assert_allclose(tg.abs(t).numpy(), np.abs(a))
    np.testing.assert_allclose(tg.nn.relu(t).numpy(), np.maximum(a, 0))
    np.testing.assert_allclose(tg.reduce_mean(t, axis=0).numpy(), a.mean(0))
    np.testing.assert_allclose(tg.reduce_sum(t, axis=1, keepdims=True).numpy(), a.sum(1, keepdims=True))
    np.testing.assert_allclose(tg.reduce_max(t).numpy(), a.max())
    np.testing.assert_array_equal(tg.argmax(t, axis=1).numpy(), a.argmax(1))
    np.testing.assert_allclose(tg.nn.softmax(t).numpy().sum(1), [1, 1], rtol=1e-6)
    assert tg.cast(t, "int32").dtype == np.int32
    np.testing.assert_array_equal((t > 0).numpy(), a > 0)
    assert (t == t).dtype == np.bool_
    np.testing.assert_allclose(t[1].numpy(), a[1])
    np.testing.assert_allclose(t[:, 0].numpy(), a[:, 0])


def test_mismatched_shapes_and_dtypes_say_what():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
        tg.constant(np.ones((2, 3))) + tg.constant(np.ones(4))
    with pytest.raises(TypeError, match="float32 and float64"):
        tg.constant(1.0) + tg.constant(np.float64(1.0))
    with pytest.raises(ValueError, match="inner dimensions"):
        tg.matmul(tg.ones((2, 3)), tg.ones((2, 3)))
    with pytest.raises(ValueError, match="cannot reshape"):
        tg.reshape(tg.ones((2, 3)), (4,))


def test_repr_like_tensorflow():
    assert repr(tg.constant(2.0)) == "tapegrad.Tensor(2.0, shape=(), dtype=float32)"
    assert str(tg.ones((2, 2)) * 2) == "tapegrad.Tensor(\n[[2. 2.]\n [2. 2.]], shape=(2, 2), dtype=float32)"
    assert str(tg.constant([1.0, 2.0])) == "tapegrad.Tensor([1. 2.], shape=(2,), dtype=float32)"
    v = tg.Variable(tg.ones((2, 2)))
    assert repr(v) == ("<tapegrad.Variable 'Variable:0' shape=(2, 2) dtype=float32, numpy=\n"
                       "array([[1., 1.],\n       [1., 1.]], dtype=float32)>")
    assert repr(tg.Variable(0., name="x")) == "<tapegrad.Variable 'x:0' shape=() dtype=float32, numpy=0.0>"


def test_variable_assign_in_place():
    v = tg.Variable(np.ones((2, 2), np.float32))
    data = v._data
    v.assign_sub(tg.ones((2, 2)) * 0.5)
    v.assign_add(np.full((2, 2), 2.0, np.float32))
    assert v._data is data
    np.testing.assert_allclose(v.numpy(), 2.5)
    v.assign(np.zeros((2, 2)))
    np.testing.assert_allclose(v.numpy(), 0)
    with pytest.raises(ValueError, match=r"shape \(3,\) does not match"):
        v.assign(np.zeros(3))
    snapshot = v.numpy()
    v.assign_add(np.ones((2, 2)))
    assert snapshot[0, 0] == 0  # numpy() of a Variable is a copy


def test_random_is_seeded():
    tg.random.set_seed(3)
    a = tg.random.uniform((3,), minval=0, maxval=0.1).numpy()
    tg.random.set_seed(3)
    b = tg.random.uniform((3,), minval=0, maxval=0.1).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.max() < 0.1 and a.min() >= 0
    n = tg.random.normal((1000,), mean=2.0, stddev=0.5).numpy()
    assert abs(n.mean() - 2) < 0.1 and abs(n.std() - 0.5) < 0.1


def test_numpy_on_the_left():
    a = np.ones((2, 2), np.float32)
    out = a * tg.ones((2, 2))
    assert isinstance(out, tg.Tensor)


def test_import_is_lazy():
    import subprocess
    import sys

    code = ("import sys, tapegrad; import tapegrad.kernels._dispatch as d; "
            "print(sorted(d._loaded))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
