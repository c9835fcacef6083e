"""BatchNormalization against torch's batch_norm (float64, 1e-5 relative).

Conventions differ in two places, converted here rather than ignored:
* momentum: Keras keeps ``moving * 0.99 + batch * 0.01``; torch's ``momentum`` is the weight
  of the batch value, so torch gets ``momentum = 1 - 0.99``;
* the moving variance: Keras 3 averages the *biased* batch variance, torch the unbiased one
  (times M / (M - 1)); the expected Keras value is rebuilt from torch's update.
"""

import numpy as np
import pytest

from filterbank import layers
from tests.torch_oracle import from_torch, load, to_torch

torch = load()  # skips this module without torch
F = torch.nn.functional


def random_case(seed):
    rng = np.random.default_rng(seed)
    shapes = [(8, 5), (4, 3, 3, 2), (3, 6, 4), (2, 5, 4, 3)]
    shape = shapes[seed % len(shapes)]
    momentum = [0.99, 0.9, 0.5][seed % 3]
    epsilon = [1e-3, 1e-5][seed % 2]
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)
    c = shape[-1]
    weights = [
        rng.standard_normal(c),
        rng.standard_normal(c),
        rng.standard_normal(c),
        rng.uniform(0.5, 2.0, c),
    ]
    return rng, x, momentum, epsilon, weights


def make_layer(x, momentum, epsilon, weights):
    bn = layers.BatchNormalization(momentum=momentum, epsilon=epsilon, dtype="float64")
    bn.build((None, *x.shape[1:]))
    bn.built = True
    bn.set_weights(weights)
    return bn


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize("seed", range(14))
def test_training_step_vs_torch(seed):
    rng, x, momentum, epsilon, (gamma, beta, mm, mv) = random_case(seed)
    bn = make_layer(x, momentum, epsilon, [gamma, beta, mm, mv])
    y = bn(x, training=True)
    g = rng.standard_normal(x.shape)
    dx = bn.backward(g)

    xt = to_torch(x).requires_grad_(True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    rm, rv = torch.tensor(mm), torch.tensor(mv)
    yt = F.batch_norm(xt, rm, rv, gt, bt, training=True, momentum=1 - momentum, eps=epsilon)
    dxt, dgt, dbt = torch.autograd.grad(yt, (xt, gt, bt), to_torch(g))
    close(y, from_torch(yt))
    close(dx, from_torch(dxt))
    close(bn.grads["gamma"], dgt.numpy())
    close(bn.grads["beta"], dbt.numpy())

    close(bn.params["moving_mean"], rm.numpy())  # same rule once momentum is converted
    m = x.size // x.shape[-1]
    unbiased = (rv.numpy() - momentum * mv) / (1 - momentum)  # what torch averaged in
    close(bn.params["moving_variance"], momentum * mv + (1 - momentum) * unbiased * (m - 1) / m)


@pytest.mark.parametrize("seed", range(6))
def test_inference_vs_torch_eval(seed):
    rng, x, momentum, epsilon, (gamma, beta, mm, mv) = random_case(100 + seed)
    bn = make_layer(x, momentum, epsilon, [gamma, beta, mm, mv])
    y = bn(x, training=False)
    g = rng.standard_normal(x.shape)
    dx = bn.backward(g)

    xt = to_torch(x).requires_grad_(True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    yt = F.batch_norm(xt, torch.tensor(mm), torch.tensor(mv), gt, bt, training=False, eps=epsilon)
    dxt, dgt, dbt = torch.autograd.grad(yt, (xt, gt, bt), to_torch(g))
    close(y, from_torch(yt))
    close(dx, from_torch(dxt))
    close(bn.grads["gamma"], dgt.numpy())
    close(bn.grads["beta"], dbt.numpy())
    np.testing.assert_array_equal(bn.params["moving_mean"], mm)  # untouched in inference
