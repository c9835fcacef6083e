"""PyTorch as the oracle for upsampling, layer and group normalization (float64, seeded
random configurations: forward, input gradient, every weight gradient within 1e-5)."""

import numpy as np
import pytest

from filterbank.ops import group_norm as gn
from filterbank.ops import resize

torch = pytest.importorskip("torch")
F = torch.nn.functional

N_CONFIGS = 30


def _close(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-9, err_msg=what)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("seed", range(N_CONFIGS))
def test_upsample2d_matches_torch_interpolate(mode, seed):
    rng = np.random.default_rng(2000 + seed)
    n, h, w, c = (
        int(v)
        for v in (rng.integers(1, 3), rng.integers(1, 7), rng.integers(1, 7), rng.integers(1, 4))
    )
    size = tuple(int(v) for v in rng.integers(1, 5, 2))
    x = rng.standard_normal((n, h, w, c))
    y, cache = resize.upsample2d_forward(x, size, mode)
    dy = rng.standard_normal(y.shape)
    dx = resize.upsample2d_backward(dy, cache)

    xt = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    extra = {} if mode == "nearest" else {"align_corners": False}
    yt = F.interpolate(xt, size=(h * size[0], w * size[1]), mode=mode, **extra)
    (yt * torch.tensor(dy.transpose(0, 3, 1, 2).copy())).sum().backward()
    _close(y, yt.detach().numpy().transpose(0, 2, 3, 1), "forward")
    _close(dx, xt.grad.numpy().transpose(0, 2, 3, 1), "input gradient")


@pytest.mark.parametrize("seed", range(N_CONFIGS))
def test_layer_norm_matches_torch(seed):
    rng = np.random.default_rng(2100 + seed)
    rank = int(rng.integers(2, 5))
    shape = tuple(int(v) for v in rng.integers(1, 6, rank))
    shape = (shape[0], *(max(2, d) for d in shape[1:]))
    k = int(rng.integers(1, rank))  # normalize over the last k axes (torch's layer_norm)
    axes = tuple(range(rank - k, rank))
    eps = float(rng.choice([1e-3, 1e-5]))
    x = rng.standard_normal(shape)
    gamma = rng.standard_normal(shape[-k:])
    beta = rng.standard_normal(shape[-k:])
    y, cache = gn.layer_norm_forward(x, gamma, beta, axes, eps)
    dy = rng.standard_normal(y.shape)
    dx, dgamma, dbeta = gn.layer_norm_backward(dy, cache)

    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    yt = F.layer_norm(xt, shape[-k:], gt, bt, eps)
    (yt * torch.tensor(dy)).sum().backward()
    _close(y, yt.detach().numpy(), "forward")
    _close(dx, xt.grad.numpy(), "input gradient")
    _close(dgamma, gt.grad.numpy(), "gamma gradient")
    _close(dbeta, bt.grad.numpy(), "beta gradient")


@pytest.mark.parametrize("seed", range(N_CONFIGS))
def test_group_norm_matches_torch(seed):
    rng = np.random.default_rng(2200 + seed)
    groups = int(rng.integers(1, 5))
    c = groups * int(rng.integers(1, 4))
    spatial = tuple(int(v) for v in rng.integers(1, 5, int(rng.integers(0, 3))))
    n = int(rng.integers(1, 4))
    if (not spatial and c // groups == 1) or n * int(np.prod(spatial)) == 1:
        # One value per group has no variance; torch refuses N * spatial == 1 outright.
        spatial = (3,)
    eps = float(rng.choice([1e-3, 1e-5]))
    x = rng.standard_normal((n, *spatial, c))
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    y, cache = gn.group_norm_forward(x, gamma, beta, groups, eps)
    dy = rng.standard_normal(y.shape)
    dx, dgamma, dbeta = gn.group_norm_backward(dy, cache)

    order = (0, x.ndim - 1, *range(1, x.ndim - 1))  # channels-first for torch
    back = tuple(int(i) for i in np.argsort(order))
    xt = torch.tensor(x.transpose(order).copy(), requires_grad=True)
    gt, bt = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
    yt = F.group_norm(xt, groups, gt, bt, eps)
    (yt * torch.tensor(dy.transpose(order).copy())).sum().backward()
    _close(y, yt.detach().numpy().transpose(back), "forward")
    _close(dx, xt.grad.numpy().transpose(back), "input gradient")
    _close(dgamma, gt.grad.numpy(), "gamma gradient")
    _close(dbeta, bt.grad.numpy(), "beta gradient")


def test_layer_norm_over_inner_axes_and_rms_scaling_by_finite_differences():
    """Axes torch's layer_norm cannot take (not the last ones), and Keras's rms_scaling."""
    from tests.gradcheck import assert_close, numeric_grad

    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 4, 2))
    for axes, rms in (((1, 2), False), ((1,), False), ((3,), True), ((1, 3), True)):
        gamma = rng.standard_normal(tuple(x.shape[a] for a in axes))
        beta = None if rms else rng.standard_normal(gamma.shape)
        y, cache = gn.layer_norm_forward(x, gamma, beta, axes, 1e-3, rms)
        g = rng.standard_normal(y.shape)

        def loss(gamma=gamma, beta=beta, axes=axes, rms=rms, g=g):
            return float(np.sum(gn.layer_norm_forward(x, gamma, beta, axes, 1e-3, rms)[0] * g))

        dx, dgamma, dbeta = gn.layer_norm_backward(g, cache)
        assert_close(dx, numeric_grad(loss, x), what=f"dx {axes} rms={rms}")
        assert_close(dgamma, numeric_grad(loss, gamma), what=f"dgamma {axes}")
        if not rms:
            assert_close(dbeta, numeric_grad(loss, beta), what=f"dbeta {axes}")
