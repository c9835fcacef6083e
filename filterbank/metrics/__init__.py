"""Metrics with Keras's names: streaming, sample-weighted means of per-sample values.

A metric accumulates over ``update_state`` calls and ``result()`` gives the weighted mean
so far; the result over several batches equals the result over their concatenation.
``metrics.get("accuracy", loss=...)`` picks binary / sparse / categorical accuracy the
way ``model.compile(metrics=["accuracy"])`` does, keeping the name the user wrote.

Example:
    >>> import numpy as np
    >>> from filterbank import metrics
    >>> acc = metrics.get("acc", loss="sparse_categorical_crossentropy")
    >>> type(acc).__name__, acc.name
    ('SparseCategoricalAccuracy', 'acc')
    >>> acc.update_state(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]]))
    >>> acc.update_state(np.array([1]), np.array([[0.3, 0.7]]))
    >>> round(acc.result(), 4)
    0.6667
"""

from __future__ import annotations

from .. import losses as _losses
from .._serial import checked_config, keras_dict, lookup_key, name_lookup
from ..errors import unknown_name
from .accuracy import (
    Accuracy,
    AutoAccuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from .base import Mean, MeanMetricWrapper, Metric
from .regression import (
    MAE,
    MSE,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    MeanAbsoluteError,
    MeanSquaredError,
    RootMeanSquaredError,
    SparseCategoricalCrossentropy,
    mae,
    mean_absolute_error,
    mean_squared_error,
    mse,
)

# ---- lookup --------------------------------------------------------------------------------

_CLASSES = {
    cls.__name__: cls
    for cls in (
        Mean,
        Accuracy,
        BinaryAccuracy,
        CategoricalAccuracy,
        SparseCategoricalAccuracy,
        TopKCategoricalAccuracy,
        SparseTopKCategoricalAccuracy,
        MeanSquaredError,
        MeanAbsoluteError,
        RootMeanSquaredError,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        BinaryCrossentropy,
    )
}
_NAMES = {cls.default_name: cls for cls in _CLASSES.values() if cls is not Mean}
_NAMES.update(
    {
        "mse": MeanSquaredError,
        "mae": MeanAbsoluteError,
        "bce": BinaryCrossentropy,
        "rmse": RootMeanSquaredError,
    }
)

_LOOKUP = name_lookup(_NAMES, _CLASSES)


def _accuracy_for(name: str, loss) -> Metric:
    if isinstance(loss, (str, dict)):
        try:
            loss = _losses.get(loss)
        except ValueError:
            loss = None
    if isinstance(loss, _losses.BinaryCrossentropy):
        # With logits the decision boundary is 0, not 0.5 (Keras keeps 0.5 there, which
        # silently misreports; a sigmoid output of 0.5 is a logit of 0).
        return BinaryAccuracy(name=name, threshold=0.0 if loss.from_logits else 0.5)
    if isinstance(loss, _losses.SparseCategoricalCrossentropy):
        return SparseCategoricalAccuracy(name=name)
    if isinstance(loss, _losses.CategoricalCrossentropy):
        return CategoricalAccuracy(name=name)
    return AutoAccuracy(name=name)


def get(identifier, loss=None) -> Metric | None:
    """Resolve a metric name, config dict, function or :class:`Metric` (None stays None).

    "accuracy"/"acc" become binary, sparse categorical or categorical accuracy by the
    loss (binary / sparse categorical / categorical cross-entropy; binary accuracy
    thresholds logits at 0 when the loss has from_logits=True); with another loss,
    by the shapes of the first batch (Keras 3's rule). A string keeps its spelling as the
    metric's name, so History keys match what the user asked for.

    Example:
        >>> m = get("mse")
        >>> type(m).__name__, m.name
        ('MeanSquaredError', 'mse')
    """
    if identifier is None or isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return _accuracy_for(identifier, loss)
        cls = _LOOKUP.get(lookup_key(identifier))
        if cls is None or cls is Mean:
            raise unknown_name("metric", identifier, list(_NAMES) + ["accuracy", "acc"])
        return cls(name=identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(
        f"Could not interpret metric {identifier!r} of type {type(identifier).__name__}. Pass a "
        "name such as 'accuracy', a Metric instance, a function or a config dict."
    )


def serialize(metric: Metric) -> dict:
    """A JSON-ready dict laid out as Keras's: module, class_name, config, registered_name."""
    if type(metric) not in _CLASSES.values():
        raise TypeError(f"Cannot serialize metric {metric!r}: only built-in metric classes.")
    return keras_dict("keras.metrics", metric)


def deserialize(config) -> Metric:
    """Inverse of :func:`serialize`; also accepts a plain name."""
    if isinstance(config, str):
        return get(config)
    checked_config(config, "Metric")
    cls = _CLASSES.get(config["class_name"])
    if cls is None:
        raise unknown_name("metric", config["class_name"], _CLASSES)
    return cls.from_config(dict(config.get("config") or {}))


__all__ = [
    "Metric",
    "Mean",
    "MeanMetricWrapper",
    "Accuracy",
    "AutoAccuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "RootMeanSquaredError",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "BinaryCrossentropy",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "mean_squared_error",
    "mean_absolute_error",
    "mse",
    "mae",
    "MSE",
    "MAE",
    "get",
    "serialize",
    "deserialize",
]
