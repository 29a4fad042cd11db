"""Rescaling and chapter 8's data augmentation: RandomFlip, RandomRotation, RandomZoom.

The references are independent: exact mirror images and ``np.rot90`` for a
quarter turn, and a per-pixel loop that does what Keras's NumPy backend does
(pad the image with ``np.pad`` in the fill mode, then interpolate between
the 4 neighbours of each point), written without the layer's vectorized
index arithmetic.  (Checked once against Keras 3.15.1 itself, numpy backend:
the layers agree with it to float32 rounding, 5e-5 on values 0..255.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras
from tapegrad.keras import layers
from tapegrad.keras.layers_preprocessing import fill_index

from finite_differences import central_differences


def images(shape=(4, 6, 7, 3), seed=0):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)


# ------------------------------------------------------------------ Rescaling
def test_rescaling_scales_and_offsets_uint8_and_floats():
    raw = np.arange(0, 256, 15, dtype=np.uint8).reshape(1, 3, 6, 1)
    out = layers.Rescaling(1.0 / 255)(raw)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), raw / 255.0, rtol=1e-6)
    np.testing.assert_allclose(layers.Rescaling(1 / 127.5, offset=-1)(raw).numpy(), raw / 127.5 - 1, atol=1e-6)
    per_channel = layers.Rescaling([1.0, 2.0, 3.0], offset=[0.0, 1.0, 2.0])
    x = images((2, 2, 2, 3))
    np.testing.assert_allclose(per_channel(x).numpy(), x * [1, 2, 3] + [0, 1, 2], rtol=1e-6)
    config = per_channel.get_config()
    assert config["scale"] == [1.0, 2.0, 3.0] and layers.Rescaling.from_config(config).get_config() == config


def test_rescaling_applies_in_inference_too():
    model = keras.Sequential([keras.Input(shape=(2, 2, 1)), layers.Rescaling(0.5)])
    np.testing.assert_allclose(model.predict(np.full((3, 2, 2, 1), 4.0, np.float32), verbose=0), 2.0)


# ------------------------------------------------------------------ RandomFlip
def test_random_flip_mirrors_about_half_the_images_only_in_training():
    x = images((200, 3, 4, 2))
    flip = layers.RandomFlip("horizontal", seed=1)
    np.testing.assert_array_equal(flip(x, training=False).numpy(), x)
    out = flip(x, training=True).numpy()
    mirrored = np.array([np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x)])
    same = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert np.all(mirrored ^ same)          # every image is exactly itself or its mirror image
    assert 70 < mirrored.sum() < 130        # each with probability 1/2


@pytest.mark.parametrize("mode, expected", [("vertical", lambda i: i[::-1]),
                                            ("horizontal_and_vertical", lambda i: i[::-1, ::-1])])
def test_random_flip_modes(mode, expected):
    x = images((50, 3, 4, 1))
    out = layers.RandomFlip(mode, seed=3)(x, training=True).numpy()
    flipped = [np.array_equal(o, expected(i)) for o, i in zip(out, x)]
    kept = [np.array_equal(o, i) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and 10 < sum(flipped) < 40
    with pytest.raises(ValueError, match="mode"):
        layers.RandomFlip("diagonal")


def test_seeded_augmentation_is_reproducible_yet_new_each_call():
    x = images((16, 5, 5, 3))
    a, b = layers.RandomFlip(seed=7), layers.RandomFlip(seed=7)
    first = a(x, training=True).numpy()
    np.testing.assert_array_equal(first, b(x, training=True).numpy())
    assert not np.array_equal(first, a(x, training=True).numpy())   # the next call draws again
    keras.utils.set_random_seed(3)
    c = layers.RandomRotation(0.2)(x, training=True).numpy()
    keras.utils.set_random_seed(3)
    np.testing.assert_array_equal(c, layers.RandomRotation(0.2)(x, training=True).numpy())


def test_called_on_its_own_an_augmentation_layer_augments():
    """Keras's default when no caller gives ``training`` (the book draws augmented images so)."""
    x = images((8, 4, 4, 1))
    assert not np.array_equal(layers.RandomFlip(seed=0)(x).numpy(), x)
    augmentation = keras.Sequential([layers.RandomFlip("horizontal", seed=0), layers.RandomRotation(0.1, seed=0)])
    assert not np.array_equal(augmentation(x).numpy(), x)
    np.testing.assert_array_equal(augmentation(x, training=False).numpy(), x)


