"""Cross-entropy losses: categorical, sparse categorical and binary, as Keras 3.

With probabilities (``from_logits=False``) the math is Keras's: categorical losses
renormalise ``y_pred`` over the class axis, then clip to [eps, 1 - eps]
(eps = ``backend.epsilon()`` = 1e-7) before the log; binary cross-entropy clips.
The gradients are the exact derivatives of those formulas (clipped entries get 0).

With logits (``from_logits=True``, or the fused ``forward_backward_logits`` path)
everything goes through log-softmax / log-sigmoid, so logits of +-1e4 stay finite:
softmax CE gradient = (softmax(z) * sum(y) - y) * w / N.

Shapes: y_pred (N, ..., C); categorical y_true (N, ..., C); sparse y_true (N, ...)
or (N, ..., 1) integer labels; per-sample values (N, ...).

Example:
    >>> import numpy as np
    >>> from filterbank import losses
    >>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    >>> losses.categorical_crossentropy(y_true, y_pred).round(4)
    array([0.0513, 2.3026])
    >>> round(losses.CategoricalCrossentropy()(y_true, y_pred), 4)
    1.1769
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import backend
from ..errors import fmt_shape
from .base import (
    ElementwiseLoss,
    Loss,
    as_predictions,
    batch_fix,
    elementwise_function_result,
    move_class_axis,
    shape_error,
)

# ---- stable elementwise helpers ------------------------------------------------------------


def _softmax_parts(z):
    """(exp(z - max), their sum, log-sum-exp), all along the last axis."""
    m = z.max(axis=-1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=-1, keepdims=True)
    return e, s, m + np.log(s)


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def _check_rank(name, y_pred):
    if y_pred.ndim == 0:
        raise ValueError(
            f"Loss '{name}' expects predictions with a class axis, shape (batch, classes), "
            "got a scalar. Pass an array of shape (N, C)."
        )


# ---- categorical ---------------------------------------------------------------------------


class _SmoothedCrossentropy:
    """The arguments the categorical and binary cross-entropies share, validated once;
    ``_fused_activation`` is the output activation the engine may fuse with the loss."""

    _fused_activation = None

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name=None,
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        label_smoothing = float(label_smoothing)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(
                f"Loss '{self.name}' expects label_smoothing in [0, 1], got {label_smoothing}."
            )
        self.from_logits = bool(from_logits)
        self.label_smoothing = label_smoothing
        self.axis = int(axis)
        # With probabilities in, the engine may fuse the output activation with this loss.
        self.fuses_with = None if self.from_logits else self._fused_activation


class CategoricalCrossentropy(_SmoothedCrossentropy, Loss):
    """Cross-entropy between one-hot (or soft) labels and class probabilities.

    ``values = -sum(y_true * log(clip(y_pred / sum(y_pred), eps, 1 - eps)), axis=-1)``;
    with ``label_smoothing`` = s, y_true becomes ``y_true * (1 - s) + s / C``.

    Args:
        from_logits: y_pred are logits (no softmax applied), computed stably.
        label_smoothing: float in [0, 1].
        axis: the class axis (default -1, channels-last).

    Shapes: y_true, y_pred (N, ..., C) -> values (N, ...).

    Example:
        >>> import numpy as np
        >>> cce = CategoricalCrossentropy()
        >>> round(cce(np.array([[0, 1.0]]), np.array([[0.5, 0.5]])), 4)
        0.6931
    """

    default_name = "categorical_crossentropy"

    _fused_activation = "softmax"

    def _prepare(self, y_true, y_pred):
        y_pred = as_predictions(y_pred)
        _check_rank(self.name, y_pred)
        y_true = np.asarray(y_true)
        y_pred, y_true, restore = move_class_axis(y_pred, y_true, self.axis)
        if y_true.shape != y_pred.shape:
            c = y_pred.shape[-1]
            fix = batch_fix(y_true.shape, y_pred.shape)
            integer_shapes = (y_pred.shape[:-1], y_pred.shape[:-1] + (1,))
            if fix is None and c > 1 and y_true.shape in integer_shapes:
                fix = (
                    "They look like integer class labels: use "
                    "loss='sparse_categorical_crossentropy', or one-hot encode them with "
                    f"keras.utils.to_categorical(y, {c})."
                )
            raise shape_error(
                self.name,
                y_true.shape,
                y_pred.shape,
                fix or "Give the labels one column per class (one-hot).",
            )
        y_true = y_true.astype(y_pred.dtype, copy=False)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / y_pred.shape[-1]
        return y_true, y_pred, restore

    def _value_and_grad(self, y_true, y_pred, upstream, need_grad=True):
        if self.from_logits:
            return self._logits_value_and_grad(y_true, y_pred, upstream, need_grad)
        eps = backend.epsilon()
        s = y_pred.sum(axis=-1, keepdims=True)
        p = y_pred / s
        q = np.clip(p, eps, 1.0 - eps)
        values = -(y_true * np.log(q)).sum(axis=-1)
        if not need_grad:
            return values, None
        up = upstream.astype(y_pred.dtype)[..., None]
        g = -(y_true / q) * up
        g *= (p >= eps) & (p <= 1.0 - eps)  # clip passes no gradient outside its range
        grad = (g - (g * p).sum(axis=-1, keepdims=True)) / s
        return values, grad

    def _logits_value_and_grad(self, y_true, logits, upstream, need_grad=True):
        e, s, lse = _softmax_parts(logits)
        values = -(y_true * (logits - lse)).sum(axis=-1)
        if not need_grad:
            return values, None
        up = upstream.astype(logits.dtype)[..., None]
        grad = (e / s * y_true.sum(axis=-1, keepdims=True) - y_true) * up
        return values, grad

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


class _SparseLabels(NamedTuple):
    index: np.ndarray  # (N, ...) intp class indices (0 where ignored)
    valid: np.ndarray | None  # (N, ...) bool, False where label == ignore_class


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy between integer class labels and class probabilities.

    ``values = -log(clip(y_pred / sum(y_pred), eps, 1 - eps)[label])``.

    Args:
        from_logits: y_pred are logits (no softmax applied), computed stably.
        ignore_class: a label value to skip (e.g. a "void" class); those entries get
            loss 0 and the mean runs over the others, as Keras.
        axis: the class axis (default -1).

    Shapes: y_true (N, ...) or (N, ..., 1), integers (or floats with integer values);
    y_pred (N, ..., C) -> values (N, ...).

    Example:
        >>> import numpy as np
        >>> scce = SparseCategoricalCrossentropy()
        >>> round(scce(np.array([1, 2]), np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])), 4)
        1.1769
    """

    default_name = "sparse_categorical_crossentropy"

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        axis=-1,
        reduction="sum_over_batch_size",
        name=None,
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.ignore_class = None if ignore_class is None else int(ignore_class)
        self.axis = int(axis)
        self.fuses_with = None if self.from_logits else "softmax"

    def _prepare(self, y_true, y_pred):
        y_pred = as_predictions(y_pred)
        _check_rank(self.name, y_pred)
        y_true = np.asarray(y_true)
        y_pred, y_true, restore = move_class_axis(y_pred, y_true, self.axis)
        c = y_pred.shape[-1]
        if y_true.ndim == y_pred.ndim and y_true.shape[-1:] == (1,):
            y_true = y_true[..., 0]
        if y_true.shape != y_pred.shape[:-1]:
            fix = batch_fix(y_true.shape, y_pred.shape)
            if fix is None and y_true.shape == y_pred.shape:
                fix = (
                    "They look one-hot encoded: use loss='categorical_crossentropy', or pass "
                    "integer labels (y.argmax(axis=-1))."
                )
            raise ValueError(
                f"Loss '{self.name}' expects integer class labels of shape "
                f"{fmt_shape(y_pred.shape[:-1])} (or with a trailing 1) for predictions of shape "
                f"{fmt_shape(y_pred.shape)}, got labels of shape {fmt_shape(y_true.shape)}. "
                + (fix or "Pass one class index per sample.")
            )
        return _SparseLabels(*self._check_labels(y_true, c)), y_pred, restore

    def _check_labels(self, y_true, c):
        kind = y_true.dtype.kind
        if kind == "f":
            if not np.all(np.isfinite(y_true)) or np.any(y_true != np.floor(y_true)):
                raise ValueError(
                    f"Loss '{self.name}' expects integer class labels, got non-integer values of "
                    f"dtype {y_true.dtype}. For soft or one-hot targets use "
                    "loss='categorical_crossentropy'."
                )
        elif kind not in "iub":
            raise ValueError(
                f"Loss '{self.name}' expects integer class labels, got dtype {y_true.dtype}. "
                "Convert the labels to integers (e.g. np.asarray(y, dtype=int))."
            )
        index = y_true.astype(np.intp)
        valid = None
        if self.ignore_class is not None:
            valid = index != self.ignore_class
            checked = index[valid]
        else:
            checked = index
        if checked.size:
            lo, hi = int(checked.min()), int(checked.max())
            if lo < 0 or hi >= c:
                fix = (
                    f"Give the last layer at least {hi + 1} units, or check the labels."
                    if hi >= c
                    else "Labels must be class indices 0, 1, 2, ..."
                )
                raise ValueError(
                    f"Loss '{self.name}' expects class labels in [0, {c - 1}] (the predictions "
                    f"have {c} classes), got labels from {lo} to {hi}. {fix}"
                )
        if valid is not None:
            index = np.where(valid, index, 0)
        return index, valid

    def _upstream_mask(self, y_true, y_pred):
        return y_true.valid

    def _value_and_grad(self, y_true, y_pred, upstream, need_grad=True):
        if self.from_logits:
            return self._logits_value_and_grad(y_true, y_pred, upstream, need_grad)
        idx = y_true.index[..., None]
        eps = backend.epsilon()
        s = y_pred.sum(axis=-1, keepdims=True)
        p_label = np.take_along_axis(y_pred, idx, axis=-1) / s
        q_label = np.clip(p_label, eps, 1.0 - eps)
        values = _zero_ignored(-np.log(q_label)[..., 0], y_true.valid)
        if not need_grad:
            return values, None
        up = upstream.astype(y_pred.dtype)[..., None]
        g = -(up / q_label) * ((p_label >= eps) & (p_label <= 1.0 - eps))  # dL/dp[label]
        grad = np.broadcast_to(-(g * p_label) / s, y_pred.shape).copy()
        np.put_along_axis(grad, idx, np.take_along_axis(grad, idx, axis=-1) + g / s, axis=-1)
        return values, grad

    def _logits_value_and_grad(self, y_true, logits, upstream, need_grad=True):
        idx = y_true.index[..., None]
        e, s, lse = _softmax_parts(logits)
        values = (lse - np.take_along_axis(logits, idx, axis=-1))[..., 0]
        values = _zero_ignored(values, y_true.valid)
        if not need_grad:
            return values, None
        up = upstream.astype(logits.dtype)[..., None]
        grad = e / s * up
        np.put_along_axis(grad, idx, np.take_along_axis(grad, idx, axis=-1) - up, axis=-1)
        return values, grad

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "ignore_class": self.ignore_class,
            "axis": self.axis,
        }


