"""Helpers of :mod:`filterbank.explore.session`: layer descriptions, JSON encodings, class names.

They use the public layer API only (``get_config``, ``input``, ``output``, ``activation``).

Example:
    >>> import numpy as np
    >>> encode(np.array([1.5, -2.0]), "base64")
    {'shape': [2], 'dtype': 'float32', 'base64': 'AADAPwAAAMA='}
    >>> plain({"a": np.float32(0.5), "b": [np.int64(3), float("nan")]})
    {'a': 0.5, 'b': [3, None]}
"""

from __future__ import annotations

import base64
import math

import numpy as np

from .preprocess import BadInput


def layer_kind(layer) -> str:
    name = type(layer).__name__
    for key, kind in (
        ("Conv", "conv"),
        ("MaxPool", "max_pool"),
        ("AveragePool", "average_pool"),
        ("GlobalMax", "global_max_pool"),
        ("GlobalAverage", "global_average_pool"),
        ("Dense", "dense"),
        ("Flatten", "flatten"),
        ("BatchNorm", "batch_norm"),
        ("Dropout", "dropout"),
    ):
        if key in name:
            return kind
    return name.lower()


def shape_of(tensor_shape) -> list:
    return [None if d is None else int(d) for d in tuple(tensor_shape)[1:]]


def config_line(layer) -> str:
    """The arguments a learner wants to see: kernel, strides, padding, activation."""
    config = layer.get_config()
    parts = []
    if "filters" in config:
        parts.append(f"{config['filters']} filters")
    if "units" in config:
        parts.append(f"{config['units']} units")
    for key, label in (("kernel_size", "kernel"), ("pool_size", "pool"), ("strides", "stride")):
        value = config.get(key)
        if value is not None:
            value = tuple(value) if isinstance(value, (list, tuple)) else (value,)
            parts.append(f"{label} {'x'.join(str(v) for v in value)}")
    if "dilation_rate" in config and any(d != 1 for d in np.atleast_1d(config["dilation_rate"])):
        parts.append(f"dilation {config['dilation_rate']}")
    if config.get("padding"):
        parts.append(f"padding {config['padding']}")
    act = config.get("activation")
    if isinstance(act, str) and act != "linear":
        parts.append(f"activation {act}")
    return ", ".join(parts)


def encode(array: np.ndarray, encoding: str):
    """An array as JSON: nested ``lists``, or ``base64`` of little-endian float32 bytes."""
    array = np.asarray(array, dtype=np.float32)
    if encoding == "base64":
        return {
            "shape": list(array.shape),
            "dtype": "float32",
            "base64": base64.b64encode(array.astype("<f4").tobytes()).decode("ascii"),
        }
    return array.tolist()


def inbound(layer) -> list:
    inp = layer.input
    return list(inp) if isinstance(inp, (list, tuple)) else [inp]


def producer_name(tensor):
    """The layer that outputs ``tensor`` (None for the model's input)."""
    layer = getattr(getattr(tensor, "node", None), "layer", None)
    if layer is None or type(layer).__name__ == "InputLayer":
        return None
    return layer.name


def activation_name(layer):
    act = getattr(layer, "activation", None)
    return getattr(act, "name", None) if act is not None else None


def builtin_class_names(name):
    from ..cli.data import builtin_class_names

    return builtin_class_names(name)


def probabilities(outputs: np.ndarray) -> np.ndarray:
    if outputs.min() >= 0 and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3):
        return outputs
    e = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def explain_available() -> list[str]:
    """Which explain functions this filterbank has (the page hides what is missing)."""
    try:
        explain = explain_module()
    except BadInput:
        return []
    return [n for n in ("cell", "feature_maps", "saliency", "grad_cam") if hasattr(explain, n)]


def explain_module():
    try:
        from .. import explain
    except ImportError:
        raise BadInput(
            "this filterbank has no explain package; cell arithmetic needs it.", 501
        ) from None
    return explain


def plain(value):
    """NumPy values inside nested dicts/lists as JSON-ready Python values (NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = [
    "activation_name",
    "builtin_class_names",
    "config_line",
    "encode",
    "explain_available",
    "explain_module",
    "inbound",
    "layer_kind",
    "plain",
    "probabilities",
    "producer_name",
    "shape_of",
]
