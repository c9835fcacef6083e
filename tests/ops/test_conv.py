"""filterbank.ops.conv against naive loop references, and the numba kernels against NumPy."""

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

from filterbank.ops import conv
from filterbank.ops import im2col as np_kernels
from filterbank.ops.padding import pad_amounts


# ---- naive references: explicit loops over output pixels ---------------------------------
def naive_pads(h, w, kernel, strides, padding, dilation):
    return (
        pad_amounts(h, kernel[0], strides[0], padding, dilation[0]),
        pad_amounts(w, kernel[1], strides[1], padding, dilation[1]),
    )


def naive_conv2d(x, w, b, strides, padding, dilation):
    """y[n, i, j, f] = b[f] + sum_{a, e, c} xpad[n, i*sh + a*dh, j*sw + e*dw, c] w[a, e, c, f]."""
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    (sh, sw), (dh, dw) = strides, dilation
    (pt, pb), (pl, pr) = naive_pads(h, wd, (kh, kw), strides, padding, dilation)
    xp = np.zeros((n, h + pt + pb, wd + pl + pr, c))
    xp[:, pt : pt + h, pl : pl + wd] = x
    ho = (h + pt + pb - (kh - 1) * dh - 1) // sh + 1
    wo = (wd + pl + pr - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((n, ho, wo, f))
    for i in range(ho):
        for j in range(wo):
            for a in range(kh):
                for e in range(kw):
                    y[:, i, j, :] += xp[:, i * sh + a * dh, j * sw + e * dw, :] @ w[a, e]
    if b is not None:
        y += b
    return y


def naive_conv2d_backward(x, w, dy, strides, padding, dilation):
    """dx, dw, db of naive_conv2d by the chain rule, one output pixel at a time."""
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    (sh, sw), (dh, dw_) = strides, dilation
    (pt, pb), (pl, pr) = naive_pads(h, wd, (kh, kw), strides, padding, dilation)
    xp = np.zeros((n, h + pt + pb, wd + pl + pr, c))
    xp[:, pt : pt + h, pl : pl + wd] = x
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape)
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            for a in range(kh):
                for e in range(kw):
                    r, s = i * sh + a * dh, j * sw + e * dw_
                    dw[a, e] += xp[:, r, s, :].T @ dy[:, i, j, :]
                    dxp[:, r, s, :] += dy[:, i, j, :] @ w[a, e].T
    return dxp[:, pt : pt + h, pl : pl + wd], dw, dy.sum(axis=(0, 1, 2))


def naive_conv1d(x, w, b, stride, padding, dilation):
    """Sequences (N, L, C) with a (k, C, F) kernel; "causal" pads (k-1)*d zeros in front."""
    if padding == "causal":
        x = np.pad(x, ((0, 0), ((w.shape[0] - 1) * dilation, 0), (0, 0)))
        padding = "valid"
    y = naive_conv2d(x[:, None], w[None], b, (1, stride), padding, (1, dilation))
    return y[:, 0]


# ---- configurations ----------------------------------------------------------------------
def _configs_2d():
    """(x shape, kernel, strides, padding, dilation, filters): non-square, strides 1-3 per axis."""
    rng = np.random.default_rng(42)
    out = []
    for padding, (sh, sw), (dh, dw) in itertools.product(
        ["valid", "same"], [(1, 1), (2, 1), (1, 3), (3, 2)], [(1, 1), (2, 1), (1, 2)]
    ):
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        c = int(rng.choice([1, 2, 3, 5, 8]))
        h = (kh - 1) * dh + 1 + int(rng.integers(0, 6))
        w = (kw - 1) * dw + 1 + int(rng.integers(0, 6))
        out.append(((2, h, w, c), (kh, kw), (sh, sw), padding, (dh, dw), int(rng.integers(1, 5))))
    # Hand-picked: 1x1 kernels (pointwise path), 1 and many channels, a kernel as big as the input.
    out += [
        ((3, 5, 4, 6), (1, 1), (1, 1), "valid", (1, 1), 3),
        ((2, 7, 6, 3), (1, 1), (2, 3), "same", (1, 1), 2),
        ((2, 6, 9, 1), (3, 3), (1, 1), "same", (1, 1), 4),
        ((2, 4, 3, 7), (4, 3), (1, 1), "valid", (1, 1), 2),
        ((1, 3, 3, 2), (3, 3), (2, 2), "same", (1, 1), 1),
        ((2, 5, 12, 16), (3, 3), (1, 1), "same", (1, 1), 3),  # many channels, long rows
        ((2, 5, 3, 16), (2, 2), (1, 1), "valid", (1, 1), 3),  # many channels, short rows
    ]
    return out


