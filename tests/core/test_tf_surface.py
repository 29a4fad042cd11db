"""The TensorFlow-level names of the book's chapter 3, against TF 2's documented behaviour.

Mixed NumPy/tensor arithmetic (an ndarray or Python operand takes the
tensor's dtype), writable slices of Variables, ``one_hot``, ``shape``
entries used as numbers, seeded ``random`` and ``cast``.  Expected values
are computed in NumPy in each test.  These run on the array namespace of a
backend (no compiled kernel besides matmul), so the NumPy reference and the
default compiled backend are enough.
"""

import numpy as np
import pytest

import tapegrad as tf
from tapegrad import kernels

BACKENDS = sorted({"numpy", kernels.get_backend().name})


@pytest.fixture(params=BACKENDS, autouse=True)
def backend(request):
    with kernels.use(request.param):
        yield request.param


# ------------------------------------------------------------------ mixed arithmetic
@pytest.mark.parametrize("op", ["+", "-", "*", "/"])
def test_float64_ndarray_meets_float32_tensor_as_float32(op):
    rng = np.random.default_rng(0)
    t_host = rng.uniform(1, 2, (3, 4)).astype(np.float32)
    a = rng.uniform(1, 2, (4,))                       # float64, as np.linspace gives
    left = eval(f"tf.constant(t_host) {op} a")
    right = eval(f"a {op} tf.constant(t_host)")
    assert isinstance(left, tf.Tensor) and isinstance(right, tf.Tensor)
    assert left.dtype == np.float32 and right.dtype == np.float32
    a32 = a.astype(np.float32)                        # TF converts the array to the tensor's dtype first
    np.testing.assert_allclose(left.numpy(), eval(f"t_host {op} a32"), rtol=1e-6)
    np.testing.assert_allclose(right.numpy(), eval(f"a32 {op} t_host"), rtol=1e-6)


def test_the_books_decision_line_cell():
    """Chapter 3: ``y = - W[0] / W[1] * x + (0.5 - b) / W[1]`` with x from np.linspace."""
    W = tf.Variable(np.array([[0.3], [-0.7]], np.float32))
    b = tf.Variable(np.array([0.1], np.float32))
    x = np.linspace(-1, 4, 100)
    y = - W[0] / W[1] * x + (0.5 - b) / W[1]
    assert y.dtype == np.float32 and y.shape == (100,)
    w0, w1, b0 = np.float32(0.3), np.float32(-0.7), np.float32(0.1)
    np.testing.assert_allclose(y.numpy(), -w0 / w1 * x.astype(np.float32) + (np.float32(0.5) - b0) / w1, rtol=1e-6)


def test_python_and_numpy_operands_keep_the_tensor_dtype():
    for dtype in ("float16", "float32", "float64"):
        t = tf.ones((2,), dtype=dtype)
        assert (t * 2).dtype == dtype and (0.5 + t).dtype == dtype
        assert (t * np.array([1, 2])).dtype == dtype          # int64 ndarray -> the float dtype
        assert (t - np.float64(0.25)).dtype == dtype
    i = tf.constant([1, 2])
    assert (i + 3).dtype == np.int32 and (i * np.array([2, 3], np.int64)).dtype == np.int32
    np.testing.assert_array_equal((i * np.array([2, 3])).numpy(), [2, 6])


def test_a_float_for_an_integer_tensor_is_a_type_error_as_in_tf():
    i = tf.constant([1, 2])
    with pytest.raises(TypeError, match="float64 to the dtype int32"):
        i * np.array([1.5, 2.0])
    with pytest.raises(TypeError, match="int32"):
        i + 1.5
    with pytest.raises(TypeError, match="bool"):
        tf.ones((2,)) * np.array([True, False])
    # two tensors of different dtypes stay an error, as in TF
    with pytest.raises(TypeError, match="float32 and float64"):
        tf.ones((2,)) * tf.constant(np.ones(2))


def test_gradient_flows_through_mixed_arithmetic():
    W = tf.Variable(np.array([1.0, 2.0], np.float32))
    a = np.array([3.0, -4.0])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(W * a)
    g = tape.gradient(loss, W)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g.numpy(), a)


# ------------------------------------------------------------------ slices of Variables
def test_assign_through_a_slice_of_a_variable():
    host = np.arange(6, dtype=np.float32).reshape(3, 2)
    v = tf.Variable(host)
    before = v[0, 0]
    out = v[0, 0].assign(3.)
    assert out is v
    host[0, 0] = 3.
    np.testing.assert_array_equal(v.numpy(), host)
    assert float(before) == 0.0                      # a slice read earlier is a value, not a view
    v[1:].assign_add(np.ones((2, 2)))
    host[1:] += 1
    v[:, 1].assign_sub(tf.constant([0.5, 0.5, 0.5]))
    host[:, 1] -= 0.5
    v[tf.constant(2)].assign(np.array([9., 8.], np.float32))
    host[2] = [9., 8.]
    np.testing.assert_array_equal(v.numpy(), host)
    assert isinstance(v[0], tf.Tensor) and v[0].dtype == np.float32


