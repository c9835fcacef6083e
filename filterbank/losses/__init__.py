"""Losses with Keras's names, defaults and formulas, each with its gradient.

``losses.get("categorical_crossentropy")`` (or "mse", "MeanSquaredError", a config
dict, an instance) gives a :class:`Loss`. Calling it gives the reduced loss;
``forward_backward`` also gives dLoss/dy_pred, and losses that follow a softmax or
sigmoid offer ``forward_backward_logits`` (the stable fused path, see ``fuses_with``).

Example:
    >>> import numpy as np
    >>> from filterbank import losses
    >>> loss = losses.get("sparse_categorical_crossentropy")
    >>> loss.fuses_with
    'softmax'
    >>> value, grad = loss.forward_backward_logits(np.array([0, 1]), np.zeros((2, 3)))
    >>> round(value, 4), grad.shape
    (1.0986, (2, 3))
"""

from __future__ import annotations

from .._serial import checked_config, keras_dict, lookup_key, name_lookup
from ..errors import unknown_name
from .base import Loss, squeeze_or_expand_to_same_rank
from .probabilistic import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
)
from .regression import (
    MeanAbsoluteError,
    MeanSquaredError,
    mean_absolute_error,
    mean_squared_error,
)

# Keras's short aliases of the functions.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
bce = BCE = binary_crossentropy

_CLASSES = {
    cls.__name__: cls
    for cls in (
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        BinaryCrossentropy,
        MeanSquaredError,
        MeanAbsoluteError,
    )
}
# Every spelling Keras accepts, keyed without case or underscores.
_NAMES = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
}

_LOOKUP = name_lookup(_NAMES, _CLASSES)


def get(identifier) -> Loss | None:
    """Resolve a loss name, config dict or :class:`Loss` to a :class:`Loss` (None stays None).

    Example:
        >>> get("mse").name
        'mean_squared_error'
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()  # Keras instantiates a class given as the loss
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _LOOKUP.get(lookup_key(identifier))
        if cls is None:
            raise unknown_name("loss", identifier, _NAMES)
        return cls()
    if callable(identifier):
        raise TypeError(
            f"Loss {getattr(identifier, '__name__', identifier)!r} is a plain function; filterbank "
            "has no automatic differentiation, so it cannot train on it. Subclass losses.Loss and "
            "implement call(y_true, y_pred) and call_backward(y_true, y_pred, upstream)."
        )
    raise TypeError(
        f"Could not interpret loss {identifier!r} of type {type(identifier).__name__}. Pass a name "
        f"such as 'categorical_crossentropy', a Loss instance or a config dict."
    )


def serialize(loss: Loss) -> dict:
    """A JSON-ready dict laid out as Keras's: module, class_name, config, registered_name."""
    if not isinstance(loss, Loss):
        raise TypeError(f"serialize expects a Loss, got {type(loss).__name__}.")
    return keras_dict("keras.losses", loss)


def deserialize(config) -> Loss:
    """Inverse of :func:`serialize`; also accepts a plain name."""
    if isinstance(config, str):
        return get(config)
    checked_config(config, "Loss")
    name = config["class_name"]
    cls = _CLASSES.get(name) or _LOOKUP.get(lookup_key(str(name)))
    if cls is None:
        raise unknown_name("loss", name, _CLASSES)
    return cls.from_config(dict(config.get("config") or {}))


__all__ = [
    "Loss",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "BinaryCrossentropy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "mse",
    "mae",
    "bce",
    "MSE",
    "MAE",
    "BCE",
    "get",
    "serialize",
    "deserialize",
    "squeeze_or_expand_to_same_rank",
]
