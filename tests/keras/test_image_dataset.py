"""keras.utils.image_dataset_from_directory on small image folders the tests write with Pillow.

The references: the images the test itself wrote (PNG is lossless, so the
pixels come back exactly), Keras's documented rules (classes = sorted folder
names, only .bmp/.gif/.jpeg/.jpg/.png files, the first 1 - split of the
seeded shuffle for training), and TF's bilinear resize, checked by its
exact properties (halving averages each 2x2 block; a constant stays
constant) and by a per-pixel loop of its documented formula.
"""

from __future__ import annotations

import numpy as np
import pytest

PIL = pytest.importorskip("PIL", reason="Pillow is in the dev extra; image decoding needs it")
from PIL import Image  # noqa: E402

from tapegrad import keras  # noqa: E402
from tapegrad.keras import layers  # noqa: E402
from tapegrad.keras.image_dataset import resize  # noqa: E402


def write_folder(root, counts, size=(6, 5), seed=0, fmt="png"):
    """``root/<class>/<i>.png`` with ``counts[class]`` random RGB images; returns {path: pixels}."""
    rng = np.random.default_rng(seed)
    written = {}
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (size[0], size[1], 3), dtype=np.uint8)
            path = root / name / f"{i:03d}.{fmt}"
            Image.fromarray(pixels).save(path)
            written[str(path)] = pixels
    return written


def all_batches(dataset):
    xs, ys = [], []
    for x, y in dataset:
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


def test_labels_come_from_sorted_folder_names_and_pixels_are_exact(tmp_path, capsys):
    written = write_folder(tmp_path, {"dog": 3, "cat": 4, "bird": 2})
    (tmp_path / "cat" / "notes.txt").write_text("not an image: skipped, as in Keras")
    (tmp_path / ".hidden").mkdir()
    dataset = keras.utils.image_dataset_from_directory(tmp_path, image_size=(6, 5), batch_size=4, shuffle=False)
    assert "Found 9 files belonging to 3 classes." in capsys.readouterr().out
    assert dataset.class_names == ["bird", "cat", "dog"]
    x, y = all_batches(dataset)
    assert x.shape == (9, 6, 5, 3) and x.dtype == np.float32 and y.dtype == np.int32
    assert y.tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2]             # unshuffled: sorted paths
    for image, path in zip(x, dataset.file_paths):
        np.testing.assert_array_equal(image, written[path])
    assert [len(b[0]) for b in dataset.as_numpy_iterator()] == [4, 4, 1] and len(dataset) == 3


def test_shuffle_is_seeded_and_labels_follow_their_images(tmp_path):
    written = write_folder(tmp_path, {"a": 6, "b": 6})
    make = lambda seed: keras.utils.image_dataset_from_directory(  # noqa: E731
        tmp_path, image_size=(6, 5), batch_size=5, seed=seed, verbose=False)
    x1, y1 = all_batches(make(3))
    x2, y2 = all_batches(make(3))
    np.testing.assert_array_equal(x1, x2)
    assert y1.tolist() != sorted(y1.tolist())                     # shuffled (seeded, so always the same order)
    assert not np.array_equal(all_batches(make(4))[1], y1) or not np.array_equal(all_batches(make(4))[0], x1)
    by_pixels = {v.tobytes(): (0 if "/a/" in k else 1) for k, v in written.items()}
    assert [by_pixels[x.astype(np.uint8).tobytes()] for x in x1] == y1.tolist()
    assert sorted(by_pixels[x.astype(np.uint8).tobytes()] for x in x1) == [0] * 6 + [1] * 6


def test_validation_split_is_disjoint_and_covers_everything(tmp_path, capsys):
    write_folder(tmp_path, {"a": 7, "b": 8})
    train, val = keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(6, 5), batch_size=4, validation_split=0.2, subset="both", seed=1)
    out = capsys.readouterr().out
    assert "Using 12 files for training." in out and "Using 3 files for validation." in out
    assert len(train.file_paths) == 12 and len(val.file_paths) == 3
    assert set(train.file_paths).isdisjoint(val.file_paths)
    assert len(set(train.file_paths) | set(val.file_paths)) == 15
    alone = keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(6, 5), validation_split=0.2, subset="validation", seed=1, verbose=False)
    assert sorted(alone.file_paths) == sorted(val.file_paths)
    assert all_batches(train)[0].shape == (12, 6, 5, 3) and val.class_names == ["a", "b"]


