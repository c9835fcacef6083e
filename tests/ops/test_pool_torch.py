"""Pooling against PyTorch (float64, 1e-5 relative): forward and input gradient.

Keras "same" padding is asymmetric (the odd cell at the end), so the padding is applied
explicitly with F.pad: -inf for max. For a "same" average, torch's own padding cannot be
used (symmetric), and averaging a zero-padded input counts the zeros; the Keras/TensorFlow
average divides by the number of *real* cells, which is the ratio of two torch average
pools: avg_pool(pad(x, 0)) / avg_pool(pad(ones, 0)) (= window sum / real-cell count).
Random normal inputs have no ties, so the max routing is unambiguous.
"""

import numpy as np
import pytest

from filterbank.ops import pool
from tests import torch_oracle as oracle

torch = oracle.load()  # skips this module without torch
F = torch.nn.functional

IMPLS = ["numpy"] + (["numba"] if pool.numba_kernels() is not None else [])


def random_config(seed, rank):
    rng = np.random.default_rng(seed)
    padding = ["valid", "same"][seed % 2]
    spatial = tuple(int(v) for v in rng.integers(3, 13, size=rank))
    ks = tuple(int(rng.integers(1, min(n, 4) + 1)) for n in spatial)
    strides = tuple(int(v) for v in rng.integers(1, 5, size=rank))
    n, c = int(rng.integers(1, 4)), int(rng.integers(1, 5))
    x = rng.standard_normal((n, *spatial, c))
    return x, ks, strides, padding, rng


torch_pool = oracle.pool


def check_close(ours, ref):
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("seed", range(35))
def test_max_pool2d_vs_torch(seed):
    x, ks, strides, padding, rng = random_config(seed, 2)
    y_ref, grad = torch_pool(x, ks, strides, padding, "max")
    g = rng.standard_normal(y_ref.shape)
    dx_ref = grad(g)
    for impl in IMPLS:
        y, arg = pool.max_pool2d_forward(x, ks, strides, padding, return_argmax=True, impl=impl)
        check_close(y, y_ref)
        check_close(
            pool.max_pool2d_backward(g, arg, x.shape, ks, strides, padding, impl=impl), dx_ref
        )


@pytest.mark.parametrize("seed", range(35))
def test_avg_pool2d_vs_torch(seed):
    x, ks, strides, padding, rng = random_config(100 + seed, 2)
    y_ref, grad = torch_pool(x, ks, strides, padding, "avg")
    g = rng.standard_normal(y_ref.shape)
    check_close(pool.avg_pool2d_forward(x, ks, strides, padding), y_ref)
    check_close(pool.avg_pool2d_backward(g, x.shape, ks, strides, padding), grad(g))


@pytest.mark.parametrize("seed", range(15))
def test_max_pool1d_vs_torch(seed):
    x, ks, strides, padding, rng = random_config(200 + seed, 1)
    y_ref, grad = torch_pool(x, ks, strides, padding, "max")
    g = rng.standard_normal(y_ref.shape)
    dx_ref = grad(g)
    for impl in IMPLS:
        y, arg = pool.max_pool1d_forward(
            x, ks[0], strides[0], padding, return_argmax=True, impl=impl
        )
        check_close(y, y_ref)
        check_close(
            pool.max_pool1d_backward(g, arg, x.shape, ks[0], strides[0], padding, impl=impl), dx_ref
        )


@pytest.mark.parametrize("seed", range(15))
def test_avg_pool1d_vs_torch(seed):
    x, ks, strides, padding, rng = random_config(300 + seed, 1)
    y_ref, grad = torch_pool(x, ks, strides, padding, "avg")
    g = rng.standard_normal(y_ref.shape)
    check_close(pool.avg_pool1d_forward(x, ks[0], strides[0], padding), y_ref)
    check_close(pool.avg_pool1d_backward(g, x.shape, ks[0], strides[0], padding), grad(g))


def test_same_average_is_not_torch_count_include_pad():
    """Guard the oracle itself: the zero-padded torch average differs at the border."""
    x = np.ones((1, 3, 3, 1))
    y_ref, _ = torch_pool(x, (2, 2), (2, 2), "same", "avg")
    naive = F.avg_pool2d(F.pad(torch.ones(1, 1, 3, 3, dtype=torch.float64), (0, 1, 0, 1)), 2)
    assert naive[0, 0, 1, 1].item() == 0.25  # counts the three padding zeros
    np.testing.assert_array_equal(y_ref, np.ones((1, 2, 2, 1)))
    np.testing.assert_array_equal(pool.avg_pool2d_forward(x, 2, padding="same"), y_ref)
