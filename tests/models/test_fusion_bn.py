"""Engine-level fusion of BatchNormalization -> Activation("relu") -> MaxPooling2D: when it
applies, and that a fused model trains as the unfused one (losses, weights, moving statistics,
gradients), falls back to the layers where it must, and still learns."""

import copy

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from filterbank.models.fusion_bn import FusedBNReluPool
from filterbank.models.graph import Graph
from tests.models.bn_blocks import conv_bn_relu_pool


@pytest.fixture(autouse=True)
def _fusion_on(monkeypatch):
    monkeypatch.delenv("FILTERBANK_DISABLE_FUSION", raising=False)


def cifar_like(image=(12, 10), channels=3, filters=(4, 6), dtype="float32", seed=0):
    """Conv2D(same) -> BN -> relu -> pool blocks, as the benchmark's CIFAR-size model."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(*image, channels), dtype=dtype)
    x = layers.Flatten()(conv_bn_relu_pool(inp, filters))
    out = layers.Dense(5, activation="softmax")(x)
    model = keras.Model(inp, out)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    return model


def unfused_copy(model):
    twin = copy.deepcopy(model)
    graph = twin._graph
    graph.runs = graph._ran = graph.steps
    return twin


def data(model, n=8, seed=1):
    rng = np.random.default_rng(seed)
    shape = model.inputs[0].shape[1:]
    x = rng.random((n, *shape)).astype(model.inputs[0].dtype)
    return x, rng.integers(0, 5, n)


def fused_steps(model):
    return [r for r in model._graph.runs if isinstance(r, FusedBNReluPool)]


def test_chain_fuses_and_plan_shows_it():
    model = cifar_like()
    assert len(fused_steps(model)) == 2
    rows = [r for r in model.kernel_plan(8) if r.layers[0].startswith("batch_norm")]
    assert len(rows) == 2
    for row in rows:
        assert [name.split("_")[0] for name in row.layers] == ["batch", "activation", "max"]
        # predict folds the chain into the convolution before it (models/fold.py)
        assert row.predict.startswith("in conv2d") and row.fit.startswith("bn+relu+pool:")


def test_switch_turns_it_off(monkeypatch):
    monkeypatch.setenv("FILTERBANK_DISABLE_FUSION", "1")
    assert fused_steps(cifar_like()) == []


def test_not_fused_when_an_intermediate_is_read_twice():
    inp = keras.Input(shape=(6, 6, 2))
    b = layers.BatchNormalization()(inp)
    a = layers.Activation("relu")(b)
    p = layers.MaxPooling2D()(a)
    other = layers.Flatten()(layers.MaxPooling2D()(b))  # b has a second reader
    out = layers.Concatenate()([layers.Flatten()(p), other])
    graph = Graph([inp], [out], fuse=True)
    assert not any(isinstance(r, FusedBNReluPool) for r in graph.runs)
    a2 = layers.Activation("tanh")(layers.BatchNormalization()(inp))  # not a relu
    graph = Graph([inp], [layers.MaxPooling2D()(a2)], fuse=True)
    assert not any(isinstance(r, FusedBNReluPool) for r in graph.runs)


@pytest.mark.parametrize(
    "dtype,image,tol", [("float32", (12, 10), 2e-5), ("float64", (9, 13), 1e-11)]
)
def test_training_matches_unfused(dtype, image, tol):
    """Fused and unfused models from the same weights: the same losses and weights after a
    few RMSprop steps (float32: within rounding of the statistics' summation order)."""
    model = cifar_like(image, dtype=dtype)
    x, y = data(model)
    twin = unfused_copy(model)
    for _ in range(4):
        a, b = model.train_on_batch(x, y), twin.train_on_batch(x, y)
        assert abs(a - b) <= tol * max(1.0, abs(b))
    for w1, w2 in zip(model.get_weights(), twin.get_weights()):
        assert np.abs(w1 - w2).max() <= 50 * tol * max(1.0, np.abs(w2).max())
    for p1, p2 in zip(model.predict(x, verbose=0), twin.predict(x, verbose=0)):
        np.testing.assert_allclose(p1, p2, rtol=50 * tol, atol=50 * tol)


def test_gradients_match_unfused():
    """One forward/backward in float64: every layer's gradients as the unfused graph's."""
    model = cifar_like((8, 6), dtype="float64")
    twin = unfused_copy(model)
    x, _ = data(model, n=5)
    g = np.random.default_rng(3).standard_normal((5, 5))
    for m in (model, twin):
        m._graph.forward([x], training=True)
        m._graph.backward([g])
    for l1, l2 in zip(model.layers, twin.layers):
        for name, grad in l1.grads.items():
            np.testing.assert_allclose(grad, l2.grads[name], rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("how", ["frozen", "inference", "float16"])
def test_falls_back_to_the_layers(how):
    """A frozen BN (Keras: inference statistics), an inference-mode forward, float16: the
    fused step runs its three layers, with their numbers."""
    dtype = "float16" if how == "float16" else "float64"
    model = cifar_like((8, 6), dtype=dtype)
    if how == "frozen":
        for layer in model.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.trainable = False
    twin = unfused_copy(model)
    x, _ = data(model, n=4)
    g = np.ones((4, 5), dtype)
    training = how != "inference"
    for m in (model, twin):
        m._graph.forward([x], training=training)
        m._graph.backward([g])
    for step in fused_steps(model):
        assert step._cache[0] == "layers"
    for l1, l2 in zip(model.layers, twin.layers):
        for name, grad in l1.grads.items():
            np.testing.assert_array_equal(grad, l2.grads[name], err_msg=name)
        for w1, w2 in zip(l1.get_weights(), l2.get_weights()):
            np.testing.assert_array_equal(w1, w2)


def test_small_fit_learns():
    """Two classes told apart by a bright quadrant: the fused model learns them."""
    rng = np.random.default_rng(0)
    n = 128
    x = rng.random((n, 8, 8, 1)).astype("float32") * 0.5
    y = rng.integers(0, 2, n)
    x[y == 1, :4, :4, :] += 1.0
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(8, 8, 1))
    h = layers.Conv2D(4, 3, padding="same")(inp)
    # momentum 0.9: the moving statistics evaluate uses settle within the 64 steps
    h = layers.BatchNormalization(momentum=0.9)(h)
    h = layers.MaxPooling2D()(layers.Activation("relu")(h))
    out = layers.Dense(2, activation="softmax")(layers.Flatten()(h))
    model = keras.Model(inp, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert len(fused_steps(model)) == 1
    model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    _, acc = model.evaluate(x, y, verbose=0)
    assert acc >= 0.95
