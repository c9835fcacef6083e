"""The common mistakes, as a learner makes them, and what filterbank says.

Every message must say what happened, where (the method or layer and the argument), what was
expected, what was received and how to fix it. Each test below makes one mistake through the
public API (``import filterbank as keras``) and checks the error type and those parts of the
message. The detailed per-module checks live beside each module (tests/models,
tests/layers, tests/saving); this file is the tour of the whole list in one place.
"""

import re

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers


@pytest.fixture
def images():
    """20 grayscale 28x28 images with a channel axis, and their class ids 0..9."""
    x = np.random.default_rng(0).random((20, 28, 28, 1)).astype("float32")
    return x, np.arange(20) % 10


def cnn(channels=1, loss="sparse_categorical_crossentropy"):
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, channels)),
            layers.Conv2D(4, 3, activation="relu", name="conv"),
            layers.Flatten(),
            layers.Dense(10, activation="softmax", name="classes"),
        ],
        name="cnn",
    )
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model


def raises(error, *parts):
    """pytest.raises matching every part of the message, in order, as plain text."""
    return pytest.raises(error, match=".*".join(re.escape(p) for p in parts))


# ---- shapes --------------------------------------------------------------------------------
def test_missing_channel_axis_suggests_x_none(images):
    x, y = images
    model = keras.Sequential([layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(10)])
    model.compile(optimizer="adam", loss="mse")
    with raises(
        ValueError,
        "Input 0 of layer 'conv2d' expects 4 dims (batch, height, width, channels)",
        "got shape (None, 28, 28)",
        "Add a channel axis: x[..., None]",
    ):
        model.fit(x[..., 0], np.eye(10)[y], verbose=0)


def test_missing_channel_axis_is_added_for_a_one_channel_input(images):
    # As Keras: a model whose Input has 1 channel accepts (n, 28, 28) and adds the axis itself.
    x, y = images
    model = cnn(channels=1)
    np.testing.assert_array_equal(model.predict(x[..., 0], verbose=0), model.predict(x, verbose=0))


def test_missing_channel_axis_of_a_three_channel_model(images):
    x, y = images
    with raises(
        ValueError,
        "fit(): input 0",
        "of model 'cnn' expects 4 dims (None, 28, 28, 3)",
        "got shape (20, 28, 28)",
        "np.repeat(x[..., None], 3, axis=-1)",
        "or build the model with Input(shape=(28, 28, 1))",
    ):
        cnn(channels=3).fit(x[..., 0], y, verbose=0)


def test_one_sample_without_its_batch_axis(images):
    x, _ = images
    with raises(
        ValueError,
        "predict(): input 0",
        "expects 4 dims (None, 28, 28, 1)",
        "got shape (28, 28, 1)",
        "use x[None]",
    ):
        cnn().predict(x[0], verbose=0)


def test_wrong_channel_count(images):
    x, y = images
    with raises(
        ValueError,
        "fit(): input 0",
        "of model 'cnn' expects shape (None, 28, 28, 3)",
        "got (20, 28, 28, 1) (axis 3 is 1, expected 3)",
        "the model expects 3, the data has 1",
    ):
        cnn(channels=3).fit(x, y, verbose=0)


def test_channels_first_images_get_a_transpose_hint():
    model = keras.Sequential([keras.Input(shape=(8, 8, 3)), layers.Flatten(), layers.Dense(2)])
    with raises(
        ValueError,
        "expects shape (None, 8, 8, 3)",
        "got (5, 3, 8, 8)",
        "channels-first (NCHW)",
        "x.transpose(0, 2, 3, 1)",
    ):
        model.predict(np.zeros((5, 3, 8, 8), "float32"), verbose=0)


