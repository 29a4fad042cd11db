"""tapegrad.data.Dataset (tf.data.Dataset) against NumPy, fit on a Dataset, and tf.function."""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras
from tapegrad.data import Dataset
from tapegrad.keras import layers


@pytest.fixture(autouse=True)
def cython_or_numpy_backend():
    backend = "cython" if "cython" in tg.kernels.available_backends() else "numpy"
    with tg.kernels.use(backend):
        yield


def data(n=10):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n) % 4
    return x, y


def labels(dataset):
    return [int(b) for _, b in dataset]


def test_from_tensor_slices_structures_and_tensors():
    x, y = data()
    assert tg.data.Dataset is Dataset and tg.data.AUTOTUNE == -1
    first = next(iter(Dataset.from_tensor_slices((x, y))))
    assert isinstance(first, tuple) and all(isinstance(t, tg.Tensor) for t in first)
    np.testing.assert_array_equal(first[0].numpy(), x[0])
    assert first[1].dtype == y.dtype
    elements = list(Dataset.from_tensor_slices({"a": x, "b": y}))
    assert len(elements) == 10 and set(elements[3]) == {"a", "b"} and int(elements[3]["b"]) == y[3]
    assert [float(t) for t in Dataset.from_tensor_slices([1.0, 2.0])] == [1.0, 2.0]
    assert next(iter(Dataset.from_tensor_slices([1.0, 2.0]))).dtype == np.float32   # Python floats: float32
    # the elements are a copy: changing the array later does not reach them
    ds = Dataset.from_tensor_slices(x)
    x[0, 0] = 99
    assert float(next(iter(ds))[0]) == 0.0
    with pytest.raises(ValueError, match="same first dimension"):
        Dataset.from_tensor_slices((x, y[:5]))
    with pytest.raises(ValueError, match="scalar"):
        Dataset.from_tensor_slices(np.float32(1))


@pytest.mark.parametrize("n, size, drop", [(10, 3, False), (10, 3, True), (9, 3, True), (4, 8, False), (4, 8, True)])
def test_batch_matches_numpy_slicing(n, size, drop):
    x, y = data(n)
    expected = [(x[i:i + size], y[i:i + size]) for i in range(0, n, size) if not drop or i + size <= n]
    ds = Dataset.from_tensor_slices((x, y)).batch(size, drop_remainder=drop)
    got = list(ds.as_numpy_iterator())
    assert len(ds) == len(expected) == len(got)
    for (gx, gy), (ex, ey) in zip(got, expected):
        np.testing.assert_array_equal(gx, ex)
        np.testing.assert_array_equal(gy, ey)
    # the same through the element-by-element path (after a map)
    mapped = Dataset.from_tensor_slices((x, y)).map(lambda a, b: (a, b)).batch(size, drop_remainder=drop)
    for (gx, gy), (ex, ey) in zip(mapped.as_numpy_iterator(), expected):
        np.testing.assert_array_equal(gx, ex)
        np.testing.assert_array_equal(gy, ey)


def test_shuffle_is_a_seeded_permutation_reshuffled_each_pass():
    x, y = data(50)
    y = np.arange(50)
    ds = Dataset.from_tensor_slices((x, y)).shuffle(50, seed=3)
    first, second = labels(ds), labels(ds)
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != second and first != list(range(50))
    assert labels(Dataset.from_tensor_slices((x, y)).shuffle(50, seed=3)) == first   # same seed, same orders
    fixed = Dataset.from_tensor_slices((x, y)).shuffle(50, seed=3, reshuffle_each_iteration=False)
    assert labels(fixed) == labels(fixed)
    # without a seed, tapegrad.random.set_seed makes it reproducible
    tg.random.set_seed(7)
    a = labels(Dataset.from_tensor_slices((x, y)).shuffle(50))
    tg.random.set_seed(7)
    assert labels(Dataset.from_tensor_slices((x, y)).shuffle(50)) == a


