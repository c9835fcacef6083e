"""The fused BatchNormalization(train) -> ReLU -> 2x2 max pool operation: the compiled kernels
against the NumPy reference, both against finite differences (float64) and PyTorch."""

import numpy as np
import pytest

from filterbank.ops import bn_relu_pool as op
from filterbank.ops import kernels
from tests import torch_oracle as T
from tests.gradcheck import assert_close, numeric_grad

# (N, H, W, C): non-square, odd sizes (a last row/column no window reads), one channel
SHAPES = [(3, 6, 8, 5), (2, 7, 9, 4), (1, 5, 4, 1), (4, 10, 6, 16)]


def numba_or_skip():
    if op.numba_kernels() is None:
        pytest.skip("numba missing or FILTERBANK_DISABLE_NUMBA=1")


def _case(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    c = shape[-1]
    # an offset larger than the spread: the one-pass statistics must stay accurate
    z = (rng.standard_normal(shape) * 1.5 + 3.0).astype(dtype)
    gamma = rng.uniform(-1.5, 1.5, c).astype(dtype)  # negative scales flip the winners
    beta = rng.standard_normal(c).astype(dtype)
    dy = rng.standard_normal((shape[0], shape[1] // 2, shape[2] // 2, c)).astype(dtype)
    return z, gamma, beta, dy


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("seed,shape", list(enumerate(SHAPES)))
def test_numba_matches_reference(seed, shape, dtype, tol):
    numba_or_skip()
    z, gamma, beta, dy = _case(shape, dtype, seed)
    y0, c0 = op.forward(z, gamma, beta, 1e-3, impl="reference")
    y1, c1 = op.forward(z, gamma, beta, 1e-3, impl="numba")
    assert y1.dtype == y0.dtype and y1.shape == y0.shape
    scale = lambda a: max(1.0, float(np.abs(a).max()))  # noqa: E731
    for ours, ref, what in [(y1, y0, "y"), (c1.mean, c0.mean, "mean"), (c1.var, c0.var, "var")]:
        assert np.abs(ours - ref).max() <= tol * scale(ref), what
    r0, r1 = op.backward(dy, c0), op.backward(dy, c1)
    for ours, ref, what in zip(r1, r0, ("dz", "dgamma", "dbeta")):
        assert ours.dtype == np.dtype(dtype), what
        assert np.abs(ours - ref).max() <= tol * scale(ref), what
    # no input gradient asked: only the weight gradients
    dz, dgamma, dbeta = op.backward(dy, c1, need_dz=False)
    assert dz is None and np.allclose(dgamma, r1[1]) and np.allclose(dbeta, r1[2])


@pytest.mark.parametrize("impl", ["reference", "numba"])
@pytest.mark.parametrize("shape", [(2, 5, 4, 3), (3, 4, 7, 2)])
def test_finite_differences(impl, shape):
    if impl == "numba":
        numba_or_skip()
    z, gamma, beta, dy = _case(shape, np.float64, 7)

    def loss():
        y, _ = op.forward(z, gamma, beta, 1e-3, impl=impl)
        return float(np.sum(y * dy))

    _, cache = op.forward(z, gamma, beta, 1e-3, impl=impl)
    dz, dgamma, dbeta = op.backward(dy, cache)
    assert_close(dz, numeric_grad(loss, z), rtol=1e-5, atol=1e-7, what="dz")
    assert_close(dgamma, numeric_grad(loss, gamma), rtol=1e-5, atol=1e-7, what="dgamma")
    assert_close(dbeta, numeric_grad(loss, beta), rtol=1e-5, atol=1e-7, what="dbeta")


@pytest.mark.parametrize("impl", ["reference", "numba"])
@pytest.mark.parametrize("seed,shape", list(enumerate(SHAPES)))
def test_against_torch(impl, seed, shape):
    if impl == "numba":
        numba_or_skip()
    torch = T.load()
    F = torch.nn.functional
    z, gamma, beta, dy = _case(shape, np.float64, 100 + seed)
    zt = T.to_torch(z, requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    running_mean, running_var = (
        torch.zeros(shape[-1], dtype=torch.float64),
        torch.ones(shape[-1], dtype=torch.float64),
    )
    a = F.batch_norm(zt, running_mean, running_var, gt, bt, training=True, momentum=0.01, eps=1e-3)
    yt = F.max_pool2d(F.relu(a), 2)
    yt.backward(T.to_torch(dy))
    y, cache = op.forward(z, gamma, beta, 1e-3, impl=impl)
    dz, dgamma, dbeta = op.backward(dy, cache)
    T.close(y, T.from_torch(yt), rtol=1e-10, atol=1e-12, what="y")
    T.close(dz, T.from_torch(zt.grad), rtol=1e-9, atol=1e-12, what="dz")
    T.close(dgamma, gt.grad.numpy(), rtol=1e-9, atol=1e-12, what="dgamma")
    T.close(dbeta, bt.grad.numpy(), rtol=1e-9, atol=1e-12, what="dbeta")
    # torch's running mean is Keras's moving mean after one step from 0 (same momentum)
    T.close(0.99 * 0 + 0.01 * cache.mean, running_mean.numpy(), rtol=1e-10, what="mean")
    # torch keeps the unbiased variance; Keras and filterbank the biased one
    m = z.size // shape[-1]
    T.close(0.99 + 0.01 * cache.var * m / (m - 1), running_var.numpy(), rtol=1e-10, what="var")


def test_kernel_choice_and_switch(monkeypatch):
    q = kernels.Query((8, 6, 6, 4), np.dtype("float32"), pool_size=(2, 2), pool_strides=(2, 2))
    expected = "numba" if op.numba_kernels() is not None else "reference"
    assert kernels.choose("bn+relu+maxpool", q).name == expected
    monkeypatch.setenv("FILTERBANK_DISABLE_NUMBA", "1")
    assert kernels.choose("bn+relu+maxpool", q).name == "reference"
    monkeypatch.delenv("FILTERBANK_DISABLE_NUMBA")
    # what the compiled kernels do not take: 3x3 windows, "same" padding, float16
    for q2 in (
        kernels.Query((8, 6, 6, 4), np.dtype("float32"), pool_size=(3, 3), pool_strides=(3, 3)),
        kernels.Query(
            (8, 6, 6, 4),
            np.dtype("float32"),
            pool_size=(2, 2),
            pool_strides=(2, 2),
            pool_padding="same",
        ),
        kernels.Query((8, 6, 6, 4), np.dtype("float16"), pool_size=(2, 2), pool_strides=(2, 2)),
    ):
        assert kernels.choose("bn+relu+maxpool", q2).name == "reference"


def test_reference_other_pooling_geometry():
    """The reference takes any pooling the layer does (3x3 stride 2, "same")."""
    z, gamma, beta, _ = _case((2, 7, 7, 3), np.float64, 3)
    y, cache = op.forward(z, gamma, beta, 1e-3, (3, 3), (2, 2), "same", impl="reference")
    dy = np.ones_like(y)
    dz, _, _ = op.backward(dy, cache, pool_args=((3, 3), (2, 2), "same"))
    assert y.shape == (2, 4, 4, 3) and dz.shape == z.shape
