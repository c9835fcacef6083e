"""Batch normalization, forward and backward, over any feature axis (Keras semantics).

Training: normalize with the batch's mean and *biased* variance over every axis except
``axis``; ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta``. Inference: the same
with the moving statistics. The moving statistics follow Keras 3:
``moving = moving * momentum + batch * (1 - momentum)``, using the same biased batch
variance (PyTorch's running_var uses the unbiased one and ``momentum = 1 - 0.99``).

Shapes: x (..., C, ...) with C = x.shape[axis]; gamma, beta, mean, var (C,).

Speed: a channels-last array is viewed as rows of ``r * C`` values (r = the product of the
non-batch, non-channel sizes), per-channel vectors are tiled to that length, and channel
sums reduce whole rows first. NumPy's elementwise loops and axis-0 reductions over rows of
only C = 32 values are overhead-bound: this layout measured several times faster. (A
ones-vector gemv was as fast when idle but 80x slower with BLAS threads contended.)
Another feature axis is moved last first (a copy).

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

    x_hat: np.ndarray  # channels-last, C-contiguous
    inv_std: np.ndarray  # (C,)
    mean: np.ndarray  # (C,) batch mean
    var: np.ndarray  # (C,) biased batch variance
    axis: int  # the feature axis of the caller's arrays (non-negative)


def _to_last(a, axis):
    """``a`` with its feature axis last, C-contiguous (a view when it already is)."""
    if axis != a.ndim - 1:
        a = np.moveaxis(a, axis, -1)
    return np.ascontiguousarray(a)


def _from_last(a, axis):
    return a if axis == a.ndim - 1 else np.moveaxis(a, -1, axis)


def _rows(a):
    """Channels-last ``a`` as a 2D view (batch, r * C)."""
    return a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(1, -1)


def _tile(v, a):
    """A (C,) vector repeated to match one row of ``_rows(a)``."""
    return np.tile(v.astype(a.dtype, copy=False), a[0].size // a.shape[-1] if a.ndim > 1 else 1)


def _channel_sum(a):
    """Sum of channels-last ``a`` over all axes but the last: (C,).

    Summing the (batch, r * C) rows first keeps NumPy's inner loop long; only the short
    (r, C) remainder is reduced with C-wide rows.
    """
    return _rows(a).sum(axis=0).reshape(-1, a.shape[-1]).sum(axis=0)


def batch_norm_train_forward(x, gamma=None, beta=None, epsilon=1e-3, axis=-1, reduce=None):
    """Normalize x with its own batch statistics.

    Args:
        x: (..., C, ...) input, C on ``axis``.
        gamma, beta: (C,) scale and offset, or None (scale 1 / offset 0).
        reduce: None (this array is the batch), or an object whose ``moments(count, mean, m2)``
            combines this part's count, mean and sum of squared deviations (C,) with the other
            parts of a batch split over processes and returns the whole batch's
            (count, mean, m2) -- filterbank.distributed's synchronised batch norm.

    Returns:
        (y, cache): y like x; cache a :class:`BatchNormCache` holding the batch mean and
        biased variance (C,) for the moving averages.
    """
    axis = axis % x.ndim
    xl = _to_last(x, axis)
    dt = xl.dtype
    m = dt.type(xl.size // xl.shape[-1])
    if reduce is None:
        mean = _channel_sum(xl) / m
        x_hat = _rows(xl) - _tile(mean, xl)
        var = _channel_sum(np.square(x_hat).reshape(xl.shape)) / m
    else:
        mean, var = _global_moments(xl, m, reduce)
        x_hat = _rows(xl) - _tile(mean, xl)
    inv_std = (1.0 / np.sqrt(var.astype(np.float64) + epsilon)).astype(dt)
    x_hat *= _tile(inv_std, xl)
    y = x_hat * _tile(gamma, xl) if gamma is not None else x_hat.copy()
    if beta is not None:
        y += _tile(beta, xl)
    x_hat = x_hat.reshape(xl.shape)
    return _from_last(y.reshape(xl.shape), axis), BatchNormCache(x_hat, inv_std, mean, var, axis)


def _global_moments(xl, m, reduce):
    """Mean and biased variance (C,) of the whole batch, this part being ``xl``.

    Each part sends its count, mean and centred sum of squares; ``reduce.moments`` combines
    them (Chan et al.'s pairwise rule), which keeps the two-pass accuracy of the one-process
    formula. An empty part (a rank with no samples in a short last batch) sends count 0.
    """
    c = xl.shape[-1]
    if m:
        local_mean = _channel_sum(xl) / m
        dev = _rows(xl) - _tile(local_mean, xl)
        m2 = _channel_sum(np.square(dev).reshape(xl.shape))
    else:
        local_mean = m2 = np.zeros(c, xl.dtype)
    total, mean, m2 = reduce.moments(int(m), local_mean, m2)
    return (np.asarray(mean, dtype=xl.dtype), np.asarray(m2, dtype=xl.dtype) / xl.dtype.type(total))


def _inference_scale(moving_var, gamma, epsilon, dtype):
    inv_std = 1.0 / np.sqrt(np.asarray(moving_var, dtype=np.float64) + epsilon)
    scale = inv_std if gamma is None else inv_std * gamma
    return inv_std.astype(dtype), np.asarray(scale, dtype=dtype)


def batch_norm_inference_forward(
    x, moving_mean, moving_var, gamma=None, beta=None, epsilon=1e-3, axis=-1
):
    """Normalize x (..., C, ...) with fixed statistics (C,): y like x.

    The per-channel scale ``gamma / sqrt(var + eps)`` and shift are folded first, so the
    pass over x is one multiply and one add.
    """
    axis = axis % x.ndim
    xl = _to_last(x, axis)
    _, scale = _inference_scale(moving_var, gamma, epsilon, xl.dtype)
    shift = -np.asarray(moving_mean, dtype=xl.dtype) * scale
    if beta is not None:
        shift = shift + beta.astype(xl.dtype, copy=False)
    y = _rows(xl) * _tile(scale, xl)
    y += _tile(shift, xl)
    return _from_last(y.reshape(xl.shape), axis)


def batch_norm_train_backward(grad, cache: BatchNormCache, gamma=None, reduce=None):
    """Gradients of training-mode batch norm, where the statistics depend on x.

    Returns:
        (dx like x, dgamma (C,), dbeta (C,)). With M values per channel:
        ``dx = gamma * inv_std * (g - sum(g) / M - x_hat * sum(g * x_hat) / M)``.

    With ``reduce`` (the forward's; batch split over processes), ``dx`` needs the sums over
    the whole batch: ``reduce.sums(count, sum_g, sum_g_xhat)`` returns each part's sums
    weighted by its share of the batch (count / total count), summed over the parts. Each
    process's ``grad`` is of its own mean loss, i.e. the global loss's gradient divided by its
    share, so with M this part's count the formula above stays as written. dgamma and dbeta
    stay this part's (the gradient Allreduce weights them).
    """
    x_hat, inv_std, axis = cache.x_hat, cache.inv_std, cache.axis
    gl = _to_last(grad, axis)
    dt = gl.dtype
    m = dt.type(gl.size // gl.shape[-1])
    g2, xh2 = _rows(gl), _rows(x_hat)
    dbeta = _channel_sum(gl)
    dgamma = _channel_sum(gl * x_hat)
    sum_g, sum_gx = dbeta, dgamma
    if reduce is not None:
        sum_g, sum_gx = (np.asarray(s, dtype=dt) for s in reduce.sums(int(m), dbeta, dgamma))
    scale = inv_std.astype(dt) if gamma is None else inv_std * gamma.astype(dt, copy=False)
    dx = g2 * _tile(scale, gl)
    if m:
        dx -= xh2 * _tile(scale * sum_gx / m, gl)
        dx -= _tile(scale * sum_g / m, gl)
    return _from_last(dx.reshape(gl.shape), axis), dgamma, dbeta


def batch_norm_inference_backward(
    grad, x, moving_mean, moving_var, gamma=None, epsilon=1e-3, axis=-1
):
    """Gradients of inference-mode batch norm (fixed statistics): (dx, dgamma, dbeta).

    Shapes: grad, x (..., C, ...); the rest (C,).
    """
    axis = axis % x.ndim
    gl, xl = _to_last(grad, axis), _to_last(x, axis)
    inv_std, scale = _inference_scale(moving_var, gamma, epsilon, gl.dtype)
    dx = _rows(gl) * _tile(scale, gl)
    x_hat = _rows(xl) - _tile(np.asarray(moving_mean, dtype=xl.dtype), xl)
    x_hat *= _tile(inv_std, xl)
    dgamma = _channel_sum((_rows(gl) * x_hat).reshape(gl.shape))
    return _from_last(dx.reshape(gl.shape), axis), dgamma, _channel_sum(gl)


def update_moving(moving, batch_value, momentum=0.99):
    """In place: ``moving = moving * momentum + batch_value * (1 - momentum)`` (Keras)."""
    moving *= momentum
    moving += (1.0 - momentum) * np.asarray(batch_value, dtype=moving.dtype)
    return moving
