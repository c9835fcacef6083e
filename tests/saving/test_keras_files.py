"""Real Keras 3 (torch backend) as the oracle for .keras archives and .weights.h5, both ways."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("h5py", reason=".keras files need h5py (pip install h5py)")
pytest.importorskip("torch", reason="real Keras runs on its torch backend here")
keras_real = pytest.importorskip("keras", reason="the Keras oracle needs keras 3")
if keras_real.backend.backend() != "torch":  # pragma: no cover
    pytest.skip("the Keras oracle runs with KERAS_BACKEND=torch", allow_module_level=True)

import filterbank as fb  # noqa: E402
from filterbank import zoo  # noqa: E402
from filterbank.saving import ModelFileError  # noqa: E402
from tests.onnx.random_models import random_model, randomize_weights, sample_input  # noqa: E402

TOL = 1e-4


def _keras_predict(model, xs):
    out = model.predict(xs[0] if len(xs) == 1 else xs, verbose=0)
    return np.asarray(out)


def _rel(a, b):
    return float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1e-3)


def _keras_safe(model) -> bool:
    # Keras on the torch backend counts padded cells in "same" average pooling (TensorFlow
    # and JAX Keras, and filterbank, do not): no oracle for that case.
    return not any(
        type(layer).__name__.startswith("AveragePooling")
        and layer.get_config()["padding"] == "same"
        for layer in model.layers
    )


def _models():
    out = []
    for name in zoo.names():
        shape = (9, 9, 1) if name == "xo" else (28, 28, 1)
        m = zoo.build(name, shape, 2 if name == "xo" else 10)
        randomize_weights(m, np.random.default_rng(3))
        out.append(m)
    seeds = [s for s in range(60) if _keras_safe(random_model(s))][:12]
    return out + [random_model(s) for s in seeds]


def test_filterbank_keras_files_load_in_keras_and_back(tmp_path):
    for i, model in enumerate(_models()):
        xs = sample_input(model, 8, i)
        want = model.predict(xs[0] if len(xs) == 1 else xs, verbose=0)
        path = tmp_path / f"m{i}.keras"
        model.save(path)  # a real Keras archive
        km = keras_real.saving.load_model(path)
        assert _rel(_keras_predict(km, xs), want) < TOL, model.name
        # Keras writes its own archive; filterbank reads it with Keras's predictions.
        kpath = tmp_path / f"k{i}.keras"
        km.save(kpath)
        back = fb.models.load_model(kpath)
        assert [type(a).__name__ for a in back.layers] == [type(a).__name__ for a in model.layers]
        assert (
            _rel(back.predict(xs[0] if len(xs) == 1 else xs, verbose=0), _keras_predict(km, xs))
            < TOL
        ), model.name
        # ... and Keras's .weights.h5 into a filterbank model of the same architecture.
        if i % 5 == 0:
            km.save_weights(tmp_path / f"k{i}.weights.h5")
            fresh = fb.models.model_from_config(model.get_config())
            fresh.load_weights(tmp_path / f"k{i}.weights.h5")
            assert _rel(fresh.predict(xs[0] if len(xs) == 1 else xs, verbose=0), want) < TOL


def test_keras_built_seed_model_loads(tmp_path):
    K = keras_real
    inputs = K.Input((28, 28, 1))
    x = K.layers.Conv2D(32, 3, activation="relu")(inputs)
    x = K.layers.MaxPooling2D(2)(x)
    x = K.layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    x = K.layers.BatchNormalization()(x)
    x = K.layers.MaxPooling2D(2)(x)
    y = K.layers.Conv2D(64, 1)(x)
    x = K.layers.Add()([x, y])
    x = K.layers.GlobalAveragePooling2D()(x)
    x = K.layers.Dropout(0.5)(x)
    outputs = K.layers.Dense(10, activation="softmax")(x)
    km = K.Model(inputs, outputs)
    km.compile("adam", "sparse_categorical_crossentropy")
    xs = np.random.default_rng(0).normal(size=(16, 28, 28, 1)).astype("float32")
    km.fit(xs, np.arange(16) % 10, epochs=1, verbose=0)  # moving statistics move off 0/1
    km.save(tmp_path / "k.keras")
    model = fb.models.load_model(tmp_path / "k.keras")
    assert _rel(model.predict(xs, verbose=0), _keras_predict(km, [xs])) < TOL
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(xs, np.arange(16) % 10, epochs=1, verbose=0)  # an ordinary model: it trains


def test_lambda_and_custom_layers_are_refused(tmp_path):
    K = keras_real
    inputs = K.Input((4,))
    km = K.Model(inputs, K.layers.Lambda(lambda t: t * 2)(K.layers.Dense(2)(inputs)))
    km.save(tmp_path / "lam.keras")
    with pytest.raises(ModelFileError, match="Lambda layer"):
        fb.models.load_model(tmp_path / "lam.keras")

    @K.saving.register_keras_serializable(package="mine")
    class Twice(K.layers.Layer):
        def call(self, t):
            return t * 2

    km = K.Sequential([K.Input((3,)), Twice()])
    km.save(tmp_path / "custom.keras")
    with pytest.raises(ModelFileError, match="custom object"):
        fb.models.load_model(tmp_path / "custom.keras")


def test_unsupported_keras_option_is_refused(tmp_path):
    K = keras_real
    km = K.Sequential([K.Input((6, 6, 4)), K.layers.Conv2D(4, 3, groups=2)])
    km.save(tmp_path / "g.keras")
    with pytest.raises(ModelFileError, match="groups=2"):
        fb.models.load_model(tmp_path / "g.keras")


def test_fbk_stays_default_and_old_keras_named_fbk_files_load(tmp_path):
    model = zoo.build("xo", (9, 9, 1), 2)
    model.save(tmp_path / "m.fbk")
    from filterbank.saving import save_model as fbk_save
    from filterbank.saving.model_io import save_model as raw_save

    raw_save(model, tmp_path / "old.keras")  # a filterbank file named .keras (older releases)
    x = np.ones((1, 9, 9, 1), "float32")
    for name in ("m.fbk", "old.keras"):
        loaded = fb.models.load_model(tmp_path / name)
        assert np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    del fbk_save


def test_layer_order_matches_keras_on_branching_graphs(tmp_path):
    from filterbank.saving.keras_format import model_paths

    checked = 0
    for seed in range(40):
        model = random_model(seed)
        if not any(type(a).__name__ in ("Add", "Concatenate") for a in model.layers):
            continue
        model.save(tmp_path / "m.keras")
        km = keras_real.saving.load_model(tmp_path / "m.keras")
        ours = model_paths(model)
        theirs = [layer.name for layer in km.layers]
        assert sorted(ours, key=lambda n: theirs.index(n)) == theirs
        checked += 1
    assert checked >= 3


def test_compile_settings_cross_both_ways(tmp_path):
    K = keras_real
    km = K.Sequential([K.Input((3,)), K.layers.Dense(2)])
    km.compile(K.optimizers.Adam(0.0125), "sparse_categorical_crossentropy", metrics=["accuracy"])
    km.save(tmp_path / "c.keras")
    model = fb.models.load_model(tmp_path / "c.keras")
    assert type(model.optimizer).__name__ == "Adam"
    assert abs(float(model.optimizer.learning_rate) - 0.0125) < 1e-7
    model.fit(np.ones((4, 3), "float32"), np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    assert fb.models.load_model(tmp_path / "c.keras", compile=False).optimizer is None
    model.save(tmp_path / "back.keras")
    back = K.saving.load_model(tmp_path / "back.keras")
    assert type(back.optimizer).__name__ == "Adam"
    assert abs(float(back.optimizer.learning_rate) - 0.0125) < 1e-7
