"""PyTorch as the oracle: conv1d / conv2d forward and every gradient, float64, 240 random configs.

Keras "same" padding puts the odd cell at the end, which torch's symmetric ``padding=``
cannot express, so the oracle always pads explicitly with ``F.pad`` and runs a valid
convolution. Inputs go in as fresh contiguous NCHW tensors and kernels as contiguous
copies (see the PyTorch pitfalls in the engineering notes).
"""

import numpy as np
import pytest

from filterbank.ops import conv
from filterbank.ops.padding import pad_amounts

torch = pytest.importorskip("torch")
F = torch.nn.functional

N_2D, N_1D = 160, 80


def _random_axis(rng, padding, stride, dilation):
    """(size, kernel) along one axis, with room for at least one valid output."""
    k = int(rng.integers(1, 6))
    extent = (k - 1) * dilation + 1
    low = extent if padding == "valid" else 1
    return int(rng.integers(low, low + 7)), k


def _random_config(seed, rank):
    rng = np.random.default_rng(1000 + seed)
    padding = ["valid", "same"][seed % 2]
    strides = tuple(int(rng.integers(1, 4)) for _ in range(rank))
    dilation = tuple(int(rng.integers(1, 3)) for _ in range(rank))
    sizes, kernel = zip(*(_random_axis(rng, padding, s, d) for s, d in zip(strides, dilation)))
    # Mostly 1-4 channels; now and then more, to run the many-channel (pixel-major) path too.
    c = int(rng.integers(1, 5)) if seed % 4 else int(rng.integers(5, 9))
    f = int(rng.integers(1, 5))
    n = int(rng.integers(1, 4))
    x = rng.standard_normal((n, *sizes, c))
    w = rng.standard_normal((*kernel, c, f))
    b = rng.standard_normal(f)
    return x, w, b, strides, padding, dilation, rng


def _close(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-9, err_msg=what)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead on a shared machine
    yield
    torch.set_num_threads(old)


@pytest.mark.parametrize("seed", range(N_2D))
def test_conv2d_matches_torch(seed):
    x, w, b, strides, padding, dilation, rng = _random_config(seed, 2)
    y, cache = conv.conv2d_forward(x, w, b, strides, padding, dilation)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = conv.conv2d_backward(dy, cache)

    xt = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)  # NCHW, contiguous
    wt = torch.tensor(w.transpose(3, 2, 0, 1).copy(), requires_grad=True)  # (F, C, kh, kw)
    bt = torch.tensor(b, requires_grad=True)
    (pt, pb), (pl, pr) = (pad_amounts(n, k, s, padding, d)
                          for n, k, s, d in zip(x.shape[1:3], w.shape[:2], strides, dilation))
    yt = F.conv2d(F.pad(xt, (pl, pr, pt, pb)), wt, bt, stride=strides, dilation=dilation)
    (yt * torch.tensor(dy.transpose(0, 3, 1, 2).copy())).sum().backward()

    _close(y, yt.detach().numpy().transpose(0, 2, 3, 1), "forward")
    _close(dx, xt.grad.numpy().transpose(0, 2, 3, 1), "input gradient")
    _close(dw, wt.grad.numpy().transpose(2, 3, 1, 0), "kernel gradient")
    _close(db, bt.grad.numpy(), "bias gradient")


@pytest.mark.parametrize("seed", range(N_1D))
def test_conv1d_matches_torch(seed):
    x, w, b, (stride,), padding, (dilation,), rng = _random_config(seed, 1)
    y, cache = conv.conv1d_forward(x, w, b, stride, padding, dilation)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = conv.conv1d_backward(dy, cache)

    xt = torch.tensor(x.transpose(0, 2, 1).copy(), requires_grad=True)  # NCL
    wt = torch.tensor(w.transpose(2, 1, 0).copy(), requires_grad=True)  # (F, C, k)
    bt = torch.tensor(b, requires_grad=True)
    before, after = pad_amounts(x.shape[1], w.shape[0], stride, padding, dilation)
    yt = F.conv1d(F.pad(xt, (before, after)), wt, bt, stride=stride, dilation=dilation)
    (yt * torch.tensor(dy.transpose(0, 2, 1).copy())).sum().backward()

    _close(y, yt.detach().numpy().transpose(0, 2, 1), "forward")
    _close(dx, xt.grad.numpy().transpose(0, 2, 1), "input gradient")
    _close(dw, wt.grad.numpy().transpose(2, 1, 0), "kernel gradient")
    _close(db, bt.grad.numpy(), "bias gradient")


@pytest.mark.parametrize("seed", range(8))
def test_conv1d_causal_matches_torch(seed):
    x, w, b, (stride,), _, (dilation,), rng = _random_config(seed, 1)
    y, cache = conv.conv1d_forward(x, w, b, stride, "causal", dilation)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = conv.conv1d_backward(dy, cache)
    xt = torch.tensor(x.transpose(0, 2, 1).copy(), requires_grad=True)
    wt = torch.tensor(w.transpose(2, 1, 0).copy(), requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    yt = F.conv1d(F.pad(xt, ((w.shape[0] - 1) * dilation, 0)), wt, bt, stride=stride,
                  dilation=dilation)
    (yt * torch.tensor(dy.transpose(0, 2, 1).copy())).sum().backward()
    _close(y, yt.detach().numpy().transpose(0, 2, 1), "forward")
    _close(dx, xt.grad.numpy().transpose(0, 2, 1), "input gradient")
    _close(dw, wt.grad.numpy().transpose(2, 1, 0), "kernel gradient")
    _close(db, bt.grad.numpy(), "bias gradient")
