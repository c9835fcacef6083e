"""Accuracy metrics: exact, binary, categorical, sparse categorical and top-k, as Keras.

The functions give per-sample (or per-element) 0/1 values; the classes average them.
Shapes: y_pred (N, ..., C); one-hot y_true (N, ..., C); sparse y_true (N, ...) or (N, ..., 1).

Example:
    >>> import numpy as np
    >>> from filterbank.metrics import sparse_categorical_accuracy
    >>> sparse_categorical_accuracy(np.array([2, 0]), np.array([[0.1, 0.2, 0.7], [0.1, 0.8, 0.1]]))
    array([1., 0.])
"""

from __future__ import annotations

import numpy as np

from ..errors import fmt_shape
from ..losses import squeeze_or_expand_to_same_rank
from .base import MeanMetricWrapper, Metric


def _mismatch(metric, y_true, y_pred, expected, fix):
    return ValueError(
        f"Metric '{metric}' expects labels of shape {fmt_shape(expected)} for predictions of shape "
        f"{fmt_shape(np.shape(y_pred))}, got labels of shape {fmt_shape(np.shape(y_true))}. {fix}"
    )


def accuracy(y_true, y_pred):
    """1.0 where y_true == y_pred exactly (elementwise), else 0.0."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), np.asarray(y_pred))
    return (y_true == y_pred).astype(np.float64)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where (y_pred > threshold) equals the 0/1 label, elementwise."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), np.asarray(y_pred))
    if y_true.shape != y_pred.shape:
        raise _mismatch(
            "binary_accuracy", y_true, y_pred, y_pred.shape, "Give one 0/1 label per output unit."
        )
    return (y_true == (y_pred > threshold)).astype(np.float64)


def categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) == argmax(y_true) (one-hot labels), per sample."""
    y_true, y_pred = _one_hot_labels("categorical_accuracy", y_true, y_pred)
    return (y_true.argmax(axis=-1) == y_pred.argmax(axis=-1)).astype(np.float64)


def _one_hot_labels(name, y_true, y_pred):
    """Labels and predictions as arrays, checked to share a shape (one-hot labels)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise _mismatch(
            name, y_true, y_pred, y_pred.shape, f"For integer labels use 'sparse_{name}'."
        )
    return y_true, y_pred


def _sparse_labels(name, y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1:] == (1,):
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape[:-1]:
        raise _mismatch(
            name,
            y_true,
            y_pred,
            y_pred.shape[:-1],
            "For one-hot labels use the categorical (non-sparse) metric.",
        )
    return y_true, y_pred


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) equals the integer label, per sample."""
    y_true, y_pred = _sparse_labels("sparse_categorical_accuracy", y_true, y_pred)
    return (y_true == y_pred.argmax(axis=-1)).astype(np.float64)


def _in_top_k(target, y_pred, k):
    # Ties at the k-th place count as hits, as Keras's in_top_k.
    score = np.take_along_axis(y_pred, target[..., None].astype(np.intp), axis=-1)
    return ((y_pred > score).sum(axis=-1) < k).astype(np.float64)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the true class (argmax of one-hot y_true) is among the k top predictions."""
    y_true, y_pred = _one_hot_labels("top_k_categorical_accuracy", y_true, y_pred)
    return _in_top_k(y_true.argmax(axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the integer label is among the k top predictions."""
    y_true, y_pred = _sparse_labels("sparse_top_k_categorical_accuracy", y_true, y_pred)
    labels = np.asarray(y_true)
    if labels.size and (labels.min() < 0 or labels.max() >= y_pred.shape[-1]):
        raise ValueError(
            f"Metric 'sparse_top_k_categorical_accuracy' expects labels in "
            f"[0, {y_pred.shape[-1] - 1}], got labels from {labels.min()} to {labels.max()}."
        )
    return _in_top_k(labels, y_pred, k)


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly (Keras's ``Accuracy``)."""

    default_name = "accuracy"

    def __init__(self, name=None, dtype=None):
        super().__init__(accuracy, name=name or self.default_name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches the 0/1 labels.

    Example:
        >>> import numpy as np
        >>> BinaryAccuracy()(np.array([[1], [0]]), np.array([[0.7], [0.6]]))
        0.5
    """

    default_name = "binary_accuracy"

    def __init__(self, name=None, dtype=None, threshold=0.5):
        super().__init__(
            binary_accuracy, name=name or self.default_name, dtype=dtype, threshold=threshold
        )


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) matches argmax of the one-hot labels."""

    default_name = "categorical_accuracy"

    def __init__(self, name=None, dtype=None):
        super().__init__(categorical_accuracy, name=name or self.default_name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) matches the integer labels."""

    default_name = "sparse_categorical_accuracy"

    def __init__(self, name=None, dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name or self.default_name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the true class (one-hot labels) is among the top ``k`` predictions."""

    default_name = "top_k_categorical_accuracy"

    def __init__(self, k=5, name=None, dtype=None):
        super().__init__(
            top_k_categorical_accuracy, name=name or self.default_name, dtype=dtype, k=k
        )


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the top ``k`` predictions."""

    default_name = "sparse_top_k_categorical_accuracy"

    def __init__(self, k=5, name=None, dtype=None):
        super().__init__(
            sparse_top_k_categorical_accuracy, name=name or self.default_name, dtype=dtype, k=k
        )


class AutoAccuracy(Metric):
    """``metrics=["accuracy"]`` when the loss does not decide: resolved by the first batch's
    shapes with Keras 3's rule (binary if y_pred has 1 output; sparse if y_true has one
    label per sample; categorical otherwise). ``resolved`` is the chosen metric."""

    default_name = "accuracy"

    def reset_state(self):
        if getattr(self, "resolved", None) is None:
            self.resolved = None
        else:
            self.resolved.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.resolved is None:
            y_true_shape, y_pred_shape = np.shape(y_true), np.shape(y_pred)
            is_binary = y_pred_shape[-1:] == (1,)
            is_sparse = len(y_true_shape) < len(y_pred_shape) or (
                y_true_shape[-1:] == (1,) and y_pred_shape[-1:] != (1,)
            )
            cls = (
                BinaryAccuracy
                if is_binary
                else SparseCategoricalAccuracy
                if is_sparse
                else CategoricalAccuracy
            )
            self.resolved = cls(name=self.name)
        self.resolved.update_state(y_true, y_pred, sample_weight)

    def result(self):
        return self.resolved.result() if self.resolved is not None else 0.0
