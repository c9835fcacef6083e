"""Winograd F(2x2, 3x3) conv + 2x2 max pool (the inference fast path) against the direct
convolution: the NumPy reference of the transforms, the compiled kernels, chunking, the
rules that decide when it runs, and the fused model step that uses it."""

import numpy as np
import pytest

from filterbank.ops import conv, winograd

HAVE_NUMBA = winograd.numba_kernels() is not None
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed or disabled")


def direct(x, w, b=None, relu=False, padding="valid"):
    """maxpool2x2(act(conv3x3(x, w) + b)) the plain way: im2col convolution, then pooling."""
    z, _ = conv.conv2d_forward(x, w, b, padding=padding, impl="numpy")
    n, h, wd, f = z.shape
    z = z[:, : h // 2 * 2, : wd // 2 * 2].reshape(n, h // 2, 2, wd // 2, 2, f).max(axis=(2, 4))
    return np.maximum(z, 0) if relu else z


# Non-square, odd and even sizes, 1 to 9 channels, both paddings, the smallest maps.
CASES = [
    ((2, 8, 8, 3, 4), "valid"),
    ((3, 9, 12, 5, 7), "valid"),
    ((1, 4, 5, 1, 3), "valid"),
    ((2, 13, 13, 9, 6), "valid"),
    ((4, 7, 6, 3, 2), "same"),
    ((2, 2, 3, 4, 5), "same"),
    ((1, 10, 5, 2, 8), "same"),
]


def data(rng, case, dtype):
    (n, h, w, c, f), _ = case
    return (
        rng.standard_normal((n, h, w, c)).astype(dtype),
        rng.standard_normal((3, 3, c, f)).astype(dtype),
        rng.standard_normal(f).astype(dtype),
    )


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("relu", [True, False])
def test_numpy_reference_equals_the_direct_convolution(case, relu, rng):
    x, w, b = data(rng, case, np.float64)
    padding = case[1]
    ref = direct(x, w, b, relu, padding)
    got = winograd.conv3x3_max_pool2x2(x, w, b, relu, padding)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@needs_numba
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
def test_compiled_path_equals_the_direct_convolution(case, dtype, bias, rng):
    x, w, b = data(rng, case, dtype)
    b = b if bias else None
    padding = case[1]
    ref = direct(
        x.astype(np.float64),
        w.astype(np.float64),
        None if b is None else b.astype(np.float64),
        True,
        padding,
    )
    plan = winograd.WinogradConvPool(x.shape, w.shape[3], dtype, padding)
    out = np.full(plan.out_shape, np.nan, dtype)
    got = plan.run(x, w, b, True, out)
    assert got is out and got.dtype == dtype and got.shape == ref.shape
    # float32: the transforms add before multiplying, a few ulps of the largest value
    tol = 1e-12 if dtype == np.float64 else 1e-5 * np.abs(ref).max()
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol)
    np.testing.assert_array_equal(plan.run(x, w, b, True, out), got)  # buffers reused


@needs_numba
def test_filter_transform_is_redone_when_the_weights_change(rng):
    """The transformed filters are kept between calls: another kernel array, or the same
    array written in place followed by ``weights_changed()``, transforms again."""
    from filterbank.backend import weights_changed

    x, w, b = data(rng, CASES[0], np.float64)
    plan = winograd.WinogradConvPool(x.shape, w.shape[3], np.float64, CASES[0][1])
    out = np.empty(plan.out_shape)

    def check(kernel):
        want = direct(x, kernel, b, True, CASES[0][1])
        np.testing.assert_allclose(plan.run(x, kernel, b, True, out), want, atol=1e-12)

    check(w)
    check(w * 2.0)  # another array
    w[...] = -w  # in place, said
    weights_changed()
    check(w)


@needs_numba
def test_compiled_transforms_equal_the_numpy_transforms(rng):
    k = winograd.numba_kernels()
    x = rng.standard_normal((2, 9, 7, 5))
    w = rng.standard_normal((3, 3, 5, 6))
    u = np.empty((16, 5, 6))
    k.kernel_transform(w, u)
    np.testing.assert_allclose(u, winograd.kernel_transform(w), rtol=1e-14, atol=1e-14)
    th, tw = 3, 2
    v = np.full((2 * th * tw, 16 * 5 + 3), np.nan)  # longer rows: the padding is left alone
    k.input_transform(x, th, tw, v)
    np.testing.assert_allclose(
        v[:, :80], winograd.input_transform(x, th, tw), rtol=1e-14, atol=1e-14
    )
    assert np.isnan(v[:, 80:]).all()
    m = rng.standard_normal((2 * th * tw, 16 * 6))
    b = rng.standard_normal(6)
    y = np.empty((2, th, tw, 6))
    k.output_max_pool(m, b, False, y)
    np.testing.assert_allclose(
        y, winograd.output_max_pool(m, b, False, 2, th, tw), rtol=1e-14, atol=1e-14
    )


