"""Shape-only layers: Flatten, Reshape, ZeroPadding2D (no weights).

Example:
    >>> import numpy as np
    >>> from filterbank import layers
    >>> layers.Flatten()(np.zeros((2, 3, 3, 64), "float32")).shape
    (2, 576)
    >>> layers.Reshape((4, -1))(np.zeros((2, 12), "float32")).shape
    (2, 4, 3)
    >>> layers.ZeroPadding2D(1)(np.ones((1, 2, 2, 1), "float32"))[0, :, :, 0]
    array([[0., 0., 0., 0.],
           [0., 1., 1., 0.],
           [0., 1., 1., 0.],
           [0., 0., 0., 0.]], dtype=float32)
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import fmt_shape
from .base import Layer
from .pooling import check_data_format


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


class Flatten(Layer):
    """Flatten every axis but the batch: (batch, d1, ..., dk) -> (batch, d1 * ... * dk).

    Channels-last order, so it matches Keras's Flatten on the same weights.

    Example:
        >>> import filterbank as keras
        >>> from filterbank import layers
        >>> layers.Flatten()(keras.Input(shape=(3, 3, 128))).shape
        (None, 1152)
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(self.name, data_format)

    def check_input_shape(self, shape, index=0):
        if len(shape) < 1:
            raise ValueError(
                f"Input {index} of layer '{self.name}' expects a batch axis, got shape "
                f"{fmt_shape(shape)}."
            )

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)

    def forward(self, inputs, training=False):
        self._input_shape = inputs.shape
        return inputs.reshape(inputs.shape[0], -1)

    def backward(self, grad):
        return grad.reshape(self._input_shape)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (batch axis kept); one entry may be -1.

    Shapes: (batch, *in_shape) -> (batch, *target_shape), same number of values per sample.

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.Reshape((28, 28, 1))(np.zeros((5, 784), "float32")).shape
        (5, 28, 28, 1)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        if _is_int(target_shape):
            target_shape = (target_shape,)
        try:
            target = tuple(target_shape)
        except TypeError:
            target = None
        if target is None or not all(_is_int(d) and (d >= 1 or d == -1) for d in target):
            raise ValueError(
                f"Layer '{self.name}' argument target_shape expects a tuple of positive integers "
                f"(one of them may be -1), got {target_shape!r}. Pass e.g. "
                "target_shape=(28, 28, 1) (without the batch axis)."
            )
        if sum(d == -1 for d in target) > 1:
            raise ValueError(
                f"Layer '{self.name}' argument target_shape may hold at most one -1 (the size to "
                f"infer), got {target}. Give all sizes but one."
            )
        self.target_shape = tuple(int(d) for d in target)

    def _resolve(self, input_shape):
        """The target shape with -1 filled in, checked against the input's values per sample."""
        rest = input_shape[1:]
        if any(d is None for d in rest):
            if -1 in self.target_shape:
                return tuple(None if d == -1 else d for d in self.target_shape)
            return self.target_shape
        size = math.prod(rest)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            ok = size % known == 0
            target = tuple(size // known if d == -1 else d for d in self.target_shape)
        else:
            ok = size == known
            target = self.target_shape
        if not ok:
            wanted = f"a multiple of {known}" if -1 in self.target_shape else str(known)
            raise ValueError(
                f"Layer '{self.name}' cannot reshape input of shape {fmt_shape(input_shape)} "
                f"({size} values per sample) to target_shape {self.target_shape} ({wanted} values "
                "per sample). Make the product of target_shape equal the product of the input's "
                "non-batch sizes, or put -1 in one place to infer it."
            )
        return target

    def build(self, input_shape):
        self._resolve(input_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self._resolve(input_shape))

    def forward(self, inputs, training=False):
        self._input_shape = inputs.shape
        return inputs.reshape((inputs.shape[0], *self._resolve(inputs.shape)))

    def backward(self, grad):
        return grad.reshape(self._input_shape)

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = self.target_shape
        return config


class ZeroPadding2D(Layer):
    """Add rows and columns of zeros: (batch, H, W, C) -> (batch, H + t + b, W + l + r, C).

    ``padding``: an int (all sides), (pad_height, pad_width) (symmetric), or
    ((top, bottom), (left, right)).

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.ZeroPadding2D(((1, 0), (2, 3)))(np.ones((1, 2, 2, 1))).shape
        (1, 3, 7, 1)
    """

    expected_ndim = 4
    axes = "(batch, height, width, channels)"

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = self._parse(padding)
        self.data_format = check_data_format(self.name, data_format)

    def _parse(self, padding):
        def bad():
            return ValueError(
                f"Layer '{self.name}' argument padding expects a non-negative int, a pair "
                "(pad_height, pad_width) or ((top, bottom), (left, right)), got "
                f"{padding!r}. Pass e.g. padding=1 or padding=((1, 0), (1, 0))."
            )

        if _is_int(padding):
            pairs = ((padding, padding), (padding, padding))
        else:
            try:
                items = tuple(padding)
            except TypeError:
                raise bad() from None
            if len(items) != 2:
                raise bad()
            if all(_is_int(v) for v in items):
                pairs = ((items[0], items[0]), (items[1], items[1]))
            else:
                try:
                    pairs = tuple(tuple(p) for p in items)
                except TypeError:
                    raise bad() from None
        if not all(len(p) == 2 and all(_is_int(v) and v >= 0 for v in p) for p in pairs):
            raise bad()
        return tuple(tuple(int(v) for v in p) for p in pairs)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (t, b), (l, r) = self.padding
        return (n, None if h is None else h + t + b, None if w is None else w + l + r, c)

    def forward(self, inputs, training=False):
        (t, b), (l, r) = self.padding
        n, h, w, c = inputs.shape
        out = np.zeros((n, h + t + b, w + l + r, c), dtype=inputs.dtype)
        out[:, t : t + h, l : l + w] = inputs
        return out

    def backward(self, grad):
        (t, b), (l, r) = self.padding
        return np.ascontiguousarray(grad[:, t : grad.shape[1] - b, l : grad.shape[2] - r])

    def get_config(self):
        config = super().get_config()
        config.update(padding=self.padding, data_format=self.data_format)
        return config
