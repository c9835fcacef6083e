"""Random augmentation layers (Keras 3's arguments and formulas), active only in training.

Example:
    >>> import numpy as np
    >>> from filterbank import layers
    >>> flip = layers.RandomFlip("horizontal", seed=2)
    >>> x = np.arange(3, dtype="float32").reshape(1, 1, 3, 1)
    >>> flip(x)[0, 0, :, 0]                       # inference: unchanged
    array([0., 1., 2.], dtype=float32)
    >>> flip(x, training=True)[0, 0, :, 0]        # training: mirrored with probability 1/2
    array([2., 1., 0.], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from ..._argspec import takes_base_args
from ...errors import did_you_mean
from ...ops.affine import (
    rotation_transforms,
    translation_transforms,
    zoom_transforms,
)
from .base import (
    RandomImageLayer,
    WarpLayer,
    as_config_value,
    base_factor,
    check_data_format,
    range_factor,
)
from .sizing import CropMixin

FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


class RandomFlip(RandomImageLayer):
    """Mirror each image with probability 1/2 (``mode`` says which way; one draw per image).

    Args:
        mode: "horizontal" (left-right), "vertical" (up-down) or "horizontal_and_vertical"
            (as Keras 3: one draw per image flips it both ways at once, a 180-degree turn).
        seed: int for this layer's own generator, or None (the global one).

    Example:
        >>> import numpy as np
        >>> layer = RandomFlip("vertical", seed=1)
        >>> layer(np.zeros((2, 4, 5, 3), "float32"), training=True).shape
        (2, 4, 5, 3)
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if mode not in FLIP_MODES:
            raise ValueError(
                f"Layer '{self.name}' argument mode expects one of {', '.join(FLIP_MODES)}, "
                f"got {mode!r}. {did_you_mean(str(mode), FLIP_MODES)}"
            )
        check_data_format(self, data_format)
        self.mode = mode
        self._flips = None

    def _apply(self, x):
        f = self._flips[:, None, None, None]
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            x = np.where(f, x[:, :, ::-1], x)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            x = np.where(f, x[:, ::-1], x)
        return x

    def augment(self, images):
        self._flips = self.uniform(0.0, 1.0, images.shape[0]) <= 0.5
        return self._apply(images)

    def augment_backward(self, grad):
        return self._apply(grad)  # a flip is its own inverse and its own transpose

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, data_format="channels_last")
        return config


@takes_base_args
class RandomRotation(WarpLayer):
    """Rotate each image by a random angle about its centre.

    Args:
        factor: fraction of a full turn: a number f draws angles in [-f*360, f*360] degrees,
            a pair (lo, hi) in [lo*360, hi*360]; within [-1, 1] (as Keras). Positive turns
            counter-clockwise.
        fill_mode: how the corners outside the turned image are filled: "reflect" (default),
            "wrap", "constant" (``fill_value``) or "nearest".
        interpolation: "bilinear" (default) or "nearest".
        seed, fill_value: as their names say.

    Example:
        >>> import numpy as np
        >>> layer = RandomRotation(0.1, seed=0)       # up to +-36 degrees
        >>> layer(np.ones((2, 8, 8, 1), "float32"), training=True).shape
        (2, 8, 8, 1)
    """

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = base_factor(
            self, factor, "factor", (-1, 1), "a fraction of a full turn: 0.1 is +-36 degrees"
        )

    def transforms(self, batch, height, width):
        angles = self.uniform(self.factor[0] * 360.0, self.factor[1] * 360.0, batch)
        return rotation_transforms(angles, height, width)

    def get_config(self):
        config = super().get_config()
        config["factor"] = list(self.factor)
        return config


@takes_base_args
class RandomTranslation(WarpLayer):
    """Shift each image by a random fraction of its height and width.

    Args:
        height_factor: a number f shifts by up to +-f*height pixels (down is positive); a
            pair (lo, hi) by [lo*height, hi*height]; within [-1, 1].
        width_factor: the same along the width (right is positive).
        fill_mode, interpolation, seed, fill_value: as :class:`RandomRotation`.

    Example:
        >>> import numpy as np
        >>> layer = RandomTranslation(0.2, (-0.1, 0.1), seed=0)
        >>> layer(np.ones((1, 10, 10, 3), "float32"), training=True).shape
        (1, 10, 10, 3)
    """

    def __init__(self, height_factor, width_factor, **kwargs):
        super().__init__(**kwargs)
        self.height_factor = as_config_value(height_factor)
        self.width_factor = as_config_value(width_factor)
        self.height_range = range_factor(
            self, height_factor, "height_factor", False, "a fraction of the height"
        )
        self.width_range = range_factor(
            self, width_factor, "width_factor", False, "a fraction of the width"
        )

    def transforms(self, batch, height, width):
        dy = self.uniform(*self.height_range, batch) * height
        dx = self.uniform(*self.width_range, batch) * width
        return translation_transforms(dy, dx)

    def get_config(self):
        config = super().get_config()
        config.update(height_factor=self.height_factor, width_factor=self.width_factor)
        return config


