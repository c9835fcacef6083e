"""Conv1D and Conv2D: Keras's convolution layers, channels-last, on :mod:`filterbank.ops.conv`.

Both compute ``activation(conv(x, kernel) + bias)`` (a cross-correlation: the kernel is
not flipped, as in every DL library). Arguments, defaults and weight layouts are
Keras's: Conv2D kernel (kh, kw, in, out), Conv1D kernel (k, in, out), bias (out,).

Example:
    >>> import numpy as np
    >>> from filterbank import layers
    >>> conv = layers.Conv2D(32, 3, activation="relu")
    >>> conv(np.zeros((2, 28, 28, 1), "float32")).shape
    (2, 26, 26, 32)
    >>> [w.shape for w in conv.get_weights()], conv.count_params()
    ([(3, 3, 1, 32), (32,)], 320)
"""

from __future__ import annotations

import numpy as np

from .. import activations as _activations
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from ..errors import fmt_shape, unknown_name
from ..ops import conv as _conv
from .base import Layer
from .core import ActivationMixin, _check_positive_int


class _Conv(ActivationMixin, Layer):
    """Shared machinery of Conv1D / Conv2D; subclasses set ``rank`` and the axis names."""

    rank = 2
    spatial_axes: tuple = ("height", "width")
    paddings: tuple = _conv.PADDINGS_2D

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_positive_int(self.name, "filters", filters)
        self.kernel_size = self._tuple_arg("kernel_size", kernel_size)
        self.strides = self._tuple_arg("strides", strides)
        self.dilation_rate = self._tuple_arg("dilation_rate", dilation_rate)
        self.padding = self._padding_arg(padding)
        if data_format not in (None, "channels_last"):
            raise ValueError(
                f"Layer '{self.name}' argument data_format expects 'channels_last' (filterbank is "
                f"channels-last only), got {data_format!r}. Move the channel axis last instead, "
                "e.g. x.transpose(0, 2, 3, 1) for NCHW images, and drop data_format."
            )
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"Layer '{self.name}' cannot combine strides > 1 with dilation_rate > 1 (as in "
                f"Keras), got strides={self.strides} and dilation_rate={self.dilation_rate}. "
                "Use strides=1 with a dilation, or dilation_rate=1 with strides."
            )
        self.activation = _activations.get(activation, f"Layer '{self.name}' argument activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)

    # ---- argument normalisation -----------------------------------------------------------
    def _tuple_arg(self, arg, value):
        """Keras's rule: an int means the same value on every spatial axis."""
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            value = (value,) * self.rank
        ok = isinstance(value, (tuple, list)) and len(value) == self.rank and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in value)
        if not ok:
            example = "3" if self.rank == 1 else "3 or (3, 3)"
            raise ValueError(
                f"Layer '{self.name}' argument {arg} expects a positive integer or a tuple of "
                f"{self.rank} positive integers, got {value!r}. Pass e.g. {arg}={example}."
            )
        return tuple(int(v) for v in value)

    def _padding_arg(self, padding):
        key = padding.lower() if isinstance(padding, str) else padding
        if key not in self.paddings:
            raise unknown_name("padding", padding, self.paddings,
                               where=f"Layer '{self.name}' argument padding")
        return key

    # ---- shapes ----------------------------------------------------------------------------
    def _in_channels(self):
        return self.params["kernel"].shape[-2]

    def check_input_shape(self, shape, index=0):
        super().check_input_shape(shape, index)
        channels = shape[-1]
        if self.built and channels is not None and channels != self._in_channels():
            c = self._in_channels()
            raise ValueError(
                f"Input {index} of layer '{self.name}' expects {c} channel{'s' * (c != 1)} on the "
                f"last axis (its kernel has shape {fmt_shape(self.params['kernel'].shape)}), got "
                f"shape {fmt_shape(shape)}. Feed data with {c} channel{'s' * (c != 1)}, or use a "
                "new layer for this input."
            )
        self._output_spatial(shape)

    def _output_spatial(self, shape):
        """Output sizes of the spatial axes; raises when the kernel does not fit."""
        return _conv.check_fits(f"Layer '{self.name}'", shape[1:-1], self.kernel_size,
                                self.strides, self.padding, self.dilation_rate, self.spatial_axes)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"Layer '{self.name}' needs a known number of channels (last axis), got shape "
                f"{fmt_shape(input_shape)}. Give the Input a channel count, e.g. shape=(28, 28, 1)."
            )
        self.add_weight("kernel", (*self.kernel_size, channels, self.filters),
                        self.kernel_initializer, regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer,
                            regularizer=self.bias_regularizer)
        # Set here too, so build() by hand, then set_weights(), then a call keeps the weights.
        self.built = True

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        Layer.check_input_shape(self, input_shape)
        return (input_shape[0], *self._output_spatial(input_shape), self.filters)

    # ---- computation -----------------------------------------------------------------------
    def forward(self, inputs, training=False):
        self.check_input_shape(inputs.shape)
        bias = self.params["bias"] if self.use_bias else None
        z, self._cache = self._conv_forward(inputs, self.params["kernel"], bias)
        return self._activate(z)

    def backward(self, grad):
        return self.backward_preactivation(self._activation_grad(grad))

    def backward_preactivation(self, grad_z):
        dx, dw, db = self._conv_backward(grad_z, self._cache, need_dx=self.compute_input_grad)
        self.grads["kernel"] = dw
        if self.use_bias:
            self.grads["bias"] = db
        return dx if self.compute_input_grad else None

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            data_format="channels_last",
            dilation_rate=self.dilation_rate,
            activation=self.activation.name,
            use_bias=self.use_bias,
            kernel_initializer=_initializers.serialize(self.kernel_initializer),
            bias_initializer=_initializers.serialize(self.bias_initializer),
            kernel_regularizer=_regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=_regularizers.serialize(self.bias_regularizer),
        )
        return config


