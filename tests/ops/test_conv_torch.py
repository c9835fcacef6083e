"""PyTorch as the oracle: conv1d / conv2d forward and every gradient, float64, 240 random configs.

The oracle (``tests/torch_oracle.py``) pads explicitly with ``F.pad`` (Keras's "same" puts
the odd cell at the end) and runs a valid convolution on contiguous NCHW copies.
"""

import numpy as np
import pytest

from filterbank.ops import conv
from tests import torch_oracle as oracle

oracle.load()  # skips this module without torch

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


def _check(ours, theirs):
    for a, b, what in zip(
        ours, theirs, ("forward", "input gradient", "kernel gradient", "bias gradient")
    ):
        oracle.close(a, b, atol=1e-9, what=what)


@pytest.mark.parametrize("seed", range(N_2D))
def test_conv2d_matches_torch(seed):
    x, w, b, strides, padding, dilation, rng = _random_config(seed, 2)
    y, cache = conv.conv2d_forward(x, w, b, strides, padding, dilation)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = conv.conv2d_backward(dy, cache)

    _check((y, dx, dw, db), oracle.conv(x, w, b, strides, padding, dilation, dy))


@pytest.mark.parametrize("seed", range(N_1D))
def test_conv1d_matches_torch(seed):
    x, w, b, (stride,), padding, (dilation,), rng = _random_config(seed, 1)
    y, cache = conv.conv1d_forward(x, w, b, stride, padding, dilation)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = conv.conv1d_backward(dy, cache)

    _check((y, dx, dw, db), oracle.conv(x, w, b, (stride,), padding, (dilation,), dy))


@pytest.mark.parametrize("seed", range(8))
def test_conv1d_causal_matches_torch(seed):
    x, w, b, (stride,), _, (dilation,), rng = _random_config(seed, 1)
    y, cache = conv.conv1d_forward(x, w, b, stride, "causal", dilation)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = conv.conv1d_backward(dy, cache)
    _check((y, dx, dw, db), oracle.conv(x, w, b, (stride,), "causal", (dilation,), dy))
