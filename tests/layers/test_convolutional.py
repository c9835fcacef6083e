"""Conv1D / Conv2D layers: Keras arguments, shapes, config round trip, errors, gradients."""

import json

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers, regularizers
from filterbank.ops import conv as conv_ops
from tests.gradcheck import check_layer


# ---- construction and shapes -------------------------------------------------------------
def test_conv2d_weights_shapes_and_order():
    layer = layers.Conv2D(32, (3, 3), activation="relu")
    y = layer(np.zeros((2, 28, 28, 1), "float32"))
    assert y.shape == (2, 26, 26, 32) and y.dtype == np.float32
    assert list(layer.params) == ["kernel", "bias"]
    assert [w.shape for w in layer.get_weights()] == [(3, 3, 1, 32), (32,)]
    assert layer.count_params() == 320
    assert layer.name == "conv2d"
    assert layers.Conv2D(1, 1).name == "conv2d_1"


def test_conv1d_weights_shapes():
    layer = layers.Conv1D(4, 3, use_bias=False)
    assert layer(np.zeros((2, 10, 5), "float32")).shape == (2, 8, 4)
    assert [w.shape for w in layer.get_weights()] == [(3, 5, 4)]
    assert layer.name == "conv1d"


@pytest.mark.parametrize(
    "arg,value,expected",
    [
        ("kernel_size", 3, (3, 3)),
        ("kernel_size", [5, 2], (5, 2)),
        ("strides", 2, (2, 2)),
        ("strides", (1, 3), (1, 3)),
        ("dilation_rate", 2, (2, 2)),
        ("padding", "SAME", "same"),
        ("padding", "Valid", "valid"),
    ],
)
def test_conv2d_argument_normalisation(arg, value, expected):
    kwargs = {"filters": 2, "kernel_size": 3, arg: value}
    assert getattr(layers.Conv2D(**kwargs), arg) == expected


def test_conv1d_argument_normalisation():
    layer = layers.Conv1D(2, (4,), strides=2, padding="Causal")
    assert (layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding) == (
        (4,),
        (2,),
        (1,),
        "causal",
    )


@pytest.mark.parametrize(
    "shape,kwargs,expected",
    [
        ((None, 28, 28, 1), dict(kernel_size=3), (None, 26, 26, 8)),
        ((None, 28, 28, 1), dict(kernel_size=3, padding="same"), (None, 28, 28, 8)),
        (
            (None, 7, 9, 2),
            dict(kernel_size=(3, 2), strides=(2, 3), padding="same"),
            (None, 4, 3, 8),
        ),
        ((None, 7, 9, 2), dict(kernel_size=(3, 2), strides=(2, 3)), (None, 3, 3, 8)),
        ((None, 9, 9, 2), dict(kernel_size=3, dilation_rate=2), (None, 5, 5, 8)),
        ((None, None, None, 3), dict(kernel_size=3), (None, None, None, 8)),
    ],
)
def test_conv2d_symbolic_output_shape(shape, kwargs, expected):
    x = keras.Input(shape=shape[1:])
    layer = layers.Conv2D(8, **kwargs)
    assert layer(x).shape == expected
    assert layer.compute_output_shape(shape) == expected
    if None not in shape[1:]:
        assert layer(np.zeros((2, *shape[1:]), "float32")).shape == (2, *expected[1:])


@pytest.mark.parametrize(
    "length,kwargs,expected",
    [
        (10, dict(kernel_size=3), 8),
        (10, dict(kernel_size=3, padding="same", strides=3), 4),
        (10, dict(kernel_size=3, padding="causal"), 10),
        (10, dict(kernel_size=3, dilation_rate=3), 4),
    ],
)
def test_conv1d_output_shape(length, kwargs, expected):
    layer = layers.Conv1D(2, **kwargs)
    assert layer.compute_output_shape((None, length, 1)) == (None, expected, 2)
    assert layer(np.ones((3, length, 1), "float32")).shape == (3, expected, 2)


