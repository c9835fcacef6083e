"""Batch normalization, forward and backward, over any feature axis (Keras semantics).

Training: normalize with the batch's mean and *biased* variance over every axis except
``axis``; ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta``. Inference: the same
with the moving statistics. The moving statistics follow Keras 3:
``moving = moving * momentum + batch * (1 - momentum)``, using the same biased batch
variance (PyTorch's running_var uses the unbiased one and ``momentum = 1 - 0.99``).

Shapes: x (..., C, ...) with C = x.shape[axis]; gamma, beta, mean, var (C,).

Example:
    >>> import numpy as np
    >>> x = np.array([[1.0], [3.0]])
    >>> y, cache = batch_norm_train_forward(x, np.ones(1), np.zeros(1), epsilon=0.0)
    >>> y.ravel().tolist(), cache.mean.tolist(), cache.var.tolist()
    ([-1.0, 1.0], [2.0], [1.0])
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class BatchNormCache(NamedTuple):
    """What the training backward needs: the normalized input, 1/std, the batch stats."""

    x_hat: np.ndarray
    inv_std: np.ndarray  # (C,)
    mean: np.ndarray  # (C,) batch mean
    var: np.ndarray  # (C,) biased batch variance
    axis: int


def _axes(ndim: int, axis: int):
    axis = axis % ndim
    return axis, tuple(i for i in range(ndim) if i != axis)


def _bcast(v, ndim, axis):
    """A (C,) vector shaped to broadcast against an array with C on ``axis``."""
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)


def _channel_sum(a, axis):
    """Sum over every axis but ``axis``: (C,). A 2D view is fastest for channels-last."""
    if axis == a.ndim - 1 and a.flags.c_contiguous:
        return a.reshape(-1, a.shape[-1]).sum(axis=0)
    return a.sum(axis=tuple(i for i in range(a.ndim) if i != axis))


def batch_norm_train_forward(x, gamma=None, beta=None, epsilon=1e-3, axis=-1):
    """Normalize x with its own batch statistics.

    Args:
        x: (..., C, ...) input, C on ``axis``.
        gamma, beta: (C,) scale and offset, or None (scale 1 / offset 0).

    Returns:
        (y, cache): y like x; cache a :class:`BatchNormCache` holding the batch mean and
        biased variance (C,) for the moving averages.
    """
    axis, _ = _axes(x.ndim, axis)
    m = x.size // x.shape[axis]
    dt = x.dtype
    mean = _channel_sum(x, axis) / dt.type(m)
    x_hat = x - _bcast(mean, x.ndim, axis)
    var = _channel_sum(np.square(x_hat), axis) / dt.type(m)
    inv_std = (1.0 / np.sqrt(var.astype(np.float64) + epsilon)).astype(dt)
    x_hat *= _bcast(inv_std, x.ndim, axis)
    y = x_hat * _bcast(gamma.astype(dt, copy=False), x.ndim, axis) if gamma is not None \
        else x_hat.copy()
    if beta is not None:
        y += _bcast(beta.astype(dt, copy=False), x.ndim, axis)
    return y, BatchNormCache(x_hat, inv_std, mean, var, axis)


def _inference_scale(moving_var, gamma, epsilon, dtype):
    inv_std = 1.0 / np.sqrt(np.asarray(moving_var, dtype=np.float64) + epsilon)
    scale = inv_std if gamma is None else inv_std * gamma
    return inv_std.astype(dtype), np.asarray(scale, dtype=dtype)


def batch_norm_inference_forward(x, moving_mean, moving_var, gamma=None, beta=None,
                                 epsilon=1e-3, axis=-1):
    """Normalize x (..., C, ...) with fixed statistics (C,): y like x.

    The per-channel scale ``gamma / sqrt(var + eps)`` and shift are folded first, so the
    pass over x is one multiply and one add.
    """
    axis, _ = _axes(x.ndim, axis)
    _, scale = _inference_scale(moving_var, gamma, epsilon, x.dtype)
    shift = -np.asarray(moving_mean, dtype=x.dtype) * scale
    if beta is not None:
        shift = shift + beta.astype(x.dtype, copy=False)
    y = x * _bcast(scale, x.ndim, axis)
    y += _bcast(shift, x.ndim, axis)
    return y


def batch_norm_train_backward(grad, cache: BatchNormCache, gamma=None):
    """Gradients of training-mode batch norm, where the statistics depend on x.

    Returns:
        (dx like x, dgamma (C,), dbeta (C,)). With M values per channel:
        ``dx = gamma * inv_std * (g - sum(g) / M - x_hat * sum(g * x_hat) / M)``.
    """
    x_hat, inv_std, axis = cache.x_hat, cache.inv_std, cache.axis
    dt = grad.dtype
    m = dt.type(grad.size // grad.shape[axis])
    dbeta = _channel_sum(grad, axis)
    dgamma = _channel_sum(grad * x_hat, axis)
    scale = inv_std if gamma is None else inv_std * gamma.astype(dt, copy=False)
    dx = grad - _bcast(dbeta / m, grad.ndim, axis)
    dx -= x_hat * _bcast(dgamma / m, grad.ndim, axis)
    dx *= _bcast(scale, grad.ndim, axis)
    return dx, dgamma, dbeta


def batch_norm_inference_backward(grad, x, moving_mean, moving_var, gamma=None, epsilon=1e-3,
                                  axis=-1):
    """Gradients of inference-mode batch norm (fixed statistics): (dx, dgamma, dbeta).

    Shapes: grad, x (..., C, ...); the rest (C,).
    """
    axis, _ = _axes(x.ndim, axis)
    inv_std, scale = _inference_scale(moving_var, gamma, epsilon, grad.dtype)
    dx = grad * _bcast(scale, grad.ndim, axis)
    x_hat = (x - _bcast(np.asarray(moving_mean, dtype=x.dtype), x.ndim, axis)) \
        * _bcast(inv_std, x.ndim, axis)
    return dx, _channel_sum(grad * x_hat, axis), _channel_sum(grad, axis)


def update_moving(moving, batch_value, momentum=0.99):
    """In place: ``moving = moving * momentum + batch_value * (1 - momentum)`` (Keras)."""
    moving *= momentum
    moving += (1.0 - momentum) * np.asarray(batch_value, dtype=moving.dtype)
    return moving
