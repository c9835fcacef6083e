"""Add and Concatenate: values, symbolic shapes, gradients, errors, configs."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from tests.gradcheck import check_layer


def test_add_sums_any_number_of_inputs():
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2, 3, 4)).astype("float32") for _ in range(3)]
    np.testing.assert_allclose(layers.Add()(xs), xs[0] + xs[1] + xs[2], rtol=1e-6)
    np.testing.assert_array_equal(layers.Add()(xs[:1]), xs[0])
    a, b = keras.Input(shape=(4, 4, 8)), keras.Input(shape=(4, 4, 8))
    assert layers.Add()([a, b]).shape == (None, 4, 4, 8)
    assert layers.Add().compute_output_shape([(None, None, 3), (None, 5, 3)]) == (None, 5, 3)
    add = layers.Add()
    add(xs)
    grads = add.backward(np.ones((2, 3, 4), "float32"))
    assert len(grads) == 3 and all(g.shape == (2, 3, 4) for g in grads)


def test_concatenate_values_and_backward_split():
    a = np.arange(12.0).reshape(2, 2, 3)
    b = -np.arange(4.0).reshape(2, 2, 1)
    cat = layers.Concatenate()
    y = cat([a, b])
    np.testing.assert_array_equal(y, np.concatenate([a, b], axis=-1))
    ga, gb = cat.backward(np.arange(16.0).reshape(2, 2, 4))
    np.testing.assert_array_equal(ga, np.arange(16.0).reshape(2, 2, 4)[..., :3])
    np.testing.assert_array_equal(gb, np.arange(16.0).reshape(2, 2, 4)[..., 3:])
    c = layers.Concatenate(axis=1)
    assert c([a, a, a]).shape == (2, 6, 3)
    assert [g.shape for g in c.backward(np.zeros((2, 6, 3)))] == [(2, 2, 3)] * 3
    x1, x2 = keras.Input(shape=(8, 8, 16)), keras.Input(shape=(8, 8, 4))
    assert layers.Concatenate()([x1, x2]).shape == (None, 8, 8, 20)
    assert layers.Concatenate(axis=1).compute_output_shape([(None, None, 2), (None, 3, 2)]) == (
        None,
        None,
        2,
    )


@pytest.mark.parametrize(
    "layer,shapes",
    [
        (layers.Add(), [(2, 3, 2), (2, 3, 2), (2, 3, 2)]),
        (layers.Concatenate(), [(2, 3, 2), (2, 3, 1)]),
        (layers.Concatenate(axis=1), [(2, 1, 2), (2, 3, 2), (2, 2, 2)]),
    ],
)
def test_gradients(float64, layer, shapes):
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(s) for s in shapes]
    assert check_layer(layer, xs) == sum(x.size for x in xs)


def test_errors_name_the_layer_and_every_shape():
    with pytest.raises(
        ValueError,
        match=(
            r"Layer 'add' adds inputs elementwise, so they need the same shape; got shapes "
            r"\[\(None, 4, 4, 8\), \(None, 4, 4, 16\)\]\. Make them match"
        ),
    ):
        layers.Add()([keras.Input(shape=(4, 4, 8)), keras.Input(shape=(4, 4, 16))])
    with pytest.raises(ValueError, match=r"\[\(None, 3\), \(None, 3\), \(None, 4\)\]"):
        layers.Add(name="add_3")([np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 4))])
    add = layers.Add(name="add_4")
    add([np.zeros((2, 3)), np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"got shapes \[\(2, 3\), \(5, 3\)\]"):  # batch sizes
        add.forward([np.zeros((2, 3)), np.zeros((5, 3))])
    with pytest.raises(
        ValueError,
        match=(
            r"Layer 'concatenate' expects inputs with matching shapes except along the "
            r"concatenation axis -1, got shapes \[\(None, 4, 4, 3\), \(None, 5, 4, 2\)\] "
            r"\(axis 1 differs: 4, 5\)"
        ),
    ):
        layers.Concatenate()([keras.Input(shape=(4, 4, 3)), keras.Input(shape=(5, 4, 2))])
    with pytest.raises(
        ValueError,
        match=r"expects inputs with the same number of dims, got "
        r"shapes \[\(None, 4, 3\), \(None, 4, 4, 3\)\]",
    ):
        layers.Concatenate()([keras.Input(shape=(4, 3)), keras.Input(shape=(4, 4, 3))])
    with pytest.raises(ValueError, match=r"cannot concatenate along axis=0"):
        layers.Concatenate(axis=0)([keras.Input(shape=(4,)), keras.Input(shape=(4,))])
    with pytest.raises(
        ValueError,
        match=r"Layer 'add_1' expects a list of inputs, got a single "
        r"shape \(None, 4\)\. Call it on a list: "
        r"Add\(\)\(\[x1, x2\]\)",
    ):
        layers.Add(name="add_1")(keras.Input(shape=(4,)))
    with pytest.raises(ValueError, match=r"got a single shape \(None, 4\)"):
        layers.Concatenate(name="c")(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"got a single array of shape \(2, 4\)"):
        layers.Concatenate(name="c2").forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"argument axis expects an integer, got 'x'"):
        layers.Concatenate(axis="x")


def test_config_round_trip():
    for layer in (layers.Add(name="a"), layers.Concatenate(axis=1, name="c")):
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config
    assert layers.Concatenate(axis=2).get_config()["axis"] == 2