def _zero_ignored(values, valid):
    return values if valid is None else np.where(valid, values, 0).astype(values.dtype, copy=False)


# ---- binary --------------------------------------------------------------------------------


class BinaryCrossentropy(_SmoothedCrossentropy, ElementwiseLoss):
    """Cross-entropy for 0/1 targets and probabilities (one per output unit).

    ``values = mean(-(y log(q) + (1 - y) log(1 - q)), axis=-1)``, q = clip(y_pred, eps, 1 - eps);
    with ``label_smoothing`` = s, y becomes ``y * (1 - s) + 0.5 * s``.

    Shapes: y_true, y_pred (N, ..., K) (or (N,)) -> values (N, ...).

    Example:
        >>> import numpy as np
        >>> bce = BinaryCrossentropy()
        >>> round(bce(np.array([[0.0], [1.0]]), np.array([[0.4], [0.6]])), 4)
        0.5108
    """

    default_name = "binary_crossentropy"

    _fused_activation = "sigmoid"

    def _prepare(self, y_true, y_pred):
        y_true, y_pred, restore = super()._prepare(y_true, y_pred)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        return y_true, y_pred, restore

    def _shape_fix(self, y_true, y_pred):
        fix = batch_fix(y_true.shape, y_pred.shape)
        one_label = (y_pred.shape[:-1], y_pred.shape[:-1] + (1,))
        if fix is None and y_pred.shape[-1] > 1 and y_true.shape in one_label:
            fix = (
                f"For one class label per sample with {y_pred.shape[-1]} softmax outputs use "
                "loss='sparse_categorical_crossentropy'; binary_crossentropy needs one 0/1 "
                "target per output unit."
            )
        return fix or "Give one 0/1 target per output unit."

    def _value_and_grad(self, y_true, y_pred, upstream, need_grad=True):
        if self.from_logits:
            return self._logits_value_and_grad(y_true, y_pred, upstream, need_grad)
        eps = backend.epsilon()
        q = np.clip(y_pred, eps, 1.0 - eps)
        elem = -(y_true * np.log(q) + (1.0 - y_true) * np.log(1.0 - q))
        values = elem.mean(axis=-1)
        if not need_grad:
            return values, None
        up = upstream.astype(y_pred.dtype)[..., None] / y_pred.shape[-1]
        grad = ((1.0 - y_true) / (1.0 - q) - y_true / q) * up
        grad *= (y_pred >= eps) & (y_pred <= 1.0 - eps)
        return values, grad

    def _logits_value_and_grad(self, y_true, logits, upstream, need_grad=True):
        # softplus(z) - y z, written so exp never overflows.
        elem = np.maximum(logits, 0) - logits * y_true + np.log1p(np.exp(-np.abs(logits)))
        values = elem.mean(axis=-1)
        if not need_grad:
            return values, None
        up = upstream.astype(logits.dtype)[..., None] / logits.shape[-1]
        return values, (_sigmoid(logits) - y_true) * up

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


# ---- Keras's functional forms: per-sample values -------------------------------------------


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample categorical cross-entropy, shape y_pred.shape[:-1] (Keras's function)."""
    loss = CategoricalCrossentropy(
        from_logits=from_logits, label_smoothing=label_smoothing, axis=axis, reduction="none"
    )
    return loss(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Per-sample sparse categorical cross-entropy, shape y_pred.shape[:-1]."""
    loss = SparseCategoricalCrossentropy(
        from_logits=from_logits, ignore_class=ignore_class, axis=axis, reduction="none"
    )
    return loss(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample binary cross-entropy: the mean over the last axis (a scalar for 1-D input)."""
    loss = BinaryCrossentropy(
        from_logits=from_logits, label_smoothing=label_smoothing, axis=axis, reduction="none"
    )
    return elementwise_function_result(loss, y_true, y_pred)
