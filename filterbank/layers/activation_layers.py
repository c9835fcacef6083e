"""Activation layers with arguments: ReLU, LeakyReLU, Softmax (any input shape).

Example:
    >>> import numpy as np
    >>> from filterbank import layers
    >>> layers.ReLU(max_value=10, negative_slope=0.5)(np.array([-10, -5, 0.0, 5, 10, 20]))
    array([-5. , -2.5,  0. ,  5. , 10. , 10. ], dtype=float32)
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import activations as _activations
from ..ops import activations as _ops
from .base import Layer
from .core import ActivationMixin


def _is_number(v) -> bool:
    # NaN compares false with everything, so "< 0" checks let it through: refuse it here.
    return (
        isinstance(v, (int, float, np.integer, np.floating))
        and not isinstance(v, bool)
        and not np.isnan(v)
    )


class ReLU(Layer):
    """Rectified linear unit with Keras's options, elementwise on any shape::

        f(x) = max_value                     if x >= max_value
        f(x) = x                             if threshold < x < max_value
        f(x) = negative_slope * (x - threshold)  otherwise

    Args:
        max_value: float >= 0 or None (no cap).
        negative_slope: float >= 0, the slope below the threshold.
        threshold: float >= 0.

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.ReLU(threshold=1.0)(np.array([0.5, 1.5]))
        array([0. , 1.5], dtype=float32)
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and (not _is_number(max_value) or max_value < 0):
            raise ValueError(
                f"Layer '{self.name}' argument max_value expects a number >= 0 or None, got "
                f"{max_value!r}. Use max_value=6.0 for ReLU6, or None for no cap."
            )
        for arg, value in (("negative_slope", negative_slope), ("threshold", threshold)):
            if not _is_number(value) or value < 0:
                raise ValueError(
                    f"Layer '{self.name}' argument {arg} expects a number >= 0, got {value!r}."
                )
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = float(negative_slope)
        self.threshold = float(threshold)

    @property
    def _plain(self) -> bool:
        return self.max_value is None and self.negative_slope == 0 and self.threshold == 0

    def forward(self, inputs, training=False):
        self._x = inputs
        if self._plain:
            y = _ops.relu_forward(inputs)
        else:
            dt = inputs.dtype.type
            below = (
                dt(self.negative_slope) * (inputs - dt(self.threshold))
                if self.negative_slope
                else dt(0)
            )
            y = np.where(inputs > dt(self.threshold), inputs, below)
            y = y.astype(inputs.dtype, copy=False)
            if self.max_value is not None:
                np.minimum(y, dt(self.max_value), out=y)
        self._y = y
        return y

    def backward(self, grad):
        x, y = self._x, self._y
        if self._plain:
            return _ops.relu_backward(grad, x, y)
        dt = grad.dtype.type
        slope = np.where(x > dt(self.threshold), dt(1), dt(self.negative_slope))
        if self.max_value is not None:
            slope = slope * (y < dt(self.max_value))
        return (grad * slope).astype(grad.dtype, copy=False)

    def get_config(self):
        config = super().get_config()
        config.update(
            max_value=self.max_value, negative_slope=self.negative_slope, threshold=self.threshold
        )
        return config


class LeakyReLU(Layer):
    """``f(x) = x if x > 0 else negative_slope * x`` (Keras 3 default slope 0.3).

    ``alpha=`` (the Keras 2 name) is accepted with a deprecation warning.

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.LeakyReLU()(np.array([-1.0, 2.0]))
        array([-0.3,  2. ], dtype=float32)
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn(
                "LeakyReLU argument `alpha` is deprecated; use `negative_slope`.",
                DeprecationWarning,
                stacklevel=2,
            )
        super().__init__(**kwargs)
        if not _is_number(negative_slope) or negative_slope < 0:
            raise ValueError(
                f"Layer '{self.name}' argument negative_slope expects a number >= 0, got "
                f"{negative_slope!r}. Pass e.g. negative_slope=0.3."
            )
        self.negative_slope = float(negative_slope)

    def forward(self, inputs, training=False):
        self._x = inputs
        return _ops.leaky_relu_forward(inputs, inputs.dtype.type(self.negative_slope))

    def backward(self, grad):
        return _ops.leaky_relu_backward(grad, self._x, None, grad.dtype.type(self.negative_slope))

    def get_config(self):
        config = super().get_config()
        config["negative_slope"] = self.negative_slope
        return config


class Softmax(ActivationMixin, Layer):
    """Softmax over ``axis`` (default the last): each slice along it sums to 1.

    Ending a model in ``Softmax()`` is the same as ``Dense(..., activation="softmax")``
    for the training engine: ``activation`` is :data:`filterbank.activations.softmax`
    (last axis only) and :meth:`backward_preactivation` takes dLoss/dlogits, so
    softmax + cross-entropy is fused the same way.

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.Softmax()(np.log(np.array([[1.0, 3.0]])))
        array([[0.25, 0.75]], dtype=float32)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        ok = isinstance(axis, (int, np.integer)) and not isinstance(axis, bool)
        if not ok and isinstance(axis, (tuple, list)) and axis:
            ok = all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis)
        if not ok:
            raise ValueError(
                f"Layer '{self.name}' argument axis expects an integer or a tuple of integers, "
                f"got {axis!r}. Pass e.g. axis=-1."
            )
        if isinstance(axis, (int, np.integer)):
            self.axis = int(axis)
        else:
            self.axis = tuple(int(a) for a in axis)
        # The engine fuses softmax + cross-entropy when `activation` is softmax: only valid
        # for the last axis, which is what the losses normalize over.
        if self.axis == -1:
            self.activation = _activations.softmax
        else:
            self.activation = _activations.Activation(
                f"softmax_axis_{self.axis}", self._softmax, self._softmax_backward
            )

    def _softmax(self, x):
        return _ops.softmax_forward(x, axis=self.axis)

    def _softmax_backward(self, grad, x, y):
        return _ops.softmax_backward(grad, x, y, axis=self.axis)

    def check_input_shape(self, shape, index=0):
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        for a in axes:
            if not -len(shape) <= a < len(shape):
                raise ValueError(
                    f"Input {index} of layer '{self.name}' has {len(shape)} dims (shape "
                    f"{tuple(shape)}), so axis={a} does not exist. Use axis=-1 for the last axis."
                )

    def forward(self, inputs, training=False):
        # `_z` (the logits) and `_y` follow ActivationMixin: the engine's fused
        # softmax + cross-entropy reads the logits from `_z`.
        self._z = inputs
        self._y = self._softmax(inputs)
        return self._y

    def backward(self, grad):
        return self._softmax_backward(grad, None, self._y)

    def backward_preactivation(self, grad_z):
        """dLoss/dInput given dLoss/d(logits): the logits are this layer's input."""
        return grad_z

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config
