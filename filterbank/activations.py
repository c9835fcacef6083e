"""Activations by name, as Keras: ``activation="relu"`` or ``activations.get("relu")``.

Example:
    >>> import numpy as np
    >>> from filterbank import activations
    >>> activations.relu(np.array([-2.0, 3.0]))
    array([0., 3.])
    >>> activations.get(None).name
    'linear'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import unknown_name
from .ops import activations as _ops


@dataclass(frozen=True)
class Activation:
    """A named activation: ``forward(x)`` and ``backward(grad, x, y)``."""

    name: str
    forward: Callable
    backward: Callable

    def __call__(self, x):
        return self.forward(x)


_REGISTRY = {name: Activation(name, f, b) for name, (f, b) in _ops.ACTIVATIONS.items()}

linear = _REGISTRY["linear"]
relu = _REGISTRY["relu"]
leaky_relu = _REGISTRY["leaky_relu"]
elu = _REGISTRY["elu"]
gelu = _REGISTRY["gelu"]
sigmoid = _REGISTRY["sigmoid"]
tanh = _REGISTRY["tanh"]
softmax = _REGISTRY["softmax"]


def get(identifier, where: str | None = None) -> Activation:
    """Resolve None, a name or an :class:`Activation` to an :class:`Activation`.

    ``where`` names the caller in errors, e.g. "Layer 'dense' argument activation".
    """
    if identifier is None:
        return linear
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _REGISTRY:
            return _REGISTRY[key]
        raise unknown_name("activation", identifier, _REGISTRY, where)
    raise TypeError(
        (f"{where}: " if where else "")
        + f"activation must be a name such as 'relu' or None, got {type(identifier).__name__} "
        f"{identifier!r}. Use one of: {', '.join(sorted(_REGISTRY))}."
    )


def serialize(activation: Activation) -> str:
    return activation.name
