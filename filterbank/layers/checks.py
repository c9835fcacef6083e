"""Argument checks every layer shares: its dtype, and the size of a weight before it exists.

Both raise with the usual message shape (which layer, what was expected, what was received,
how to fix it) instead of NumPy's bare ``TypeError: data type 'banana' not understood`` or an
``_ArrayMemoryError`` deep inside an initializer.

Example:
    >>> check_layer_dtype("float64", "Dense")
    'float64'
    >>> try:
    ...     check_layer_dtype("int32", "Dense")
    ... except ValueError as e:
    ...     print(str(e)[:70])
    Dense(dtype='int32'): layers compute in float16, float32 or float64, g
"""

from __future__ import annotations

import math

import numpy as np

FLOAT_DTYPES = ("float16", "float32", "float64")
MAX_WEIGHT_BYTES = 2 * 1024**3
"""Most bytes one weight may take (2 GiB, the most a model file holds)."""


def check_layer_dtype(dtype, owner: str) -> str | None:
    """``np.dtype(dtype).name`` when it is a float type layers compute in; ValueError otherwise."""
    if dtype is None:
        return None
    try:
        name = np.dtype(dtype).name
    except (TypeError, ValueError):
        raise ValueError(
            f"{owner}(dtype={dtype!r}): {dtype!r} is not a data type. Use one of "
            f"{', '.join(FLOAT_DTYPES)} (or leave dtype unset for the default, float32)."
        ) from None
    if name not in FLOAT_DTYPES:
        raise ValueError(
            f"{owner}(dtype={dtype!r}): layers compute in {', '.join(FLOAT_DTYPES[:-1])} or "
            f"{FLOAT_DTYPES[-1]}, got {name}. Pass dtype='float32' (or leave dtype unset), and "
            "cast integer data when you feed it."
        )
    return name


def check_weight_size(layer, name: str, shape, dtype) -> None:
    """Refuse a weight larger than :data:`MAX_WEIGHT_BYTES` before allocating it."""
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        return  # the initializer reports a malformed shape itself
    itemsize = np.dtype(dtype or "float32").itemsize if _is_dtype(dtype) else 4
    nbytes = math.prod(dims) * itemsize
    if nbytes > MAX_WEIGHT_BYTES:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) would need a weight {name!r} of shape "
            f"{dims}: {nbytes:,} bytes, more than the {MAX_WEIGHT_BYTES:,} one weight may hold. "
            "Check the layer's arguments (units, filters, kernel_size) and its input shape."
        )


def _is_dtype(dtype) -> bool:
    try:
        np.dtype(dtype or "float32")
        return True
    except TypeError:
        return False