class Conv2D(_Conv):
    """2D convolution over images: (batch, height, width, channels) -> (batch, h', w', filters).

    ``y = activation(conv2d(x, kernel) + bias)`` with kernel (kh, kw, in, filters).
    Output size per axis: "valid" ``floor((n - ((k-1)*d + 1)) / s) + 1``, "same"
    ``ceil(n / s)`` (Keras/TensorFlow padding, the odd cell at the bottom/right).

    Args:
        filters: number of output channels.
        kernel_size, strides, dilation_rate: an int or a pair (rows, cols). Strides > 1
            and dilation > 1 cannot be combined (as Keras).
        padding: "valid" (no padding) or "same", any case.
        activation: a name ("relu", "softmax", ...) or None for linear.

    Example:
        >>> import filterbank as keras
        >>> x = keras.Input(shape=(32, 32, 3))
        >>> keras.layers.Conv2D(6, (5, 5))(x).shape
        (None, 28, 28, 6)
    """

    rank = 2
    expected_ndim = 4
    axes = "(batch, height, width, channels)"
    spatial_axes = ("height", "width")
    paddings = _conv.PADDINGS_2D

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, **kwargs)

    def _conv_forward(self, x, kernel, bias):
        return _conv.conv2d_forward(x, kernel, bias, self.strides, self.padding,
                                    self.dilation_rate)

    def _conv_backward(self, grad, cache, need_dx):
        return _conv.conv2d_backward(grad, cache, need_dx)


class Conv1D(_Conv):
    """1D convolution over sequences: (batch, steps, channels) -> (batch, steps', filters).

    Kernel (k, in, filters). ``padding`` is "valid", "same" or "causal" (Keras: (k-1)*d
    zeros before the sequence, so output t depends on inputs up to t only).

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> conv = layers.Conv1D(1, 2, padding="causal", use_bias=False)
        >>> _ = conv.build((None, 6, 1)); conv.set_weights([np.array([[[-1.0]], [[1.0]]])])
        >>> conv(np.array([0, 0, 1, 1, 1, 0], "float32").reshape(1, 6, 1)).ravel()
        array([ 0.,  0.,  1.,  0.,  0., -1.], dtype=float32)
    """

    rank = 1
    expected_ndim = 3
    axes = "(batch, steps, channels)"
    spatial_axes = ("steps",)
    paddings = _conv.PADDINGS_1D

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, **kwargs)

    def _conv_forward(self, x, kernel, bias):
        return _conv.conv1d_forward(x, kernel, bias, self.strides[0], self.padding,
                                    self.dilation_rate[0])

    def _conv_backward(self, grad, cache, need_dx):
        return _conv.conv1d_backward(grad, cache, need_dx)
