"""Training-mode BatchNormalization -> ReLU -> 2x2 max pooling as one operation.

The block ``Conv2D -> BatchNormalization -> Activation("relu") -> MaxPooling2D`` of most
CIFAR-style CNNs spends a third of its training step in the three cheap layers when they
run one by one: NumPy makes ~15 passes over the full-size map (statistics, normalize,
scale, shift, ReLU, mask, pool, and as many backward), each a trip to memory. Fused
(:mod:`filterbank.ops._numba_bn`): one pass for the statistics, one that normalizes,
applies the ReLU and pools, and in the backward one pass that writes dz.

Math (M values per channel, ``h = (z - mean) * inv_std``, ``a = gamma * h + beta``):

    forward:   y = maxpool(relu(a)),  also each window's argmax and winner's h
    backward:  g' = dy * (y > 0) at each window's winner, 0 elsewhere (ReLU, then pool)
               dbeta = sum(g'),  dgamma = sum(g' * h)          (over the pooled cells only)
               dz = gamma * inv_std * (g' - dbeta / M - h * dgamma / M)    (every cell of z)

Pooling the activated map picks the same winner as pooling ``a`` wherever the ReLU lets a
gradient through (y > 0), so routing g' by the argmax of ``a`` is exact.

Two implementations, chosen by :func:`filterbank.ops.kernels.choose` ("bn+relu+maxpool"):

* ``"numba"``: the compiled passes (float32/float64, 2x2 windows, stride 2, "valid");
* ``"reference"``: the three layers' own NumPy operations composed
  (:mod:`~filterbank.ops.normalization`, :mod:`~filterbank.ops.pool`): the readable
  definition, and what the tests compare with.

They agree within float rounding, not bit for bit: the statistics are summed in float64 in
one shifted pass (the reference: float32 pairwise sums, two passes) and dz's terms are
added in another order.

Shapes: z, dz (N, H, W, C); gamma, beta, statistics (C,); y, dy (N, H//2, W//2, C).

Example:
    >>> import numpy as np
    >>> z = np.arange(16, dtype="float64").reshape(1, 4, 4, 1)
    >>> y, cache = forward(z, np.ones(1), np.zeros(1), 1e-3, impl="reference")
    >>> y.shape, bool((y >= 0).all())
    ((1, 2, 2, 1), True)
    >>> dz, dgamma, dbeta = backward(np.ones_like(y), cache)
    >>> dz.shape, abs(float(dz.sum())) < 1e-9     # BN's input gradient sums to 0 per channel
    ((1, 4, 4, 1), True)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import kernels as _kernels
from . import normalization as _bn
from . import pool as _pool
from .activations import relu_forward

IMPLS = ("reference", "numba")


class Cache(NamedTuple):
    """What :func:`backward` needs from :func:`forward` (``bn``: the reference's BN cache)."""

    impl: str
    z: np.ndarray
    y: np.ndarray
    argmax: np.ndarray
    mean: np.ndarray  # (C,) batch mean
    var: np.ndarray  # (C,) biased batch variance
    inv_std: np.ndarray
    gamma: np.ndarray
    xhat_win: np.ndarray | None  # numba: each window's winner's normalized value
    a: np.ndarray | None  # reference: relu's input
    bn: _bn.BatchNormCache | None


def numba_kernels():
    """The compiled module, or None (numba missing or FILTERBANK_DISABLE_NUMBA=1)."""
    return _kernels.compiled("ops._numba_bn")


def supports(shape, dtype, pool_size, pool_strides, pool_padding) -> bool:
    """True when the compiled kernels take this case: a 4D float32/float64 map, 2x2
    windows at stride 2 with "valid" padding and at least one window."""
    return (
        len(shape) == 4
        and np.dtype(dtype) in _kernels.FLOATS
        and tuple(pool_size) == (2, 2)
        and tuple(pool_strides) == (2, 2)
        and pool_padding == "valid"
        and shape[1] >= 2
        and shape[2] >= 2
    )


def forward(
    z,
    gamma,
    beta,
    epsilon,
    pool_size=(2, 2),
    pool_strides=(2, 2),
    pool_padding="valid",
    *,
    impl="numba",
    buffers=None,
):
    """(y, cache) of ``maxpool(relu(batchnorm_train(z)))``; the batch statistics are in
    ``cache.mean`` / ``cache.var``. ``buffers``: optional ``get(role, shape, dtype)`` (a
    :class:`~filterbank.ops.workspace.Workspace`) for y, the argmax and the winners."""
    dt = z.dtype
    c = z.shape[-1]
    gamma = np.ones(c, dt) if gamma is None else np.asarray(gamma, dt)
    beta = np.zeros(c, dt) if beta is None else np.asarray(beta, dt)
    if impl == "reference":
        a, bn_cache = _bn.batch_norm_train_forward(z, gamma, beta, epsilon)
        r = relu_forward(a)
        y, arg = _pool.max_pool2d_forward(
            r, pool_size, pool_strides, pool_padding, return_argmax=True, impl="numpy"
        )
        return y, Cache(
            impl, z, y, arg, bn_cache.mean, bn_cache.var, bn_cache.inv_std, gamma, None, a, bn_cache
        )
    if impl != "numba":
        from ..errors import unknown_name

        raise unknown_name("bn+relu+maxpool implementation", impl, IMPLS)
    mod = numba_kernels()
    z = np.ascontiguousarray(z)
    n, h, w, _ = z.shape
    mean64, var64 = np.empty(c), np.empty(c)
    mod.channel_moments(z.reshape(-1, c), mean64, var64)
    mean, var = mean64.astype(dt), var64.astype(dt)
    inv_std = (1.0 / np.sqrt(var64 + epsilon)).astype(dt)  # as the reference: float64 sqrt
    shape = (n, h // 2, w // 2, c)
    if buffers is None:
        y, arg, xw = np.empty(shape, dt), np.empty(shape, np.uint8), np.empty(shape, dt)
    else:
        y = buffers.get("y", shape, dt)
        arg = buffers.get("argmax", shape, np.uint8)
        xw = buffers.get("xhat_win", shape, dt)
    mod.bn_relu_pool2x2_forward(z, mean, inv_std, gamma, beta, y, arg, xw)
    return y, Cache(impl, z, y, arg, mean, var, inv_std, gamma, xw, None, None)


def backward(grad, cache: Cache, need_dz=True, pool_args=((2, 2), (2, 2), "valid"), out=None):
    """(dz or None, dgamma, dbeta) from dLoss/dy. ``out``: where dz is written (numba)."""
    if cache.impl == "reference":
        dr = _pool.max_pool2d_backward(grad, cache.argmax, cache.a.shape, *pool_args, impl="numpy")
        da = dr * (cache.a > 0)
        dz, dgamma, dbeta = _bn.batch_norm_train_backward(da, cache.bn, cache.gamma)
        return (dz if need_dz else None), dgamma, dbeta
    mod = numba_kernels()
    z, dt = cache.z, cache.z.dtype
    grad = np.ascontiguousarray(grad, dtype=dt)
    c = z.shape[-1]
    sum_g, sum_gx = np.empty(c), np.empty(c)
    mod.window_sums(grad, cache.y, cache.xhat_win, sum_g, sum_gx)
    dgamma, dbeta = sum_gx.astype(dt), sum_g.astype(dt)
    if not need_dz:
        return None, dgamma, dbeta
    m = z.size // c
    scale64 = cache.gamma.astype(np.float64) * cache.inv_std
    scale = scale64.astype(dt)
    c0, c1 = (scale64 * sum_g / m).astype(dt), (scale64 * sum_gx / m).astype(dt)
    dz = np.empty(z.shape, dt) if out is None else out
    mod.bn_relu_pool2x2_backward(
        grad, cache.y, cache.argmax, z, cache.mean, cache.inv_std, scale, c0, c1, dz
    )
    return dz, dgamma, dbeta
