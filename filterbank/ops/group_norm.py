"""Layer and group normalization, forward and backward (Keras 3 semantics).

Both normalize each sample with its own statistics (no moving averages, the same in
training and inference): ``x_hat = (x - mean) / sqrt(var + epsilon)`` with the *biased*
variance, then ``y = gamma * x_hat + beta``.

* layer normalization: mean and variance over ``axes`` (Keras's ``axis``, default the
  last); gamma and beta have the sizes of those axes. ``rms_scaling`` (Keras 3's variant)
  gives ``y = gamma * x / sqrt(var + epsilon)``: x is scaled by the centred variance but
  not centred itself, and there is no beta.
* group normalization: channels (the last axis) split into ``groups`` contiguous blocks;
  mean and variance per sample and block, over every other non-batch axis; gamma and beta
  per channel (C,).

Backward over the normalized axes (n values each), with g = dy * gamma:
``dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat))``.

Example:
    >>> import numpy as np
    >>> y, cache = layer_norm_forward(np.array([[1.0, 3.0]]), None, None, epsilon=0.0)
    >>> y.tolist()
    [[-1.0, 1.0]]
    >>> y, cache = group_norm_forward(np.array([[1.0, 3.0, 5.0, 9.0]]), None, None, groups=2,
    ...                               epsilon=0.0)
    >>> y.tolist()
    [[-1.0, 1.0, -1.0, 1.0]]
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class NormCache(NamedTuple):
    x_hat: np.ndarray  # in the grouped layout (group norm) or the input's (layer norm)
    inv_std: np.ndarray  # keepdims over the normalized axes
    axes: tuple  # the normalized axes of x_hat
    gamma: np.ndarray | None  # broadcastable to the input
    shape: tuple  # the input's shape
    centered: np.ndarray | None = None  # rms_scaling only: x - mean
    x: np.ndarray | None = None  # rms_scaling only


def _broadcast(v, shape, axes):
    """A parameter of the sizes of ``axes`` shaped to broadcast against ``shape``."""
    if v is None:
        return None
    b = [1] * len(shape)
    for a in axes:
        b[a] = shape[a]
    return np.asarray(v).reshape(b)


def _normalize(x, axes, epsilon):
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = np.mean(np.square(centered), axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + x.dtype.type(epsilon))
    return centered, inv


def _norm_backward(g, x_hat, inv, axes):
    """dL/dx of x_hat = (x - mean) * inv, given g = dL/dx_hat."""
    mean_g = g.mean(axis=axes, keepdims=True)
    mean_gx = np.mean(g * x_hat, axis=axes, keepdims=True)
    return inv * (g - mean_g - x_hat * mean_gx)


def layer_norm_forward(x, gamma=None, beta=None, axes=(-1,), epsilon=1e-3, rms_scaling=False):
    """Layer normalization over ``axes``. Returns (y, cache).

    Shapes: x any; gamma, beta the sizes of ``axes`` (sorted) or None.
    """
    x = np.asarray(x)
    axes = tuple(sorted(a % x.ndim for a in axes))
    g = _broadcast(gamma, x.shape, axes)
    b = _broadcast(beta, x.shape, axes)
    centered, inv = _normalize(x, axes, epsilon)
    if rms_scaling:
        y = x * inv
        if g is not None:
            y = y * g
        return y, NormCache(None, inv, axes, g, x.shape, centered, x)
    x_hat = centered * inv
    y = x_hat * g if g is not None else x_hat.copy()
    if b is not None:
        y += b
    return y, NormCache(x_hat, inv, axes, g, x.shape)


def layer_norm_backward(dy, cache: NormCache):
    """(dx, dgamma or None, dbeta or None) of :func:`layer_norm_forward`.

    dgamma/dbeta are returned for gamma/beta given (dbeta also when only beta was); the
    caller knows which it passed.
    """
    axes = cache.axes
    other = tuple(a for a in range(dy.ndim) if a not in axes)
    param_shape = tuple(cache.shape[a] for a in axes)
    if cache.x is not None:  # rms_scaling: y = x * inv * gamma
        x, inv, n = cache.x, cache.inv_std, np.prod(param_shape)
        g = dy * cache.gamma if cache.gamma is not None else dy
        dx = g * inv - inv**3 * cache.centered * (np.sum(g * x, axis=axes, keepdims=True) / n)
        dgamma = np.sum(dy * x * inv, axis=other).reshape(param_shape)
        return dx, dgamma, None
    dgamma = np.sum(dy * cache.x_hat, axis=other).reshape(param_shape)
    dbeta = np.sum(dy, axis=other).reshape(param_shape)
    g = dy * cache.gamma if cache.gamma is not None else dy
    return _norm_backward(g, cache.x_hat, cache.inv_std, axes), dgamma, dbeta


def group_norm_forward(x, gamma=None, beta=None, groups=32, epsilon=1e-3):
    """Group normalization, channels last. Returns (y, cache).

    Shapes: x (N, ..., C) with C divisible by ``groups``; gamma, beta (C,) or None.
    """
    x = np.asarray(x)
    n, c = x.shape[0], x.shape[-1]
    xg = x.reshape(n, -1, groups, c // groups)  # (N, S, G, C/G)
    centered, inv = _normalize(xg, (1, 3), epsilon)
    x_hat = centered * inv
    y = x_hat.reshape(x.shape)
    y = y * gamma if gamma is not None else y.copy()
    if beta is not None:
        y += beta
    return y, NormCache(x_hat, inv, (1, 3), gamma, x.shape)


def group_norm_backward(dy, cache: NormCache):
    """(dx, dgamma, dbeta) of :func:`group_norm_forward` (dgamma, dbeta (C,))."""
    c = cache.shape[-1]
    x_hat_flat = cache.x_hat.reshape(-1, c)
    dy_flat = dy.reshape(-1, c)
    dgamma = np.sum(dy_flat * x_hat_flat, axis=0)
    dbeta = np.sum(dy_flat, axis=0)
    g = dy * cache.gamma if cache.gamma is not None else dy
    g = g.reshape(cache.x_hat.shape)
    dx = _norm_backward(g, cache.x_hat, cache.inv_std, cache.axes)
    return dx.reshape(cache.shape), dgamma, dbeta
