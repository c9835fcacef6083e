"""The seed documents' convolution examples, through the public layer API, as a student would.

Numbers from /work/shared/worked-examples.md (examples 1, 3, 4, 5, 7, 8 and 9's conv layers).
"""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from tests import worked_example_7
from tests.worked_example_7 import DIAG_MAP_TIMES_9, FILTERS


def conv2d_with(kernel_2d, **kwargs):
    """A one-filter, no-bias Conv2D whose 2D kernel is ``kernel_2d``."""
    k = np.asarray(kernel_2d, dtype="float32")
    layer = layers.Conv2D(1, k.shape, use_bias=False, **kwargs)
    layer.build((None, None, None, 1))
    layer.set_weights([k[:, :, None, None]])
    return layer


def image(rows):
    return np.asarray(rows, dtype="float32")[None, :, :, None]


# ---- 1. Toy CNN (MITx 6.86x) -------------------------------------------------------------
def test_example1_toy_cnn():
    conv = conv2d_with([[1, 0], [0, 1]], activation="relu")
    out = conv(image([[1, 0, 2], [3, 1, 0], [0, 0, 4]]))
    np.testing.assert_array_equal(out[0, :, :, 0], [[2, 0], [3, 5]])
    assert out.max() == 5  # the 2x2 max pool with stride 1 over the 2x2 map


# ---- 3. 1D filters (MIT 6.036) -----------------------------------------------------------
X = np.array([0, 0, 1, 1, 1, 0, 1, 0, 0, 0], dtype="float32")


def test_example3_left_edge_filter_with_explicit_left_pad():
    conv = layers.Conv1D(1, kernel_size=2, use_bias=False)
    conv.build((None, 11, 1))
    conv.set_weights([np.array([-1, 1], "float32").reshape(2, 1, 1)])  # F1 = (-1, +1)
    padded = np.pad(X, (1, 0))  # one zero on the left: Y_i = F1 . (X_{i-1}, X_i)
    y = conv(padded.reshape(1, 11, 1))
    np.testing.assert_array_equal(y.ravel(), [0, 0, 1, 0, 0, -1, 1, -1, 0, 0])


def test_example3_left_edge_filter_with_causal_padding():
    conv = layers.Conv1D(1, kernel_size=2, padding="causal", use_bias=False)
    conv.build((None, 10, 1))
    conv.set_weights([np.array([-1, 1], "float32").reshape(2, 1, 1)])
    y = conv(X.reshape(1, 10, 1))
    assert y.shape == (1, 10, 1)  # the output keeps the input's length
    np.testing.assert_array_equal(y.ravel(), [0, 0, 1, 0, 0, -1, 1, -1, 0, 0])


def test_example3_centered_filter_finds_isolated_pixels():
    conv = layers.Conv1D(1, kernel_size=3, padding="same", use_bias=False)
    conv.build((None, 10, 1))
    conv.set_weights([np.array([-1, 1, -1], "float32").reshape(3, 1, 1)])  # F2
    y = conv(X.reshape(1, 10, 1)).ravel()
    # Y_i = -X_{i-1} + X_i - X_{i+1}: only the lone pixel at 6 gives +1.
    np.testing.assert_array_equal(y, [0, -1, 0, -1, 0, -2, 1, -1, 0, 0])
    assert int(np.argmax(y)) == 6 and np.sum(y > 0) == 1


# ---- 4. Layer arithmetic (6.036 and CS231n) ------------------------------------------------
@pytest.mark.parametrize("stride,expected", [(1, 5), (2, 3), (3, 2)])
def test_example4_output_size_formula(stride, expected):
    # (N - F + 2P)/S + 1 with N=7, F=3, P=0: 5, 3, and 2.33 "doesn't fit" (libraries floor: 2).
    out = layers.Conv2D(1, 3, strides=stride)(keras.Input(shape=(7, 7, 1)))
    assert out.shape == (None, expected, expected, 1)
    out1d = layers.Conv1D(1, 3, strides=stride)(np.zeros((1, 7, 1), "float32"))
    assert out1d.shape == (1, expected, 1)


def test_example4_zero_pad_one_keeps_7x7():
    x = np.random.default_rng(0).standard_normal((1, 7, 7, 1)).astype("float32")
    same = layers.Conv2D(1, 3, padding="same", use_bias=False)
    y_same = same(x)
    assert y_same.shape == (1, 7, 7, 1)
    valid = layers.Conv2D(1, 3, use_bias=False)  # zero pad 1 by hand, then a valid conv
    valid.build((None, 9, 9, 1))
    valid.set_weights(same.get_weights())
    y_padded = valid(np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))
    np.testing.assert_allclose(y_padded, y_same, rtol=1e-6, atol=1e-6)


