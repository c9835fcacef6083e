"""model.summary(): the Keras 3 table for the seed models (worked example 9) and its variants."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from filterbank.models.summary import readable_memory_size, to_ascii


@pytest.fixture(autouse=True)
def _terminal_80(monkeypatch):
    # Keras caps the default width at the terminal width - 4; fix the terminal for the tests.
    monkeypatch.setenv("COLUMNS", "80")


def seed_sequential():
    return keras.Sequential(
        [
            layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )


def seed_functional():
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(filters=32, kernel_size=3, activation="relu")(inputs)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=64, kernel_size=3, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=128, kernel_size=3, activation="relu")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


SEQUENTIAL_TABLE = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ conv2d (Conv2D)                 │ (None, 26, 26, 32)     │           320 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ max_pooling2d (MaxPooling2D)    │ (None, 13, 13, 32)     │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ conv2d_1 (Conv2D)               │ (None, 11, 11, 64)     │        18,496 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ max_pooling2d_1 (MaxPooling2D)  │ (None, 5, 5, 64)       │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ conv2d_2 (Conv2D)               │ (None, 3, 3, 64)       │        36,928 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ flatten (Flatten)               │ (None, 576)            │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense (Dense)                   │ (None, 64)             │        36,928 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 10)             │           650 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 93,322 (364.54 KB)
 Trainable params: 93,322 (364.54 KB)
 Non-trainable params: 0 (0.00 B)"""


def rows(text):
    """(name (type), output shape, params[, connected to]) of each body row of a table."""
    out = []
    for line in text.splitlines():
        if line.startswith("│"):
            out.append(tuple(cell.strip() for cell in line.strip("│").split("│")))
    return out


def test_seed_sequential_table_exactly(capsys):
    model = seed_sequential()
    assert model.summary() is None
    assert capsys.readouterr().out == SEQUENTIAL_TABLE + "\n"
    assert model.count_params() == 93_322


def test_seed_functional_table():
    model = seed_functional()
    text = model.summary_string()
    assert text.splitlines()[0] == 'Model: "functional"'
    assert rows(text) == [
        ("input_layer (InputLayer)", "(None, 28, 28, 1)", "0"),
        ("conv2d (Conv2D)", "(None, 26, 26, 32)", "320"),
        ("max_pooling2d (MaxPooling2D)", "(None, 13, 13, 32)", "0"),
        ("conv2d_1 (Conv2D)", "(None, 11, 11, 64)", "18,496"),
        ("max_pooling2d_1 (MaxPooling2D)", "(None, 5, 5, 64)", "0"),
        ("conv2d_2 (Conv2D)", "(None, 3, 3, 128)", "73,856"),
        ("flatten (Flatten)", "(None, 1152)", "0"),
        ("dense (Dense)", "(None, 10)", "11,530"),
    ]
    assert text.splitlines()[-3:] == [
        " Total params: 104,202 (407.04 KB)",
        " Trainable params: 104,202 (407.04 KB)",
        " Non-trainable params: 0 (0.00 B)",
    ]
    assert "Connected to" not in text  # a chain prints like a Sequential, as Keras


def test_branching_model_has_connected_to_column():
    a = keras.Input(shape=(8,), name="a")
    b = keras.Input(shape=(8,), name="b")
    s = layers.Add(name="s")([layers.Dense(8, name="d")(a), b])
    out = layers.Dense(2, name="out")(layers.Concatenate(name="c")([s, a]))
    text = keras.Model([a, b], out).summary_string(line_length=120)
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    assert [h.strip() for h in header.strip("┃").split("┃")] == [
        "Layer (type)",
        "Output Shape",
        "Param #",
        "Connected to",
    ]
    assert rows(text) == [
        ("a (InputLayer)", "(None, 8)", "0", "-"),
        ("d (Dense)", "(None, 8)", "72", "a[0][0]"),
        ("b (InputLayer)", "(None, 8)", "0", "-"),
        ("s (Add)", "(None, 8)", "0", "d[0][0], b[0][0]"),
        ("c (Concatenate)", "(None, 16)", "0", "s[0][0], a[0][0]"),
        ("out (Dense)", "(None, 2)", "34", "c[0][0]"),
    ]
    assert all(len(line) == 120 for line in text.splitlines() if line[:1] in "┏┃┡│├└")


