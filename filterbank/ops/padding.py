"""Output sizes and padding amounts for convolution and pooling windows.

Keras/TensorFlow rule for ``padding="same"``: the output has ``ceil(n / s)``
cells and the total padding is
``max((ceil(n/s) - 1) * s + (k - 1) * d + 1 - n, 0)``, with the odd pixel at the
end (bottom/right). ``"valid"`` pads nothing: ``floor((n - ((k-1)*d + 1)) / s) + 1``.

Example:
    >>> same_padding(7, 3, 2)          # n=7, k=3, s=2
    (1, 1)
    >>> output_size(7, 3, 2), output_size(7, 3, 2, same_padding(7, 3, 2))   # valid, same
    (3, 4)
"""

from __future__ import annotations

PADDINGS = ("valid", "same")


def effective_kernel(k: int, dilation: int = 1) -> int:
    return (k - 1) * dilation + 1


def same_padding(n: int, k: int, s: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) zero padding for "same" along one axis; the extra cell goes after."""
    out = -(-n // s)
    total = max((out - 1) * s + effective_kernel(k, dilation) - n, 0)
    return total // 2, total - total // 2


def pad_amounts(n: int, k: int, s: int, padding: str, dilation: int = 1) -> tuple[int, int]:
    if padding == "valid":
        return 0, 0
    return same_padding(n, k, s, dilation)


def output_size(n: int | None, k: int, s: int, pads=(0, 0), dilation: int = 1) -> int | None:
    """Cells along one axis after a window of size k, stride s, dilation d, over an input of
    n cells padded by ``pads`` (before, after): ``(n + before + after - ((k-1)*d + 1)) // s + 1``.

    The one output-size formula of every convolution and pooling (with
    :func:`pad_amounts`, "same" gives ``ceil(n / s)``). None stays None.
    """
    if n is None:
        return None
    return (n + pads[0] + pads[1] - effective_kernel(k, dilation)) // s + 1
