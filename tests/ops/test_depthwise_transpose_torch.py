"""PyTorch as the oracle for the depthwise, separable and transposed convolutions.

float64, many seeded random configurations (non-square inputs and kernels, strides, both
paddings, dilation, depth multipliers, output_padding): forward, input gradient and every
weight gradient within 1e-5 relative.

* depthwise: torch ``conv2d(groups=C)`` with the Keras kernel (kh, kw, C, M) as
  (C*M, 1, kh, kw) -- torch's output channel ``c*M + m`` is Keras's order too;
* separable: the depthwise oracle, then a 1x1 ``conv2d``;
* transposed: torch ``conv_transpose2d`` with no padding gives the full grid; Keras's
  "same" / output_padding placement is applied explicitly (crop, then zeros past the end),
  from the formulas in Keras 3's backend_utils, restated here independently of ours.
"""

import numpy as np
import pytest

from filterbank.ops import conv_transpose as ct
from filterbank.ops import depthwise as dw
from filterbank.ops.padding import pad_amounts

torch = pytest.importorskip("torch")
F = torch.nn.functional

N_CONFIGS = 60


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _close(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-9, err_msg=what)


def _nchw(a):
    return torch.tensor(a.transpose(0, 3, 1, 2).copy(), requires_grad=True)


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def _random_geometry(rng, seed):
    padding = ["valid", "same"][seed % 2]
    if seed % 3 == 0:
        strides, dilation = (1, 1), tuple(int(v) for v in rng.integers(1, 3, 2))
    else:
        strides, dilation = tuple(int(v) for v in rng.integers(1, 4, 2)), (1, 1)
    kernel = tuple(int(v) for v in rng.integers(1, 5, 2))
    sizes = tuple(int((k - 1) * d + 1 + rng.integers(0, 6)) for k, d in zip(kernel, dilation))
    return padding, strides, dilation, kernel, sizes


def _depthwise_torch(xt, w, strides, padding, dilation):
    c, m = w.shape[2], w.shape[3]
    wt = torch.tensor(
        w.reshape(*w.shape[:2], c * m).transpose(2, 0, 1)[:, None].copy(), requires_grad=True
    )  # (C*M, 1, kh, kw)
    (pt, pb), (pl, pr) = (
        pad_amounts(n, k, s, padding, d)
        for n, k, s, d in zip(xt.shape[2:], w.shape[:2], strides, dilation)
    )
    yt = F.conv2d(F.pad(xt, (pl, pr, pt, pb)), wt, stride=strides, dilation=dilation, groups=c)
    return yt, wt


def _wt_to_keras(g, shape):
    kh, kw, c, m = shape
    return g.numpy()[:, 0].transpose(1, 2, 0).reshape(kh, kw, c, m)


@pytest.mark.parametrize("seed", range(N_CONFIGS))
def test_depthwise_matches_torch(seed):
    rng = np.random.default_rng(500 + seed)
    padding, strides, dilation, kernel, sizes = _random_geometry(rng, seed)
    c, m, n = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 3))
    x = rng.standard_normal((n, *sizes, c))
    w = rng.standard_normal((*kernel, c, m))
    b = rng.standard_normal(c * m)
    y, cache = dw.depthwise_conv2d_forward(x, w, b, strides, padding, dilation)
    dy = rng.standard_normal(y.shape)
    dx, dwk, db = dw.depthwise_conv2d_backward(dy, cache)

    xt = _nchw(x)
    yt, wt = _depthwise_torch(xt, w, strides, padding, dilation)
    yt = yt + torch.tensor(b)[:, None, None]
    (yt * torch.tensor(dy.transpose(0, 3, 1, 2).copy())).sum().backward()
    _close(y, _nhwc(yt), "forward")
    _close(dx, xt.grad.numpy().transpose(0, 2, 3, 1), "input gradient")
    _close(dwk, _wt_to_keras(wt.grad, w.shape), "kernel gradient")
    _close(db, dy.sum((0, 1, 2)), "bias gradient")


