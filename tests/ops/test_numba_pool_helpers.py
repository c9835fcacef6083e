"""The loop helpers the numba max-pool kernels share: window bounds and the window scan."""

import numpy as np
import pytest

pytest.importorskip("numba")

from filterbank.ops import _numba_pool as P  # noqa: E402


@pytest.mark.parametrize(
    "o, stride, pad, size, extent", [(0, 2, 1, 3, 5), (2, 2, 1, 3, 5), (1, 1, 0, 2, 4)]
)
def test_window_bounds(o, stride, pad, size, extent):
    start, k0, k1 = P._window(o, stride, pad, size, extent)
    inside = [k for k in range(size) if 0 <= start + k < extent]
    assert start == o * stride - pad and (k0, k1) == (inside[0], inside[-1] + 1)


@pytest.mark.parametrize("add_bias", [False, True])
def test_window_scan_is_max_and_first_argmax(add_bias):
    rng = np.random.default_rng(0)
    src = rng.integers(-3, 3, (1, 4, 4, 5)).astype(np.float32)  # ties: the first one wins
    bias = rng.standard_normal(5).astype(np.float32)
    o, best_k = np.empty(5, np.float32), np.empty(5, np.int32)
    scan = P._scan_with_bias if add_bias else P._scan
    scan(src, 0, 1, 0, 0, 3, 1, 3, 3, bias if add_bias else src[0, 0, 0], o, best_k)
    window = src[0, 1:4, 1:3] + (bias if add_bias else 0)  # offsets ky 0..2, kx 1..2 of 3x3
    flat = window.reshape(-1, 5)
    np.testing.assert_array_equal(o, flat.max(axis=0))
    ky, kx = np.divmod(flat.argmax(axis=0), 2)
    np.testing.assert_array_equal(best_k, ky * 3 + kx + 1)
