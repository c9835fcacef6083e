"""Every check at the public boundary of fit / evaluate / predict, with its message."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers


@pytest.fixture
def clf():
    """A compiled 3-class classifier on (None, 4) inputs."""
    model = keras.Sequential(
        [
            keras.Input(shape=(4,), name="features"),
            layers.Dense(3, activation="softmax", name="probs"),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(10, 4)).astype("float32"), rng.integers(0, 3, 10)


def image_model(channels):
    model = keras.Sequential(
        [
            keras.Input(shape=(6, 6, channels), name="image"),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


# ---- input shapes --------------------------------------------------------------------------------
def test_missing_channel_axis_is_added_for_one_channel_models():
    model = image_model(1)
    x = np.zeros((4, 6, 6), "float32")
    assert model.predict(x, verbose=0).shape == (4, 2)
    model.fit(x, np.array([0, 1, 0, 1]), verbose=0)
    assert model.predict(np.zeros((4, 6, 6, 1, 1)), verbose=0).shape == (4, 2)  # extra axis removed


def test_missing_channel_axis_for_a_three_channel_model_is_an_error():
    model = image_model(3)
    with pytest.raises(
        ValueError,
        match=(
            r"fit\(\): input 0 \('image'\) of model 'sequential' expects 4 dims \(None, 6, 6, 3\), "
            r"got shape \(4, 6, 6\)\. The model expects 3 channels on the last axis and the data "
            r"has none\. .*np\.repeat\(x\[\.\.\., None\], 3, axis=-1\).*Input\(shape=\(6, 6, 1\)\)"
        ),
    ):
        model.fit(np.zeros((4, 6, 6)), np.zeros(4, int), verbose=0)


def test_wrong_channel_count_names_input_and_both_shapes():
    model = image_model(3)
    with pytest.raises(
        ValueError,
        match=(
            r"predict\(\): input 0 \('image'\) of model 'sequential' expects shape \(None, 6, 6, "
            r"3\), got \(2, 6, 6, 4\) \(axis 3 is 4, expected 3\)\. The last axis holds the "
            r"features/channels"
        ),
    ):
        model.predict(np.zeros((2, 6, 6, 4)), verbose=0)


def test_wrong_feature_size(clf):
    with pytest.raises(
        ValueError, match=r"input 0 \('features'\).*expects shape \(None, 4\), got \(5, 7\)"
    ):
        clf.fit(np.zeros((5, 7)), np.zeros(5, int), verbose=0)


def test_channels_first_data_gets_a_transpose_hint():
    model = image_model(3)
    with pytest.raises(
        ValueError, match=r"looks channels-first \(NCHW\).*x\.transpose\(0, 2, 3, 1\)"
    ):
        model.predict(np.zeros((2, 3, 6, 6)), verbose=0)


def test_single_sample_without_batch_axis():
    model = image_model(3)
    with pytest.raises(ValueError, match=r"one sample without the batch axis: use x\[None\]"):
        model.predict(np.zeros((6, 6, 3)), verbose=0)


def test_wrong_rank_for_dense_model(clf):
    with pytest.raises(
        ValueError, match=r"expects 2 dims \(None, 4\), got shape \(2, 3, 4\)\. Reshape"
    ):
        clf.predict(np.zeros((2, 3, 4)), verbose=0)


# ---- data content --------------------------------------------------------------------------------
def test_x_and_y_lengths_differ(clf, data):
    x, y = data
    with pytest.raises(
        ValueError,
        match=r"fit\(\): x and y have different lengths: x has 10 samples, "
        r"y has 9\. Pass one target per input sample\.",
    ):
        clf.fit(x, y[:9], verbose=0)


def test_one_hot_labels_with_sparse_loss(clf, data):
    x, y = data
    with pytest.raises(
        ValueError,
        match=(
            r"y \(targets of output 'probs', shape \(None, 3\)\) has shape \(10, 3\), the shape of "
            r"one-hot labels, but loss 'sparse_categorical_crossentropy' expects integer class ids "
            r"of shape \(10,\)\. Use loss='categorical_crossentropy'.*y\.argmax\(axis=-1\)"
        ),
    ):
        clf.fit(x, keras.utils.to_categorical(y, 3), verbose=0)


def test_integer_labels_with_categorical_loss(data):
    x, y = data
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    for labels in (y, y[:, None]):
        with pytest.raises(
            ValueError,
            match=(
                r"looks like integer class ids .* but loss 'categorical_crossentropy' expects "
                r"one-hot labels of shape \(10, 3\)\. Use loss='sparse_categorical_crossentropy', "
                r"or one-hot encode them: keras\.utils\.to_categorical\(y, 3\)"
            ),
        ):
            model.fit(x, labels, verbose=0)


def test_one_hot_with_wrong_class_count(data):
    x, y = data
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(
        ValueError,
        match=r"has shape \(10, 5\); loss 'categorical_crossentropy' expects "
        r"one-hot labels of shape \(10, 3\) \(3 classes\)",
    ):
        model.fit(x, np.eye(5)[y], verbose=0)
    with pytest.raises(
        ValueError, match=r"values in \[0, 2\]; loss 'categorical_crossentropy' expects one-hot"
    ):
        model.fit(x, 2 * np.eye(3)[y], verbose=0)


def test_labels_out_of_range(clf, data):
    x, y = data
    y = y.copy()
    y[6] = 3
    with pytest.raises(
        ValueError,
        match=r"has label 3 \(sample 6\), out of range for 3 classes: labels must "
        r"be in \[0, 2\]",
    ):
        clf.fit(x, y, verbose=0)
    y[6] = -1
    with pytest.raises(ValueError, match=r"has label -1 \(sample 6\), out of range"):
        clf.evaluate(x, y, verbose=0)


def test_fractional_labels_with_sparse_loss(clf, data):
    x, _ = data
    with pytest.raises(
        ValueError,
        match=r"non-integer values \(e\.g\. 0\.5\); loss "
        r"'sparse_categorical_crossentropy' expects integer class ids 0\.\.2",
    ):
        clf.fit(x, np.full(10, 0.5), verbose=0)


def test_binary_labels_out_of_range(data):
    x, y = data
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    model.fit(x, (y > 0).astype(int), verbose=0)  # (n,) is fine for a (None, 1) output
    with pytest.raises(
        ValueError,
        match=r"values in \[0, 2\]; loss 'binary_crossentropy' expects labels in "
        r"\[0, 1\]\. For more than two classes",
    ):
        model.fit(x, y, verbose=0)


def test_elementwise_loss_shape_mismatch(data):
    x, _ = data
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(
        ValueError,
        match=r"has shape \(10, 3\); loss 'mean_squared_error' compares it element "
        r"by element with the output, so it needs shape \(10, 2\)",
    ):
        model.fit(x, np.zeros((10, 3)), verbose=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_inputs(clf, data, bad):
    x, y = data
    x = x.copy()
    x[7, 2] = bad
    with pytest.raises(
        ValueError,
        match=r"fit\(\) found 1 NaN or infinite value in x \(first in sample 7\)\. "
        r"Clean the data first",
    ):
        clf.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"predict\(\) found 1 NaN or infinite value in x"):
        clf.predict(x, verbose=0)


def test_nan_in_targets(data):
    x, _ = data
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    y = np.zeros(10)
    y[[1, 4]] = np.nan
    with pytest.raises(
        ValueError, match=r"found 2 NaN or infinite values in y \(first in sample 1\)"
    ):
        model.fit(x, y, verbose=0)


def test_empty_inputs(clf):
    with pytest.raises(
        ValueError, match=r"fit\(\) got an empty x \(0 samples, shape \(0, 4\)\)\. Pass at least"
    ):
        clf.fit(np.zeros((0, 4)), np.zeros(0, int), verbose=0)
    with pytest.raises(ValueError, match=r"predict\(\) got an empty x"):
        clf.predict(np.zeros((0, 4)), verbose=0)
    with pytest.raises(ValueError, match=r"got an empty x"):
        keras.Sequential([layers.Dense(2)]).predict(np.zeros((0, 4)), verbose=0)


def test_non_numeric_arrays(clf, data):
    x, y = data
    with pytest.raises(
        TypeError,
        match=r"fit\(\) expects x to be numeric, got an array of Python objects "
        r"\(dtype object\)",
    ):
        clf.fit(np.array([[1, "a", None, 2]] * 10, dtype=object), y, verbose=0)
    with pytest.raises(
        TypeError,
        match=r"expects y to be numeric, got an array of strings.*Encode labels as "
        r"integer class ids",
    ):
        clf.fit(x, np.array(["cat"] * 10), verbose=0)
    with pytest.raises(
        ValueError, match=r"could not make an array of x: its rows have different lengths"
    ):
        clf.predict([[1.0, 2.0, 3.0, 4.0], [1.0]], verbose=0)
    with pytest.raises(ValueError, match=r"fit\(\) got x=None"):
        clf.fit(None, y, verbose=0)


# ---- arguments -----------------------------------------------------------------------------------
@pytest.mark.parametrize("bs", [0, -4])
def test_batch_size_below_one(clf, data, bs):
    x, y = data
    with pytest.raises(
        ValueError, match=rf"fit\(\) argument batch_size must be at least 1, got {bs}"
    ):
        clf.fit(x, y, batch_size=bs, verbose=0)
    with pytest.raises(ValueError, match=r"predict\(\) argument batch_size must be at least 1"):
        clf.predict(x, batch_size=bs, verbose=0)
    with pytest.raises(ValueError, match=r"evaluate\(\) argument batch_size must be at least 1"):
        clf.evaluate(x, y, batch_size=bs, verbose=0)


def test_batch_size_of_wrong_type(clf, data):
    x, y = data
    with pytest.raises(
        TypeError, match=r"argument batch_size expects a positive integer, got 8\.0"
    ):
        clf.fit(x, y, batch_size=8.0, verbose=0)


def test_negative_epochs(clf, data):
    x, y = data
    with pytest.raises(ValueError, match=r"fit\(\) argument epochs must be >= 0, got -1"):
        clf.fit(x, y, epochs=-1, verbose=0)
    h = clf.fit(x, y, epochs=0, verbose=0)  # zero epochs: nothing happens, as Keras
    assert clf.optimizer.iterations == 0 and h is clf.history


@pytest.mark.parametrize("split", [1.0, 1.5, -0.1])
def test_validation_split_outside_range(clf, data, split):
    x, y = data
    with pytest.raises(ValueError, match=rf"validation_split must be in \[0, 1\), got {split}"):
        clf.fit(x, y, validation_split=split, verbose=0)


def test_validation_split_leaving_nothing(clf, data):
    x, y = data
    with pytest.raises(
        ValueError,
        match=r"validation_split=0\.5 of 1 samples leaves 0 for training and 1 "
        r"for validation; both need at least one",
    ):
        clf.fit(x[:1], y[:1], validation_split=0.5, verbose=0)


def test_validation_data_form(clf, data):
    x, y = data
    with pytest.raises(
        ValueError,
        match=r"validation_data expects a tuple \(x_val, y_val\).*got a tuple of "
        r"length 1",
    ):
        clf.fit(x, y, validation_data=(x,), verbose=0)
    with pytest.raises(
        ValueError, match=r"fit\(validation_data\)\(\): x and y have different lengths"
    ):
        clf.fit(x, y, validation_data=(x, y[:3]), verbose=0)


def test_verbose_values(clf, data):
    x, y = data
    with pytest.raises(ValueError, match=r"verbose expects 'auto', 0, 1 or 2, got 3"):
        clf.fit(x, y, verbose=3)


def test_sample_weight_checks(clf, data):
    x, y = data
    with pytest.raises(
        ValueError,
        match=r"sample_weight has shape \(9,\), expected one weight per sample: "
        r"shape \(10,\)",
    ):
        clf.fit(x, y, sample_weight=np.ones(9), verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight has negative values"):
        clf.fit(x, y, sample_weight=-np.ones(10), verbose=0)


def test_class_weight_checks(clf, data):
    x, y = data
    with pytest.raises(ValueError, match="pass class_weight or sample_weight, not both"):
        clf.fit(x, y, class_weight={0: 1.0}, sample_weight=np.ones(10), verbose=0)
    with pytest.raises(TypeError, match=r"class_weight expects a dict \{class_id: weight\}"):
        clf.fit(x, y, class_weight=[1.0, 2.0, 3.0], verbose=0)
    with pytest.raises(ValueError, match=r"class_weight\[1\] must be a finite number >= 0, got -2"):
        clf.fit(x, y, class_weight={1: -2}, verbose=0)


# ---- compile -------------------------------------------------------------------------------------
def test_fit_and_evaluate_before_compile(data):
    x, y = data
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3)])
    with pytest.raises(
        ValueError,
        match=r"Model 'sequential' must be compiled before fit\(\): call "
        r"model\.compile\(",
    ):
        model.fit(x, y)
    with pytest.raises(ValueError, match=r"must be compiled before evaluate\(\)"):
        model.evaluate(x, y)
    with pytest.raises(ValueError, match=r"must be compiled before train_on_batch\(\)"):
        model.train_on_batch(x, y)
    assert model.predict(x, verbose=0).shape == (10, 3)  # predict needs no compile
    model.compile(optimizer="sgd")
    with pytest.raises(
        ValueError, match=r"compiled without a loss, so fit\(\) has nothing to compute"
    ):
        model.fit(x, y)


def test_unknown_names_in_compile(clf):
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adamm'\. Did you mean 'adam'"):
        clf.compile(optimizer="adamm", loss="mse")
    with pytest.raises(
        ValueError,
        match=r"Unknown loss 'categorical_crossentropi'\. Did you mean "
        r"'categorical_crossentropy'",
    ):
        clf.compile(optimizer="sgd", loss="categorical_crossentropi")
    with pytest.raises(ValueError, match=r"Unknown metric 'acuracy'\. Did you mean 'accuracy'"):
        clf.compile(optimizer="sgd", loss="mse", metrics=["acuracy"])
    with pytest.raises(
        TypeError,
        match=r"compile\(\) got an unexpected keyword argument 'metric'\. Did you "
        r"mean 'metrics'",
    ):
        clf.compile(optimizer="sgd", loss="mse", metric=["accuracy"])
    with pytest.raises(
        TypeError, match=r"metrics expects a list \(e\.g\. metrics=\['accuracy'\]\)"
    ):
        clf.compile(optimizer="sgd", loss="mse", metrics="accuracy")


def test_per_output_compile_structures():
    inp = keras.Input(shape=(2,))
    a = layers.Dense(1, name="a")(inp)
    b = layers.Dense(1, name="b")(inp)
    model = keras.Model(inp, [a, b])
    with pytest.raises(
        ValueError,
        match=r"loss is a list of 3, but model 'functional' has 2 outputs "
        r"\['a', 'b'\]",
    ):
        model.compile(loss=["mse", "mse", "mse"])
    with pytest.raises(
        ValueError, match=r"loss has key 'c', which is not an output of model 'functional'"
    ):
        model.compile(loss={"c": "mse"})
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((3, 2))
    with pytest.raises(
        ValueError,
        match=r"model 'functional' has 2 outputs \['a', 'b'\], got a single array "
        r"for output targets y\. Pass a list of 2 arrays",
    ):
        model.fit(x, np.zeros(3), verbose=0)
    with pytest.raises(
        ValueError,
        match=r"got output targets y for 'z', which is not one of model "
        r"'functional''s output names",
    ):
        model.fit(x, {"a": np.zeros(3), "z": np.zeros(3)}, verbose=0)


def test_missing_targets(clf, data):
    x, _ = data
    with pytest.raises(
        ValueError,
        match=r"fit\(\) got no targets y, but model 'sequential' was compiled "
        r"with a loss",
    ):
        clf.fit(x, verbose=0)


def test_multi_input_checks():
    a = keras.Input(shape=(2,), name="a")
    b = keras.Input(shape=(3,), name="b")
    model = keras.Model([a, b], layers.Concatenate()([a, b]))
    with pytest.raises(
        ValueError, match=r"model 'functional' has 2 inputs \['a', 'b'\], got a single array"
    ):
        model.predict(np.zeros((4, 2)), verbose=0)
    with pytest.raises(ValueError, match=r"got a list of 3 arrays for input data x"):
        model.predict([np.zeros((4, 2))] * 3, verbose=0)
    with pytest.raises(
        ValueError,
        match=r"all inputs need the same number of samples; input 0 \('a'\) has 4, "
        r"input 1 \('b'\) has 5",
    ):
        model.predict([np.zeros((4, 2)), np.zeros((5, 3))], verbose=0)
    with pytest.raises(ValueError, match=r"got no input data x for 'b'"):
        model.predict({"a": np.zeros((4, 2))}, verbose=0)


def test_list_of_arrays_for_a_single_input_model(clf, data):
    x, y = data
    assert clf.predict([x], verbose=0).shape == (10, 3)
    with pytest.raises(
        ValueError,
        match=r"model 'sequential' has one input \('features'\), got a list of 2 "
        r"arrays for input data x",
    ):
        clf.predict([x, x], verbose=0)