def test_split_arguments_are_checked_as_keras(tmp_path):
    write_folder(tmp_path, {"a": 2})
    with pytest.raises(ValueError, match="must provide a `seed`"):
        keras.utils.image_dataset_from_directory(tmp_path, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match="`validation_split` must be set"):
        keras.utils.image_dataset_from_directory(tmp_path, subset="training", seed=1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        keras.utils.image_dataset_from_directory(tmp_path, validation_split=1.5, subset="training", seed=1)
    with pytest.raises(ValueError, match="subset"):
        keras.utils.image_dataset_from_directory(tmp_path, validation_split=0.5, subset="testing", seed=1)


@pytest.mark.parametrize("label_mode", ["int", "categorical", "binary", None])
def test_label_modes(tmp_path, label_mode):
    write_folder(tmp_path, {"cats": 2, "dogs": 3})
    dataset = keras.utils.image_dataset_from_directory(tmp_path, label_mode=label_mode, image_size=(4, 4),
                                                       batch_size=5, shuffle=False, verbose=False)
    element = next(iter(dataset))
    if label_mode is None:
        assert element.shape == (5, 4, 4, 3)
        return
    labels = element[1].numpy()
    if label_mode == "int":
        assert labels.dtype == np.int32 and labels.tolist() == [0, 0, 1, 1, 1]
    elif label_mode == "categorical":
        np.testing.assert_array_equal(labels, np.eye(2, dtype=np.float32)[[0, 0, 1, 1, 1]])
    else:
        assert labels.dtype == np.float32 and labels.shape == (5, 1) and labels.ravel().tolist() == [0, 0, 1, 1, 1]


def test_binary_needs_two_classes_and_class_names_choose_and_order(tmp_path):
    write_folder(tmp_path, {"a": 1, "b": 1, "c": 2})
    with pytest.raises(ValueError, match="exactly 2 class_names"):
        keras.utils.image_dataset_from_directory(tmp_path, label_mode="binary", verbose=False)
    dataset = keras.utils.image_dataset_from_directory(tmp_path, class_names=["c", "a"], image_size=(3, 3),
                                                       shuffle=False, verbose=False)
    assert dataset.class_names == ["c", "a"]
    assert all_batches(dataset)[1].tolist() == [0, 0, 1]     # c's two images first, b left out
    with pytest.raises(ValueError, match="did not match the names of the subdirectories"):
        keras.utils.image_dataset_from_directory(tmp_path, class_names=["a", "zebra"])


def test_unbatched_explicit_labels_and_no_labels(tmp_path):
    write_folder(tmp_path, {"x": 2, "y": 1})
    dataset = keras.utils.image_dataset_from_directory(tmp_path, batch_size=None, image_size=(3, 4),
                                                       shuffle=False, verbose=False)
    image, label = next(iter(dataset))
    assert image.shape == (3, 4, 3) and int(label) == 0
    explicit = keras.utils.image_dataset_from_directory(tmp_path, labels=[5, 7, 5], image_size=(3, 4),
                                                        shuffle=False, verbose=False)
    assert explicit.class_names == ["5", "7"] and all_batches(explicit)[1].tolist() == [5, 7, 5]
    images_only = keras.utils.image_dataset_from_directory(tmp_path, labels=None, image_size=(3, 4),
                                                           shuffle=False, verbose=False)
    assert next(iter(images_only)).shape == (3, 3, 4, 3) and images_only.class_names is None
    with pytest.raises(ValueError, match="match the number of files"):
        keras.utils.image_dataset_from_directory(tmp_path, labels=[0, 1])


def test_color_modes(tmp_path):
    (tmp_path / "k").mkdir()
    rgba = np.random.default_rng(1).integers(0, 256, (4, 4, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "k" / "a.png")
    get = lambda mode: next(iter(keras.utils.image_dataset_from_directory(  # noqa: E731
        tmp_path, color_mode=mode, image_size=(4, 4), verbose=False)))[0].numpy()[0]
    np.testing.assert_array_equal(get("rgba"), rgba)
    np.testing.assert_array_equal(get("rgb"), rgba[..., :3])
    gray = np.asarray(Image.fromarray(rgba, "RGBA").convert("L"), np.float32)[..., None]   # ITU-R 601-2 luma
    np.testing.assert_array_equal(get("grayscale"), gray)
    with pytest.raises(ValueError, match="color_mode"):
        keras.utils.image_dataset_from_directory(tmp_path, color_mode="cmyk")


def test_other_formats_decode(tmp_path):
    """JPEG (lossy: shape and closeness only), BMP and GIF (first frame, palette) are read."""
    pixels = np.full((8, 8, 3), 100, np.uint8)
    (tmp_path / "c").mkdir()
    Image.fromarray(pixels).save(tmp_path / "c" / "a.jpg")
    Image.fromarray(pixels).save(tmp_path / "c" / "b.bmp")
    Image.fromarray(pixels).save(tmp_path / "c" / "c.GIF")   # upper-case extension: listed too
    x, _ = all_batches(keras.utils.image_dataset_from_directory(tmp_path, image_size=(8, 8), shuffle=False,
                                                                verbose=False))
    assert x.shape == (3, 8, 8, 3)
    np.testing.assert_allclose(x, 100, atol=3)


def test_a_corrupt_image_is_named(tmp_path):
    write_folder(tmp_path, {"a": 2})
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    dataset = keras.utils.image_dataset_from_directory(tmp_path, image_size=(6, 5), shuffle=False, verbose=False)
    with pytest.raises(ValueError, match=r"cannot decode .*broken\.png"):
        all_batches(dataset)


def test_errors_for_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="is not a directory"):
        keras.utils.image_dataset_from_directory(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No images found"):
        keras.utils.image_dataset_from_directory(tmp_path, verbose=False)
    write_folder(tmp_path / "ok", {"a": 1})
    with pytest.raises(ValueError, match="image_size"):
        keras.utils.image_dataset_from_directory(tmp_path / "ok", image_size=(3, 3, 3))
    with pytest.raises(ValueError, match="label_mode"):
        keras.utils.image_dataset_from_directory(tmp_path / "ok", label_mode="sparse")
    with pytest.raises(ValueError, match="channels_first"):
        keras.utils.image_dataset_from_directory(tmp_path / "ok", data_format="channels_first")


# ------------------------------------------------------------------ resizing, as tf.image.resize
def tf_bilinear_loop(image, size):
    """tf.image.resize(method="bilinear", antialias=False), pixel by pixel from its documented rule:
    source = (i + 0.5) * in / out - 0.5, neighbours floor/ceil clamped to the image."""
    h, w, c = image.shape
    out = np.zeros((size[0], size[1], c))
    for i in range(size[0]):
        y = (i + 0.5) * h / size[0] - 0.5
        y0, y1, fy = max(int(np.floor(y)), 0), min(int(np.ceil(y)), h - 1), y - np.floor(y)
        for j in range(size[1]):
            x = (j + 0.5) * w / size[1] - 0.5
            x0, x1, fx = max(int(np.floor(x)), 0), min(int(np.ceil(x)), w - 1), x - np.floor(x)
            top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
            bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
            out[i, j] = top * (1 - fy) + bottom * fy
    return out


@pytest.mark.parametrize("size", [(3, 4), (7, 9), (1, 1), (11, 5)])
def test_bilinear_resize_follows_tf(size):
    image = np.random.default_rng(2).uniform(0, 255, (5, 7, 2))
    np.testing.assert_allclose(resize(image, size), tf_bilinear_loop(image, size), rtol=1e-5, atol=1e-3)


def test_bilinear_resize_exact_properties():
    image = np.random.default_rng(3).uniform(0, 255, (6, 8, 3)).astype(np.float32)
    halved = image.reshape(3, 2, 4, 2, 3).mean(axis=(1, 3))   # halving = mean of each 2x2 block
    np.testing.assert_allclose(resize(image, (3, 4)), halved, rtol=1e-5)
    np.testing.assert_array_equal(resize(np.full((4, 5, 1), 7.0), (9, 3)), np.full((9, 3, 1), 7.0))
    np.testing.assert_array_equal(resize(image, (6, 8)), image)


def test_crop_and_pad_to_aspect_ratio(tmp_path):
    (tmp_path / "c").mkdir()
    pixels = np.zeros((4, 8, 3), np.uint8)
    pixels[:, 2:6] = 200                      # a bright center square in a wide image
    Image.fromarray(pixels).save(tmp_path / "c" / "wide.png")
    load = lambda **kw: next(iter(keras.utils.image_dataset_from_directory(  # noqa: E731
        tmp_path, image_size=(4, 4), verbose=False, **kw)))[0].numpy()[0]
    np.testing.assert_array_equal(load(crop_to_aspect_ratio=True), pixels[:, 2:6])   # the centered 4x4 window
    padded = load(pad_to_aspect_ratio=True)  # 4x8 -> 2x4 (halved), centered in 4x4 with zero rows
    np.testing.assert_array_equal(padded[[0, 3]], 0)
    np.testing.assert_allclose(padded[1:3], resize(pixels, (2, 4)))


def test_the_book_pipeline_trains_a_small_convnet(tmp_path):
    """Chapter 8's use: datasets straight into fit, with validation_data, on a Rescaling convnet."""
    rng = np.random.default_rng(4)
    for name, value in (("cats", 40), ("dogs", 210)):    # dark against bright images
        (tmp_path / name).mkdir()
        for i in range(12):
            pixels = np.clip(rng.normal(value, 20, (10, 10, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    train, val = keras.utils.image_dataset_from_directory(tmp_path, image_size=(8, 8), batch_size=6,
                                                          validation_split=0.25, subset="both", seed=2,
                                                          verbose=False)
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(8, 8, 3))
    x = layers.Rescaling(1. / 255)(inputs)
    x = layers.Conv2D(4, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.RMSprop(learning_rate=0.05),
                  metrics=["accuracy"])
    for _ in range(3):   # labels int32 (0/1), as Keras gives them for a binary_crossentropy model
        history = model.fit(train, epochs=10, validation_data=val, verbose=0)
        if history.history["val_accuracy"][-1] == 1.0:
            break
    assert history.history["val_accuracy"][-1] == 1.0 and history.history["accuracy"][-1] >= 0.9