def test_forward_is_conv_plus_bias_then_activation(rng):
    layer = layers.Conv2D(3, (2, 3), padding="same", activation="relu", bias_initializer="ones")
    x = rng.standard_normal((2, 5, 6, 4)).astype("float32")
    y = layer(x)
    z, _ = conv_ops.conv2d_forward(x, layer.params["kernel"], None, 1, "same", 1)
    np.testing.assert_allclose(y, np.maximum(z + 1, 0), rtol=1e-6, atol=1e-6)


def test_config_round_trip():
    layer = layers.Conv2D(
        16,
        (3, 5),
        strides=(2, 1),
        padding="SAME",
        activation="relu",
        use_bias=False,
        kernel_initializer="he_normal",
        bias_initializer="ones",
        kernel_regularizer=regularizers.l2(1e-3),
        bias_regularizer=regularizers.l1(0.5),
        name="my_conv",
    )
    config = layer.get_config()
    assert config["filters"] == 16 and config["kernel_size"] == (3, 5)
    assert config["strides"] == (2, 1) and config["padding"] == "same"
    assert config["activation"] == "relu" and config["use_bias"] is False
    assert config["kernel_regularizer"] == {"class_name": "l2", "config": {"l2": 1e-3}}
    again = layers.Conv2D.from_config(json.loads(json.dumps(config)))  # survives JSON too
    assert json.loads(json.dumps(again.get_config())) == json.loads(json.dumps(config))
    again(np.zeros((1, 6, 6, 2), "float32"))
    assert again.get_weights()[0].shape == (3, 5, 2, 16)
    assert np.isclose(
        again.regularization_loss(), 1e-3 * float((again.params["kernel"] ** 2).sum()), rtol=1e-5
    )

    c1 = layers.Conv1D(3, 4, strides=2, padding="causal", dilation_rate=1, activation="tanh")
    c1b = layers.Conv1D.from_config(c1.get_config())
    assert c1b.get_config() == c1.get_config()


def test_input_grad_skipped_for_first_layer(rng):
    layer = layers.Conv2D(4, 3)
    x = rng.standard_normal((2, 6, 6, 2)).astype("float32")
    y = layer(x)
    dx = layer.backward(np.ones_like(y))
    assert dx.shape == x.shape
    kernel_grad = layer.grads["kernel"].copy()
    layer.compute_input_grad = False
    layer.forward(x)
    assert layer.backward(np.ones_like(y)) is None
    np.testing.assert_array_equal(layer.grads["kernel"], kernel_grad)
    assert layer.grads["bias"].shape == (4,) and layer.grads["bias"].dtype == np.float32


def test_backward_preactivation_skips_the_activation(rng):
    layer = layers.Conv1D(3, 2, activation="softmax")
    x = rng.standard_normal((2, 5, 2)).astype("float32")
    layer(x)
    gz = rng.standard_normal((2, 4, 3)).astype("float32")
    dx = layer.backward_preactivation(gz)
    _, cache = conv_ops.conv1d_forward(x, layer.params["kernel"], layer.params["bias"])
    rdx, rdw, rdb = conv_ops.conv1d_backward(gz, cache)
    np.testing.assert_allclose(dx, rdx, rtol=1e-6)
    np.testing.assert_allclose(layer.grads["kernel"], rdw, rtol=1e-6)
    np.testing.assert_allclose(layer.grads["bias"], rdb, rtol=1e-6)


def test_build_by_hand_then_set_weights_keeps_weights():
    layer = layers.Conv2D(1, 2, use_bias=False)
    layer.build((None, 3, 3, 1))
    layer.set_weights([np.ones((2, 2, 1, 1))])
    assert np.all(layer(np.ones((1, 3, 3, 1))) == 4)