@pytest.mark.parametrize("buffer_size", [1, 2, 5, 17])
def test_shuffle_buffer_semantics(buffer_size):
    # TF's buffer: output i is drawn from inputs 0 .. i + buffer_size - 1, so no element
    # moves more than buffer_size - 1 places earlier; buffer_size 1 keeps the order
    n = 40
    ds = Dataset.from_tensor_slices(np.arange(n)).shuffle(buffer_size, seed=0)
    for _ in range(5):
        order = [int(t) for t in ds]
        assert sorted(order) == list(range(n))
        assert all(value <= i + buffer_size - 1 for i, value in enumerate(order))
    if buffer_size == 1:
        assert order == list(range(n))
    else:   # and the bound is reached: it does not shuffle less than it may
        firsts = {int(next(iter(Dataset.from_tensor_slices(np.arange(n)).shuffle(buffer_size, seed=s))))
                  for s in range(200)}
        assert firsts == set(range(buffer_size))


def test_shuffle_gathers_rows_the_same_as_element_by_element():
    x, y = data(23)
    direct = Dataset.from_tensor_slices((x, y)).shuffle(8, seed=5).batch(4)
    by_element = Dataset.from_tensor_slices((x, y)).map(lambda a, b: (a, b)).shuffle(8, seed=5).batch(4)
    for (ax, ay), (bx, by) in zip(direct.as_numpy_iterator(), by_element.as_numpy_iterator()):
        np.testing.assert_array_equal(ax, bx)
        np.testing.assert_array_equal(ay, by)


def test_map_take_skip_repeat_prefetch_and_cardinality():
    x, y = data(10)
    ds = Dataset.from_tensor_slices((x, y))
    doubled = ds.map(lambda a, b: (a * 2.0, b), num_parallel_calls=tg.data.AUTOTUNE).batch(4).prefetch(tg.data.AUTOTUNE)
    got = np.concatenate([bx for bx, _ in doubled.as_numpy_iterator()])
    np.testing.assert_array_equal(got, x * 2)
    assert int(ds.cardinality()) == 10 and len(ds.batch(4)) == 3 and len(ds.batch(4, drop_remainder=True)) == 2
    assert labels(ds.take(3)) == [0, 1, 2] and len(ds.take(3)) == 3 and len(ds.take(-1)) == 10
    assert labels(ds.skip(8)) == [0, 1] and len(ds.skip(20)) == 0
    assert labels(ds.take(3).repeat(2)) == [0, 1, 2, 0, 1, 2] and len(ds.repeat(3)) == 30
    assert int(ds.repeat().cardinality()) == tg.data.INFINITE_CARDINALITY
    assert len(ds.repeat().take(25)) == 25 and len(labels(ds.repeat().take(25))) == 25
    with pytest.raises(TypeError, match="infinite"):
        len(ds.repeat())
    single = Dataset.from_tensor_slices(x).map(lambda a: tg.reduce_sum(a))
    np.testing.assert_allclose([float(t) for t in single], x.sum(axis=1))
    dicts = Dataset.from_tensor_slices({"a": x, "b": y}).map(lambda d: (d["a"], d["b"])).batch(5)
    assert [bx.shape for bx, _ in dicts] == [(5, 3), (5, 3)]
    with pytest.raises(ValueError, match="different shapes"):
        list(Dataset.from_tensor_slices(x).map(lambda a: a[: int(a[0]) % 2 + 1]).batch(3))
    with pytest.raises(TypeError, match="function"):
        ds.map(3)


