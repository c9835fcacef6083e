"""Loss-valued metrics: MSE, MAE, RMSE and the cross-entropies, same formulas as the losses.

Example:
    >>> import numpy as np
    >>> from filterbank.metrics import MeanAbsoluteError
    >>> MeanAbsoluteError()(np.array([[1.0], [2.0]]), np.array([[1.5], [2.0]]))
    0.25
"""

from __future__ import annotations

import numpy as np

from .. import losses as _losses
from .base import MeanMetricWrapper


def _per_sample_loss(loss_cls):
    def fn(y_true, y_pred, **kwargs):
        return loss_cls(reduction="none", **kwargs)(y_true, y_pred)

    fn.__name__ = loss_cls.default_name
    return fn


class _LossMetric(MeanMetricWrapper):
    """The mean of the per-sample values of the loss class ``_loss``; a subclass with loss
    arguments declares them (Keras's signature) and hands them to :meth:`_wrap_loss`."""

    _loss = None

    def __init__(self, name=None, dtype=None):
        self._wrap_loss(name, dtype)

    def _wrap_loss(self, name, dtype, **loss_args):
        MeanMetricWrapper.__init__(
            self,
            _per_sample_loss(self._loss),
            name=name or self.default_name,
            dtype=dtype,
            **loss_args,
        )


class MeanSquaredError(_LossMetric):
    """Mean of per-sample mean squared errors ("mse")."""

    default_name = "mean_squared_error"
    _loss = _losses.MeanSquaredError


class MeanAbsoluteError(_LossMetric):
    """Mean of per-sample mean absolute errors ("mae")."""

    default_name = "mean_absolute_error"
    _loss = _losses.MeanAbsoluteError


class RootMeanSquaredError(MeanSquaredError):
    """sqrt of the mean squared error over all samples seen."""

    default_name = "root_mean_squared_error"

    def result(self):
        return float(np.sqrt(super().result()))


class CategoricalCrossentropy(_LossMetric):
    """Mean categorical cross-entropy (same formula as the loss)."""

    default_name = "categorical_crossentropy"
    _loss = _losses.CategoricalCrossentropy

    def __init__(self, name=None, dtype=None, from_logits=False, label_smoothing=0.0, axis=-1):
        self._wrap_loss(
            name, dtype, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis
        )


class SparseCategoricalCrossentropy(_LossMetric):
    """Mean sparse categorical cross-entropy (same formula as the loss)."""

    default_name = "sparse_categorical_crossentropy"
    _loss = _losses.SparseCategoricalCrossentropy

    def __init__(self, name=None, dtype=None, from_logits=False, axis=-1):
        self._wrap_loss(name, dtype, from_logits=from_logits, axis=axis)


class BinaryCrossentropy(_LossMetric):
    """Mean binary cross-entropy (same formula as the loss)."""

    default_name = "binary_crossentropy"
    _loss = _losses.BinaryCrossentropy

    def __init__(self, name=None, dtype=None, from_logits=False, label_smoothing=0.0):
        self._wrap_loss(name, dtype, from_logits=from_logits, label_smoothing=label_smoothing)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean squared error (Keras's metric function)."""
    return _losses.MeanSquaredError(reduction="none")(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean absolute error (Keras's metric function)."""
    return _losses.MeanAbsoluteError(reduction="none")(y_true, y_pred)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