def test_augmentation_inside_a_model_runs_in_fit_and_not_in_predict():
    """The book's model: a Sequential of augmentation layers called on keras.Input inside a
    functional model.  Called with training=True (what fit does) it augments; predict does not."""
    augmentation = keras.Sequential([layers.RandomFlip("horizontal", seed=0)])
    inputs = keras.Input(shape=(4, 4, 1))
    outputs = layers.Flatten()(augmentation(inputs))
    model = keras.Model(inputs, outputs)
    x = images((32, 4, 4, 1))
    np.testing.assert_array_equal(model.predict(x, verbose=0), x.reshape(32, 16))
    trained = model(x, training=True).numpy()
    assert not np.array_equal(trained, x.reshape(32, 16))
    assert any(np.array_equal(t, i[:, ::-1].reshape(16)) for t, i in zip(trained, x))


# ------------------------------------------------------------------ affine resampling
@pytest.mark.parametrize("mode, expected", [
    ("reflect", [1, 0, 0, 1, 2, 3, 3, 2, 1, 0]),     # (d c b a | a b c d | d c b a)
    ("wrap", [2, 3, 0, 1, 2, 3, 0, 1, 2, 3]),        # (a b c d | a b c d | a b c d)
    ("nearest", [0, 0, 0, 1, 2, 3, 3, 3, 3, 3]),     # (a a a a | a b c d | d d d d)
])
def test_fill_modes_follow_kerass_pictures(mode, expected):
    index, inside = fill_index(np.arange(-2, 8), 4, mode)
    assert index.tolist() == expected and inside.all()
    index, inside = fill_index(np.arange(-2, 8), 4, "constant")
    assert inside.tolist() == [False, False, True, True, True, True, False, False, False, False]


def reference_affine(image, transform, fill_mode, fill_value, interpolation):
    """One image through one affine map, pixel by pixel, the way Keras's NumPy backend does it:
    pad the image generously in the fill mode (np.pad), then interpolate in the padded image."""
    h, w, _ = image.shape
    pad = 2 * max(h, w)
    mode = {"reflect": "symmetric", "wrap": "wrap", "nearest": "edge", "constant": "constant"}[fill_mode]
    kwargs = {"constant_values": fill_value} if fill_mode == "constant" else {}
    padded = np.pad(image.astype(np.float64), ((pad, pad), (pad, pad), (0, 0)), mode=mode, **kwargs)
    a0, a1, a2, b0, b1, b2 = transform
    out = np.zeros(image.shape)
    for y in range(h):
        for x in range(w):
            xi, yi = a0 * x + a1 * y + a2 + pad, b0 * x + b1 * y + b2 + pad
            if interpolation == "nearest":
                out[y, x] = padded[int(math.floor(yi + 0.5)), int(math.floor(xi + 0.5))]
                continue
            r, c = int(math.floor(yi)), int(math.floor(xi))
            fy, fx = yi - r, xi - c
            out[y, x] = ((1 - fy) * (1 - fx) * padded[r, c] + (1 - fy) * fx * padded[r, c + 1]
                         + fy * (1 - fx) * padded[r + 1, c] + fy * fx * padded[r + 1, c + 1])
    return out


def rotation_transform(degrees, h, w):
    t = math.radians(degrees)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    cos, sin = math.cos(t), math.sin(t)
    return cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos


@pytest.mark.parametrize("fill_mode, interpolation", [("reflect", "bilinear"), ("wrap", "nearest"),
                                                      ("constant", "bilinear"), ("nearest", "bilinear")])
def test_random_rotation_matches_the_pixel_loop(fill_mode, interpolation):
    x = images((2, 7, 9, 3))
    layer = layers.RandomRotation((0.1, 0.1), fill_mode=fill_mode, interpolation=interpolation, fill_value=5.0)
    out = layer(x, training=True).numpy()
    for o, i in zip(out, x):   # factor (0.1, 0.1): exactly 36 degrees counter-clockwise
        np.testing.assert_allclose(o, reference_affine(i, rotation_transform(36.0, 7, 9), fill_mode, 5.0,
                                                       interpolation), atol=2e-3)


def test_a_quarter_turn_is_rot90():
    x = images((3, 5, 5, 2))
    out = layers.RandomRotation((0.25, 0.25))(x, training=True).numpy()
    np.testing.assert_allclose(out, np.rot90(x, k=1, axes=(1, 2)), atol=1e-3)   # counter-clockwise


