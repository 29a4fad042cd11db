"""Where a sliding window lands: output sizes and padding, by TensorFlow's rule.

One place for the arithmetic every convolution and pooling kernel shares.
Along one axis of ``size`` elements, a window of ``window`` elements moves by
``stride``.  With ``"valid"`` padding it stays inside the input: ``(size -
window) // stride + 1`` positions.  With ``"same"`` padding there are
``ceil(size / stride)`` positions, and the input is padded by ``max((out - 1)
* stride + window - size, 0)`` elements in all, half before (rounded down)
and the odd one after: TensorFlow's rule, which Keras follows.
"""

from __future__ import annotations

PADDINGS = ("valid", "same")


def window_positions(size: int, window: int, stride: int, padding: str) -> tuple[int, int]:
    """``(out, pad_before)`` along one axis (arguments already checked)."""
    if padding == "valid":
        return (size - window) // stride + 1, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return out, total // 2


def output_shape_2d(height, width, window, strides, padding):
    """``((out_h, out_w), (pad_top, pad_left))`` for a 2-D window."""
    oh, top = window_positions(height, window[0], strides[0], padding)
    ow, left = window_positions(width, window[1], strides[1], padding)
    return (oh, ow), (top, left)
