"""Pooling layers: shapes, gradients (float64 finite differences), errors, configs."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from tests.gradcheck import check_layer

POOL_CLASSES = [
    layers.MaxPooling1D,
    layers.MaxPooling2D,
    layers.AveragePooling1D,
    layers.AveragePooling2D,
]
GLOBAL_CLASSES = [
    layers.GlobalMaxPooling1D,
    layers.GlobalMaxPooling2D,
    layers.GlobalAveragePooling1D,
    layers.GlobalAveragePooling2D,
]


def distinct(shape, seed=0):
    """Values 0.1 apart in random order: no ties, so max pooling is differentiable."""
    rng = np.random.default_rng(seed)
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 1.0


# ---- shapes -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls,kwargs,in_shape,out_shape",
    [
        (layers.MaxPooling2D, {}, (26, 26, 32), (None, 13, 13, 32)),
        (layers.MaxPooling2D, {}, (11, 11, 64), (None, 5, 5, 64)),
        (layers.MaxPooling2D, {"pool_size": 2, "padding": "same"}, (7, 7, 3), (None, 4, 4, 3)),
        (layers.MaxPooling2D, {"pool_size": (3, 2), "strides": (2, 1)}, (9, 6, 2), (None, 4, 5, 2)),
        (
            layers.AveragePooling2D,
            {"pool_size": 3, "strides": 2, "padding": "same"},
            (5, 8, 1),
            (None, 3, 4, 1),
        ),
        (layers.MaxPooling2D, {}, (None, None, 4), (None, None, None, 4)),
        (layers.MaxPooling1D, {}, (9, 4), (None, 4, 4)),
        (
            layers.MaxPooling1D,
            {"pool_size": 3, "strides": 1, "padding": "same"},
            (9, 4),
            (None, 9, 4),
        ),
        (layers.AveragePooling1D, {"pool_size": 4, "strides": 3}, (10, 2), (None, 3, 2)),
        (layers.GlobalMaxPooling2D, {}, (5, 6, 7), (None, 7)),
        (layers.GlobalAveragePooling2D, {"keepdims": True}, (5, 6, 7), (None, 1, 1, 7)),
        (layers.GlobalMaxPooling1D, {"keepdims": True}, (5, 7), (None, 1, 7)),
        (layers.GlobalAveragePooling1D, {}, (5, 7), (None, 7)),
    ],
)
def test_symbolic_output_shapes_match_eager(cls, kwargs, in_shape, out_shape):
    layer = cls(**kwargs)
    assert layer(keras.Input(shape=in_shape)).shape == out_shape
    concrete = tuple(8 if d is None else d for d in in_shape)
    y = cls(**kwargs)(np.zeros((2, *concrete), "float32"))
    expected = cls(**kwargs).compute_output_shape((2, *concrete))
    assert y.shape == expected and y.dtype == np.float32


def test_keras_defaults_and_aliases():
    assert layers.MaxPooling2D().pool_size == (2, 2) and layers.MaxPooling2D().strides == (2, 2)
    assert layers.MaxPooling1D().pool_size == (2,)
    p = layers.AveragePooling2D(3, strides=1)
    assert p.pool_size == (3, 3) and p.strides == (1, 1) and p.padding == "valid"
    assert layers.MaxPooling2D(padding="SAME").padding == "same"
    assert layers.MaxPool2D is layers.MaxPooling2D and layers.AvgPool1D is layers.AveragePooling1D
    assert layers.GlobalAvgPool2D is layers.GlobalAveragePooling2D
    layers.clear_session()
    assert layers.MaxPooling2D().name == "max_pooling2d"
    assert layers.MaxPooling2D().name == "max_pooling2d_1"
    assert layers.GlobalAveragePooling1D().name == "global_average_pooling1d"


# ---- gradients ----------------------------------------------------------------------------
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize(
    "cls,kwargs,shape",
    [
        (layers.MaxPooling2D, {}, (2, 5, 6, 3)),
        (layers.MaxPooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 5, 4, 2)),
        (layers.MaxPooling2D, {"pool_size": (2, 3), "strides": 1}, (1, 4, 5, 2)),
        (layers.AveragePooling2D, {}, (2, 5, 6, 3)),
        (layers.AveragePooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 5, 4, 2)),
        (layers.MaxPooling1D, {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 7, 3)),
        (layers.AveragePooling1D, {"pool_size": 3, "strides": 1, "padding": "same"}, (2, 6, 2)),
        (layers.GlobalMaxPooling2D, {}, (2, 3, 4, 3)),
        (layers.GlobalMaxPooling1D, {"keepdims": True}, (2, 5, 3)),
        (layers.GlobalAveragePooling2D, {"keepdims": True}, (2, 3, 4, 3)),
        (layers.GlobalAveragePooling1D, {}, (2, 5, 3)),
    ],
)
def test_pooling_gradients(float64, cls, kwargs, shape, training):
    checked = check_layer(cls(**kwargs), distinct(shape, seed=len(shape)), training=training)
    assert checked == int(np.prod(shape))


def test_max_pool_backward_after_inference_forward_and_after_training_forward():
    x = distinct((2, 6, 6, 4)).astype("float32")
    g = np.random.default_rng(0).standard_normal((2, 3, 3, 4)).astype("float32")
    a, b = layers.MaxPooling2D(), layers.MaxPooling2D()
    a(x, training=True)
    b(x, training=False)
    assert a._x is None  # training keeps only the argmax
    np.testing.assert_array_equal(a.backward(g), b.backward(g))
    assert a.backward(g).dtype == np.float32


def test_compute_input_grad_false_skips_the_work():
    layer = layers.AveragePooling2D()
    layer(np.ones((1, 4, 4, 1)))
    layer.compute_input_grad = False
    assert layer.backward(np.ones((1, 2, 2, 1), "float32")) is None


# ---- errors -------------------------------------------------------------------------------
def test_wrong_rank_uses_the_standard_message():
    with pytest.raises(
        ValueError,
        match=r"Input 0 of layer 'max_pooling2d' expects 4 dims "
        r"\(batch, height, width, channels\), got shape "
        r"\(None, 28, 28\)\. Add a channel axis",
    ):
        layers.MaxPooling2D()(keras.Input(shape=(28, 28)))
    with pytest.raises(
        ValueError,
        match=r"layer 'global_average_pooling1d' expects 3 dims "
        r"\(batch, steps, channels\), "
        r"got shape \(4, 5, 5, 2\)",
    ):
        layers.GlobalAveragePooling1D()(np.zeros((4, 5, 5, 2)))


def test_window_larger_than_input_explains_the_output_size():
    with pytest.raises(
        ValueError,
        match=(
            r"Layer 'max_pooling2d' pool_size \(3, 3\) does not fit its input of shape "
            r"\(None, 2, 5, 8\) with padding='valid': output height = floor\(\(2 - 3\) / 1\) "
            r"\+ 1 = 0, needs >= 1\. Use padding='same'"
        ),
    ):
        layers.MaxPooling2D(3, strides=1)(keras.Input(shape=(2, 5, 8)))
    with pytest.raises(
        ValueError,
        match=r"pool_size 4 does not fit .* output steps = "
        r"floor\(\(3 - 4\) / 4\) \+ 1 = 0",
    ):
        layers.AveragePooling1D(4)(np.zeros((1, 3, 2)))
    # unknown sizes at graph time are checked on the data
    layer = layers.MaxPooling2D(3)
    layer(keras.Input(shape=(None, None, 1)))
    with pytest.raises(ValueError, match=r"output width = floor\(\(2 - 3\) / 3\) \+ 1 = 0"):
        layer.forward(np.zeros((1, 5, 2, 1), "float32"))
    assert layers.MaxPooling2D(3, padding="same")(np.zeros((1, 2, 2, 1))).shape == (1, 1, 1, 1)


def test_bad_arguments_name_the_layer_and_the_fix():
    with pytest.raises(
        ValueError,
        match=r"Layer 'max_pooling2d' argument padding expects 'valid' "
        r"or 'same', got 'smae'\. Did you mean 'same'\?",
    ):
        layers.MaxPooling2D(padding="smae")
    with pytest.raises(
        ValueError,
        match=r"argument pool_size expects a positive integer or a "
        r"tuple of 2 positive integers, got \(2, 0\)",
    ):
        layers.MaxPooling2D((2, 0))
    with pytest.raises(
        ValueError,
        match=r"argument strides expects .* tuple of 1 positive "
        r"integers, got \(2, 2\)\. Pass e.g\. strides=2",
    ):
        layers.MaxPooling1D(strides=(2, 2))
    with pytest.raises(ValueError, match=r"supports data_format='channels_last' only"):
        layers.AveragePooling2D(data_format="channels_first")
    with pytest.raises(ValueError, match=r"Did you mean 'channels_last'"):
        layers.GlobalMaxPooling2D(data_format="channel_last")
    with pytest.raises(
        TypeError,
        match=r"unexpected keyword argument 'pool'.*Did you mean "
        r"'pool_size'",
    ):
        layers.MaxPooling2D(pool=2)


# ---- configs ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "layer",
    [
        layers.MaxPooling2D((3, 2), strides=(1, 2), padding="same", name="p"),
        layers.AveragePooling2D(),
        layers.MaxPooling1D(3, 2, "same"),
        layers.AveragePooling1D(pool_size=4, strides=1),
        layers.GlobalMaxPooling2D(keepdims=True),
        layers.GlobalAveragePooling1D(),
        layers.GlobalMaxPooling1D(name="g", trainable=False),
        layers.GlobalAveragePooling2D(data_format="channels_last"),
    ],
)
def test_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    if hasattr(layer, "pool_size"):
        assert config["pool_size"] == layer.pool_size and config["strides"] == layer.strides
        assert config["padding"] == layer.padding
        x = np.random.default_rng(0).standard_normal((2, 9, 9, 2)[: len(layer.pool_size) + 2])
        np.testing.assert_array_equal(clone(x), layer(x))
    else:
        assert config["keepdims"] == layer.keepdims


def test_config_accepts_json_lists():
    layer = layers.MaxPooling2D.from_config(
        {
            "name": "m",
            "pool_size": [2, 3],
            "strides": [1, 1],
            "padding": "valid",
            "data_format": "channels_last",
        }
    )
    assert layer.pool_size == (2, 3) and layer.strides == (1, 1)
