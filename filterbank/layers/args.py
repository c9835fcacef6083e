"""Argument checks every layer shares: int-or-tuple sizes, padding names, data_format.

One helper per kind of argument, one message each (naming the layer, what was expected,
what came, and a fix).

Example:
    >>> check_int_tuple("conv2d", "kernel_size", 3, 2, "3 or (3, 3)")
    (3, 3)
    >>> check_data_format("conv2d", None)
    'channels_last'
"""

from __future__ import annotations

import numpy as np

from ..errors import did_you_mean
from ..ops.padding import PADDINGS


def check_data_format(layer_name: str, data_format) -> str:
    """filterbank is channels-last only; accept Keras's names for that and explain the rest."""
    if data_format is None or data_format == "channels_last":
        return "channels_last"
    if data_format == "channels_first":
        raise ValueError(
            f"Layer '{layer_name}' supports data_format='channels_last' only (filterbank is "
            "channels-last only: NHWC images, NWC sequences), got 'channels_first'. Move the "
            "channel axis last, e.g. x.transpose(0, 2, 3, 1) for NCHW images, and drop "
            "data_format."
        )
    raise ValueError(
        f"Layer '{layer_name}' argument data_format expects 'channels_last' or None, got "
        f"{data_format!r}. {did_you_mean(str(data_format), ['channels_last', 'channels_first'])}"
    )


def check_int_tuple(layer_name: str, arg: str, value, n: int, example: str) -> tuple:
    """An int or n positive ints -> a tuple of n ints, or a ValueError naming the layer."""
    items = (value,) * n if isinstance(value, (int, np.integer)) else value
    try:
        items = tuple(items)
    except TypeError:
        items = None
    ok = (
        items is not None
        and len(items) == n
        and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in items
        )
    )
    if not ok:
        raise ValueError(
            f"Layer '{layer_name}' argument {arg} expects a positive integer or a tuple of {n} "
            f"positive integers, got {value!r}. Pass e.g. {arg}={example}."
        )
    return tuple(int(v) for v in items)


def check_padding(layer_name: str, padding, allowed=PADDINGS) -> str:
    """The padding name, lower-cased, or a ValueError naming the layer and the choices."""
    key = padding.lower() if isinstance(padding, str) else padding
    if key not in allowed:
        raise ValueError(
            f"Layer '{layer_name}' argument padding expects "
            f"{' or '.join(repr(a) for a in allowed)}, got {padding!r}. "
            + did_you_mean(str(padding), allowed)
        )
    return key
