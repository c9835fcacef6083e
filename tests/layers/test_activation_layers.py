"""ReLU, LeakyReLU, Softmax layers: Keras formulas, gradients off kinks, errors, configs."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import activations, layers
from tests.gradcheck import check_layer


def off_kinks(shape, kinks=(0.0,), seed=0):
    """Random values kept at least 0.05 away from every kink."""
    x = np.random.default_rng(seed).uniform(-3, 3, size=shape)
    for k in kinks:
        near = np.abs(x - k) < 0.05
        x[near] = k + 0.1 * np.sign(x[near] - k + 1e-12)
    return x


def test_relu_keras_doc_example_and_formula():
    x = np.array([-10, -5, 0.0, 5, 10])
    y = layers.ReLU(max_value=10, negative_slope=0.5, threshold=0)(x)
    np.testing.assert_array_equal(y, [-5.0, -2.5, 0.0, 5.0, 10.0])
    x = np.array([-2.0, 0.5, 1.0, 1.5, 3.0, 7.0])
    y = layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=1.0)(x)
    np.testing.assert_allclose(y, [0.1 * -3, 0.1 * -0.5, 0.0, 1.5, 3.0, 6.0], rtol=1e-6)
    y = layers.ReLU()(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(y, [0.0, 0.0, 2.0])
    assert not np.signbit(layers.ReLU(threshold=1.0)(np.array([0.5]))).any()  # no -0.0


def test_leaky_relu_default_slope_and_alpha_alias():
    np.testing.assert_allclose(layers.LeakyReLU()(np.array([-1.0, 2.0])), [-0.3, 2.0], rtol=1e-6)
    with pytest.warns(DeprecationWarning, match="alpha"):
        layer = layers.LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1


def test_softmax_axis_and_engine_hooks():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    y = layers.Softmax()(x)
    np.testing.assert_allclose(y.sum(axis=-1), 1, rtol=1e-6)
    y1 = layers.Softmax(axis=1)(x)
    np.testing.assert_allclose(y1.sum(axis=1), 1, rtol=1e-6)
    e = np.exp(x - x.max(axis=(1, 2), keepdims=True))
    np.testing.assert_allclose(
        layers.Softmax(axis=(1, 2))(x), e / e.sum(axis=(1, 2), keepdims=True), rtol=1e-5
    )
    sm = layers.Softmax()
    assert sm.activation is activations.softmax
    logits = x.astype("float32")
    sm(logits)
    assert sm._z is logits  # the fused loss reads the logits here, as for Dense
    g = np.ones((2, 4))
    assert sm.backward_preactivation(g) is g
    # softmax over another axis must not be fused with a last-axis cross-entropy
    assert layers.Softmax(axis=1).activation.name != "softmax"


@pytest.mark.parametrize(
    "layer,kinks",
    [
        (layers.ReLU(), (0.0,)),
        (layers.ReLU(max_value=2.0, negative_slope=0.2, threshold=0.5), (0.5, 2.0)),
        (layers.ReLU(max_value=1.0), (0.0, 1.0)),
        (layers.ReLU(negative_slope=0.3), (0.0,)),
        (layers.LeakyReLU(), (0.0,)),
        (layers.LeakyReLU(negative_slope=0.05), (0.0,)),
        (layers.Softmax(), ()),
        (layers.Softmax(axis=1), ()),
    ],
)
def test_gradients(float64, layer, kinks):
    x = off_kinks((3, 4, 5), kinks)
    assert check_layer(layer, x) == x.size


def test_softmax_backward_preactivation_matches_fused_cross_entropy(float64):
    """Through Softmax, dLoss/dlogits of cross-entropy is p - y: the fused path's input."""
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4, 5))
    t = np.eye(5)[rng.integers(0, 5, 4)]
    sm = layers.Softmax()
    p = sm(z)
    dz_full = sm.backward(-t / p)  # d(-sum t log p)/dp through the softmax
    np.testing.assert_allclose(dz_full, p - t, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(sm.backward_preactivation(p - t), p - t)


def test_errors():
    with pytest.raises(
        ValueError,
        match=r"Layer 're_lu' argument max_value expects a number >= 0 "
        r"or None, got -1",
    ):
        layers.ReLU(max_value=-1)
    with pytest.raises(
        ValueError,
        match=r"argument negative_slope expects a number >= 0, "
        r"got None",
    ):
        layers.ReLU(negative_slope=None)
    with pytest.raises(ValueError, match=r"argument threshold expects a number >= 0, got -0.5"):
        layers.ReLU(threshold=-0.5)
    with pytest.raises(
        ValueError,
        match=r"Layer 'leaky_re_lu' argument negative_slope expects "
        r"a number >= 0, got -0.1",
    ):
        layers.LeakyReLU(-0.1)
    with pytest.raises(
        ValueError,
        match=r"argument axis expects an integer or a tuple of "
        r"integers, got 'last'",
    ):
        layers.Softmax(axis="last")
    with pytest.raises(ValueError, match=r"has 2 dims .* so axis=2 does not exist"):
        layers.Softmax(axis=2)(keras.Input(shape=(4,)))


@pytest.mark.parametrize(
    "layer",
    [
        layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5, name="r"),
        layers.LeakyReLU(0.2),
        layers.Softmax(axis=1),
        layers.Softmax(axis=(1, 2)),
    ],
)
def test_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    np.testing.assert_array_equal(clone(x), layer(x))
