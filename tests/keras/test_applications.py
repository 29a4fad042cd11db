"""keras.applications.vgg16: the architecture, preprocess_input, and Keras's HDF5 weight files.

The references: the book's and Keras's numbers (14,714,688 parameters
without the top, (5, 5, 512) features for 180x180 images, 26 trainable
weight arrays), Keras's documented preprocessing (RGB -> BGR minus the
ImageNet mean pixel), and HDF5 files this test writes in the layout of
Keras's published weight files (``layer_names`` at the root, one group per
layer with its ``weight_names``).  (Checked once against Keras 3.15.1
itself: a VGG16 it built and saved in that layout predicts the same
features here to 5e-7.)
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras
from tapegrad.datasets import DatasetNotFoundError
from tapegrad.keras import layers
from tapegrad.keras.applications import imagenet_utils, vgg16

h5py = pytest.importorskip("h5py", reason="h5py is in the dev extra; Keras's weight files are HDF5")


def write_keras_h5(model, path, chunk_layer_names=False):
    """``model``'s weights in the layout of Keras's published files (Keras 2's save_weights):
    bytes names, every layer listed (those without weights too), weights as 'layer/kernel:0'."""
    with h5py.File(path, "w") as f:
        names = [layer.name.encode("utf8") for layer in model.layers]
        if chunk_layer_names:   # Keras splits a long attribute into layer_names0, layer_names1, ...
            f.attrs["layer_names0"], f.attrs["layer_names1"] = names[:2], names[2:]
        else:
            f.attrs["layer_names"] = names
        f.attrs["keras_version"] = b"2.2.4"
        for layer in model.layers:
            group = f.create_group(layer.name)
            weight_names = [f"{layer.name}/{kind}:0".encode("utf8") for kind in ("kernel", "bias")][:len(layer.weights)]
            group.attrs["weight_names"] = weight_names
            for name, value in zip(weight_names, layer.get_weights()):
                group.create_dataset(name.decode("utf8"), data=value)


def small_model(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(6, 6, 3))
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Flatten(name="flat")(x)
    return keras.Model(inputs, layers.Dense(2, name="out")(x))


# ------------------------------------------------------------------ the architecture
def test_vgg16_base_as_in_the_book():
    conv_base = vgg16.VGG16(weights=None, include_top=False, input_shape=(180, 180, 3))
    assert conv_base.count_params() == 14_714_688
    assert conv_base.output.shape == (None, 5, 5, 512)
    names = [layer.name for layer in conv_base.layers]
    assert names[1:4] == ["block1_conv1", "block1_conv2", "block1_pool"] and names[-1] == "block5_pool"
    assert sum(isinstance(layer, layers.Conv2D) for layer in conv_base.layers) == 13
    assert all(layer.padding == "same" and layer.activation_name == "relu" and layer.kernel_size == (3, 3)
               for layer in conv_base.layers if isinstance(layer, layers.Conv2D))
    conv_base.trainable = True
    assert len(conv_base.trainable_weights) == 26
    conv_base.trainable = False
    assert len(conv_base.trainable_weights) == 0
    conv_base.trainable = True                         # fine-tuning: only the last block trains
    for layer in conv_base.layers[:-4]:
        layer.trainable = False
    assert [w.name.split("/")[0] for w in conv_base.trainable_weights][::2] == \
        ["block5_conv1", "block5_conv2", "block5_conv3"]


def test_vgg16_input_shapes_pooling_and_errors():
    assert vgg16.VGG16(weights=None, include_top=False).input.shape == (None, None, None, 3)
    assert vgg16.VGG16(weights=None, include_top=False, input_shape=(32, 40, 3), pooling="avg").output.shape == \
        (None, 512)
    assert vgg16.VGG16(weights=None, include_top=False, input_shape=(64, 64, 3), pooling="max").output.shape == \
        (None, 512)
    inputs = keras.Input(shape=(48, 48, 3))
    assert vgg16.VGG16(weights=None, include_top=False, input_tensor=inputs).input is inputs
    with pytest.raises(ValueError, match="at least 32x32"):
        vgg16.VGG16(weights=None, include_top=False, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="static `input_shape`"):
        imagenet_utils.obtain_input_shape((None, None, 3), 224, 32, require_flatten=True)
    with pytest.raises(ValueError, match="should be \\(224, 224, 3\\)"):
        vgg16.VGG16(weights="imagenet", include_top=True, input_shape=(180, 180, 3))
    with pytest.raises(ValueError, match="`classes` should be 1000"):
        vgg16.VGG16(weights="imagenet", classes=2)
    with pytest.raises(ValueError, match="weights"):
        vgg16.VGG16(weights="no/such/file.h5")
    assert imagenet_utils.obtain_input_shape(None, 224, 32, require_flatten=True) == (224, 224, 3)


# ------------------------------------------------------------------ preprocess_input
def test_preprocess_input_caffe_mode():
    rgb = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype(np.float32)
    expected = rgb[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
    out = vgg16.preprocess_input(rgb.copy())
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    ints = rgb.astype(np.uint8)
    out = vgg16.preprocess_input(ints)
    assert out.dtype == np.float32 and ints.dtype == np.uint8
    np.testing.assert_allclose(out, ints[..., ::-1] - np.array([103.939, 116.779, 123.68]), rtol=1e-6, atol=1e-5)
    tensor_out = vgg16.preprocess_input(tg.constant(rgb))
    np.testing.assert_allclose(tensor_out.numpy(), expected, rtol=1e-6)


def test_preprocess_input_writes_over_a_float_array_as_keras_documents():
    rgb = np.full((1, 1, 1, 3), [10.0, 20.0, 30.0], np.float32)
    bgr = vgg16.preprocess_input(rgb)
    np.testing.assert_allclose(bgr.ravel(), [30 - 103.939, 20 - 116.779, 10 - 123.68], rtol=1e-6)
    np.testing.assert_allclose(rgb.ravel(), [10 - 123.68, 20 - 116.779, 30 - 103.939], rtol=1e-6)


def test_preprocess_input_in_a_model_graph_saves_and_loads(tmp_path):
    """The book's fine-tuning model calls preprocess_input on a symbolic tensor."""
    inputs = keras.Input(shape=(4, 4, 3))
    x = vgg16.preprocess_input(inputs)
    outputs = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, outputs)
    rgb = np.random.default_rng(1).uniform(0, 255, (3, 4, 4, 3)).astype(np.float32)
    expected = (rgb[..., ::-1] - np.array([103.939, 116.779, 123.68])).mean(axis=(1, 2))
    np.testing.assert_allclose(model.predict(rgb, verbose=0), expected, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / "m.keras").predict(rgb, verbose=0),
                                  model.predict(rgb, verbose=0))


