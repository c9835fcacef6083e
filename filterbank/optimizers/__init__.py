"""Optimizers with Keras 3's names, defaults and update formulas, updating NumPy arrays in place.

``optimizers.get("rmsprop")`` (or "adam", "sgd", "adamw", a config dict, an instance)
gives an :class:`Optimizer`; ``apply_gradients([(grad, param, key), ...])`` updates the
params in place; ``get_state()``/``set_state()`` save and restore the state exactly.

Example:
    >>> import numpy as np
    >>> from filterbank import optimizers
    >>> opt = optimizers.get("rmsprop")
    >>> opt.get_config()["learning_rate"], opt.get_config()["rho"]
    (0.001, 0.9)
    >>> w = np.zeros(3, dtype="float32")
    >>> opt.apply_gradients([(np.ones(3, dtype="float32"), w, "dense/bias")])
    >>> sorted(opt.get_state())
    ['dense/bias/velocity', 'iterations', 'learning_rate']
"""

from __future__ import annotations

from .._serial import checked_config, keras_dict
from ..errors import unknown_name
from . import schedules
from .adaptive import Adam, AdamW, RMSprop
from .base import Optimizer, clip_by_global_norm, clip_by_norm
from .sgd import SGD

_CLASSES = {cls.__name__: cls for cls in (SGD, RMSprop, Adam, AdamW)}
_LOOKUP = {name.lower(): cls for name, cls in _CLASSES.items()}


def get(identifier) -> Optimizer:
    """Resolve a name (case-insensitive), config dict or :class:`Optimizer` to an Optimizer.

    Example:
        >>> type(get("Adam")).__name__
        'Adam'
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _LOOKUP.get(identifier.lower())
        if cls is None:
            raise unknown_name("optimizer", identifier, _LOOKUP)
        return cls()
    raise TypeError(
        f"Could not interpret optimizer {identifier!r} of type {type(identifier).__name__}. "
        "Pass a name such as 'rmsprop', an Optimizer instance or a config dict."
    )


def serialize(optimizer: Optimizer) -> dict:
    """A JSON-ready dict laid out as Keras's: module, class_name, config, registered_name."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"serialize expects an Optimizer, got {type(optimizer).__name__}.")
    return keras_dict("keras.optimizers", optimizer)


def deserialize(config, custom_objects: dict | None = None) -> Optimizer:
    """Inverse of :func:`serialize`; also accepts a plain name."""
    if isinstance(config, str):
        return get(config)
    checked_config(config, "Optimizer")
    name = str(config["class_name"])
    cls = _LOOKUP.get(name.lower())
    if cls is None:
        raise unknown_name("optimizer", name, _LOOKUP)
    return cls.from_config(dict(config.get("config") or {}), custom_objects=custom_objects)


__all__ = [
    "Optimizer",
    "SGD",
    "RMSprop",
    "Adam",
    "AdamW",
    "schedules",
    "get",
    "serialize",
    "deserialize",
    "clip_by_norm",
    "clip_by_global_norm",
]
