"""Model files end to end: exact round trips, exact training resumption, weights files, and
clear ModelFileErrors for files that do not fit (each naming the file, layer, weight, shapes)."""

import json
import os
import tracemalloc
import zipfile

import numpy as np
import pytest

import filterbank as keras
from filterbank import backend, layers
from filterbank.saving import ModelFileError, load_model, load_weights
from filterbank.saving.archive import CONFIG, OPTIMIZER, WEIGHTS
from tests.saving.zipfuzz import assemble, join_safetensors, split_safetensors

RNG = np.random.default_rng(7)
X_IMG = RNG.random((24, 8, 8, 1), dtype="float32")
Y_IMG = RNG.integers(0, 3, 24)


def sequential_cnn():
    return keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            layers.Conv2D(4, 3, activation="relu", kernel_regularizer="l2"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.25),
            layers.Dense(3, activation="softmax"),
        ]
    )


def lazy_sequential():
    # No Input: built from the first batch fit() sees (the config records build_input_shape).
    return keras.Sequential(
        [
            layers.Conv2D(4, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )


def functional_cnn():
    inp = keras.Input(shape=(8, 8, 1), name="image")
    a = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(inp)
    b = layers.Conv2D(4, 1, name="conv_b")(inp)
    x = layers.Add()([a, b])
    x = layers.BatchNormalization()(x)
    x = layers.Concatenate()([layers.MaxPooling2D()(x), layers.AveragePooling2D()(a)])
    x = layers.Dropout(0.3)(layers.Flatten()(x))
    probs = layers.Dense(3, activation="softmax", name="probs")(x)
    aux = layers.Dense(1, name="aux")(layers.GlobalAveragePooling2D()(b))
    return keras.Model(inp, [probs, aux])


def trained(model, optimizer="adam"):
    if not isinstance(model, keras.Sequential):  # functional_cnn: two outputs
        model.compile(
            optimizer=optimizer,
            loss=["sparse_categorical_crossentropy", "mse"],
            metrics=[["accuracy"], []],
            loss_weights=[1.0, 0.5],
        )
        model.fit(X_IMG, [Y_IMG, Y_IMG.astype("float32")], epochs=1, batch_size=8, verbose=0)
    else:
        model.compile(
            optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        model.fit(X_IMG, Y_IMG, epochs=1, batch_size=8, verbose=0)
    return model


def targets(model):
    return Y_IMG if isinstance(model, keras.Sequential) else [Y_IMG, Y_IMG.astype("float32")]


def same_arrays(a, b):
    a, b = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
    return len(a) == len(b) and all(
        x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b)
    )


def members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rewrite(path, member, change):
    m = members(path)
    if member.endswith(".json"):
        doc = json.loads(m[member])
        change(doc)
        m[member] = json.dumps(doc).encode()
    else:
        header, body = split_safetensors(m[member])
        change(header)
        m[member] = join_safetensors(header, body)
    out = path.with_name("edited.fbk")
    out.write_bytes(assemble(m))
    return out


# ---- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize("build", [sequential_cnn, lazy_sequential, functional_cnn])
def test_save_load_predict_bit_identical(tmp_path, build):
    model = trained(build())
    path = tmp_path / "model.fbk"
    model.save(path)
    assert os.listdir(tmp_path) == ["model.fbk"]
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.get_config() == model.get_config()
    assert same_arrays(loaded.get_weights(), model.get_weights())
    assert same_arrays(loaded.predict(X_IMG, verbose=0), model.predict(X_IMG, verbose=0))
    assert loaded.get_compile_config() == model.get_compile_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 3


@pytest.mark.parametrize(
    "build, optimizer",
    [
        (sequential_cnn, "adam"),
        (functional_cnn, "rmsprop"),
        (sequential_cnn, keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True)),
    ],
)
def test_resumed_training_is_bit_identical(tmp_path, build, optimizer):
    model = trained(build(), optimizer)
    path = tmp_path / "ckpt.fbk"
    model.save(path)
    loaded = load_model(path)
    backend.set_random_seed(99)
    model.fit(X_IMG, targets(model), epochs=1, batch_size=8, verbose=0)
    backend.set_random_seed(99)
    loaded.fit(X_IMG, targets(loaded), epochs=1, batch_size=8, verbose=0)
    assert same_arrays(loaded.get_weights(), model.get_weights())
    s1, s2 = model.optimizer.get_state(), loaded.optimizer.get_state()
    assert sorted(s1) == sorted(s2) and all(np.array_equal(s1[k], s2[k]) for k in s1)


def test_resuming_without_optimizer_state_differs(tmp_path):
    # The control for the test above: without the saved state, the next epoch is different.
    model = trained(sequential_cnn())
    model.save(tmp_path / "no_opt.fbk", include_optimizer=False)
    assert OPTIMIZER not in members(tmp_path / "no_opt.fbk")
    loaded = load_model(tmp_path / "no_opt.fbk")
    assert loaded.optimizer.iterations == 0
    backend.set_random_seed(3)
    model.fit(X_IMG, Y_IMG, epochs=1, batch_size=8, verbose=0)
    backend.set_random_seed(3)
    loaded.fit(X_IMG, Y_IMG, epochs=1, batch_size=8, verbose=0)
    assert not same_arrays(loaded.get_weights(), model.get_weights())


def test_compiled_objects_and_schedules_round_trip(tmp_path):
    model = keras.Sequential([keras.Input(shape=(5,)), layers.Dense(3)])
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=2, decay_rate=0.5)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    x, y = RNG.random((16, 5), dtype="float32"), RNG.integers(0, 3, 16)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "m.fbk")
    loaded = load_model(tmp_path / "m.fbk")
    assert loaded.get_compile_config() == model.get_compile_config()
    backend.set_random_seed(1)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    backend.set_random_seed(1)
    loaded.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert same_arrays(loaded.get_weights(), model.get_weights())


