"""Numerical edge cases through whole models: huge logits, constant batches, blank images,
and the rule for integer and half-precision inputs.

The input rule (documented in :mod:`filterbank.models.training`): data becomes the model's float
type (float32 by default) without any rescaling. uint8 images stay 0..255 (divide by 255 yourself
if the model expects [0, 1]); float16 is widened exactly; float64 is rounded to float32.
"""

import math

import numpy as np
import pytest

import filterbank as keras
from filterbank import backend, layers, losses


def _finite(arrays):
    return all(np.isfinite(a).all() for a in arrays)


def _dense_with_logits(activation, logits):
    """One Dense layer whose outputs for the inputs e0, e1 are exactly the rows of `logits`."""
    logits = np.asarray(logits, "float32")
    model = keras.Sequential(
        [keras.Input(shape=(2,)), layers.Dense(logits.shape[1], activation=activation)]
    )
    model.layers[0].set_weights([logits, np.zeros(logits.shape[1], "float32")])
    return model


# ---- softmax / cross-entropy at logits of +-1e4 ---------------------------------------------
LOGITS = [[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]]
X = np.eye(2, dtype="float32")
WRONG = np.array([1, 2])  # true classes the model gives probability ~0 (exp(-1e4) underflows)


@pytest.mark.parametrize(
    "activation, loss, y",
    [
        ("softmax", "sparse_categorical_crossentropy", WRONG),
        ("softmax", "categorical_crossentropy", np.eye(3, dtype="float32")[WRONG]),
        (None, losses.SparseCategoricalCrossentropy(from_logits=True), WRONG),
        (None, losses.CategoricalCrossentropy(from_logits=True), np.eye(3, dtype="float32")[WRONG]),
    ],
)
def test_cross_entropy_stays_finite_for_logits_of_1e4(activation, loss, y):
    model = _dense_with_logits(activation, LOGITS)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-3), loss=loss)
    out = model.predict(X, verbose=0)
    assert _finite([out])
    if activation == "softmax":
        np.testing.assert_array_equal(out, [[1, 0, 0], [0, 1, 0]])  # saturated, no NaN
    assert 10 < model.evaluate(X, y, verbose=0) < 1e5
    before = model.layers[0].get_weights()[0].copy()
    first = model.train_on_batch(X, y)
    assert 10 < first < 1e5
    after = model.layers[0].get_weights()[0]
    assert _finite([after])
    # The gradient is softmax - onehot (finite, never 0 * inf): the wrongly confident logit
    # goes down, the true class's goes up.
    assert after[0, 0] < before[0, 0] and after[0, 1] > before[0, 1]
    assert after[1, 1] < before[1, 1] and after[1, 2] > before[1, 2]
    history = model.fit(X, y, epochs=5, verbose=0)
    assert _finite([np.array(history.history["loss"])])
    assert history.history["loss"][-1] < first


def test_sigmoid_and_binary_cross_entropy_at_logits_of_1e4():
    model = _dense_with_logits("sigmoid", [[1e4], [-1e4]])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    y = np.array([0.0, 1.0], "float32")  # both maximally wrong
    np.testing.assert_array_equal(model.predict(X, verbose=0), [[1.0], [0.0]])
    loss, accuracy = model.evaluate(X, y, verbose=0)
    assert math.isfinite(loss) and loss > 10 and accuracy == 0.0
    assert math.isfinite(model.train_on_batch(X, y)[0])
    assert _finite(model.get_weights())


def test_huge_inputs_through_a_conv_net_stay_finite():
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            layers.Conv2D(4, 3),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.full((4, 8, 8, 1), 1e4, "float32") * np.array([1, -1, 1, -1])[:, None, None, None]
    y = np.array([0, 1, 2, 0])
    assert _finite([model.predict(x, verbose=0)])
    history = model.fit(x, y, epochs=3, batch_size=2, verbose=0)
    assert _finite([np.array(history.history["loss"])]) and _finite(model.get_weights())


# ---- batch normalization on a constant batch ------------------------------------------------
def test_batch_norm_on_a_constant_batch_gives_beta():
    bn = layers.BatchNormalization(beta_initializer="constant")
    x = np.full((6, 4, 4, 3), 7.5, "float32")
    out = bn(x, training=True)
    # Zero variance: (x - mean) / sqrt(0 + epsilon) is exactly 0, so the output is beta.
    np.testing.assert_array_equal(out, np.zeros_like(x))
    grad = bn.backward(np.ones_like(x))
    assert _finite([grad] + list(bn.grads.values()))
    gamma, beta, moving_mean, moving_variance = bn.get_weights()
    np.testing.assert_allclose(moving_mean, 0.01 * 7.5, rtol=1e-6)
    np.testing.assert_allclose(moving_variance, 0.99, rtol=1e-6)  # 0.99 * 1 + 0.01 * 0
    assert _finite([bn(x, training=False)])


