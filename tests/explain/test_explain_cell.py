"""explain.cell on hand-checked cases: the seeds' numbers, padding, strides, dilation, the
text forms and the error messages."""

import json

import numpy as np
import pytest

import filterbank as keras
from filterbank import explain, layers


def _toy():
    """MITx 6.86x lecture 12 (seed 000): Pool(ReLU(Conv(I))) = 5."""
    model = keras.Sequential(
        [
            keras.Input(shape=(3, 3, 1)),
            layers.Conv2D(1, 2, activation="relu", use_bias=False),
            layers.MaxPooling2D(2, strides=1),
        ]
    )
    model.layers[0].set_weights([np.array([[1.0, 0], [0, 1]]).reshape(2, 2, 1, 1)])
    image = np.array([[1, 0, 2], [3, 1, 0], [0, 0, 4]], "float32")
    return model, image


def test_toy_cnn_every_layer():
    model, image = _toy()
    conv = [
        [explain.cell(model, image, "conv2d", (i, j, 0)).output for j in range(2)] for i in range(2)
    ]
    assert conv == [[2, 0], [3, 5]]
    e = explain.cell(model, image, "conv2d", (1, 1, 0))
    assert e.window[..., 0].tolist() == [[1, 0], [0, 4]]
    assert e.products[..., 0].tolist() == [[1, 0], [0, 4]]
    assert (e.sum, e.pre_activation, e.activation, e.bias) == (5, 5, "relu", None)
    assert str(e).splitlines()[1:] == [
        "  1*1 + 0*0 + 0*0 + 4*1 = 5",
        "  5 + no bias = 5  ->  relu(5) = 5",
    ]
    p = explain.cell(model, image, "max_pooling2d", (0, 0, 0))
    assert p.output == 5 and p.winner["position"] == [1, 1, 0]
    assert "max(2, 0, 3, 5) = 5" in str(p)
    assert p.input_layer == "conv2d" and e.input_layer == "input_layer"


def test_same_padding_window_is_marked_and_origin_negative():
    model = keras.Sequential(
        [keras.Input(shape=(5, 5, 1)), layers.Conv2D(1, 3, padding="same", use_bias=False)]
    )
    model.layers[0].set_weights([np.ones((3, 3, 1, 1))])
    e = explain.cell(model, np.arange(25.0).reshape(5, 5), "conv2d", (0, 0, 0))
    assert e.origin == [-1, -1]
    assert e.padding_mask.tolist() == [
        [True, True, True],
        [True, False, False],
        [True, False, False],
    ]
    assert e.output == 0 + 1 + 5 + 6
    assert e.input_positions == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert "5 of the 9 window positions are zero padding" in str(e)


def test_stride_and_dilation_geometry():
    model = keras.Sequential(
        [keras.Input(shape=(7, 9, 2)), layers.Conv2D(3, (2, 3), dilation_rate=(2, 3))]
    )
    x = np.random.default_rng(0).normal(size=(7, 9, 2)).astype("float32")
    e = explain.cell(model, x, "conv2d", (1, 2, 1))
    assert e.origin == [1, 2]
    assert e.input_positions == [[r, c] for r in (1, 3) for c in (2, 5, 8)]
    assert np.allclose(e.window, x[np.ix_([1, 3], [2, 5, 8])])
    model2 = keras.Sequential([keras.Input(shape=(7, 7, 1)), layers.Conv2D(1, 3, strides=3)])
    e2 = explain.cell(model2, np.zeros((7, 7)), 0, (1, 1, 0))
    assert e2.origin == [3, 3]


def test_cs231n_activation_map_and_max_pool():
    """Seed 003: the 5x5 input, 3x3 kernel map, and the max-pool example."""
    x = np.array(
        [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]],
        "float32",
    )
    k = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], "float32")
    model = keras.Sequential([keras.Input(shape=(5, 5, 1)), layers.Conv2D(1, 3, use_bias=False)])
    model.layers[0].set_weights([k.reshape(3, 3, 1, 1)])
    got = [[explain.cell(model, x, "conv2d", (i, j, 0)).output for j in range(3)] for i in range(3)]
    assert got == [[12, 12, 17], [10, 17, 19], [9, 6, 14]]
    first = str(explain.cell(model, x, "conv2d", (0, 0, 0))).splitlines()[1]
    assert first == "  3*0 + 3*1 + 2*2 + 0*2 + 0*2 + 1*0 + 3*0 + 1*1 + 2*2 = 12"
    pool = keras.Sequential([keras.Input(shape=(4, 4, 1)), layers.MaxPooling2D(2, strides=2)])
    m = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], "float32")
    got = [[explain.cell(pool, m, 0, (i, j, 0)).output for j in range(2)] for i in range(2)]
    assert got == [[6, 8], [3, 4]]
    w = explain.pool_winners(pool, m, "max_pooling2d")
    assert w["positions"][..., 0, :].tolist() == [[[1, 1], [1, 3]], [[2, 0], [3, 3]]]


def test_average_pool_same_counts_only_real_cells():
    model = keras.Sequential(
        [keras.Input(shape=(3, 3, 1)), layers.AveragePooling2D(2, padding="same")]
    )
    x = np.arange(9.0).reshape(3, 3)
    e = explain.cell(model, x, 0, (1, 1, 0))
    assert e.output == 8 and e.counted.tolist() == [[True, False], [False, False]]
    assert e.model_output == 8
    assert "(8) / 1 = 8" in str(e) and "3 padding positions not counted" in str(e)