def test_float64_model_round_trips_in_float64(tmp_path, float64):
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3, activation="tanh")])
    model.save(tmp_path / "m64.fbk")
    x = RNG.random((5, 4))
    want = model.predict(x, verbose=0)
    backend.set_floatx("float32")
    loaded = load_model(tmp_path / "m64.fbk")
    assert backend.floatx() == "float32"
    assert loaded.get_weights()[0].dtype == np.float64
    backend.set_floatx("float64")
    assert same_arrays(loaded.predict(x, verbose=0), want)


def test_uncompiled_frozen_and_compile_false(tmp_path):
    model = sequential_cnn()
    model.layers[0].trainable = False
    model.save(tmp_path / "plain.keras")
    loaded = load_model(tmp_path / "plain.keras")
    assert loaded.optimizer is None and not loaded.layers[0].trainable
    trained(model).save(tmp_path / "compiled.fbk")
    assert load_model(tmp_path / "compiled.fbk", compile=False).optimizer is None


def test_loading_leaves_the_random_stream_alone(tmp_path):
    sequential_cnn().save(tmp_path / "m.fbk")
    backend.set_random_seed(5)
    state = backend.get_rng_state()
    load_model(tmp_path / "m.fbk")
    assert backend.get_rng_state() == state


def test_metadata_contents(tmp_path):
    trained(functional_cnn()).save(tmp_path / "m.fbk")
    m = members(tmp_path / "m.fbk")
    assert list(m) == ["config.json", "metadata.json", WEIGHTS, OPTIMIZER]
    config, meta = json.loads(m["config.json"]), json.loads(m["metadata.json"])
    assert config["class_name"] == "Functional" and config["floatx"] == "float32"
    assert config["compile_config"]["optimizer"]["class_name"] == "Adam"
    assert meta["model_class"] == "Functional" and meta["numpy_version"] == np.__version__
    names = {(t["member"], t["name"]) for t in meta["tensors"]}
    assert (WEIGHTS, "conv_a/kernel") in names and (OPTIMIZER, "conv_a/kernel/momentum") in names


