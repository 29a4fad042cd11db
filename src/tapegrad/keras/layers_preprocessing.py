"""Image preprocessing layers: ``Rescaling`` and the data augmentation of chapter 8.

``Rescaling(1./255)`` maps pixel values 0..255 to 0..1 inside the model, so
the model can be fed raw images.  ``RandomFlip``, ``RandomRotation`` and
``RandomZoom`` show the model a slightly different version of each image at
every epoch (mirrored, turned, magnified): it never sees the exact same
picture twice, which fights overfitting on a small data set.  They act only
while training, as in Keras: ``fit`` passes ``training=True``, ``predict``
and ``evaluate`` pass ``training=False`` (and then the image goes through
unchanged); called on its own without ``training``, an augmentation layer
augments (Keras's default, which the book uses to draw augmented images).

Rotation and zoom are affine maps: each output pixel (x, y) reads the input
at (a0 x + a1 y + a2, b0 x + b1 y + b2) (Keras's 8-number transform, of which
the last two are 0 here), interpolated bilinearly from the 4 nearest pixels;
a point outside the image is read through ``fill_mode`` (Keras's default
``"reflect"``: ``d c b a | a b c d | d c b a``).  The read is a gather and a
weighted sum of tensor ops, so gradients flow through it.
"""

from __future__ import annotations

import math

import numpy as np

from .. import ops, random
from . import serialization
from .layers import Layer
from .layers_conv import standardize_data_format
from .node import is_symbolic


def _rows_gather(x, indices):
    """``x`` (N, H, W, C) read at flat pixel ``indices`` (N*H*W,) -> (N*H*W, C) (a differentiable gather)."""
    flat = ops.reshape(x, (-1, x.shape[-1]))
    return ops.getitem(flat, indices)


