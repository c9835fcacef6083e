"""Dropout: inverted dropout, active only when ``training=True``.

Example:
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> keras.utils.set_random_seed(0)
    >>> drop = layers.Dropout(0.5)
    >>> drop(np.ones((1, 6), "float32"), training=True)   # kept units scaled by 1/(1-rate)
    array([[2., 2., 2., 0., 0., 0.]], dtype=float32)
    >>> drop(np.ones((1, 6), "float32"))                   # inference: identity
    array([[1., 1., 1., 1., 1., 1.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..errors import fmt_shape
from .base import Layer


class Dropout(Layer):
    """Zero each input unit with probability ``rate`` in training, scale the rest by 1/(1-rate).

    Args:
        rate: float in [0, 1], the fraction of units dropped.
        noise_shape: shape of the mask, broadcast against the input (None entries take the
            input's size), e.g. (None, 1, 1, C) drops whole channels of an NHWC map.
        seed: an int gives this layer its own generator; None draws from
            :func:`filterbank.backend.rng`, so ``keras.utils.set_random_seed`` fixes it.

    Shapes: any input; output like the input.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if (
            isinstance(rate, bool)
            or not isinstance(rate, (int, float, np.integer, np.floating))
            or not 0 <= rate <= 1
        ):
            raise ValueError(
                f"Layer '{self.name}' argument rate expects a number between 0 and 1 (the fraction "
                f"of units to drop), got {rate!r}. Pass e.g. rate=0.5."
            )
        self.rate = float(rate)
        self.noise_shape = self._check_noise_shape(noise_shape)
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise ValueError(
                f"Layer '{self.name}' argument seed expects a non-negative integer or None, "
                f"got {seed!r}."
            )
        self.seed = None if seed is None else int(seed)
        self._generator = None if seed is None else np.random.default_rng(self.seed)
        self._mask = None

    def _check_noise_shape(self, noise_shape):
        if noise_shape is None:
            return None
        try:
            dims = tuple(noise_shape)
        except TypeError:
            dims = None

        def positive(d):
            return isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1

        if (
            isinstance(noise_shape, str)
            or dims is None
            or not all(d is None or positive(d) for d in dims)
        ):
            raise ValueError(
                f"Layer '{self.name}' argument noise_shape expects a tuple of positive integers or "
                f"None, got {noise_shape!r}. Pass e.g. noise_shape=(None, 1, 1, 32)."
            )
        return tuple(None if d is None else int(d) for d in dims)

    @property
    def generator(self) -> np.random.Generator:
        """The generator masks come from (read at each call: set_random_seed replaces it)."""
        return self._generator if self._generator is not None else backend.rng()

    def _mask_shape(self, shape):
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape):
            raise ValueError(
                f"Layer '{self.name}' noise_shape {self.noise_shape} has {len(self.noise_shape)} "
                f"dims but the input has shape {fmt_shape(shape)}. Give one entry per input axis "
                "(None keeps the input's size)."
            )
        out = tuple(n if d is None else d for d, n in zip(self.noise_shape, shape))
        if any(d not in (1, n) for d, n in zip(out, shape)):
            raise ValueError(
                f"Layer '{self.name}' noise_shape {self.noise_shape} does not broadcast to the "
                f"input shape {fmt_shape(shape)}: each entry must be 1, None or the input's size."
            )
        return out

    def forward(self, inputs, training=False):
        if not training or self.rate == 0:
            self._mask = None
            return inputs
        shape = self._mask_shape(inputs.shape)
        if self.rate >= 1:
            self._mask = np.zeros(shape, dtype=inputs.dtype)
        else:
            dt = inputs.dtype if inputs.dtype in (np.float32, np.float64) else np.float64
            keep = self.generator.random(shape, dtype=dt) >= self.rate
            self._mask = keep * inputs.dtype.type(1.0 / (1.0 - self.rate))
        return inputs * self._mask

    def backward(self, grad):
        if self._mask is None:
            return grad
        return grad * self._mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=self.noise_shape, seed=self.seed)
        return config
