"""What the image preprocessing layers share: argument checks, the seed, the training switch.

Random layers draw from their own generator when built with ``seed=`` (its state is saved by
``BackupAndRestore``), else from :func:`filterbank.backend.rng`, so
``keras.utils.set_random_seed`` fixes them. They change images only when called with
``training=True`` (``fit`` does); in ``evaluate``/``predict`` they pass images through.
"""

from __future__ import annotations

import numbers

import numpy as np

from ... import backend
from ...errors import unknown_name
from ...ops.affine import FILL_MODES, INTERPOLATIONS
from ..base import Layer


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def check_positive_int(layer: Layer, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"Layer '{layer.name}' argument {name} expects a positive integer (pixels), "
            f"got {value!r}."
        )
    return int(value)


def check_seed(layer: Layer, seed):
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
    ):
        raise ValueError(
            f"Layer '{layer.name}' argument seed expects a non-negative integer or None, "
            f"got {seed!r}."
        )
    return None if seed is None else int(seed)


def base_factor(layer: Layer, value, name: str, bounds, meaning: str):
    """Keras's ``factor`` rule: a number f -> (max(-|f|, lo), |f|); a pair -> sorted.

    As Keras 3, a pair is refused only when it lies wholly outside [lo, hi].
    """
    lo, hi = bounds
    expected = (
        f"Layer '{layer.name}' argument {name} expects a number or a pair (lower, upper) in "
        f"[{lo}, {hi}] ({meaning}), got {value!r}."
    )
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or not all(_is_number(v) for v in value):
            raise ValueError(expected + " Pass e.g. 0.1 or (-0.1, 0.2).")
        if value[0] > hi or value[1] < lo:
            raise ValueError(expected)
        return tuple(float(v) for v in sorted(value))
    if not _is_number(value) or not lo <= value <= hi:
        raise ValueError(expected + " Pass e.g. 0.1 or (-0.1, 0.2).")
    f = abs(float(value))
    return max(-f, float(lo)), f


def range_factor(layer: Layer, value, name: str, open_low: bool, meaning: str):
    """RandomTranslation/RandomZoom's rule: every number in [-1, 1] (zoom: (-1, 1])."""
    low = "(-1" if open_low else "[-1"
    expected = (
        f"Layer '{layer.name}' argument {name} expects a number or a pair (lower, upper) in "
        f"{low}, 1] ({meaning}), got {value!r}."
    )

    def ok(v):
        return _is_number(v) and (-1 < v if open_low else -1 <= v) and v <= 1

    if isinstance(value, (tuple, list)):
        if len(value) != 2 or not all(ok(v) for v in value):
            raise ValueError(expected)
        return tuple(float(v) for v in sorted(value))
    if not ok(value):
        raise ValueError(expected)
    f = abs(float(value))
    return -f, f


def as_config_value(value):
    """Tuples become lists (JSON); everything else stays."""
    return list(value) if isinstance(value, tuple) else value


class ImageLayer(Layer):
    """A layer on NHWC image batches (4 dims)."""

    expected_ndim = 4
    axes = "(batch, height, width, channels)"

    def compute_output_shape(self, input_shape):
        return input_shape


class RandomImageLayer(ImageLayer):
    """An augmentation layer: random in training, identity in inference, seeded."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = check_seed(self, seed)
        self._generator = None if self.seed is None else np.random.default_rng(self.seed)
        self._active = False

    @property
    def generator(self) -> np.random.Generator:
        """Where the random draws come from (read each call: set_random_seed replaces it)."""
        return self._generator if self._generator is not None else backend.rng()

    def uniform(self, low, high, size):
        return self.generator.uniform(low, high, size)

    def forward(self, inputs, training=False):
        self._active = bool(training)
        if not training:
            return inputs
        return self.augment(inputs)

    def backward(self, grad):
        if not self._active:
            return grad
        return self.augment_backward(grad)

    def augment(self, images):
        raise NotImplementedError

    def augment_backward(self, grad):
        raise NotImplementedError

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config


class WarpLayer(RandomImageLayer):
    """Rotation/translation/zoom: one affine warp (``ops.affine``) with fill_mode/interpolation."""

    def __init__(
        self,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        data_format=None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        where = f"Layer '{self.name}' argument"
        if fill_mode not in FILL_MODES:
            raise unknown_name("fill_mode", fill_mode, FILL_MODES, f"{where} fill_mode")
        if interpolation not in INTERPOLATIONS:
            raise unknown_name(
                "interpolation", interpolation, INTERPOLATIONS, f"{where} interpolation"
            )
        if not _is_number(fill_value):
            raise ValueError(f"{where} fill_value expects a number, got {fill_value!r}.")
        check_data_format(self, data_format)
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = float(fill_value)
        self._plan = None

    def transforms(self, batch: int, height: int, width: int) -> np.ndarray:
        raise NotImplementedError

    def augment(self, images):
        from ...ops.affine import affine_plan, apply_plan

        b, h, w, _ = images.shape
        self._plan = affine_plan(
            images.shape, self.transforms(b, h, w), self.interpolation, self.fill_mode
        )
        return apply_plan(images, self._plan, self.fill_value)

    def augment_backward(self, grad):
        from ...ops.affine import apply_plan_adjoint

        return apply_plan_adjoint(grad, self._plan)

    def get_config(self):
        config = super().get_config()
        config.update(
            fill_mode=self.fill_mode,
            interpolation=self.interpolation,
            fill_value=self.fill_value,
            data_format="channels_last",
        )
        return config


def check_data_format(layer: Layer, data_format):
    if data_format not in (None, "channels_last"):
        raise ValueError(
            f"Layer '{layer.name}' argument data_format: filterbank is channels-last only "
            f"(NHWC), got {data_format!r}. Remove data_format or pass 'channels_last'."
        )