class Rescaling(Layer):
    """``inputs * scale + offset``, in training and inference alike.

    ``Rescaling(1./255)`` takes pixels from [0, 255] to [0, 1];
    ``Rescaling(1./127.5, offset=-1)`` to [-1, 1].  Integer inputs come out as
    floats (the layer's dtype).  ``scale`` and ``offset`` may be arrays that
    broadcast against the channels.
    """

    def __init__(self, scale, offset=0.0, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale = scale
        self.offset = offset

    @staticmethod
    def _plain(value):
        return np.asarray(value).tolist() if isinstance(value, (np.ndarray, list, tuple)) else float(value)

    def call(self, x):
        dtype = self.dtype
        scale = np.asarray(self.scale, dtype) if np.ndim(self.scale) else dtype.type(self.scale)
        offset = np.asarray(self.offset, dtype) if np.ndim(self.offset) else dtype.type(self.offset)
        return ops.add(ops.multiply(x, scale), offset)

    def get_config(self):
        return {**super().get_config(), "scale": self._plain(self.scale), "offset": self._plain(self.offset)}


class _RandomImageLayer(Layer):
    """Base of the augmentation layers: a seeded stream, active only in training.

    With ``seed`` the layer draws from its own generator (reproducible, yet
    a new draw at each call, as Keras's ``SeedGenerator``); without, from
    tapegrad's global generator (``keras.utils.set_random_seed`` seeds it).
    """

    def __init__(self, seed=None, data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"{type(self).__name__}: seed must be an integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.data_format = standardize_data_format(data_format)
        self._generator = None if seed is None else np.random.default_rng(self.seed)

    def _rng(self):
        return self._generator if self._generator is not None else random.generator()

    def __call__(self, inputs, training=None):
        # Keras's augmentation layers default to training=True when no caller says
        # otherwise (fit says True, predict/evaluate False); a graph records None.
        if training is None and not is_symbolic(inputs):
            training = True
        return super().__call__(inputs, training=training)

    def call(self, x, training=False):
        if x.ndim not in (3, 4):
            raise ValueError(f"Expected image tensor to have rank 3 (single image) or 4 (batch of images). "
                             f"Received: data.shape={tuple(x.shape)}")
        if not training:
            return x
        single = x.ndim == 3
        images = ops.reshape(x, (1, *x.shape)) if single else x
        out = self._transform(images)
        return ops.reshape(out, x.shape) if single else out

    def _transform(self, images):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "data_format": self.data_format}


HORIZONTAL, VERTICAL, HORIZONTAL_AND_VERTICAL = "horizontal", "vertical", "horizontal_and_vertical"


class RandomFlip(_RandomImageLayer):
    """Mirror each image with probability 1/2 while training.

    ``mode``: ``"horizontal"`` (left-right), ``"vertical"`` (top-bottom) or
    ``"horizontal_and_vertical"`` (the default: both at once, as one draw
    per image, as in Keras).
    """

    def __init__(self, mode=HORIZONTAL_AND_VERTICAL, seed=None, data_format=None, name=None, **kwargs):
        if mode not in (HORIZONTAL, VERTICAL, HORIZONTAL_AND_VERTICAL):
            raise ValueError(f"RandomFlip layer {name or ''} received an unknown mode argument {mode!r}; "
                             f"expected one of {(HORIZONTAL, VERTICAL, HORIZONTAL_AND_VERTICAL)}")
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.mode = mode

    def _transform(self, images):
        n, h, w, _ = images.shape
        flips = self._rng().uniform(size=n) <= 0.5
        rows = np.arange(h)[None, :, None]
        cols = np.arange(w)[None, None, :]
        flip = flips[:, None, None]
        if self.mode in (HORIZONTAL, HORIZONTAL_AND_VERTICAL):
            cols = np.where(flip, w - 1 - cols, cols)
        if self.mode in (VERTICAL, HORIZONTAL_AND_VERTICAL):
            rows = np.where(flip, h - 1 - rows, rows)
        source = (np.arange(n)[:, None, None] * h + rows) * w + cols       # (N, H, W) flat pixel read
        return ops.reshape(_rows_gather(images, source.reshape(-1)), images.shape)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


# ------------------------------------------------------------------ affine resampling
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


def fill_index(index, size, fill_mode):
    """Integer pixel ``index`` (any, possibly outside 0..size-1) mapped into the image by
    ``fill_mode``; returns ``(index, inside)``, ``inside`` False where ``"constant"``
    fill applies instead.  reflect: d c b a | a b c d | d c b a; wrap: a b c d | a b c d;
    nearest: a a | a b c d | d d."""
    inside = (index >= 0) & (index < size)
    if fill_mode == "reflect":
        period = np.mod(index, 2 * size)
        return np.where(period >= size, 2 * size - 1 - period, period), np.ones_like(inside)
    if fill_mode == "wrap":
        return np.mod(index, size), np.ones_like(inside)
    if fill_mode == "nearest":
        return np.clip(index, 0, size - 1), np.ones_like(inside)
    return np.clip(index, 0, size - 1), inside   # constant: read anywhere, weight 0 outside


def affine_transform(images, transforms, fill_mode="reflect", fill_value=0.0, interpolation="bilinear"):
    """Resample (N, H, W, C) ``images`` through one affine map per image.

    ``transforms`` (N, 6) holds ``a0 a1 a2 b0 b1 b2``: output pixel (x, y)
    (column, row) reads input point (a0 x + a1 y + a2, b0 x + b1 y + b2).
    Bilinear interpolation weighs the 4 pixels around that point; ``nearest``
    takes the closest.  Built from a gather and sums of tensor ops.
    """
    n, h, w, c = images.shape
    transforms = np.asarray(transforms, np.float64).reshape(n, 6)
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    a0, a1, a2, b0, b1, b2 = (transforms[:, i, None, None] for i in range(6))
    x_in = a0 * xs + a1 * ys + a2          # (N, H, W)
    y_in = b0 * xs + b1 * ys + b2
    base = np.arange(n)[:, None, None] * h
    if interpolation == "nearest":
        corners = [(np.floor(y_in + 0.5).astype(np.int64), np.floor(x_in + 0.5).astype(np.int64),
                    np.ones_like(x_in))]
    else:
        y0, x0 = np.floor(y_in), np.floor(x_in)
        fy, fx = y_in - y0, x_in - x0
        y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
        corners = [(y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx),
                   (y0 + 1, x0, fy * (1 - fx)), (y0 + 1, x0 + 1, fy * fx)]
    dtype = images.dtype
    out = None
    outside_weight = np.zeros((n, h, w))
    for rows, cols, weight in corners:
        rows, row_inside = fill_index(rows, h, fill_mode)
        cols, col_inside = fill_index(cols, w, fill_mode)
        inside = row_inside & col_inside
        outside_weight += np.where(inside, 0.0, weight)
        weight = np.where(inside, weight, 0.0)
        source = ((base + rows) * w + cols).reshape(-1)
        term = ops.multiply(_rows_gather(images, source), weight.reshape(-1, 1).astype(dtype))
        out = term if out is None else ops.add(out, term)
    if fill_mode == "constant" and fill_value != 0 and outside_weight.any():
        out = ops.add(out, (outside_weight.reshape(-1, 1) * fill_value).astype(dtype))
    return ops.reshape(out, (n, h, w, c))


def _check_fill(layer, fill_mode, interpolation):
    if fill_mode not in FILL_MODES:
        raise NotImplementedError(f"Unknown `fill_mode` {fill_mode}. Expected of one {FILL_MODES}.")
    if interpolation not in INTERPOLATIONS:
        raise NotImplementedError(f"Unknown `interpolation` {interpolation}. Expected of one {INTERPOLATIONS}.")


class RandomRotation(_RandomImageLayer):
    """Turn each image by a random angle while training, about its center.

    ``factor`` is a fraction of a full turn: ``0.1`` draws angles uniformly
    in [-36, 36] degrees, ``(-0.2, 0.3)`` in [-72, 108]; a positive angle
    turns counter-clockwise.  Corners the turn uncovers are filled by
    ``fill_mode`` (default ``"reflect"``).
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, name=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.factor = _factor_range(factor, lambda v: -1 <= v <= 1, "the range [-1, 1]", "factor")
        _check_fill(self, fill_mode, interpolation)
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, float(fill_value)

    def _transform(self, images):
        n, h, w, _ = images.shape
        lower, upper = self.factor
        angles = self._rng().uniform(lower * 360.0, upper * 360.0, size=n) * (math.pi / 180.0)
        cos, sin = np.cos(angles), np.sin(angles)
        cx, cy = 0.5 * (w - 1), 0.5 * (h - 1)
        transforms = np.stack([cos, -sin, cx - cx * cos + cy * sin,
                               sin, cos, cy - cx * sin - cy * cos], axis=1)
        return affine_transform(images, transforms, self.fill_mode, self.fill_value, self.interpolation)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "interpolation": self.interpolation}


class RandomZoom(_RandomImageLayer):
    """Zoom each image in or out by a random amount while training, about its center.

    ``height_factor=0.2`` draws a vertical zoom in [-20%, +20%]: a positive
    value zooms out (the image shrinks, the border is filled by
    ``fill_mode``), a negative one zooms in.  ``width_factor=None`` (the
    default) zooms both axes by the same amount, keeping the aspect ratio.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, name=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        in_range = (lambda v: -1.0 < v <= 1.0)
        self.height_factor = height_factor
        self.height_lower, self.height_upper = _factor_range(height_factor, in_range, "the range (-1.0, 1.0]",
                                                             "height_factor")
        self.width_factor = width_factor
        if width_factor is not None:
            self.width_lower, self.width_upper = _factor_range(width_factor, in_range, "the range (-1.0, 1.0]",
                                                               "width_factor")
        _check_fill(self, fill_mode, interpolation)
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, float(fill_value)

    def _transform(self, images):
        n, h, w, _ = images.shape
        rng = self._rng()
        height_zoom = rng.uniform(1.0 + self.height_lower, 1.0 + self.height_upper, size=n)
        width_zoom = height_zoom if self.width_factor is None else \
            rng.uniform(1.0 + self.width_lower, 1.0 + self.width_upper, size=n)
        zeros = np.zeros(n)
        transforms = np.stack([width_zoom, zeros, (w - 1) / 2.0 * (1.0 - width_zoom),
                               zeros, height_zoom, (h - 1) / 2.0 * (1.0 - height_zoom)], axis=1)
        return affine_transform(images, transforms, self.fill_mode, self.fill_value, self.interpolation)

    def get_config(self):
        factor = (lambda f: list(f) if isinstance(f, (tuple, list)) else f)
        return {**super().get_config(), "height_factor": factor(self.height_factor),
                "width_factor": factor(self.width_factor), "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "interpolation": self.interpolation}


def _factor_range(factor, valid, valid_text, name):
    """Keras's factor rule: a number f gives (-|f|, |f|), a pair is sorted; each value must be ``valid``."""
    message = f"The `{name}` argument should be a number (or a list of two numbers) in {valid_text}. " \
              f"Received: {name}={factor}"
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                                       and valid(v) for v in factor):
            raise ValueError(message)
        lower, upper = sorted(float(v) for v in factor)
        return lower, upper
    if isinstance(factor, (int, float, np.number)) and not isinstance(factor, bool):
        if not valid(factor):
            raise ValueError(message)
        return -abs(float(factor)), abs(float(factor))
    raise ValueError(message)


serialization.builtin("layer", Rescaling, RandomFlip, RandomRotation, RandomZoom)

__all__ = ["Rescaling", "RandomFlip", "RandomRotation", "RandomZoom"]
