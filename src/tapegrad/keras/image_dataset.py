"""``keras.utils.image_dataset_from_directory``: a labelled image data set from a folder tree.

A folder such as ``train/cat/*.jpg`` and ``train/dog/*.jpg`` becomes a
``Dataset`` of ``(images, labels)`` batches: the class names are the
sub-folder names in sorted order (cat = 0, dog = 1), each image is decoded
(with Pillow), converted to the color mode and resized to ``image_size``
(bilinear, as ``tf.image.resize``).  As in Keras, only files ending in
.bmp, .gif, .jpeg, .jpg or .png are listed (others are skipped), the file
list is shuffled once with ``seed`` before a ``validation_split`` cuts it,
and images are read lazily, batch by batch, as you iterate: a folder of
thousands of pictures never sits in memory at once.  A listed file that is
not a readable image stops the iteration with an error naming it.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..data import Dataset
from .layers_conv import standardize_data_format

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
INTERPOLATIONS = ("bilinear", "nearest")
COLOR_MODES = {"grayscale": ("L", 1), "rgb": ("RGB", 3), "rgba": ("RGBA", 4)}


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("image_dataset_from_directory decodes images with Pillow, which is not installed: "
                          "pip install 'tapegrad[images]' (or pip install Pillow)") from None
    return Image


# ------------------------------------------------------------------ resizing, as tf.image.resize
def _source_positions(out_size, in_size):
    """TF's half-pixel rule: output pixel i samples the input at (i + 0.5) * in/out - 0.5."""
    return (np.arange(out_size, dtype=np.float64) + 0.5) * (in_size / out_size) - 0.5


def resize(image, size, interpolation="bilinear"):
    """An (H, W, C) array resized to ``size`` = (height, width), as float32.

    ``bilinear`` is ``tf.image.resize``'s (no antialiasing): each output
    pixel blends the 2x2 input pixels around its source position, clamped at
    the borders; ``nearest`` takes the pixel that position falls in.
    """
    image = np.asarray(image, np.float32)
    h, w = image.shape[:2]
    oh, ow = size
    if interpolation == "nearest":   # TF: floor((i + 0.5) * scale), clamped
        rows = np.minimum(np.floor((np.arange(oh) + 0.5) * (h / oh)).astype(np.int64), h - 1)
        cols = np.minimum(np.floor((np.arange(ow) + 0.5) * (w / ow)).astype(np.int64), w - 1)
        return image[rows][:, cols]

    def axis(out_size, in_size):
        position = _source_positions(out_size, in_size)
        floor = np.floor(position)
        lower = np.maximum(floor, 0).astype(np.int64)
        upper = np.minimum(np.ceil(position), in_size - 1).astype(np.int64)
        return lower, upper, (position - floor).astype(np.float32)

    top, bottom, fy = axis(oh, h)
    left, right, fx = axis(ow, w)
    fx = fx[None, :, None]
    upper_row = image[top][:, left] + (image[top][:, right] - image[top][:, left]) * fx
    lower_row = image[bottom][:, left] + (image[bottom][:, right] - image[bottom][:, left]) * fx
    return upper_row + (lower_row - upper_row) * fy[:, None, None]


def _crop_to_aspect_ratio(image, size):
    """Keras's ``smart_resize`` crop: the largest centered window of the target's aspect ratio."""
    h, w = image.shape[:2]
    crop_h = min(h, int(float(w * size[0]) / size[1]))
    crop_w = min(w, int(float(h * size[1]) / size[0]))
    top, left = int(float(h - crop_h) / 2), int(float(w - crop_w) / 2)
    return image[top:top + crop_h, left:left + crop_w]


def _resize_with_pad(image, size, interpolation):
    """``tf.image.resize_with_pad``: resize keeping the aspect ratio, then pad with zeros around."""
    h, w = image.shape[:2]
    ratio = max(w / size[1], h / size[0])
    new_h, new_w = max(1, int(math.floor(h / ratio))), max(1, int(math.floor(w / ratio)))
    resized = resize(image, (new_h, new_w), interpolation)
    top, left = (size[0] - new_h) // 2, (size[1] - new_w) // 2
    out = np.zeros((size[0], size[1], image.shape[2]), np.float32)
    out[top:top + new_h, left:left + new_w] = resized
    return out


