"""``tapegrad.nn``: activations and the fused cross-entropy, under TF's names."""

from __future__ import annotations

from . import ops
from .ops import relu, sigmoid, softmax, tanh  # noqa: F401


def sparse_softmax_cross_entropy_with_logits(labels, logits):
    """Per-example ``-log softmax(logits)[label]``, on the fused kernel."""
    return ops.sparse_softmax_cross_entropy(logits, labels)


def log_softmax(logits, axis=-1):
    x = ops.convert(logits)
    shifted = ops.subtract(x, ops.reduce_max(x, axis=axis, keepdims=True))
    return ops.subtract(shifted, ops.log(ops.reduce_sum(ops.exp(shifted), axis=axis, keepdims=True)))


def sigmoid_cross_entropy_with_logits(labels, logits):
    """Per-element binary cross-entropy of ``sigmoid(logits)``, on the fused, stable kernel."""
    return ops.sigmoid_binary_cross_entropy(logits, labels)


def dropout(x, rate, noise_shape=None, seed=None, name=None):
    """Inverted dropout: zero each element with probability ``rate``, scale the rest by 1/(1-rate)."""
    return ops.dropout(x, rate, noise_shape=noise_shape, seed=seed)


def _nhwc_pair(value, what, fn):
    """TF's ``strides``/``ksize``: an int, or a list of 1, 2 or 4 ints ([1, h, w, 1] for NHWC)."""
    values = [value] if isinstance(value, int) else list(value)
    if len(values) == 4:
        if values[0] != 1 or values[3] != 1:
            raise ValueError(f"{fn}: {what} {value!r} must be 1 on the batch and channel axes (NHWC)")
        values = values[1:3]
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise ValueError(f"{fn}: {what} must be an int or a list of 1, 2 or 4 ints, got {value!r}")
    return tuple(values)


def _nhwc_padding(padding, data_format, fn):
    if data_format != "NHWC":
        raise ValueError(f"{fn}: data_format={data_format!r}: tapegrad's kernels take NHWC images only")
    if not isinstance(padding, str) or padding.upper() not in ("VALID", "SAME"):
        raise ValueError(f"{fn}: padding must be 'VALID' or 'SAME', got {padding!r}")
    return padding.lower()


def conv2d(input, filters, strides, padding, data_format="NHWC", dilations=None, name=None):  # noqa: A002
    """``tf.nn.conv2d``: NHWC ``input`` cross-correlated with HWIO ``filters`` (on the conv kernel)."""
    if dilations not in (None, 1, [1, 1], (1, 1), [1, 1, 1, 1], (1, 1, 1, 1)):
        raise ValueError(f"conv2d: dilations={dilations!r} is not supported by tapegrad's kernels")
    return ops.conv2d(input, filters, strides=_nhwc_pair(strides, "strides", "conv2d"),
                      padding=_nhwc_padding(padding, data_format, "conv2d"))


def max_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):  # noqa: A002
    """``tf.nn.max_pool2d``: the largest value of each ``ksize`` window of NHWC ``input``."""
    return ops.max_pool2d(input, _nhwc_pair(ksize, "ksize", "max_pool2d"),
                          _nhwc_pair(strides, "strides", "max_pool2d"),
                          _nhwc_padding(padding, data_format, "max_pool2d"))


def avg_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):  # noqa: A002
    """``tf.nn.avg_pool2d``: the mean of each window (with SAME, of the pixels inside the image)."""
    return ops.avg_pool2d(input, _nhwc_pair(ksize, "ksize", "avg_pool2d"),
                          _nhwc_pair(strides, "strides", "avg_pool2d"),
                          _nhwc_padding(padding, data_format, "avg_pool2d"))
