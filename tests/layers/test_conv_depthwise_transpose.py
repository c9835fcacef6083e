"""DepthwiseConv2D, SeparableConv2D, Conv2DTranspose, Conv1DTranspose as layers.

Gradients by centered differences (float64), outputs against real Keras 3 with the same
weights (the placement of Keras's "same" padding and output_padding above all), configs,
model files, summary() counts and the error messages.
"""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from tests.gradcheck import check_layer
from tests.layers.keras_oracle import keras_output, real_keras


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


GRAD_CASES = [
    (layers.DepthwiseConv2D, dict(kernel_size=(2, 3), activation="tanh"), (2, 5, 4, 3)),
    (
        layers.DepthwiseConv2D,
        dict(kernel_size=3, strides=(2, 1), padding="same", depth_multiplier=2),
        (1, 6, 5, 2),
    ),
    (layers.DepthwiseConv2D, dict(kernel_size=2, dilation_rate=2, use_bias=False), (1, 5, 6, 2)),
    (
        layers.SeparableConv2D,
        dict(filters=3, kernel_size=(3, 2), padding="same", activation="sigmoid"),
        (2, 5, 4, 2),
    ),
    (
        layers.SeparableConv2D,
        dict(filters=2, kernel_size=3, strides=2, depth_multiplier=2),
        (1, 7, 6, 3),
    ),
    (
        layers.Conv2DTranspose,
        dict(filters=2, kernel_size=(3, 2), strides=(2, 3), activation="tanh"),
        (2, 3, 4, 3),
    ),
    (
        layers.Conv2DTranspose,
        dict(filters=3, kernel_size=3, strides=2, padding="same", output_padding=(1, 0)),
        (1, 4, 3, 2),
    ),
    (
        layers.Conv2DTranspose,
        dict(filters=2, kernel_size=2, dilation_rate=(2, 1), padding="same"),
        (1, 3, 4, 2),
    ),
    (layers.Conv1DTranspose, dict(filters=2, kernel_size=3, strides=2, padding="same"), (2, 5, 3)),
]


@pytest.mark.parametrize("cls,kwargs,shape", GRAD_CASES)
def test_gradients_by_centered_differences(cls, kwargs, shape):
    keras.backend.set_floatx("float64")
    try:
        layer = cls(**kwargs)
        assert check_layer(layer, _x(shape)) > 0
    finally:
        keras.backend.set_floatx("float32")


KERAS_CASES = [
    ("DepthwiseConv2D", dict(kernel_size=(3, 2), padding="same", strides=(2, 3)), (2, 7, 8, 3)),
    ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=3, dilation_rate=2), (1, 9, 7, 2)),
    (
        "SeparableConv2D",
        dict(filters=5, kernel_size=(2, 3), padding="same", depth_multiplier=2, strides=2),
        (2, 7, 6, 3),
    ),
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 5, 4, 3)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=(4, 3), strides=(2, 3)), (1, 3, 4, 2)),
    (
        "Conv2DTranspose",
        dict(filters=2, kernel_size=(2, 5), strides=(3, 2), padding="same"),
        (1, 3, 4, 2),
    ),
    (
        "Conv2DTranspose",
        dict(filters=3, kernel_size=3, strides=2, padding="same", output_padding=0),
        (2, 4, 5, 2),
    ),
    (
        "Conv2DTranspose",
        dict(filters=3, kernel_size=(3, 2), strides=(3, 2), padding="valid", output_padding=(2, 1)),
        (1, 3, 3, 2),
    ),
    (
        "Conv2DTranspose",
        dict(filters=2, kernel_size=(3, 2), dilation_rate=(2, 3), padding="same"),
        (1, 4, 5, 3),
    ),
    ("Conv2DTranspose", dict(filters=2, kernel_size=1, strides=3), (1, 3, 2, 2)),
    ("Conv1DTranspose", dict(filters=3, kernel_size=4, strides=3, padding="same"), (2, 5, 2)),
    ("Conv1DTranspose", dict(filters=3, kernel_size=3, strides=2, output_padding=1), (2, 5, 2)),
]


