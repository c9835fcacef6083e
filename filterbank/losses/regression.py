"""Regression losses: mean squared error and mean absolute error, as Keras.

``mean_squared_error = mean((y_pred - y_true)**2, axis=-1)``,
``mean_absolute_error = mean(|y_pred - y_true|, axis=-1)``.
Shapes: y_true, y_pred (N, ..., K) (or (N,)) -> per-sample values (N, ...).

Example:
    >>> import numpy as np
    >>> from filterbank import losses
    >>> losses.mean_squared_error(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]]))
    array([0.5])
"""

from __future__ import annotations

import numpy as np

from .base import ElementwiseLoss, elementwise_function_result


class MeanSquaredError(ElementwiseLoss):
    """Mean of squared errors over the last axis (Keras's ``MeanSquaredError``, "mse").

    Example:
        >>> import numpy as np
        >>> MeanSquaredError()(np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]]))
        0.5
    """

    default_name = "mean_squared_error"

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _value_and_grad(self, y_true, y_pred, upstream, need_grad=True):
        d = y_pred - y_true
        values = (d * d).mean(axis=-1)
        if not need_grad:
            return values, None
        return values, d * (2.0 * upstream.astype(y_pred.dtype)[..., None] / y_pred.shape[-1])


class MeanAbsoluteError(ElementwiseLoss):
    """Mean of absolute errors over the last axis (Keras's ``MeanAbsoluteError``, "mae").

    The derivative at y_pred == y_true is taken as 0 (as TensorFlow and PyTorch).

    Example:
        >>> import numpy as np
        >>> MeanAbsoluteError()(np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]]))
        0.5
    """

    default_name = "mean_absolute_error"

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _value_and_grad(self, y_true, y_pred, upstream, need_grad=True):
        d = y_pred - y_true
        values = np.abs(d).mean(axis=-1)
        if not need_grad:
            return values, None
        return values, np.sign(d) * (upstream.astype(y_pred.dtype)[..., None] / y_pred.shape[-1])


def mean_squared_error(y_true, y_pred):
    """Per-sample mean squared error over the last axis (a scalar for 1-D input)."""
    return elementwise_function_result(MeanSquaredError(reduction="none"), y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean absolute error over the last axis (a scalar for 1-D input)."""
    return elementwise_function_result(MeanAbsoluteError(reduction="none"), y_true, y_pred)