def test_rotation_angles_are_drawn_in_the_factor_range():
    layer = layers.RandomRotation(0.1, seed=0)
    assert layer.factor == (-0.1, 0.1) and layers.RandomRotation((0.3, -0.2)).factor == (-0.2, 0.3)
    with pytest.raises(ValueError, match="factor"):
        layers.RandomRotation(1.5)
    with pytest.raises(NotImplementedError, match="fill_mode"):
        layers.RandomRotation(0.1, fill_mode="mirror_twice")


@pytest.mark.parametrize("height, width, fill_mode", [((0.3, 0.3), (-0.2, -0.2), "reflect"),
                                                      ((-0.5, -0.5), None, "constant"),
                                                      ((0.4, 0.4), None, "wrap")])
def test_random_zoom_matches_the_pixel_loop(height, width, fill_mode):
    x = images((2, 6, 8, 1))
    out = layers.RandomZoom(height, width, fill_mode=fill_mode)(x, training=True).numpy()
    zh = 1 + height[0]
    zw = zh if width is None else 1 + width[0]
    transform = (zw, 0, 3.5 * (1 - zw), 0, zh, 2.5 * (1 - zh))   # about the center ((w-1)/2, (h-1)/2)
    for o, i in zip(out, x):
        np.testing.assert_allclose(o, reference_affine(i, transform, fill_mode, 0.0, "bilinear"), atol=2e-3)


def test_random_zoom_factor_rules():
    layer = layers.RandomZoom(0.2)
    assert (layer.height_lower, layer.height_upper) == (-0.2, 0.2) and layer.width_factor is None
    with pytest.raises(ValueError, match="height_factor"):
        layers.RandomZoom(-1.0)      # (-1, 1]: zooming in by 100% is nothing left
    with pytest.raises(ValueError, match="width_factor"):
        layers.RandomZoom(0.2, width_factor=(0.1, 2.0))
    config = layers.RandomZoom(0.2, (0.1, 0.3), seed=4).get_config()
    assert config["width_factor"] == [0.1, 0.3] and config["fill_mode"] == "reflect" and config["seed"] == 4


def test_gradients_flow_through_rotation():
    """The resampling is linear in the image: its gradient matches finite differences."""
    x0 = np.random.default_rng(1).standard_normal((1, 4, 5, 2))
    weights = np.random.default_rng(2).standard_normal(x0.shape)
    layer = layers.RandomRotation((0.07, 0.07), dtype="float64")

    def loss(x):
        return tg.reduce_sum(layer(x, training=True) * weights)

    x = tg.Variable(x0)
    with tg.GradientTape() as tape:
        value = loss(x)
    np.testing.assert_allclose(tape.gradient(value, x).numpy(), central_differences(lambda v: float(loss(v)), x0),
                               atol=1e-6)


def test_single_images_and_bad_ranks():
    x = images((5, 5, 3))
    out = layers.RandomRotation((0.25, 0.25))(x, training=True).numpy()
    np.testing.assert_allclose(out, np.rot90(x), atol=1e-3)
    with pytest.raises(ValueError, match=r"rank 3 \(single image\) or 4"):
        layers.RandomFlip()(np.zeros((2, 3), np.float32), training=True)


def test_book_augmentation_model_saves_and_loads(tmp_path):
    """Chapter 8's dogs-vs-cats convnet (smaller images): augmentation, Rescaling, Dropout."""
    keras.utils.set_random_seed(0)
    data_augmentation = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
                                          layers.RandomZoom(0.2)])
    inputs = keras.Input(shape=(20, 20, 3))
    x = data_augmentation(inputs)
    x = layers.Rescaling(1. / 255)(x)
    x = layers.Conv2D(filters=8, kernel_size=3, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    x_train = images((16, 20, 20, 3))
    model.fit(x_train, np.arange(16) % 2, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "convnet_from_scratch.keras")
    loaded = keras.models.load_model(tmp_path / "convnet_from_scratch.keras")
    np.testing.assert_array_equal(loaded.predict(x_train, verbose=0), model.predict(x_train, verbose=0))
    nested = loaded.layers[1]
    assert [type(layer).__name__ for layer in nested.layers] == ["RandomFlip", "RandomRotation", "RandomZoom"]
    assert nested.layers[1].factor == (-0.1, 0.1) and nested.layers[0].mode == "horizontal"
