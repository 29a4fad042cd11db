"""What the ImageNet models share: input preprocessing, input shapes, Keras's weight files.

Pretrained weights only work on images prepared the way they were trained
on.  VGG16's ("caffe" mode) expects BGR channel order with the ImageNet mean
pixel subtracted and no scaling: ``preprocess_input`` does exactly that.

The weights are Keras's published HDF5 files, in the layout Keras 2 wrote
(``layer_names`` at the root, one group per layer listing its
``weight_names``); they are read in order into the layers that have
weights, as Keras's ``load_weights`` does for such files.  They live in
Keras's cache folder (``$KERAS_HOME/models`` or ``~/.keras/models``), so a
file Keras already downloaded is used as it is; each is checked against the
MD5 Keras publishes for it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from ... import ops
from ...datasets import DatasetNotFoundError, fetch
from ...tensor import Tensor
from .. import serialization
from ..layers import Layer
from ..node import KerasTensor

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)            # the ImageNet mean pixel, B G R
TORCH_MEAN, TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
MODES = ("caffe", "tf", "torch")


# ------------------------------------------------------------------ preprocessing
def _check_format(data_format):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"preprocess_input: data_format={data_format!r}: tapegrad images are channels_last")


def _preprocess_numpy(x, mode):
    """Keras's NumPy version: a float array is written over (as Keras documents), an
    integer one converted to float32 first; returns the result (for caffe, a BGR view)."""
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        for channel in range(3):
            x[..., channel] -= TORCH_MEAN[channel]
            x[..., channel] /= TORCH_STD[channel]
        return x
    x = x[..., ::-1]                                    # RGB -> BGR
    for channel in range(3):
        x[..., channel] -= CAFFE_MEAN_BGR[channel]
    return x


def _preprocess_tensor(x, mode):
    """The same from tensor ops (differentiable, nothing written over)."""
    x = ops.convert(x)
    if x.dtype.kind != "f":
        x = ops.cast(x, "float32")
    if mode == "tf":
        return ops.subtract(ops.divide(x, 127.5), 1.0)
    if mode == "torch":
        mean, std = np.asarray(TORCH_MEAN, x.dtype), np.asarray(TORCH_STD, x.dtype)
        return ops.divide(ops.subtract(ops.divide(x, 255.0), mean), std)
    bgr = ops.getitem(x, (Ellipsis, slice(None, None, -1)))
    return ops.subtract(bgr, np.asarray(CAFFE_MEAN_BGR, x.dtype))


class PreprocessInput(Layer):
    """``preprocess_input`` as a layer: what calling it on a ``keras.Input`` tensor
    records in the graph (the book's fine-tuning model does so), saved with the model."""

    def __init__(self, mode="caffe", name=None, **kwargs):
        if mode not in MODES:
            raise ValueError(f"preprocess_input: mode must be one of {MODES}, got {mode!r}")
        super().__init__(name=name, **kwargs)
        self.mode = mode

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if input_shape[-1] not in (3, None):
            raise ValueError(f"preprocess_input expects 3 color channels (last axis), got shape {input_shape}")
        return input_shape

    def call(self, x):
        return _preprocess_tensor(x, self.mode)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


serialization.builtin("layer", PreprocessInput)


def preprocess_input(x, data_format=None, mode="caffe"):
    """Prepare images (values 0..255, RGB, channels last) for an ImageNet model.

    ``mode="caffe"`` (VGG16, ResNet50): RGB -> BGR, then the ImageNet mean
    pixel subtracted per channel, no scaling.  ``"tf"``: scaled to [-1, 1].
    ``"torch"``: scaled to [0, 1], then normalized per channel.  A float
    NumPy array is overwritten, as in Keras (pass ``np.copy(x)`` to keep
    it); a tensor gives a new tensor; a ``keras.Input`` tensor gives the
    symbolic result of a ``PreprocessInput`` layer.
    """
    _check_format(data_format)
    if mode not in MODES:
        raise ValueError(f"preprocess_input: mode must be one of {MODES}, got {mode!r}")
    if isinstance(x, KerasTensor):
        return PreprocessInput(mode)(x)
    if isinstance(x, Tensor):
        return _preprocess_tensor(x, mode)
    x = np.asarray(x)
    if x.shape[-1:] != (3,):
        raise ValueError(f"preprocess_input expects 3 color channels (last axis), got shape {x.shape}")
    return _preprocess_numpy(x, mode)


# ------------------------------------------------------------------ input shapes
def obtain_input_shape(input_shape, default_size, min_size, require_flatten, weights=None):
    """Keras's rule for an application's input shape (channels_last).

    With the classifier on top (``require_flatten``) the size is fixed
    (224x224 for VGG16, and with ImageNet weights it must be exactly that);
    without it any size >= ``min_size`` goes, or ``(None, None, 3)``.
    """
    default_shape = (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and tuple(input_shape) != default_shape:
            raise ValueError(f"When setting `include_top=True` and loading `imagenet` weights, `input_shape` "
                             f"should be {default_shape}.  Received: input_shape={input_shape}")
        return default_shape
    if input_shape:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError("`input_shape` must be a tuple of three integers.")
        if input_shape[-1] != 3 and weights == "imagenet":
            raise ValueError(f"The input must have 3 channels; Received `input_shape={input_shape}`")
        if any(side is not None and side < min_size for side in input_shape[:2]):
            raise ValueError(f"Input size must be at least {min_size}x{min_size}; Received: "
                             f"input_shape={input_shape}")
    else:
        input_shape = default_shape if require_flatten else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError(f"If `include_top` is True, you should specify a static `input_shape`. Received: "
                         f"input_shape={input_shape}")
    return input_shape


# ------------------------------------------------------------------ Keras's weight files
def keras_models_dir():
    """Keras's cache folder for application weights: ``$KERAS_HOME/models``, else
    ``~/.keras/models`` (``/tmp/.keras/models`` when the home folder is not writable)."""
    base = os.environ.get("KERAS_HOME") or os.path.expanduser(os.path.join("~", ".keras"))
    if "KERAS_HOME" not in os.environ and not os.access(os.path.expanduser("~"), os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return Path(base) / "models"


def md5_of(path):
    digest = hashlib.md5()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def weights_file(model_name, file_name, url, md5):
    """The path of Keras's weight file ``file_name``: from the cache folder if it is there
    with the right MD5, else downloaded there from ``url`` (``$TAPEGRAD_KERAS_WEIGHTS_URL``,
    a folder, replaces Keras's host), else an error saying where to put it."""
    folder = keras_models_dir()
    target = folder / file_name
    note = ""
    if target.is_file():
        if md5_of(target) == md5:
            return target
        note = f" (the file there has the wrong MD5: expected {md5}, Keras's published hash)"
    mirror = os.environ.get("TAPEGRAD_KERAS_WEIGHTS_URL")
    if mirror:
        url = mirror.rstrip("/") + "/" + file_name
    try:
        return fetch(url, target, md5)
    except DatasetNotFoundError as error:
        raise DatasetNotFoundError(
            f"{model_name}: the ImageNet weights {file_name} are not in {folder}{note}, and the download "
            f"failed: {str(error).splitlines()[0]}\n"
            f"Download {url} by hand and save it in {folder} (as {file_name}), or pass weights='path/to/"
            f"{file_name}'.") from error


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("Keras's weight files are HDF5: install h5py (pip install 'tapegrad[h5]' or "
                          "pip install h5py)") from None
    return h5py


def _names(group, attribute):
    """A list attribute of names (bytes in Keras's files), possibly split in chunks as Keras writes
    long ones (``layer_names0``, ``layer_names1``, ...)."""
    if attribute in group.attrs:
        values = list(group.attrs[attribute])
    else:
        values, chunk = [], 0
        while f"{attribute}{chunk}" in group.attrs:
            values.extend(group.attrs[f"{attribute}{chunk}"])
            chunk += 1
    return [v.decode("utf8") if hasattr(v, "decode") else str(v) for v in values]


def load_legacy_h5_weights(model, path):
    """Read a Keras HDF5 weight file into ``model``, layer by layer in order.

    The file lists its layers (``layer_names``); those with weights are
    matched, in order, with the model's layers that have weights, and each
    layer's arrays (``weight_names``, e.g. kernel then bias) are set.  Shapes
    must match; a count mismatch is a ValueError naming both sides.
    """
    h5py = _h5py()
    path = os.fspath(path)
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"cannot read {path!r} as an HDF5 weight file: {error}") from None
    with file:
        group = file["model_weights"] if "model_weights" in file else file
        if not _names(group, "layer_names"):
            raise ValueError(f"{path!r} is not a Keras weight file in the HDF5 layout Keras's applications use "
                             f"(no 'layer_names' attribute)")
        saved = [(name, _names(group[name], "weight_names")) for name in _names(group, "layer_names")]
        saved = [(name, weights) for name, weights in saved if weights]
        targets = [layer for layer in model.layers if layer.weights]
        if len(saved) != len(targets):
            raise ValueError(f"Layer count mismatch when loading weights from file. Model expected "
                             f"{len(targets)} layers, found {len(saved)} saved layers.")
        for k, ((name, weight_names), layer) in enumerate(zip(saved, targets)):
            values = [np.asarray(group[name][weight]) for weight in weight_names]
            if len(values) != len(layer.weights):
                raise ValueError(f"Weight count mismatch for layer #{k} (named {layer.name} in the current model, "
                                 f"{name} in the save file). Layer expects {len(layer.weights)} weight(s). "
                                 f"Received {len(values)} saved weight(s)")
            for variable, value in zip(layer.weights, values):
                if tuple(variable.shape) != value.shape:
                    raise ValueError(f"Shape mismatch in layer #{k} (named {layer.name}) for weight "
                                     f"{variable.name}: the model has {tuple(variable.shape)}, the file "
                                     f"{name} has {value.shape}")
            layer.set_weights(values)


def load_weights(model, weights):
    """``weights`` (a file path) into ``model``: an ``.h5`` file in Keras's layout, or
    tapegrad's own ``.npz`` weights (``model.save_weights``)."""
    path = os.fspath(weights)
    if path.endswith((".h5", ".hdf5")):
        load_legacy_h5_weights(model, path)
    else:
        model.load_weights(path)
