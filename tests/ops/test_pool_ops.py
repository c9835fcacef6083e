"""filterbank.ops.pool against naive loop references, NumPy and numba paths alike."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from filterbank.ops import pool

ROOT = Path(__file__).resolve().parents[2]
IMPLS = [
    "numpy",
    pytest.param(
        "numba",
        marks=pytest.mark.skipif(pool.numba_kernels() is None, reason="numba not installed"),
    ),
]


# ---- naive references: explicit loops over every output cell ----------------------------
def naive_windows(n_in, k, s, padding):
    """For each output position along one axis: the list of real input indices it covers."""
    if padding == "same":
        out = math.ceil(n_in / s)
        before = max((out - 1) * s + k - n_in, 0) // 2
    else:
        out = (n_in - k) // s + 1
        before = 0
    return [
        [i for i in range(o * s - before, o * s - before + k) if 0 <= i < n_in] for o in range(out)
    ]


def naive_pool2d(x, g, pool_size, strides, padding, kind):
    """Forward y and backward dx = d(sum(y * g))/dx by loops; max takes the first max."""
    n, h, w, c = x.shape
    rows = naive_windows(h, pool_size[0], strides[0], padding)
    cols = naive_windows(w, pool_size[1], strides[1], padding)
    y = np.zeros((n, len(rows), len(cols), c))
    dx = np.zeros(x.shape)
    for b in range(n):
        for i, rr in enumerate(rows):
            for j, cc in enumerate(cols):
                cells = [(r, q) for r in rr for q in cc]  # row-major window order
                for ch in range(c):
                    vals = [x[b, r, q, ch] for r, q in cells]
                    if kind == "max":
                        best = int(np.argmax(vals))  # first maximum
                        y[b, i, j, ch] = vals[best]
                        r, q = cells[best]
                        dx[b, r, q, ch] += g[b, i, j, ch]
                    else:
                        y[b, i, j, ch] = sum(vals) / len(vals)
                        for r, q in cells:
                            dx[b, r, q, ch] += g[b, i, j, ch] / len(vals)
    return y, dx


# (H, W, pool, strides, paddings): square and not, stride = pool, stride < pool (overlap),
# stride > pool (gaps), sizes that do and do not divide, a window larger than the input.
CONFIGS_2D = [
    (6, 8, (2, 2), (2, 2)),
    (7, 9, (2, 2), (2, 2)),
    (7, 7, (2, 2), (2, 2)),
    (6, 5, (3, 2), (1, 2)),
    (8, 7, (3, 3), (2, 2)),
    (5, 6, (2, 3), (3, 1)),
    (9, 9, (3, 3), (3, 3)),
    (4, 10, (4, 1), (4, 3)),
    (3, 7, (1, 3), (1, 2)),
    (5, 5, (5, 5), (1, 1)),
    (10, 6, (3, 2), (4, 5)),
]
SAME_ONLY = [(2, 5, (3, 3), (1, 1)), (1, 4, (2, 3), (2, 2))]


def _cases():
    for cfg in CONFIGS_2D:
        for padding in ("valid", "same"):
            yield (*cfg, padding)
    for cfg in SAME_ONLY:
        yield (*cfg, "same")


CASES_2D = list(_cases())


def _data(shape, seed, ties):
    rng = np.random.default_rng(seed)
    if ties:  # few distinct values: many ties, so the first-max rule is exercised
        return rng.integers(-2, 3, size=shape).astype(np.float64)
    return rng.standard_normal(shape)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("h,w,pool_size,strides,padding", CASES_2D)
def test_max_pool2d_matches_naive(h, w, pool_size, strides, padding, ties, impl):
    x = _data((2, h, w, 3), seed=h * 31 + w, ties=ties)
    out_shape = (2, *pool.pool_geometry((h, w), pool_size, strides, padding)[0], 3)
    g = np.random.default_rng(1).standard_normal(out_shape)
    y_ref, dx_ref = naive_pool2d(x, g, pool_size, strides, padding, "max")
    y, arg = pool.max_pool2d_forward(x, pool_size, strides, padding, return_argmax=True, impl=impl)
    assert y.shape == y_ref.shape and y.dtype == np.float64
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(pool.max_pool2d_forward(x, pool_size, strides, padding), y_ref)
    dx = pool.max_pool2d_backward(g, arg, x.shape, pool_size, strides, padding, impl=impl)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("h,w,pool_size,strides,padding", CASES_2D)
def test_avg_pool2d_matches_naive(h, w, pool_size, strides, padding):
    x = _data((2, h, w, 3), seed=h * 17 + w, ties=False)
    out_shape = (2, *pool.pool_geometry((h, w), pool_size, strides, padding)[0], 3)
    g = np.random.default_rng(2).standard_normal(out_shape)
    y_ref, dx_ref = naive_pool2d(x, g, pool_size, strides, padding, "avg")
    y = pool.avg_pool2d_forward(x, pool_size, strides, padding)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    dx = pool.avg_pool2d_backward(g, x.shape, pool_size, strides, padding)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(pool.numba_kernels() is None, reason="numba not installed")
@pytest.mark.parametrize("h,w,pool_size,strides,padding", CASES_2D)
def test_numba_and_numpy_agree_exactly_in_float32(h, w, pool_size, strides, padding):
    x = _data((3, h, w, 5), seed=7 * h + w, ties=True).astype(np.float32)
    y_np, arg_np = pool.max_pool2d_forward(
        x, pool_size, strides, padding, return_argmax=True, impl="numpy"
    )
    y_nb, arg_nb = pool.max_pool2d_forward(
        x, pool_size, strides, padding, return_argmax=True, impl="numba"
    )
    assert y_nb.dtype == np.float32 and arg_nb.dtype == arg_np.dtype
    np.testing.assert_array_equal(y_np, y_nb)
    np.testing.assert_array_equal(arg_np, arg_nb)
    g = np.random.default_rng(3).standard_normal(y_np.shape).astype(np.float32)
    dx_np = pool.max_pool2d_backward(g, arg_np, x.shape, pool_size, strides, padding, impl="numpy")
    dx_nb = pool.max_pool2d_backward(g, arg_np, x.shape, pool_size, strides, padding, impl="numba")
    assert dx_nb.dtype == np.float32
    np.testing.assert_allclose(dx_np, dx_nb, rtol=1e-6, atol=1e-6)


def naive_pool1d(x, g, k, s, padding, kind):
    y, dx = naive_pool2d(x[:, None], g[:, None], (1, k), (1, s), padding, kind)
    return y[:, 0], dx[:, 0]


CASES_1D = [
    (length, k, s, p)
    for length, k, s in [
        (10, 2, 2),
        (9, 2, 2),
        (11, 3, 1),
        (12, 3, 2),
        (7, 2, 3),
        (5, 5, 1),
        (8, 1, 1),
    ]
    for p in ("valid", "same")
] + [(2, 3, 1, "same")]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("length,k,s,padding", CASES_1D)
def test_pool1d_matches_naive(length, k, s, padding, impl):
    x = _data((3, length, 4), seed=length * 5 + k, ties=True)
    out_len = pool.pool_geometry((length,), (k,), (s,), padding)[0][0]
    g = np.random.default_rng(4).standard_normal((3, out_len, 4))
    y_ref, dx_ref = naive_pool1d(x, g, k, s, padding, "max")
    y, arg = pool.max_pool1d_forward(x, k, s, padding, return_argmax=True, impl=impl)
    np.testing.assert_array_equal(y, y_ref)
    dx = pool.max_pool1d_backward(g, arg, x.shape, k, s, padding, impl=impl)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    y_ref, dx_ref = naive_pool1d(x, g, k, s, padding, "avg")
    np.testing.assert_allclose(pool.avg_pool1d_forward(x, k, s, padding), y_ref, rtol=1e-12)
    np.testing.assert_allclose(
        pool.avg_pool1d_backward(g, x.shape, k, s, padding), dx_ref, rtol=1e-12, atol=1e-12
    )


def test_strides_default_to_pool_size_and_output_sizes():
    x = np.zeros((1, 7, 7, 1))
    assert pool.max_pool2d_forward(x, (2, 2)).shape == (1, 3, 3, 1)
    assert pool.max_pool2d_forward(x, (2, 2), padding="same").shape == (1, 4, 4, 1)
    assert pool.avg_pool2d_forward(x, 3, 2).shape == (1, 3, 3, 1)
    assert pool.pool_geometry((7, 7), (2, 2), None, "same") == ((4, 4), ((0, 1), (0, 1)))
    # k = s = 3 on 5 cells: ceil(5/3) = 2 outputs, 1 padding cell at the end
    assert pool.pool_geometry((5,), (3,), (3,), "same") == ((2,), ((0, 1),))


def test_same_average_divides_by_real_cells_only():
    x = np.ones((1, 3, 3, 1))
    # every window average of ones is 1 when padding does not count (it would be 4/9 at the
    # corner if it did)
    np.testing.assert_array_equal(pool.avg_pool2d_forward(x, 3, 2, "same"), np.ones((1, 2, 2, 1)))
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    y = pool.avg_pool2d_forward(x, 2, 2, "same")[0, :, :, 0]
    np.testing.assert_allclose(y, [[(0 + 1 + 3 + 4) / 4, (2 + 5) / 2], [(6 + 7) / 2, 8]])


def test_nan_propagates_through_max():
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    x[0, 0, 1, 0] = np.nan
    for impl in ["numpy"] + (["numba"] if pool.numba_kernels() else []):
        y, _ = pool.max_pool2d_forward(x, 2, return_argmax=True, impl=impl)
        assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 1:, :, 0]).any()
    assert np.isnan(pool.max_pool2d_forward(x, 2)[0, 0, 0, 0])


def test_float32_stays_float32():
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 3)).astype(np.float32)
    for impl in ["numpy"] + (["numba"] if pool.numba_kernels() else []):
        y, arg = pool.max_pool2d_forward(x, 3, 2, "same", return_argmax=True, impl=impl)
        assert y.dtype == np.float32
        dx = pool.max_pool2d_backward(y, arg, x.shape, 3, 2, "same", impl=impl)
        assert dx.dtype == np.float32 and dx.shape == x.shape
    assert pool.avg_pool2d_forward(x, 3, 2, "same").dtype == np.float32
    assert pool.avg_pool2d_backward(y, x.shape, 3, 2, "same").dtype == np.float32


def test_float16_falls_back_to_numpy():
    x = np.random.default_rng(0).standard_normal((1, 4, 6, 2)).astype(np.float16)
    y, arg = pool.max_pool2d_forward(x, 2, return_argmax=True)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y, pool.max_pool2d_forward(x.astype(np.float32), 2))
    assert pool.max_pool2d_backward(y, arg, x.shape, 2).dtype == np.float16


def test_large_windows_use_a_wide_argmax():
    x = np.random.default_rng(0).permutation(2 * 17 * 17).reshape(2, 17, 17, 1).astype(float)
    for impl in ["numpy"] + (["numba"] if pool.numba_kernels() else []):
        y, arg = pool.max_pool2d_forward(x, 17, return_argmax=True, impl=impl)
        assert arg.dtype == np.int32  # 289 offsets do not fit uint8
        flat = x.reshape(2, -1)
        np.testing.assert_array_equal(arg.ravel(), flat.argmax(axis=1))
        dx = pool.max_pool2d_backward(np.ones_like(y), arg, x.shape, 17, impl=impl)
        assert dx.sum() == 2 and dx.reshape(2, -1)[np.arange(2), flat.argmax(axis=1)].all()


# ---- global pooling -----------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 5, 3), (3, 4, 6, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pools_match_naive(shape, keepdims):
    x = _data(shape, seed=len(shape), ties=True)
    n, c = shape[0], shape[-1]
    flat = x.reshape(n, -1, c)
    out_shape = (n, *([1] * (len(shape) - 2)), c) if keepdims else (n, c)
    g = np.random.default_rng(5).standard_normal(out_shape)
    gm = g.reshape(n, c)
    y = pool.global_max_pool_forward(x, keepdims)
    assert y.shape == out_shape
    dx_ref = np.zeros_like(flat)
    for b in range(n):
        for ch in range(c):
            i = int(np.argmax(flat[b, :, ch]))  # first maximum
            assert y.reshape(n, c)[b, ch] == flat[b, i, ch]
            dx_ref[b, i, ch] = gm[b, ch]
    np.testing.assert_array_equal(
        pool.global_max_pool_backward(g, x, keepdims), dx_ref.reshape(shape)
    )
    ya = pool.global_avg_pool_forward(x, keepdims)
    np.testing.assert_allclose(ya.reshape(n, c), flat.mean(axis=1))
    dxa = pool.global_avg_pool_backward(g, shape, keepdims)
    np.testing.assert_allclose(
        dxa.reshape(n, -1, c), np.repeat(gm[:, None] / flat.shape[1], flat.shape[1], axis=1)
    )


# ---- errors and switches ------------------------------------------------------------------
def test_valid_window_larger_than_input_explains_the_formula():
    with pytest.raises(
        ValueError,
        match=r"Pool window 3 is larger than the input \(2\).*"
        r"floor\(\(2 - 3\) / 1\) \+ 1 = 0",
    ):
        pool.max_pool2d_forward(np.zeros((1, 2, 5, 1)), 3, 1)


def test_unknown_padding_and_impl_names():
    with pytest.raises(ValueError, match="Unknown padding 'smae'. Did you mean 'same'"):
        pool.avg_pool2d_forward(np.zeros((1, 4, 4, 1)), 2, padding="smae")
    with pytest.raises(ValueError, match="Unknown pooling implementation 'numbaa'"):
        pool.max_pool2d_forward(np.zeros((1, 4, 4, 1)), 2, impl="numbaa")


def test_impl_numba_when_unavailable_says_how_to_get_it(monkeypatch):
    monkeypatch.setenv("FILTERBANK_DISABLE_NUMBA", "1")
    assert pool.numba_kernels() is None
    with pytest.raises(RuntimeError, match="impl='numba' needs numba"):
        pool.max_pool2d_forward(np.zeros((1, 4, 4, 1)), 2, return_argmax=True, impl="numba")
    # auto falls back to NumPy
    y, arg = pool.max_pool2d_forward(np.ones((1, 4, 4, 1)), 2, return_argmax=True)
    assert arg.dtype == np.uint8 and (arg == 0).all()


def _run(code, **env):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=full_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_numba_is_lazy_and_can_be_disabled():
    res = _run(
        "import sys, filterbank\n"
        "from filterbank import layers\n"
        "layers.MaxPooling2D()\n"
        "assert 'numba' not in sys.modules, 'numba imported at import time'\n"
        "from filterbank.ops import pool\n"
        "assert pool.numba_kernels() is None\n"
        "assert 'numba' not in sys.modules\n",
        FILTERBANK_DISABLE_NUMBA="1",
    )
    assert res.returncode == 0, res.stderr
