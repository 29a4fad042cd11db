"""Chapter 8's convnet layers: Conv2D, pooling, Flatten/Dropout on images, summary, saving.

Every number is checked against an independent computation: a NumPy
convolution written from TF's padding rule (pad, then sum over the kernel's
taps), NumPy window maxima and means, central finite differences for every
gradient, and Keras's documented shapes and parameter counts (the book's
MNIST convnet: 104,202 parameters).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras, kernels, ops
from tapegrad.keras import layers

from finite_differences import central_differences


# ------------------------------------------------------------------ independent NumPy references
def tf_padding(size, window, stride, padding):
    """(output size, padding before, padding after) along one axis, by TF's documented rule."""
    if padding == "valid":
        return (size - window) // stride + 1, 0, 0
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + window - size, 0)
    return out, total // 2, total - total // 2


def numpy_conv2d(x, w, b, strides, padding):
    """NHWC x HWIO cross-correlation: pad by TF's rule, then add up one tap of the kernel at a time."""
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    oh, top, bottom = tf_padding(h, kh, strides[0], padding)
    ow, left, right = tf_padding(wd, kw, strides[1], padding)
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out = np.zeros((n, oh, ow, f))
    for i in range(kh):
        for j in range(kw):
            patch = padded[:, i:i + strides[0] * (oh - 1) + 1:strides[0], j:j + strides[1] * (ow - 1) + 1:strides[1], :]
            out += np.einsum("nhwc,cf->nhwf", patch, w[i, j])
    return out if b is None else out + b


def numpy_pool2d(x, pool, strides, padding, reduce):
    """Each window's max or mean over the pixels inside the image (padding never counts)."""
    n, h, w, c = x.shape
    oh, top, _ = tf_padding(h, pool[0], strides[0], padding)
    ow, left, _ = tf_padding(w, pool[1], strides[1], padding)
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * strides[0] - top, j * strides[1] - left
            window = x[:, max(r0, 0):r0 + pool[0], max(c0, 0):c0 + pool[1], :]
            out[:, i, j, :] = reduce(window, axis=(1, 2))
    return out


@pytest.fixture
def numpy_backend():
    with kernels.use("numpy"):
        yield


# ------------------------------------------------------------------ the layers against the references
@pytest.mark.parametrize("kernel_size, strides, padding", [
    (3, 1, "valid"), (3, 1, "same"), (2, 1, "same"), (4, 3, "same"), (1, 2, "valid"), ((2, 3), (2, 1), "same"),
])
def test_conv2d_matches_a_numpy_convolution_with_tf_padding(kernel_size, strides, padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 7, 8, 3)).astype(np.float32)
    layer = layers.Conv2D(5, kernel_size, strides=strides, padding=padding, bias_initializer="random_normal")
    out = layer(x).numpy()
    st = (strides, strides) if isinstance(strides, int) else strides
    expected = numpy_conv2d(x.astype(np.float64), layer.kernel.numpy().astype(np.float64),
                            layer.bias.numpy().astype(np.float64), st, padding)
    assert out.shape == expected.shape and out.shape[1:] == layer.compute_output_shape((None, 7, 8, 3))[1:]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_conv2d_relu_and_other_activations():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 6, 6, 2)).astype(np.float32)
    relu = layers.Conv2D(4, 3, activation="relu", bias_initializer="random_normal")
    out = relu(x).numpy()
    plain = numpy_conv2d(x, relu.kernel.numpy(), relu.bias.numpy(), (1, 1), "valid")
    np.testing.assert_allclose(out, np.maximum(plain, 0), rtol=1e-4, atol=1e-5)
    sig = layers.Conv2D(4, 3, activation="sigmoid", use_bias=False)
    out = sig(x).numpy()
    assert sig.bias is None and len(sig.weights) == 1
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-numpy_conv2d(x, sig.kernel.numpy(), None, (1, 1), "valid"))),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer_class, reduce", [(layers.MaxPooling2D, np.max), (layers.AveragePooling2D, np.mean)])
@pytest.mark.parametrize("pool, strides, padding", [(2, None, "valid"), (2, None, "same"), (3, 1, "same"),
                                                    (3, 2, "valid"), ((2, 3), (1, 2), "same")])
def test_pooling_matches_numpy_windows(layer_class, reduce, pool, strides, padding):
    x = np.random.default_rng(3).standard_normal((2, 7, 5, 3)).astype(np.float32)
    layer = layer_class(pool, strides=strides, padding=padding)
    p = layer.pool_size
    st = p if strides is None else layer.strides
    np.testing.assert_allclose(layer(x).numpy(), numpy_pool2d(x, p, st, padding, reduce), rtol=1e-5, atol=1e-6)


