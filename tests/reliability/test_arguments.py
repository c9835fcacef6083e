"""#17.7: argument gaps closed at construction, with the usual message shape."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers, optimizers

NAN = float("nan")


@pytest.mark.parametrize("cls", [optimizers.Adam, optimizers.AdamW])
@pytest.mark.parametrize("arg", ["beta_1", "beta_2"])
def test_adam_betas_must_be_below_one(cls, arg):
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__} expects {arg} in \[0, 1\), got "
        rf"{arg}=1.0",
    ):
        cls(**{arg: 1.0})
    cls(**{arg: 0.5})


@pytest.mark.parametrize(
    "make,arg",
    [
        (lambda: layers.LeakyReLU(NAN), "negative_slope"),
        (lambda: layers.ReLU(negative_slope=NAN), "negative_slope"),
        (lambda: layers.ReLU(max_value=NAN), "max_value"),
        (lambda: layers.ReLU(threshold=NAN), "threshold"),
    ],
)
def test_activation_arguments_refuse_nan(make, arg):
    with pytest.raises(
        ValueError,
        match=rf"Layer '.*' argument {arg} expects a number >= 0.*"
        r"got nan",
    ):
        make()


@pytest.mark.parametrize("dtype", ["int32", "uint8", "bool", "complex64", "object"])
def test_layers_refuse_non_float_dtypes(dtype):
    for cls in (layers.Dense, layers.Conv2D):
        args = (3,) if cls is layers.Dense else (3, 3)
        with pytest.raises(
            ValueError,
            match=rf"{cls.__name__}\(dtype='{dtype}'\): layers compute "
            r"in float16, float32 or float64",
        ):
            cls(*args, dtype=dtype)


def test_unknown_dtype_names_the_layer():
    with pytest.raises(ValueError, match=r"Dense\(dtype='banana'\): 'banana' is not a data type"):
        layers.Dense(3, dtype="banana")


def test_float16_layers_train():
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2, dtype="float16")])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 3), "float32"), np.zeros((4, 2), "float32"), verbose=0)
    assert model.get_layer(index=0).get_weights()[0].dtype == np.float16


@pytest.mark.parametrize(
    "make,arg",
    [
        (lambda: layers.Dense(10**20), "units"),
        (lambda: layers.Conv2D(4, 3, strides=10**20), "strides"),
        (lambda: layers.Conv2D(10**20, 3), "filters"),
        (lambda: layers.ZeroPadding2D(10**20), "padding"),
        (lambda: layers.ZeroPadding2D(((1, 10**20), (0, 0))), "padding"),
        (lambda: layers.MaxPooling2D(2, strides=10**20), "strides"),
    ],
)
def test_huge_integer_arguments_name_the_layer(make, arg):
    with pytest.raises(
        ValueError,
        match=rf"Layer '.*' \(\w+\) argument {arg} expects a size up "
        r"to 16,777,216, got 100000000000000000000",
    ):
        make()


def test_huge_weights_are_refused_before_allocation():
    with pytest.raises(
        ValueError,
        match=r"Layer 'big' \(Dense\) would need a weight 'kernel' of "
        r"shape \(100000, 1000000\)",
    ):
        keras.Sequential([keras.Input(shape=(100_000,)), layers.Dense(1_000_000, name="big")])


def test_backup_dir_that_is_a_file_fails_at_construction(tmp_path):
    f = tmp_path / "existing_file"
    f.write_text("x")
    with pytest.raises(
        ValueError,
        match=r"backup_dir expects a folder path, got '.*existing_file'"
        r", which exists and is not a folder",
    ):
        keras.callbacks.BackupAndRestore(str(f))


def test_damaged_backup_meta_is_a_clear_error(tmp_path):
    import json

    def run(epochs, **kw):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)])
        model.compile(optimizer="sgd", loss="mse")
        cb = keras.callbacks.BackupAndRestore(str(tmp_path / "b"), delete_checkpoint=False)
        model.fit(
            np.ones((8, 3), "float32"),
            np.zeros((8, 2), "float32"),
            epochs=epochs,
            verbose=0,
            callbacks=[cb],
        )

    run(1)
    path = tmp_path / "b" / "backup.npz"
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(arrays["__meta__"].tobytes())
    del meta["step"]
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(
        ValueError,
        match=r"BackupAndRestore cannot resume from .*: its "
        r"description is damaged \(KeyError: 'step'\)",
    ):
        run(2)
