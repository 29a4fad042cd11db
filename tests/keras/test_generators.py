"""fit / evaluate / predict read Python generators and ``keras.utils.PyDataset`` (issue 20, failure 6).

Each model trained on a generator (or a PyDataset) is checked against the
same model, same seed, trained on the same batches given as arrays: the
weights must agree, so the batches were read in order and each exactly once.
"""

import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras
from tapegrad.keras import layers


@pytest.fixture(autouse=True)
def cython_or_numpy_backend():
    backend = "cython" if "cython" in tg.kernels.available_backends() else "numpy"
    with tg.kernels.use(backend):
        yield


def data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = rng.integers(0, 3, n)
    return x, y


def model(seed=0):
    tg.random.set_seed(seed)
    m = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="softmax")])
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def batches(x, y, size=32):
    for start in range(0, len(x), size):
        yield x[start:start + size], y[start:start + size]


def test_fit_on_a_generator_matches_fit_on_arrays():
    x, y = data()
    reference = model()
    expected = reference.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0).history
    trained = model()
    history = trained.fit(batches(x, y), epochs=1, verbose=0).history
    assert history["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    for a, b in zip(trained.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_generator_with_steps_per_epoch_continues_across_epochs():
    x, y = data(n=128)
    def forever():
        while True:
            yield from batches(x, y)
    reference = model()
    reference.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)   # 4 batches an epoch
    trained = model()
    history = trained.fit(forever(), steps_per_epoch=2, epochs=6, verbose=0)
    assert len(history.history["loss"]) == 6
    for a, b in zip(trained.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_a_generator_that_runs_out_stops_fit_with_a_warning():
    x, y = data(n=64)
    trained = model()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = trained.fit(batches(x, y), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1


def test_evaluate_and_predict_on_generators():
    x, y = data(n=80)
    m = model()
    assert m.evaluate(batches(x, y, 16), verbose=0) == pytest.approx(m.evaluate(x, y, batch_size=16, verbose=0))
    predicted = m.predict((xb for xb, _ in batches(x, y, 16)), verbose=0)
    np.testing.assert_allclose(predicted, m.predict(x, verbose=0), rtol=1e-6)
    # steps= takes the first batches only
    first = m.evaluate(batches(x, y, 16), steps=2, verbose=0, return_dict=True)
    assert first == pytest.approx(m.evaluate(x[:32], y[:32], batch_size=16, verbose=0, return_dict=True))


class Batches(keras.utils.PyDataset):
    """Keras 3 style: batches by index, reshuffled (seeded) after each epoch."""

    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.order = np.arange(len(x))
        self.epochs_ended = 0
        self.rng = np.random.default_rng(7)

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.epochs_ended += 1
        self.order = self.rng.permutation(len(self.x))


def test_fit_on_a_py_dataset_reads_every_batch_and_calls_on_epoch_end():
    x, y = data(n=70)
    source = Batches(x, y, 32, workers=2)
    assert len(source) == 3 and source.num_batches == 3
    trained = model()
    trained.fit(source, epochs=3, verbose=0)
    assert source.epochs_ended == 3
    # the same three epochs as arrays, in the orders the PyDataset used
    reference = model()
    rng = np.random.default_rng(7)
    orders = [np.arange(70), rng.permutation(70), rng.permutation(70)]
    for order in orders:
        reference.fit(x[order], y[order], batch_size=32, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(trained.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_py_dataset_with_steps_per_epoch_and_as_validation_data():
    x, y = data(n=96)
    trained = model()
    history = trained.fit(Batches(x, y, 16), steps_per_epoch=2, epochs=2, verbose=0,
                          validation_data=Batches(x[:48], y[:48], 16))
    expected = trained.evaluate(x[:48], y[:48], batch_size=16, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(expected[0], rel=1e-6)


@pytest.mark.parametrize("element,message", [
    ((np.zeros((4, 4), np.float32),), "without targets"),
    ((np.zeros((4, 4), np.float32), np.zeros(4), np.ones(4), np.ones(4)), "tuple of 4"),
    ((np.zeros((4, 4), np.float32), np.zeros(4), np.ones(4)), "sample weights"),
    (3.0, "pairs of arrays"),
    (None, "pairs of arrays"),
    ((np.array(["a", "b"]), np.zeros(2)), "numeric"),
])
def test_wrong_generator_elements_get_clear_errors(element, message):
    def gen():
        yield element
    with pytest.raises((ValueError, TypeError), match=message):
        model().fit(gen(), epochs=1, verbose=0)


def test_a_generator_of_lists_reads_them_as_tuples_as_keras_does():
    x, y = data(n=64)
    reference = model()
    reference.fit(x, y, batch_size=32, shuffle=False, verbose=0)
    trained = model()
    trained.fit(([xb, yb] for xb, yb in batches(x, y)), verbose=0)
    for a, b in zip(trained.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_generator_rejects_y_and_batch_size():
    x, y = data(n=32)
    with pytest.raises(ValueError, match="`y` argument is not supported"):
        model().fit(batches(x, y), y, verbose=0)
    with pytest.raises(ValueError, match="batch_size must be None"):
        model().fit(batches(x, y), batch_size=8, verbose=0)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        model().fit(batches(x, y), steps_per_epoch=0, verbose=0)


def test_a_py_dataset_without_len_needs_steps():
    class Endless(keras.utils.PyDataset):
        def __getitem__(self, index):
            x, y = data(n=8, seed=index)
            return x, y
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model().fit(Endless(), epochs=1, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = model().fit(Endless(), steps_per_epoch=3, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
