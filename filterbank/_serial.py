"""Keras's conventions for built-in objects: the envelope Keras 3 writes around a config
(and its check on reading), and how a name given as a string is matched.

Losses, metrics, optimizers and learning-rate schedules all serialize as
``{"module", "class_name", "config", "registered_name"}``.

Example:
    >>> class Halving:
    ...     def get_config(self):
    ...         return {"lr": 1.0}
    >>> keras_dict("keras.optimizers.schedules", Halving())["config"]
    {'lr': 1.0}
    >>> checked_config({"class_name": "Halving"}, "Schedule")["class_name"]
    'Halving'
    >>> name_lookup({"mean_squared_error": 1}, {"MeanSquaredError": 2})
    {'meansquarederror': 2}
"""

from __future__ import annotations


def keras_dict(module: str, obj) -> dict:
    """``obj``'s JSON-ready dict laid out as Keras's (``module`` as Keras names it)."""
    return {
        "module": module,
        "class_name": type(obj).__name__,
        "config": obj.get_config(),
        "registered_name": None,
    }


def checked_config(config, what: str) -> dict:
    """``config`` when it is a dict with a class_name, else a ValueError naming ``what``."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"{what} config must be a dict with 'class_name' and 'config', got {config!r}."
        )
    return config


def lookup_key(name: str) -> str:
    """A name as Keras matches it: without case or underscores ("MSE", "m_s_e" -> "mse")."""
    return name.lower().replace("_", "")


def name_lookup(*tables: dict) -> dict:
    """One table keyed by :func:`lookup_key` from name tables (later ones win on a clash)."""
    return {lookup_key(name): value for table in tables for name, value in table.items()}
