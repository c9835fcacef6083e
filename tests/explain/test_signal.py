"""filterbank.signal: true convolution and cross-correlation against numpy, in every mode."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers, signal


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_1d_matches_numpy(mode):
    rng = np.random.default_rng(0)
    for n in range(1, 9):
        for m in range(1, 9):
            a, v = rng.normal(size=n), rng.normal(size=m)
            np.testing.assert_allclose(
                signal.convolve(a, v, mode), np.convolve(a, v, mode), rtol=1e-12, atol=1e-12
            )
            np.testing.assert_allclose(
                signal.correlate(a, v, mode), np.correlate(a, v, mode), rtol=1e-12, atol=1e-12
            )


def test_flip_is_the_only_difference():
    x = np.arange(6.0)
    k = np.array([1.0, 2.0, -1.0])
    assert not np.allclose(signal.convolve(x, k, "valid"), signal.correlate(x, k, "valid"))
    np.testing.assert_allclose(
        signal.convolve(x, k, "valid"), signal.correlate(x, k[::-1], "valid")
    )
    sym = np.array([1.0, 2.0, 1.0])
    np.testing.assert_allclose(signal.convolve(x, sym, "same"), signal.correlate(x, sym, "same"))


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_2d_is_the_1d_rule_on_each_axis(mode):
    rng = np.random.default_rng(1)
    r, c, kr, kc = rng.normal(size=6), rng.normal(size=5), rng.normal(size=3), rng.normal(size=2)
    want_corr = np.outer(np.correlate(r, kr, mode), np.correlate(c, kc, mode))
    want_conv = np.outer(np.convolve(r, kr, mode), np.convolve(c, kc, mode))
    np.testing.assert_allclose(
        signal.correlate2d(np.outer(r, c), np.outer(kr, kc), mode), want_corr, atol=1e-12
    )
    np.testing.assert_allclose(
        signal.convolve2d(np.outer(r, c), np.outer(kr, kc), mode), want_conv, atol=1e-12
    )


def test_correlate2d_is_what_conv2d_computes():
    """Worked example 5 (CS231n) through both."""
    x = np.array(
        [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], float
    )
    k = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], float)
    assert signal.correlate2d(x, k).tolist() == [[12, 12, 17], [10, 17, 19], [9, 6, 14]]
    conv = layers.Conv2D(1, 3, use_bias=False)
    conv.build((None, 5, 5, 1))
    conv.set_weights([k.reshape(3, 3, 1, 1)])
    y = conv(x.reshape(1, 5, 5, 1))[0, :, :, 0]
    assert y.tolist() == signal.correlate2d(x, k).tolist()
    assert y.tolist() != signal.convolve2d(x, k, "valid").tolist()
    assert keras  # the layer above runs under the package's default float32


def test_messages():
    with pytest.raises(ValueError, match="mode expects one of"):
        signal.convolve([1.0], [1.0], "circular")
    with pytest.raises(ValueError, match="two 1D arrays"):
        signal.correlate(np.ones((2, 2)), [1.0])
