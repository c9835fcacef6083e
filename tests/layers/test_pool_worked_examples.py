"""The pooling parts of /work/shared/worked-examples.md (#1, #4, #6, #7), via the public API."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from tests.worked_example_7 import DIAG_MAP_TIMES_9, FILTERS, x_image


def as_batch(image):
    """(H, W) -> (1, H, W, 1) float32, the shape a Keras layer takes."""
    return np.asarray(image, dtype="float32")[None, :, :, None]


def test_example_6_max_pooling_cs231n():
    x = [[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]
    y = layers.MaxPooling2D((2, 2), strides=2)(as_batch(x))
    np.testing.assert_array_equal(y[0, :, :, 0], [[6, 8], [3, 4]])


def test_example_1_toy_cnn_pool_stride_1():
    conv_out = [[2, 0], [3, 5]]  # Conv(I) from the document; ReLU leaves it
    relu = layers.ReLU()(as_batch(conv_out))
    y = layers.MaxPooling2D((2, 2), strides=1)(relu)
    assert y.shape == (1, 1, 1, 1) and y[0, 0, 0, 0] == 5


def test_example_4_pool_halves_64x64x3():
    pool = layers.MaxPooling2D(pool_size=2, strides=2)
    assert pool(keras.Input(shape=(64, 64, 3))).shape == (None, 32, 32, 3)
    assert layers.MaxPooling2D(2, 2)(np.zeros((1, 64, 64, 3), "float32")).shape == (1, 32, 32, 3)


@pytest.mark.parametrize("k,h,w", [(2, 16, 16), (2, 17, 23), (3, 27, 18), (3, 20, 31)])
def test_example_4_two_pools_of_k_equal_one_of_k_squared(k, h, w):
    x = np.random.default_rng(k * h + w).standard_normal((2, h, w, 3)).astype("float32")
    twice = layers.MaxPooling2D(k, k)(layers.MaxPooling2D(k, k)(x))
    once = layers.MaxPooling2D(k * k, k * k)(x)
    assert once.shape == (2, h // (k * k), w // (k * k), 3)
    np.testing.assert_array_equal(twice, once)


# ---- example 7: X's and O's ---------------------------------------------------------------
def xo_image():
    return x_image("float64")


POOLED_TIMES_9 = {
    "diag": [[9, 3, 5, 3], [3, 9, 3, 5], [5, 3, 9, 1], [3, 5, 1, 7]],
    "x": [[5, 3, 5, 3], [3, 9, 5, 1], [5, 5, 5, 1], [3, 1, 1, 3]],
    "anti": [[3, 5, 9, 7], [5, 5, 9, 3], [9, 9, 1, 5], [7, 3, 5, 3]],
}


def response_map(img, f):
    """Valid cross-correlation divided by 9 (the mean of the products): 7x7."""
    out = np.zeros((7, 7))
    for i in range(7):
        for j in range(7):
            out[i, j] = (img[i : i + 3, j : j + 3] * f).sum() / 9
    return out


def test_example_7_response_maps():
    img = xo_image()
    maps = {name: response_map(img, f) for name, f in FILTERS.items()}
    np.testing.assert_allclose(maps["diag"] * 9, DIAG_MAP_TIMES_9)
    np.testing.assert_allclose(maps["x"][0] * 9, [3, -5, 1, -1, 1, -5, 3])
    assert maps["x"][3, 3] * 9 == pytest.approx(9)
    np.testing.assert_allclose(maps["anti"], maps["diag"][:, ::-1])


def test_example_7_max_pool_same_gives_4x4_maps():
    img = xo_image()
    stack = np.stack([response_map(img, f) for f in FILTERS.values()], axis=-1)[None]
    pool = layers.MaxPooling2D(pool_size=(2, 2), strides=2, padding="same")
    assert pool(keras.Input(shape=(7, 7, 3))).shape == (None, 4, 4, 3)  # ceil(7 / 2)
    pooled = layers.MaxPooling2D(pool_size=(2, 2), strides=2, padding="same")(
        stack.astype("float32")
    )
    assert pooled.shape == (1, 4, 4, 3)
    for c, name in enumerate(FILTERS):
        np.testing.assert_allclose(pooled[0, :, :, c] * 9, POOLED_TIMES_9[name], atol=1e-5)


def test_example_7_relu_zeroes_negatives():
    maps = np.stack([response_map(xo_image(), f) for f in FILTERS.values()], axis=-1)[None]
    rectified = layers.ReLU()(maps.astype("float32"))
    np.testing.assert_allclose(rectified, np.maximum(maps, 0), atol=1e-7)
    assert (rectified >= 0).all() and (rectified[maps > 0] > 0).all()
    assert (rectified[maps < 0] == 0).all() and (maps < 0).any()
