"""Convolution and pooling layers: ``Conv2D``, ``MaxPooling2D``, ``AveragePooling2D``, global pooling.

A ``Conv2D`` slides ``filters`` small kernels (``kernel_size``, e.g. 3x3)
over an image of shape (batch, height, width, channels) and, at each
position, takes the dot product of the kernel with the patch under it: one
output channel per filter.  The same few weights are reused at every
position, which is why a convnet needs far fewer parameters than a Dense
layer on the same pixels, and why what it learns in one corner it knows
everywhere (translation invariance).  Pooling keeps the largest (or the
mean) value of each small window, shrinking the feature maps so the next
convolution sees a larger part of the image.

The layout is Keras's ``channels_last``: inputs NHWC, kernels HWIO
(``Conv2D.kernel`` has shape (kh, kw, in_channels, filters)).  The
arithmetic runs in ``tapegrad.kernels`` (``kernels.conv2d``, with the bias
and a relu fused into the output, as ``Dense`` does); ``ops.conv2d`` holds
the gradients.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from . import regularizers, serialization
from .layers import ACTIVATIONS, Layer, _initializer_config, get_activation, get_initializer

DATA_FORMATS = ("channels_last", "channels_first")


# ------------------------------------------------------------------ argument checks (Keras's rules and messages)
def standardize_tuple(value, n, name, allow_zero=False):
    """``3`` -> ``(3, 3)``; a tuple of ``n`` positive integers stays; else Keras's ValueError."""
    message = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(message) from None
        if len(values) != n or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in values):
            raise ValueError(message)
        values = tuple(int(v) for v in values)
    bad = {v for v in values if (v < 0 if allow_zero else v <= 0)}
    if bad:
        raise ValueError(f"{message}, including values {bad} that do not satisfy "
                         f"`value {'>= 0' if allow_zero else '> 0'}`")
    return values


def standardize_padding(padding):
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"The `padding` argument must be one of {{'valid', 'same'}}. Received: {padding}")
    return padding.lower()


def standardize_data_format(data_format):
    """``None`` -> ``"channels_last"`` (Keras's default); ``"channels_first"`` is refused.

    tapegrad's kernels take NHWC images only; Keras itself accepts
    ``channels_first`` (NCHW), so asking for it is a clear error, not a
    silent misreading of the axes.
    """
    if data_format is None:
        return "channels_last"
    text = str(data_format).lower()
    if text not in DATA_FORMATS:
        raise ValueError(f"The `data_format` argument must be one of {{'channels_first', 'channels_last'}}. "
                         f"Received: data_format={data_format}")
    if text == "channels_first":
        raise ValueError("data_format='channels_first' (NCHW) is not supported by tapegrad: its convolution "
                         "kernels take channels_last images (batch, height, width, channels). Use "
                         "data_format='channels_last' (the default) and transpose NCHW data with "
                         "np.transpose(x, (0, 2, 3, 1)).")
    return text


def spatial_output_size(size, window, stride, padding):
    """One output side: ``valid`` fits whole windows, ``same`` is ceil(size / stride) (TF's rule)."""
    if size is None:
        return None
    if padding == "same":
        return (size - 1) // stride + 1
    return (size - window) // stride + 1


def check_image_shape(layer, input_shape, rank=4):
    """A 4-D (batch, height, width, channels) shape, or Keras's input-spec ValueError."""
    input_shape = tuple(input_shape)
    if len(input_shape) != rank:
        raise ValueError(f"Input 0 of layer {layer.name!r} is incompatible with the layer: expected ndim={rank} "
                         f"(batch, height, width, channels), found ndim={len(input_shape)}. "
                         f"Full shape received: {input_shape}")
    return input_shape


def windowed_output_shape(layer, input_shape, window, strides, padding, channels):
    """(batch, out_h, out_w, channels) for a sliding ``window``; a ValueError if ``valid`` leaves nothing."""
    batch, height, width, _ = input_shape
    out_h, out_w = (spatial_output_size(s, k, st, padding) for s, k, st in
                    zip((height, width), window, strides))
    if (out_h is not None and out_h <= 0) or (out_w is not None and out_w <= 0):
        raise ValueError(f"Computed output size would be zero or negative for layer {layer.name!r}: input shape "
                         f"{input_shape}, window {window}, strides {strides}, padding={padding!r} (with "
                         f"'valid' the window must fit in the image)")
    return (batch, out_h, out_w, channels)


