"""The Loss base class: shape checks, sample weights and Keras's reductions.

A loss maps labels ``y_true`` and predictions ``y_pred`` of shape (N, ..., C) to
per-sample values of shape (N, ...) (``call``), then reduces them to one number.
The default reduction is Keras 3's ``"sum_over_batch_size"``:
``loss = sum(values * sample_weight) / values.size``, so a weight of 0 still counts
in the divisor (it is *not* a weighted mean; ``"mean_with_sample_weight"`` is).

Every loss also gives its gradient with respect to ``y_pred`` in the same pass
(``forward_backward``); losses that follow a softmax or sigmoid can instead take the
logits (``forward_backward_logits``), the numerically stable fused path.

Example:
    >>> import numpy as np
    >>> from filterbank import losses
    >>> mse = losses.MeanSquaredError()
    >>> mse(np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]]))
    0.5
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..errors import fmt_shape

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def as_predictions(y_pred) -> np.ndarray:
    """y_pred as a float array (integers become floatx), never copied needlessly."""
    y_pred = np.asarray(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = y_pred.astype(backend.floatx())
    return y_pred


def squeeze_or_expand_to_same_rank(x1: np.ndarray, x2: np.ndarray):
    """Keras's rank fix: when ranks differ by one and the longer ends in 1, align them.

    (N,) vs (N, 1) -> both (N, 1); (N, H, 1) vs (N, H) -> both (N, H).
    """
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


class Loss:
    """Base class of all losses (Keras's ``keras.losses.Loss``).

    Subclasses implement ``call(y_true, y_pred)`` -> per-sample values (shape
    ``y_pred.shape[:-1]``) and ``call_backward(y_true, y_pred, upstream)`` ->
    d(sum(upstream * values))/d(y_pred) (shape of ``y_pred``). Built-in losses
    override ``_value_and_grad`` to share work between the two.

    Attributes:
        name: the Keras name, e.g. ``"categorical_crossentropy"``.
        reduction: ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``,
            ``"mean_with_sample_weight"`` or ``"none"``.
        fuses_with: ``"softmax"``/``"sigmoid"`` when the engine may hand this loss the
            logits of that activation (``forward_backward_logits``), else None.
    """

    fuses_with: str | None = None
    default_name = "loss"

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"Loss {type(self).__name__} got reduction={reduction!r}; expected one of "
                "'sum_over_batch_size', 'sum', 'mean', 'mean_with_sample_weight', 'none'."
            )
        self.name = name or self.default_name
        self.reduction = reduction
        self.dtype = dtype

    # ---- hooks for subclasses ------------------------------------------------------------
    def call(self, y_true, y_pred) -> np.ndarray:
        raise NotImplementedError(
            f"Loss {type(self).__name__} must implement call(y_true, y_pred)."
        )

    def call_backward(self, y_true, y_pred, upstream) -> np.ndarray:
        raise NotImplementedError(
            f"Loss {type(self).__name__} must implement call_backward(y_true, y_pred, upstream) "
            "to be trained with: filterbank has no automatic differentiation."
        )

    def _prepare(self, y_true, y_pred):
        """Validate and standardise (y_true, y_pred); returns (y_true, y_pred, restore).

        ``restore`` maps a gradient of the standardised y_pred back to the caller's shape.
        """
        y_pred = as_predictions(y_pred)
        y_true = np.asarray(y_true)
        y_true, y_pred2 = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return y_true, y_pred2, _reshaper(y_pred.shape, y_pred2.shape)

    def _values_shape(self, y_pred) -> tuple:
        return y_pred.shape[:-1]

    def _value_and_grad(self, y_true, y_pred, upstream, need_grad=True):
        values = self.call(y_true, y_pred)
        grad = self.call_backward(y_true, y_pred, upstream) if need_grad else None
        return values, grad

    def _logits_value_and_grad(self, y_true, logits, upstream, need_grad=True):
        raise ValueError(f"Loss '{self.name}' has no fused logits path (fuses_with is None).")

    def _upstream_mask(self, y_true, y_pred):
        """Per-value mask (or None) that the reduction treats like Keras's loss mask."""
        return None

    # ---- public API ----------------------------------------------------------------------
    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss (a float; per-sample values for reduction='none')."""
        y_true, y_pred, _ = self._prepare(y_true, y_pred)
        if self.reduction in ("none", None):
            upstream = self._upstream(y_true, y_pred, sample_weight, scale_only=True)
            values, _ = self._value_and_grad(y_true, y_pred, upstream, need_grad=False)
            return values * upstream.astype(values.dtype)
        upstream = self._upstream(y_true, y_pred, sample_weight)
        values, _ = self._value_and_grad(y_true, y_pred, upstream, need_grad=False)
        return _weighted_sum(values, upstream)

    def forward_backward(self, y_true, y_pred, sample_weight=None):
        """(loss, dLoss/dy_pred); the gradient has y_pred's shape and dtype.

        Shapes: y_true (N, ..., C) or integer labels for sparse losses; y_pred (N, ..., C).
        """
        self._check_reduction_for_grad()
        y_true, y_pred_s, restore = self._prepare(y_true, y_pred)
        upstream = self._upstream(y_true, y_pred_s, sample_weight)
        values, grad = self._value_and_grad(y_true, y_pred_s, upstream)
        return _weighted_sum(values, upstream), restore(grad.astype(y_pred_s.dtype, copy=False))

    def forward_backward_logits(self, y_true, logits, sample_weight=None):
        """(loss of activation(logits), dLoss/dlogits), computed stably from the logits.

        Only for losses with ``fuses_with`` set ("softmax" or "sigmoid").
        Shapes: logits (N, ..., C); the gradient has the logits' shape and dtype.
        """
        if self.fuses_with is None:
            raise ValueError(
                f"Loss '{self.name}' cannot be fused with an activation (fuses_with is None): "
                "call forward_backward on the activation's output instead."
            )
        self._check_reduction_for_grad()
        y_true, logits_s, restore = self._prepare(y_true, logits)
        upstream = self._upstream(y_true, logits_s, sample_weight)
        values, grad = self._logits_value_and_grad(y_true, logits_s, upstream)
        return _weighted_sum(values, upstream), restore(grad.astype(logits_s.dtype, copy=False))

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    # ---- reduction -----------------------------------------------------------------------
    def _check_reduction_for_grad(self):
        if self.reduction in ("none", None):
            raise ValueError(
                f"Loss '{self.name}' has reduction={self.reduction!r}, which gives one value per "
                "sample, not a scalar to differentiate. Use the default 'sum_over_batch_size'."
            )

    def _upstream(self, y_true, y_pred, sample_weight, scale_only=False) -> np.ndarray:
        """dLoss/dvalues: the sample weights times the reduction's 1/divisor (float64)."""
        shape = self._values_shape(y_pred)
        mask = self._upstream_mask(y_true, y_pred)
        if sample_weight is None:
            w = np.ones(shape)
        else:
            w = _broadcast_weights(sample_weight, shape, self.name)
        if mask is not None:
            valid = float(mask.sum())
            if self.reduction in ("sum_over_batch_size", "mean"):
                # Keras rescales masked weights so the mean runs over valid entries only.
                w = w * mask * (mask.size / valid if valid else 0.0)
            else:
                w = w * mask
        if scale_only or self.reduction == "sum":
            return w
        if self.reduction == "mean_with_sample_weight" and (
            sample_weight is not None or mask is not None
        ):
            total = float(w.sum())
            return w / total if total else np.zeros_like(w)
        size = int(np.prod(shape))
        return w / size if size else w


def _weighted_sum(values: np.ndarray, upstream: np.ndarray) -> float:
    return float(np.sum(values * upstream, dtype=np.float64))


def _broadcast_weights(sample_weight, shape, loss_name) -> np.ndarray:
    """Sample weights (N,), (N, 1), a scalar, or one per value -> an array of ``shape``."""
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == len(shape) + 1 and w.shape[-1] == 1:
        w = w[..., 0]
    if w.ndim <= len(shape) and w.shape == tuple(shape[: w.ndim]):
        return np.broadcast_to(w.reshape(w.shape + (1,) * (len(shape) - w.ndim)), shape)
    n = shape[0] if shape else 1
    raise ValueError(
        f"Loss '{loss_name}' got sample_weight of shape {fmt_shape(w.shape)}, which does not fit "
        f"the per-sample losses of shape {fmt_shape(shape)}. Pass one weight per sample: "
        f"an array of shape ({n},)."
    )


def _reshaper(original_shape, standard_shape):
    if tuple(original_shape) == tuple(standard_shape):
        return lambda g: g
    return lambda g: g.reshape(original_shape)


def shape_error(loss_name: str, y_true_shape, y_pred_shape, fix: str) -> ValueError:
    return ValueError(
        f"Loss '{loss_name}' expects labels y_true shaped like the predictions "
        f"{fmt_shape(y_pred_shape)}, got labels of shape {fmt_shape(y_true_shape)}. {fix}"
    )


def move_class_axis(y_pred, y_true, axis, same_rank=True):
    """Put the class axis last (Keras's `axis` argument); returns the inverse for gradients."""
    if axis in (-1, y_pred.ndim - 1):
        return y_pred, y_true, lambda g: g
    y_pred = np.moveaxis(y_pred, axis, -1)
    if same_rank and y_true.ndim == y_pred.ndim:
        y_true = np.moveaxis(y_true, axis, -1)
    return y_pred, y_true, lambda g: np.moveaxis(g, -1, axis)


def batch_fix(y_true_shape, y_pred_shape) -> str | None:
    if len(y_true_shape) and len(y_pred_shape) and y_true_shape[0] != y_pred_shape[0]:
        return (
            f"They hold different numbers of samples ({y_true_shape[0]} labels, "
            f"{y_pred_shape[0]} predictions): pass labels for exactly the samples predicted."
        )
    return None


class ElementwiseLoss(Loss):
    """A loss that is the mean over the last axis of an elementwise term.

    1-D predictions (N,) are read as N samples with one output each, (N, 1).
    """

    def _prepare(self, y_true, y_pred):
        y_pred = as_predictions(y_pred)
        original = y_pred.shape
        y_true, y_pred = squeeze_or_expand_to_same_rank(np.asarray(y_true), y_pred)
        if y_pred.ndim <= 1:
            y_pred = y_pred.reshape(-1, 1)
            if y_true.ndim <= 1:
                y_true = y_true.reshape(-1, 1)
        axis = getattr(self, "axis", -1)
        y_pred, y_true, unmove = move_class_axis(y_pred, y_true, axis)
        if y_true.shape != y_pred.shape:
            fix = self._shape_fix(y_true, y_pred)
            raise shape_error(self.name, y_true.shape, y_pred.shape, fix)
        y_true = y_true.astype(y_pred.dtype, copy=False)
        return y_true, y_pred, lambda g: unmove(g).reshape(original)

    def _shape_fix(self, y_true, y_pred) -> str:
        return batch_fix(y_true.shape, y_pred.shape) or (
            "Give one target per model output, e.g. reshape the labels to y_pred's shape."
        )


def elementwise_function_result(loss, y_true, y_pred):
    values = loss(y_true, y_pred)
    # Keras takes the mean over the last axis even of 1-D input, giving one number.
    if np.ndim(y_pred) <= 1 and np.ndim(y_true) <= 1:
        return values.mean()
    return values
