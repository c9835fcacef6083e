"""The direct one-channel 3x3 conv + 2x2 max pool kernel (an inference fast path) against
the im2col convolution followed by pooling."""

import numpy as np
import pytest

from filterbank.ops import direct, winograd
from tests.ops.test_winograd import direct as conv_then_pool

needs_numba = pytest.mark.skipif(
    direct.numba_kernels() is None, reason="numba not installed or disabled"
)


@needs_numba
@pytest.mark.parametrize(
    "shape, filters, padding",
    [
        ((3, 8, 8, 1), 4, "valid"),
        ((2, 9, 12, 1), 7, "valid"),  # odd rows: the last conv row is never pooled
        ((1, 4, 4, 1), 1, "valid"),
        ((4, 28, 28, 1), 32, "valid"),  # the seed models' first layer
        ((2, 7, 6, 1), 9, "same"),
        ((1, 2, 3, 1), 3, "same"),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias, relu", [(True, True), (False, True), (True, False)])
def test_equals_the_convolution_then_pooling(shape, filters, padding, dtype, bias, relu, rng):
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((3, 3, 1, filters)).astype(dtype)
    b = rng.standard_normal(filters).astype(dtype) if bias else None
    ref = conv_then_pool(
        x.astype(np.float64),
        w.astype(np.float64),
        None if b is None else b.astype(np.float64),
        relu,
        padding,
    )
    plan = direct.DirectConvPool(shape, filters, dtype, padding)
    out = np.full(plan.out_shape, np.nan, dtype)
    got = plan.run(x, w, b, relu, out)
    assert got is out and got.shape == ref.shape
    tol = 1e-12 if dtype == np.float64 else 1e-6 * np.abs(ref).max()
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol)


@needs_numba
def test_a_nan_wins_the_pooling():
    x = np.zeros((1, 4, 4, 1), np.float32)
    x[0, 3, 3, 0] = np.nan  # only the bottom-right conv output of the window sees it
    plan = direct.DirectConvPool(x.shape, 2, np.float32)
    y = plan.run(
        x, np.ones((3, 3, 1, 2), np.float32), None, True, np.empty((1, 1, 1, 2), np.float32)
    )
    assert np.isnan(y).all()


def test_supports_one_channel_3x3_and_2x2_pooling_only():
    ok = dict(
        kernel_size=(3, 3),
        strides=(1, 1),
        dilation=(1, 1),
        padding="valid",
        pool_size=(2, 2),
        pool_strides=(2, 2),
        pool_padding="valid",
        x_shape=(1, 28, 28, 1),
    )
    assert direct.supports(**ok) and direct.supports(**{**ok, "padding": "same"})
    for change in [
        {"x_shape": (1, 28, 28, 3)},
        {"kernel_size": (5, 5)},
        {"strides": (2, 2)},
        {"dilation": (2, 2)},
        {"pool_size": (3, 3)},
        {"pool_padding": "same"},
        {"x_shape": (1, 3, 28, 1)},
    ]:
        assert not direct.supports(**{**ok, **change}), change
    # Winograd is for the other layers: thin inputs are left to the GEMM or this kernel.
    assert not winograd.supports(**{**ok, "x_shape": (64, 28, 28, 1)})


@needs_numba
def test_needs_numba_or_says_so(monkeypatch):
    monkeypatch.setattr(direct, "numba_kernels", lambda: None)
    with pytest.raises(RuntimeError, match="pip install numba"):
        direct.DirectConvPool((1, 4, 4, 1), 2, np.float32)