def load_image(path, color_mode="rgb", image_size=None, interpolation="bilinear", crop_to_aspect_ratio=False,
               pad_to_aspect_ratio=False):
    """The image file at ``path`` as an (H, W, channels) float32 array, resized to ``image_size``.

    Raises ``ValueError`` naming the file when Pillow cannot read it (a
    corrupt or truncated file, or one that is not an image at all).
    """
    Image = _pillow()
    mode, channels = COLOR_MODES[color_mode]
    try:
        with Image.open(path) as img:   # an animated GIF: its first frame, as Keras
            pixels = np.asarray(img.convert(mode) if img.mode != mode else img.copy(), np.float32)
    except (OSError, ValueError, SyntaxError) as exc:   # Pillow's UnidentifiedImageError is an OSError
        raise ValueError(f"image_dataset_from_directory: cannot decode {os.fspath(path)!r} as an image "
                         f"({type(exc).__name__}: {exc}); remove or replace the file") from None
    pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], channels)
    if image_size is None:
        return pixels
    if crop_to_aspect_ratio:
        pixels = _crop_to_aspect_ratio(pixels, image_size)
    elif pad_to_aspect_ratio:
        return _resize_with_pad(pixels, image_size, interpolation)
    return resize(pixels, image_size, interpolation)


# ------------------------------------------------------------------ listing the files
def index_directory(directory, labels, formats, class_names=None, follow_links=False):
    """``(file_paths, labels, class_names)`` in Keras's order: sub-folders sorted (or as
    ``class_names`` gives them), and within each, files sorted, walking down sorted folders."""
    if not os.path.isdir(directory):
        raise ValueError(f"image_dataset_from_directory: {os.fspath(directory)!r} is not a directory")
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(subdirs):
                raise ValueError(f"The `class_names` passed did not match the names of the subdirectories of "
                                 f"the target directory. Expected: {subdirs} (or a subset of it), but received: "
                                 f"class_names={class_names}")
            subdirs = list(class_names)
    else:
        subdirs = [""]
    paths, label_list = [], []
    for index, subdir in enumerate(subdirs):
        root_dir = os.path.join(directory, subdir)
        for root, _, files in sorted(os.walk(root_dir, followlinks=follow_links), key=lambda walk: walk[0]):
            for name in sorted(files):
                if name.lower().endswith(formats):
                    paths.append(os.path.join(root, name))
                    label_list.append(index)
    if labels == "inferred":
        return paths, np.asarray(label_list, np.int32), subdirs
    if labels is None:
        return paths, None, None
    if len(labels) != len(paths):
        raise ValueError(f"Expected the lengths of `labels` to match the number of files in the target directory. "
                         f"len(labels) is {len(labels)} while we found {len(paths)} files in directory "
                         f"{directory}.")
    return paths, np.asarray(labels), [str(label) for label in sorted(set(labels))]


def _check_split(validation_split, subset, shuffle, seed):
    """Keras's checks of ``validation_split`` / ``subset`` (dataset_utils.check_validation_split_arg)."""
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: {validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'`subset` must be either "training", "validation" or "both", received: {subset}')
    if validation_split and shuffle and seed is None:
        raise ValueError("If using `validation_split` and shuffling the data, you must provide a `seed` "
                         "argument, to make sure that there is no overlap between the training and validation "
                         "subset.")


def _split(paths, labels, validation_split, subset, verbose):
    """The first (1 - split) of the (shuffled) files for training, the rest for validation."""
    if not validation_split:
        return paths, labels
    n_val = int(validation_split * len(paths))
    n_train = len(paths) - n_val
    if subset == "training":
        if verbose:
            print(f"Using {n_train} files for training.")
        return paths[:n_train], None if labels is None else labels[:n_train]
    if verbose:
        print(f"Using {n_val} files for validation.")
    return paths[n_train:], None if labels is None else labels[n_train:]


# ------------------------------------------------------------------ the data set
class ImageFiles(Dataset):
    """One ``(image, label)`` element (or ``image``) per file, decoded when iterated.

    ``order`` is a dataset of file indices (shuffled or not): reading follows
    it, so a shuffle costs nothing but the order of the reads.
    """

    def __init__(self, paths, labels, order, load):
        self.file_paths = list(paths)
        self._labels = labels
        self._order = order
        self._load = load

    def _cardinality(self):
        return len(self.file_paths)

    def _elements(self):
        for index in self._order.as_numpy_iterator():
            image = self._load(self.file_paths[int(index)])
            yield image if self._labels is None else (image, self._labels[int(index)])


def _encode_labels(labels, label_mode, num_classes):
    if label_mode is None or labels is None:
        return None
    if label_mode == "binary":
        return labels.astype(np.float32).reshape(-1, 1)
    if label_mode == "categorical":
        return np.eye(num_classes, dtype=np.float32)[labels.astype(np.int64)]
    return labels.astype(np.int32)


