"""Targets checked against the loss: class ids, one-hot rows, ranges, shapes.

``check_labels`` runs once per ``fit`` / ``evaluate`` call on the whole target
array (vectorised) and returns it in the form the loss wants. The rules, by
loss name:

* sparse categorical cross-entropy: integer class ids, shape (n, *out[1:-1])
  ((n, 1) is accepted), each in [0, classes - 1]; one-hot rows are refused with
  the fix (use categorical_crossentropy or ``y.argmax(-1)``);
* categorical losses: one-hot rows of the output's shape; integer ids are
  refused with the fix (sparse loss or ``to_categorical``);
* binary cross-entropy: labels in [0, 1]; other losses: the output's shape
  (a missing trailing axis of size 1 is added).

Example:
    >>> import numpy as np
    >>> from filterbank import losses
    >>> check_labels(np.array([0, 2]), losses.get("sparse_categorical_crossentropy"),
    ...              (None, 3), "probs", "y", "fit").dtype
    dtype('int64')
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import fmt_shape

SPARSE_LOSSES = {"sparse_categorical_crossentropy"}
CATEGORICAL_LOSSES = {
    "categorical_crossentropy",
    "categorical_hinge",
    "kl_divergence",
    "kullback_leibler_divergence",
}
BINARY_LOSSES = {"binary_crossentropy"}


def _loss_name(loss) -> str:
    return str(getattr(loss, "name", "") or "").lower()


def check_labels(
    y: np.ndarray, loss, out_shape, out_name: str, what: str, where: str, dtype=None
) -> np.ndarray:
    """Check targets ``y`` (n, ...) against the loss and the output shape (None, ...).

    Returns y ready for the loss: int64 class ids for sparse losses, else ``dtype`` floats.
    """
    y = _check_labels(y, loss, out_shape, out_name, what, where)
    if y.dtype.kind != "i" or _loss_name(loss) not in SPARSE_LOSSES:
        y = np.asarray(y, dtype=dtype or "float32")
    return y


def _check_labels(y, loss, out_shape, out_name, what, where):
    name = _loss_name(loss)
    out_tail = tuple(out_shape[1:])
    head = f"{where}(): {what} (targets of output '{out_name}', shape {fmt_shape(out_shape)})"
    n_classes = out_tail[-1] if out_tail else None
    integral = y.dtype.kind in "biu" or bool(np.all(np.mod(y, 1) == 0))
    if name in SPARSE_LOSSES:
        want = out_tail[:-1]
        if y.shape[1:] == out_tail and n_classes not in (None, 1):
            raise ValueError(
                f"{head} has shape {fmt_shape(y.shape)}, the shape of one-hot labels, but loss "
                f"'{name}' expects integer class ids of shape {fmt_shape((y.shape[0], *want))}. "
                "Use loss='categorical_crossentropy' for one-hot labels, or pass "
                "y.argmax(axis=-1)."
            )
        if y.shape[1:] == (*want, 1):
            y = y.reshape(y.shape[:-1])
        if y.shape[1:] != want:
            raise ValueError(
                f"{head} has shape {fmt_shape(y.shape)}; loss '{name}' expects integer class ids "
                f"of shape {fmt_shape((y.shape[0], *want))}. Check that y holds one class id per "
                "sample."
            )
        if not integral:
            raise ValueError(
                f"{head} holds non-integer values (e.g. {float(y[np.mod(y, 1) != 0].flat[0]):g}); "
                f"loss '{name}' expects integer class ids 0..{(n_classes or 1) - 1}."
            )
        if n_classes is not None and y.size:
            lo, hi = y.min(), y.max()
            if lo < 0 or hi >= n_classes:
                bad = lo if lo < 0 else hi
                idx = int(np.argwhere((y < 0) | (y >= n_classes)).reshape(-1, y.ndim)[0, 0])
                raise ValueError(
                    f"{head} has label {int(bad)} (sample {idx}), out of range for {n_classes} "
                    f"classes: labels must be in [0, {n_classes - 1}]. Check the labels, or give "
                    "the last layer as many units as there are classes."
                )
        return y.astype(np.int64, copy=False)
    if name in CATEGORICAL_LOSSES and n_classes not in (None, 1):
        if y.ndim == len(out_shape) - 1 or (y.shape[1:] == (*out_tail[:-1], 1) and integral):
            raise ValueError(
                f"{head} looks like integer class ids (shape {fmt_shape(y.shape)}), but loss "
                f"'{name}' expects one-hot labels of shape {fmt_shape((y.shape[0], *out_tail))}. "
                "Use loss='sparse_categorical_crossentropy', or one-hot encode them: "
                f"keras.utils.to_categorical(y, {n_classes})."
            )
        if y.shape[1:] != out_tail:
            raise ValueError(
                f"{head} has shape {fmt_shape(y.shape)}; loss '{name}' expects one-hot labels of "
                f"shape {fmt_shape((y.shape[0], *out_tail))} ({n_classes} classes). Make the last "
                "layer's units match the number of classes, or fix the labels."
            )
        if name == "categorical_crossentropy" and y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(
                f"{head} has values in [{y.min():g}, {y.max():g}]; loss '{name}' expects one-hot "
                "(or probability) labels in [0, 1]. One-hot encode class ids with "
                f"keras.utils.to_categorical(y, {n_classes})."
            )
        return y
    # Element-wise losses: targets have the output's shape.
    if y.shape[1:] != out_tail and y.shape[1:] + (1,) == out_tail:
        y = y[..., None]
    if y.shape[1:] != out_tail:
        raise ValueError(
            f"{head} has shape {fmt_shape(y.shape)}; loss '{name or type(loss).__name__}' compares "
            "it element by element with the output, so it needs shape "
            f"{fmt_shape((y.shape[0], *out_tail))}. Reshape the targets or change the last layer."
        )
    if name in BINARY_LOSSES and y.size and (y.min() < 0 or y.max() > 1):
        raise ValueError(
            f"{head} has values in [{y.min():g}, {y.max():g}]; loss '{name}' expects labels in [0, "
            "1]. For more than two classes use a softmax output with "
            "'sparse_categorical_crossentropy'."
        )
    return y


def class_weight_to_sample_weight(class_weight, y: np.ndarray, loss, dtype) -> np.ndarray:
    """Per-sample weights from ``{class_id: weight}``; class = the id, or argmax of one-hot rows."""
    if not isinstance(class_weight, dict):
        raise TypeError(
            f"fit() argument class_weight expects a dict {{class_id: weight}}, got "
            f"{type(class_weight).__name__}."
        )
    if y.ndim >= 2 and y.shape[-1] > 1 and _loss_name(loss) not in SPARSE_LOSSES:
        ids = y.argmax(axis=-1)
    else:
        ids = y.reshape(y.shape[0], -1)[:, 0] if y.ndim > 1 else y
        ids = np.rint(ids).astype(np.int64)
    if ids.ndim > 1:
        ids = ids[:, 0]
    n_table = max(int(ids.max()) + 1, max(int(k) for k in class_weight) + 1 if class_weight else 0)
    table = np.ones(n_table, dtype=dtype)
    for k, w in class_weight.items():
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
            raise ValueError(f"fit() argument class_weight keys must be class ids >= 0, got {k!r}.")
        if not isinstance(w, numbers.Real) or not np.isfinite(w) or w < 0:
            raise ValueError(
                f"fit() argument class_weight[{k}] must be a finite number >= 0, got {w!r}."
            )
        table[int(k)] = w
    return table[ids]
