"""Dense and Activation: the fully connected layer and a standalone activation.

Layers that carry an ``activation`` keep the pre-activation ``z`` so the graph
engine can fuse softmax + cross-entropy: :meth:`backward_preactivation` takes
dLoss/dz directly and skips the activation's own derivative.
"""

from __future__ import annotations

import numpy as np

from .. import activations as _activations
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from .._argspec import is_positive_int, takes_base_args
from ..errors import fmt_shape
from ..ops import kernels as _kernels
from .base import Layer


def _check_positive_int(layer_name: str, arg: str, value, meaning="", example=32) -> int:
    """``value`` as an int, or a ValueError naming the layer (``meaning``: " (what it is)")."""
    if not is_positive_int(value):
        raise ValueError(
            f"Layer '{layer_name}' argument {arg} expects a positive integer{meaning}, got "
            f"{value!r}. Pass e.g. {arg}={example}."
        )
    return int(value)


class ActivationMixin:
    """Shared handling of an ``activation=`` argument (forward, backward, fusion hook)."""

    _z = None  # the pre-activation of the last forward

    @property
    def fused_activation(self):
        return self.activation.name

    def preactivation(self):
        return self._z

    def _activate(self, z):
        self._z = z
        y = self.activation.forward(z)
        self._y = y
        return y

    def _activation_grad(self, grad):
        if self.activation.name == "linear":
            return grad
        return self.activation.backward(grad, self._z, self._y)


