"""get_config / model_from_config round trips, and the compile config."""

import json

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers, regularizers
from filterbank.models import model_from_config
from filterbank.models.config import serialize_model


def branching():
    a = keras.Input(shape=(6, 6, 2), name="img")
    b = keras.Input(shape=(3,), name="meta")
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(a)
    y = layers.Conv2D(4, 1, name="skip")(a)
    x = layers.Add(name="add")([x, y])
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.Concatenate(name="cat")(
        [x, layers.Dense(5, name="meta_dense", kernel_regularizer=regularizers.l2(1e-3))(b)]
    )
    x = layers.Dropout(0.2, name="drop")(x)
    probs = layers.Dense(3, activation="softmax", name="probs")(x)
    value = layers.Dense(1, name="value")(x)
    return keras.Model([a, b], [probs, value], name="two_heads")


def inputs(n=4):
    rng = np.random.default_rng(0)
    return [
        rng.normal(size=(n, 6, 6, 2)).astype("float32"),
        rng.normal(size=(n, 3)).astype("float32"),
    ]


def assert_same_predictions(m1, m2, xs):
    p1, p2 = m1.predict(xs, verbose=0), m2.predict(xs, verbose=0)
    for a, b in zip(p1 if isinstance(p1, list) else [p1], p2 if isinstance(p2, list) else [p2]):
        np.testing.assert_array_equal(a, b)


def test_functional_round_trip_through_json():
    model = branching()
    config = json.loads(json.dumps(model.get_config()))  # JSON-serialisable
    clone = model_from_config(config)
    assert clone.name == "two_heads"
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
    assert clone.input_names == ["img", "meta"] and clone.output_names == ["probs", "value"]
    clone.set_weights(model.get_weights())
    assert_same_predictions(model, clone, inputs())
    assert clone.get_layer("meta_dense").kernel_regularizer.l2 == pytest.approx(1e-3)
    assert model_from_config(serialize_model(model)).count_params() == model.count_params()
    assert keras.Model.from_config(config).output_shape == model.output_shape


def test_sequential_round_trip():
    model = keras.Sequential(
        [
            layers.Conv2D(3, 3, input_shape=(8, 8, 1)),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ],
        name="seq",
    )
    config = json.loads(json.dumps(model.get_config()))
    assert [c["class_name"] for c in config["layers"]] == [
        "InputLayer",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
    ]
    clone = model_from_config(config)
    assert isinstance(clone, keras.Sequential) and clone.name == "seq"
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(1).normal(size=(3, 8, 8, 1)).astype("float32")
    assert_same_predictions(model, clone, x)
    via_wrapper = model_from_config(serialize_model(model))
    assert isinstance(via_wrapper, keras.Sequential)
    assert keras.Sequential.from_config(config).count_params() == model.count_params()


def test_unbuilt_sequential_round_trip():
    model = keras.Sequential([layers.Dense(4), layers.Dense(1)])
    clone = model_from_config(json.loads(json.dumps(model.get_config())))
    assert not clone.built and len(clone.layers) == 2
    assert clone.predict(np.zeros((2, 5)), verbose=0).shape == (2, 1)


def test_frozen_state_survives():
    model = keras.Sequential(
        [keras.Input(shape=(2,)), layers.Dense(2, name="a"), layers.Dense(1, name="b")]
    )
    model.get_layer("a").trainable = False
    clone = model_from_config(model.get_config())
    assert clone.get_layer("a").trainable is False and clone.get_layer("b").trainable is True


def test_config_names_only_built_in_layer_classes():
    config = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(1)]).get_config()
    config["layers"][1]["class_name"] = "os.system"
    with pytest.raises(
        ValueError, match=r"Unknown layer class 'os\.system' in the model config; only built-in"
    ):
        model_from_config(config)
    config["layers"][1]["class_name"] = "Dens"
    with pytest.raises(ValueError, match=r"Did you mean 'Dense'"):
        model_from_config(config)
    with pytest.raises(
        ValueError, match=r"expected one of \['Functional', 'Model', 'Sequential'\]"
    ):
        model_from_config({"class_name": "Evil", "config": {}})
    with pytest.raises(TypeError, match="expects a dict"):
        model_from_config("[]")


def test_inconsistent_functional_config():
    config = branching().get_config()
    config["layers"] = [entry for entry in config["layers"] if entry["name"] != "conv"]
    with pytest.raises(
        ValueError, match=r"read from \['conv'\], which no layer in the config produces"
    ):
        model_from_config(config)


def test_compile_config_round_trip():
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
    assert model.get_compile_config() is None
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    cfg = json.loads(json.dumps(model.get_compile_config()))
    assert (
        cfg["optimizer"]["class_name"] == "Adam"
        and cfg["loss"] == "sparse_categorical_crossentropy"
    )
    clone = model_from_config(model.get_config())
    clone.compile_from_config(cfg)
    assert type(clone.optimizer).__name__ == "Adam"
    assert clone.optimizer.get_config()["learning_rate"] == pytest.approx(0.01)
    assert clone.metrics_names == ["loss", "accuracy"]
    x, y = np.zeros((6, 4), "float32"), np.array([0, 1, 2, 0, 1, 2])
    assert clone.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0))


def test_compile_config_with_objects_and_structures():
    inp = keras.Input(shape=(2,))
    a = layers.Dense(2, activation="softmax", name="a")(inp)
    b = layers.Dense(1, name="b")(inp)
    model = keras.Model(inp, [a, b])
    model.compile(
        optimizer="sgd",
        loss={"a": keras.losses.CategoricalCrossentropy(label_smoothing=0.1), "b": "mse"},
        loss_weights={"a": 1.0, "b": 0.3},
        metrics={"a": [keras.metrics.CategoricalAccuracy(name="accuracy")], "b": ["mae"]},
    )
    cfg = json.loads(json.dumps(model.get_compile_config()))
    clone = model_from_config(model.get_config())
    clone.compile_from_config(cfg)
    spec = {s.name: s for s in clone._compiled.outputs}
    assert spec["a"].loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    assert spec["b"].weight == pytest.approx(0.3)
    assert (
        clone.metrics_names
        == model.metrics_names
        == ["loss", "a_loss", "b_loss", "a_accuracy", "b_mae"]
    )


def test_compile_config_keeps_auto_accuracy_by_name():
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
    model.compile(
        optimizer="sgd",
        loss="sparse_categorical_crossentropy",
        metrics=[keras.metrics.get("accuracy")],
    )
    cfg = json.loads(json.dumps(model.get_compile_config()))
    assert cfg["metrics"] == ["accuracy"]
    model.compile_from_config(cfg)
    assert model.metrics_names == ["loss", "accuracy"]