def _dataset(paths, labels, label_mode, num_classes, load, batch_size, shuffle, seed):
    order = Dataset.from_tensor_slices(np.arange(len(paths), dtype=np.int64))
    if shuffle:   # as Keras: the (path, label) pairs are shuffled, with a buffer of 8 batches
        order = order.shuffle(buffer_size=batch_size * 8 if batch_size is not None else 1024, seed=seed)
    dataset = ImageFiles(paths, _encode_labels(labels, label_mode, num_classes), order, load)
    return dataset if batch_size is None else dataset.batch(batch_size)


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, data_format=None,
                                 verbose=True):
    """Keras's ``image_dataset_from_directory``: see the module docstring.

    Yields ``(images, labels)`` with images float32 (batch, height, width,
    channels) and labels int32 (``label_mode="int"``), float32 one-hot rows
    (``"categorical"``) or float32 (batch, 1) zeros and ones (``"binary"``,
    two classes); only images for ``label_mode=None`` or ``labels=None``.
    The dataset has ``class_names`` and ``file_paths``; ``subset="both"``
    returns ``(training, validation)``.
    """
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError("`labels` argument should be a list/tuple of integer labels, of the same size as "
                             "the number of image files in the target directory. If you wish to infer the "
                             'labels from the subdirectory names in the target directory, pass `labels="inferred"`'
                             f". If you wish to get a dataset that only contains images (no labels), pass "
                             f"`labels=None`. Received: labels={labels}")
        if class_names:
            raise ValueError(f'You can only pass `class_names` if `labels="inferred"`. Received: labels={labels}, '
                             f"and class_names={class_names}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f'`label_mode` argument must be one of "int", "categorical", "binary", or None. '
                         f"Received: label_mode={label_mode}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if color_mode not in COLOR_MODES:
        raise ValueError(f'`color_mode` must be one of {{"rgb", "rgba", "grayscale"}}. Received: '
                         f"color_mode={color_mode}")
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    if not isinstance(image_size, (list, tuple)) or len(image_size) != 2 or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in image_size):
        raise ValueError(f"Invalid `image_size` value. Expected a tuple of 2 integers. Received: "
                         f"image_size={image_size}")
    interpolation = str(interpolation).lower()
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation={interpolation!r}: tapegrad resizes with {INTERPOLATIONS} "
                         f"(Keras also has bicubic, area, lanczos...)")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set to `True`.")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise ValueError(f"`batch_size` must be a positive integer or None, got {batch_size!r}")
    standardize_data_format(data_format)
    _check_split(validation_split, subset, shuffle, seed)
    _pillow()   # fail now, not at the first batch, when Pillow is missing
    if seed is None:
        seed = np.random.randint(1e6)

    paths, labels, class_names = index_directory(os.fspath(directory), labels, ALLOWLIST_FORMATS, class_names,
                                                 follow_links)
    if verbose:
        print(f"Found {len(paths)} files." if labels is None
              else f"Found {len(paths)} files belonging to {len(class_names)} classes.")
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f'When passing `label_mode="binary"`, there must be exactly 2 class_names. Received: '
                         f"class_names={class_names}")
    if shuffle:   # once, globally, before the split (Keras's order: the same seed, twice)
        np.random.RandomState(seed).shuffle(paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)

    def load(path):
        return load_image(path, color_mode, tuple(int(s) for s in image_size), interpolation,
                          crop_to_aspect_ratio, pad_to_aspect_ratio)

    num_classes = len(class_names) if class_names else 0
    subsets = ("training", "validation") if subset == "both" else (subset,)
    datasets = []
    for which in subsets:
        part_paths, part_labels = _split(paths, labels, validation_split, which, verbose)
        if not part_paths:
            what = f"{which} images" if subset == "both" else "images"
            raise ValueError(f"No {what} found in directory {os.fspath(directory)}. "
                             f"Allowed formats: {ALLOWLIST_FORMATS}")
        dataset = _dataset(part_paths, part_labels, label_mode, num_classes, load, batch_size,
                           shuffle and which != "validation" if subset == "both" else shuffle, seed)
        dataset.class_names = class_names
        dataset.file_paths = list(part_paths)
        datasets.append(dataset)
    return tuple(datasets) if subset == "both" else datasets[0]


__all__ = ["image_dataset_from_directory", "load_image", "resize"]
