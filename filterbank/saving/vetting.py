"""Checks that guard saving and loading against values and sizes a model file must not hold.

Split from :mod:`filterbank.saving.model_io`: what ``save`` refuses to write (non-finite or
non-float32/64 weights) and what ``load_model`` checks on the tensor headers before reading any
tensor data (the optimizer state's names, dtypes and shapes; the memory the tensors need).

Example:
    >>> import numpy as np
    >>> refuse_nonfinite({"d/kernel": np.ones(2)}, "m", "m.fbk")   # finite: nothing happens
"""

from __future__ import annotations

import math

import numpy as np

from .errors import file_error
from .tensorfile import FLOAT_DTYPES, STATE_DTYPES
from .values import DIVERGED, nonfinite

MAX_SLOTS = 3
"""Most optimizer slots one weight may have in a file."""


def _split_key(key: str) -> tuple[str, str]:
    layer, _, weight = key.rpartition("/")
    return layer, weight


def refuse_nonfinite(tensors, model_name: str, path) -> None:
    """ValueError (a save refusal) when a weight holds NaN or infinity."""
    bad = nonfinite(tensors)
    if bad is not None:
        layer, wname = _split_key(bad[0])
        raise ValueError(
            f"Cannot save model '{model_name}' to {path!r}: layer {layer!r} weight "
            f"{wname!r} holds {bad[1]:,} NaN or infinite values, and a filterbank "
            f"file holds finite weights only. {DIVERGED} Nothing was written."
        )


def check_float_weights(weights: dict, model_name: str, path) -> None:
    """ValueError (a save refusal) for weights that are not float32/float64 (float16)."""
    for layer, _, arr in weights.values():
        if arr.dtype not in (np.float32, np.float64):
            raise ValueError(
                f"Cannot save model '{model_name}' to {path!r}: layer '{layer.name}' keeps its "
                f"weights in {arr.dtype}, and a filterbank file stores float32 or float64. Build "
                "the model with dtype='float32' (or 'float64') to save it; float16 layers train "
                "but are not saved. Nothing was written."
            )


def check_optimizer_header(header: dict[str, tuple[str, tuple]], weights: dict, path) -> None:
    """Names, dtypes and shapes of the optimizer state, from its header (before any data).

    At most :data:`MAX_SLOTS` slots per weight (Adam with amsgrad and centred RMSprop keep 3),
    so the state can never need more than a few times the weights' own memory.
    """
    slots: dict[str, int] = {}
    for key, (code, shape) in header.items():
        if key == "iterations":
            if code != "I64" or shape != ():
                raise file_error(
                    path,
                    "optimizer.safetensors has an invalid 'iterations' "
                    f"(dtype {code}, shape {shape})",
                )
            continue
        if code not in FLOAT_DTYPES:
            raise file_error(
                path,
                f"optimizer.safetensors entry {key[:80]!r} has dtype "
                f"{STATE_DTYPES[code].name}; optimizer state is float",
            )
        if key == "learning_rate":
            if shape != ():
                raise file_error(path, "optimizer.safetensors has a non-scalar learning_rate")
            continue
        param, _ = _split_key(key)
        if param not in weights:
            layer, wname = _split_key(param)
            raise file_error(
                path,
                f"optimizer.safetensors holds state {key[:80]!r} for weight "
                f"{wname!r} of layer {layer!r}, which the model does not have",
            )
        slots[param] = slots.get(param, 0) + 1
        if slots[param] > MAX_SLOTS:
            raise file_error(
                path,
                f"optimizer.safetensors holds more than {MAX_SLOTS} slots for "
                f"weight {param[:80]!r}; no optimizer keeps more",
            )
        want = weights[param][2].shape
        if tuple(shape) != want:
            raise file_error(
                path,
                f"optimizer.safetensors holds state {key[:80]!r} of shape "
                f"{tuple(shape)} for a weight of shape {tuple(want)}",
            )
    if "iterations" not in header:
        raise file_error(path, "optimizer.safetensors lacks 'iterations'")


def check_memory(headers, path) -> None:
    """The tensors are read (decompressed) and decoded before they are copied into the model:
    refuse a file whose tensors need more memory than this process has left, before reading."""
    from ..models.memory import _fmt, available_bytes

    need = sum(
        math.prod(shape) * FLOAT_DTYPES.get(code, np.dtype("<i8")).itemsize
        for h in headers.values()
        for code, shape in h.values()
    )
    avail = available_bytes()
    if avail is not None and 2 * need > avail:
        raise file_error(
            path,
            f"its tensors need {_fmt(2 * need)} of memory to load (read and "
            f"decoded), more than the {_fmt(avail)} available",
            "Free memory, or load it on a machine with more.",
        )
