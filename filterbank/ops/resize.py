"""Upsampling by integer factors, forward and backward, NHWC / NWC (Keras's UpSampling).

* nearest: every cell repeated ``size`` times per axis (Keras's ``ops.repeat``); the
  backward sums each block of repeats.
* bilinear: Keras 3's ``ops.image.resize`` on the upsampled size -- half-pixel centres
  (source coordinate ``(o + 0.5) / s - 0.5``, clamped at 0 and at the last cell), no
  antialiasing when upsampling; PyTorch's ``interpolate(mode="bilinear",
  align_corners=False)`` and TensorFlow's ``resize(bilinear)`` agree on it. Separable:
  one interpolation matrix per axis (two non-zeros a row), applied as two GEMMs; the
  backward applies their transposes.

Example:
    >>> import numpy as np
    >>> x = np.array([0.0, 4.0]).reshape(1, 1, 2, 1)
    >>> upsample2d_forward(x, (1, 2), "nearest")[0].ravel().tolist()
    [0.0, 0.0, 4.0, 4.0]
    >>> upsample2d_forward(x, (1, 2), "bilinear")[0].ravel().tolist()
    [0.0, 1.0, 3.0, 4.0]
"""

from __future__ import annotations

import numpy as np

INTERPOLATIONS = ("nearest", "bilinear")


def interpolation_matrix(n: int, factor: int, dtype=np.float64) -> np.ndarray:
    """(n*factor, n) weights of half-pixel linear interpolation, rows summing to 1.

    Example:
        >>> interpolation_matrix(2, 2).tolist()
        [[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]]
    """
    out = np.arange(n * factor)
    src = np.maximum((out + 0.5) / factor - 0.5, 0.0)
    i0 = np.floor(src).astype(int)
    i0 = np.minimum(i0, n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = src - i0
    a = np.zeros((n * factor, n), dtype=dtype)
    np.add.at(a, (out, i0), 1.0 - lam)
    np.add.at(a, (out, i1), lam)
    return a


def upsample2d_forward(x, size, interpolation="nearest"):
    """Upsample NHWC ``x`` by ``size`` = (sh, sw). Returns (y, cache).

    Shapes: (N, H, W, C) -> (N, H*sh, W*sw, C).
    """
    x = np.asarray(x)
    sh, sw = size
    if interpolation == "nearest":
        n, h, w, c = x.shape
        y = np.broadcast_to(x[:, :, None, :, None, :], (n, h, sh, w, sw, c))
        return y.reshape(n, h * sh, w * sw, c), (x.shape, size, None)
    ah = interpolation_matrix(x.shape[1], sh, x.dtype)
    aw = interpolation_matrix(x.shape[2], sw, x.dtype)
    t = np.einsum("oh,nhwc->nowc", ah, x, optimize=True)
    y = np.einsum("pw,nowc->nopc", aw, t, optimize=True)
    return np.ascontiguousarray(y), (x.shape, size, (ah, aw))


def upsample2d_backward(dy, cache):
    """dx of :func:`upsample2d_forward`. Shapes: (N, H*sh, W*sw, C) -> (N, H, W, C)."""
    x_shape, (sh, sw), mats = cache
    n, h, w, c = x_shape
    if mats is None:
        return dy.reshape(n, h, sh, w, sw, c).sum(axis=(2, 4))
    ah, aw = mats
    t = np.einsum("pw,nopc->nowc", aw, dy, optimize=True)
    return np.ascontiguousarray(np.einsum("oh,nowc->nhwc", ah, t, optimize=True))


def upsample1d_forward(x, size):
    """Repeat every step ``size`` times: (N, L, C) -> (N, L*size, C). Returns (y, cache)."""
    n, length, c = x.shape
    y = np.broadcast_to(x[:, :, None, :], (n, length, size, c)).reshape(n, length * size, c)
    return y, (x.shape, size)


def upsample1d_backward(dy, cache):
    (n, length, c), size = cache
    return dy.reshape(n, length, size, c).sum(axis=2)
