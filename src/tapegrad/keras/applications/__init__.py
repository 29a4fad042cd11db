"""``keras.applications``: well-known image models with Keras's published ImageNet weights.

``keras.applications.vgg16.VGG16(weights="imagenet", include_top=False)``
is chapter 8's pretrained convolutional base; ``vgg16.preprocess_input``
prepares images the way its weights were trained on.
"""

from . import imagenet_utils, vgg16
from .vgg16 import VGG16

__all__ = ["VGG16", "vgg16", "imagenet_utils"]
