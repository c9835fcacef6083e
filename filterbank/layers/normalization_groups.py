"""LayerNormalization and GroupNormalization (Keras 3 arguments, defaults and weights).

Per-sample statistics, the same in training and inference (math in
:mod:`filterbank.ops.group_norm`). Weights ``gamma`` then ``beta`` (Keras order).

Example:
    >>> import numpy as np
    >>> from filterbank import layers
    >>> ln = layers.LayerNormalization()
    >>> np.round(ln(np.array([[1.0, 2.0, 3.0]], "float32")), 3)
    array([[-1.224,  0.   ,  1.224]], dtype=float32)
    >>> gn = layers.GroupNormalization(groups=2)
    >>> gn(np.zeros((2, 4, 4, 8), "float32")).shape, [w.shape for w in gn.get_weights()]
    ((2, 4, 4, 8), [(8,), (8,)])
"""

from __future__ import annotations

import numpy as np

from .. import initializers as _initializers
from .. import regularizers as _regularizers
from .._argspec import takes_base_args
from ..errors import fmt_shape
from ..ops import group_norm as _gn
from .base import Layer


def _check_epsilon(layer, epsilon):
    ok = (
        isinstance(epsilon, (int, float, np.integer, np.floating))
        and not isinstance(epsilon, bool)
        and epsilon > 0
    )
    if not ok:
        raise ValueError(
            f"Layer '{layer.name}' argument epsilon expects a number > 0, got {epsilon!r}. "
            "Keras's default is epsilon=1e-3."
        )
    return float(epsilon)


class _PerSampleNorm(Layer):
    """LayerNormalization and GroupNormalization: Keras's shared gamma/beta arguments,
    declared once (subclasses take them through :func:`takes_base_args`)."""

    def __init__(
        self,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.epsilon = _check_epsilon(self, epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.beta_regularizer = _regularizers.get(beta_regularizer)
        self.gamma_regularizer = _regularizers.get(gamma_regularizer)

    def _add_gamma_beta(self, shape, gamma=True, beta=True):
        if gamma:
            self.add_weight(
                "gamma", shape, self.gamma_initializer, regularizer=self.gamma_regularizer
            )
        if beta:
            self.add_weight("beta", shape, self.beta_initializer, regularizer=self.beta_regularizer)

    def _common_config(self):
        ser_i, ser_r = _initializers.serialize, _regularizers.serialize
        return dict(
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            beta_initializer=ser_i(self.beta_initializer),
            gamma_initializer=ser_i(self.gamma_initializer),
            beta_regularizer=ser_r(self.beta_regularizer),
            gamma_regularizer=ser_r(self.gamma_regularizer),
        )

    def compute_output_shape(self, input_shape):
        self._axes_of(input_shape)
        return input_shape

    def _store_grads(self, dgamma, dbeta):
        if "gamma" in self.params:
            self.grads["gamma"] = dgamma.astype(self.params["gamma"].dtype, copy=False)
        if "beta" in self.params:
            self.grads["beta"] = dbeta.astype(self.params["beta"].dtype, copy=False)


@takes_base_args
class LayerNormalization(_PerSampleNorm):
    """Normalize each sample over ``axis`` (default the last), then scale and shift.

    ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` with mean and biased variance
    over the ``axis`` axes of each sample; gamma and beta have those axes' sizes.
    ``rms_scaling=True`` is Keras 3's variant ``y = gamma * x / sqrt(var + epsilon)`` (no
    beta).

    Args:
        axis: an int or a list of ints (not the batch axis 0).
        epsilon: added to the variance (Keras's default 1e-3; PyTorch's is 1e-5).

    Example:
        >>> import filterbank as keras
        >>> layer = keras.layers.LayerNormalization(axis=[1, 2])
        >>> layer(keras.Input(shape=(4, 6))).shape, layer.count_params()
        ((None, 4, 6), 48)
    """

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        rms_scaling=False,
        **kwargs,
    ):
        super().__init__(epsilon=epsilon, center=center, scale=scale, **kwargs)
        items = axis if isinstance(axis, (list, tuple)) else [axis]
        if not items or not all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in items
        ):
            raise ValueError(
                f"Layer '{self.name}' argument axis expects an integer or a list of integers, "
                f"got {axis!r}. Pass e.g. axis=-1."
            )
        self.axis = [int(a) for a in items] if isinstance(axis, (list, tuple)) else int(axis)
        self.rms_scaling = bool(rms_scaling)

    def _axes_of(self, shape):
        ndim = len(shape)
        items = self.axis if isinstance(self.axis, list) else [self.axis]
        if not all(-ndim <= a < ndim and a % ndim != 0 for a in items):
            raise ValueError(
                f"Layer '{self.name}' has axis={self.axis}, which does not name non-batch axes "
                f"of its input shape {fmt_shape(shape)}. Use axes 1..{ndim - 1} or negative "
                "ones, e.g. axis=-1."
            )
        return tuple(sorted({a % ndim for a in items}))

    def check_input_shape(self, shape, index=0):
        axes = self._axes_of(shape)
        if self.built:
            want = self._param_shape
            got = tuple(shape[a] for a in axes)
            if len(shape) != self._rank or any(g is not None and g != w for g, w in zip(got, want)):
                raise ValueError(
                    f"Input {index} of layer '{self.name}' expects {self._rank} dims with sizes "
                    f"{want} on axis {self.axis}, got shape {fmt_shape(shape)}."
                )

    def build(self, input_shape):
        axes = self._axes_of(input_shape)
        shape = tuple(input_shape[a] for a in axes)
        if None in shape:
            raise ValueError(
                f"Layer '{self.name}' needs known sizes on axis {self.axis}, got shape "
                f"{fmt_shape(input_shape)}."
            )
        self._rank, self._param_shape = len(input_shape), shape
        self._add_gamma_beta(
            shape, self.scale or self.rms_scaling, self.center and not self.rms_scaling
        )

    def forward(self, inputs, training=False):
        self.check_input_shape(inputs.shape)
        axes = self._axes_of(inputs.shape)
        gamma, beta = self.params.get("gamma"), self.params.get("beta")
        y, self._cache = _gn.layer_norm_forward(
            inputs,
            None if gamma is None else gamma.astype(inputs.dtype, copy=False),
            None if beta is None else beta.astype(inputs.dtype, copy=False),
            axes,
            self.epsilon,
            self.rms_scaling,
        )
        return y

    def backward(self, grad):
        dx, dgamma, dbeta = _gn.layer_norm_backward(grad, self._cache)
        self._store_grads(dgamma, dbeta)
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, rms_scaling=self.rms_scaling, **self._common_config())
        return config


