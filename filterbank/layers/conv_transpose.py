"""Conv2DTranspose and Conv1DTranspose (Keras 3 arguments, output sizes and weight layouts).

Math in :mod:`filterbank.ops.conv_transpose` (one GEMM and a col2im forward, an im2col and
two GEMMs backward). Kernel (kh, kw, filters, in) -- output channels before input channels,
as Keras -- and bias (filters,).

Example:
    >>> import numpy as np
    >>> from filterbank import layers
    >>> up = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")
    >>> up(np.zeros((2, 7, 7, 32), "float32")).shape
    (2, 14, 14, 32)
    >>> [w.shape for w in up.get_weights()], up.count_params()
    ([(3, 3, 32, 32), (32,)], 9248)
"""

from __future__ import annotations

import numpy as np

from .._argspec import takes_base_args
from ..ops import conv_transpose as _ct
from .base import Layer
from .conv_depthwise import (
    check_channels,
    conv_geometry_args,
    conv_geometry_config,
    int_tuple,
    known_channels,
)
from .core import KernelLayer, _check_positive_int


@takes_base_args
class _ConvTranspose(KernelLayer):
    rank = 2

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _check_positive_int(self.name, "filters", filters)
        conv_geometry_args(
            self, self.rank, kernel_size, strides, padding, data_format, dilation_rate
        )
        if output_padding is None:
            self.output_padding = None
        else:
            self.output_padding = int_tuple(
                self, "output_padding", output_padding, self.rank, minimum=0
            )
            for i, (op, s) in enumerate(zip(self.output_padding, self.strides)):
                if op >= s:
                    raise ValueError(
                        f"Layer '{self.name}' argument output_padding must be smaller than the "
                        f"stride on every axis (as in Keras), got output_padding="
                        f"{self.output_padding} with strides={self.strides} (axis {i}: {op} >= "
                        f"{s}). Use output_padding=None, or values below the strides."
                    )
        # The ops work on 2D; Conv1DTranspose runs as height 1 (stride, dilation 1, no
        # output padding on that axis).
        lead = 2 - self.rank
        self._strides2 = (1,) * lead + self.strides
        self._dilation2 = (1,) * lead + self.dilation_rate
        self._output_padding2 = (
            None if self.output_padding is None else (0,) * lead + self.output_padding
        )
        self._plans = {}

    # ---- shapes ---------------------------------------------------------------------------
    def _spatial_out(self, sizes):
        ops = self.output_padding or (None,) * self.rank
        out = tuple(
            _ct.transpose_output_length(n, k, s, self.padding, op, d)
            for n, k, s, op, d in zip(
                sizes, self.kernel_size, self.strides, ops, self.dilation_rate
            )
        )
        if any(o is not None and o < 1 for o in out):
            raise ValueError(
                f"Layer '{self.name}' would give an empty output {out} for input sizes "
                f"{tuple(sizes)} (kernel_size={self.kernel_size}, strides={self.strides}, "
                f"padding={self.padding!r}, output_padding={self.output_padding}). Use "
                "padding='valid', a larger output_padding or a larger input."
            )
        return out

    def check_input_shape(self, shape, index=0):
        super().check_input_shape(shape, index)
        if self.built:
            check_channels(self, shape, index, self.params["kernel"].shape[-1], "kernel")
        self._spatial_out(shape[1:-1])

    def build(self, input_shape):
        c = known_channels(self, input_shape)
        self.add_kernel_and_bias((*self.kernel_size, self.filters, c), self.filters)
        self.built = True

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        Layer.check_input_shape(self, input_shape)
        return (input_shape[0], *self._spatial_out(input_shape[1:-1]), self.filters)

    # ---- computation ----------------------------------------------------------------------
    def _plan(self, shape, shape4):
        plan = self._plans.get(shape4)
        if plan is None:
            self.check_input_shape(shape)
            w_shape = self.params["kernel"].shape
            if self.rank == 1:
                w_shape = (1, *w_shape)
            plan = _ct.TransposePlan.make(
                shape4,
                w_shape,
                self._strides2,
                self.padding,
                self._output_padding2,
                self._dilation2,
            )
            if len(self._plans) >= 8:
                self._plans.clear()
            self._plans[shape4] = plan
        return plan

    def forward(self, inputs, training=False):
        if inputs.dtype.kind != "f":
            inputs = inputs.astype(self.compute_dtype)
        x = np.ascontiguousarray(inputs)
        x4 = x[:, None] if self.rank == 1 else x
        plan = self._plan(x.shape, x4.shape)
        w = self.params["kernel"].astype(x.dtype, copy=False).reshape(plan.w_shape)
        b = self.params["bias"].astype(x.dtype, copy=False) if self.use_bias else None
        y = plan.forward(x4, w, b)
        self._cache = (plan, x4, w)
        return self._activate(y[:, 0] if self.rank == 1 else y)

    def backward(self, grad):
        return self.backward_preactivation(self._activation_grad(grad))

    def backward_preactivation(self, grad_z):
        plan, x4, w = self._cache
        dy = np.ascontiguousarray(grad_z, dtype=w.dtype)
        if self.rank == 1:
            dy = dy[:, None]
        dx, dw, db = plan.backward(dy, w, x4, self.compute_input_grad, self.use_bias)
        self.grads["kernel"] = dw.reshape(self.params["kernel"].shape)
        if self.use_bias:
            self.grads["bias"] = db
        if dx is None or not self.compute_input_grad:
            return None
        return dx[:, 0] if self.rank == 1 else dx

    def get_config(self):
        config = super().get_config()
        config.update(
            conv_geometry_config(self, "filters", ("output_padding",)),
            **self.kernel_layer_config(),
        )
        return config


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2D convolution: (batch, H, W, C) -> (batch, Ho, Wo, filters).

    Kernel (kh, kw, filters, C), bias (filters,). Output size per axis (Keras 3, k the
    dilated kernel): "valid" ``(n-1)*s + max(k, s)``, "same" ``n*s``; with
    ``output_padding`` p (each smaller than its stride): "valid" ``(n-1)*s + k + p``,
    "same" ``(n-1)*s + k % 2 + p``.

    Example:
        >>> import filterbank as keras
        >>> x = keras.Input(shape=(7, 5, 16))
        >>> keras.layers.Conv2DTranspose(8, (3, 4), strides=2)(x).shape
        (None, 15, 12, 8)
        >>> keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same",
        ...                              output_padding=0)(x).shape
        (None, 13, 9, 8)
    """

    rank = 2
    expected_ndim = 4
    axes = "(batch, height, width, channels)"


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1D convolution: (batch, steps, C) -> (batch, steps', filters).

    Kernel (k, filters, C); sizes as Conv2DTranspose along the one axis.

    Example:
        >>> import filterbank as keras
        >>> x = keras.Input(shape=(10, 4))
        >>> keras.layers.Conv1DTranspose(2, 3, strides=2, padding="same")(x).shape
        (None, 20, 2)
    """

    rank = 1
    expected_ndim = 3
    axes = "(batch, steps, channels)"
    _channel_hint = "Add a channel axis: x[..., None]."
