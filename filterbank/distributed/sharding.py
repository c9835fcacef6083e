"""How a batch (or a data set) is split over K ranks: sizes as equal as can be, the first
``n % K`` ranks one larger, each rank a contiguous block, in rank order.

Example:
    >>> split_sizes(10, 3)
    [4, 3, 3]
    >>> [split_bounds(10, 3, r) for r in range(3)]
    [(0, 4), (4, 7), (7, 10)]
    >>> local_part(slice(64, 74), 3, 1)
    slice(68, 71, None)
"""

from __future__ import annotations


def split_sizes(n: int, k: int) -> list[int]:
    """Sizes of the K parts of ``n`` items: ``n // k``, plus one for the first ``n % k`` ranks.

    Example:
        >>> split_sizes(5, 2), split_sizes(1, 3)
        ([3, 2], [1, 0, 0])
    """
    base, extra = divmod(int(n), int(k))
    return [base + (r < extra) for r in range(k)]


def split_bounds(n: int, k: int, rank: int) -> tuple[int, int]:
    """[lo, hi) of rank ``rank``'s part of ``n`` items split over ``k`` ranks.

    Example:
        >>> split_bounds(7, 2, 1)
        (4, 7)
    """
    base, extra = divmod(int(n), int(k))
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


def local_part(idx, k: int, rank: int):
    """Rank ``rank``'s part of one batch: a slice of a slice, or of an index array.

    Example:
        >>> import numpy as np
        >>> local_part(np.array([5, 1, 4, 2, 3]), 2, 0)
        array([5, 1, 4])
    """
    if isinstance(idx, slice):
        start, stop = idx.start or 0, idx.stop
        lo, hi = split_bounds(stop - start, k, rank)
        return slice(start + lo, start + hi)
    lo, hi = split_bounds(len(idx), k, rank)
    return idx[lo:hi]


def shard_arrays(arrays, k: int, rank: int) -> list:
    """Each array's (or None's) rank-``rank`` block along axis 0; all must have one length.

    Example:
        >>> import numpy as np
        >>> x = np.arange(10)
        >>> [a.tolist() for a in shard_arrays([x, x * 10], 3, 2)]
        [[7, 8, 9], [70, 80, 90]]
    """
    lengths = {len(a) for a in arrays if a is not None}
    if len(lengths) > 1:
        raise ValueError(
            f"shard() expects arrays of one length (the samples), got lengths "
            f"{sorted(lengths)}. Pass x and y of the same data set together."
        )
    if not lengths:
        return list(arrays)
    lo, hi = split_bounds(lengths.pop(), k, rank)
    return [None if a is None else a[lo:hi] for a in arrays]


__all__ = ["split_sizes", "split_bounds", "local_part", "shard_arrays"]
