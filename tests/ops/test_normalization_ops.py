"""filterbank.ops.normalization against explicit formulas and finite differences."""

import numpy as np
import pytest

from filterbank.ops import normalization as bn
from tests.gradcheck import assert_close, numeric_grad


def naive_train(x, gamma, beta, eps, axis):
    """Per channel, by a loop over channels: mean, biased var, normalized output."""
    xm = np.moveaxis(x, axis, -1)
    c = xm.shape[-1]
    y = np.empty_like(xm)
    means, variances = np.empty(c), np.empty(c)
    for ch in range(c):
        v = xm[..., ch].ravel()
        mean = v.sum() / v.size
        var = ((v - mean) ** 2).sum() / v.size
        y[..., ch] = gamma[ch] * (xm[..., ch] - mean) / np.sqrt(var + eps) + beta[ch]
        means[ch], variances[ch] = mean, var
    return np.moveaxis(y, -1, axis), means, variances


@pytest.mark.parametrize(
    "shape,axis",
    [((8, 3), -1), ((4, 5, 6, 3), -1), ((4, 3, 5, 2), 1), ((3, 7, 4), 1), ((5, 2, 3, 4), 3)],
)
def test_train_forward_matches_loop(shape, axis):
    rng = np.random.default_rng(len(shape) + axis)
    x = rng.standard_normal(shape) * 3 + 1
    c = shape[axis]
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    y, cache = bn.batch_norm_train_forward(x, gamma, beta, 1e-3, axis)
    y_ref, mean, var = naive_train(x, gamma, beta, 1e-3, axis)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cache.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(cache.var, var, rtol=1e-12)  # biased (divides by M)


@pytest.mark.parametrize(
    "scale,center", [(True, True), (False, True), (True, False), (False, False)]
)
def test_train_backward_vs_finite_differences(scale, center):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 2, 3))
    gamma = rng.standard_normal(3) if scale else None
    beta = rng.standard_normal(3) if center else None
    G = rng.standard_normal(x.shape)

    def loss():
        return float(np.sum(bn.batch_norm_train_forward(x, gamma, beta, 1e-3)[0] * G))

    _, cache = bn.batch_norm_train_forward(x, gamma, beta, 1e-3)
    dx, dgamma, dbeta = bn.batch_norm_train_backward(G, cache, gamma)
    assert_close(dx, numeric_grad(loss, x), what="dx")
    if scale:
        assert_close(dgamma, numeric_grad(loss, gamma), what="dgamma")
    if center:
        assert_close(dbeta, numeric_grad(loss, beta), what="dbeta")


@pytest.mark.parametrize("axis", [-1, 1])
def test_inference_forward_and_backward(axis):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 5))
    c = x.shape[axis]
    mm, mv = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    shape = [1, 1, 1]
    shape[axis] = c
    expected = gamma.reshape(shape) * (x - mm.reshape(shape)) / np.sqrt(
        mv.reshape(shape) + 1e-3
    ) + beta.reshape(shape)
    y = bn.batch_norm_inference_forward(x, mm, mv, gamma, beta, 1e-3, axis)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    G = rng.standard_normal(x.shape)

    def loss():
        y = bn.batch_norm_inference_forward(x, mm, mv, gamma, beta, 1e-3, axis)
        return float(np.sum(y * G))

    dx, dgamma, dbeta = bn.batch_norm_inference_backward(G, x, mm, mv, gamma, 1e-3, axis)
    assert_close(dx, numeric_grad(loss, x), what="dx")
    assert_close(dgamma, numeric_grad(loss, gamma), what="dgamma")
    assert_close(dbeta, numeric_grad(loss, beta), what="dbeta")


def test_update_moving_is_keras_momentum_rule():
    moving = np.array([1.0, 2.0], dtype=np.float32)
    out = bn.update_moving(moving, np.array([3.0, -2.0]), 0.99)
    assert out is moving
    np.testing.assert_allclose(moving, [0.99 * 1 + 0.01 * 3, 0.99 * 2 - 0.01 * 2], rtol=1e-6)
    assert moving.dtype == np.float32


def test_float32_in_float32_out_and_accurate():
    rng = np.random.default_rng(2)
    x64 = rng.standard_normal((64, 13, 13, 32)) * 2 + 5
    g = np.ones(32, np.float32)
    y32, cache = bn.batch_norm_train_forward(x64.astype(np.float32), g, np.zeros(32, np.float32))
    assert y32.dtype == np.float32 and cache.x_hat.dtype == np.float32
    y64, _ = bn.batch_norm_train_forward(x64, np.ones(32), np.zeros(32))
    np.testing.assert_allclose(y32, y64, atol=2e-4)
    dx, dgamma, dbeta = bn.batch_norm_train_backward(y32, cache, g)
    assert dx.dtype == dgamma.dtype == dbeta.dtype == np.float32
