"""Depthwise, separable and transposed convolutions against naive loops, and their gradients
by centered differences (float64). Non-square inputs and kernels, strides, both paddings,
dilation, depth multipliers, output_padding."""

import numpy as np
import pytest

from filterbank.ops import conv_transpose as ct
from filterbank.ops import depthwise as dw
from filterbank.ops.padding import pad_amounts
from tests.gradcheck import assert_close, numeric_grad


def _naive_depthwise(x, w, strides, padding, dilation):
    n, h, wd, c = x.shape
    kh, kw, _, m = w.shape
    (pt, pb), (pl, pr) = (
        pad_amounts(s_, k, st, padding, d)
        for s_, k, st, d in zip((h, wd), (kh, kw), strides, dilation)
    )
    xp = np.zeros((n, h + pt + pb, wd + pl + pr, c))
    xp[:, pt : pt + h, pl : pl + wd] = x
    ho = (xp.shape[1] - (kh - 1) * dilation[0] - 1) // strides[0] + 1
    wo = (xp.shape[2] - (kw - 1) * dilation[1] - 1) // strides[1] + 1
    y = np.zeros((n, ho, wo, c * m))
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                for ch in range(c):
                    for mm in range(m):
                        total = 0.0
                        for a in range(kh):
                            for e in range(kw):
                                total += (
                                    xp[
                                        b,
                                        i * strides[0] + a * dilation[0],
                                        j * strides[1] + e * dilation[1],
                                        ch,
                                    ]
                                    * w[a, e, ch, mm]
                                )
                        y[b, i, j, ch * m + mm] = total
    return y


def _naive_transpose(x, w, strides, dilation, crop, out_hw):
    """Scatter every input pixel's kernel-weighted contribution onto the full grid, then cut."""
    n, h, wd, c = x.shape
    kh, kw, f, _ = w.shape
    hf = (h - 1) * strides[0] + (kh - 1) * dilation[0] + 1
    wf = (wd - 1) * strides[1] + (kw - 1) * dilation[1] + 1
    full = np.zeros((n, max(hf, crop[0] + out_hw[0]), max(wf, crop[1] + out_hw[1]), f))
    for b in range(n):
        for i in range(h):
            for j in range(wd):
                for a in range(kh):
                    for e in range(kw):
                        full[
                            b, i * strides[0] + a * dilation[0], j * strides[1] + e * dilation[1]
                        ] += w[a, e] @ x[b, i, j]
    return full[:, crop[0] : crop[0] + out_hw[0], crop[1] : crop[1] + out_hw[1]]


CASES = [
    ((2, 5, 7, 3), (2, 3), (1, 1), "valid", (1, 1), 1),
    ((1, 6, 5, 2), (3, 2), (2, 3), "same", (1, 1), 2),
    ((1, 7, 6, 2), (3, 3), (1, 1), "same", (2, 1), 3),
    ((2, 8, 5, 1), (4, 1), (3, 2), "valid", (1, 1), 2),
    ((1, 5, 6, 3), (2, 2), (1, 1), "valid", (1, 2), 1),
]


@pytest.mark.parametrize("x_shape,k,strides,padding,dilation,m", CASES)
def test_depthwise_matches_naive_loops(x_shape, k, strides, padding, dilation, m):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((*k, x_shape[3], m))
    y, _ = dw.depthwise_conv2d_forward(x, w, None, strides, padding, dilation)
    np.testing.assert_allclose(y, _naive_depthwise(x, w, strides, padding, dilation), atol=1e-12)


@pytest.mark.parametrize("x_shape,k,strides,padding,dilation,m", CASES)
def test_depthwise_and_separable_gradients(x_shape, k, strides, padding, dilation, m):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((*k, x_shape[3], m))
    pw = rng.standard_normal((1, 1, x_shape[3] * m, 3))
    b = rng.standard_normal(3)
    y, _ = dw.separable_conv2d_forward(x, w, pw, b, strides, padding, dilation)
    g = rng.standard_normal(y.shape)

    def loss():
        return float(
            np.sum(dw.separable_conv2d_forward(x, w, pw, b, strides, padding, dilation)[0] * g)
        )

    _, cache = dw.separable_conv2d_forward(x, w, pw, b, strides, padding, dilation)
    dx, dk, dp, db = dw.separable_conv2d_backward(g, cache)
    for name, analytic, arr in (
        ("x", dx, x),
        ("depthwise", dk, w),
        ("pointwise", dp, pw),
        ("bias", db, b),
    ):
        assert_close(analytic, numeric_grad(loss, arr), what=name)


TRANSPOSE_CASES = [
    ((2, 3, 4, 2), (3, 2), (2, 3), "valid", None, (1, 1)),
    ((1, 4, 3, 3), (3, 3), (2, 2), "same", None, (1, 1)),
    ((1, 3, 5, 2), (4, 3), (3, 2), "same", (2, 1), (1, 1)),
    ((1, 4, 4, 2), (2, 3), (1, 1), "same", None, (2, 2)),
    ((2, 2, 3, 1), (1, 2), (3, 3), "valid", (1, 2), (1, 1)),
    ((1, 3, 3, 5), (2, 2), (3, 1), "valid", None, (1, 1)),  # stride > kernel: zeros appended
]