# ------------------------------------------------------------------ Conv2D
class Conv2D(Layer):
    """2-D convolution: ``activation(conv(x, kernel) + bias)`` on NHWC images.

    ``Conv2D(32, 3, activation="relu")`` on (None, 28, 28, 1) images gives
    (None, 26, 26, 32) with a (3, 3, 1, 32) kernel and 32 biases: 320
    parameters.  ``padding="same"`` pads so that with stride 1 the output has
    the input's height and width (the odd extra row or column at the
    bottom/right, as TF does); ``strides`` skips positions.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, bias_constraint=None, input_shape=None,
                 name=None, **kwargs):
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"Invalid value for argument `filters`. Expected a strictly positive value. "
                             f"Received filters={filters}.")
        super().__init__(name=name, input_shape=input_shape, **kwargs)
        self.filters = int(filters)
        self.kernel_size = standardize_tuple(kernel_size, 2, "kernel_size")
        self.strides = standardize_tuple(strides, 2, "strides")
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format)
        self.dilation_rate = standardize_tuple(dilation_rate, 2, "dilation_rate")
        if self.dilation_rate != (1, 1):
            raise ValueError(f"Conv2D: dilation_rate={self.dilation_rate} is not supported by tapegrad's "
                             f"convolution kernels; only (1, 1)")
        if groups != 1:
            raise ValueError(f"Conv2D: groups={groups} is not supported by tapegrad's convolution kernels; only 1")
        if kernel_constraint is not None or bias_constraint is not None:
            raise ValueError("Conv2D: kernel_constraint / bias_constraint are not supported by tapegrad")
        self.groups = 1
        self.activation_name, self.activation = get_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer(kernel_initializer)
        self.bias_initializer = get_initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel = self.bias = None

    def build(self, input_shape):
        input_shape = check_image_shape(self, input_shape)
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"Conv2D layer {self.name!r}: the channel axis (last) of the input must be known, "
                             f"got input shape {input_shape}")
        self.compute_output_shape(input_shape)   # a kernel larger than a "valid" input fails here, before weights
        self.kernel = self.add_weight(shape=(*self.kernel_size, channels, self.filters),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      name="kernel")
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.filters,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, name="bias")
        self.built = True

    def compute_output_shape(self, input_shape):
        input_shape = check_image_shape(self, input_shape)
        expected = None if self.kernel is None else self.kernel.shape[2]
        if expected is not None and input_shape[-1] is not None and input_shape[-1] != expected:
            raise ValueError(f"Input 0 of layer {self.name!r} is incompatible with the layer: expected axis -1 "
                             f"of input shape to have value {expected}, but received input with shape "
                             f"{input_shape}")
        return windowed_output_shape(self, input_shape, self.kernel_size, self.strides, self.padding, self.filters)

    def call(self, x):
        self.compute_output_shape(x.shape)   # rank, channels and a fitting kernel, named in Keras's words
        relu = self.activation_name == "relu"
        out = ops.conv2d(x, self.kernel, self.bias, strides=self.strides, padding=self.padding,
                         activation="relu" if relu else None)
        if relu or self.activation is None:
            return out
        return self.activation(out)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "groups": self.groups,
                "activation": self.activation_name if self.activation_name in ACTIVATIONS
                else serialization.serialize_keras_object(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": _initializer_config(self.kernel_initializer),
                "bias_initializer": _initializer_config(self.bias_initializer),
                "kernel_regularizer": serialization.serialize_keras_object(self.kernel_regularizer),
                "bias_regularizer": serialization.serialize_keras_object(self.bias_regularizer),
                "kernel_constraint": None, "bias_constraint": None}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("activation", "kernel_initializer", "bias_initializer"):
            if isinstance(config.get(key), dict):   # a function of your own, found by its registered name
                config[key] = serialization.deserialize_keras_object(config[key], "function")
        return cls(**config)


# ------------------------------------------------------------------ pooling
class _Pooling2D(Layer):
    """A window slid over the height and width, one value kept per window and channel."""

    _op = None   # the ops function: ops.max_pool2d or ops.avg_pool2d

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = standardize_tuple(pool_size, 2, "pool_size")
        self.strides = self.pool_size if strides is None else standardize_tuple(strides, 2, "strides")
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format)

    def compute_output_shape(self, input_shape):
        input_shape = check_image_shape(self, input_shape)
        return windowed_output_shape(self, input_shape, self.pool_size, self.strides, self.padding,
                                     input_shape[-1])

    def call(self, x):
        self.compute_output_shape(x.shape)
        return type(self)._op(x, pool_size=self.pool_size, strides=self.strides, padding=self.padding)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "padding": self.padding,
                "strides": list(self.strides), "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """The largest value of each ``pool_size`` window (default 2x2, stride = the window):
    (None, 26, 26, 32) -> (None, 13, 13, 32).  The gradient goes to the one input that was the maximum."""

    _op = staticmethod(ops.max_pool2d)


class AveragePooling2D(_Pooling2D):
    """The mean of each window.  With ``padding="same"`` a window that hangs over the edge
    averages only the pixels inside the image, as TF does."""

    _op = staticmethod(ops.avg_pool2d)


class _GlobalPooling2D(Layer):
    """One value per channel for the whole image: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with ``keepdims``."""

    def __init__(self, data_format=None, keepdims=False, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.data_format = standardize_data_format(data_format)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        batch, _, _, channels = check_image_shape(self, input_shape)
        return (batch, 1, 1, channels) if self.keepdims else (batch, channels)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean of each channel over the height and width (chapter 9 ends its convnets with it)."""

    def call(self, x):
        check_image_shape(self, x.shape)
        return ops.reduce_mean(x, axis=(1, 2), keepdims=self.keepdims)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The maximum of each channel over the height and width."""

    def call(self, x):
        check_image_shape(self, x.shape)
        return ops.reduce_max(x, axis=(1, 2), keepdims=self.keepdims)


serialization.builtin("layer", Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D)

# Keras's aliases
Convolution2D = Conv2D
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D

__all__ = ["Conv2D", "Convolution2D", "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D",
           "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPooling2D", "GlobalMaxPool2D"]