def test_example4_six_5x5_filters_on_32x32x3():
    conv = layers.Conv2D(6, (5, 5))
    assert conv(keras.Input(shape=(32, 32, 3))).shape == (None, 28, 28, 6)
    f, d1, k = 5, 3, 6
    assert conv.count_params() == (f * f * d1) * k + k == 456
    assert conv.get_weights()[0].size == (f * f * d1) * k and conv.get_weights()[1].size == k


@pytest.mark.parametrize("n,s", [(7, 1), (7, 2), (8, 2), (7, 3), (28, 3)])
def test_example4_same_padding_gives_ceil(n, s):
    out = layers.Conv2D(1, 3, strides=s, padding="same")(keras.Input(shape=(n, n, 1)))
    assert out.shape[1:3] == (-(-n // s), -(-n // s))


def test_example9_conv_param_counts():
    # The seed models' conv layers: 320, 18,496, 36,928 (Sequential) and 73,856 (functional).
    for cin, filters, params in [
        (1, 32, 320),
        (32, 64, 18_496),
        (64, 64, 36_928),
        (64, 128, 73_856),
    ]:
        conv = layers.Conv2D(filters, (3, 3), activation="relu")
        conv(keras.Input(shape=(13, 13, cin)))
        assert conv.count_params() == params


# ---- 5. The 5x5 activation map (CS231n) ----------------------------------------------------
def test_example5_activation_map():
    conv = conv2d_with([[0, 1, 2], [2, 2, 0], [0, 1, 2]])
    x = image([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]])
    np.testing.assert_array_equal(conv(x)[0, :, :, 0], [[12, 12, 17], [10, 17, 19], [9, 6, 14]])


# ---- 7. X's and O's (after Brandon Rohrer) -------------------------------------------------


def x_image():
    return worked_example_7.x_image()[None, :, :, None]


def test_example7_x_and_o_maps():
    conv = layers.Conv2D(3, (3, 3), use_bias=False)
    conv.build((None, 9, 9, 1))
    conv.set_weights([np.stack(list(FILTERS.values()), axis=-1).astype("float32")[:, :, None, :]])
    maps = conv(x_image())[0]  # (7, 7, 3): sums of the 9 products, i.e. the response map times 9
    diag, xmap, anti = maps[..., 0], maps[..., 1], maps[..., 2]
    np.testing.assert_array_equal(diag, DIAG_MAP_TIMES_9)
    np.testing.assert_array_equal(xmap[0], [3, -5, 1, -1, 1, -5, 3])
    assert xmap[3, 3] == 9
    np.testing.assert_array_equal(anti, np.fliplr(DIAG_MAP_TIMES_9))
    # The slides' map is the mean of the products: kernel / 9.
    mean_conv = layers.Conv2D(3, (3, 3), use_bias=False)
    mean_conv.build((None, 9, 9, 1))
    mean_conv.set_weights([conv.get_weights()[0] / 9])
    np.testing.assert_allclose(
        mean_conv(x_image())[0, :, :, 0], np.array(DIAG_MAP_TIMES_9) / 9, rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(mean_conv(x_image())[0, 0, 0, 0], 0.77, atol=0.01)


# ---- 8. Back-propagation through a 1D conv layer (MIT 6.036) -------------------------------
@pytest.mark.parametrize("n,k,seed", [(8, 3, 0), (10, 5, 1), (7, 3, 2)])
def test_example8_closed_form_kernel_gradient(n, k, seed, float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    w1 = rng.standard_normal(k)
    w2 = rng.standard_normal(n)
    y = 0.7

    conv = layers.Conv1D(1, k, padding="same", activation="relu", use_bias=False)
    conv.build((None, n, 1))
    conv.set_weights([w1.reshape(k, 1, 1)])
    a1 = conv(x.reshape(1, n, 1))  # (1, n, 1)
    dense = layers.Dense(1, use_bias=False)
    dense(a1.reshape(1, n))  # builds it
    dense.set_weights([w2.reshape(n, 1)])
    a2 = dense(a1.reshape(1, n))  # A2 = W2^T A1, shape (1, 1)
    dloss_da2 = 2 * (a2 - y)  # d/dA2 of (A2 - y)^2
    da1 = dense.backward(dloss_da2)
    conv.backward(da1.reshape(1, n, 1))
    got = conv.grads["kernel"].ravel()

    z1 = np.array(
        [
            sum(x[i - k // 2 + j] * w1[j] for j in range(k) if 0 <= i - k // 2 + j < n)
            for i in range(n)
        ]
    )
    assert np.all(np.abs(z1) > 1e-6)  # no ReLU kink
    closed = [
        sum(
            x[i - k // 2 + j] * (z1[i] > 0) * dloss_da2.item() * w2[i]
            for i in range(n)
            if 0 <= i - k // 2 + j < n
        )
        for j in range(k)
    ]
    np.testing.assert_allclose(got, closed, rtol=1e-12, atol=1e-12)
