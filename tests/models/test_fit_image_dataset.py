"""fit / evaluate / predict on image_dataset_from_directory datasets; utils helpers."""

from __future__ import annotations

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

import filterbank as keras  # noqa: E402
from filterbank import callbacks, layers  # noqa: E402
from filterbank.callbacks.backup_and_restore import BackupAndRestore  # noqa: E402
from filterbank.datasets.image_folder import ImageDataset  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(0)
    for label in ("dark", "light"):
        (root / label).mkdir()
        for i in range(12):
            base = 40 if label == "dark" else 200
            pixels = np.clip(base + rng.normal(0, 30, (9, 7, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(root / label / f"{i:02d}.png")
    return root


def _datasets(folder, **kwargs):
    return keras.utils.image_dataset_from_directory(
        folder,
        image_size=(9, 7),
        batch_size=5,
        validation_split=0.25,
        subset="both",
        seed=3,
        verbose=False,
        **kwargs,
    )


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(9, 7, 3)),
            layers.RandomFlip("horizontal", seed=1),
            layers.Rescaling(1 / 255),
            layers.Conv2D(2, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_on_an_unshuffled_dataset_equals_fit_on_its_arrays(folder):
    train, val = _datasets(folder, shuffle=False)
    x, y = train.to_numpy()
    ref = _model()
    h_ref = ref.fit(
        x, y, batch_size=5, epochs=2, shuffle=False, validation_data=val.to_numpy(), verbose=0
    )
    model = _model()
    h = model.fit(train, epochs=2, validation_data=val, verbose=0)
    for a, b in zip(ref.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert h.history == h_ref.history
    assert model.evaluate(val, verbose=0) == pytest.approx(ref.evaluate(*val.to_numpy(), verbose=0))
    np.testing.assert_allclose(
        model.predict(val, verbose=0), ref.predict(val.to_numpy()[0], verbose=0)
    )


def test_files_are_decoded_one_batch_at_a_time(folder, monkeypatch):
    train, _ = _datasets(folder)
    decoded = []
    original = ImageDataset.load_image
    monkeypatch.setattr(
        ImageDataset, "load_image", lambda self, path: decoded.append(path) or original(self, path)
    )
    counts = []
    spy = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: counts.append(len(decoded)))
    _model().fit(train, epochs=1, callbacks=[spy], verbose=0)
    assert counts == [5, 10, 15, 18]  # 18 training images, batches of 5


def test_each_epoch_has_a_new_order_fixed_by_seed_and_epoch(folder):
    train, _ = _datasets(folder)
    again, _ = _datasets(folder)
    orders = [tuple(train.epoch_order(e)) for e in range(3)]
    assert len(set(orders)) == 3
    assert orders == [tuple(again.epoch_order(e)) for e in range(3)]
    # iteration follows the same orders, pass by pass
    first = next(iter(train))[1]
    np.testing.assert_array_equal(first, train.labels[train.epoch_order(0)[:5]])


def test_backup_and_restore_resumes_an_image_dataset_run_exactly(folder, tmp_path):
    class Interrupt(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if (self.epoch, batch) == (1, 2):
                raise KeyboardInterrupt

    def fit(extra, path):
        train, val = _datasets(folder)
        model = _model(seed=5)
        cbs = [BackupAndRestore(path, save_freq=2), *extra]
        return model, model.fit(train, epochs=3, validation_data=val, callbacks=cbs, verbose=0)

    ref, h_ref = fit([], tmp_path / "ref")
    with pytest.raises(KeyboardInterrupt):
        fit([Interrupt()], tmp_path / "b")
    resumed, h = fit([], tmp_path / "b")
    for a, b in zip(ref.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert h.history == h_ref.history


def test_label_modes_train_with_their_losses(folder):
    for label_mode, loss, units, activation in (
        ("categorical", "categorical_crossentropy", 2, "softmax"),
        ("binary", "binary_crossentropy", 1, "sigmoid"),
    ):
        train = keras.utils.image_dataset_from_directory(
            folder,
            image_size=(9, 7),
            batch_size=6,
            label_mode=label_mode,
            seed=1,
            color_mode="grayscale",
            verbose=False,
        )
        model = keras.Sequential(
            [
                keras.Input(shape=(9, 7, 1)),
                layers.Rescaling(1 / 255),
                layers.Flatten(),
                layers.Dense(units, activation=activation),
            ]
        )
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
        history = model.fit(train, epochs=2, verbose=0)
        assert len(history.history["accuracy"]) == 2


def test_an_unbatched_dataset_is_refused_by_fit(folder):
    single = keras.utils.image_dataset_from_directory(
        folder, image_size=(9, 7), batch_size=None, verbose=False
    )
    with pytest.raises(ValueError, match="batch_size=None"):
        _model().fit(single, verbose=0)


def test_a_dataset_without_labels_predicts_but_does_not_fit(folder):
    images = keras.utils.image_dataset_from_directory(
        folder, labels=None, image_size=(9, 7), batch_size=7, shuffle=False, verbose=False
    )
    model = _model()
    assert model.predict(images, verbose=0).shape == (24, 2)
    with pytest.raises(ValueError, match="batch 0 of the image dataset: it has no targets"):
        model.fit(images, verbose=0)


# ---- utils ---------------------------------------------------------------------------------
def test_utils_names_as_keras():
    assert keras.utils.PyDataset is keras.utils.Sequence
    assert keras.utils.image_dataset_from_directory is keras.datasets.image_dataset_from_directory
    np.testing.assert_array_equal(
        keras.utils.to_categorical(np.array([[2], [0]]), 3), [[0, 0, 1], [1, 0, 0]]
    )


def test_split_dataset():
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    (a, b), (c, d) = keras.utils.split_dataset((x, y), left_size=0.7)
    assert b.tolist() == list(range(7)) and d.tolist() == [7, 8, 9]
    np.testing.assert_array_equal(a[:, 0] // 2, b)
    left, right = keras.utils.split_dataset(y, right_size=3, shuffle=True, seed=0)
    assert len(left) == 7 and sorted(np.concatenate([left, right])) == list(range(10))
    left, right = keras.utils.split_dataset(y, left_size=2, right_size=0.5)
    assert left.tolist() == [0, 1] and right.tolist() == [2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="needs left_size or right_size"):
        keras.utils.split_dataset(y)
    with pytest.raises(ValueError, match="left_size=1.5 is a fraction"):
        keras.utils.split_dataset(y, left_size=1.5)
    with pytest.raises(ValueError, match="same length"):
        keras.utils.split_dataset((x, y[:3]), left_size=0.5)
