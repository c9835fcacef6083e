"""UpSampling, Cropping, ZeroPadding1D, SpatialDropout, LayerNormalization and
GroupNormalization as layers: real Keras 3 outputs and shapes, gradients by centered
differences, configs and model files, and the error messages."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from tests.gradcheck import check_layer
from tests.layers.keras_oracle import keras_output, real_keras


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


CASES = [
    ("UpSampling2D", dict(size=(2, 3)), (2, 3, 4, 2)),
    ("UpSampling2D", dict(size=(3, 2), interpolation="bilinear"), (2, 4, 3, 2)),
    ("UpSampling2D", dict(size=2, interpolation="bilinear"), (1, 5, 1, 3)),
    ("UpSampling1D", dict(size=3), (2, 4, 3)),
    ("Cropping2D", dict(cropping=((1, 2), (0, 3))), (2, 6, 7, 2)),
    ("Cropping2D", dict(cropping=(1, 2)), (1, 5, 6, 3)),
    ("Cropping1D", dict(cropping=(2, 1)), (2, 6, 3)),
    ("ZeroPadding1D", dict(padding=(1, 3)), (2, 4, 3)),
    ("LayerNormalization", dict(), (2, 5, 4)),
    ("LayerNormalization", dict(axis=[1, 2], epsilon=1e-5), (2, 3, 4, 2)),
    ("LayerNormalization", dict(axis=1, center=False), (2, 3, 4)),
    ("LayerNormalization", dict(rms_scaling=True), (2, 3, 6)),
    ("GroupNormalization", dict(groups=2), (2, 3, 4, 6)),
    ("GroupNormalization", dict(groups=-1, scale=False), (2, 5, 4)),
    ("GroupNormalization", dict(groups=1, epsilon=1e-5), (2, 3, 3, 4)),
    ("SpatialDropout2D", dict(rate=0.3), (2, 3, 4, 5)),
    ("SpatialDropout1D", dict(rate=0.3), (2, 3, 4)),
]


# Keras 3.15 on the torch backend hands inner contiguous axes to torch's layer_norm, which
# normalizes trailing axes only, and fails; those two cases are checked against Keras's
# formula (ops/nn.py: moments, then rsqrt(var + epsilon)) below instead.
KERAS_TORCH_FAILS = (9, 10)


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")
@pytest.mark.parametrize(
    "name,kwargs,shape", [c for i, c in enumerate(CASES) if i not in KERAS_TORCH_FAILS]
)
def test_matches_real_keras(name, kwargs, shape):
    k = real_keras()
    x = _x(shape, 1).astype("float32")
    ours = getattr(layers, name)(**kwargs)
    ours(x)
    weights = [
        np.random.default_rng(i).standard_normal(w.shape).astype("float32")
        for i, w in enumerate(ours.get_weights())
    ]
    ours.set_weights(weights)
    theirs = getattr(k.layers, name)(**kwargs)
    expected = keras_output(theirs, x, weights)  # inference: dropout is the identity
    assert [w.shape for w in theirs.get_weights()] == [w.shape for w in weights]
    assert ours.count_params() == theirs.count_params()  # what summary() prints
    np.testing.assert_allclose(ours(x), expected, rtol=1e-4, atol=1e-5)
    assert ours.compute_output_shape((None, *shape[1:])) == tuple(
        theirs.compute_output_shape((None, *shape[1:]))
    )
    keras_keys = set(getattr(k.layers, name)(**kwargs).get_config())
    missing = {
        key
        for key in keras_keys - set(ours.get_config())
        if "constraint" not in key and key != "dtype"
    }
    assert not missing


@pytest.mark.parametrize(
    "name,kwargs,shape", [c for c in CASES if not c[0].startswith("SpatialDropout")]
)
def test_gradients_by_centered_differences(name, kwargs, shape):
    keras.backend.set_floatx("float64")
    try:
        layer = getattr(layers, name)(**kwargs)
        layer(_x(shape))
        # Non-trivial weights, so a gradient that ignores gamma cannot pass.
        layer.set_weights([1.0 + 0.3 * _x(w.shape, 9) for w in layer.get_weights()])
        assert check_layer(layer, _x(shape)) > 0
    finally:
        keras.backend.set_floatx("float32")


def test_layer_norm_inner_axes_follow_the_keras_formula():
    x = _x((2, 3, 4, 2), 4)
    for axis, center in (([1, 2], True), (1, False)):
        layer = layers.LayerNormalization(axis=axis, center=center, dtype="float64")
        layer(x)
        axes = tuple(axis) if isinstance(axis, list) else (axis,)
        shape = [1, 1, 1, 1]
        for a in axes:
            shape[a] = x.shape[a]
        gamma = _x(tuple(x.shape[a] for a in axes), 5)
        beta = _x(gamma.shape, 6) if center else None
        layer.set_weights([gamma, beta] if center else [gamma])
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
        want = (x - mean) / np.sqrt(var + 1e-3) * gamma.reshape(shape)
        if center:
            want = want + beta.reshape(shape)
        np.testing.assert_allclose(layer(x), want, rtol=1e-12)


def test_spatial_dropout_drops_whole_channels_in_training_only():
    keras.utils.set_random_seed(3)
    layer = layers.SpatialDropout2D(0.5)
    x = np.ones((4, 3, 5, 64), "float32")
    y = layer(x, training=True)
    per_channel = y.reshape(4, 15, 64)
    assert np.all(per_channel == per_channel[:, :1])  # constant over the pixels
    assert set(np.unique(y)) == {0.0, 2.0}  # dropped, or scaled by 1/(1-rate)
    assert 0.3 < np.mean(y == 0) < 0.7
    g = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(g), y)  # the same mask, same scale
    np.testing.assert_array_equal(layer(x), x)  # inference: identity
    # Seeded like Dropout: the same global seed gives the same mask.
    keras.utils.set_random_seed(3)
    np.testing.assert_array_equal(layers.SpatialDropout2D(0.5)(x, training=True), y)
    a = layers.SpatialDropout1D(0.5, seed=1)(np.ones((2, 6, 8), "float32"), training=True)
    b = layers.SpatialDropout1D(0.5, seed=1)(np.ones((2, 6, 8), "float32"), training=True)
    np.testing.assert_array_equal(a, b)
    assert np.all(a == a[:, :1])


def test_bilinear_upsampling_values():
    """Half-pixel centres: [0, 4] upsampled by 4 -> 0, 0, 0.5, 1.5, 2.5, 3.5, 4, 4."""
    x = np.array([0.0, 4.0], "float32").reshape(1, 1, 2, 1)
    y = layers.UpSampling2D((1, 4), interpolation="bilinear")(x)
    np.testing.assert_allclose(y.ravel(), [0, 0, 0.5, 1.5, 2.5, 3.5, 4, 4])


def test_model_file_round_trip(tmp_path):
    inputs = keras.Input(shape=(8, 6, 4))
    x = layers.GroupNormalization(groups=2)(inputs)
    x = layers.UpSampling2D(2, interpolation="bilinear")(x)
    x = layers.Cropping2D(((1, 0), (2, 1)))(x)
    x = layers.SpatialDropout2D(0.2, seed=4)(x)
    x = layers.LayerNormalization(axis=[1, 2, 3])(x)
    x = layers.Reshape((15 * 9, 4))(x)
    x = layers.ZeroPadding1D(2)(x)
    x = layers.UpSampling1D(2)(x)
    x = layers.Cropping1D((1, 3))(x)
    model = keras.Model(inputs, x)
    assert model.output_shape == (None, 2 * (135 + 4) - 4, 4)
    model.layers[1].set_weights([_x((4,), 1), _x((4,), 2)])
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path)
    data = _x((2, 8, 6, 4)).astype("float32")
    np.testing.assert_array_equal(model.predict(data, verbose=0), again.predict(data, verbose=0))
    assert [la.get_config() for la in again.layers] == [la.get_config() for la in model.layers]


def test_summary_counts():
    model = keras.Sequential(
        [
            keras.Input(shape=(16, 16, 32)),
            layers.GroupNormalization(groups=8),  # gamma + beta: 64
            layers.LayerNormalization(),  # 64
            layers.LayerNormalization(axis=[1, 2, 3]),  # 2 * 16*16*32 = 16,384
            layers.UpSampling2D(),
            layers.Cropping2D(2),
            layers.SpatialDropout2D(0.1),
        ]
    )
    assert [la.count_params() for la in model.layers] == [64, 64, 16384, 0, 0, 0]
    assert model.output_shape == (None, 28, 28, 32)
    text = model.summary_string()
    assert "16,384" in text and "(None, 28, 28, 32)" in text


@pytest.mark.parametrize(
    "make,pattern",
    [
        (lambda: layers.Cropping2D(-1), "cropping expects a non-negative"),
        (lambda: layers.Cropping2D(((1, 2), (3,))), "cropping expects"),
        (lambda: layers.Cropping1D((1, -2)), "non-negative"),
        (lambda: layers.ZeroPadding1D(-1), "padding expects a non-negative"),
        (lambda: layers.UpSampling2D(0), "size expects a positive"),
        (lambda: layers.UpSampling2D(2, interpolation="bicubic"), "does not implement.*'bilinear'"),
        (lambda: layers.UpSampling2D(2, interpolation="linear"), "Unknown interpolation 'linear'"),
        (lambda: layers.UpSampling1D((2, 2)), "size expects a positive integer"),
        (lambda: layers.SpatialDropout2D(1.5), "rate expects a number between 0 and 1"),
        (lambda: layers.LayerNormalization(epsilon=0), "epsilon expects a number > 0"),
        (lambda: layers.LayerNormalization(axis="last"), "axis expects an integer"),
        (lambda: layers.GroupNormalization(groups=0), "groups expects a positive integer"),
        (lambda: layers.GroupNormalization(axis=1.5), "axis expects an integer"),
    ],
)
def test_bad_arguments_are_explained(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_spatial_dropout_refuses_a_noise_shape():
    with pytest.raises(TypeError, match="always drops whole channels"):
        layers.SpatialDropout2D(0.5, noise_shape=(None, 1, 1, 3))


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match=r"cannot crop 3 \+ 3 cells from height 6.*at most 5"):
        layers.Cropping2D(3)(keras.Input(shape=(6, 10, 1)))
    with pytest.raises(ValueError, match="cannot crop"):
        layers.Cropping1D((4, 4))(np.zeros((1, 8, 2), "float32"))
    with pytest.raises(ValueError, match=r"channels must divide evenly \(10 % 4 = 2\).*groups=2"):
        layers.GroupNormalization(groups=4)(keras.Input(shape=(5, 5, 10)))
    with pytest.raises(ValueError, match="fewer channels than groups"):
        layers.GroupNormalization()(keras.Input(shape=(5, 5, 16)))
    with pytest.raises(ValueError, match="does not name non-batch axes"):
        layers.LayerNormalization(axis=0)(keras.Input(shape=(5, 5)))
    with pytest.raises(ValueError, match=r"expects 4 dims.*x\[\.\.\., None\]"):
        layers.UpSampling2D()(np.zeros((2, 28, 28), "float32"))
    ln = layers.LayerNormalization()
    ln(np.zeros((2, 4, 6), "float32"))
    with pytest.raises(ValueError, match=r"sizes \(6,\)"):
        ln(np.zeros((2, 4, 5), "float32"))
