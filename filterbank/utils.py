"""Small helpers Keras users expect: ``to_categorical``, ``set_random_seed``.

Example:
    >>> from filterbank.utils import to_categorical
    >>> to_categorical([0, 2], num_classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backend import set_random_seed
from .layers.base import clear_session


@dataclass(frozen=True)
class ConvArithmetic:
    """The CS231n output-size formula ``(N - F + 2P) / S + 1`` worked out, for teaching.

    ``size`` is what libraries compute (floored); ``exact`` the formula's value; ``fits`` is
    False when the filter does not tile the padded input evenly (``exact`` is not whole), and
    ``uncovered`` counts the input cells at the end that no window reaches then.
    """

    n: int
    f: int
    s: int
    p: int
    exact: float
    size: int
    fits: bool
    uncovered: int

    def __str__(self):
        text = f"({self.n} - {self.f} + 2*{self.p})/{self.s} + 1 = {self.exact:.4g}"
        if self.fits:
            return text
        return (
            text + f": doesn't fit -- the last {self.uncovered} cell(s) are never covered; "
            f"libraries floor it to {self.size}. Change the padding or the stride so "
            "(N - F + 2P) is a multiple of S."
        )


def conv_arithmetic(n: int, f: int, s: int = 1, p: int = 0) -> ConvArithmetic:
    """Output size of a conv or pool window along one axis, with the seeds' formula.

    Example:
        >>> print(conv_arithmetic(7, 3, s=2))
        (7 - 3 + 2*0)/2 + 1 = 3
        >>> r = conv_arithmetic(7, 3, s=3)
        >>> r.size, r.fits, round(r.exact, 2)
        (2, False, 2.33)
    """
    for name, value, low in (("n", n, 1), ("f", f, 1), ("s", s, 1), ("p", p, 0)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(
                f"conv_arithmetic argument {name} expects an integer >= {low}, got {value!r}."
            )
    span = n - f + 2 * p
    if span < 0:
        raise ValueError(
            f"conv_arithmetic: the filter ({f}) is larger than the padded input ({n} + 2*{p}): "
            f"({n} - {f} + 2*{p})/{s} + 1 = {span / s + 1:.4g} < 1. Use a smaller filter or more padding."
        )
    return ConvArithmetic(n, f, s, p, span / s + 1, span // s + 1, span % s == 0, span % s)


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


__all__ = [
    "conv_arithmetic",
    "ConvArithmetic",
    "to_categorical",
    "set_random_seed",
    "clear_session",
]