# ---- saving errors ------------------------------------------------------------------------------
def test_keras_file_names_are_just_names(tmp_path):
    model = trained(sequential_cnn())
    model.save(tmp_path / "m.h5")  # Keras's legacy name: still a filterbank zip
    assert zipfile.is_zipfile(tmp_path / "m.h5")
    model.save_weights(tmp_path / "m.weights.h5")  # Keras 3's weights name: plain safetensors
    assert (tmp_path / "m.weights.h5").read_bytes()[8:9] == b"{"
    keras.utils.clear_session()
    fresh = sequential_cnn()
    fresh.load_weights(tmp_path / "m.weights.h5")
    assert same_arrays(fresh.get_weights(), model.get_weights())
    assert same_arrays(load_model(tmp_path / "m.h5").get_weights(), model.get_weights())


def test_save_refuses_custom_layers_and_existing_files(tmp_path):
    model = sequential_cnn()

    class Scale(layers.Activation):
        pass

    custom = keras.Sequential([keras.Input(shape=(3,)), Scale("relu", name="scale")])
    with pytest.raises(
        ValueError, match="Layer 'scale' is a Scale, not a built-in filterbank layer"
    ):
        custom.save(tmp_path / "c.fbk")
    model.save(tmp_path / "m.fbk")
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save(tmp_path / "m.fbk", overwrite=False)
    with pytest.raises(ValueError, match="custom_objects"):
        load_model(tmp_path / "m.fbk", custom_objects={"Scale": Scale})
    assert sorted(os.listdir(tmp_path)) == ["m.fbk"]


def test_custom_compile_objects_warn_on_save_and_load_uncompiled(tmp_path):
    class Halved(keras.losses.MeanSquaredError):
        pass

    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss=Halved())
    model.fit(np.ones((4, 3), "float32"), np.ones((4, 2), "float32"), verbose=0)
    with pytest.warns(
        UserWarning,
        match=r"use Halved, which load_model cannot rebuild.*"
        r"compile=False",
    ):
        model.save(tmp_path / "m.fbk")
    with pytest.raises(
        ModelFileError,
        match=r"compile settings cannot be rebuilt .*Unknown loss "
        r"'Halved'.*load_model\(path, compile=False\)",
    ):
        load_model(tmp_path / "m.fbk")
    loaded = load_model(tmp_path / "m.fbk", compile=False)
    assert same_arrays(loaded.get_weights(), model.get_weights())


# ---- weights files ------------------------------------------------------------------------------
def test_save_and_load_weights_plain_safetensors(tmp_path):
    model = trained(sequential_cnn())
    model.save_weights(tmp_path / "w.safetensors")
    keras.utils.clear_session()
    fresh = sequential_cnn()
    assert not same_arrays(fresh.get_weights(), model.get_weights())
    fresh.load_weights(tmp_path / "w.safetensors")
    assert same_arrays(fresh.get_weights(), model.get_weights())
    assert same_arrays(fresh.predict(X_IMG, verbose=0), model.predict(X_IMG, verbose=0))


def test_load_weights_from_a_model_file(tmp_path):
    model = trained(functional_cnn())
    model.save(tmp_path / "full.fbk")
    model.save_weights(tmp_path / "w.fbk")
    assert OPTIMIZER not in members(tmp_path / "w.fbk")
    for name in ("full.fbk", "w.fbk"):
        keras.utils.clear_session()
        fresh = functional_cnn()
        load_weights(fresh, tmp_path / name)
        assert same_arrays(fresh.get_weights(), model.get_weights())