class KernelLayer(ActivationMixin, Layer):
    """Base of the layers with a "kernel" and an optional "bias" (Dense, Conv1D/2D and
    their transposes): Keras's trailing arguments, from ``activation`` to
    ``bias_regularizer``, declared and resolved once. A subclass declares only its own
    arguments and is decorated with :func:`~filterbank._argspec.takes_base_args`, so its
    signature still lists these after its own; :meth:`add_kernel_and_bias` creates the
    weights and :meth:`kernel_layer_config` gives the config entries back."""

    def __init__(
        self,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.activation = _activations.get(activation, f"Layer '{self.name}' argument activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)

    def add_kernel_and_bias(self, kernel_shape, units) -> None:
        """Create the "kernel" and (with use_bias) the (units,) "bias" weights."""
        self.add_weight(
            "kernel", kernel_shape, self.kernel_initializer, regularizer=self.kernel_regularizer
        )
        if self.use_bias:
            self.add_weight(
                "bias", (units,), self.bias_initializer, regularizer=self.bias_regularizer
            )

    def kernel_layer_config(self) -> dict:
        """The config entries of the arguments this class declares."""
        return {
            "activation": self.activation.name,
            "use_bias": self.use_bias,
            "kernel_initializer": _initializers.serialize(self.kernel_initializer),
            "bias_initializer": _initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": _regularizers.serialize(self.bias_regularizer),
        }


@takes_base_args
class Dense(KernelLayer):
    """Fully connected layer: ``y = activation(x @ kernel + bias)``.

    Shapes: input (batch, ..., in) -> output (batch, ..., units); kernel (in, units), bias (units,).

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.Dense(10, activation="softmax")(np.zeros((2, 576), "float32")).shape
        (2, 10)
    """

    axes = "(batch, ..., features)"

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = _check_positive_int(self.name, "units", units)
        self._dx_buffer = None

    def check_input_shape(self, shape, index=0):
        if len(shape) < 2:
            raise ValueError(
                f"Input {index} of layer '{self.name}' expects at least 2 dims (batch, features), "
                f"got shape {fmt_shape(shape)}. Add a batch axis: x[None, :]."
            )
        if self.built and shape[-1] is not None and shape[-1] != self.params["kernel"].shape[0]:
            raise ValueError(
                f"Input {index} of layer '{self.name}' expects {self.params['kernel'].shape[0]} features "
                f"on the last axis, got shape {fmt_shape(shape)}."
            )

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(
                f"Layer '{self.name}' needs a known last axis, got shape {fmt_shape(input_shape)}."
            )
        self.add_kernel_and_bias((in_dim, self.units), self.units)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def forward(self, inputs, training=False):
        self._x = inputs
        z = inputs @ self.params["kernel"]
        if self.use_bias:
            z += self.params["bias"]
        return self._activate(z)

    def kernel_for(self, shape, dtype, training=False):
        """The bias + activation epilogue inference runs after its GEMM (``kernels.choose
        ("epilogue")``); training runs NumPy."""
        if training:
            return None
        return _kernels.choose(
            "epilogue",
            _kernels.Query(tuple(shape), np.dtype(dtype), activation=self.activation.name),
        )

    def inference_fn(self, shape, dtype):
        """A lean ``x -> y`` for inference (the graph engine's predict path): the same
        arithmetic as :meth:`forward`, in place, keeping nothing for a backward pass. None
        when :meth:`forward` must run (a subclass's own forward, another dtype)."""
        if type(self).forward is not Dense.forward or self.params["kernel"].dtype != dtype:
            return None
        self.check_input_shape(shape)
        params, use_bias, name = self.params, self.use_bias, self.activation.name
        activate = self.activation.forward
        no_bias = np.zeros(self.units, dtype)
        kernel = _kernels.choose(
            "epilogue", _kernels.Query(tuple(shape), np.dtype(dtype), activation=name)
        )
        if kernel.name == "rows":
            # One compiled call for bias + activation: NumPy's per-call overhead is most of
            # the cost at one sample.
            epilogue = kernel.fn

            def run_compiled(x):
                z = x @ params["kernel"]
                epilogue(z, params["bias"] if use_bias else no_bias, True)
                return z

            return run_compiled

        def run(x):
            z = x @ params["kernel"]
            if use_bias:
                z += params["bias"]
            if name == "softmax" and z.ndim == 2:  # softmax_forward, in place
                z -= np.maximum.reduce(z, axis=-1, keepdims=True)
                np.exp(z, out=z)
                z /= np.add.reduce(z, axis=-1, keepdims=True)
                return z
            if name == "relu":
                return np.maximum(z, 0, out=z)
            return z if name == "linear" else activate(z)

        return run

    def backward(self, grad):
        return self.backward_preactivation(self._activation_grad(grad))

    def backward_preactivation(self, grad_z):
        x = self._x
        x2 = x.reshape(-1, x.shape[-1])
        g2 = grad_z.reshape(-1, self.units)
        self.grads["kernel"] = x2.T @ g2
        if self.use_bias:
            self.grads["bias"] = g2.sum(axis=0)
        if not self.compute_input_grad:
            return None
        kernel = self.params["kernel"]
        if self.engine_internal_dx and grad_z.ndim == 2:
            # The graph engine hands dx straight to the layer before: a reused buffer.
            out = self._dx_buffer
            if (
                out is None
                or out.shape != (grad_z.shape[0], kernel.shape[0])
                or out.dtype != grad_z.dtype
            ):
                out = self._dx_buffer = np.empty((grad_z.shape[0], kernel.shape[0]), grad_z.dtype)
            return np.matmul(grad_z, kernel.T, out=out)
        return grad_z @ kernel.T

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, **self.kernel_layer_config())
        return config


class Activation(ActivationMixin, Layer):
    """Applies a named activation: ``layers.Activation("relu")``. Any input shape.

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.Activation("relu")(np.array([[-1.0, 2.0]], "float32"))
        array([[0., 2.]], dtype=float32)
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _activations.get(activation, f"Layer '{self.name}' argument activation")

    def forward(self, inputs, training=False):
        return self._activate(inputs)

    def backward(self, grad):
        return self._activation_grad(grad)

    def backward_preactivation(self, grad_z):
        return grad_z

    def get_config(self):
        config = super().get_config()
        config["activation"] = self.activation.name
        return config