@pytest.mark.parametrize("width", [60, 88, 100])
def test_line_length_sets_the_table_width(width):
    text = seed_sequential().summary_string(line_length=width)
    table = [line for line in text.splitlines() if line[:1] in "┏┃┡│├└"]
    assert table and all(len(line) == width for line in table)
    default = seed_sequential().summary_string()
    assert all(len(line) == 76 for line in default.splitlines() if line[:1] in "┏┃┡│├└")
    with pytest.raises(ValueError, match="too narrow"):
        seed_sequential().summary(line_length=8)


def test_print_fn_gets_the_text_once():
    model = seed_sequential()
    got = []
    model.summary(print_fn=got.append)
    assert got == [SEQUENTIAL_TABLE]


def test_non_trainable_and_frozen_counts():
    model = keras.Sequential(
        [
            keras.Input(shape=(4,)),
            layers.Dense(8, name="a"),
            layers.BatchNormalization(name="bn"),
            layers.Dense(2, name="b"),
        ]
    )
    model.get_layer("b").trainable = False
    lines = model.summary_string().splitlines()
    # bn: gamma, beta trainable; moving mean/variance not; b frozen: 18 weights
    assert lines[-3:] == [
        " Total params: 90 (360.00 B)",
        " Trainable params: 56 (224.00 B)",
        " Non-trainable params: 34 (136.00 B)",
    ]
    assert ("bn (BatchNormalization)", "(None, 8)", "32") in rows("\n".join(lines))
    shown = model.summary_string(show_trainable=True, line_length=100)
    assert [r[-1] for r in rows(shown)] == ["Y", "Y", "N"]


def test_unbuilt_sequential():
    model = keras.Sequential([layers.Dense(4, name="a"), layers.Dense(2, name="b")])
    assert rows(model.summary_string()) == [
        ("a (Dense)", "?", "0 (unbuilt)"),
        ("b (Dense)", "?", "0 (unbuilt)"),
    ]


def test_optimizer_params_after_training():
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    assert "Optimizer params" not in model.summary_string()
    model.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0)
    lines = model.summary_string().splitlines()
    # Adam: two slots per weight (8 values each) + iterations + learning rate
    assert lines[-1].startswith(" Optimizer params: 18 (")
    assert lines[-4].startswith(" Total params: 26 (")


def test_long_names_wrap_inside_cells():
    model = keras.Sequential(
        [keras.Input(shape=(3,)), layers.Dense(2, name="a_really_long_layer_name_" * 2)]
    )
    text = model.summary_string(line_length=60)
    assert all(len(line) == 60 for line in text.splitlines() if line[:1] in "┏┃┡│├└")
    assert "a_really_long_la" in text


def test_readable_memory_size_and_ascii():
    assert readable_memory_size(0) == "0.00 B"
    assert readable_memory_size(373_288) == "364.54 KB"
    assert readable_memory_size(5 * 1024**2) == "5.00 MB"
    text = to_ascii(SEQUENTIAL_TABLE)
    assert text.isascii() and "| conv2d (Conv2D)" in text


def test_layer_range_and_keras_arguments():
    model = seed_sequential()
    text = model.summary_string(layer_range=("conv2d_1", "flatten"))
    assert [r[0] for r in rows(text)] == [
        "conv2d_1 (Conv2D)",
        "max_pooling2d_1 (MaxPooling2D)",
        "conv2d_2 (Conv2D)",
        "flatten (Flatten)",
    ]
    assert text.splitlines()[-3] == " Total params: 93,322 (364.54 KB)"  # totals stay whole-model
    got = []
    model.summary(print_fn=got.append, expand_nested=True, layer_range=["dense.*", "dense_1"])
    assert [r[0] for r in rows(got[0])] == ["dense (Dense)", "dense_1 (Dense)"]
    with pytest.raises(ValueError, match=r"layer_range=\('nope', 'dense'\) matches no layer"):
        model.summary(layer_range=("nope", "dense"))


def test_model_to_json_round_trip():
    model = seed_sequential()
    clone = keras.models.model_from_json(model.to_json())
    assert clone.summary_string() == model.summary_string()
