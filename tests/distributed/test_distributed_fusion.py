"""The fused gradient buffer: pack, scale, unpack (no MPI needed)."""

import numpy as np
import pytest

from filterbank.distributed.fusion import FusedBuffer


def test_pack_and_unpack_round_trip_with_scales():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=s) for s in [(3, 3, 1, 4), (4,), (7, 2), ()]]
    fused = FusedBuffer([a.shape for a in arrays], extra=3, dtype=np.float64)
    assert fused.buffer.size == 36 + 4 + 14 + 1 + 3 and fused.nbytes == 58 * 8
    fused.tail[...] = 5.0
    buf = fused.pack(arrays, scale=3.0)
    assert buf is fused.buffer and fused.tail.tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_array_equal(buf[:36], arrays[0].ravel() * 3.0)
    out = [np.empty_like(a) for a in arrays]
    fused.unpack(out, scale=1 / 3.0)
    for a, b in zip(arrays, out):
        np.testing.assert_allclose(b, a, rtol=1e-15)
    for view, a in zip(fused.views(), arrays):
        assert view.shape == a.shape and np.shares_memory(view, fused.buffer)


def test_float32_buffer_and_plain_copy():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    fused = FusedBuffer([a.shape], dtype=np.float32)
    fused.pack([a])
    out = [np.zeros_like(a)]
    fused.unpack(out)
    assert out[0].tolist() == a.tolist() and fused.buffer.dtype == np.float32


def test_pack_refuses_wrong_shapes_and_counts():
    fused = FusedBuffer([(2, 3)], dtype=np.float64)
    with pytest.raises(ValueError, match=r"shape \(3, 2\) does not fit its slot of shape \(2, 3\)"):
        fused.pack([np.zeros((3, 2))])
    with pytest.raises(ValueError, match="expects 1 arrays, got 2"):
        fused.pack([np.zeros((2, 3)), np.zeros(1)])
