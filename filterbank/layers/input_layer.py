"""``Input`` and ``InputLayer``: where a functional graph starts.

Example:
    >>> import filterbank as keras
    >>> inputs = keras.Input(shape=(28, 28, 1))
    >>> inputs.shape
    (None, 28, 28, 1)
"""

from __future__ import annotations

from .. import backend
from .base import KerasTensor, Layer, Node


class InputLayer(Layer):
    """A placeholder layer with no weights; its output is the model input."""

    def __init__(
        self, shape=None, batch_size=None, name=None, dtype=None, batch_shape=None, **kwargs
    ):
        if batch_shape is None:
            if shape is None:
                raise ValueError(
                    "Input needs shape=, e.g. keras.Input(shape=(28, 28, 1)) (without the batch axis)."
                )
            if isinstance(shape, int):
                shape = (shape,)
            batch_shape = (batch_size, *tuple(shape))
        super().__init__(name=name, dtype=dtype, **kwargs)
        for d in batch_shape[1:]:
            if d is not None and (not isinstance(d, int) or d < 1):
                raise ValueError(
                    f"Input shape must hold positive integers or None, got {tuple(batch_shape[1:])}."
                )
        self.batch_shape = tuple(batch_shape)
        self.built = True
        out = KerasTensor(self.batch_shape, dtype or backend.floatx(), name=self.name)
        self._inbound_node = Node(self, [], out, False)
        out.node = self._inbound_node

    def forward(self, inputs, training=False):
        return inputs

    def backward(self, grad):
        return grad

    def compute_output_shape(self, input_shape):
        return self.batch_shape

    def get_config(self):
        config = super().get_config()
        config["batch_shape"] = list(self.batch_shape)
        return config


def Input(shape=None, batch_size=None, name=None, dtype=None, batch_shape=None) -> KerasTensor:
    """A symbolic input tensor: ``keras.Input(shape=(28, 28, 1))`` (no batch axis in shape)."""
    layer = InputLayer(
        shape=shape, batch_size=batch_size, name=name, dtype=dtype, batch_shape=batch_shape
    )
    return layer.output
