"""DepthwiseConv2D and SeparableConv2D (Keras 3 arguments, weight names and layouts).

Math in :mod:`filterbank.ops.depthwise`. DepthwiseConv2D holds ``kernel`` (kh, kw, in,
depth_multiplier) and ``bias`` (in * depth_multiplier,); SeparableConv2D holds
``depthwise_kernel`` (kh, kw, in, depth_multiplier), ``pointwise_kernel``
(1, 1, in * depth_multiplier, filters) and ``bias`` (filters,).

Example:
    >>> import numpy as np
    >>> from filterbank import layers
    >>> sep = layers.SeparableConv2D(64, 3, padding="same")
    >>> sep(np.zeros((2, 32, 32, 32), "float32")).shape
    (2, 32, 32, 64)
    >>> [w.shape for w in sep.get_weights()], sep.count_params()
    ([(3, 3, 32, 1), (1, 1, 32, 64), (64,)], 2400)
"""

from __future__ import annotations

import numpy as np

from .. import activations as _activations
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from ..errors import fmt_shape, unknown_name
from ..ops import conv as _conv
from ..ops import depthwise as _dw
from .base import Layer
from .core import ActivationMixin, _check_positive_int
from .pooling import check_data_format


def int_tuple(layer, arg, value, rank, minimum=1):
    """Keras's rule: an int means the same value on every spatial axis."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,) * rank
    ok = (
        isinstance(value, (tuple, list))
        and len(value) == rank
        and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum
            for v in value
        )
    )
    if not ok:
        example = "3" if rank == 1 else "3 or (3, 3)"
        kind = "positive" if minimum >= 1 else "non-negative"
        raise ValueError(
            f"Layer '{layer.name}' argument {arg} expects a {kind} integer or a tuple of "
            f"{rank} {kind} integers, got {value!r}. Pass e.g. {arg}={example}."
        )
    return tuple(int(v) for v in value)


def conv_geometry_args(
    layer,
    rank,
    kernel_size,
    strides,
    padding,
    data_format,
    dilation_rate,
    paddings=("valid", "same"),
):
    """Validate and set kernel_size, strides, padding, dilation_rate (as Conv2D does)."""
    layer.kernel_size = int_tuple(layer, "kernel_size", kernel_size, rank)
    layer.strides = int_tuple(layer, "strides", strides, rank)
    layer.dilation_rate = int_tuple(layer, "dilation_rate", dilation_rate, rank)
    key = padding.lower() if isinstance(padding, str) else padding
    if key not in paddings:
        raise unknown_name(
            "padding", padding, paddings, where=f"Layer '{layer.name}' argument padding"
        )
    layer.padding = key
    layer.data_format = check_data_format(layer.name, data_format)
    check_strides_with_dilation(layer)


def check_strides_with_dilation(layer):
    """Keras refuses a strided dilated convolution; so does every convolution layer here."""
    if max(layer.strides) > 1 and max(layer.dilation_rate) > 1:
        raise ValueError(
            f"Layer '{layer.name}' cannot combine strides > 1 with dilation_rate > 1 (as in "
            f"Keras), got strides={layer.strides} and dilation_rate={layer.dilation_rate}. "
            "Use strides=1 with a dilation, or dilation_rate=1 with strides."
        )


def conv_geometry_config(layer, first, after_padding=()):
    """The config entries of a convolution's shape arguments, in Keras's order: ``first``
    (filters or depth_multiplier), kernel_size, strides, padding, then ``after_padding``,
    data_format, dilation_rate."""
    config = {name: getattr(layer, name) for name in (first, "kernel_size", "strides", "padding")}
    config.update((name, getattr(layer, name)) for name in after_padding)
    config.update(data_format=layer.data_format, dilation_rate=layer.dilation_rate)
    return config


def known_channels(layer, input_shape):
    channels = input_shape[-1]
    if channels is None:
        raise ValueError(
            f"Layer '{layer.name}' needs a known number of channels (last axis), got shape "
            f"{fmt_shape(input_shape)}. Give the Input a channel count, e.g. shape=(28, 28, 1)."
        )
    return channels


def check_channels(layer, shape, index, expected, weight):
    """The standard message when an input's channel count differs from the built kernel."""
    channels = shape[-1]
    if layer.built and channels is not None and channels != expected:
        raise ValueError(
            f"Input {index} of layer '{layer.name}' expects {expected} channel"
            f"{'s' * (expected != 1)} on the last axis (its {weight} has shape "
            f"{fmt_shape(layer.params[weight].shape)}), got shape {fmt_shape(shape)}. Feed data "
            f"with {expected} channel{'s' * (expected != 1)}, or use a new layer for this input."
        )