def test_large_windows_are_condensed_with_exact_totals():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(8, 8, 20)), layers.Conv2D(4, 5)])
    x = np.random.default_rng(1).normal(size=(8, 8, 20)).astype("float32")
    e = explain.cell(model, x, "conv2d", (2, 1, 3))
    text = str(e)
    assert "500 products" in text and "... and 492 more" in text
    assert "ch 19:" in text
    assert e.products.size == 500
    assert e.output == pytest.approx(e.model_output, rel=1e-5, abs=1e-6)


def test_dense_contributions_point_into_the_flattened_map():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input(shape=(4, 4, 3)), layers.Flatten(), layers.Dense(5, activation="softmax")]
    )
    x = np.zeros((4, 4, 3), "float32")
    x[2, 1, 2] = 10.0
    e = explain.cell(model, x, "dense", 3)
    top = e.contributions[0]
    assert top["input_index"] == 2 * 12 + 1 * 3 + 2 and top["source_position"] == [2, 1, 2]
    assert e.activation == "softmax" and len(e.details["logits"]) == 5
    assert "input 29 = flatten" not in str(e)  # the source of a Flatten is the map before it
    assert "input 29 = input_layer[2, 1, 2]" in str(e)
    assert e.output == pytest.approx(e.model_output, rel=1e-5)


def test_to_dict_is_plain_json():
    model, image = _toy()
    for name, idx in (("conv2d", (0, 0, 0)), ("max_pooling2d", (0, 0, 0))):
        d = explain.cell(model, image, name, idx).to_dict()
        assert json.loads(json.dumps(d)) == d
        assert isinstance(d["output"], float)
    d = explain.cell(model, image, "conv2d", (1, 1, 0)).to_dict()
    assert d["window"] == [[[1.0], [0.0]], [[0.0], [4.0]]]
    assert d["kind"] == "conv" and d["layer_type"] == "Conv2D" and d["index"] == [1, 1, 0]


def test_messages():
    model, image = _toy()
    with pytest.raises(ValueError, match=r"needs 3 numbers .* got \(0, 0\)"):
        explain.cell(model, image, "conv2d", (0, 0))
    with pytest.raises(ValueError, match="out of range on axis 1.*0..1"):
        explain.cell(model, image, "conv2d", (0, 2, 0))
    with pytest.raises(ValueError, match="No layer named 'conv'.*conv2d"):
        explain.cell(model, image, "conv", (0, 0, 0))
    with pytest.raises(ValueError, match="one sample at a time, got a batch of 2"):
        explain.cell(model, np.stack([image, image])[..., None], "conv2d", (0, 0, 0))


def test_feature_maps_pre_activation_where_relu_is_fused():
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input(shape=(6, 6, 1)),
            layers.Conv2D(4, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    x = np.random.default_rng(2).normal(size=(6, 6, 1)).astype("float32")
    post = explain.feature_maps(model, x)
    pre = explain.feature_maps(model, x, pre_activation=True)
    assert (pre["conv2d"] < 0).any() and (post["conv2d"] >= 0).all()
    assert np.allclose(np.maximum(pre["conv2d"], 0), post["conv2d"], atol=1e-6)
    e = np.exp(pre["dense"] - pre["dense"].max())
    assert np.allclose(e / e.sum(), post["dense"], atol=1e-6)
    assert np.array_equal(pre["max_pooling2d"], post["max_pooling2d"])
    only = explain.feature_maps(model, x, layers=["conv2d"])
    assert list(only) == ["conv2d"]


def test_other_layers_text():
    inp = keras.Input(shape=(2, 2, 2))
    a = layers.BatchNormalization()(inp)
    b = layers.ReLU()(a)
    c = layers.Concatenate()([a, b])
    model = keras.Model(inp, layers.Reshape((16,))(c))
    bn = model.get_layer("batch_normalization")
    bn.set_weights(
        [np.array([2.0, 1]), np.array([0.5, 0]), np.array([1.0, 0]), np.array([3.999, 1])]
    )
    x = np.full((2, 2, 2), 3.0, "float32")
    e = explain.cell(model, x, bn, (0, 0, 0))
    assert e.output == pytest.approx(2 * (3 - 1) / 2 + 0.5)
    assert "gamma * (x - mean) / sqrt(var + eps) + beta = 2 * (3 - 1) / sqrt(3.999 + 0.001)" in str(
        e
    )
    cat = explain.cell(model, x, "concatenate", (1, 1, 3))
    assert cat.details["input"] == 1 and cat.details["source_position"] == [1, 1, 1]
    assert "copied from [1, 1, 1] of re_lu" in str(cat)
    r = explain.cell(model, x, "reshape", 5)
    assert r.details["source_position"] == [0, 1, 1]


def test_dense_on_a_sequence_and_text_forms():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(5, 3)), layers.Dense(2, activation="relu")])
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    e = explain.cell(model, x, "dense", (3, 1))
    assert np.allclose(e.window, x[3]) and e.output == pytest.approx(e.model_output, rel=1e-5)
    pool = keras.Sequential([keras.Input(shape=(4, 4, 1)), layers.MaxPooling2D(2)])
    m = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], "float32")
    text = explain.winners_text(explain.pool_winners(pool, m, 0))
    assert text.splitlines()[1].split() == ["5", "[6]", "7", "[8]"]
    model.compile(loss="mse")
    g = explain.gradients(model, x[None], np.zeros((1, 5, 2)))
    assert explain.gradients_text(g).splitlines()[1].startswith("  dense/kernel     (3, 2)")


def test_the_input_layer_has_nothing_to_explain():
    inp = keras.Input(shape=(4, 4, 1))
    model = keras.Model(inp, layers.Conv2D(1, 2)(inp))
    with pytest.raises(ValueError, match="is the model's input: it computes nothing"):
        explain.cell(model, np.ones((4, 4)), model.layers[0].name, (0, 0, 0))
