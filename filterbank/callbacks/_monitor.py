"""What "better" means for a monitored quantity (shared by EarlyStopping, ModelCheckpoint,
ReduceLROnPlateau), and the warning for a quantity missing from the logs.

``mode="auto"`` infers the direction as Keras 3 does: a loss goes down; a metric object on the
model with a ``_direction`` ("up"/"down") says so; otherwise the name decides (accuracy, AUC,
precision, recall, ... go up; errors, crossentropies, divergences go down). A name that says
nothing (a custom metric "score") is an error asking for ``mode="min"`` or ``mode="max"``.

Example:
    >>> resolve_direction("val_accuracy", "auto"), resolve_direction("val_loss", "auto")
    ('max', 'min')
"""

from __future__ import annotations

import warnings

MODES = ("auto", "min", "max")

# Substrings of metric names that go up / down (checked after removing "val_").
_UP_HINTS = (
    "acc",
    "auc",
    "precision",
    "recall",
    "f1",
    "fbeta",
    "fmeasure",
    "iou",
    "sensitivity",
    "specificity",
    "r2_score",
    "cosine_similarity",
    "true_positives",
    "true_negatives",
)
_DOWN_HINTS = (
    "loss",
    "error",
    "crossentropy",
    "hinge",
    "divergence",
    "logcosh",
    "poisson",
    "false_positives",
    "false_negatives",
    "mse",
    "mae",
    "mape",
    "msle",
    "rmse",
    "bce",
    "cce",
    "kld",
)


def check_mode(mode, owner):
    """Keras falls back to "auto" (with a warning) for an unknown mode."""
    if mode not in MODES:
        warnings.warn(
            f"{owner} mode {mode!r} is unknown, fallback to auto mode. "
            f"Valid modes: {', '.join(MODES)}.",
            stacklevel=3,
        )
        return "auto"
    return mode


def _direction_from_model(model, name):
    try:
        stack = list(getattr(model, "metrics", None) or [])
    except Exception:  # an uncompiled model may refuse to list its metrics
        return None
    while stack:
        metric = stack.pop()
        inner = getattr(metric, "metrics", None)
        if isinstance(inner, (list, tuple)):
            stack.extend(inner)
        if getattr(metric, "name", None) == name:
            direction = getattr(metric, "_direction", None) or getattr(metric, "direction", None)
            if direction in ("up", "down"):
                return "max" if direction == "up" else "min"
    return None


def resolve_direction(monitor, mode, model=None, owner="callback"):
    """Return "min" or "max" for ``monitor`` (see the module docstring).

    Raises:
        ValueError: ``mode="auto"`` and the direction cannot be inferred.
    """
    if mode in ("min", "max"):
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss" or name.endswith("_loss"):
        return "min"
    found = _direction_from_model(model, name) if model is not None else None
    if found:
        return found
    lowered = name.lower()
    if any(hint in lowered for hint in _UP_HINTS):
        return "max"
    if any(hint in lowered for hint in _DOWN_HINTS):
        return "min"
    raise ValueError(
        f"{owner} received monitor={monitor!r} but cannot tell whether that metric should be "
        "maximized or minimized. Pass mode='max' to keep the highest value, or mode='min' to "
        "keep the lowest."
    )


def warn_missing(what, monitor, logs, stacklevel=3):
    """Warn (never raise) that ``monitor`` is not in ``logs``, naming the keys that are."""
    keys = list(logs or {})
    hint = ""
    if monitor.startswith("val_") and not any(k.startswith("val_") for k in keys):
        hint = (
            " There are no val_ metrics: pass validation_data=(x_val, y_val) or "
            "validation_split=0.1 to fit(), or monitor a training metric."
        )
    warnings.warn(
        f"{what} conditioned on metric `{monitor}` which is not available. "
        f"Available metrics are: {','.join(keys)}.{hint}",
        stacklevel=stacklevel,
    )