@takes_base_args
class GroupNormalization(_PerSampleNorm):
    """Normalize each sample per group of channels, then scale and shift per channel.

    The ``axis`` channels split into ``groups`` contiguous blocks; each block of each sample
    is normalized over its channels and every spatial position. ``groups=-1`` means one
    group per channel (instance normalization); ``groups=1`` normalizes the whole sample.

    Example:
        >>> import filterbank as keras
        >>> layer = keras.layers.GroupNormalization(groups=4)
        >>> layer(keras.Input(shape=(8, 8, 16))).shape, layer.count_params()
        ((None, 8, 8, 16), 32)
    """

    def __init__(
        self,
        groups=32,
        axis=-1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if (
            isinstance(groups, bool)
            or not isinstance(groups, (int, np.integer))
            or (groups < 1 and groups != -1)
        ):
            raise ValueError(
                f"Layer '{self.name}' argument groups expects a positive integer (or -1 for "
                f"one group per channel), got {groups!r}. Pass e.g. groups=8."
            )
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(
                f"Layer '{self.name}' argument axis expects an integer (the channel axis), got "
                f"{axis!r}. Pass e.g. axis=-1."
            )
        self.groups = int(groups)
        self.axis = int(axis)

    def _axes_of(self, shape):
        ndim = len(shape)
        if ndim < 2 or not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(
                f"Layer '{self.name}' has axis={self.axis}, which is not a channel axis of its "
                f"input shape {fmt_shape(shape)}. Use axis=-1 for channels-last data."
            )
        axis = self.axis % ndim
        c = shape[axis]
        groups = c if self.groups == -1 and c is not None else self.groups
        if c is not None and (groups > c or c % groups):
            raise ValueError(
                f"Layer '{self.name}' splits {c} channels into groups={self.groups} groups, but "
                f"the channels must divide evenly ({c} % {groups} = {c % groups})"
                f"{' and there are fewer channels than groups' if groups > c else ''}. Pick "
                f"groups among the divisors of {c}, e.g. groups={_largest_divisor(c, groups)}."
            )
        return (axis,)

    def check_input_shape(self, shape, index=0):
        (axis,) = self._axes_of(shape)
        if self.built and shape[axis] is not None and shape[axis] != self._channels:
            raise ValueError(
                f"Input {index} of layer '{self.name}' expects {self._channels} channels on "
                f"axis {self.axis}, got shape {fmt_shape(shape)}."
            )

    def build(self, input_shape):
        (axis,) = self._axes_of(input_shape)
        c = input_shape[axis]
        if c is None:
            raise ValueError(
                f"Layer '{self.name}' needs a known number of channels on axis {self.axis}, "
                f"got shape {fmt_shape(input_shape)}."
            )
        if self.groups == -1:
            self.groups = c  # as Keras: the config then says how many groups it used
        self._channels = c
        self._add_gamma_beta((c,), self.scale, self.center)

    def forward(self, inputs, training=False):
        self.check_input_shape(inputs.shape)
        (axis,) = self._axes_of(inputs.shape)
        last = axis == inputs.ndim - 1
        x = inputs if last else np.moveaxis(inputs, axis, -1)
        gamma, beta = self.params.get("gamma"), self.params.get("beta")
        y, cache = _gn.group_norm_forward(
            np.ascontiguousarray(x),
            None if gamma is None else gamma.astype(inputs.dtype, copy=False),
            None if beta is None else beta.astype(inputs.dtype, copy=False),
            self.groups,
            self.epsilon,
        )
        self._cache = (cache, axis, last)
        return y if last else np.moveaxis(y, -1, axis)

    def backward(self, grad):
        cache, axis, last = self._cache
        g = grad if last else np.moveaxis(grad, axis, -1)
        dx, dgamma, dbeta = _gn.group_norm_backward(np.ascontiguousarray(g), cache)
        self._store_grads(dgamma, dbeta)
        return dx if last else np.moveaxis(dx, -1, axis)

    def get_config(self):
        config = super().get_config()
        config.update(groups=self.groups, axis=self.axis, **self._common_config())
        return config


def _largest_divisor(c, at_most):
    return max(d for d in range(1, min(c, at_most) + 1) if c % d == 0)