class _DepthwiseBase(ActivationMixin, Layer):
    """Shared by DepthwiseConv2D and SeparableConv2D: the depthwise half."""

    expected_ndim = 4
    axes = "(batch, height, width, channels)"
    _depthwise_weight = "kernel"

    def __init__(
        self,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        # DepthwiseConv2D's arguments, in its (Keras's) order; SeparableConv2D adds its own.
        super().__init__(**kwargs)
        self.depth_multiplier = _check_positive_int(
            self.name, "depth_multiplier", depth_multiplier, " (the filters per input channel)", 1
        )
        conv_geometry_args(self, 2, kernel_size, strides, padding, data_format, dilation_rate)
        self.activation = _activations.get(activation, f"Layer '{self.name}' argument activation")
        self.use_bias = bool(use_bias)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.depthwise_initializer = _initializers.get(depthwise_initializer)
        self.depthwise_regularizer = _regularizers.get(depthwise_regularizer)
        self._plans = {}

    def _add_depthwise_kernel(self, input_shape):
        """Create the (kh, kw, channels, depth_multiplier) depthwise kernel; the channels."""
        c = known_channels(self, input_shape)
        self.add_weight(
            self._depthwise_weight,
            (*self.kernel_size, c, self.depth_multiplier),
            self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
        )
        return c

    def _in_channels(self):
        return self.params[self._depthwise_weight].shape[2]

    def check_input_shape(self, shape, index=0):
        super().check_input_shape(shape, index)
        if self.built:
            check_channels(self, shape, index, self._in_channels(), self._depthwise_weight)
        self._output_spatial(shape)

    def _output_spatial(self, shape):
        return _conv.check_fits(
            f"Layer '{self.name}'",
            shape[1:3],
            self.kernel_size,
            self.strides,
            self.padding,
            self.dilation_rate,
            ("height", "width"),
        )

    def _geometry(self, shape):
        geo = self._plans.get(shape)
        if geo is None:
            self.check_input_shape(shape)
            k_shape = (*self.kernel_size, shape[-1], self.depth_multiplier)
            geo = _dw.depthwise_geometry(
                shape,
                k_shape,
                self.strides,
                self.padding,
                self.dilation_rate,
                where=f"Layer '{self.name}'",
            )
            if len(self._plans) >= 8:
                self._plans.clear()
            self._plans[shape] = geo
        return geo

    def _depthwise(self, inputs, bias):
        if inputs.dtype.kind != "f":
            inputs = inputs.astype(self.compute_dtype)
        pads, out_hw = self._geometry(inputs.shape)
        w = self.params[self._depthwise_weight].astype(inputs.dtype, copy=False)
        b = None if bias is None else bias.astype(inputs.dtype, copy=False)
        return _dw.depthwise_run(
            np.ascontiguousarray(inputs), w, b, self.strides, pads, self.dilation_rate, out_hw
        )

    def backward(self, grad):
        return self.backward_preactivation(self._activation_grad(grad))

    def _depthwise_config(self):
        return {
            **conv_geometry_config(self, "depth_multiplier"),
            "activation": self.activation.name,
            "use_bias": self.use_bias,
            "depthwise_initializer": _initializers.serialize(self.depthwise_initializer),
        }


class DepthwiseConv2D(_DepthwiseBase):
    """Depthwise 2D convolution: each input channel convolved with its own filters.

    (batch, H, W, C) -> (batch, Ho, Wo, C * depth_multiplier); output channel
    ``c * depth_multiplier + m`` comes from input channel c (Keras's order). Kernel
    (kh, kw, C, depth_multiplier), bias (C * depth_multiplier,). Output sizes and "same"
    padding as Conv2D.

    Args:
        kernel_size, strides, dilation_rate: an int or a pair (strides > 1 and
            dilation > 1 cannot be combined, as in Keras).
        padding: "valid" or "same". depth_multiplier: filters per input channel (>= 1).

    Example:
        >>> import filterbank as keras
        >>> x = keras.Input(shape=(28, 20, 3))
        >>> layer = keras.layers.DepthwiseConv2D((3, 5), strides=2, depth_multiplier=2)
        >>> layer(x).shape, layer.count_params()
        ((None, 13, 8, 6), 96)
    """

    def build(self, input_shape):
        c = self._add_depthwise_kernel(input_shape)
        if self.use_bias:
            self.add_weight(
                "bias",
                (c * self.depth_multiplier,),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
            )
        self.built = True

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        Layer.check_input_shape(self, input_shape)
        c = input_shape[-1]
        return (
            input_shape[0],
            *self._output_spatial(input_shape),
            None if c is None else c * self.depth_multiplier,
        )

    def forward(self, inputs, training=False):
        z, self._cache = self._depthwise(inputs, self.params.get("bias"))
        return self._activate(z)

    def backward_preactivation(self, grad_z):
        dx, dw, db = _dw.depthwise_conv2d_backward(grad_z, self._cache, self.compute_input_grad)
        self.grads["kernel"] = dw
        if self.use_bias:
            self.grads["bias"] = db
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(self._depthwise_config())
        config.update(
            bias_initializer=_initializers.serialize(self.bias_initializer),
            depthwise_regularizer=_regularizers.serialize(self.depthwise_regularizer),
            bias_regularizer=_regularizers.serialize(self.bias_regularizer),
        )
        return config


class SeparableConv2D(_DepthwiseBase):
    """Depthwise separable 2D convolution: a depthwise convolution, then a 1x1 convolution.

    (batch, H, W, C) -> (batch, Ho, Wo, filters). Weights in Keras order:
    depthwise_kernel (kh, kw, C, depth_multiplier), pointwise_kernel
    (1, 1, C * depth_multiplier, filters), bias (filters,). The bias and activation come
    after the pointwise step (the depthwise step has none).

    Example:
        >>> import filterbank as keras
        >>> x = keras.Input(shape=(16, 12, 8))
        >>> layer = keras.layers.SeparableConv2D(16, 3, padding="same", activation="relu")
        >>> layer(x).shape, layer.count_params()     # 3*3*8 + 8*16 + 16
        ((None, 16, 12, 16), 216)
    """

    _depthwise_weight = "depthwise_kernel"

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        depth_multiplier=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        pointwise_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(
            kernel_size,
            strides=strides,
            padding=padding,
            depth_multiplier=depth_multiplier,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            depthwise_initializer=depthwise_initializer,
            bias_initializer=bias_initializer,
            depthwise_regularizer=depthwise_regularizer,
            bias_regularizer=bias_regularizer,
            **kwargs,
        )
        self.filters = _check_positive_int(self.name, "filters", filters)
        self.pointwise_initializer = _initializers.get(pointwise_initializer)
        self.pointwise_regularizer = _regularizers.get(pointwise_regularizer)

    def build(self, input_shape):
        c = self._add_depthwise_kernel(input_shape)
        cm = c * self.depth_multiplier
        self.add_weight(
            "pointwise_kernel",
            (1, 1, cm, self.filters),
            self.pointwise_initializer,
            regularizer=self.pointwise_regularizer,
        )
        if self.use_bias:
            self.add_weight(
                "bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer
            )
        self.built = True

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        Layer.check_input_shape(self, input_shape)
        return (input_shape[0], *self._output_spatial(input_shape), self.filters)

    def forward(self, inputs, training=False):
        z, dcache = self._depthwise(inputs, None)
        pw = self.params["pointwise_kernel"].astype(z.dtype, copy=False)
        b = self.params.get("bias")
        y, self._cache = _dw.separable_pointwise(
            z, dcache, pw, None if b is None else b.astype(z.dtype, copy=False)
        )
        return self._activate(y)

    def backward_preactivation(self, grad_z):
        dx, ddw, dpw, db = _dw.separable_conv2d_backward(
            grad_z, self._cache, self.compute_input_grad
        )
        self.grads["depthwise_kernel"] = ddw
        self.grads["pointwise_kernel"] = dpw
        if self.use_bias:
            self.grads["bias"] = db
        return dx

    def get_config(self):
        config = super().get_config()
        config["filters"] = self.filters
        config.update(self._depthwise_config())
        config.update(
            pointwise_initializer=_initializers.serialize(self.pointwise_initializer),
            bias_initializer=_initializers.serialize(self.bias_initializer),
            depthwise_regularizer=_regularizers.serialize(self.depthwise_regularizer),
            pointwise_regularizer=_regularizers.serialize(self.pointwise_regularizer),
            bias_regularizer=_regularizers.serialize(self.bias_regularizer),
        )
        return config