def tiny_model():
    tg.random.set_seed(0)
    model = keras.Sequential([layers.Dense(4, activation="relu"), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def blobs(n=90):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, n)
    return (rng.normal(0, 3, (3, 5))[y] + rng.normal(0, 1, (n, 5))).astype(np.float32), y


def test_fit_evaluate_predict_on_a_dataset_equal_arrays():
    x, y = blobs()
    by_arrays = tiny_model()
    h1 = by_arrays.fit(x[:60], y[:60], batch_size=16, epochs=3, shuffle=False, validation_data=(x[60:], y[60:]),
                       verbose=0)
    by_dataset = tiny_model()
    train = Dataset.from_tensor_slices((x[:60], y[:60])).batch(16)
    val = Dataset.from_tensor_slices((x[60:], y[60:])).batch(16)
    h2 = by_dataset.fit(train, epochs=3, validation_data=val, verbose=0)
    assert h1.history == h2.history and h1.history["loss"][-1] < h1.history["loss"][0]
    for a, b in zip(by_arrays.get_weights(), by_dataset.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert by_dataset.evaluate(Dataset.from_tensor_slices((x[60:], y[60:])).batch(7),
                               verbose=0) == pytest.approx(by_arrays.evaluate(x[60:], y[60:], verbose=0), rel=1e-6)
    np.testing.assert_array_equal(by_dataset.predict(val, verbose=0), by_arrays.predict(x[60:], verbose=0))
    np.testing.assert_array_equal(by_dataset.predict(Dataset.from_tensor_slices(x[60:]).batch(7), verbose=0),
                                  by_arrays.predict(x[60:], verbose=0))


def test_fit_on_a_shuffled_dataset_sees_every_sample_each_epoch(monkeypatch):
    x, y = blobs()
    model = tiny_model()
    seen = []
    original = model.train_step
    # Keras 3's signature: train_step(data) with data = (x, y)
    monkeypatch.setattr(model, "train_step", lambda data: seen.append(data[0][:, 0].copy()) or original(data))
    ds = Dataset.from_tensor_slices((x, y)).shuffle(90, seed=0).batch(32)
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(seen) == 6 and [len(b) for b in seen] == [32, 32, 26] * 2
    first, second = np.concatenate(seen[:3]), np.concatenate(seen[3:])
    np.testing.assert_array_equal(np.sort(first), np.sort(x[:, 0]))
    np.testing.assert_array_equal(np.sort(second), np.sort(x[:, 0]))
    assert not np.array_equal(first, second) and not np.array_equal(first, x[:, 0])
    assert history.history["loss"][1] < history.history["loss"][0]


def test_fit_with_a_dataset_rejects_what_keras_rejects():
    x, y = blobs()
    model = tiny_model()
    ds = Dataset.from_tensor_slices((x, y)).batch(16)
    with pytest.raises(ValueError, match="batch_size must be None"):
        model.fit(ds, batch_size=16, verbose=0)
    with pytest.raises(ValueError, match="`y` argument is not supported"):
        model.fit(ds, y, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(ds, validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="infinite"):
        model.fit(ds.repeat(), verbose=0)
    with pytest.raises(ValueError, match=r"\(x, y\) pairs"):
        model.fit(Dataset.from_tensor_slices(x).batch(16), verbose=0)
    with pytest.raises(ValueError, match="out of range|label"):
        model.fit(Dataset.from_tensor_slices((x, y + 5)).batch(16), verbose=0)


def test_a_plain_training_loop_over_a_dataset():
    x, y = blobs()
    tg.random.set_seed(0)
    model = keras.Sequential([layers.Dense(3, activation="softmax")])
    optimizer = keras.optimizers.RMSprop(0.01)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    @tg.function
    def train_step(inputs, targets):
        with tg.GradientTape() as tape:
            loss = loss_fn(targets, model(inputs, training=True))
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        return loss

    ds = Dataset.from_tensor_slices((x, y)).shuffle(90, seed=1).batch(16)
    losses = [[float(train_step(inputs, targets)) for inputs, targets in ds] for _ in range(5)]
    assert np.mean(losses[-1]) < np.mean(losses[0]) / 2


def test_tf_function_traces_with_or_without_arguments():
    calls = []

    @tg.function
    def bare(a, b=1):
        calls.append(a)
        return tg.multiply(a, b)

    @tg.function(jit_compile=True, reduce_retracing=True)
    def configured(a):
        """Doc kept."""
        calls.append(a)
        return a + 1

    class Holder:
        @tg.function
        def method(self, v):
            return v * 3

    assert float(bare(tg.constant(2.0), b=4)) == 8.0 and float(bare(tg.constant(2.0), b=4)) == 8.0
    assert len(calls) == 1   # traced once: the body's Python runs at trace time only (as TF's)
    assert configured(1) == 2 and configured.__doc__ == "Doc kept." and configured.__name__ == "configured"
    assert Holder().method(2) == 6 and bare.python_function(3, 2) == 6
    assert tg.function(input_signature=None)(len)([1, 2]) == 2
    with pytest.raises(TypeError, match="unexpected keyword"):
        tg.function(jit=True)
    with pytest.raises(TypeError, match="decorates a function"):
        tg.function(3)