CONFIGS_2D = _configs_2d()
CONFIGS_1D = [
    ((2, 9, 3), 3, 1, "valid", 1, 2),
    ((3, 10, 1), 2, 1, "causal", 1, 1),
    ((2, 11, 2), 4, 2, "same", 1, 3),
    ((2, 8, 5), 3, 3, "same", 1, 2),
    ((1, 12, 6), 3, 1, "same", 2, 4),
    ((2, 9, 2), 2, 1, "causal", 3, 2),
    ((2, 7, 3), 1, 2, "valid", 1, 2),
    ((2, 13, 4), 5, 2, "valid", 1, 1),
    ((2, 6, 8), 3, 1, "valid", 2, 3),
]


def _ids(cfg):
    return "-".join(str(v).replace(" ", "") for v in cfg)


def _impls():
    impls = ["numpy"]
    if conv.numba_kernels() is not None:
        impls.append("numba")
    return impls


# ---- forward against the loops -----------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cfg", CONFIGS_2D, ids=[_ids(c) for c in CONFIGS_2D])
def test_conv2d_forward_matches_loops(cfg, dtype, rng):
    xs, kernel, strides, padding, dilation, f = cfg
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((*kernel, xs[-1], f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    ref = naive_conv2d(x.astype(np.float64), w.astype(np.float64), b, strides, padding, dilation)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for impl in _impls():
        y, _ = conv.conv2d_forward(x, w, b, strides, padding, dilation, impl=impl)
        assert y.dtype == np.dtype(dtype)
        assert y.shape == ref.shape
        np.testing.assert_allclose(y, ref, rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cfg", CONFIGS_1D, ids=[_ids(c) for c in CONFIGS_1D])
def test_conv1d_forward_matches_loops(cfg, dtype, rng):
    xs, k, stride, padding, dilation, f = cfg
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((k, xs[-1], f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    ref = naive_conv1d(x.astype(np.float64), w.astype(np.float64), b, stride, padding, dilation)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for impl in _impls():
        y, _ = conv.conv1d_forward(x, w, b, stride, padding, dilation, impl=impl)
        assert y.dtype == np.dtype(dtype) and y.shape == ref.shape
        np.testing.assert_allclose(y, ref, rtol=tol, atol=tol * 10)


# ---- backward against the loops ----------------------------------------------------------
@pytest.mark.parametrize("cfg", CONFIGS_2D, ids=[_ids(c) for c in CONFIGS_2D])
def test_conv2d_backward_matches_loops(cfg, rng):
    xs, kernel, strides, padding, dilation, f = cfg
    x = rng.standard_normal(xs)
    w = rng.standard_normal((*kernel, xs[-1], f))
    b = rng.standard_normal(f)
    for impl in _impls():
        y, cache = conv.conv2d_forward(x, w, b, strides, padding, dilation, impl=impl)
        dy = np.random.default_rng(1).standard_normal(y.shape)
        dx, dw, db = conv.conv2d_backward(dy, cache)
        rdx, rdw, rdb = naive_conv2d_backward(x, w, dy, strides, padding, dilation)
        np.testing.assert_allclose(dx, rdx, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(dw, rdw, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(db, rdb, rtol=1e-11, atol=1e-11)
        none_dx, dw2, _ = conv.conv2d_backward(dy, cache, need_dx=False)
        assert none_dx is None
        np.testing.assert_array_equal(dw2, dw)
        _, no_bias_cache = conv.conv2d_forward(x, w, None, strides, padding, dilation, impl=impl)
        dx3, dw3, no_db = conv.conv2d_backward(dy, no_bias_cache)
        assert no_db is None
        np.testing.assert_array_equal(dx3, dx)
        np.testing.assert_array_equal(dw3, dw)


@pytest.mark.parametrize("cfg", CONFIGS_1D, ids=[_ids(c) for c in CONFIGS_1D])
def test_conv1d_backward_matches_loops(cfg, rng):
    xs, k, stride, padding, dilation, f = cfg
    x = rng.standard_normal(xs)
    w = rng.standard_normal((k, xs[-1], f))
    y, cache = conv.conv1d_forward(x, w, rng.standard_normal(f), stride, padding, dilation)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = conv.conv1d_backward(dy, cache)
    if padding == "causal":
        front = (k - 1) * dilation
        xpad = np.pad(x, ((0, 0), (front, 0), (0, 0)))
        rdx, rdw, rdb = naive_conv2d_backward(
            xpad[:, None], w[None], dy[:, None], (1, stride), "valid", (1, dilation)
        )
        rdx = rdx[:, :, front:]
    else:
        rdx, rdw, rdb = naive_conv2d_backward(
            x[:, None], w[None], dy[:, None], (1, stride), padding, (1, dilation)
        )
    assert dx.shape == x.shape and dw.shape == w.shape
    np.testing.assert_allclose(dx, rdx[:, 0], rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(dw, rdw[0], rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(db, rdb, rtol=1e-11, atol=1e-11)


# ---- float32 stays float32 ---------------------------------------------------------------
@pytest.mark.parametrize(
    "c,kernel,impl",
    [(1, (3, 3), "numpy"), (6, (3, 3), "numpy"), (6, (3, 3), None), (4, (1, 1), "numpy")],
)
def test_float32_end_to_end(c, kernel, impl, rng):
    x = rng.standard_normal((2, 6, 5, c)).astype("float32")
    w = rng.standard_normal((*kernel, c, 3)).astype("float32")
    b = np.zeros(3, "float32")
    y, cache = conv.conv2d_forward(x, w, b, 1, "same", 1, impl=impl)
    dx, dw, db = conv.conv2d_backward(np.ones_like(y), cache)
    assert {a.dtype for a in (y, dx, dw, db, cache.col)} == {np.dtype("float32")}


def test_integer_input_becomes_floatx():
    x = np.arange(16).reshape(1, 4, 4, 1)
    y, _ = conv.conv2d_forward(x, np.ones((2, 2, 1, 1)), None)
    assert y.dtype == np.float32
    assert y[0, 0, 0, 0] == 0 + 1 + 4 + 5


def test_padding_name_is_checked():
    with pytest.raises(ValueError, match="Unknown padding 'smae'. Did you mean 'same'"):
        conv.conv2d_forward(np.zeros((1, 3, 3, 1)), np.zeros((2, 2, 1, 1)), None, 1, "smae")
    with pytest.raises(ValueError, match="Unknown padding 'causal'"):
        conv.conv2d_forward(np.zeros((1, 3, 3, 1)), np.zeros((2, 2, 1, 1)), None, 1, "causal")


def test_kernel_too_large_in_ops():
    with pytest.raises(ValueError, match="does not fit"):
        conv.conv2d_forward(np.zeros((1, 2, 5, 1)), np.zeros((3, 3, 1, 1)), None)


def test_check_fits_shows_the_formula():
    with pytest.raises(ValueError, match=r"\(N - F \+ 2P\)/S \+ 1 = \(2 - 3 \+ 0\)/1 \+ 1 = 0"):
        conv.check_fits("Layer 'c'", (2, 9), (3, 3), (1, 1), "valid", (1, 1), ("height", "width"))
    assert conv.check_fits("x", (None, 9), (3, 3), (1, 2), "valid", (1, 1), "hw") == (None, 4)
    assert conv.check_fits("x", (2, 9), (5, 5), (1, 2), "same", (1, 1), "hw") == (2, 5)


# ---- numba kernels against the NumPy reference -------------------------------------------
KERNEL_CASES = [
    ((2, 7, 8, 1), (3, 3), (1, 1), "valid", (1, 1)),
    ((2, 7, 8, 3), (3, 2), (2, 1), "same", (1, 1)),
    ((2, 9, 6, 5), (2, 3), (1, 1), "same", (2, 2)),
    ((3, 6, 7, 8), (3, 3), (3, 2), "valid", (1, 1)),
    ((2, 5, 5, 16), (4, 4), (1, 1), "same", (1, 1)),
    ((1, 1, 9, 4), (1, 3), (1, 2), "same", (1, 3)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", KERNEL_CASES, ids=[_ids(c) for c in KERNEL_CASES])
def test_numba_kernels_match_numpy(case, dtype, rng):
    pytest.importorskip("numba")
    from filterbank.ops import _numba_conv

    xs, kernel, strides, padding, dilation = case
    pads = conv.resolve_pads(xs[1:3], kernel, strides, padding, dilation)
    out_hw = tuple(
        conv.conv_output_size(n, k, s, p, d)
        for n, k, s, p, d in zip(xs[1:3], kernel, strides, pads, dilation)
    )
    x = rng.standard_normal(xs).astype(dtype)
    geometry = (kernel, strides, pads, dilation, out_hw)
    ref = np_kernels.im2col(x, *geometry)
    np.testing.assert_array_equal(_numba_conv.im2col(x, *geometry), ref)
    # The channel-major variant holds the same numbers, transposed.
    np.testing.assert_array_equal(
        np_kernels.im2col_cmajor(x, *geometry), ref.transpose(3, 4, 5, 0, 1, 2)
    )
    dcol = rng.standard_normal(ref.shape).astype(dtype)
    ref_dx = np_kernels.col2im(dcol, xs, kernel, strides, pads, dilation)
    tol = 1e-12 if dtype == "float64" else 1e-5
    got = _numba_conv.col2im(dcol, xs, kernel, strides, pads, dilation)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, ref_dx, rtol=tol, atol=tol)
    got_cm = np_kernels.col2im_cmajor(
        np.ascontiguousarray(dcol.transpose(3, 4, 5, 0, 1, 2)), xs, kernel, strides, pads, dilation
    )
    np.testing.assert_allclose(got_cm, ref_dx, rtol=tol, atol=tol)


@pytest.mark.parametrize("c", [1, 3, 8, 24])
def test_numba_and_numpy_paths_agree(c, rng):
    if conv.numba_kernels() is None:
        pytest.skip("numba is not installed, or FILTERBANK_DISABLE_NUMBA is set")
    x = rng.standard_normal((4, 9, 11, c)).astype("float32")
    w = rng.standard_normal((3, 3, c, 5)).astype("float32")
    b = rng.standard_normal(5).astype("float32")
    outs = []
    for impl in ("numpy", "numba"):
        y, cache = conv.conv2d_forward(x, w, b, (1, 2), "same", 1, impl=impl)
        outs.append((y, *conv.conv2d_backward(np.cos(y), cache)))
    for a, b_ in zip(*outs):
        np.testing.assert_allclose(a, b_, rtol=1e-5, atol=1e-5)


def test_env_var_disables_numba(monkeypatch):
    monkeypatch.setenv("FILTERBANK_DISABLE_NUMBA", "1")
    assert conv.numba_kernels() is None
    with pytest.raises(RuntimeError, match="FILTERBANK_DISABLE_NUMBA"):
        conv.conv2d_forward(np.zeros((1, 4, 4, 8)), np.zeros((2, 2, 8, 1)), None, impl="numba")
    y, cache = conv.conv2d_forward(np.ones((1, 4, 4, 8)), np.ones((2, 2, 8, 1)), None)
    assert cache.layout == "pixel" and np.all(y == 32)


def test_import_filterbank_does_not_import_numba():
    code = (
        "import sys, numpy as np, filterbank as keras\n"
        "from filterbank import layers\n"
        "x = keras.Input(shape=(28, 28, 1))\n"
        "layers.Conv2D(32, 3, activation='relu')(x)\n"
        "assert 'numba' not in sys.modules, 'numba imported before the first convolution'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "FILTERBANK_DISABLE_NUMBA"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
