"""Seed 001 (MITx 6.86x, lecture 12): why CNNs (10^12 weights against 121) and true
convolution (kernel flipped) next to the cross-correlation that conv layers compute.

Run: python examples/seed_001_convolution.py
"""

import math

import numpy as np

from filterbank import explain, layers, signal


def main(out=None):
    dense = explain.count_params(
        layers.Dense(1000 * 1000, use_bias=False), input_shape=(1000 * 1000,)
    )
    conv = explain.count_params(layers.Conv2D(1, 11, use_bias=False), input_shape=(1000, 1000, 1))
    print(
        f"1000x1000 image fully connected to 1000x1000 units: {dense:,} weights "
        f"(10^{math.log10(dense):.0f}); one 11x11 filter: {conv} weights (+1 bias)"
    )
    print(
        explain.arithmetic_text([layers.Conv2D(1, 11, padding="same")], input_shape=(1000, 1000, 1))
    )
    f = np.array([1.0, 2.0, 3.0, 0.0, -1.0])
    g = np.array([1.0, 0.0, -1.0])
    print(f"\nf = {f.tolist()}, g = {g.tolist()}")
    for mode in ("full", "same", "valid"):
        conv_ = signal.convolve(f, g, mode)
        corr = signal.correlate(f, g, mode)
        assert np.allclose(conv_, np.convolve(f, g, mode))
        assert np.allclose(corr, np.correlate(f, g, mode))
        print(
            f"{mode:>5}: convolution (g flipped) {conv_.tolist()}   cross-correlation "
            f"{corr.tolist()}"
        )
    print(
        "Conv layers compute the cross-correlation; with g flipped the two are equal:",
        np.allclose(signal.convolve(f, g[::-1], "valid"), signal.correlate(f, g, "valid")),
    )
    return {"dense": dense, "conv": conv}


if __name__ == "__main__":
    main()
