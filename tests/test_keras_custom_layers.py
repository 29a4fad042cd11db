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
    model = keras.Sequential([SimpleDense(4, activation=tf.nn.relu), SimpleDense(2, activation=tf.nn.softmax)])
    model.compile(optimizer=keras.optimizers.RMSprop(0.01), loss="sparse_categorical_crossentropy")
    model.predict(x[:8], verbose=0)
    weights = list(model.weights)
    assert [w.shape for w in weights] == [(4, 4), (4,), (4, 2), (2,)]
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
