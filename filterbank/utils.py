"""Small helpers Keras users expect: ``to_categorical``, ``set_random_seed``, ``PyDataset``,
``split_dataset``, ``image_dataset_from_directory``.

Example:
    >>> from filterbank.utils import to_categorical
    >>> to_categorical([0, 2], num_classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _lazy
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
    """One-hot encode integer class labels (a new last axis; a trailing axis of 1 is replaced).

    Example:
        >>> to_categorical(np.array([[1], [0]])).tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """
    y = np.asarray(y)
    if y.size and (y.dtype.kind not in "iub" and not np.all(np.mod(y, 1) == 0)):
        raise ValueError(
            f"to_categorical expects integer class labels, got dtype {y.dtype} with fractional values."
        )
    y = y.astype(np.int64)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]  # as Keras: (n, 1) labels (e.g. CIFAR-10's) give (n, classes)
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


def _split_sizes(total: int, left_size, right_size) -> int:
    """The number of samples in the left part (Keras's rules for int counts and fractions)."""

    def check(name, v):
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(
                f"split_dataset argument {name} expects an int (a count), a float in (0, 1) "
                f"(a fraction) or None, got {v!r}."
            )
        if isinstance(v, (float, np.floating)):
            if not 0.0 < v < 1.0:
                raise ValueError(
                    f"split_dataset argument {name}={v} is a fraction and must be in (0, 1)."
                )
            return int(round(v * total))
        if not 0 < v <= total:
            raise ValueError(
                f"split_dataset argument {name}={v} must be a count in [1, {total}] (the "
                "dataset has {total} samples).".replace("{total}", str(total))
            )
        return int(v)

    left, right = check("left_size", left_size), check("right_size", right_size)
    if left is None and right is None:
        raise ValueError(
            "split_dataset needs left_size or right_size (a count or a fraction), e.g. "
            "left_size=0.8."
        )
    if left is None:
        left = total - right
    elif right is not None and left + right > total:
        raise ValueError(
            f"split_dataset: left_size and right_size add up to {left + right} samples, more "
            f"than the {total} in the dataset."
        )
    if left < 1 or left >= total:
        raise ValueError(
            f"split_dataset leaves {left} sample(s) on the left and {total - left} on the "
            f"right of {total}; both sides need at least one."
        )
    return left


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Split an array, or a tuple/list of equally long arrays, into (left, right) parts.

    As ``keras.utils.split_dataset`` for array data (which Keras turns into datasets; here the
    parts stay arrays, which ``fit`` takes). With ``right_size`` alone the left part is the
    rest; with both, samples beyond their sum are dropped.

    Example:
        >>> x, y = np.arange(10).reshape(5, 2), np.arange(5)
        >>> (x_tr, y_tr), (x_te, y_te) = split_dataset((x, y), left_size=0.8)
        >>> y_tr.tolist(), y_te.tolist()
        ([0, 1, 2, 3], [4])
    """
    multi = isinstance(dataset, (tuple, list))
    arrays = [np.asarray(a) for a in (dataset if multi else [dataset])]
    if not arrays or any(a.ndim == 0 for a in arrays):
        raise ValueError("split_dataset expects an array or a tuple of arrays (samples first).")
    total = len(arrays[0])
    if any(len(a) != total for a in arrays):
        raise ValueError(
            "split_dataset expects arrays of the same length, got lengths "
            f"{[len(a) for a in arrays]}."
        )
    left = _split_sizes(total, left_size, right_size)
    right_end = total
    if left_size is not None and right_size is not None:
        right_end = left + (
            int(round(right_size * total))
            if isinstance(right_size, (float, np.floating))
            else int(right_size)
        )
    order = np.random.default_rng(seed).permutation(total) if shuffle else np.arange(total)
    lefts = [a[order[:left]] for a in arrays]
    rights = [a[order[left:right_end]] for a in arrays]
    if not multi:
        return lefts[0], rights[0]
    kind = type(dataset) if isinstance(dataset, tuple) else list
    return kind(lefts), kind(rights)


# Loaded on first use, so `import filterbank` loads no dataset code.
__getattr__ = _lazy.lazy_attributes(
    __name__,
    __package__,
    attributes={
        "PyDataset": ".datasets.py_dataset",
        "Sequence": ".datasets.py_dataset",
        "image_dataset_from_directory": ".datasets.image_folder",
    },
)


__all__ = [
    "split_dataset",
    "conv_arithmetic",
    "ConvArithmetic",
    "to_categorical",
    "set_random_seed",
    "clear_session",
]
