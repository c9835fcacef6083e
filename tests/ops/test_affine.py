"""ops.affine: the warp against a naive per-pixel loop, exact cases, the adjoint, Keras 3."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from filterbank.ops import affine as A


# ---- a naive reference: one pixel at a time, straight from the definitions --------------------
def _extend(img, iy, ix, mode, fill_value):
    """Pixel (iy, ix) of img (h, w, c) extended beyond its border by the fill rule."""
    h, w = img.shape[:2]

    def fold(i, n):
        if mode == "nearest":
            return min(max(i, 0), n - 1)
        if mode == "wrap":
            return i % n
        if mode == "reflect":  # d c b a | a b c d | d c b a
            i = i % (2 * n)
            return i if i < n else 2 * n - 1 - i
        return i

    if mode == "constant" and not (0 <= iy < h and 0 <= ix < w):
        return np.full(img.shape[2], fill_value)
    return img[fold(iy, h), fold(ix, w)]


def naive_warp(images, t, interpolation, fill_mode, fill_value=0.0):
    b, h, w, c = images.shape
    out = np.zeros_like(images, dtype=np.float64)
    for n in range(b):
        a0, a1, a2, b0, b1, b2, c0, c1 = t[n]
        for y in range(h):
            for x in range(w):
                k = c0 * x + c1 * y + 1
                sx, sy = (a0 * x + a1 * y + a2) / k, (b0 * x + b1 * y + b2) / k
                if interpolation == "nearest":
                    out[n, y, x] = _extend(
                        images[n], math.floor(sy + 0.5), math.floor(sx + 0.5), fill_mode, fill_value
                    )
                    continue
                y0, x0 = math.floor(sy), math.floor(sx)
                fy, fx = sy - y0, sx - x0
                for dy, wy in ((0, 1 - fy), (1, fy)):
                    for dx, wx in ((0, 1 - fx), (1, fx)):
                        out[n, y, x] += (
                            wy * wx * _extend(images[n], y0 + dy, x0 + dx, fill_mode, fill_value)
                        )
    return out


def _random_transforms(rng, b, h, w):
    angles = rng.uniform(-180, 180, b)
    t = A.rotation_transforms(angles, h, w)
    t[:, 2] += rng.uniform(-3, 3, b)
    t[:, 5] += rng.uniform(-3, 3, b)
    t[:, 0] *= rng.uniform(0.7, 1.4, b)
    t[:, 6:] = rng.uniform(-0.01, 0.01, (b, 2))  # a little perspective too
    return t


@pytest.mark.parametrize("fill_mode", A.FILL_MODES)
@pytest.mark.parametrize("interpolation", A.INTERPOLATIONS)
def test_warp_equals_the_naive_loop(fill_mode, interpolation):
    rng = np.random.default_rng(hash((fill_mode, interpolation)) % 2**32)
    images = rng.normal(size=(3, 7, 5, 2))
    t = _random_transforms(rng, 3, 7, 5)
    got = A.affine_transform(images, t, interpolation, fill_mode, fill_value=0.5)
    want = naive_warp(images, t, interpolation, fill_mode, fill_value=0.5)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_rotation_by_90_degrees_is_exact():
    img = np.arange(25, dtype=np.float64).reshape(1, 5, 5, 1)
    turned = A.affine_transform(img, A.rotation_transforms([90.0], 5, 5), "bilinear")
    # Keras's convention: a positive angle turns the picture counter-clockwise as displayed.
    np.testing.assert_allclose(turned[0, :, :, 0], np.rot90(img[0, :, :, 0], k=1), atol=1e-12)
    turned = A.affine_transform(img, A.rotation_transforms([-90.0], 5, 5), "nearest")
    np.testing.assert_array_equal(turned[0, :, :, 0], np.rot90(img[0, :, :, 0], k=-1))
    turned = A.affine_transform(img, A.rotation_transforms([180.0], 5, 5), "bilinear")
    np.testing.assert_allclose(turned[0, :, :, 0], img[0, ::-1, ::-1, 0], atol=1e-12)


def test_flips_are_exact():
    img = np.random.default_rng(0).normal(size=(2, 4, 6, 3))
    left_right = [-1, 0, 5, 0, 1, 0, 0, 0]
    up_down = [1, 0, 0, 0, -1, 3, 0, 0]
    np.testing.assert_array_equal(A.affine_transform(img, left_right), img[:, :, ::-1])
    np.testing.assert_array_equal(A.affine_transform(img, up_down), img[:, ::-1])


@pytest.mark.parametrize("fill_mode", A.FILL_MODES)
def test_translation_by_whole_pixels_is_exact_with_each_fill_mode(fill_mode):
    img = np.random.default_rng(1).normal(size=(1, 5, 6, 1))
    got = A.affine_transform(
        img, A.translation_transforms([2.0], [-1.0]), "bilinear", fill_mode, fill_value=-7.0
    )[0, :, :, 0]
    # down by 2, left by 1: out[y, x] = in[y - 2, x + 1], the rest by the fill rule
    pad = {"reflect": "symmetric", "wrap": "wrap", "nearest": "edge"}.get(fill_mode, "constant")
    kw = {"constant_values": -7.0} if pad == "constant" else {}
    padded = np.pad(img[0, :, :, 0], 3, mode=pad, **kw)
    np.testing.assert_array_equal(got, padded[3 - 2 : 3 - 2 + 5, 3 + 1 : 3 + 1 + 6])


def test_identity_transform_changes_nothing():
    img = np.random.default_rng(2).normal(size=(2, 3, 4, 2)).astype("float32")
    out = A.affine_transform(img, [1, 0, 0, 0, 1, 0, 0, 0])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, img)


@pytest.mark.parametrize("fill_mode", A.FILL_MODES)
@pytest.mark.parametrize("interpolation", A.INTERPOLATIONS)
def test_backward_is_the_adjoint_of_the_warp(fill_mode, interpolation):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 6, 5, 3))
    g = rng.normal(size=(2, 6, 5, 3))
    plan = A.affine_plan(x.shape, _random_transforms(rng, 2, 6, 5), interpolation, fill_mode)
    lhs = np.sum(A.apply_plan(x, plan, fill_value=0.0) * g)
    rhs = np.sum(x * A.apply_plan_adjoint(g, plan))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_bad_arguments_are_named():
    img = np.zeros((1, 3, 3, 1))
    with pytest.raises(ValueError, match="Unknown fill_mode 'mirror'"):
        A.affine_transform(img, [1, 0, 0, 0, 1, 0, 0, 0], fill_mode="mirror")
    with pytest.raises(ValueError, match="Unknown interpolation 'bicubic'"):
        A.affine_transform(img, [1, 0, 0, 0, 1, 0, 0, 0], interpolation="bicubic")
    with pytest.raises(ValueError, match=r"transform of shape \(8,\) or \(1, 8\)"):
        A.affine_transform(img, [1, 0, 0])
    with pytest.raises(ValueError, match="expects images of 4 dims"):
        A.affine_transform(img[0], [1, 0, 0, 0, 1, 0, 0, 0])


# ---- resizing ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape, size", [((2, 5, 7, 3), (8, 4)), ((1, 9, 6, 2), (3, 11))])
def test_bilinear_resize_equals_torch_interpolate(shape, size):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).normal(size=shape)
    want = torch.nn.functional.interpolate(
        torch.from_numpy(x).permute(0, 3, 1, 2), size=size, mode="bilinear", align_corners=False
    )
    np.testing.assert_allclose(
        A.resize(x, *size), want.permute(0, 2, 3, 1).numpy(), rtol=1e-12, atol=1e-12
    )


def test_nearest_resize_uses_half_pixel_centres():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(5).normal(size=(1, 7, 5, 1))
    want = torch.nn.functional.interpolate(
        torch.from_numpy(x).permute(0, 3, 1, 2), size=(3, 9), mode="nearest-exact"
    )
    np.testing.assert_array_equal(A.resize(x, 3, 9, "nearest"), want.permute(0, 2, 3, 1).numpy())


def test_resize_backward_is_the_adjoint():
    rng = np.random.default_rng(6)
    x, g = rng.normal(size=(2, 5, 7, 2)), rng.normal(size=(2, 3, 9, 2))
    for mode in A.INTERPOLATIONS:
        lhs = np.sum(A.resize(x, 3, 9, mode) * g)
        assert lhs == pytest.approx(np.sum(x * A.resize_backward(g, (5, 7), mode)), rel=1e-12)


# ---- Keras 3 as a second oracle ------------------------------------------------------------
@pytest.mark.parametrize("fill_mode", A.FILL_MODES)
@pytest.mark.parametrize("interpolation", A.INTERPOLATIONS)
def test_warp_equals_keras_affine_transform(fill_mode, interpolation):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(7)
    images = rng.normal(size=(2, 8, 6, 3)).astype("float32")
    t = A.rotation_transforms(rng.uniform(-60, 60, 2), 8, 6)
    t[:, 2] += 0.37
    want = keras.ops.convert_to_numpy(
        keras.ops.image.affine_transform(
            images,
            t.astype("float32"),
            interpolation=interpolation,
            fill_mode=fill_mode,
            fill_value=0.25,
        )
    )
    got = A.affine_transform(images, t, interpolation, fill_mode, fill_value=0.25)
    # float32 coordinates in Keras: a nearest pick can flip at an exact .5 tie; compare most
    close = np.isclose(got, want, rtol=1e-4, atol=1e-4)
    assert close.mean() > (0.98 if interpolation == "nearest" else 0.999), close.mean()
