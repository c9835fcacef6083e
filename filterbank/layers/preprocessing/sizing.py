"""Deterministic preprocessing: ``Rescaling``, ``Resizing``, ``CenterCrop`` (training and inference).

All three are linear in their input, so their backward pass is exact (the transposed map):
they can sit anywhere in a model, not only at its input.

Example:
    >>> import numpy as np
    >>> from filterbank import layers
    >>> layers.Rescaling(1.0 / 255)(np.full((1, 2), 255.0, "float32"))
    array([[1., 1.]], dtype=float32)
"""

from __future__ import annotations

import numbers

import numpy as np

from ...errors import unknown_name
from ...ops.affine import INTERPOLATIONS, aspect_crop_box, resize, resize_backward
from ..base import Layer
from .base import ImageLayer, check_data_format, check_positive_int


def _scalar_or_list(layer, name, value):
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 1 or not np.all(np.isfinite(arr)):
        raise ValueError(
            f"Layer '{layer.name}' argument {name} expects a number or a list of numbers (one "
            f"per channel), got {value!r}. Pass e.g. {name}=1/255."
        )
    return arr.tolist()


class Rescaling(Layer):
    """``x * scale + offset`` (any rank), e.g. ``Rescaling(1/255)`` maps 0..255 to 0..1.

    Args:
        scale: a number, or a list of numbers broadcast along the last (channel) axis.
        offset: the same, added after scaling (e.g. ``Rescaling(1/127.5, offset=-1)``).

    Example:
        >>> import numpy as np
        >>> Rescaling(1 / 127.5, offset=-1)(np.array([[0.0, 255.0]], "float32"))
        array([[-1.,  1.]], dtype=float32)
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _scalar_or_list(self, "scale", scale)
        self.offset = _scalar_or_list(self, "offset", offset)

    def forward(self, inputs, training=False):
        dt = inputs.dtype
        return inputs * np.asarray(self.scale, dt) + np.asarray(self.offset, dt)

    def backward(self, grad):
        return grad * np.asarray(self.scale, grad.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale, offset=self.offset)
        return config


class Resizing(ImageLayer):
    """Resize images to (height, width): half-pixel-centred bilinear or nearest, as Keras.

    Args:
        height, width: the output size.
        interpolation: "bilinear" (default) or "nearest".
        crop_to_aspect_ratio: first cut the largest centred window with the target aspect
            ratio (no stretching), as Keras.
        pad_to_aspect_ratio, fill_mode, fill_value, antialias: Keras's other options;
            only their defaults (False, "constant", 0.0, False) are supported here.

    Example:
        >>> import numpy as np
        >>> Resizing(4, 6)(np.ones((2, 8, 9, 3), "float32")).shape
        (2, 4, 6, 3)
    """

    def __init__(
        self,
        height,
        width,
        interpolation="bilinear",
        crop_to_aspect_ratio=False,
        pad_to_aspect_ratio=False,
        fill_mode="constant",
        fill_value=0.0,
        antialias=False,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.height = check_positive_int(self, "height", height)
        self.width = check_positive_int(self, "width", width)
        if interpolation not in INTERPOLATIONS:
            raise unknown_name(
                "interpolation",
                interpolation,
                INTERPOLATIONS,
                f"Layer '{self.name}' argument interpolation",
            )
        for arg, value, default in (
            ("pad_to_aspect_ratio", pad_to_aspect_ratio, False),
            ("fill_mode", fill_mode, "constant"),
            ("antialias", antialias, False),
        ):
            if value != default:
                raise ValueError(
                    f"Layer '{self.name}' argument {arg}={value!r} is not supported by "
                    f"filterbank (only {default!r}). Use crop_to_aspect_ratio=True or resize "
                    "the images before the model."
                )
        check_data_format(self, data_format)
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.fill_value = float(fill_value)
        self._box = None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def forward(self, inputs, training=False):
        _, ih, iw, _ = inputs.shape
        top, left, ch, cw = (
            aspect_crop_box(ih, iw, self.height, self.width)
            if self.crop_to_aspect_ratio
            else (0, 0, ih, iw)
        )
        self._box = (inputs.shape, top, left, ch, cw)
        return resize(
            inputs[:, top : top + ch, left : left + cw], self.height, self.width, self.interpolation
        )

    def backward(self, grad):
        shape, top, left, ch, cw = self._box
        g = resize_backward(grad, (ch, cw), self.interpolation)
        if (ch, cw) == tuple(shape[1:3]):
            return g
        out = np.zeros(shape, dtype=grad.dtype)
        out[:, top : top + ch, left : left + cw] = g
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            height=self.height,
            width=self.width,
            interpolation=self.interpolation,
            crop_to_aspect_ratio=self.crop_to_aspect_ratio,
            pad_to_aspect_ratio=False,
            fill_mode="constant",
            fill_value=self.fill_value,
            antialias=False,
            data_format="channels_last",
        )
        return config


class CropMixin:
    """What CenterCrop and RandomCrop share: a (height, width) output cut from the input,
    or (when the input is too small) its centred crop to the target aspect ratio, resized;
    backward puts the gradient back where the crop came from."""

    def _set_crop_args(self, height, width, data_format):
        self.height = check_positive_int(self, "height", height)
        self.width = check_positive_int(self, "width", width)
        check_data_format(self, data_format)
        self._box = None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def _crop(self, inputs, top=None, left=None):
        """The window at (top, left); without them, the aspect crop resized."""
        if top is not None:
            self._box = (inputs.shape, top, left, self.height, self.width, False)
            return inputs[:, top : top + self.height, left : left + self.width]
        top, left, ch, cw = aspect_crop_box(*inputs.shape[1:3], self.height, self.width)
        self._box = (inputs.shape, top, left, ch, cw, True)
        return resize(inputs[:, top : top + ch, left : left + cw], self.height, self.width)

    def backward(self, grad):
        shape, top, left, ch, cw, resized = self._box
        if resized:
            grad = resize_backward(grad, (ch, cw))
        out = np.zeros(shape, dtype=grad.dtype)
        out[:, top : top + ch, left : left + cw] = grad
        return out

    def get_config(self):
        config = super().get_config()
        config.update(height=self.height, width=self.width, data_format="channels_last")
        return config


class CenterCrop(CropMixin, ImageLayer):
    """Cut the central (height, width) window (in training and inference).

    An input smaller than the window in either direction is instead cropped to the target
    aspect ratio and resized (bilinear) to (height, width), as Keras.

    Example:
        >>> import numpy as np
        >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
        >>> CenterCrop(2, 2)(x)[0, :, :, 0]
        array([[ 5.,  6.],
               [ 9., 10.]], dtype=float32)
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self._set_crop_args(height, width, data_format)

    def forward(self, inputs, training=False):
        _, ih, iw, _ = inputs.shape
        if ih >= self.height and iw >= self.width:
            return self._crop(inputs, (ih - self.height) // 2, (iw - self.width) // 2)
        return self._crop(inputs)
