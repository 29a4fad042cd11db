"""Custom layers as the book writes them: built once, output shapes traced from ``call``.

Keras 3 marks a layer built when its ``build`` returns (the book's
``SimpleDense`` of section 3.6.1 never sets ``self.built``), and learns a
custom layer's output shapes by running its ``call`` on symbolic inputs (or
from ``compute_output_shape`` when the layer defines one).
"""

import numpy as np
import pytest

import tapegrad as tf
from tapegrad import keras
from tapegrad.keras import layers


class SimpleDense(keras.layers.Layer):        # the book's section 3.6.1, as printed
    def __init__(self, units, activation=None):
        super().__init__()
        self.units = units
        self.activation = activation

    def build(self, input_shape):
        input_dim = input_shape[-1]
        self.W = self.add_weight(shape=(input_dim, self.units), initializer="random_normal")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        y = tf.matmul(inputs, self.W) + self.b
        if self.activation is not None:
            y = self.activation(y)
        return y


def _two_class_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    return x, y


def test_the_books_simple_dense_is_built_once_and_trains():
    tf.random.set_seed(0)
    x, y = _two_class_data()
    model = keras.Sequential([SimpleDense(16, activation=tf.nn.relu), SimpleDense(2, activation=tf.nn.softmax)])
    model.compile(optimizer=keras.optimizers.RMSprop(0.01), loss="sparse_categorical_crossentropy")
    model.predict(x[:8], verbose=0)
    weights = list(model.weights)
    assert [w.shape for w in weights] == [(4, 16), (16,), (16, 2), (2,)]
    assert all(layer.built for layer in model.layers)
    history = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    assert len(model.weights) == 4 and all(a is b for a, b in zip(model.weights, weights))  # the same Variables
    losses = history.history["loss"]
    assert losses[-1] < 0.6 * losses[0]


def test_a_layer_called_eagerly_twice_keeps_its_weights():
    layer = SimpleDense(3)
    first = layer(np.ones((2, 5), np.float32)).numpy()
    second = layer(np.ones((2, 5), np.float32)).numpy()
    assert len(layer.weights) == 2 and layer.built
    np.testing.assert_array_equal(first, second)


def test_the_books_simple_dense_in_a_functional_model_is_built_once():
    inputs = keras.Input(shape=(4,))
    layer = SimpleDense(3)
    outputs = layer(inputs)
    model = keras.Model(inputs, outputs)
    model(np.ones((2, 4), np.float32))
    assert len(model.weights) == 2 and layer.built


class FirstTwo(keras.layers.Layer):
    """A custom layer that changes the shape and does not say so."""

    def call(self, x):
        return x[:, :2]


class HalfAndHalf(keras.layers.Layer):
    """Two outputs: the first two features, and the sum of the rest (int64 index too)."""

    def call(self, x):
        return x[:, :2], tf.reduce_sum(x[:, 2:], axis=1, keepdims=True)


class DeclaredShape(keras.layers.Layer):
    """compute_output_shape is used when the layer defines one (its call is not run)."""

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 7)

    def call(self, x):
        raise AssertionError("call must not be traced when compute_output_shape is defined")


def test_a_custom_layer_reports_the_shape_its_call_returns():
    inputs = keras.Input(shape=(4,))
    sliced = FirstTwo()(inputs)
    assert sliced.shape == (None, 2)
    dense = layers.Dense(3)
    outputs = dense(sliced)
    assert dense.kernel.shape == (2, 3) and outputs.shape == (None, 3)
    model = keras.Model(inputs, outputs)
    x = np.arange(20, dtype=np.float32).reshape(5, 4)
    k, b = dense.get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), x[:, :2] @ k + b, rtol=1e-5)


def test_a_custom_layer_with_two_outputs_gives_two_keras_tensors():
    inputs = keras.Input(shape=(5,))
    first, rest = HalfAndHalf()(inputs)
    assert (first.shape, rest.shape) == ((None, 2), (None, 1))
    model = keras.Model(inputs, [first, rest])
    x = np.arange(10, dtype=np.float32).reshape(2, 5)
    a, b = model.predict(x, verbose=0)
    np.testing.assert_array_equal(a, x[:, :2])
    np.testing.assert_array_equal(b, x[:, 2:].sum(axis=1, keepdims=True))


def test_compute_output_shape_is_used_when_defined():
    out = DeclaredShape()(keras.Input(shape=(4,)))
    assert out.shape == (None, 7)


def test_a_custom_layer_in_sequential_feeds_the_next_layer_its_real_shape():
    model = keras.Sequential([keras.Input(shape=(4,)), FirstTwo(), layers.Dense(3)])
    assert model.layers[1].kernel.shape == (2, 3)
    assert model.layers[0].output_shape == (None, 2) and model.output_shape == (None, 3)
    lazy = keras.Sequential([SimpleDense(16, activation=tf.nn.relu), SimpleDense(2)])
    assert lazy(np.ones((3, 4), np.float32)).shape == (3, 2)
    assert [w.shape for w in lazy.weights] == [(4, 16), (16,), (16, 2), (2,)]
