"""SpatialDropout1D / SpatialDropout2D: dropout of whole channels (feature maps).

Inverted dropout with one draw per sample and channel, broadcast over the steps or the
pixels: kept channels are scaled by 1/(1-rate); active only with ``training=True``;
seeded like :class:`~filterbank.layers.Dropout` (``seed=`` for the layer's own generator,
else the global one that ``keras.utils.set_random_seed`` fixes).

Example:
    >>> import numpy as np
    >>> import filterbank as keras
    >>> keras.utils.set_random_seed(0)
    >>> y = keras.layers.SpatialDropout2D(0.5)(np.ones((1, 2, 2, 4), "float32"), training=True)
    >>> y[0, 0, 0].tolist() == y[0, 1, 1].tolist()     # the same channels dropped everywhere
    True
"""

from __future__ import annotations

from .pooling import check_data_format
from .regularization import Dropout


class _SpatialDropout(Dropout):
    def __init__(self, rate, seed=None, **kwargs):
        if "noise_shape" in kwargs:  # the mask's shape is what this layer is
            raise TypeError(
                f"{type(self).__name__}() got an unexpected keyword argument 'noise_shape': it "
                "always drops whole channels. Use Dropout(rate, noise_shape=...) for another "
                "mask shape."
            )
        super().__init__(rate, seed=seed, **kwargs)

    def _mask_shape(self, shape):
        self.check_input_shape(shape)
        return (shape[0],) + (1,) * (len(shape) - 2) + (shape[-1],)

    def get_config(self):
        config = super().get_config()
        del config["noise_shape"]
        return config


class SpatialDropout2D(_SpatialDropout):
    """Drop whole channels of (batch, H, W, C) maps in training (one draw per sample and
    channel), scaling the rest by 1/(1-rate).

    Example:
        >>> import filterbank as keras
        >>> keras.layers.SpatialDropout2D(0.2)(keras.Input(shape=(8, 8, 16))).shape
        (None, 8, 8, 16)
    """

    expected_ndim = 4
    axes = "(batch, height, width, channels)"

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = check_data_format(self.name, data_format)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class SpatialDropout1D(_SpatialDropout):
    """Drop whole channels of (batch, steps, C) sequences in training.

    Example:
        >>> import filterbank as keras
        >>> keras.layers.SpatialDropout1D(0.2)(keras.Input(shape=(10, 4))).shape
        (None, 10, 4)
    """

    expected_ndim = 3
    axes = "(batch, steps, channels)"
