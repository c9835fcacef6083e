"""True convolution next to cross-correlation, in 1D and 2D (MITx 6.86x lecture 12, seed 001).

A true convolution flips the kernel: ``(f * g)[n] = sum_m f[m] g[n - m]``. What CNN layers
(Conv1D, Conv2D: Keras, PyTorch, filterbank) compute is the cross-correlation, with no flip:
``(f ⋆ g)[n] = sum_m f[n + m] g[m]``. The two agree when the kernel is symmetric, and a
learned kernel would simply learn the flipped weights, which is why libraries skip the flip.

Modes follow ``numpy.convolve``: "full" (every overlap, length N + M - 1), "same" (length
max(N, M), centred as NumPy centres it) and "valid" (complete overlaps only, length
max(N, M) - min(N, M) + 1). The 2D functions apply the same rule on each axis.

Example:
    >>> import numpy as np
    >>> from filterbank import signal
    >>> x, k = np.array([0.0, 0, 1, 1, 1, 0, 1, 0, 0, 0]), np.array([-1.0, 1])
    >>> signal.correlate(x, k, "full")[:-1].tolist()   # 6.036's left-edge detector F1
    [0.0, 0.0, 1.0, 0.0, 0.0, -1.0, 1.0, -1.0, 0.0, 0.0]
    >>> signal.convolve(x, k, "valid").tolist() == np.convolve(x, k, "valid").tolist()
    True
"""

from __future__ import annotations

import numpy as np

MODES = ("full", "same", "valid")


def _check(a, v, mode, ndim, who):
    a = np.asarray(a, dtype=np.result_type(a, v, np.float64) if np.iscomplexobj(a) else None)
    v = np.asarray(v)
    if mode not in MODES:
        raise ValueError(f"{who} mode expects one of {MODES}, got {mode!r}.")
    if a.ndim != ndim or v.ndim != ndim:
        raise ValueError(f"{who} expects two {ndim}D arrays, got shapes {a.shape} and {v.shape}.")
    if a.size == 0 or v.size == 0:
        raise ValueError(f"{who} needs non-empty arrays, got shapes {a.shape} and {v.shape}.")
    return a, v


def _full_correlation(a, v):
    """Every overlap of ``v`` slid over ``a`` (zero padded): shape a.shape + v.shape - 1."""
    pads = [(m - 1, m - 1) for m in v.shape]
    padded = np.pad(a, pads)
    windows = np.lib.stride_tricks.sliding_window_view(padded, v.shape)
    axes = tuple(range(a.ndim, 2 * a.ndim))
    return np.tensordot(windows, v, axes=(axes, tuple(range(v.ndim))))


def _crop(full, a_shape, v_shape, mode):
    """NumPy's "same" and "valid" windows of a "full" result, axis by axis."""
    if mode == "full":
        return full
    index = []
    for n, m in zip(a_shape, v_shape):
        if mode == "same":
            length, start = max(n, m), (min(n, m) - 1) // 2
        else:
            length, start = max(n, m) - min(n, m) + 1, min(n, m) - 1
        index.append(slice(start, start + length))
    return full[tuple(index)]


def correlate(a, v, mode="valid"):
    """Cross-correlation (no flip: what conv layers compute), as ``numpy.correlate``."""
    a, v = _check(a, v, mode, 1, "correlate")
    if v.size > a.size:  # as NumPy: slide the shorter array, then reverse the result
        return np.conj(correlate(v, a, mode)[::-1])
    return _crop(_full_correlation(a, np.conj(v)), a.shape, v.shape, mode)


def convolve(a, v, mode="full"):
    """True convolution (the kernel flipped), as ``numpy.convolve``."""
    a, v = _check(a, v, mode, 1, "convolve")
    if v.size > a.size:  # convolution commutes; NumPy slides the shorter array
        a, v = v, a
    return _crop(_full_correlation(a, v[::-1]), a.shape, v.shape, mode)


def correlate2d(image, kernel, mode="valid"):
    """2D cross-correlation: a Conv2D layer's arithmetic on one channel, without the bias."""
    a, v = _check(image, kernel, mode, 2, "correlate2d")
    return _crop(_full_correlation(a, v), a.shape, v.shape, mode)


def convolve2d(image, kernel, mode="full"):
    """2D true convolution: the kernel flipped on both axes, then correlated."""
    a, v = _check(image, kernel, mode, 2, "convolve2d")
    return _crop(_full_correlation(a, v[::-1, ::-1]), a.shape, v.shape, mode)


__all__ = ["convolve", "convolve2d", "correlate", "correlate2d"]
