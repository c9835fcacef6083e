"""Layer arithmetic: the seeds' output sizes and parameter counts (worked examples 2, 4, 9),
flagged non-integer geometry, receptive fields, and counts that allocate nothing."""

import math

import pytest

import filterbank as keras
from filterbank import explain, layers


def _seed_sequential():
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )


def test_seed_sequential_formulas_and_counts():
    model = _seed_sequential()
    rows = explain.layer_arithmetic(model)
    assert [r["params"] for r in rows] == [320, 0, 18496, 0, 36928, 0, 36928, 650]
    assert sum(r["params"] for r in rows) == 93322 == model.count_params()
    assert rows[0]["output_formula"].splitlines()[0] == "height: (28 - 3 + 2*0)/1 + 1 = 26"
    assert rows[0]["param_formula"] == "(3*3*1 + 1)*32 = 320"
    assert rows[0]["receptive_field"] == [3, 3]
    assert rows[2]["receptive_field"] == [8, 8] and rows[2]["jump"] == [2, 2]
    assert rows[4]["receptive_field"] == [18, 18]
    assert rows[3]["fits"] is False and "doesn't fit, floored to 5" in rows[3]["output_formula"]
    assert rows[0]["dense_params"] == 784 * 26 * 26 * 32 + 26 * 26 * 32
    text = model.summary_string(arithmetic=True)
    assert "Total params: 93,322" in text and "(3*3*32 + 1)*64 = 18,496" in text
    printed = []
    model.summary(arithmetic=True, print_fn=printed.append)
    assert printed == [text]


def test_cs231n_geometry():
    """Worked example 4: N=7, F=3 with S=1, 2, 3; P=1; 32x32x3 with six 5x5 filters."""
    for s, want, fits in ((1, "= 5", True), (2, "= 3", True), (3, "= 2.333: doesn't fit", False)):
        row = explain.layer_arithmetic([layers.Conv2D(1, 3, strides=s)], input_shape=(7, 7, 1))[0]
        assert want in row["output_formula"] and row["fits"] is fits
    row = explain.layer_arithmetic(
        [layers.ZeroPadding2D(1), layers.Conv2D(1, 3)], input_shape=(7, 7, 1)
    )[1]
    assert row["output_shape"] == "(None, 7, 7, 1)"
    row = explain.layer_arithmetic([layers.Conv2D(6, 5)], input_shape=(32, 32, 3))[0]
    assert row["output_shape"] == "(None, 28, 28, 6)" and row["params"] == (5 * 5 * 3) * 6 + 6
    row = explain.layer_arithmetic([layers.MaxPooling2D(2)], input_shape=(64, 64, 3))[0]
    assert row["output_shape"] == "(None, 32, 32, 3)" and row["params"] == 0
    same = explain.layer_arithmetic(
        [layers.Conv2D(1, 3, strides=2, padding="same")], input_shape=(7, 7, 1)
    )[0]
    assert same["output_formula"].startswith("height: ceil(7/2) = 4 ('same': 1 zero before, 1")


def test_two_pools_equal_one_bigger_pool_in_receptive_field():
    two = explain.layer_arithmetic(
        [layers.MaxPooling2D(2), layers.MaxPooling2D(2)], input_shape=(16, 16, 1)
    )[-1]
    one = explain.layer_arithmetic([layers.MaxPooling2D(4)], input_shape=(16, 16, 1))[0]
    assert two["receptive_field"] == one["receptive_field"] == [4, 4]
    assert two["jump"] == one["jump"] == [4, 4]


def test_parameter_counts_allocate_nothing():
    """Worked example 2: 10^12 connections for a dense 1000x1000 -> 1000x1000 layer."""
    n = explain.count_params(layers.Dense(10**6), input_shape=(10**6,))
    assert n == 10**12 + 10**6 and round(math.log10(n)) == 12
    assert (
        explain.count_params(layers.Conv2D(1, 11, use_bias=False), input_shape=(1000, 1000, 1))
        == 121
    )
    rows = explain.layer_arithmetic(
        [layers.Flatten(), layers.Dense(10**6)], input_shape=(1000, 1000)
    )
    assert rows[1]["params"] == 10**12 + 10**6
    conv = explain.layer_arithmetic(
        [layers.Conv2D(1, 11, padding="same")], input_shape=(1000, 1000, 1)
    )[0]
    assert conv["params"] == 122 and conv["dense_params"] == 10**12 + 10**6
    with pytest.raises(ValueError, match="needs input_shape"):
        explain.layer_arithmetic([layers.Dense(3)])


def test_functional_branches_take_the_wider_field():
    inp = keras.Input(shape=(9, 9, 1))
    a = layers.Conv2D(2, 3)(inp)
    b = layers.Conv2D(2, 5, padding="same")(inp)
    b = layers.Conv2D(2, 3)(b)
    out = layers.Add()([a, b])
    rows = explain.layer_arithmetic(keras.Model(inp, out))
    assert rows[-1]["receptive_field"] == [7, 7]
