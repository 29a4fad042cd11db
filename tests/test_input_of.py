"""A softmax or sigmoid output remembers its logits in the core's own terms.

``ops.softmax`` / ``ops.sigmoid`` record ``_source = (op name, input)`` on
their output and ``ops.input_of`` reads it; every other tensor has none.
Keras's cross-entropies use it to compute the loss from the logits, which
stays exact where the probabilities saturate (checked against the stable
NumPy formulas, which a clipped probability could not reach).
"""

import numpy as np

import tapegrad as tg
from tapegrad import keras, ops
from tapegrad.tape import Seed


def test_softmax_and_sigmoid_outputs_name_their_input():
    x = tg.constant(np.array([[0.5, -1.0, 2.0]]))
    probs, s = ops.softmax(x), ops.sigmoid(x)
    assert ops.input_of(probs, "softmax") is x and ops.input_of(probs, "sigmoid") is None
    assert ops.input_of(s, "sigmoid") is x and ops.input_of(s, "softmax") is None


def test_other_tensors_have_no_source():
    v = tg.Variable(np.ones((2, 3)))
    made = [tg.constant([1.0, 2.0]), tg.Tensor([1.0]), v, v[0], ops.add(v, 1.0), ops.tanh(v),
            Seed.like(v), ops.zeros_variable((1,), "float64", like=v)]
    for t in made:
        assert ops.input_of(t, "softmax") is None and ops.input_of(t, "sigmoid") is None, type(t)
    assert ops.input_of(np.ones(3), "softmax") is None   # not a tensor at all


def test_a_saturated_sigmoid_loss_comes_from_the_logits():
    logits = np.array([[40.0, -35.0, 0.3]])
    labels = np.array([[0.0, 1.0, 1.0]])
    loss = keras.losses.binary_crossentropy(labels, ops.sigmoid(tg.constant(logits)))
    stable = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))
    np.testing.assert_allclose(loss.numpy(), stable.mean(axis=-1), rtol=1e-12)


def test_a_saturated_softmax_loss_comes_from_the_logits():
    logits = np.array([[0.0, 100.0, 3.0], [2.0, 1.0, -60.0]])
    labels = np.array([0, 2])
    loss = keras.losses.sparse_categorical_crossentropy(labels, ops.softmax(tg.constant(logits)))
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(loss.numpy(), -log_softmax[[0, 1], labels], rtol=1e-12)
    onehot = np.eye(3)[labels]
    loss = keras.losses.categorical_crossentropy(onehot, ops.softmax(tg.constant(logits)))
    np.testing.assert_allclose(loss.numpy(), -log_softmax[[0, 1], labels], rtol=1e-12)