@needs_numba
def test_a_nan_wins_the_pooling_as_in_the_other_kernels():
    k = winograd.numba_kernels()
    m = np.zeros((1, 16), np.float32)
    m[0, 5] = np.nan  # the middle of the tile: reaches all four outputs
    y = np.empty((1, 1, 1, 1), np.float32)
    k.output_max_pool(m, np.zeros(1, np.float32), True, y)
    assert np.isnan(y).all()
    assert np.isnan(winograd.output_max_pool(m, None, True, 1, 1, 1)).all()


@needs_numba
def test_large_batches_run_in_even_chunks(rng, monkeypatch):
    monkeypatch.setattr(winograd, "CHUNK_ELEMENTS", 3 * 6 * 16 * 4 + 1)  # ~3 samples
    x = rng.standard_normal((10, 8, 14, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    plan = winograd.WinogradConvPool(x.shape, 4, np.float32)
    assert plan.chunk < 10 and plan._m.shape[0] == plan.chunk * 3 * 6
    got = plan.run(x, w, None, False, np.empty(plan.out_shape, np.float32))
    ref = direct(x.astype(np.float64), w.astype(np.float64))
    np.testing.assert_allclose(got, ref, atol=1e-5 * np.abs(ref).max())


def test_row_lengths_avoid_strides_at_multiples_of_one_kib():
    for elements in (16, 256, 512, 1008, 1024, 4096, 16 * 63):  # 16 * channels
        for itemsize in (4, 8):
            n = winograd._row_length(elements, itemsize)
            assert n > elements and (n * itemsize) % 1024 != 0 and (n * itemsize) % 64 == 0


def test_supports_only_what_the_transforms_compute():
    ok = dict(
        kernel_size=(3, 3),
        strides=(1, 1),
        dilation=(1, 1),
        padding="valid",
        pool_size=(2, 2),
        pool_strides=(2, 2),
        pool_padding="valid",
        x_shape=(64, 13, 13, 32),
    )
    assert winograd.supports(**ok)
    assert winograd.supports(**{**ok, "padding": "same"})
    for change in [
        {"kernel_size": (3, 2)},
        {"kernel_size": (5, 5)},
        {"strides": (2, 2)},
        {"dilation": (2, 2)},
        {"pool_size": (3, 3)},
        {"pool_strides": (1, 1)},
        {"pool_padding": "same"},
        {"padding": "causal"},
        {"x_shape": (64, 13, 13, winograd.MIN_CHANNELS - 1)},  # too thin
        {"x_shape": (1, 9, 9, 32)},  # too few tiles: 1 image of 3x3 cells
        {"x_shape": (512, 3, 40, 32)},
    ]:  # a 1-row map has no pooled row
        assert not winograd.supports(**{**ok, **change}), change


@needs_numba
def test_needs_numba_or_says_so(monkeypatch):
    monkeypatch.setattr(winograd, "numba_kernels", lambda: None)
    with pytest.raises(RuntimeError, match="pip install numba"):
        winograd.WinogradConvPool((1, 4, 4, 1), 2, np.float32)


# ---- the convolution without pooling -------------------------------------------------------
@needs_numba
@pytest.mark.parametrize("case", CASES + [((2, 26, 26, 16, 8), "valid")])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias, relu", [(True, True), (False, False)])
def test_unpooled_convolution_equals_the_direct_one(case, dtype, bias, relu, rng):
    x, w, b = data(rng, case, dtype)
    b = b if bias else None
    padding = case[1]
    z, _ = conv.conv2d_forward(
        x.astype(np.float64),
        w.astype(np.float64),
        None if b is None else b.astype(np.float64),
        padding=padding,
        impl="numpy",
    )
    ref = np.maximum(z, 0) if relu else z
    plan = winograd.WinogradConv(x.shape, w.shape[3], dtype, padding)
    out = np.full(plan.out_shape, np.nan, dtype)  # every cell must be written, none past it
    got = plan.run(x, w, b, relu, out)
    assert got.shape == ref.shape
    tol = 1e-12 if dtype == np.float64 else 1e-5 * np.abs(ref).max()
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol)


def test_supports_conv_leaves_wasteful_tilings_to_the_gemm():
    ok = dict(
        kernel_size=(3, 3),
        strides=(1, 1),
        dilation=(1, 1),
        padding="valid",
        x_shape=(16, 26, 26, 64),
    )
    assert winograd.supports_conv(**ok) and winograd.supports_conv(**{**ok, "padding": "same"})
    for change in [
        {"kernel_size": (5, 5)},
        {"strides": (2, 2)},
        {"dilation": (2, 2)},
        {"x_shape": (16, 26, 26, 3)},  # too thin
        {"x_shape": (64, 5, 5, 64)},  # 3x3 output: 4 tiles for 9 cells, 1.27x
        {"x_shape": (1, 12, 12, 64)},  # 25 tiles: too few
        {"x_shape": (16, 26, 64)},
    ]:  # not an image batch
        assert not winograd.supports_conv(**{**ok, **change}), change