# ---- errors ------------------------------------------------------------------------------
def test_missing_channel_axis_message():
    with pytest.raises(
        ValueError,
        match=r"Input 0 of layer 'conv2d' expects 4 dims \(batch, "
        r"height, width, channels\), got shape \(5, 28, 28\)\. Add a channel "
        r"axis: x\[\.\.\., None\]\.",
    ):
        layers.Conv2D(32, 3)(np.zeros((5, 28, 28), "float32"))
    with pytest.raises(
        ValueError,
        match=r"layer 'conv1d' expects 3 dims \(batch, steps, "
        r"channels\), got shape \(None, 10\)\. Add a channel axis",
    ):
        layers.Conv1D(2, 3)(keras.Input(shape=(10,)))


def test_wrong_channel_count_message():
    layer = layers.Conv2D(8, 3, name="rgb_conv")
    layer(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(
        ValueError,
        match=r"Input 0 of layer 'rgb_conv' expects 3 channels on the "
        r"last axis \(its kernel has shape \(3, 3, 3, 8\)\), got shape "
        r"\(1, 8, 8, 1\)",
    ):
        layer(np.zeros((1, 8, 8, 1), "float32"))
    with pytest.raises(ValueError, match="expects 3 channels"):
        layer.forward(np.zeros((1, 8, 8, 1), "float32"))  # the graph engine calls forward


def test_unknown_channels_at_build():
    with pytest.raises(ValueError, match="needs a known number of channels"):
        layers.Conv2D(2, 3)(keras.Input(shape=(8, 8, None)))


def test_kernel_too_large_message_with_formula():
    x = keras.Input(shape=(2, 9, 1))
    with pytest.raises(
        ValueError,
        match=r"Layer 'conv2d' kernel size 3 is larger than its input "
        r"along height: 2 cells .*\(N - F \+ 2P\)/S \+ 1 = \(2 - 3 \+ 0\)/1 \+ 1 "
        r"= 0",
    ):
        layers.Conv2D(4, 3)(x)
    with pytest.raises(
        ValueError,
        match=r"kernel size 3 \(with dilation 2 it spans F = 5 "
        r"cells\) is larger than its input along steps.*\(4 - 5 \+ 0\)/1 \+ 1 = 0",
    ):
        layers.Conv1D(4, 3, dilation_rate=2).compute_output_shape((None, 4, 1))
    layer = layers.Conv2D(4, 3)
    layer(np.zeros((1, 9, 9, 1), "float32"))
    with pytest.raises(ValueError, match=r"along width.*= \(2 - 3 \+ 0\)/1 \+ 1 = 0"):
        layer(np.zeros((1, 9, 2, 1), "float32"))
    # "same" pads instead: a kernel larger than the input is fine then.
    assert layers.Conv2D(4, 3, padding="same")(x).shape == (None, 2, 9, 4)


def test_bad_padding_name_did_you_mean():
    with pytest.raises(ValueError, match=r"Unknown padding 'smae'\. Did you mean 'same'\?"):
        layers.Conv2D(4, 3, padding="smae")
    with pytest.raises(ValueError, match=r"Unknown padding 'causal'.*Valid names: same, valid"):
        layers.Conv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match=r"Unknown padding 'casual'\. Did you mean 'causal'\?"):
        layers.Conv1D(4, 3, padding="casual")


@pytest.mark.parametrize("filters", [0, -3, 2.5, None, True])
def test_filters_must_be_positive_int(filters):
    with pytest.raises(
        ValueError,
        match=r"Layer 'conv2d' argument filters expects a positive "
        r"integer",
    ):
        layers.Conv2D(filters, 3)


@pytest.mark.parametrize(
    "arg,value",
    [("kernel_size", 0), ("kernel_size", (3, 3, 3)), ("strides", (1, 0)), ("dilation_rate", "2")],
)
def test_bad_tuple_arguments(arg, value):
    kwargs = {"filters": 2, "kernel_size": 3, arg: value}
    with pytest.raises(
        ValueError,
        match=f"argument {arg} expects a positive integer or a tuple of 2 positive integers",
    ):
        layers.Conv2D(**kwargs)


def test_strides_with_dilation_rejected():
    with pytest.raises(
        ValueError,
        match=r"cannot combine strides > 1 with dilation_rate > 1 .*"
        r"strides=\(2, 1\) and dilation_rate=\(1, 2\)",
    ):
        layers.Conv2D(4, 3, strides=(2, 1), dilation_rate=(1, 2))
    with pytest.raises(ValueError, match="cannot combine strides > 1 with dilation_rate > 1"):
        layers.Conv1D(4, 3, strides=2, dilation_rate=2)