def test_images_fed_to_a_flat_input_get_a_flatten_hint(images):
    x, y = images
    model = keras.Sequential([keras.Input(shape=(784,)), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with raises(
        ValueError,
        "fit(): input 0",
        "expects 2 dims (None, 784)",
        "got shape (20, 28, 28)",
        "x.reshape(len(x), -1)",
        "layers.Flatten()",
    ):
        model.fit(x[..., 0], y, verbose=0)


# ---- targets -------------------------------------------------------------------------------
def test_x_and_y_of_different_lengths(images):
    x, y = images
    with raises(
        ValueError,
        "fit(): x and y have different lengths: x has 20 samples, y has 10",
        "Pass one target per input sample",
    ):
        cnn().fit(x, y[:10], verbose=0)
    with raises(ValueError, "evaluate(): x and y have different lengths"):
        cnn().evaluate(x[:5], y, verbose=0)


def test_one_hot_labels_with_a_sparse_loss(images):
    x, y = images
    with raises(
        ValueError,
        "fit(): y (targets of output 'classes'",
        "has shape (20, 10), the shape of one-hot labels",
        "loss 'sparse_categorical_crossentropy' expects integer class ids of shape (20,)",
        "Use loss='categorical_crossentropy'",
        "or pass y.argmax(axis=-1)",
    ):
        cnn().fit(x, keras.utils.to_categorical(y, 10), verbose=0)


def test_integer_labels_with_a_categorical_loss(images):
    x, y = images
    with raises(
        ValueError,
        "fit(): y (targets of output 'classes'",
        "looks like integer class ids (shape (20,))",
        "loss 'categorical_crossentropy' expects one-hot labels of shape (20, 10)",
        "Use loss='sparse_categorical_crossentropy'",
        "keras.utils.to_categorical(y, 10)",
    ):
        cnn(loss="categorical_crossentropy").fit(x, y, verbose=0)


@pytest.mark.parametrize("shift, label, sample", [(5, 14, 5), (-10, -10, 0)])
def test_labels_out_of_range(images, shift, label, sample):
    x, y = images
    with raises(
        ValueError,
        f"has label {label} (sample {sample}), out of range for 10 classes",
        "labels must be in [0, 9]",
        "give the last layer as many units as there are classes",
    ):
        cnn().fit(x, y + shift, verbose=0)


def test_binary_labels_outside_zero_one():
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    with raises(
        ValueError,
        "has values in [0, 2]",
        "loss 'binary_crossentropy' expects labels in [0, 1]",
        "'sparse_categorical_crossentropy'",
    ):
        model.fit(np.zeros((4, 3)), np.array([0, 1, 2, 1]), verbose=0)


# ---- values --------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_nan_or_inf_in_inputs(images, bad, method):
    x, y = images
    x = x.copy()
    x[7, 3, 3, 0] = bad
    args = (x,) if method == "predict" else (x, y)
    with raises(
        ValueError,
        f"{method}() found 1 NaN or infinite value in x (first in sample 7)",
        "np.nan_to_num",
    ):
        getattr(cnn(), method)(*args, verbose=0)


def test_nan_in_targets():
    model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with raises(ValueError, "fit() found 1 NaN or infinite value in y (first in sample 2)"):
        model.fit(np.zeros((4, 2)), np.array([0.0, 1.0, np.nan, 2.0]), verbose=0)


def test_values_too_large_for_float32():
    model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(1)])
    with raises(
        ValueError,
        "predict() found values in x too large for float32 (largest magnitude 1e+300",
        "would become inf",
        "Rescale the data",
    ):
        model.predict(np.array([[1e300, 0.0]]), verbose=0)


@pytest.mark.parametrize("method", ["fit", "predict"])
def test_empty_inputs(images, method):
    x, y = images
    args = (x[:0],) if method == "predict" else (x[:0], y[:0])
    with raises(
        ValueError,
        f"{method}() got an empty x (0 samples, shape (0, 28, 28, 1))",
        "Pass at least one sample",
    ):
        getattr(cnn(), method)(*args, verbose=0)


def test_non_numeric_arrays(images):
    x, y = images
    with raises(
        TypeError,
        "fit() expects y to be numeric, got an array of strings (dtype <U3)",
        "integer class ids",
        "np.unique(y, return_inverse=True)",
    ):
        cnn().fit(x, np.array(["cat", "dog"] * 10), verbose=0)
    with raises(
        TypeError,
        "predict() expects x to be numeric, got an array of Python objects",
        "np.asarray(x, dtype='float32')",
    ):
        cnn().predict(np.array([x[0], None], dtype=object), verbose=0)
    with raises(
        ValueError,
        "predict() could not make an array of x: its rows have different lengths",
        "Pad or crop them to one shape first",
    ):
        keras.Sequential([keras.Input(shape=(2,)), layers.Dense(1)]).predict([[1, 2], [3]])


# ---- fit / evaluate / predict arguments ----------------------------------------------------
@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("batch_size", [0, -4])
def test_batch_size_below_one(images, method, batch_size):
    x, y = images
    args = (x,) if method == "predict" else (x, y)
    with raises(
        ValueError,
        f"{method}() argument batch_size must be at least 1, got {batch_size}",
        "e.g. batch_size=32",
    ):
        getattr(cnn(), method)(*args, batch_size=batch_size, verbose=0)


