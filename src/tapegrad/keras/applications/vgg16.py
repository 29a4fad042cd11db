"""VGG16 (Simonyan and Zisserman, 2014): chapter 8's pretrained convolutional base.

Five blocks of 3x3 ``same`` convolutions with relu (64, 128, 256, 512, 512
filters; 2, 2, 3, 3, 3 layers), each followed by a 2x2 max-pooling, then
(``include_top``) Flatten and three Dense layers.  The layer names are
Keras's (``block1_conv1`` ... ``fc1``, ``fc2``, ``predictions``), so
Keras's published ImageNet weights load into it.  Without the top and with
(180, 180, 3) images the base outputs (5, 5, 512) feature maps; its
14,714,688 parameters are what chapter 8 extracts features with, then
fine-tunes.
"""

from __future__ import annotations

import os

from .. import layers
from ..models import Functional
from ..node import KerasTensor
from .imagenet_utils import load_weights, obtain_input_shape, weights_file
from .imagenet_utils import preprocess_input as _preprocess_input

WEIGHTS_PATH = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
                "vgg16_weights_tf_dim_ordering_tf_kernels.h5")
WEIGHTS_PATH_NO_TOP = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
                       "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
WEIGHTS_MD5 = "64373286793e3c8b2b4e3219cbf3544b"          # Keras's published hashes of the two files
WEIGHTS_MD5_NO_TOP = "6d6bbae143d832006294945121d1f1fc"

BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))   # (filters, conv layers) per block


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg16"):
    """Keras's ``keras.applications.vgg16.VGG16``.

    ``weights``: ``"imagenet"`` (Keras's published file, from Keras's cache
    folder ``~/.keras/models`` or downloaded there), ``None`` (random
    initialization) or the path of a weight file.  ``include_top=False``
    drops the classifier; ``pooling`` ``"avg"`` or ``"max"`` then ends the
    base with a global pooling.  ``input_shape`` (height, width, 3): fixed
    at (224, 224, 3) with the top, at least 32x32 without it.
    """
    if not (weights in ("imagenet", None) or os.path.exists(os.fspath(weights))):
        raise ValueError("The `weights` argument should be either `None` (random initialization), 'imagenet' "
                         f"(pre-training on ImageNet), or the path to the weights file to be loaded.  Received: "
                         f"weights={weights}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"If using `weights='imagenet'` with `include_top=True`, `classes` should be 1000.  "
                         f"Received classes={classes}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")
    if include_top and weights is not None and classifier_activation not in ("softmax", None):
        raise ValueError("Only `None` and `softmax` activations are allowed for the `classifier_activation` "
                         "argument when using pretrained weights, with `include_top=True`; Received: "
                         f"classifier_activation={classifier_activation}")
    input_shape = obtain_input_shape(input_shape, default_size=224, min_size=32, require_flatten=include_top,
                                     weights=weights)
    if input_tensor is None:
        img_input = layers.Input(shape=input_shape)
    elif isinstance(input_tensor, KerasTensor):
        img_input = input_tensor
    else:
        raise TypeError(f"input_tensor must be a keras.Input tensor, got {type(input_tensor).__name__}")

    x = img_input
    for block, (filters, convs) in enumerate(BLOCKS, start=1):
        for conv in range(1, convs + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{conv}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    model = Functional(img_input, x, name=name)

    if weights == "imagenet":
        if include_top:
            path = weights_file("VGG16", "vgg16_weights_tf_dim_ordering_tf_kernels.h5", WEIGHTS_PATH, WEIGHTS_MD5)
        else:
            path = weights_file("VGG16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", WEIGHTS_PATH_NO_TOP,
                                WEIGHTS_MD5_NO_TOP)
        load_weights(model, path)
    elif weights is not None:
        load_weights(model, weights)
    return model


def preprocess_input(x, data_format=None):
    """VGG16's preprocessing ("caffe" mode): RGB -> BGR, then the ImageNet mean pixel
    (103.939, 116.779, 123.68 for B, G, R) subtracted, no scaling.  Input values 0..255."""
    return _preprocess_input(x, data_format=data_format, mode="caffe")


__all__ = ["VGG16", "preprocess_input"]