@takes_base_args
class RandomZoom(WarpLayer):
    """Zoom each image in or out about its centre by a random factor.

    Args:
        height_factor: a number f draws the vertical zoom from [1 - f, 1 + f], a pair
            (lo, hi) from [1 + lo, 1 + hi]; within (-1, 1]. As Keras, a *positive* value
            zooms *out* (the picture shrinks), a negative one zooms in.
        width_factor: the same horizontally; None (default) keeps the aspect ratio (the
            vertical draw is used for both).
        fill_mode, interpolation, seed, fill_value: as :class:`RandomRotation`.

    Example:
        >>> import numpy as np
        >>> layer = RandomZoom((-0.2, 0.0), seed=0)    # zoom in by up to 20%
        >>> layer(np.ones((1, 6, 6, 1), "float32"), training=True).shape
        (1, 6, 6, 1)
    """

    def __init__(self, height_factor, width_factor=None, **kwargs):
        super().__init__(**kwargs)
        self.height_factor = as_config_value(height_factor)
        self.width_factor = as_config_value(width_factor)
        self.height_range = range_factor(
            self, height_factor, "height_factor", True, "a relative zoom"
        )
        self.width_range = (
            None
            if width_factor is None
            else range_factor(self, width_factor, "width_factor", True, "a relative zoom")
        )

    def transforms(self, batch, height, width):
        zy = self.uniform(1.0 + self.height_range[0], 1.0 + self.height_range[1], batch)
        zx = (
            zy
            if self.width_range is None
            else self.uniform(1.0 + self.width_range[0], 1.0 + self.width_range[1], batch)
        )
        return zoom_transforms(zy, zx, height, width)

    def get_config(self):
        config = super().get_config()
        config.update(height_factor=self.height_factor, width_factor=self.width_factor)
        return config


class RandomContrast(RandomImageLayer):
    """Scale each image's deviation from its per-channel mean by a random contrast factor.

    ``out = clip((x - mean) * c + mean, *value_range)``, mean over height and width per image
    and channel, one ``c`` per image drawn from ``[1 - lower, 1 + upper]``.

    Args:
        factor: a number f in [0, 1] or a pair (lower, upper). As Keras 3.15, a single number
            f gives (lower, upper) = (0, f), so c is drawn from [1, 1 + f]; pass (f, f) for
            the documented [1 - f, 1 + f].
        value_range: (min, max) the output is clipped to (default (0, 255)).
        seed: int for this layer's own generator, or None.

    Example:
        >>> import numpy as np
        >>> layer = RandomContrast((0.5, 0.5), seed=0)
        >>> layer(np.array([[[[0.], [100.]]]], "float32"), training=True).shape
        (1, 1, 2, 1)
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = base_factor(
            self, factor, "factor", (0, 1), "the largest relative change of contrast"
        )
        try:
            lo, hi = (float(v) for v in value_range)
        except (TypeError, ValueError):
            lo = hi = None
        if lo is None or not lo < hi:
            raise ValueError(
                f"Layer '{self.name}' argument value_range expects (min, max) with min < max, "
                f"got {value_range!r}. Pass e.g. (0, 255) or (0, 1)."
            )
        check_data_format(self, data_format)
        self.value_range = (lo, hi)
        self._cache = None

    def augment(self, images):
        c = self.uniform(1.0 - self.factor[0], 1.0 + self.factor[1], (images.shape[0], 1, 1, 1))
        c = c.astype(images.dtype)
        mean = images.mean(axis=(1, 2), keepdims=True)
        pre = (images - mean) * c + mean
        lo, hi = self.value_range
        self._cache = (c, (pre > lo) & (pre < hi))
        return np.clip(pre, lo, hi)

    def augment_backward(self, grad):
        c, inside = self._cache
        g = grad * inside
        return g * c + g.mean(axis=(1, 2), keepdims=True) * (1 - c)

    def get_config(self):
        config = super().get_config()
        config.update(
            factor=list(self.factor),
            value_range=list(self.value_range),
            data_format="channels_last",
        )
        return config


class RandomCrop(CropMixin, RandomImageLayer):
    """Crop a random (height, width) window in training; a centred crop-and-resize otherwise.

    As Keras 3: in training, when the input is larger than the window in both directions, one
    random window position is drawn per batch. In inference (or when the input is not larger)
    the largest centred window with the target aspect ratio is cut and resized (bilinear) to
    (height, width), so the output shape is always (height, width).

    Args:
        height, width: the output size in pixels.
        seed: int for this layer's own generator, or None.

    Example:
        >>> import numpy as np
        >>> layer = RandomCrop(4, 3, seed=0)
        >>> layer(np.ones((2, 6, 6, 1), "float32"), training=True).shape
        (2, 4, 3, 1)
    """

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self._set_crop_args(height, width, data_format)

    def forward(self, inputs, training=False):
        _, ih, iw, _ = inputs.shape
        if training and ih > self.height and iw > self.width:
            top = int(self.uniform(0, ih - self.height + 1, None))
            left = int(self.uniform(0, iw - self.width + 1, None))
            return self._crop(inputs, top, left)
        return self._crop(inputs)
