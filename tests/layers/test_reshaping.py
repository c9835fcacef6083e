"""Flatten, Reshape, ZeroPadding2D: shapes, values, gradients, errors, configs."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from tests.gradcheck import check_layer


def test_flatten_keeps_batch_and_channels_last_order():
    x = np.arange(2 * 3 * 3 * 2, dtype="float32").reshape(2, 3, 3, 2)
    y = layers.Flatten()(x)
    np.testing.assert_array_equal(y, x.reshape(2, 18))
    assert layers.Flatten()(keras.Input(shape=(3, 3, 128))).shape == (None, 1152)
    assert layers.Flatten()(keras.Input(shape=(None, 4))).shape == (None, None)
    assert layers.Flatten()(np.zeros((3,), "float32")).shape == (3, 1)


def test_reshape_infers_minus_one_and_symbolic_shapes():
    assert layers.Reshape((28, 28, 1))(keras.Input(shape=(784,))).shape == (None, 28, 28, 1)
    assert layers.Reshape((-1, 4))(keras.Input(shape=(3, 8))).shape == (None, 6, 4)
    assert layers.Reshape((-1, 4))(keras.Input(shape=(None, 8))).shape == (None, None, 4)
    assert layers.Reshape(6)(np.zeros((2, 3, 2))).shape == (2, 6)
    x = np.arange(24.0).reshape(2, 12)
    np.testing.assert_array_equal(layers.Reshape((3, -1))(x), x.reshape(2, 3, 4))


def test_zero_padding_forms():
    assert layers.ZeroPadding2D().padding == ((1, 1), (1, 1))
    assert layers.ZeroPadding2D(2).padding == ((2, 2), (2, 2))
    assert layers.ZeroPadding2D((1, 3)).padding == ((1, 1), (3, 3))
    assert layers.ZeroPadding2D(((0, 1), (2, 0))).padding == ((0, 1), (2, 0))
    assert layers.ZeroPadding2D(((0, 1), (2, 0)))(keras.Input(shape=(5, 6, 3))).shape == (
        None,
        6,
        8,
        3,
    )
    x = np.ones((1, 2, 3, 1), "float32")
    y = layers.ZeroPadding2D(((1, 0), (0, 2)))(x)[0, :, :, 0]
    np.testing.assert_array_equal(y, [[0, 0, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 0, 0]])


@pytest.mark.parametrize(
    "layer,shape",
    [
        (layers.Flatten(), (2, 3, 2, 2)),
        (layers.Reshape((-1, 3)), (2, 4, 3)),
        (layers.ZeroPadding2D(((1, 2), (0, 1))), (2, 3, 2, 2)),
    ],
)
def test_gradients(float64, layer, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    assert check_layer(layer, x) == x.size


def test_errors():
    with pytest.raises(
        ValueError,
        match=(
            r"Layer 'reshape' cannot reshape input of shape \(None, 4, 4\) "
            r"\(16 values per sample\) to target_shape \(5, 3\) \(15 values per sample\)\. "
            r"Make the product"
        ),
    ):
        layers.Reshape((5, 3))(keras.Input(shape=(4, 4)))
    with pytest.raises(
        ValueError,
        match=r"\(10 values per sample\) to target_shape \(-1, 3\) "
        r"\(a multiple of 3 values per sample\)",
    ):
        layers.Reshape((-1, 3), name="r2")(np.zeros((2, 10)))
    with pytest.raises(ValueError, match=r"target_shape may hold at most one -1"):
        layers.Reshape((-1, -1))
    with pytest.raises(
        ValueError,
        match=r"argument target_shape expects a tuple of positive "
        r"integers \(one of them may be -1\), got \(0, 3\)",
    ):
        layers.Reshape((0, 3))
    with pytest.raises(
        ValueError,
        match=r"Layer 'zero_padding2d' argument padding expects a "
        r"non-negative int, a pair .* got \(1, 2, 3\)",
    ):
        layers.ZeroPadding2D((1, 2, 3))
    with pytest.raises(ValueError, match=r"got -1"):
        layers.ZeroPadding2D(-1)
    with pytest.raises(ValueError, match=r"got \(\(1, 2\), 3\)"):
        layers.ZeroPadding2D(((1, 2), 3))
    with pytest.raises(
        ValueError,
        match=r"expects 4 dims \(batch, height, width, channels\), "
        r"got shape \(None, 5, 5\)\. Add a channel axis",
    ):
        layers.ZeroPadding2D()(keras.Input(shape=(5, 5)))
    with pytest.raises(ValueError, match="channels_last' only"):
        layers.Flatten(data_format="channels_first")


@pytest.mark.parametrize(
    "layer",
    [
        layers.Flatten(name="f"),
        layers.Reshape((2, -1)),
        layers.ZeroPadding2D(((1, 2), (3, 4))),
        layers.ZeroPadding2D(3, trainable=False),
    ],
)
def test_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 2))
    np.testing.assert_array_equal(clone(x), layer(x))
