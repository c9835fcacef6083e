"""Model / Sequential structure: layers, names, weights, freezing, eager calls, add/pop/build."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from tests.models.doubles import PlainSGD


def mlp_layers():
    return [
        layers.Dense(8, activation="relu", name="hidden"),
        layers.Dense(3, activation="softmax", name="out"),
    ]


def test_names_are_keras_style():
    x = keras.Input(shape=(4,))
    m1 = keras.Model(x, layers.Dense(2)(x))
    m2 = keras.Sequential([layers.Dense(2, input_shape=(3,))])
    x2 = keras.Input(shape=(4,))
    m3 = keras.Model(x2, layers.Dense(2)(x2))
    assert (m1.name, m2.name, m3.name) == ("functional", "sequential", "functional_1")
    assert m1.layers[0].name == "input_layer"
    assert keras.Sequential(name="mine").name == "mine"


def test_functional_layers_include_input_sequential_layers_do_not():
    x = keras.Input(shape=(4,))
    y = layers.Dense(2, name="d")(x)
    assert [type(layer).__name__ for layer in keras.Model(x, y).layers] == ["InputLayer", "Dense"]
    seq = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2, name="e")])
    assert [layer.name for layer in seq.layers] == ["e"]


def test_shapes_inputs_outputs():
    a = keras.Input(shape=(4,), name="a")
    b = keras.Input(shape=(2,), name="b")
    d = layers.Dense(3, name="d")(a)
    e = layers.Dense(5, name="e")(b)
    model = keras.Model([a, b], [d, e])
    assert model.input_shape == [(None, 4), (None, 2)]
    assert model.output_shape == [(None, 3), (None, 5)]
    assert model.inputs == [a, b] and model.input == [a, b] and model.output == [d, e]
    assert model.output_names == ["d", "e"] and model.input_names == ["a", "b"]
    single = keras.Model(a, d)
    assert single.input is a and single.output is d
    assert single.input_shape == (None, 4) and single.output_shape == (None, 3)
    outs = model([np.ones((2, 4)), np.ones((2, 2))])
    assert [o.shape for o in outs] == [(2, 3), (2, 5)]
    outs = model({"b": np.ones((2, 2)), "a": np.ones((2, 4))})
    assert [o.shape for o in outs] == [(2, 3), (2, 5)]


def test_get_layer():
    model = keras.Sequential([keras.Input(shape=(4,)), *mlp_layers()])
    assert model.get_layer("out") is model.layers[1]
    assert model.get_layer(index=0).name == "hidden"
    with pytest.raises(
        ValueError, match=r"No layer named 'ot' in model 'sequential'\. Did you mean 'out'"
    ):
        model.get_layer("ot")
    with pytest.raises(ValueError, match=r"index=5, but the model has 2 layers"):
        model.get_layer(index=5)
    with pytest.raises(ValueError, match="exactly one of name= or index="):
        model.get_layer()


def test_sequential_equals_the_same_functional_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = rng.integers(0, 3, 64)
    seq = keras.Sequential([keras.Input(shape=(4,)), *mlp_layers()])
    inp = keras.Input(shape=(4,))
    fun = keras.Model(
        inp, layers.Dense(3, activation="softmax")(layers.Dense(8, activation="relu")(inp))
    )
    fun.set_weights(seq.get_weights())
    np.testing.assert_array_equal(seq.predict(x, verbose=0), fun.predict(x, verbose=0))
    for m in (seq, fun):
        m.compile(optimizer=PlainSGD(0.1), loss="sparse_categorical_crossentropy")
        m.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(seq.get_weights(), fun.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_weights_order_and_counts():
    model = keras.Sequential([keras.Input(shape=(4,)), *mlp_layers()])
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(4, 8), (8,), (8, 3), (3,)]
    assert model.count_params() == 4 * 8 + 8 + 8 * 3 + 3
    assert len(model.trainable_weights) == 4 and model.non_trainable_weights == []
    # get_weights returns copies; weights are the live arrays
    model.get_weights()[0][...] = 99
    assert not np.any(model.weights[0] == 99)


def test_set_weights_round_trip_and_errors():
    m1 = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(8), layers.Dense(3)])
    m2 = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(8), layers.Dense(3)])
    m2.set_weights(m1.get_weights())
    x = np.random.default_rng(0).normal(size=(5, 4))
    np.testing.assert_array_equal(m1(x), m2(x))
    before = m2.get_weights()
    with pytest.raises(ValueError, match=r"expects 4 arrays.*got 3"):
        m2.set_weights(m1.get_weights()[:3])
    bad = m1.get_weights()
    bad[2] = np.zeros((8, 4))
    with pytest.raises(
        ValueError,
        match=r"array 2 is for layer 'dense_3' weight 'kernel', which has shape "
        r"\(8, 3\), got shape \(8, 4\)",
    ):
        m2.set_weights(bad)
    for a, b in zip(before, m2.get_weights()):  # nothing was written
        np.testing.assert_array_equal(a, b)


def test_frozen_layer_gets_no_update_but_passes_gradients():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)), rng.normal(size=(32, 2))
    model = keras.Sequential(
        [
            keras.Input(shape=(4,)),
            layers.Dense(5, activation="tanh", name="first"),
            layers.Dense(5, activation="tanh", name="frozen"),
            layers.Dense(2, name="last"),
        ]
    )
    model.get_layer("frozen").trainable = False
    assert len(model.trainable_weights) == 4 and len(model.non_trainable_weights) == 2
    before = {layer.name: layer.get_weights() for layer in model.layers}
    opt = PlainSGD(0.1)
    model.compile(optimizer=opt, loss="mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert opt.seen_keys == ["first/kernel", "first/bias", "last/kernel", "last/bias"]
    for name, ws in before.items():
        changed = [
            not np.array_equal(a, b) for a, b in zip(ws, model.get_layer(name).get_weights())
        ]
        assert all(changed) if name != "frozen" else not any(changed), name


def test_model_trainable_false_freezes_every_layer():
    model = keras.Sequential([keras.Input(shape=(4,)), *mlp_layers()])
    model.trainable = False
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 4
    assert all(not layer.trainable for layer in model.layers)
    model.trainable = True
    assert len(model.trainable_weights) == 4


def test_eager_call_converts_and_adds_channel_axis():
    model = keras.Sequential([keras.Input(shape=(3, 3, 1)), layers.Flatten(), layers.Dense(2)])
    x = np.arange(18, dtype=np.uint8).reshape(2, 3, 3)
    out = model(x)
    assert out.dtype == np.float32 and out.shape == (2, 2)
    np.testing.assert_allclose(out, model(x[..., None].astype("float64")), rtol=1e-6)


def test_model_call_on_symbolic_tensor_is_refused():
    model = keras.Sequential([keras.Input(shape=(4,)), *mlp_layers()])
    with pytest.raises(TypeError, match="using a model as a layer"):
        model(keras.Input(shape=(4,)))


def test_model_needs_inputs_and_outputs():
    with pytest.raises(TypeError, match=r"Model\(\) needs inputs= and outputs="):
        keras.Model()
    x = keras.Input(shape=(2,))
    with pytest.raises(TypeError, match="unexpected keyword argument 'output'"):
        keras.Model(x, output=x)


# ---- Sequential ---------------------------------------------------------------------------------
def test_sequential_input_shape_on_first_layer_builds():
    model = keras.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    assert model.built and model.input_shape == (None, 3) and model.output_shape == (None, 2)
    assert [layer.name for layer in model.layers] == ["dense", "dense_1"]


def test_sequential_lazy_build_from_data():
    model = keras.Sequential([layers.Dense(4), layers.Dense(2)])
    assert not model.built
    with pytest.raises(ValueError, match="is not built yet, so it has no weights to count"):
        model.count_params()
    out = model.predict(np.ones((5, 7)), verbose=0)
    assert out.shape == (5, 2) and model.input_shape == (None, 7)
    assert model.count_params() == 7 * 4 + 4 + 4 * 2 + 2


def test_sequential_build_explicit_and_mismatch():
    model = keras.Sequential([layers.Dense(4)])
    model.build((None, 6))
    assert model.count_params() == 28
    with pytest.raises(
        ValueError, match=r"configured for input shape \(None, 6\), got \(None, 5\)"
    ):
        model.build((None, 5))
    with pytest.raises(ValueError, match="has no layers"):
        keras.Sequential().build((None, 3))


def test_sequential_add_pop():
    model = keras.Sequential()
    model.add(keras.Input(shape=(3,)))
    model.add(layers.Dense(4, name="a"))
    assert model.output_shape == (None, 4)
    model.add(layers.Dense(2, name="b"))
    assert model.output_shape == (None, 2)
    popped = model.pop()
    assert popped.name == "b" and model.output_shape == (None, 4)
    model.add(popped)  # a popped layer can be added again
    assert model.output_shape == (None, 2)
    with pytest.raises(ValueError, match="unique names; 'a' is already the name"):
        model.add(layers.Dense(3, name="a"))
    with pytest.raises(TypeError, match=r"got the class Dense, not a layer\. Create one"):
        model.add(layers.Dense)
    with pytest.raises(TypeError, match="accepts only layer instances"):
        model.add("dense")
    with pytest.raises(ValueError, match="an Input can only come first"):
        model.add(keras.Input(shape=(2,)))
    assert [layer.name for layer in model.layers] == ["a", "b"]
    model.pop()
    model.pop()
    with pytest.raises(TypeError, match="has no layers to pop"):
        model.pop()


def test_sequential_failed_add_leaves_model_unchanged():
    model = keras.Sequential([keras.Input(shape=(4, 4, 1)), layers.Flatten(name="f")])
    with pytest.raises(ValueError):
        model.add(layers.MaxPooling2D(2))  # pooling a flat (None, 16) tensor
    assert [layer.name for layer in model.layers] == ["f"]
    assert model.output_shape == (None, 16)


def test_layer_of_another_model_is_refused():
    x = keras.Input(shape=(3,))
    d = layers.Dense(2)
    keras.Model(x, d(x))
    with pytest.raises(ValueError, match="already used in another model's graph"):
        keras.Sequential([keras.Input(shape=(3,)), d])


def test_feature_extraction_model_shares_layers():
    """Keras's intermediate-activations idiom: a second Model over an existing graph."""
    model = keras.Sequential(
        [
            keras.Input(shape=(6, 6, 1)),
            layers.Conv2D(2, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(3),
        ]
    )
    feats = keras.Model(inputs=model.input, outputs=[layer.output for layer in model.layers[:2]])
    x = np.random.default_rng(0).normal(size=(4, 6, 6, 1)).astype("float32")
    conv_out, pool_out = feats.predict(x, verbose=0)
    assert conv_out.shape == (4, 4, 4, 2) and pool_out.shape == (4, 2, 2, 2)
    np.testing.assert_allclose(conv_out, model.layers[0](x), rtol=1e-6)
    # shared weights: training the full model changes what the extractor sees
    model.compile(optimizer=PlainSGD(0.5), loss="mse")
    model.fit(x, np.ones((4, 3)), verbose=0)
    assert not np.allclose(feats.predict(x, verbose=0)[0], conv_out)