def test_batch_size_and_epochs_that_are_not_integers(images):
    x, y = images
    with raises(TypeError, "fit() argument batch_size expects a positive integer, got 3.5"):
        cnn().fit(x, y, batch_size=3.5, verbose=0)
    with raises(TypeError, "fit() argument epochs expects a non-negative integer, got 2.5"):
        cnn().fit(x, y, epochs=2.5, verbose=0)


def test_negative_epochs(images):
    x, y = images
    with raises(ValueError, "fit() argument epochs must be >= 0, got -1", "e.g. epochs=10"):
        cnn().fit(x, y, epochs=-1, verbose=0)


@pytest.mark.parametrize("split", [1.0, 1.5, -0.1])
def test_validation_split_outside_zero_one(images, split):
    x, y = images
    with raises(
        ValueError,
        f"fit() argument validation_split must be in [0, 1), got {split}",
        "e.g. validation_split=0.2",
    ):
        cnn().fit(x, y, validation_split=split, verbose=0)


def test_validation_split_that_leaves_no_validation_sample(images):
    x, y = images
    with raises(
        ValueError,
        "validation_split=0.99 of 20 samples leaves 0 for training and 20 for validation",
        "Use more data or another validation_split",
    ):
        cnn().fit(x, y, validation_split=0.99, verbose=0)


# ---- names ---------------------------------------------------------------------------------
def test_unknown_optimizer_loss_and_metric_names():
    model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(1)])
    with raises(ValueError, "Unknown optimizer 'adma'. Did you mean 'adam'? Valid names:"):
        model.compile(optimizer="adma", loss="mse")
    with raises(
        ValueError,
        "Unknown loss 'categorical_crossentopy'. Did you mean 'categorical_crossentropy'?",
    ):
        model.compile(optimizer="adam", loss="categorical_crossentopy")
    with raises(ValueError, "Unknown metric 'acuracy'. Did you mean 'accuracy'?"):
        model.compile(optimizer="adam", loss="mse", metrics=["acuracy"])
    with raises(
        TypeError, "compile() got an unexpected keyword argument 'metric'. Did you mean 'metrics'?"
    ):
        model.compile(optimizer="adam", loss="mse", metric=["accuracy"])


@pytest.mark.parametrize(
    "make, where",
    [
        (lambda: layers.Dense(3, activation="rlu"), "Layer 'dense' argument activation"),
        (lambda: layers.Conv2D(3, 3, activation="rlu"), "Layer 'conv2d' argument activation"),
        (lambda: layers.Activation("rlu"), "Layer 'activation' argument activation"),
    ],
)
def test_unknown_activation_names_the_layer(make, where):
    with raises(
        ValueError,
        f"{where}: Unknown activation 'rlu'. Did you mean 'relu'? Valid names: elu, gelu",
    ):
        make()


def test_unknown_padding_names_the_layer():
    with raises(
        ValueError,
        "Layer 'conv2d' argument padding: Unknown padding 'smae'. Did you "
        "mean 'same'? Valid names: same, valid",
    ):
        layers.Conv2D(3, 3, padding="smae")
    with raises(
        ValueError,
        "Layer 'max_pooling2d' argument padding expects 'valid' or 'same', "
        "got 'vaild'. Did you mean 'valid'?",
    ):
        layers.MaxPooling2D(padding="vaild")


# ---- layer construction and shapes ---------------------------------------------------------
@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: layers.Conv2D(0, 3),
            "Layer 'conv2d' argument filters expects a positive integer, "
            "got 0. Pass e.g. filters=32.",
        ),
        (
            lambda: layers.Conv1D(-2, 3),
            "Layer 'conv1d' argument filters expects a positive integer, got -2.",
        ),
        (
            lambda: layers.Dense(0),
            "Layer 'dense' argument units expects a positive integer, got 0. Pass e.g. units=32.",
        ),
        (
            lambda: layers.Dense(2.5),
            "Layer 'dense' argument units expects a positive integer, got 2.5.",
        ),
        (
            lambda: layers.Conv2D(3, 0),
            "Layer 'conv2d' argument kernel_size expects a positive "
            "integer or a tuple of 2 positive integers, got (0, 0).",
        ),
        (
            lambda: layers.Dropout(1.5),
            "Layer 'dropout' argument rate expects a number between 0 and 1",
        ),
    ],
)
def test_filters_units_and_sizes_below_one(make, message):
    with raises(ValueError, message):
        make()


def test_kernel_larger_than_its_input_shows_the_output_size_formula():
    with raises(
        ValueError,
        "Layer 'conv2d' kernel size 7 is larger than its input along height: "
        "5 cells plus 0 padding with padding='valid'",
        "Output size (N - F + 2P)/S + 1 = (5 - 7 + 0)/1 + 1 = -1, less than one cell",
        "Use a smaller kernel_size, padding='same', or a larger input",
    ):
        keras.Sequential([keras.Input(shape=(5, 5, 1)), layers.Conv2D(2, 7)])


