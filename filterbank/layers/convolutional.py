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

from dataclasses import dataclass

import numpy as np

from .._argspec import takes_base_args
from ..errors import fmt_shape, unknown_name
from ..ops import conv as _conv
from ..ops import kernels as _kernels
from ..ops.conv_infer import conv_predictor
from ..ops.workspace import Workspace
from .args import check_data_format, check_int_tuple
from .base import Layer
from .conv_depthwise import check_strides_with_dilation, conv_geometry_config
from .core import KernelLayer, _check_positive_int


@dataclass
class ConvLayerCache:
    """What a convolution layer's backward needs from its forward."""

    plan: _conv.ConvPlan  # the geometry of the input's shape
    col: np.ndarray | None  # the column matrix, or None when the batch ran in chunks
    kernel: np.ndarray  # the kernel in the input's dtype
    x: np.ndarray | None  # the input, kept (instead of col) when chunked
    train: object = None  # a WinogradTrainConv when the training step runs Winograd


@takes_base_args
class _Conv(KernelLayer):
    """Shared machinery of Conv1D / Conv2D; subclasses set ``rank`` and the axis names."""

    rank = 2
    spatial_axes: tuple = ("height", "width")
    paddings: tuple = _conv.PADDINGS_2D

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _check_positive_int(self.name, "filters", filters)
        self.kernel_size = self._tuple_arg("kernel_size", kernel_size)
        self.strides = self._tuple_arg("strides", strides)
        self.dilation_rate = self._tuple_arg("dilation_rate", dilation_rate)
        self.padding = self._padding_arg(padding)
        self.data_format = check_data_format(self.name, data_format)
        check_strides_with_dilation(self)
        # Per input shape: the resolved geometry (checked once); and the reused buffers of
        # the column matrix and its gradient (ops/workspace.py).
        self._plans: dict[tuple, _conv.ConvPlan] = {}
        self._train_plans = _kernels.KeptFunctions()  # per (shape, dtype): Winograd plan or None
        self.workspace = Workspace()

    # ---- argument normalisation -----------------------------------------------------------
    def _tuple_arg(self, arg, value):
        """Keras's rule: an int means the same value on every spatial axis."""
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            value = (value,) * self.rank  # the message then shows what the int stood for
        return check_int_tuple(
            self.name, arg, value, self.rank, "3" if self.rank == 1 else "3 or (3, 3)"
        )

    def _padding_arg(self, padding):
        if isinstance(padding, (int, np.integer, tuple, list)) and not isinstance(padding, bool):
            fix = (
                "put layers.ZeroPadding2D(P) before this layer and keep padding='valid'"
                if self.rank == 2
                else "pad the sequence yourself (np.pad) or use "
                "padding='same' (k//2 zeros each side for an odd kernel size k)"
            )
            raise ValueError(
                f"Layer '{self.name}' argument padding expects a name, one of "
                f"{', '.join(repr(p) for p in self.paddings)} (Keras), got {padding!r}. For an "
                f"explicit zero padding of P cells (PyTorch's padding=P, CS231n's P), {fix}. "
                "'same' keeps the size at stride 1."
            )
        key = padding.lower() if isinstance(padding, str) else padding
        if key not in self.paddings:
            raise unknown_name(
                "padding", padding, self.paddings, where=f"Layer '{self.name}' argument padding"
            )
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
        return _conv.check_fits(
            f"Layer '{self.name}'",
            shape[1:-1],
            self.kernel_size,
            self.strides,
            self.padding,
            self.dilation_rate,
            self.spatial_axes,
        )

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"Layer '{self.name}' needs a known number of channels (last axis), got shape "
                f"{fmt_shape(input_shape)}. Give the Input a channel count, e.g. shape=(28, 28, 1)."
            )
        self.add_kernel_and_bias((*self.kernel_size, channels, self.filters), self.filters)
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

    def weights_as(self, dtype):
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
        w, b = self.weights_as(x.dtype)
        train = self._train_plan(plan, x) if training else None
        if train is not None:
            z = train.forward(x, w.reshape(plan.w_shape), b)
            self._cache = ConvLayerCache(plan, None, w, x, train)
            return self._activate(z.reshape(self._y_shape_of(plan)))
        z, col = plan.forward(x, w.reshape(plan.w_shape), b, ws=self.workspace)
        # A chunked forward (a large batch or image) keeps x instead of the column matrix.
        self._cache = ConvLayerCache(plan, col, w, x if col is None else None)
        return self._activate(z.reshape(self._y_shape_of(plan)))

    def _own_training_kernels(self) -> bool:
        """True when the training step may leave the im2col GEMM: a 2D convolution running
        this class's forward (a subclass with its own forward keeps the reference)."""
        return type(self).forward is _Conv.forward and self.rank == 2

    def _train_plan(self, plan, x):
        """The training step's Winograd plan for x's shape and dtype, or None (the im2col
        GEMM runs): ``kernels.choose("conv2d-train", ...)`` decides, once per shape and
        dtype (``kernels.refresh()`` decides again)."""
        if not self._own_training_kernels():
            return None

        def make(shape, dtype):
            kernel = _kernels.choose("conv2d-train", self._query(plan, dtype))
            return None if kernel.fn is None else kernel.fn(plan, self.padding, dtype)

        return self._train_plans.get(x, make)

    def kernel_for(self, shape, dtype, training=False):
        """The kernel (:class:`~filterbank.ops.kernels.Kernel`) for inputs of this shape and
        dtype: inference asks ``kernels.choose("conv2d", ...)`` (and the epilogue); training
        asks ``kernels.choose("conv2d-train", ...)`` (Winograd or the im2col GEMM)."""
        plan = self.plan_for(tuple(shape))
        q = self._query(plan, dtype)
        if training:
            if not self._own_training_kernels():
                col2im = _kernels.choose("col2im", q)
                return _kernels.Kernel(f"gemm+{col2im.name}-col2im", reason=col2im.reason)
            return _kernels.choose("conv2d-train", q)
        kernel = _kernels.choose("conv2d", q)
        if kernel.name == "gemm" and self._epilogue(q).name == "rows":
            return _kernels.Kernel("gemm+rows", kernel.fn, kernel.reason + "; compiled epilogue")
        return kernel

    def _epilogue(self, q):
        if self.use_bias and self.activation.name in ("relu", "linear"):
            # bias_relu_rows adds the bias and, for relu, clamps: one compiled call.
            return _kernels.choose("epilogue", _kernels.Query((1, 1), q.dtype, activation="relu"))
        return _kernels.Kernel("numpy")

    def _query(self, plan, dtype):
        (kh, kw), (sh, sw), (dh, dw) = plan.kernel, plan.strides, plan.dilation
        # A Conv1D is a Conv2D of height 1; only 3x3 kernels take the fast paths anyway.
        return _kernels.Query(
            plan.x_shape,
            np.dtype(dtype),
            (kh, kw),
            (sh, sw),
            (dh, dw),
            self.padding if self.rank == 2 else "conv1d",
            self.activation.name,
            self.use_bias,
            weights_dtype=self.params["kernel"].dtype,
            filters=self.filters,
        )

    def inference_fn(self, shape, dtype):
        """A lean ``x -> y`` for inference on inputs of exactly this shape and dtype.

        The kernel comes from :func:`filterbank.ops.kernels.choose` and the function from
        :func:`filterbank.ops.conv_infer.conv_predictor`: checks and geometry are done
        here, once; the function only computes (nothing is kept for a backward pass). None
        when the plain :meth:`forward` must run (another dtype, a subclass's own forward, a
        batch large enough to need chunks).
        """
        if type(self).forward is not _Conv.forward or self.params["kernel"].dtype != dtype:
            return None
        plan = self.plan_for(shape)
        q = self._query(plan, dtype)
        return conv_predictor(
            _kernels.choose("conv2d", q),
            self._epilogue(q),
            plan,
            dtype,
            self.params,
            self.use_bias,
            self.activation.name,
            self.activation.forward,
            self._y_shape_of(plan),
            self.padding,
        )

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
        cache = self._cache
        plan, col, w, x = cache.plan, cache.col, cache.kernel, cache.x
        dz = np.ascontiguousarray(grad_z, dtype=w.dtype).reshape(plan.out_shape)
        # dx in the workspace only when the graph engine hands it straight to the layer
        # before (engine_internal_dx, set around this call); a direct call gets a new array.
        dx_out = (
            self.workspace.get("dx", plan.x_shape, w.dtype)
            if self.compute_input_grad and self.engine_internal_dx
            else None
        )
        run = plan if cache.train is None else cache.train  # same backward signature
        dx, dw, db = run.backward(
            dz,
            w.reshape(plan.w_shape),
            col,
            self.compute_input_grad,
            self.use_bias,
            ws=self.workspace,
            x=x,
            dx_out=dx_out,
            dw_out=self.grad_buffer("kernel", w.dtype),
        )
        self.grads["kernel"] = dw.reshape(w.shape)
        if self.use_bias:
            self.grads["bias"] = db
        if not self.compute_input_grad:
            return None
        return dx.reshape(self._x_shape_of(plan))

    def get_config(self):
        config = super().get_config()
        config.update(conv_geometry_config(self, "filters"), **self.kernel_layer_config())
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

    def _make_plan(self, shape):
        pads = _conv.resolve_pads(
            shape[1:3], self.kernel_size, self.strides, self.padding, self.dilation_rate
        )
        return _conv.ConvPlan(
            tuple(shape),
            self.params["kernel"].shape,
            self.strides,
            pads,
            self.dilation_rate,
            where=f"Layer '{self.name}'",
        )

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

    def _make_plan(self, shape):
        # A 1D convolution is the 2D one of height 1: x (N, 1, L, C), kernel (1, k, C, F).
        n, length, c = shape
        pads = ((0, 0),) + _conv.resolve_pads(
            (length,), self.kernel_size, self.strides, self.padding, self.dilation_rate
        )
        return _conv.ConvPlan(
            (n, 1, length, c),
            (1, *self.params["kernel"].shape),
            (1, self.strides[0]),
            pads,
            (1, self.dilation_rate[0]),
            where=f"Layer '{self.name}'",
        )

    @staticmethod
    def _x_shape_of(plan):
        n, _, length, c = plan.x_shape
        return (n, length, c)

    @staticmethod
    def _y_shape_of(plan):
        n, _, length, f = plan.out_shape
        return (n, length, f)