def test_training_on_constant_batches_stays_finite():
    model = keras.Sequential(
        [
            keras.Input(shape=(6, 6, 2)),
            layers.Conv2D(3, 3),
            layers.BatchNormalization(),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.full((8, 6, 6, 2), 3.0, "float32")
    history = model.fit(x, np.zeros(8, "int64"), epochs=4, batch_size=4, verbose=0)
    assert _finite([np.array(history.history["loss"])]) and _finite(model.get_weights())
    assert _finite([model.predict(x, verbose=0)])


# ---- all-zero images ------------------------------------------------------------------------
def test_all_zero_images_train_finitely_from_chance_level():
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            layers.Conv2D(4, 3, activation="relu", padding="same"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(),
            layers.Dropout(0.5),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.zeros((16, 12, 12, 1), "float32")
    y = np.arange(16) % 10
    # Zero images give zero features, so every class gets 1/10: the loss is log(10).
    assert model.train_on_batch(x, y)[0] == pytest.approx(math.log(10), rel=1e-6)
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert _finite([np.array(v) for v in history.history.values()])
    assert _finite(model.get_weights())


# ---- integer and half-precision inputs ------------------------------------------------------
def _identity_model():
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(3, use_bias=False)])
    model.set_weights([np.eye(3, dtype="float32")])
    return model


def test_uint8_input_is_cast_to_float32_without_rescaling():
    model = _identity_model()
    pixels = np.array([[0, 128, 255]], "uint8")
    for out in (model.predict(pixels, verbose=0), model(pixels), model.predict_on_batch(pixels)):
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, [[0.0, 128.0, 255.0]])  # still 0..255, not 0..1
    np.testing.assert_array_equal(
        model.predict(pixels / 255.0, verbose=0), np.array([[0, 128 / 255, 1]], "float32")
    )


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int64", "bool", "float16", "float64"])
def test_other_input_types_equal_their_float32_cast(dtype):
    data = np.random.default_rng(3).integers(0, 2 if dtype == "bool" else 200, size=(32, 3))
    if dtype.startswith("float"):
        data = data / 7.0  # not integers, so float16 and float64 differ from float32
    x = data.astype(dtype)
    model = _identity_model()
    out = model.predict(x, verbose=0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x.astype("float32"))


@pytest.mark.parametrize("dtype", ["uint8", "float16"])
def test_fit_on_uint8_or_float16_equals_fit_on_the_float32_copy(dtype):
    x = np.random.default_rng(5).integers(0, 256, size=(24, 4, 4, 1)).astype(dtype)
    y = np.arange(24) % 3

    def train(data):
        backend.set_random_seed(9)
        model = keras.Sequential(
            [
                keras.Input(shape=(4, 4, 1)),
                layers.Conv2D(2, 3),
                layers.Flatten(),
                layers.Dense(3, activation="softmax"),
            ]
        )
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(data, y, epochs=2, batch_size=8, verbose=0)
        return model.get_weights()

    for a, b in zip(train(x), train(x.astype("float32")), strict=True):
        assert a.tobytes() == b.tobytes()


def test_a_float64_model_takes_uint8_as_float64(float64):
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(3, use_bias=False)])
    model.set_weights([np.eye(3)])
    out = model.predict(np.array([[1, 2, 255]], "uint8"), verbose=0)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[1.0, 2.0, 255.0]])


def test_fit_and_evaluate_report_the_same_loss_at_saturated_logits():
    """train_on_batch's loss (fused gradient path) equals evaluate's, even at +-1e4 logits."""
    import filterbank as keras
    from filterbank import layers

    inputs = keras.Input(shape=(2,))
    outputs = layers.Dense(3, activation="softmax", kernel_initializer="zeros")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    model.layers[-1].set_weights([np.array([[1e4, -1e4, 0.0], [0.0, 0.0, 0.0]]), np.zeros(3)])
    x = np.array([[1.0, 0.0], [-1.0, 0.0]], dtype="float32")
    y = np.array([1, 1])
    train_loss = model.train_on_batch(x, y)
    eval_loss = model.evaluate(x, y, verbose=0)
    assert np.isfinite(train_loss) and train_loss == pytest.approx(eval_loss, rel=1e-6)
