"""The graph engine: order, fan-out sums, merges, multi-input/-output, end-to-end gradients."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers, regularizers
from filterbank.models.graph import Graph
from tests.gradcheck import assert_close, numeric_grad
from tests.models.doubles import JoinLast, Recorder, SumOf


def branching_model(merge_add=SumOf, merge_cat=JoinLast):
    """Two inputs, fan-out of `h` into three consumers, an add, a concat, two outputs."""
    a = keras.Input(shape=(5,), name="a")
    b = keras.Input(shape=(3,), name="b")
    h = layers.Dense(6, activation="tanh", name="h", kernel_regularizer=regularizers.l2(0.01))(a)
    d1 = layers.Dense(6, activation="tanh", name="d1")(h)
    d2 = layers.Dense(6, activation="sigmoid", name="d2")(h)
    s = merge_add(name="sum")([d1, d2, h])
    bb = layers.Dense(4, activation="tanh", name="bb")(b)
    c = merge_cat(name="cat")([s, bb])
    probs = layers.Dense(3, activation="softmax", name="probs")(c)
    value = layers.Dense(2, name="value")(s)
    return keras.Model([a, b], [probs, value], name="branchy")


def branching_data(n=4, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(n, 5)), rng.normal(size=(n, 3))]
    y_probs = np.eye(3)[rng.integers(0, 3, n)]
    y_value = rng.normal(size=(n, 2))
    return xs, [y_probs, y_value]


def check_model_gradients(model, xs, ys, sample_weight=None):
    """Engine gradients (train step, fused softmax path, regularizers) vs finite differences."""
    model.compile(
        optimizer=Recorder(), loss=["categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5]
    )
    assert model._compiled.outputs[0].fused  # softmax + CCE go through the logits path
    assert not model._compiled.outputs[1].fused

    def total_loss():
        return model.test_on_batch(xs, ys, sample_weight=sample_weight)[0]

    model.train_on_batch(xs, ys, sample_weight=sample_weight)
    recorded = model.optimizer.last
    checked = 0
    for layer in model.layers:
        for name in layer.trainable_param_names():
            key = f"{layer.name}/{name}"
            assert_close(
                recorded[key],
                numeric_grad(total_loss, layer.params[name]),
                rtol=1e-6,
                atol=1e-8,
                what=key,
            )
            checked += layer.params[name].size
    # Input gradients through the same backward pass.
    graph = model._graph
    outs = graph.forward(xs, training=True)
    sws = [sample_weight, sample_weight]
    _, grads, fused = model._loss_and_output_grads(ys, outs, sws)
    dxs = graph.backward(grads, fused, input_grads=True)
    for i, x in enumerate(xs):
        assert_close(dxs[i], numeric_grad(total_loss, x), rtol=1e-6, atol=1e-8, what=f"input {i}")
        checked += x.size
    return checked


def test_branching_multi_io_gradients_match_finite_differences(float64):
    model = branching_model()
    xs, ys = branching_data()
    checked = check_model_gradients(model, xs, ys)
    assert checked == sum(w.size for w in model.trainable_weights) + 4 * 5 + 4 * 3


def test_branching_gradients_with_sample_weights(float64):
    model = branching_model()
    xs, ys = branching_data(n=5, seed=3)
    check_model_gradients(model, xs, ys, sample_weight=np.array([1.0, 0.0, 2.0, 0.5, 1.5]))


def test_real_add_and_concatenate_gradients(float64):
    try:
        layers.Add()
        layers.Concatenate()
    except NotImplementedError:
        pytest.fail("layers.Add / layers.Concatenate are still placeholders")
    model = branching_model(merge_add=layers.Add, merge_cat=layers.Concatenate)
    xs, ys = branching_data(seed=1)
    check_model_gradients(model, xs, ys)


def test_layers_are_in_keras_depth_order():
    model = branching_model()
    names = [layer.name for layer in model.layers]
    # Deepest first; ties in traversal order (as Keras's map_graph).
    assert names == ["a", "h", "d1", "d2", "b", "sum", "bb", "cat", "probs", "value"]
    pos = {n: i for i, n in enumerate(names)}
    for step in model._graph.steps:  # execution order is topological
        for t in step.layer._inbound_node.inputs:
            assert pos[t.node.layer.name] < pos[step.layer.name]


def test_fan_out_gradients_are_summed():
    x = keras.Input(shape=(2,))
    ident1 = layers.Activation("linear", name="i1")(x)
    ident2 = layers.Activation("linear", name="i2")(x)
    both = SumOf(name="s")([ident1, ident2, x])
    g = Graph([x], [both])
    g.forward([np.ones((3, 2))])
    grad = np.arange(6.0).reshape(3, 2)
    (dx,) = g.backward([grad], input_grads=True)
    np.testing.assert_array_equal(dx, 3 * grad)  # three paths, each identity
    np.testing.assert_array_equal(grad, np.arange(6.0).reshape(3, 2))  # not mutated


def test_first_layers_skip_input_gradient():
    model = branching_model()
    flags = {s.layer.name: s.layer.compute_input_grad for s in model._graph.steps}
    assert flags["h"] is False and flags["bb"] is False
    assert flags["d1"] is True and flags["sum"] is True and flags["probs"] is True


def test_output_without_loss_gets_zero_gradients():
    x = keras.Input(shape=(3,))
    h = layers.Dense(4, name="h")(x)
    used = layers.Dense(2, name="used")(h)
    unused = layers.Dense(2, name="unused")(h)
    model = keras.Model(x, [used, unused])
    model.compile(optimizer=Recorder(), loss=["mse", None])
    rng = np.random.default_rng(0)
    model.train_on_batch(rng.normal(size=(4, 3)), [rng.normal(size=(4, 2)), None])
    last = model.optimizer.last
    assert np.all(last["unused/kernel"] == 0) and np.all(last["unused/bias"] == 0)
    assert np.any(last["h/kernel"] != 0)


def test_output_that_also_feeds_a_layer_is_not_fused():
    x = keras.Input(shape=(3,))
    p = layers.Dense(3, activation="softmax", name="p")(x)
    q = layers.Dense(2, name="q")(p)
    model = keras.Model(x, [p, q])
    model.compile(optimizer=Recorder(), loss=["categorical_crossentropy", "mse"])
    assert [spec.fused for spec in model._compiled.outputs] == [False, False]


def test_fused_output_matches_unfused_gradients(float64):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)

    def grads(fuse):
        keras.utils.set_random_seed(7)
        model = keras.Sequential(
            [
                layers.Dense(5, activation="relu", input_shape=(4,)),
                layers.Dense(3, activation="softmax"),
            ]
        )
        model.compile(optimizer=Recorder(), loss="sparse_categorical_crossentropy")
        model._compiled.outputs[0].fused = fuse
        model.train_on_batch(x, y)
        return list(model.optimizer.last.values())

    fused, plain = grads(True), grads(False)
    assert len(fused) == len(plain) == 4
    for i, (f, p) in enumerate(zip(fused, plain)):
        assert_close(f, p, rtol=1e-9, atol=1e-12, what=f"grad {i}")


def test_graph_disconnected_names_the_missing_input():
    a = keras.Input(shape=(2,), name="a")
    b = keras.Input(shape=(2,), name="b")
    out = SumOf()([layers.Dense(2)(a), layers.Dense(2)(b)])
    with pytest.raises(
        ValueError, match=r"Graph disconnected.*Input 'b'.*not in the model's inputs"
    ):
        keras.Model(a, out)


def test_inputs_must_be_input_tensors():
    a = keras.Input(shape=(2,))
    h = layers.Dense(2)(a)
    with pytest.raises(ValueError, match=r"inputs\[0\] must come straight from keras.Input"):
        keras.Model(h, layers.Dense(1)(h))
    with pytest.raises(TypeError, match=r"outputs\[0\] must be a symbolic tensor.*got ndarray"):
        keras.Model(a, np.zeros(3))


def test_duplicate_layer_names_are_refused():
    a = keras.Input(shape=(2,))
    h = layers.Dense(2, name="twin")(a)
    out = layers.Dense(2, name="twin")(h)
    with pytest.raises(ValueError, match=r"two layers named 'twin'.*unique"):
        keras.Model(a, out)


def test_unused_input_stays_in_the_model():
    a = keras.Input(shape=(2,), name="a")
    b = keras.Input(shape=(3,), name="b")
    out = layers.Dense(1)(a)
    model = keras.Model([a, b], out)
    assert [layer.name for layer in model.layers] == ["a", "b", "dense"]
    assert model.input_names == ["a", "b"]
    y = model([np.ones((2, 2)), np.ones((2, 3))])
    assert y.shape == (2, 1)


def test_output_can_be_an_input_and_repeated():
    a = keras.Input(shape=(2,))
    d = layers.Dense(2, name="d")
    out = d(a)
    model = keras.Model(a, [out, out, a])
    x = np.ones((3, 2), "float32")
    r = model(x)
    np.testing.assert_array_equal(r[0], r[1])
    np.testing.assert_array_equal(r[2], x)
    # the repeated output's gradient is the sum of both
    model._graph.forward([x])
    g = np.ones((3, 2), "float32")
    model._graph.backward([g, g, None])
    np.testing.assert_allclose(d.grads["bias"], 2 * g.sum(0))
