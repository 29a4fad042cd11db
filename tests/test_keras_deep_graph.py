"""Graph walks are loops, not recursion: a functional chain of 1,500 layers
builds, saves, loads and predicts (Python's recursion limit is 1,000)."""

import numpy as np

import tapegrad as tg
from tapegrad import keras
from tapegrad.keras import layers

DEPTH = 1500


def test_a_chain_of_1500_layers_builds_saves_loads_and_predicts(tmp_path):
    tg.random.set_seed(0)
    inputs = keras.Input(shape=(3,))
    x = inputs
    for i in range(DEPTH):
        x = layers.Dense(3, name=f"d{i}", bias_initializer="random_uniform")(x) if i % 500 == 0 \
            else layers.Dropout(0.5, name=f"drop{i}")(x)
    model = keras.Model(inputs, x)
    assert len(model.layers) == DEPTH + 1
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    expected = data.astype(np.float64)   # the three Dense layers in NumPy; dropout is off in predict
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            kernel, bias = layer.get_weights()
            expected = expected @ kernel + bias
    np.testing.assert_allclose(model.predict(data, verbose=0), expected, rtol=1e-5)
    path = tmp_path / "deep.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_allclose(loaded.predict(data, verbose=0), expected, rtol=1e-5)
    again = type(model).from_config(model.get_config())
    assert len(again.layers) == DEPTH + 1