@pytest.mark.parametrize("seed", range(N_CONFIGS // 2))
def test_separable_matches_torch(seed):
    rng = np.random.default_rng(900 + seed)
    padding, strides, dilation, kernel, sizes = _random_geometry(rng, seed)
    c, m, f, n = (
        int(v)
        for v in (rng.integers(1, 5), rng.integers(1, 3), rng.integers(1, 6), rng.integers(1, 3))
    )
    x = rng.standard_normal((n, *sizes, c))
    dk = rng.standard_normal((*kernel, c, m))
    pk = rng.standard_normal((1, 1, c * m, f))
    b = rng.standard_normal(f)
    y, cache = dw.separable_conv2d_forward(x, dk, pk, b, strides, padding, dilation)
    dy = rng.standard_normal(y.shape)
    dx, ddk, dpk, db = dw.separable_conv2d_backward(dy, cache)

    xt = _nchw(x)
    zt, dkt = _depthwise_torch(xt, dk, strides, padding, dilation)
    pkt = torch.tensor(pk[0, 0].T[:, :, None, None].copy(), requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    yt = F.conv2d(zt, pkt, bt)
    (yt * torch.tensor(dy.transpose(0, 3, 1, 2).copy())).sum().backward()
    _close(y, _nhwc(yt), "forward")
    _close(dx, xt.grad.numpy().transpose(0, 2, 3, 1), "input gradient")
    _close(ddk, _wt_to_keras(dkt.grad, dk.shape), "depthwise kernel gradient")
    _close(dpk, pkt.grad.numpy()[:, :, 0, 0].T[None, None], "pointwise kernel gradient")
    _close(db, bt.grad.numpy(), "bias gradient")


def _keras_transpose_axis(n, k, s, padding, op, d):
    """(crop at the start, output length): Keras 3's JAX/TF rule, restated."""
    k = (k - 1) * d + 1
    if padding == "valid":
        op = max(k, s) - k if op is None else op
        left, right = k - 1, k - 1 + op
    else:
        pad = s + k - 2 if op is None else k + k % 2 - 2 + op
        left = min(pad // 2 + pad % 2, k - 1)
        right = pad - left
    length = (n - 1) * s + 1 + left + right - k + 1
    return k - 1 - left, length


def _transpose_torch(xt, w, b, strides, padding, output_padding, dilation):
    wt = torch.tensor(w.transpose(3, 2, 0, 1).copy(), requires_grad=True)  # (C, F, kh, kw)
    bt = torch.tensor(b, requires_grad=True)
    full = F.conv_transpose2d(xt, wt, bt, stride=strides, dilation=dilation)
    geo = [
        _keras_transpose_axis(n, k, s, padding, None if output_padding is None else op, d)
        for n, k, s, op, d in zip(
            xt.shape[2:], w.shape[:2], strides, output_padding or (None, None), dilation
        )
    ]
    (ch, ho), (cw, wo) = geo
    # Crop at the start, then zero-extend (the bias too: Keras adds it after the transposed
    # convolution, so the zero cells past the full grid still get it).
    full = full - bt[:, None, None]
    yt = full[:, :, ch:, cw:][:, :, :ho, :wo]
    yt = F.pad(yt, (0, wo - yt.shape[3], 0, ho - yt.shape[2])) + bt[:, None, None]
    return yt, wt, bt


@pytest.mark.parametrize("seed", range(N_CONFIGS))
def test_conv2d_transpose_matches_torch(seed):
    rng = np.random.default_rng(700 + seed)
    padding, strides, dilation, kernel, _ = _random_geometry(rng, seed)
    sizes = tuple(int(v) for v in rng.integers(2, 6, 2))  # n = 1 can give an empty output
    output_padding = None
    if seed % 4 >= 2:
        output_padding = tuple(int(rng.integers(0, s)) for s in strides)
    c, f, n = int(rng.integers(1, 7)), int(rng.integers(1, 7)), int(rng.integers(1, 3))
    x = rng.standard_normal((n, *sizes, c))
    w = rng.standard_normal((*kernel, f, c))
    b = rng.standard_normal(f)
    y, cache = ct.conv2d_transpose_forward(x, w, b, strides, padding, output_padding, dilation)
    dy = rng.standard_normal(y.shape)
    dx, dwk, db = ct.conv2d_transpose_backward(dy, cache)

    xt = _nchw(x)
    yt, wt, bt = _transpose_torch(xt, w, b, strides, padding, output_padding, dilation)
    assert y.shape == _nhwc(yt).shape
    (yt * torch.tensor(dy.transpose(0, 3, 1, 2).copy())).sum().backward()
    _close(y, _nhwc(yt), "forward")
    _close(dx, xt.grad.numpy().transpose(0, 2, 3, 1), "input gradient")
    _close(dwk, wt.grad.numpy().transpose(2, 3, 1, 0), "kernel gradient")
    _close(db, bt.grad.numpy(), "bias gradient")


@pytest.mark.parametrize("seed", range(N_CONFIGS // 3))
def test_conv1d_transpose_matches_torch(seed):
    rng = np.random.default_rng(1300 + seed)
    padding = ["valid", "same"][seed % 2]
    k, s = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    op = int(rng.integers(0, s)) if seed % 4 >= 2 else None
    c, f, n, length = (int(v) for v in rng.integers(2, 6, 4))
    x = rng.standard_normal((n, length, c))
    w = rng.standard_normal((k, f, c))
    b = rng.standard_normal(f)
    y, cache = ct.conv1d_transpose_forward(x, w, b, s, padding, op)
    dy = rng.standard_normal(y.shape)
    dx, dwk, db = ct.conv2d_transpose_backward(dy, cache)

    xt = torch.tensor(x.transpose(0, 2, 1)[:, :, None].copy(), requires_grad=True)
    yt, wt, bt = _transpose_torch(
        xt, w[None], b, (1, s), padding, None if op is None else (0, op), (1, 1)
    )
    (yt[:, :, 0] * torch.tensor(dy.transpose(0, 2, 1).copy())).sum().backward()
    _close(y, yt.detach().numpy()[:, :, 0].transpose(0, 2, 1), "forward")
    _close(dx, xt.grad.numpy()[:, :, 0].transpose(0, 2, 1), "input gradient")
    _close(dwk, wt.grad.numpy()[:, :, 0].transpose(2, 1, 0), "kernel gradient")
    _close(db, bt.grad.numpy(), "bias gradient")
