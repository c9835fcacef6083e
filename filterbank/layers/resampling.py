"""UpSampling1D/2D, Cropping1D/2D and ZeroPadding1D (no weights; Keras 3 arguments).

Upsampling math in :mod:`filterbank.ops.resize`; cropping and padding are slices.

Example:
    >>> import numpy as np
    >>> from filterbank import layers
    >>> layers.UpSampling2D((2, 3))(np.zeros((1, 4, 5, 2), "float32")).shape
    (1, 8, 15, 2)
    >>> layers.Cropping2D(((1, 0), (2, 1)))(np.zeros((1, 4, 5, 2), "float32")).shape
    (1, 3, 2, 2)
    >>> layers.ZeroPadding1D((1, 2))(np.ones((1, 2, 1), "float32"))[0, :, 0]
    array([0., 1., 1., 0., 0.], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from ..errors import fmt_shape, unknown_name
from ..ops import resize as _resize
from .base import Layer
from .pooling import check_data_format


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _pairs(layer, arg, value, rank, example):
    """Keras's cropping/padding forms: an int, one int per axis, or (before, after) per axis.

    For rank 1 the forms are an int or (before, after).
    """

    def bad():
        return ValueError(
            f"Layer '{layer.name}' argument {arg} expects a non-negative int"
            + (
                ", a pair (before, after)"
                if rank == 1
                else ", a pair (height, width) or ((top, bottom), (left, right))"
            )
            + f", got {value!r}. Pass e.g. {arg}={example}."
        )

    if _is_int(value):
        pairs = ((value, value),) * rank
    else:
        try:
            items = tuple(value)
        except TypeError:
            raise bad() from None
        if rank == 1:
            pairs = (items,)
        elif len(items) == rank and all(_is_int(v) for v in items):
            pairs = tuple((v, v) for v in items)
        else:
            try:
                pairs = tuple(tuple(p) for p in items)
            except TypeError:
                raise bad() from None
    if len(pairs) != rank or not all(
        len(p) == 2 and all(_is_int(v) and v >= 0 for v in p) for p in pairs
    ):
        raise bad()
    return tuple(tuple(int(v) for v in p) for p in pairs)


def _positive_sizes(layer, arg, value, rank):
    if _is_int(value):
        value = (value,) * rank
    ok = (
        isinstance(value, (tuple, list))
        and len(value) == rank
        and all(_is_int(v) and v >= 1 for v in value)
    )
    if not ok:
        raise ValueError(
            f"Layer '{layer.name}' argument {arg} expects a positive integer"
            + ("" if rank == 1 else f" or a tuple of {rank} positive integers")
            + f", got {value!r}. Pass e.g. {arg}=2."
        )
    return tuple(int(v) for v in value)


class UpSampling2D(Layer):
    """Repeat (or interpolate) rows and columns: (batch, H, W, C) -> (batch, H*sh, W*sw, C).

    Args:
        size: an int or (sh, sw), the upsampling factors.
        interpolation: "nearest" (repeat) or "bilinear" (Keras 3's image resize: half-pixel
            centres, edges clamped, no antialiasing).

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> x = np.array([[1.0, 2.0], [3.0, 4.0]], "float32").reshape(1, 2, 2, 1)
        >>> layers.UpSampling2D(2)(x)[0, :, :, 0]
        array([[1., 1., 2., 2.],
               [1., 1., 2., 2.],
               [3., 3., 4., 4.],
               [3., 3., 4., 4.]], dtype=float32)
    """

    expected_ndim = 4
    axes = "(batch, height, width, channels)"

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = _positive_sizes(self, "size", size, 2)
        self.data_format = check_data_format(self.name, data_format)
        key = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if key in ("bicubic", "lanczos3", "lanczos5", "area"):
            raise ValueError(
                f"Layer '{self.name}' argument interpolation={interpolation!r} is a Keras option "
                "filterbank does not implement; use 'nearest' or 'bilinear'."
            )
        if key not in _resize.INTERPOLATIONS:
            raise unknown_name(
                "interpolation",
                interpolation,
                _resize.INTERPOLATIONS,
                where=f"Layer '{self.name}' argument interpolation",
            )
        self.interpolation = key

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        sh, sw = self.size
        return (n, None if h is None else h * sh, None if w is None else w * sw, c)

    def forward(self, inputs, training=False):
        y, self._cache = _resize.upsample2d_forward(inputs, self.size, self.interpolation)
        return y

    def backward(self, grad):
        return _resize.upsample2d_backward(grad, self._cache)

    def get_config(self):
        config = super().get_config()
        config.update(
            size=self.size, data_format=self.data_format, interpolation=self.interpolation
        )
        return config


class UpSampling1D(Layer):
    """Repeat each step ``size`` times: (batch, steps, C) -> (batch, steps*size, C).

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.UpSampling1D(3)(np.array([[[1.0], [2.0]]], "float32"))[0, :, 0]
        array([1., 1., 1., 2., 2., 2.], dtype=float32)
    """

    expected_ndim = 3
    axes = "(batch, steps, channels)"

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = _positive_sizes(self, "size", size, 1)[0]

    def compute_output_shape(self, input_shape):
        n, steps, c = input_shape
        return (n, None if steps is None else steps * self.size, c)

    def forward(self, inputs, training=False):
        y, self._cache = _resize.upsample1d_forward(inputs, self.size)
        return y

    def backward(self, grad):
        return _resize.upsample1d_backward(grad, self._cache)

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size
        return config


class _Cropping(Layer):
    """Shared by Cropping1D / Cropping2D: cut ``cropping`` cells off each spatial axis."""

    def _cropped(self, shape):
        out = []
        for n, (a, b), axis in zip(shape[1:-1], self.cropping, self.spatial):
            if n is not None and a + b >= n:
                raise ValueError(
                    f"Layer '{self.name}' cannot crop {a} + {b} cells from {axis} {n} of input "
                    f"shape {fmt_shape(shape)}: nothing would remain. Crop fewer cells "
                    f"(at most {n - 1} in all along {axis})."
                )
            out.append(None if n is None else n - a - b)
        return out

    def check_input_shape(self, shape, index=0):
        super().check_input_shape(shape, index)
        self._cropped(shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self._cropped(input_shape), input_shape[-1])

    def _slices(self, shape):
        return (
            (slice(None),)
            + tuple(slice(a, n - b) for n, (a, b) in zip(shape[1:-1], self.cropping))
            + (slice(None),)
        )

    def forward(self, inputs, training=False):
        self._cropped(inputs.shape)
        self._input_shape = inputs.shape
        return np.ascontiguousarray(inputs[self._slices(inputs.shape)])

    def backward(self, grad):
        dx = np.zeros(self._input_shape, dtype=grad.dtype)
        dx[self._slices(self._input_shape)] = grad
        return dx


class Cropping2D(_Cropping):
    """Cut rows and columns off the edges: (batch, H, W, C) -> (batch, H-t-b, W-l-r, C).

    ``cropping``: an int (all sides), (rows, cols) (symmetric) or ((top, bottom),
    (left, right)).

    Example:
        >>> import filterbank as keras
        >>> keras.layers.Cropping2D(((2, 2), (4, 4)))(keras.Input(shape=(28, 28, 3))).shape
        (None, 24, 20, 3)
    """

    expected_ndim = 4
    axes = "(batch, height, width, channels)"
    spatial = ("height", "width")

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(self, "cropping", cropping, 2, "((1, 1), (2, 2))")
        self.data_format = check_data_format(self.name, data_format)

    def get_config(self):
        config = super().get_config()
        config.update(cropping=self.cropping, data_format=self.data_format)
        return config


class Cropping1D(_Cropping):
    """Cut steps off the start and end: (batch, steps, C) -> (batch, steps-a-b, C).

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.Cropping1D((1, 2))(np.arange(5.0).reshape(1, 5, 1))[0, :, 0]
        array([1., 2.], dtype=float32)
    """

    expected_ndim = 3
    axes = "(batch, steps, channels)"
    spatial = ("steps",)

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(self, "cropping", cropping, 1, "(1, 1)")

    def get_config(self):
        config = super().get_config()
        config["cropping"] = self.cropping[0]
        return config


class ZeroPadding1D(Layer):
    """Add zeros at the start and end of the steps: (batch, L, C) -> (batch, L+a+b, C).

    ``padding``: an int (both ends) or (before, after).

    Example:
        >>> import filterbank as keras
        >>> keras.layers.ZeroPadding1D(2)(keras.Input(shape=(10, 4))).shape
        (None, 14, 4)
    """

    expected_ndim = 3
    axes = "(batch, steps, channels)"

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(self, "padding", padding, 1, "1 or (1, 2)")[0]
        self.data_format = check_data_format(self.name, data_format)

    def compute_output_shape(self, input_shape):
        n, steps, c = input_shape
        return (n, None if steps is None else steps + sum(self.padding), c)

    def forward(self, inputs, training=False):
        a, b = self.padding
        n, steps, c = inputs.shape
        out = np.zeros((n, steps + a + b, c), dtype=inputs.dtype)
        out[:, a : a + steps] = inputs
        return out

    def backward(self, grad):
        a, b = self.padding
        return np.ascontiguousarray(grad[:, a : grad.shape[1] - b])

    def get_config(self):
        config = super().get_config()
        config.update(padding=self.padding, data_format=self.data_format)
        return config
