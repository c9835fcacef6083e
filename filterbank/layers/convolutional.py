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

from ..errors import fmt_shape, unknown_name
from ..ops import activations as _act_ops
from ..ops import conv as _conv
from ..ops import winograd as _winograd
from ..ops.workspace import Workspace
from .base import Layer
from .core import ActivationMixin, _check_positive_int, kernel_layer_config, set_kernel_layer_args


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
        set_kernel_layer_args(self, activation, use_bias, kernel_initializer, bias_initializer,
                              kernel_regularizer, bias_regularizer)
        # Per input shape: the resolved geometry (checked once); and the reused buffers of
        # the column matrix and its gradient (ops/workspace.py).
        self._plans: dict[tuple, _conv.ConvPlan] = {}
        self.workspace = Workspace()
        self.engine_internal_dx = False

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
        if isinstance(padding, (int, np.integer, tuple, list)) and not isinstance(padding, bool):
            fix = ("put layers.ZeroPadding2D(P) before this layer and keep padding='valid'"
                   if self.rank == 2 else "pad the sequence yourself (np.pad) or use "
                   "padding='same' (k//2 zeros each side for an odd kernel size k)")
            raise ValueError(
                f"Layer '{self.name}' argument padding expects a name, one of "
                f"{', '.join(repr(p) for p in self.paddings)} (Keras), got {padding!r}. For an "
                f"explicit zero padding of P cells (PyTorch's padding=P, CS231n's P), {fix}. "
                "'same' keeps the size at stride 1."
            )
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
    def plan_for(self, shape) -> _conv.ConvPlan:
        """The :class:`~filterbank.ops.conv.ConvPlan` of an input of this shape.

        Made (after the layer's input checks, with their messages) the first time a shape
        is seen, then reused: a model sees one or two batch shapes.
        """
        plan = self._plans.get(shape)
        if plan is None:
            self.check_input_shape(shape)
            plan = self._make_plan(shape)
            if len(self._plans) >= 8:  # bounded: a stream of odd shapes must not pile up
                self._plans.clear()
            self._plans[shape] = plan
        return plan

    def _weights_as(self, dtype):
        """(kernel, bias or None) in the input's dtype (a layer may hold another float type)."""
        w = self.params["kernel"]
        b = self.params["bias"] if self.use_bias else None
        if w.dtype != dtype:
            w = w.astype(dtype)
            b = None if b is None else b.astype(dtype)
        return w, b

    def forward(self, inputs, training=False):
        if inputs.dtype.kind != "f":
            inputs = inputs.astype(self.compute_dtype)
        plan = self.plan_for(inputs.shape)
        x = np.ascontiguousarray(inputs).reshape(plan.x_shape)
        w, b = self._weights_as(x.dtype)
        z, col = plan.forward(x, w.reshape(plan.w_shape), b, ws=self.workspace)
        # A chunked forward (a large batch or image) keeps x instead of the column matrix.
        self._cache = (plan, col, w, x if col is None else None)
        return self._activate(z.reshape(self._y_shape_of(plan)))

    def inference_fn(self, shape, dtype):
        """A lean ``x -> y`` for inference on inputs of exactly this shape and dtype.

        Checks and geometry are done here, once; the function only copies the windows,
        multiplies, adds the bias and activates (nothing is kept for a backward pass). None
        when the plain :meth:`forward` must run (another dtype, a subclass's own forward, a
        batch large enough to need chunks).
        """
        if type(self).forward is not _Conv.forward or self.params["kernel"].dtype != dtype:
            return None
        plan = self.plan_for(shape)
        params, use_bias = self.params, self.use_bias
        relu = self.activation.name == "relu"
        if ((relu or self.activation.name == "linear") and _winograd.fast_conv_enabled()
                and _winograd.numba_kernels() is not None
                and _winograd.supports_conv(self.kernel_size, self.strides, self.dilation_rate,
                                            self.padding, shape)):
            # 3x3, stride 1: Winograd F(2x2, 3x3), up to 2.25x fewer multiplications
            # (ops/winograd.py; equal to the GEMM within float rounding). Chunked inside.
            wino = _winograd.WinogradConv(shape, self.filters, dtype, self.padding)

            def run_winograd(x):
                y = np.empty(wino.out_shape, dtype)
                return wino.run(np.ascontiguousarray(x), params["kernel"],
                                params["bias"] if use_bias else None, relu, y)

            run_winograd.kernel = wino.kernel
            return run_winograd
        if plan.chunk < plan.x_shape[0]:
            return None  # chunks: the plain forward handles them
        im2col = plan.im2col_fn(dtype)
        k, f = int(np.prod(plan.w_shape[:3])), plan.w_shape[3]
        y_shape = self._y_shape_of(plan)
        channel_major = plan.layout == "channel"
        activate = None if relu or self.activation.name == "linear" else self.activation.forward
        rows = _act_ops.rows_kernels() if dtype in (np.float32, np.float64) else None
        if rows is not None and activate is None and use_bias:
            # Bias + relu in one compiled call (two NumPy calls cost more at one sample).
            epilogue = rows.bias_relu_rows

            def run_compiled(x):
                col = im2col(np.ascontiguousarray(x).reshape(plan.x_shape))
                y = (col.T if channel_major else col) @ params["kernel"].reshape(k, f)
                epilogue(y, params["bias"], relu)
                return y.reshape(y_shape)

            run_compiled.kernel = "gemm"
            return run_compiled

        def run(x):
            col = im2col(np.ascontiguousarray(x).reshape(plan.x_shape))
            y = (col.T if channel_major else col) @ params["kernel"].reshape(k, f)
            if use_bias:
                y += params["bias"]
            if relu:
                np.maximum(y, 0, out=y)
            elif activate is not None:
                y = activate(y)
            return y.reshape(y_shape)

        run.kernel = "gemm"  # which convolution kernel runs (benchmarks/inference_breakdown.py)
        return run

    def grad_buffer(self, name, dtype):
        """The array ``grads[name]`` is written into on every backward (one per weight,
        reused: the optimizer reads it within the step; ``backward`` overwrites it anyway)."""
        return self.workspace.get("grad_" + name, self.params[name].shape, dtype)

    def backward(self, grad):
        if self.activation.name == "relu" and self._y is not None:
            # relu_backward (grad * (y > 0)) into a reused buffer: same numbers, no new array.
            y = self._y
            dz = self.workspace.get("dz", y.shape, y.dtype)
            return self.backward_preactivation(np.multiply(grad, y > 0, out=dz))
        return self.backward_preactivation(self._activation_grad(grad))

    def backward_preactivation(self, grad_z):
        plan, col, w, x = self._cache
        dz = np.ascontiguousarray(grad_z, dtype=w.dtype).reshape(plan.out_shape)
        # dx in the workspace only when the graph engine hands it straight to the layer
        # before (engine_internal_dx, set around this call); a direct call gets a new array.
        dx_out = (self.workspace.get("dx", plan.x_shape, w.dtype)
                  if self.compute_input_grad and self.engine_internal_dx else None)
        dx, dw, db = plan.backward(dz, w.reshape(plan.w_shape), col, self.compute_input_grad,
                                   self.use_bias, ws=self.workspace, x=x, dx_out=dx_out,
                                   dw_out=self.grad_buffer("kernel", w.dtype))
        self.grads["kernel"] = dw.reshape(w.shape)
        if self.use_bias:
            self.grads["bias"] = db
        if not self.compute_input_grad:
            return None
        return dx.reshape(self._x_shape_of(plan))

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            data_format="channels_last",
            dilation_rate=self.dilation_rate,
            **kernel_layer_config(self),
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

    def _make_plan(self, shape):
        pads = _conv.resolve_pads(shape[1:3], self.kernel_size, self.strides, self.padding,
                                  self.dilation_rate)
        return _conv.ConvPlan(tuple(shape), self.params["kernel"].shape, self.strides, pads,
                              self.dilation_rate, where=f"Layer '{self.name}'")

    @staticmethod
    def _x_shape_of(plan):
        return plan.x_shape

    @staticmethod
    def _y_shape_of(plan):
        return plan.out_shape


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

    def _make_plan(self, shape):
        # A 1D convolution is the 2D one of height 1: x (N, 1, L, C), kernel (1, k, C, F).
        n, length, c = shape
        pads = ((0, 0),) + _conv.resolve_pads((length,), self.kernel_size, self.strides,
                                              self.padding, self.dilation_rate)
        return _conv.ConvPlan((n, 1, length, c), (1, *self.params["kernel"].shape),
                              (1, self.strides[0]), pads, (1, self.dilation_rate[0]),
                              where=f"Layer '{self.name}'")

    @staticmethod
    def _x_shape_of(plan):
        n, _, length, c = plan.x_shape
        return (n, length, c)

    @staticmethod
    def _y_shape_of(plan):
        n, _, length, f = plan.out_shape
        return (n, length, f)