def test_global_pooling_and_keepdims():
    x = np.random.default_rng(4).standard_normal((2, 4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(layers.GlobalAveragePooling2D()(x).numpy(), x.mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(layers.GlobalMaxPooling2D(keepdims=True)(x).numpy(), x.max(axis=(1, 2), keepdims=True))
    assert layers.GlobalAveragePooling2D().compute_output_shape((None, 4, 5, 3)) == (None, 3)
    assert layers.GlobalAveragePooling2D(keepdims=True).compute_output_shape((None, 4, 5, 3)) == (None, 1, 1, 3)


def test_flatten_and_dropout_on_images():
    x = np.random.default_rng(5).standard_normal((4, 3, 3, 8)).astype(np.float32)
    np.testing.assert_array_equal(layers.Flatten()(x).numpy(), x.reshape(4, 72))
    drop = layers.Dropout(0.5, seed=1)
    np.testing.assert_array_equal(drop(x, training=False).numpy(), x)
    out = drop(x, training=True).numpy()
    kept = out != 0
    assert out.shape == x.shape and 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(out[kept], 2 * x[kept], rtol=1e-6)


# ------------------------------------------------------------------ shapes and errors, as Keras
def test_output_shapes_follow_keras():
    conv = layers.Conv2D(8, 3)
    assert conv.compute_output_shape((None, 28, 28, 1)) == (None, 26, 26, 8)
    assert layers.Conv2D(8, 3, padding="same", strides=2).compute_output_shape((None, 7, 8, 3)) == (None, 4, 4, 8)
    assert layers.Conv2D(8, 3).compute_output_shape((None, None, None, 3)) == (None, None, None, 8)
    assert layers.MaxPooling2D().compute_output_shape((None, 26, 26, 32)) == (None, 13, 13, 32)
    assert layers.MaxPooling2D(3, strides=2, padding="same").compute_output_shape((5, 7, 7, 2)) == (5, 4, 4, 2)
    assert layers.Conv2D(4, 2).kernel_size == (2, 2) and layers.MaxPooling2D(3).strides == (3, 3)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="filters"):
        layers.Conv2D(0, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        layers.Conv2D(4, (3, 3, 3))
    with pytest.raises(ValueError, match="strides"):
        layers.Conv2D(4, 3, strides=0)
    with pytest.raises(ValueError, match="strides"):
        layers.MaxPooling2D(2, strides=-1)
    with pytest.raises(ValueError, match="padding"):
        layers.Conv2D(4, 3, padding="full")
    with pytest.raises(ValueError, match="channels_first.*not supported"):
        layers.Conv2D(4, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="data_format"):
        layers.MaxPooling2D(data_format="nchw")


def test_bad_inputs_are_clear_errors():
    conv = layers.Conv2D(4, 3)
    with pytest.raises(ValueError, match="expected ndim=4"):
        conv(np.zeros((2, 5, 5), np.float32))
    with pytest.raises(ValueError, match="zero or negative"):   # a 3x3 kernel on a 2x2 "valid" image
        layers.Conv2D(4, 3)(np.zeros((1, 2, 2, 1), np.float32))
    conv(np.zeros((1, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match="axis -1 of input shape to have value 3"):
        conv(np.zeros((1, 5, 5, 2), np.float32))
    inputs = keras.Input(shape=(5, 5, 3))
    with pytest.raises(ValueError, match="zero or negative"):
        layers.MaxPooling2D(6)(inputs)
    with pytest.raises(ValueError, match="expected ndim=4"):
        layers.GlobalAveragePooling2D()(keras.Input(shape=(5, 3)))


# ------------------------------------------------------------------ gradients (float64, finite differences)
@pytest.mark.parametrize("strides, padding, activation", [(1, "valid", "relu"), (2, "same", None), (1, "same", "relu")])
def test_conv2d_gradients_match_finite_differences(numpy_backend, strides, padding, activation):
    rng = np.random.default_rng(6)
    x0, w0, b0 = rng.standard_normal((2, 5, 4, 3)), rng.standard_normal((2, 3, 3, 2)), rng.standard_normal(2)
    weights = rng.standard_normal(numpy_conv2d(x0, w0, None, (strides, strides), padding).shape)

    def loss(x, w, b):
        return ops.reduce_sum(ops.multiply(ops.conv2d(x, w, b, strides=strides, padding=padding,
                                                      activation=activation), weights))

    x, w, b = tg.Variable(x0), tg.Variable(w0), tg.Variable(b0)
    with tg.GradientTape() as tape:
        value = loss(x, w, b)
    dx, dw, db = tape.gradient(value, [x, w, b])
    np.testing.assert_allclose(dx.numpy(), central_differences(lambda v: float(loss(v, w0, b0)), x0), atol=1e-6)
    np.testing.assert_allclose(dw.numpy(), central_differences(lambda v: float(loss(x0, v, b0)), w0), atol=1e-6)
    np.testing.assert_allclose(db.numpy(), central_differences(lambda v: float(loss(x0, w0, v)), b0), atol=1e-6)


def test_second_derivatives_through_conv2d(numpy_backend):
    """H v of a loss through conv2d, its gradients and its gradients' gradients, against
    finite differences of first derivatives (tests/finite_differences.py)."""
    from finite_differences import hessian_vector_products

    rng = np.random.default_rng(7)
    w0 = rng.standard_normal((2, 2, 2, 3))
    image = rng.standard_normal((1, 4, 4, 2))

    def loss(w):
        out = ops.conv2d(image, w, padding="same")
        return ops.reduce_sum(ops.multiply(ops.square(out), 0.5))

    tape_hv, numeric_hv = hessian_vector_products(tg, loss, w0, rng.standard_normal(w0.shape))
    np.testing.assert_allclose(tape_hv, numeric_hv, atol=1e-5)

    def loss_of_image(x):   # the input's Hessian goes through conv2d_input_grad's own gradient
        return ops.reduce_sum(ops.square(ops.conv2d(x, w0, strides=2, padding="same")))

    tape_hv, numeric_hv = hessian_vector_products(tg, loss_of_image, image, rng.standard_normal(image.shape))
    np.testing.assert_allclose(tape_hv, numeric_hv, atol=1e-5)


@pytest.mark.parametrize("pool, strides, padding", [(2, 2, "valid"), (3, 2, "same"), (2, 1, "valid")])
def test_pooling_gradients_match_finite_differences(numpy_backend, pool, strides, padding):
    rng = np.random.default_rng(8)
    x0 = rng.permutation(2 * 5 * 5 * 2).reshape(2, 5, 5, 2) * 0.1   # distinct values: max is differentiable
    for op in (ops.max_pool2d, ops.avg_pool2d):
        weights = rng.standard_normal(op(x0, pool, strides, padding).shape)

        def loss(x, op=op, weights=weights):
            return ops.reduce_sum(ops.multiply(op(x, pool, strides, padding), weights))

        x = tg.Variable(x0)
        with tg.GradientTape() as tape:
            value = loss(x)
        np.testing.assert_allclose(tape.gradient(value, x).numpy(),
                                   central_differences(lambda v: float(loss(v)), x0), atol=1e-6)


@pytest.mark.parametrize("op_name", ["max_pool2d", "avg_pool2d"])
def test_pooling_backward_is_differentiable(numpy_backend, op_name):
    """The gradient of a pooling gradient (a second derivative): both backwards are linear in
    the incoming gradient, so finite differences in it are exact up to rounding."""
    rng = np.random.default_rng(9)
    x0 = rng.permutation(5 * 5 * 2).reshape(1, 5, 5, 2) * 0.1
    pool, strides, padding = (3, 3), (2, 2), "same"
    g0 = rng.standard_normal((1, 3, 3, 2))
    weights = rng.standard_normal(x0.shape)
    backward = (lambda g: ops.max_pool2d_backward(g, x0, pool, strides, padding)) if op_name == "max_pool2d" \
        else (lambda g: ops.avg_pool2d_backward(g, x0.shape, pool, strides, padding))

    def loss(g):
        return ops.reduce_sum(ops.multiply(backward(g), weights))

    g = tg.Variable(g0)
    with tg.GradientTape() as tape:
        value = loss(g)
    np.testing.assert_allclose(tape.gradient(value, g).numpy(), central_differences(lambda v: float(loss(v)), g0),
                               atol=1e-6)


def test_a_small_convnet_learns_bars_on_the_default_backend():
    """Vertical bars (class 0) against horizontal bars (class 1) at random places, float32 on the
    default compiled backend: the convnet learns them (a broken gradient stays near chance)."""
    rng = np.random.default_rng(10)
    n = 64
    x = rng.uniform(0, 0.3, size=(n, 8, 8, 1)).astype(np.float32)
    y = np.arange(n) % 2
    for i, where in enumerate(rng.integers(0, 8, n)):
        if y[i] == 0:
            x[i, :, where, 0] += 1
        else:
            x[i, where, :, 0] += 1
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Conv2D(8, 3, activation="relu", padding="same"),
                              layers.MaxPooling2D(), layers.Conv2D(8, 3, activation="relu"), layers.Flatten(),
                              layers.Dense(2, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=30, batch_size=8, verbose=0)   # Keras 3 on JAX: 0.67 -> 0.05
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert model.evaluate(x, y, verbose=0)[1] >= 0.9


# ------------------------------------------------------------------ the book's model: summary, init, saving
def mnist_convnet():
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(filters=32, kernel_size=3, activation="relu")(inputs)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=64, kernel_size=3, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=128, kernel_size=3, activation="relu")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def test_book_convnet_summary_shapes_and_parameters():
    model = mnist_convnet()
    printed = []
    model.summary(print_fn=printed.append)
    text = "\n".join(printed)
    # Keras's table for this model: names, output shapes, parameters (3*3*1*32+32 = 320, ...)
    for name, shape, params in [("conv2d", "(None, 26, 26, 32)", "320"),
                                ("max_pooling2d", "(None, 13, 13, 32)", "0"),
                                ("conv2d", "(None, 11, 11, 64)", "18,496"),
                                ("max_pooling2d", "(None, 5, 5, 64)", "0"),
                                ("conv2d", "(None, 3, 3, 128)", "73,856"),
                                ("flatten", "(None, 1152)", "0"), ("dense", "(None, 10)", "11,530")]:
        assert any(name in line and shape in line and line.split("│")[3].strip() == params
                   for line in text.splitlines() if "│" in line), (name, shape, params)
    assert "Total params: 104,202 (407.04 KB)" in text
    assert model.count_params() == 104_202 == 3 * 3 * 32 + 32 + 3 * 3 * 32 * 64 + 64 + 3 * 3 * 64 * 128 + 128 + 1152 * 10 + 10
    assert [type(layer).__name__ for layer in model.layers][1:3] == ["Conv2D", "MaxPooling2D"]
    assert model.layers[1].name.startswith("conv2d") and model.layers[2].name.startswith("max_pooling2d")


def test_conv_kernels_start_glorot_uniform_with_keras_fans():
    """Keras: fan_in = kh*kw*in, fan_out = kh*kw*out; limit sqrt(6 / (fan_in + fan_out)); bias zeros."""
    keras.utils.set_random_seed(0)
    layer = layers.Conv2D(64, 3)
    layer.build((None, 11, 11, 32))
    kernel = layer.kernel.numpy()
    limit = math.sqrt(6 / (9 * 32 + 9 * 64))
    assert kernel.shape == (3, 3, 32, 64) and np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.99 * limit                       # uniform up to the limit
    assert kernel.std() == pytest.approx(limit / math.sqrt(3), rel=0.02)
    np.testing.assert_array_equal(layer.bias.numpy(), np.zeros(64))


def test_config_round_trip():
    conv = layers.Conv2D(16, (3, 5), strides=2, padding="same", activation="relu", use_bias=False,
                         kernel_regularizer="l2", name="c1")
    config = conv.get_config()
    assert config["kernel_size"] == [3, 5] and config["strides"] == [2, 2] and config["padding"] == "same"
    assert config["data_format"] == "channels_last" and config["kernel_initializer"] == "glorot_uniform"
    clone = layers.Conv2D.from_config(config)
    assert clone.get_config() == config
    pool = layers.AveragePooling2D(3, strides=1, padding="same")
    assert layers.AveragePooling2D.from_config(pool.get_config()).get_config() == pool.get_config()
    restored = layers.deserialize(layers.serialize(layers.GlobalAveragePooling2D(keepdims=True)))
    assert isinstance(restored, layers.GlobalAveragePooling2D) and restored.keepdims


def test_conv_model_saves_and_loads_bit_for_bit(tmp_path):
    keras.utils.set_random_seed(1)
    model = mnist_convnet()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(11).uniform(size=(16, 28, 28, 1)).astype(np.float32)
    y = np.arange(16) % 10
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "convnet.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    assert loaded.layers[1].kernel_size == (3, 3) and loaded.count_params() == 104_202
    # both go on training identically (the optimizer state came back too)
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_frozen_conv_layer_keeps_its_weights_in_fit():
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input(shape=(6, 6, 1)), layers.Conv2D(4, 3, activation="relu"),
                              layers.Flatten(), layers.Dense(2, activation="softmax")])
    conv = model.layers[0]
    conv.trainable = False
    assert conv.trainable_weights == [] and len(conv.non_trainable_weights) == 2
    assert len(model.trainable_weights) == 2
    before = [w.copy() for w in conv.get_weights()]
    dense_before = model.layers[-1].get_weights()[0].copy()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(12).uniform(size=(8, 6, 6, 1)).astype(np.float32)
    model.fit(x, np.arange(8) % 2, epochs=2, verbose=0)
    for w, w0 in zip(conv.get_weights(), before):
        np.testing.assert_array_equal(w, w0)
    assert not np.array_equal(model.layers[-1].get_weights()[0], dense_before)


# ------------------------------------------------------------------ drawing: the model and the tape
HAS_DOT = __import__("shutil").which("dot") is not None


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's `dot` program is not installed (apt-get install graphviz)")
def test_plot_model_returns_an_ipython_image_as_keras_does(tmp_path):
    display = pytest.importorskip("IPython.display", reason="IPython is not installed (not a dev dependency: "
                                                            "it is large); the ImportError path is tested below")
    picture = keras.utils.plot_model(mnist_convnet(), to_file=str(tmp_path / "convnet.png"), show_shapes=True)
    assert isinstance(picture, display.Image)
    assert picture.data == (tmp_path / "convnet.png").read_bytes() and picture.data[:8] == b"\x89PNG\r\n\x1a\n"
    svg = keras.utils.plot_model(mnist_convnet(), to_file=str(tmp_path / "convnet.svg"))
    assert isinstance(svg, display.SVG) and "<svg" in svg.data


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's `dot` program is not installed (apt-get install graphviz)")
def test_plot_model_without_ipython_returns_the_file_name(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "IPython", None)     # what an environment without IPython looks like
    path = str(tmp_path / "convnet.png")
    assert keras.utils.plot_model(mnist_convnet(), to_file=path) == path
    assert (tmp_path / "convnet.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_model_dot_text_names_the_conv_layers(tmp_path):
    path = keras.utils.plot_model(mnist_convnet(), to_file=str(tmp_path / "m.dot"), show_shapes=True)
    text = open(path).read()
    assert path.endswith("m.dot") and "(Conv2D)" in text and "Output shape: (None, 26, 26, 32)" in text


def test_the_tape_of_a_conv_step_shows_the_conv_ops(numpy_backend):
    """What docs/13-convnets.md draws: one training step's tape holds conv2d (bias and relu
    fused), max_pool2d, reshape, dense and the loss."""
    from tapegrad.utils import tape_to_dot

    x = np.random.default_rng(13).uniform(size=(2, 6, 6, 1))
    kernel = tg.Variable(np.random.default_rng(14).standard_normal((3, 3, 1, 2)))
    bias = tg.Variable(np.zeros(2))
    w = tg.Variable(np.random.default_rng(15).standard_normal((8, 3)))
    with tg.GradientTape() as tape:
        h = ops.max_pool2d(ops.conv2d(x, kernel, bias, activation="relu"), 2)
        logits = ops.dense(ops.reshape(h, (2, 8)), w)
        loss = ops.sparse_softmax_cross_entropy(logits, np.array([0, 2]), reduction="mean")
    text = tape_to_dot(tape, target=loss)
    for op in ("conv2d", "max_pool2d", "reshape", "dense", "sparse_softmax_cross_entropy"):
        assert op in text, op
    grads = tape.gradient(loss, [kernel, bias, w])
    assert [g.shape for g in grads] == [(3, 3, 1, 2), (2,), (8, 3)]


def test_tf_nn_conv_and_pool_functions():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 4)).astype(np.float32)
    out = tg.nn.conv2d(x, w, strides=[1, 2, 2, 1], padding="SAME")
    np.testing.assert_allclose(out.numpy(), numpy_conv2d(x, w, None, (2, 2), "same"), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tg.nn.max_pool2d(x, ksize=2, strides=2, padding="VALID").numpy(),
                               numpy_pool2d(x, (2, 2), (2, 2), "valid", np.max), rtol=1e-6)
    np.testing.assert_allclose(tg.nn.avg_pool2d(x, ksize=[3, 3], strides=1, padding="SAME").numpy(),
                               numpy_pool2d(x, (3, 3), (1, 1), "same", np.mean), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="NHWC"):
        tg.nn.conv2d(x, w, 1, "SAME", data_format="NCHW")
    with pytest.raises(ValueError, match="batch and channel axes"):
        tg.nn.max_pool2d(x, ksize=[2, 2, 2, 1], strides=2, padding="VALID")
