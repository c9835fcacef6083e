"""BatchNormalization layer: Keras weights, modes, moving statistics, gradients, errors."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from tests.gradcheck import check_layer


def test_weights_in_keras_order_and_trainability():
    bn = layers.BatchNormalization()
    bn(keras.Input(shape=(5, 5, 8)))
    assert list(bn.params) == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert bn.trainable_param_names() == ["gamma", "beta"]
    assert [w.tolist() for w in bn.get_weights()] == [[1.0] * 8, [0.0] * 8, [0.0] * 8, [1.0] * 8]
    assert len(bn.non_trainable_weights) == 2 and bn.count_params() == 32
    nb = layers.BatchNormalization(center=False, scale=False)
    nb(np.zeros((2, 3), "float32"))
    assert list(nb.params) == ["moving_mean", "moving_variance"]
    assert nb.trainable_param_names() == []


def test_training_uses_batch_stats_and_updates_moving_stats_with_biased_variance():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((6, 3, 3, 4)) * 2 + 3).astype("float32")
    bn = layers.BatchNormalization(momentum=0.9)
    y = bn(x, training=True)
    flat = x.reshape(-1, 4).astype(np.float64)
    mean, var = flat.mean(0), flat.var(0)  # biased, as Keras 3
    np.testing.assert_allclose(y.reshape(-1, 4), (flat - mean) / np.sqrt(var + 1e-3), atol=1e-5)
    np.testing.assert_allclose(bn.params["moving_mean"], 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.params["moving_variance"], 0.9 + 0.1 * var, rtol=1e-5)
    # a second step compounds
    bn(x, training=True)
    np.testing.assert_allclose(bn.params["moving_mean"], 0.9 * 0.1 * mean + 0.1 * mean, rtol=1e-5)


def test_inference_uses_moving_stats_and_leaves_them_alone():
    bn = layers.BatchNormalization(epsilon=0.01)
    x = np.random.default_rng(1).standard_normal((4, 3)).astype("float32")
    bn.build((None, 3))
    bn.built = True
    bn.set_weights(
        [
            np.array([1.0, 2.0, 3.0]),
            np.array([0.0, 1.0, -1.0]),
            np.array([0.5, -0.5, 0.0]),
            np.array([4.0, 1.0, 0.25]),
        ]
    )
    y = bn(x, training=False)
    expected = np.array([1.0, 2, 3]) * (x - [0.5, -0.5, 0.0]) / np.sqrt(
        np.array([4.0, 1, 0.25]) + 0.01
    ) + [0, 1, -1]
    np.testing.assert_allclose(y, expected, rtol=1e-5)
    np.testing.assert_array_equal(bn.params["moving_mean"], [0.5, -0.5, 0.0])


def test_trainable_false_means_inference_even_in_training():
    x = np.random.default_rng(2).standard_normal((8, 2)).astype("float32") + 5
    bn = layers.BatchNormalization(trainable=False)
    y = bn(x, training=True)
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3), rtol=1e-6)  # moving stats 0 / 1
    np.testing.assert_array_equal(bn.params["moving_mean"], [0, 0])
    frozen = layers.BatchNormalization()
    frozen(x, training=True)
    frozen.trainable = False
    before = frozen.get_weights()
    frozen(x, training=True)
    for a, b in zip(before, frozen.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs,shape",
    [
        ({}, (4, 3)),
        ({}, (3, 2, 3, 2)),
        ({"axis": 1}, (3, 2, 3, 2)),
        ({"center": False}, (5, 3)),
        ({"scale": False, "epsilon": 0.1}, (2, 3, 3)),
    ],
)
@pytest.mark.parametrize("training", [True, False])
def test_gradients(float64, kwargs, shape, training):
    rng = np.random.default_rng(3)
    bn = layers.BatchNormalization(**kwargs)
    x = rng.standard_normal(shape) * 1.5 + 0.5
    bn(x)  # build, then move the weights off their trivial initial values
    bn.set_weights(
        [
            rng.standard_normal(w.shape)
            if i < len(bn.trainable_param_names())
            else rng.uniform(0.5, 1.5, w.shape)
            for i, w in enumerate(bn.get_weights())
        ]
    )
    n_weights = sum(bn.params[n].size for n in bn.trainable_param_names())
    assert check_layer(bn, x, training=training) == x.size + n_weights


def test_backward_uses_the_statistics_of_its_forward():
    bn = layers.BatchNormalization()
    x = np.random.default_rng(4).standard_normal((5, 3)).astype("float32")
    bn(x, training=True)
    bn.forward(x, training=False)
    g = np.ones_like(x)
    ref = bn.backward(g)
    bn.forward(x, training=False)
    w = bn.get_weights()
    bn.set_weights(w[:2] + [w[2] + 1, w[3] * 4])  # e.g. weights loaded between the passes
    np.testing.assert_array_equal(bn.backward(g), ref)
    assert set(bn.grads) == {"gamma", "beta"}


def test_errors():
    with pytest.raises(
        ValueError,
        match=r"Input 0 of layer 'batch_normalization' expects 2 dims "
        r"with 3 features on axis -1, got shape \(4, 5\)",
    ):
        bn = layers.BatchNormalization()
        bn(np.zeros((4, 3)))
        bn(np.zeros((4, 5)))
    with pytest.raises(
        ValueError,
        match=r"has shape \(None, 4\), so axis=0 is not a feature "
        r"axis",
    ):
        layers.BatchNormalization(axis=0)(keras.Input(shape=(4,)))
    with pytest.raises(ValueError, match=r"axis=3 is not a feature axis"):
        layers.BatchNormalization(axis=3)(keras.Input(shape=(4, 2)))
    with pytest.raises(ValueError, match=r"needs a known size on axis -1"):
        layers.BatchNormalization()(keras.Input(shape=(4, None)))
    with pytest.raises(
        ValueError,
        match=r"argument momentum expects a number in \[0, 1\], "
        r"got 1.5",
    ):
        layers.BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match=r"argument epsilon expects a number > 0, got 0"):
        layers.BatchNormalization(epsilon=0)
    with pytest.raises(ValueError, match=r"Unknown initializer 'onez'. Did you mean 'ones'"):
        layers.BatchNormalization(gamma_initializer="onez")


def test_config_round_trip():
    bn = layers.BatchNormalization(
        axis=1,
        momentum=0.9,
        epsilon=1e-5,
        center=False,
        gamma_initializer="random_normal",
        moving_variance_initializer="zeros",
        gamma_regularizer="l2",
        name="bn",
    )
    config = bn.get_config()
    for key in (
        "axis",
        "momentum",
        "epsilon",
        "center",
        "scale",
        "beta_initializer",
        "gamma_initializer",
        "moving_mean_initializer",
        "moving_variance_initializer",
        "beta_regularizer",
        "gamma_regularizer",
    ):
        assert key in config
    clone = layers.BatchNormalization.from_config(config)
    assert clone.get_config() == config
    clone(keras.Input(shape=(3, 4)))
    assert list(clone.params) == ["gamma", "moving_mean", "moving_variance"]
    assert clone.params["moving_variance"].tolist() == [0, 0, 0]
    assert clone.regularization_loss() > 0