@pytest.mark.parametrize("name,kwargs,shape", KERAS_CASES)
def test_matches_real_keras(name, kwargs, shape):
    k = real_keras()
    ours = getattr(layers, name)(**kwargs)
    x = _x(shape, 3).astype("float32")
    ours(x)
    weights = [
        np.random.default_rng(i).standard_normal(w.shape).astype("float32")
        for i, w in enumerate(ours.get_weights())
    ]
    ours.set_weights(weights)
    theirs = getattr(k.layers, name)(**kwargs)
    expected = keras_output(theirs, x, weights)
    assert [w.shape for w in theirs.get_weights()] == [w.shape for w in weights]
    assert ours.count_params() == theirs.count_params()  # what summary() prints
    got = ours(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert ours.compute_output_shape((None, *shape[1:])) == tuple(
        theirs.compute_output_shape((None, *shape[1:]))
    )


def test_config_round_trip_and_keras_keys():
    k = real_keras()
    for name, kwargs, _ in KERAS_CASES:
        layer = getattr(layers, name)(**kwargs)
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.get_config() == config
        keras_keys = set(getattr(k.layers, name)(**kwargs).get_config())
        # Keras's keys minus the ones filterbank leaves out everywhere (constraints, activity
        # regularizers: not supported by any filterbank layer).
        missing = {
            key
            for key in keras_keys - set(config)
            if "constraint" not in key and key not in ("activity_regularizer", "dtype")
        }
        assert not missing, (name, missing)


def test_model_file_round_trip(tmp_path):
    inputs = keras.Input(shape=(12, 10, 3))
    x = layers.SeparableConv2D(8, 3, padding="same", activation="relu")(inputs)
    x = layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2)(x)
    x = layers.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1)(x)
    model = keras.Model(inputs, x)
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path)
    data = _x((2, 12, 10, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(data, verbose=0), again.predict(data, verbose=0))
    assert [la.get_config() for la in again.layers] == [la.get_config() for la in model.layers]


def test_summary_counts_match_keras():
    # Keras 3's counts for these layers (computed by Keras: kernel + bias sizes).
    model = keras.Sequential(
        [
            keras.Input(shape=(32, 32, 32)),
            layers.SeparableConv2D(64, 3, padding="same"),  # 3*3*32 + 32*64 + 64 = 2,400
            layers.DepthwiseConv2D(3, depth_multiplier=2),  # 3*3*64*2 + 128 = 1,280
            layers.Conv2DTranspose(16, 3, strides=2),  # 3*3*16*128 + 16 = 18,448
        ]
    )
    assert [la.count_params() for la in model.layers] == [2400, 1280, 18448]
    assert model.output_shape == (None, 61, 61, 16)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for count in ("2,400", "1,280", "18,448", "22,128"):
        assert count in text


@pytest.mark.parametrize(
    "make,pattern",
    [
        (
            lambda: layers.DepthwiseConv2D(3, depth_multiplier=0),
            "depth_multiplier expects a positive",
        ),
        (lambda: layers.SeparableConv2D(8, 3, depth_multiplier=-1), "depth_multiplier"),
        (lambda: layers.SeparableConv2D(0, 3), "filters expects a positive"),
        (lambda: layers.DepthwiseConv2D(3, padding="full"), "padding"),
        (lambda: layers.DepthwiseConv2D(3, strides=2, dilation_rate=2), "cannot combine strides"),
        (
            lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=2),
            r"output_padding must be smaller than the stride.*axis 0: 2 >= 2",
        ),
        (lambda: layers.Conv2DTranspose(4, 3, output_padding=(0, 1)), "smaller than the stride"),
        (lambda: layers.Conv2DTranspose(4, 3, output_padding=-1), "non-negative integer"),
        (lambda: layers.Conv1DTranspose(4, (3, 3)), "kernel_size expects"),
        (lambda: layers.DepthwiseConv2D(3, data_format="channels_first"), "channels_last"),
    ],
)
def test_bad_arguments_are_explained(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match=r"expects 4 dims.*x\[\.\.\., None\]"):
        layers.DepthwiseConv2D(3)(np.zeros((2, 28, 28), "float32"))
    with pytest.raises(ValueError, match="kernel size 5 is larger than its input"):
        layers.SeparableConv2D(4, 5)(keras.Input(shape=(3, 8, 2)))
    layer = layers.Conv2DTranspose(2, 3)
    layer(np.zeros((1, 4, 4, 3), "float32"))
    with pytest.raises(ValueError, match="expects 3 channels"):
        layer(np.zeros((1, 4, 4, 5), "float32"))
    with pytest.raises(ValueError, match="empty output"):
        layers.Conv2DTranspose(2, 2, padding="same", output_padding=0)(keras.Input(shape=(1, 3, 1)))


def test_fit_learns_with_the_new_convolutions():
    rng = np.random.default_rng(0)
    # Smooth images (a brightness and a horizontal ramp per sample): learnable by this net.
    a, b = rng.random((2, 64, 1, 1, 1))
    x = (0.2 + 0.5 * a + 0.3 * b * np.linspace(0, 1, 8)[None, None, :, None]).astype("float32")
    x = np.broadcast_to(x, (64, 8, 8, 1)).copy()
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            layers.SeparableConv2D(4, 3, padding="same", activation="relu"),
            layers.DepthwiseConv2D(3, strides=2, padding="same"),
            layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    first = model.fit(x, x, epochs=1, batch_size=16, verbose=0).history["loss"][0]
    last = model.fit(x, x, epochs=20, batch_size=16, verbose=0).history["loss"][-1]
    assert last < 0.2 * first