def test_slice_assignment_errors_are_clear():
    v = tf.Variable(np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"value of shape \(3,\) does not match the shape \(2,\)"):
        v[0].assign(np.zeros(3))
    with pytest.raises(ValueError, match="does not match"):
        v[0:2].assign(1.0)                            # TF's slice assignment does not broadcast
    with pytest.raises(TypeError, match="only a slice taken with integers"):
        v[[0, 2]].assign(np.zeros((2, 2)))
    with pytest.raises(AttributeError):
        tf.constant([1.0, 2.0])[0].assign(3.)        # only Variables are writable
    np.testing.assert_array_equal(v.numpy(), 0)


def test_gradient_of_a_variable_slice():
    v = tf.Variable(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
    with tf.GradientTape() as tape:
        y = v[0, 1] * 5.0
    np.testing.assert_array_equal(tape.gradient(y, v).numpy(), [[0, 5], [0, 0]])


# ------------------------------------------------------------------ one_hot, shape, random, cast
def test_one_hot_matches_numpy():
    idx = np.array([0, 2, 1, 3, -1])
    expected = np.zeros((5, 3), np.float32)
    expected[[0, 1, 2], [0, 2, 1]] = 1                # 3 and -1 are outside [0, 3): rows of off_value
    got = tf.one_hot(idx, 3)
    assert got.dtype == np.float32 and got.shape == (5, 3)
    np.testing.assert_array_equal(got.numpy(), expected)
    got = tf.one_hot(tf.constant(idx), 3, on_value=5, off_value=-1)
    assert got.dtype == np.int32                       # the values' dtype, as TF
    np.testing.assert_array_equal(got.numpy(), np.where(expected == 1, 5, -1))
    two_d = np.array([[0, 1], [2, 0]])
    got = tf.one_hot(two_d, 3, axis=0, dtype="float64")
    assert got.shape == (3, 2, 2) and got.dtype == np.float64
    np.testing.assert_array_equal(got.numpy(), np.moveaxis(np.eye(3)[two_d], -1, 0))
    with pytest.raises(TypeError, match="indices must be integers"):
        tf.one_hot([0.5], 3)
    with pytest.raises(ValueError, match="depth must be non-negative"):
        tf.one_hot([0], -2)


def test_shape_entries_work_as_numbers():
    x = tf.ones((4, 3, 2))
    s = tf.shape(x)
    assert s.dtype == np.int32
    np.testing.assert_array_equal(s.numpy(), [4, 3, 2])
    n = s[0]
    assert list(range(n)) == [0, 1, 2, 3]
    assert int(n * s[1]) == 12 and int(n - 1) == 3
    assert tf.reshape(x, (n, -1)).shape == (4, 6)
    assert tf.zeros((n, s[2])).shape == (4, 2)
    assert tf.random.normal((n, 2)).shape == (4, 2)
    assert np.zeros((n, 2)).shape == (4, 2)


def test_random_normal_and_uniform_follow_their_arguments():
    a = tf.random.normal((20000,), mean=3.0, stddev=0.5, seed=7).numpy()
    b = tf.random.normal((20000,), mean=3.0, stddev=0.5, seed=7).numpy()
    np.testing.assert_array_equal(a, b)                # an op-level seed repeats the draw
    assert a.dtype == np.float32 and abs(a.mean() - 3.0) < 0.02 and abs(a.std() - 0.5) < 0.02
    assert tf.random.normal((2, 2), dtype="float64").dtype == np.float64
    u = tf.random.uniform(shape=(20000,), minval=-2., maxval=5., seed=1).numpy()
    assert u.min() >= -2 and u.max() < 5 and abs(u.mean() - 1.5) < 0.1
    with pytest.raises(ValueError, match="minval < maxval"):
        tf.random.uniform((2,), minval=1., maxval=0.)


@pytest.mark.parametrize("target", ["bool", "int8", "int32", "int64", "uint8", "float16", "float32", "float64"])
@pytest.mark.parametrize("source", ["bool", "int32", "uint8", "float32", "float64"])
def test_cast_between_the_books_dtypes(source, target):
    host = np.array([0, 1, 3, 200, 7]).astype(source)  # non-negative, fits every target
    if source.startswith("float"):
        host = host + np.array([0, 0.25, 0.5, 0.75, -0.25]).astype(source)   # truncation toward 0
    got = tf.cast(tf.constant(host), getattr(tf, target))
    assert got.dtype == np.dtype(target)
    expected = host != 0 if target == "bool" else host.astype(target)
    np.testing.assert_array_equal(got.numpy(), expected)