def test_channels_first_rejected_with_a_fix():
    with pytest.raises(ValueError, match=r"channels-last only.*transpose\(0, 2, 3, 1\)"):
        layers.Conv2D(4, 3, data_format="channels_first")
    assert layers.Conv2D(4, 3, data_format="channels_last").get_config()["data_format"] == (
        "channels_last"
    )


def test_unknown_keyword_did_you_mean():
    with pytest.raises(TypeError, match="Did you mean 'dilation_rate'"):
        layers.Conv2D(4, 3, dilation=2)


# ---- float64 centered-difference gradient checks -----------------------------------------
GRAD_2D = [
    dict(x=(2, 5, 6, 2), filters=3, kernel_size=(3, 2), strides=(2, 1), padding="same"),
    dict(x=(2, 6, 5, 2), filters=2, kernel_size=(2, 3), strides=(1, 3), padding="valid"),
    dict(x=(1, 7, 6, 3), filters=2, kernel_size=(3, 3), dilation_rate=(2, 1), padding="valid"),
    dict(x=(2, 5, 5, 2), filters=3, kernel_size=3, dilation_rate=2, padding="same"),
    dict(x=(2, 4, 5, 6), filters=2, kernel_size=(2, 2), strides=(2, 2), padding="same"),
    dict(x=(2, 4, 3, 5), filters=3, kernel_size=1, strides=(2, 1)),
    dict(x=(2, 4, 4, 2), filters=2, kernel_size=2, activation="tanh", use_bias=True),
]
GRAD_1D = [
    dict(x=(2, 7, 2), filters=3, kernel_size=3, strides=2, padding="same"),
    dict(x=(2, 8, 3), filters=2, kernel_size=4, padding="valid"),
    dict(x=(2, 7, 2), filters=2, kernel_size=3, dilation_rate=2, padding="causal"),
    dict(x=(1, 9, 6), filters=2, kernel_size=2, strides=3, padding="same"),
    dict(x=(2, 6, 1), filters=1, kernel_size=3, dilation_rate=2, padding="same"),
]


@pytest.mark.parametrize("cfg", GRAD_2D, ids=[str(i) for i in range(len(GRAD_2D))])
def test_conv2d_gradcheck(cfg, float64):
    cfg = dict(cfg)
    shape = cfg.pop("x")
    layer = layers.Conv2D(bias_initializer="glorot_uniform", **cfg)
    x = np.random.default_rng(3).standard_normal(shape)
    assert check_layer(layer, x) == x.size + layer.count_params()
    assert layer.params["kernel"].dtype == np.float64


@pytest.mark.parametrize("cfg", GRAD_1D, ids=[str(i) for i in range(len(GRAD_1D))])
def test_conv1d_gradcheck(cfg, float64):
    cfg = dict(cfg)
    shape = cfg.pop("x")
    layer = layers.Conv1D(bias_initializer="glorot_uniform", **cfg)
    x = np.random.default_rng(4).standard_normal(shape)
    assert check_layer(layer, x) == x.size + layer.count_params()


def test_conv2d_gradcheck_relu_away_from_kinks(float64):
    # Positive inputs and a positive kernel keep every pre-activation far above 0, except the
    # filter with a negative kernel, which stays far below: no kink within eps.
    layer = layers.Conv2D(2, 2, activation="relu")
    x = np.random.default_rng(5).uniform(0.5, 1.5, (2, 4, 4, 2))
    layer.build((None, 4, 4, 2))
    kernel = np.random.default_rng(6).uniform(0.2, 1.0, (2, 2, 2, 2))
    kernel[..., 1] *= -1
    layer.set_weights([kernel, np.array([0.1, -0.1])])
    check_layer(layer, x)
    assert np.all(layer.grads["kernel"][..., 1] == 0)
