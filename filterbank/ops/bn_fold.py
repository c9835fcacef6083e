"""BatchNormalization at inference folded into the convolution (or dense layer) before it.

At inference a BatchNormalization over the last axis is a per-channel affine map with
fixed coefficients:

    bn(z) = (z - mean) * s + beta,   s = gamma / sqrt(var + epsilon)

so ``bn(conv(x, w) + b) == conv(x, w * s) + (b - mean) * s + beta``: the convolution
runs with a scaled kernel and a new bias, and the normalization costs nothing. This is
what ONNX Runtime does to the exported model. The coefficients are computed in float64
and rounded once to the weights' dtype, so the folded step differs from the two layers
only by the float rounding of a reordered product (``tests/ops/test_bn_fold.py``: float64
within 1e-12; ``tests/models/test_fold.py``: whole models in float32).

Shapes: w (..., F) (a Conv2D kernel (kh, kw, C, F) or a Dense kernel (C, F)), b, gamma,
beta, mean, var (F,) -> w' like w, b' (F,).

Example:
    >>> import numpy as np
    >>> w, b = np.ones((1, 1, 1, 2)), np.zeros(2)
    >>> w2, b2 = fold_batch_norm(w, b, np.array([2.0, 1.0]), np.array([0.0, 1.0]),
    ...                          np.array([1.0, 0.0]), np.array([3.0, 0.0]), 1.0)
    >>> w2.ravel().tolist(), b2.tolist()
    ([1.0, 1.0], [-1.0, 1.0])
"""

from __future__ import annotations

import numpy as np


def fold_batch_norm(w, b, gamma, beta, mean, var, epsilon, out_w=None, out_b=None):
    """(w', b') with ``conv(x, w') + b' == bn(conv(x, w) + b)``; b, gamma, beta may be
    None (no bias, ``scale=False``, ``center=False``). Written into ``out_w``/``out_b``
    when given (arrays of w's shape and dtype), else into new arrays of w's dtype."""
    s = 1.0 / np.sqrt(np.asarray(var, np.float64) + epsilon)
    if gamma is not None:
        s = s * gamma
    shift = -np.asarray(mean, np.float64) if b is None else b - np.asarray(mean, np.float64)
    shift = shift * s
    if beta is not None:
        shift = shift + beta
    if out_w is None:
        out_w = np.empty(w.shape, w.dtype)
    if out_b is None:
        out_b = np.empty(w.shape[-1], w.dtype)
    np.multiply(w, s, out=out_w, casting="unsafe")
    out_b[...] = shift
    return out_w, out_b