# ------------------------------------------------------------------ Keras's weight files
@pytest.mark.parametrize("chunked", [False, True])
def test_h5_weights_load_in_layer_order(tmp_path, chunked):
    source, target = small_model(0), small_model(1)
    write_keras_h5(source, tmp_path / "w.h5", chunk_layer_names=chunked)
    imagenet_utils.load_legacy_h5_weights(target, tmp_path / "w.h5")
    for a, b in zip(source.get_weights(), target.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(2).uniform(size=(2, 6, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(source.predict(x, verbose=0), target.predict(x, verbose=0))


def test_h5_mismatches_are_named(tmp_path):
    write_keras_h5(small_model(0), tmp_path / "w.h5")
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(6, 6, 3))
    wider = keras.Model(inputs, layers.Dense(2)(layers.Flatten()(layers.Conv2D(5, 3, name="conv")(inputs))))
    with pytest.raises(ValueError, match="Shape mismatch.*conv"):
        imagenet_utils.load_legacy_h5_weights(wider, tmp_path / "w.h5")
    single = keras.Model(inputs, layers.Conv2D(4, 3)(inputs))
    with pytest.raises(ValueError, match="Layer count mismatch.*expected 1 layers, found 2"):
        imagenet_utils.load_legacy_h5_weights(single, tmp_path / "w.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="junk.h5"):
        imagenet_utils.load_legacy_h5_weights(single, tmp_path / "junk.h5")


def test_vgg16_weights_from_a_path_predict_bit_for_bit(tmp_path):
    keras.utils.set_random_seed(3)
    original = vgg16.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    write_keras_h5(original, tmp_path / "vgg16_notop.h5")
    loaded = vgg16.VGG16(weights=str(tmp_path / "vgg16_notop.h5"), include_top=False, input_shape=(32, 32, 3),
                         pooling="avg")
    x = vgg16.preprocess_input(np.random.default_rng(4).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), original.predict(x, verbose=0))


def test_imagenet_weights_offline_say_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("TAPEGRAD_KERAS_WEIGHTS_URL", (tmp_path / "no_mirror").as_uri())   # fails at once
    with pytest.raises(DatasetNotFoundError) as info:
        vgg16.VGG16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    message = str(info.value)
    folder = tmp_path / "keras_home" / "models"
    assert str(folder) in message and "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert (tmp_path / "no_mirror").as_uri() in message
    assert not any(folder.glob("*.h5"))                 # nothing half-written left behind


def test_imagenet_weights_are_checked_against_kerass_md5(tmp_path, monkeypatch):
    """A damaged file in the cache folder is not used; one from a mirror with the wrong
    content is refused, naming both hashes."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    folder = tmp_path / "keras_home" / "models"
    folder.mkdir(parents=True)
    name = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    write_keras_h5(small_model(0), folder / name)
    monkeypatch.setenv("TAPEGRAD_KERAS_WEIGHTS_URL", (tmp_path / "no_mirror").as_uri())
    with pytest.raises(DatasetNotFoundError, match="wrong MD5: expected 6d6bbae143d832006294945121d1f1fc"):
        vgg16.VGG16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / name).write_bytes(b"something else entirely")
    monkeypatch.setenv("TAPEGRAD_KERAS_WEIGHTS_URL", mirror.as_uri())
    with pytest.raises(ValueError, match="MD5 mismatch.*expected 6d6bbae143d832006294945121d1f1fc"):
        vgg16.VGG16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))


# ------------------------------------------------------------------ the book's uses
def test_feature_extraction_with_a_frozen_base_keeps_it_unchanged():
    """Chapter 8's second feature-extraction model: augmentation, preprocess_input and a frozen
    VGG16 base inside one model; fit trains the head only."""
    keras.utils.set_random_seed(5)
    conv_base = vgg16.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    conv_base.trainable = False
    before = [w.copy() for w in conv_base.get_weights()]
    inputs = keras.Input(shape=(32, 32, 3))
    x = layers.RandomFlip("horizontal")(inputs)
    x = vgg16.preprocess_input(x)
    x = conv_base(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    assert len(model.trainable_weights) == 2
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    x_train = np.random.default_rng(6).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    head_before = model.layers[-1].get_weights()[0].copy()
    model.fit(x_train, np.array([0, 1, 0, 1]), epochs=1, batch_size=2, verbose=0)
    for w, w0 in zip(conv_base.get_weights(), before):
        np.testing.assert_array_equal(w, w0)
    assert not np.array_equal(model.layers[-1].get_weights()[0], head_before)