@pytest.mark.parametrize("x_shape,k,strides,padding,op,dilation", TRANSPOSE_CASES)
def test_transpose_matches_naive_loops(x_shape, k, strides, padding, op, dilation):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((*k, 6, x_shape[3]))
    y, cache = ct.conv2d_transpose_forward(x, w, None, strides, padding, op, dilation)
    ref = _naive_transpose(x, w, strides, dilation, cache.plan.crop, y.shape[1:3])
    np.testing.assert_allclose(y, ref, atol=1e-12)


@pytest.mark.parametrize("x_shape,k,strides,padding,op,dilation", TRANSPOSE_CASES)
def test_transpose_gradients(x_shape, k, strides, padding, op, dilation):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((*k, 3, x_shape[3]))
    b = rng.standard_normal(3)
    y, cache = ct.conv2d_transpose_forward(x, w, b, strides, padding, op, dilation)
    g = rng.standard_normal(y.shape)

    def loss():
        return float(
            np.sum(ct.conv2d_transpose_forward(x, w, b, strides, padding, op, dilation)[0] * g)
        )

    dx, dk, db = ct.conv2d_transpose_backward(g, cache)
    for name, analytic, arr in (("x", dx, x), ("kernel", dk, w), ("bias", db, b)):
        assert_close(analytic, numeric_grad(loss, arr), what=name)


def test_transpose_is_the_adjoint_of_the_convolution():
    """<conv(z, w), x> == <z, conv_transpose(x, w)> for the valid, unpadded geometry."""
    from filterbank.ops import conv

    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, 2, 4, 5))  # as Conv2D: (kh, kw, 4 in, 5 out)
    x = rng.standard_normal((2, 3, 4, 5))
    y, _ = ct.conv2d_transpose_forward(x, w, None, (2, 3), "valid", None, (1, 1))
    z = rng.standard_normal(y.shape)
    cz, _ = conv.conv2d_forward(z, w, None, (2, 3), "valid", (1, 1))
    np.testing.assert_allclose(np.sum(cz * x), np.sum(z * y), rtol=1e-12)


def test_float32_stays_float32():
    x = np.ones((1, 4, 4, 2), "float32")
    assert dw.depthwise_conv2d_forward(x, np.ones((3, 3, 2, 1), "float32"))[0].dtype == np.float32
    y, c = ct.conv2d_transpose_forward(x, np.ones((3, 3, 1, 2), "float32"), strides=2)
    assert y.dtype == np.float32 and ct.conv2d_transpose_backward(y, c)[0].dtype == np.float32


def test_op_errors_name_what_went_wrong():
    with pytest.raises(ValueError, match=r"smaller than its stride"):
        ct.conv2d_transpose_forward(
            np.ones((1, 3, 3, 1)), np.ones((3, 3, 1, 1)), strides=2, output_padding=2
        )
    with pytest.raises(ValueError, match=r"kernel \(kh, kw, C, M\)"):
        dw.depthwise_conv2d_forward(np.ones((1, 3, 3, 2)), np.ones((3, 3, 3, 1)))
    with pytest.raises(ValueError, match="does not fit"):
        dw.depthwise_conv2d_forward(np.ones((1, 2, 3, 1)), np.ones((3, 3, 1, 1)))


@pytest.mark.parametrize("x_shape,k,strides,padding,dilation,m", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_depthwise_matches_the_numpy_reference(
    monkeypatch, x_shape, k, strides, padding, dilation, m, dtype
):
    pytest.importorskip("numba")
    from filterbank.ops.conv_gemm import compiled_module

    rng = np.random.default_rng(6)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((*k, x_shape[3], m)).astype(dtype)
    b = rng.standard_normal(x_shape[3] * m).astype(dtype)
    results = {}
    for switch in ("1", "0"):
        monkeypatch.setenv("FILTERBANK_DISABLE_NUMBA", switch)
        assert (compiled_module("_numba_depthwise") is None) == (switch == "1")
        y, cache = dw.depthwise_conv2d_forward(x, w, b, strides, padding, dilation)
        g = np.random.default_rng(7).standard_normal(y.shape).astype(dtype)
        results[switch] = (y, *dw.depthwise_conv2d_backward(g, cache))
    tol = 1e-5 if dtype == "float32" else 1e-12
    for ref, fast, what in zip(results["1"], results["0"], ("y", "dx", "dw", "db")):
        assert fast.dtype == np.dtype(dtype)
        np.testing.assert_allclose(fast, ref, rtol=tol, atol=tol, err_msg=what)


def test_bilinear_upsampling_matches_a_per_pixel_loop():
    """Half-pixel centres, clamped at both edges, straight from the definition."""
    from filterbank.ops import resize

    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 5, 2))
    sh, sw = 3, 2
    y, _ = resize.upsample2d_forward(x, (sh, sw), "bilinear")
    ref = np.zeros((2, 3 * sh, 5 * sw, 2))

    def source(o, s, n):
        p = max((o + 0.5) / s - 0.5, 0.0)
        i0 = min(int(np.floor(p)), n - 1)
        return i0, min(i0 + 1, n - 1), p - i0

    for a in range(3 * sh):
        r0, r1, fr = source(a, sh, 3)
        for b in range(5 * sw):
            c0, c1, fc = source(b, sw, 5)
            ref[:, a, b] = (1 - fr) * ((1 - fc) * x[:, r0, c0] + fc * x[:, r0, c1]) + fr * (
                (1 - fc) * x[:, r1, c0] + fc * x[:, r1, c1]
            )
    np.testing.assert_allclose(y, ref, atol=1e-12)
