"""What BackupAndRestore saves besides the arrays it names: weight order, seeded generators,
built-in callbacks' counters, the running metrics of an epoch, and the JSON encoding.

Example:
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> model = keras.Sequential([keras.Input(shape=(3,)), layers.Dropout(0.5, seed=1)])
    >>> sorted(layer_generators(model))
    ['0/_generator']
"""

from __future__ import annotations

import json

import numpy as np

from .. import backend
from .. import metrics as _metrics
from .early_stopping import EarlyStopping
from .learning_rate import ReduceLROnPlateau
from .model_checkpoint import ModelCheckpoint

# The attributes that carry a built-in callback's state from one epoch to the next.
CALLBACK_FIELDS = (
    (EarlyStopping, ("wait", "stopped_epoch", "best", "best_epoch", "direction")),
    (ReduceLROnPlateau, ("wait", "cooldown_counter", "best", "direction")),
    (ModelCheckpoint, ("best", "direction", "_batches_since_save")),
)


def weight_slots(model) -> list:
    """(layer, weight name, array) for every weight, in ``get_weights()`` order."""
    return [(layer, wname, arr) for layer in model.layers for wname, arr in layer.params.items()]


def layer_generators(model) -> dict[str, np.random.Generator]:
    """``{"<layer index>/<attribute>": generator}`` for layers with their own (seeded) one."""
    out = {}
    shared = backend.rng()
    for i, layer in enumerate(model.layers):
        for attr, value in sorted(vars(layer).items()):
            if isinstance(value, np.random.Generator) and value is not shared:
                out[f"{i}/{attr}"] = value
    return out


def fields_of(cb):
    """The state attributes of a built-in callback, or None."""
    for cls, fields in CALLBACK_FIELDS:
        if isinstance(cb, cls):
            return fields
    return None


def metric_state(compiled, arrays) -> dict:
    """The running loss and metrics of the current epoch (metric arrays go to ``arrays``)."""
    trackers = [compiled.total_tracker] + [spec.tracker for spec in compiled.outputs]
    metrics = []
    for j, spec in enumerate(compiled.outputs):
        for k, metric in enumerate(spec.metrics):
            entry = {"resolved": None, "saved": False}
            inner = metric
            if hasattr(metric, "resolved"):  # AutoAccuracy picks its metric at the first batch
                inner = metric.resolved
                entry["resolved"] = None if inner is None else type(inner).__name__
            if inner is not None and hasattr(inner, "get_state"):
                for name, value in inner.get_state().items():
                    arrays[f"metrics/{j}/{k}/{name}"] = np.asarray(value)
                entry["saved"] = True
            metrics.append(entry)
    return {"trackers": [[t.total, t.count] for t in trackers], "metrics": metrics}


def set_metric_state(compiled, state: dict, arrays: dict) -> None:
    """Put back what :func:`metric_state` saved (after the epoch's reset)."""
    trackers = [compiled.total_tracker] + [spec.tracker for spec in compiled.outputs]
    for tracker, (total, count) in zip(trackers, state["trackers"]):
        tracker.total, tracker.count = total, count
    entries = iter(state["metrics"])
    for j, spec in enumerate(compiled.outputs):
        for k, metric in enumerate(spec.metrics):
            entry = next(entries, None)
            if entry is None or not entry["saved"]:
                continue  # no get_state(): its epoch value covers the batches after the resume
            inner = metric
            if hasattr(metric, "resolved"):
                if metric.resolved is None:
                    metric.resolved = getattr(_metrics, entry["resolved"])(name=metric.name)
                inner = metric.resolved
            prefix = f"metrics/{j}/{k}/"
            inner.set_state(
                {
                    key[len(prefix) :]: value
                    for key, value in arrays.items()
                    if key.startswith(prefix)
                }
            )


def to_json(value) -> bytes:
    """UTF-8 JSON; NumPy scalars and arrays become numbers and lists, anything else is an error."""

    def default(obj):
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        raise TypeError(
            f"BackupAndRestore can only back up numbers, strings, lists and dicts, got a "
            f"{type(obj).__name__} ({obj!r:.80}). Keep such values out of the logs and out of "
            "get_backup_state()."
        )

    return json.dumps(value, default=default).encode("utf-8")
