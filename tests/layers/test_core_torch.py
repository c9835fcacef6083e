"""Dense against torch (float64, 1e-5 relative): forward and kernel/bias/input gradients.

Keras keeps the kernel as (in, units); torch's linear weight is (units, in), so the torch
side gets ``kernel.T`` made contiguous, and its weight gradient is transposed back.
"""

import numpy as np
import pytest

from filterbank import layers

torch = pytest.importorskip("torch")
# Tiny tensors: one thread. Two OpenMP threads spinning on a shared 2-core machine made
# each small op ~100x slower.
torch.set_num_threads(1)

ACTIVATIONS = {
    None: lambda z: z,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softmax": lambda z: torch.softmax(z, dim=-1),
}


@pytest.mark.parametrize("seed", range(10))
def test_dense_vs_torch(seed):
    rng = np.random.default_rng(seed)
    activation = list(ACTIVATIONS)[seed % len(ACTIVATIONS)]
    shape = [(7, 5), (3, 4, 6)][seed % 2]  # Dense also maps (batch, steps, in)
    units = int(rng.integers(1, 9))
    use_bias = seed != 3
    x = rng.standard_normal(shape)
    dense = layers.Dense(units, activation=activation, use_bias=use_bias, dtype="float64")
    dense(x)
    kernel = rng.standard_normal((shape[-1], units))
    bias = rng.standard_normal(units)
    dense.set_weights([kernel, bias] if use_bias else [kernel])
    y = dense(x)
    g = rng.standard_normal(y.shape)
    dx = dense.backward(g)

    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(kernel.T).contiguous().requires_grad_(True)
    bt = torch.tensor(bias, requires_grad=True) if use_bias else None
    yt = ACTIVATIONS[activation](torch.nn.functional.linear(xt, wt, bt))
    grads = torch.autograd.grad(yt, [xt, wt] + ([bt] if use_bias else []), torch.tensor(g))

    def close(a, b):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-10)

    close(y, yt.detach().numpy())
    close(dx, grads[0].numpy())
    close(dense.grads["kernel"], grads[1].numpy().T)
    if use_bias:
        close(dense.grads["bias"], grads[2].numpy())