def test_load_weights_mismatches_name_layer_weight_and_shapes(tmp_path):
    sequential_cnn().save_weights(tmp_path / "w.safetensors")
    keras.utils.clear_session()
    wider = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            layers.Conv2D(5, 3, activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dropout(0.25),
            layers.Dense(3, activation="softmax"),
        ]
    )
    before = wider.get_weights()
    with pytest.raises(
        ModelFileError,
        match=r"Cannot load '.*w\.safetensors': layer 'conv2d' "
        r"weight 'kernel' has shape \(3, 3, 1, 4\) in the file, but the model "
        r"expects \(3, 3, 1, 5\) \(and \d+ more problems\)\. Build the model",
    ):
        wider.load_weights(tmp_path / "w.safetensors")
    assert same_arrays(wider.get_weights(), before)  # all or nothing
    keras.utils.clear_session()
    other = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Flatten(), layers.Dense(3)])
    with pytest.raises(
        ModelFileError,
        match=r"layer 'dense' weight 'kernel' has shape \(36, 3\) "
        r"in the file, but the model expects \(64, 3\)",
    ):
        other.load_weights(tmp_path / "w.safetensors")
    renamed = keras.Sequential(
        [keras.Input(shape=(8, 8, 1)), layers.Flatten(), layers.Dense(3, name="head")]
    )
    with pytest.raises(ModelFileError, match="it has no weight 'kernel' for layer 'head'"):
        renamed.load_weights(tmp_path / "w.safetensors")
    with pytest.warns(
        UserWarning,
        match=r"skipped \d+ weights of .*it has no weight 'kernel' "
        "for layer 'head'",
    ):
        renamed.load_weights(tmp_path / "w.safetensors", skip_mismatch=True)


def test_load_weights_extra_weights_and_damage(tmp_path):
    keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2), layers.Dense(2)]).save_weights(
        tmp_path / "w.safetensors"
    )
    keras.utils.clear_session()
    short = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)])
    with pytest.raises(
        ModelFileError,
        match="holds weight '(kernel|bias)' for layer 'dense_1', "
        r"which the model does not have \(and 1 more problem\)",
    ):
        short.load_weights(tmp_path / "w.safetensors")
    blob = (tmp_path / "w.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(blob[:-3])
    with pytest.raises(ModelFileError, match="cut.safetensors"):
        short.load_weights(tmp_path / "cut.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x80\x04K\x01.")  # a pickle: never unpickled
    with pytest.raises(ModelFileError, match="too short to be a safetensors file"):
        short.load_weights(tmp_path / "junk.safetensors")


# ---- hostile or damaged model files --------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.fbk"
    trained(sequential_cnn()).save(path)
    return path


def _layer(doc, class_name):
    return next(e for e in doc["config"]["layers"] if e["class_name"] == class_name)


@pytest.mark.parametrize("class_name", ["os.system", "__import__", "builtins.eval", "Lambda"])
def test_unknown_layer_classes_are_refused(saved, class_name):
    def change(doc):
        _layer(doc, "Dense")["class_name"] = class_name

    with pytest.raises(
        ModelFileError,
        match=rf"layer 6 names class '{class_name}', which is not a "
        "filterbank layer .*nothing is imported",
    ):
        load_model(rewrite(saved, CONFIG, change))


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda d: d.update(class_name="Lambda"), "names model class 'Lambda'"),
        (lambda d: d.update(floatx="float16"), "has floatx 'float16'"),
        (lambda d: d["config"].update(evil=1), "the model config has unknown key 'evil'"),
        (lambda d: _layer(d, "Dense")["config"].update(dtype="object"), "has dtype 'object'"),
        (lambda d: _layer(d, "Dense")["config"].update(name="conv2d"), "reuses the name"),
        (lambda d: d["config"].update(build_input_shape=[None, -3]), "build_input_shape"),
        (lambda d: d["compile_config"].update(loss=7), "the compile loss = an integer '7'"),
        (lambda d: d["compile_config"]["optimizer"].update(module="os"), "module 'os'"),
    ],
)
def test_structural_config_checks(saved, change, match):
    with pytest.raises(ModelFileError, match=match):
        load_model(rewrite(saved, CONFIG, change))


@pytest.mark.parametrize(
    "change, match",
    [
        (
            lambda d: _layer(d, "Dense")["config"].update(units=-3),
            r"cannot be built \(ValueError: Layer 'dense' argument units expects a positive integer",
        ),
        (
            lambda d: _layer(d, "Dense")["config"].update(unitz=3),
            r"cannot be built \(TypeError: Dense\(\) got an unexpected keyword argument 'unitz'. "
            r"Did you mean 'units'",
        ),
        (lambda d: _layer(d, "Dropout")["config"].update(rate=7), "cannot be built"),
        (
            lambda d: d["compile_config"].update(optimizer="adamm"),
            "compile settings cannot be rebuilt",
        ),
    ],
)
def test_constructor_errors_are_wrapped(saved, change, match):
    with pytest.raises(ModelFileError, match=match):
        load_model(rewrite(saved, CONFIG, change))


