"""Small helpers Keras users expect: ``to_categorical``, ``set_random_seed``.

Example:
    >>> from filterbank.utils import to_categorical
    >>> to_categorical([0, 2], num_classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from .backend import set_random_seed
from .layers.base import clear_session


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encode integer class labels (any shape; a new last axis is added)."""
    y = np.asarray(y)
    if y.size and (y.dtype.kind not in "iub" and not np.all(np.mod(y, 1) == 0)):
        raise ValueError(
            f"to_categorical expects integer class labels, got dtype {y.dtype} with fractional values."
        )
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical expects labels >= 0, got {int(y.min())}.")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif y.size and y.max() >= num_classes:
        raise ValueError(
            f"to_categorical got label {int(y.max())} with num_classes={num_classes}; "
            f"labels must be in [0, {num_classes - 1}]. Raise num_classes or check the labels."
        )
    out = np.zeros((*y.shape, num_classes), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


__all__ = ["to_categorical", "set_random_seed", "clear_session"]
