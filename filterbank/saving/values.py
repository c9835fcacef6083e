"""Checks on the *values* a model file holds, after its structure has been checked.

Policy (the same in every direction): a filterbank model file holds finite weights and a sane
optimizer state, so

* ``load_model`` / ``load_weights`` refuse a file whose weights hold NaN or infinity, whose
  learning rate is not a finite number in [0, :data:`MAX_LEARNING_RATE`], or whose optimizer
  slots hold NaN/infinity (or negative values where the slot is a running mean of squares);
* ``model.save`` / ``save_weights`` refuse to write non-finite weights (a diverged run), with
  the same words; ``set_weights`` refuses them too (:mod:`filterbank.layers.checks`).

Example:
    >>> import numpy as np
    >>> nonfinite({"dense/kernel": np.array([1.0, np.nan])})
    ('dense/kernel', 1)
"""

from __future__ import annotations

import math

import numpy as np

from .errors import file_error

MAX_LEARNING_RATE = 1e4
"""Largest learning rate a file may hold: far above any rate that trains, far below overflow."""
# Slots that are running means of squared gradients, so never negative.
SQUARE_SLOTS = (
    "velocity",
    "velocity_hat",
    "accumulator",
    "accumulated_grad",
    "accumulated_delta_var",
)
DIVERGED = "A run that diverged saves NaN/inf weights: lower the learning rate and train again."


def nonfinite(tensors: dict[str, np.ndarray]) -> tuple[str, int] | None:
    """``(name, count)`` of the first float tensor holding NaN or infinity, or None."""
    for name, arr in tensors.items():
        arr = np.asarray(arr)
        if arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
            return name, int(arr.size - np.count_nonzero(np.isfinite(arr)))
    return None


def check_weights_finite(tensors: dict[str, np.ndarray], path) -> None:
    """ModelFileError when a weight in the file holds NaN or infinity."""
    bad = nonfinite(tensors)
    if bad is not None:
        layer, _, weight = bad[0].rpartition("/")
        raise file_error(
            path,
            f"layer {layer!r} weight {weight!r} holds {bad[1]:,} NaN or infinite values",
            DIVERGED,
        )


def check_learning_rate(value, path, where: str) -> None:
    """ModelFileError unless ``value`` is a finite number in [0, MAX_LEARNING_RATE].

    Example:
        >>> check_learning_rate(0.001, "m.fbk", "optimizer.safetensors")
        >>> try:
        ...     check_learning_rate(float("nan"), "m.fbk", "optimizer.safetensors")
        ... except ValueError as e:
        ...     print(str(e)[:60])
        Cannot load 'm.fbk': optimizer.safetensors has learning rate
    """
    try:
        lr = float(value)
    except (TypeError, ValueError):
        return  # a schedule (a dict): its constructor checks its own arguments
    if not math.isfinite(lr) or lr < 0 or lr > MAX_LEARNING_RATE:
        raise file_error(
            path,
            f"{where} has learning rate {lr!r}; expected a finite number in "
            f"[0, {MAX_LEARNING_RATE:g}]",
        )


def check_optimizer_values(state: dict[str, np.ndarray], path) -> None:
    """ModelFileError for a non-finite / negative / absurd value in the optimizer state."""
    if "learning_rate" in state:
        check_learning_rate(state["learning_rate"], path, "optimizer.safetensors")
    for key, arr in state.items():
        if key in ("iterations", "learning_rate"):
            continue
        if arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
            raise file_error(
                path, f"optimizer.safetensors entry {key[:80]!r} holds NaN or infinite values"
            )
        if key.rpartition("/")[2] in SQUARE_SLOTS and arr.size and float(arr.min()) < 0:
            raise file_error(
                path,
                f"optimizer.safetensors entry {key[:80]!r} holds negative "
                "values, but it is a running mean of squares",
            )


def check_compile_values(compile_config, path) -> None:
    """The learning rate written in config.json's compile settings, if a number."""
    opt = compile_config.get("optimizer") if isinstance(compile_config, dict) else None
    if isinstance(opt, dict) and isinstance(opt.get("config"), dict):
        lr = opt["config"].get("learning_rate")
        if isinstance(lr, (int, float)) and not isinstance(lr, bool):
            check_learning_rate(lr, path, "config.json's optimizer")