def test_huge_weights_are_refused_before_allocation(saved):
    def change(doc):
        _layer(doc, "Dense")["config"]["units"] = 2**24  # a 2.4 GB kernel if it were allocated

    path = rewrite(saved, CONFIG, change)
    tracemalloc.start()
    try:
        with pytest.raises(
            ModelFileError,
            match=r"config.json gives layer 'dense' weight 'kernel' "
            r"shape \(36, 16777216\), but model.weights.safetensors holds shape "
            r"\(36, 3\)",
        ):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20


def rewrite_tensors(path, member, change):
    """Edit the arrays of a tensor member, keeping the file otherwise consistent."""
    import safetensors.numpy as st

    m = members(path)
    arrays = dict(st.load(m[member]))
    change(arrays)
    m[member] = st.save(arrays)
    meta = json.loads(m["metadata.json"])
    meta["tensors"] = [t for t in meta["tensors"] if t["member"] != member] + [
        {"member": member, "name": k, "dtype": str(a.dtype), "shape": list(a.shape)}
        for k, a in arrays.items()
    ]
    m["metadata.json"] = json.dumps(meta).encode()
    out = path.with_name("edited.fbk")
    out.write_bytes(assemble(m))
    return out


def test_weight_mismatches_in_model_files(saved):
    def drop(arrays):
        del arrays["dense/bias"]

    def reshape(arrays):
        arrays["dense/bias"] = arrays["dense/bias"].reshape(1, 3)

    def extra(arrays):
        arrays["ghost/kernel"] = np.zeros((2, 2), "float32")

    with pytest.raises(
        ModelFileError,
        match=r"config.json asks for weight 'bias' of layer 'dense' "
        r"\(shape \(3,\)\), which model.weights.safetensors does not hold",
    ):
        load_model(rewrite_tensors(saved, WEIGHTS, drop))
    with pytest.raises(
        ModelFileError,
        match=r"gives layer 'dense' weight 'bias' shape \(3,\), but "
        r"model.weights.safetensors holds shape \(1, 3\)",
    ):
        load_model(rewrite_tensors(saved, WEIGHTS, reshape))
    with pytest.raises(
        ModelFileError,
        match="holds weight 'kernel' for layer 'ghost', which the model does not have",
    ):
        load_model(rewrite_tensors(saved, WEIGHTS, extra))


def test_optimizer_state_must_fit_the_model(saved):
    def wrong_shape(arrays):
        arrays["dense/bias/momentum"] = arrays["dense/bias/momentum"].reshape(1, 3)

    def unknown(arrays):
        arrays["nowhere/kernel/momentum"] = arrays.pop("dense/bias/momentum")

    def int_slot(arrays):
        arrays["dense/bias/momentum"] = np.zeros(3, "int64")

    for change, match in (
        (
            wrong_shape,
            r"state 'dense/bias/momentum' of shape \(1, 3\) for a weight of shape "
            r"\(3,\)",
        ),
        (
            unknown,
            "state 'nowhere/kernel/momentum' for weight 'kernel' of layer 'nowhere', "
            "which the model does not have",
        ),
        (int_slot, "'dense/bias/momentum' has dtype int64; optimizer state is float"),
    ):
        path = rewrite_tensors(saved, OPTIMIZER, change)
        with pytest.raises(ModelFileError, match=match):
            load_model(path)
        assert load_model(path, compile=False).optimizer is None  # compile=False ignores it


def test_loading_without_safetensors_names_the_extra(saved, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"pip install safetensors"):
        load_model(saved)


def test_absurd_layer_arguments_are_refused(saved):
    def change(doc):
        _layer(doc, "Conv2D")["config"]["dilation_rate"] = [1, 2**31]

    with pytest.raises(
        ModelFileError,
        match=r"layer 1 \(Conv2D 'conv2d'\) has 'dilation_rate' = "
        "2147483648; layer arguments above 16,777,216",
    ):
        load_model(rewrite(saved, CONFIG, change))