def test_kernel_larger_than_an_input_shrunk_by_pooling():
    with raises(
        ValueError,
        "Layer 'conv2d' kernel size 3 is larger than its input along height: 2 cells",
        "(2 - 3 + 0)/1 + 1 = 0",
        "drop a pooling layer before this one",
    ):
        keras.Sequential(
            [
                keras.Input(shape=(8, 8, 1)),
                layers.MaxPooling2D(2),
                layers.MaxPooling2D(2),
                layers.Conv2D(2, 3),
            ]
        )
    with raises(
        ValueError,
        "Layer 'max_pooling2d_2' pool_size (4, 4) does not fit its input of shape (None, 3, 3, 1)",
        "floor((3 - 4) / 4) + 1 = 0",
        "Use padding='same'",
    ):
        keras.Sequential([keras.Input(shape=(3, 3, 1)), layers.MaxPooling2D(4)])


def test_kernel_larger_than_a_conv1d_input_and_in_an_eager_call():
    with raises(
        ValueError,
        "Layer 'conv1d' kernel size 5 is larger than its input along steps: 4 cells",
        "(4 - 5 + 0)/1 + 1 = 0",
    ):
        keras.Sequential([keras.Input(shape=(4, 2)), layers.Conv1D(2, 5)])
    with raises(ValueError, "Layer 'conv2d' kernel size 7", "(5 - 7 + 0)/1 + 1 = -1"):
        layers.Conv2D(2, 7)(np.zeros((1, 5, 5, 1), "float32"))


# ---- order of calls ------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch"])
def test_fit_before_compile(images, method):
    x, y = images
    model = keras.Sequential(
        [keras.Input(shape=(28, 28, 1)), layers.Flatten(), layers.Dense(10)], name="mlp"
    )
    with raises(
        ValueError,
        f"Model 'mlp' must be compiled before {method}()",
        "call model.compile(optimizer=..., loss=..., metrics=[...]) first",
    ):
        getattr(model, method)(x, y)


def test_compiled_without_a_loss(images):
    x, y = images
    model = keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Flatten(), layers.Dense(10)])
    model.compile(optimizer="adam")
    with raises(
        ValueError,
        "was compiled without a loss, so fit() has nothing to compute",
        "Pass loss= to compile()",
    ):
        model.fit(x, y, verbose=0)


# ---- weights and files ---------------------------------------------------------------------
def test_set_weights_with_wrong_shapes_names_the_layer_and_both_shapes():
    model = cnn()
    weights = model.get_weights()
    weights[0] = np.zeros((5, 5, 1, 4), "float32")
    with raises(
        ValueError,
        "Model 'cnn'.set_weights: array 0 is for layer 'conv' weight "
        "'kernel', which has shape (3, 3, 1, 4), got shape (5, 5, 1, 4)",
        "Pass the arrays in get_weights() order",
    ):
        model.set_weights(weights)
    with raises(
        ValueError,
        "Layer 'conv' weight 'kernel' expects shape (3, 3, 1, 4), got (5, 5, 1, 4)",
        "Conv2D kernel (kh, kw, in, out)",
    ):
        model.get_layer("conv").set_weights([np.zeros((5, 5, 1, 4)), np.zeros(4)])
    with raises(ValueError, "Model 'cnn'.set_weights expects 4 arrays", "got 1"):
        model.set_weights([np.zeros(3)])


def test_load_errors(tmp_path):
    with raises(
        FileNotFoundError, f"Cannot load '{tmp_path / 'nope.fbk'}': no such file", "Check the path"
    ):
        keras.models.load_model(tmp_path / "nope.fbk")
    garbage = tmp_path / "garbage.fbk"
    garbage.write_bytes(b"hello")
    with raises(
        keras.saving.ModelFileError,
        f"Cannot load '{garbage}': it is not a zip file",
        "was this saved with model.save()?",
    ):
        keras.models.load_model(garbage)


def test_load_weights_into_another_architecture(tmp_path):
    pytest.importorskip("safetensors")
    path = tmp_path / "w.safetensors"
    cnn(channels=1).save_weights(path)
    with raises(
        keras.saving.ModelFileError,
        f"Cannot load '{path}': layer 'conv' weight 'kernel' "
        "has shape (3, 3, 1, 4) in the file, but the model expects (3, 3, 3, 4)",
        "Build the model with the architecture the weights were saved from",
    ):
        cnn(channels=3).load_weights(path)
