"""image_dataset_from_directory on small PNG/JPEG folders written by Pillow."""

from __future__ import annotations

import sys

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from filterbank.datasets import image_dataset_from_directory  # noqa: E402
from filterbank.datasets.image_folder import ImageDataset  # noqa: E402


def _write(path, value, size=(6, 4), fmt=None):
    """A solid image of width x height = size whose red channel encodes `value`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.zeros((size[1], size[0], 3), np.uint8)
    array[..., 0] = value
    array[..., 1] = 255 - value
    array[..., 2] = 7
    Image.fromarray(array).save(path, format=fmt)


@pytest.fixture
def folder(tmp_path):
    """cats: 5 PNGs (one nested), dogs: 3 JPEG/PNG, plus files that are not images."""
    root = tmp_path / "pets"
    for i in range(4):
        _write(root / "cats" / f"c{i}.png", 10 + i)
    _write(root / "cats" / "more" / "c9.PNG", 19)
    _write(root / "dogs" / "d0.jpg", 100, fmt="JPEG")
    _write(root / "dogs" / "d1.png", 101)
    _write(root / "dogs" / "d2.png", 102)
    (root / "dogs" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    _write(root / ".hidden" / "h.png", 200)
    return root


def _red_values(images):
    return np.rint(images[..., 0].mean(axis=(1, 2))).astype(int).tolist()


def test_inferred_labels_batches_and_shapes(folder, capsys):
    ds = image_dataset_from_directory(folder, image_size=(4, 6), batch_size=3, shuffle=False)
    assert capsys.readouterr().out == "Found 8 files belonging to 2 classes.\n"
    assert isinstance(ds, ImageDataset)
    assert ds.class_names == ["cats", "dogs"]
    assert len(ds) == 3 and ds.num_samples == 8
    batches = list(ds)
    assert [b[0].shape for b in batches] == [(3, 4, 6, 3), (3, 4, 6, 3), (2, 4, 6, 3)]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert images.dtype == np.float32 and labels.dtype == np.int32
    assert labels.tolist() == [0, 0, 0, 0, 0, 1, 1, 1]
    # Keras's file order: class folders, then the walk sorted by folder, then names.
    assert _red_values(images)[:5] == [10, 11, 12, 13, 19]
    assert abs(_red_values(images)[5] - 100) <= 3  # JPEG is lossy
    assert _red_values(images)[6:] == [101, 102]
    assert 0.0 <= images.min() and images.max() <= 255.0
    assert images[..., 2].min() >= 4 and images[..., 2].max() <= 10


def test_to_numpy_matches_iteration(folder):
    ds = image_dataset_from_directory(folder, image_size=(4, 6), shuffle=False, verbose=False)
    x, y = ds.to_numpy()
    assert x.shape == (8, 4, 6, 3) and y.shape == (8,)
    bx, by = next(iter(ds))
    np.testing.assert_array_equal(x, bx)
    np.testing.assert_array_equal(y, by)


def test_resizing_and_color_modes(folder):
    for mode, channels in (("grayscale", 1), ("rgb", 3), ("rgba", 4)):
        ds = image_dataset_from_directory(
            folder, image_size=(8, 5), color_mode=mode, shuffle=False, verbose=False
        )
        x, _ = ds.to_numpy()
        assert x.shape == (8, 8, 5, channels)
    gray, _ = image_dataset_from_directory(
        folder, image_size=(4, 6), color_mode="grayscale", shuffle=False, verbose=False
    ).to_numpy()
    # ITU-R 601 luma of (10, 245, 7): 0.299*10 + 0.587*245 + 0.114*7 = 147.6
    assert abs(gray[0].mean() - 147.6) < 1.0
    rgba, _ = image_dataset_from_directory(
        folder, image_size=(4, 6), color_mode="rgba", shuffle=False, verbose=False
    ).to_numpy()
    assert np.all(rgba[..., 3] == 255)


def test_crop_to_aspect_ratio(tmp_path):
    # A 6x2 image: left half 0, right half 200; cropping to a square keeps the centre 2x2.
    array = np.zeros((2, 6, 3), np.uint8)
    array[:, 3:] = 200
    (tmp_path / "a").mkdir()
    Image.fromarray(array).save(tmp_path / "a" / "x.png")
    x, _ = image_dataset_from_directory(
        tmp_path,
        image_size=(2, 2),
        crop_to_aspect_ratio=True,
        interpolation="nearest",
        verbose=False,
    ).to_numpy()
    assert x[0, :, :, 0].tolist() == [[0.0, 200.0], [0.0, 200.0]]


def test_label_modes(folder):
    common = dict(image_size=(4, 6), shuffle=False, verbose=False)
    _, y = image_dataset_from_directory(folder, label_mode="categorical", **common).to_numpy()
    assert y.dtype == np.float32 and y.shape == (8, 2)
    assert y.argmax(1).tolist() == [0] * 5 + [1] * 3 and np.all(y.sum(1) == 1)
    _, y = image_dataset_from_directory(folder, label_mode="binary", **common).to_numpy()
    assert y.dtype == np.float32 and y.shape == (8, 1) and y.ravel().tolist() == [0] * 5 + [1] * 3
    x = image_dataset_from_directory(folder, label_mode=None, **common).to_numpy()
    assert isinstance(x, np.ndarray) and x.shape == (8, 4, 6, 3)


def test_labels_none_and_explicit_list(folder):
    ds = image_dataset_from_directory(
        folder, labels=None, image_size=(4, 6), shuffle=False, verbose=False
    )
    assert ds.class_names is None
    batch = next(iter(ds))
    # Not labels-inferred: the whole tree is walked, hidden folders included, sorted.
    assert isinstance(batch, np.ndarray) and batch.shape == (9, 4, 6, 3)
    labels = [3, 1, 0, 2, 2, 1, 0, 3, 1]
    ds = image_dataset_from_directory(
        folder, labels=labels, label_mode="int", image_size=(4, 6), shuffle=False, verbose=False
    )
    assert ds.class_names == ["0", "1", "2", "3"]
    assert ds.to_numpy()[1].tolist() == labels
    with pytest.raises(ValueError, match="got 2 labels but found 9 image files"):
        image_dataset_from_directory(folder, labels=[0, 1], verbose=False)


def test_class_names_choose_and_order_classes(folder):
    ds = image_dataset_from_directory(
        folder, class_names=["dogs", "cats"], image_size=(4, 6), shuffle=False, verbose=False
    )
    assert ds.class_names == ["dogs", "cats"]
    assert ds.to_numpy()[1].tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    only = image_dataset_from_directory(
        folder, class_names=["dogs"], image_size=(4, 6), verbose=False
    )
    assert only.num_samples == 3
    with pytest.raises(ValueError, match=r"class_names .* got \['cats', 'birds'\]"):
        image_dataset_from_directory(folder, class_names=["cats", "birds"])


def test_validation_split_matches_keras_file_selection(folder):
    common = dict(image_size=(4, 6), validation_split=0.25, seed=42, verbose=False)
    train = image_dataset_from_directory(folder, subset="training", **common)
    val = image_dataset_from_directory(folder, subset="validation", **common)
    assert (train.num_samples, val.num_samples) == (6, 2)
    both = image_dataset_from_directory(folder, subset="both", **common)
    assert both[0].file_paths == train.file_paths and both[1].file_paths == val.file_paths
    # Keras: sorted file list, np.random.RandomState(seed).shuffle, last int(0.25 * 8) = 2.
    ordered = image_dataset_from_directory(
        folder, shuffle=False, image_size=(4, 6), verbose=False
    ).file_paths
    expected = list(ordered)
    np.random.RandomState(42).shuffle(expected)
    assert train.file_paths == expected[:6] and val.file_paths == expected[6:]
    # Labels follow their files.
    _, y = val.to_numpy()
    assert y.tolist() == [int("dogs" in p) for p in val.file_paths]


def test_split_prints_what_keras_prints(folder, capsys):
    image_dataset_from_directory(
        folder, image_size=(4, 6), validation_split=0.25, subset="both", seed=1
    )
    assert capsys.readouterr().out.splitlines() == [
        "Found 8 files belonging to 2 classes.",
        "Using 6 files for training.",
        "Using 2 files for validation.",
    ]


def test_shuffle_reshuffles_each_pass_reproducibly(folder):
    def passes(seed):
        ds = image_dataset_from_directory(
            folder, image_size=(4, 6), batch_size=8, seed=seed, verbose=False
        )
        return [_red_values(next(iter(ds))[0]) for _ in range(3)]

    first = passes(5)
    assert first == passes(5)  # same seed, same sequence of orders
    unshuffled = image_dataset_from_directory(
        folder, image_size=(4, 6), shuffle=False, verbose=False
    ).to_numpy()[0]
    assert all(sorted(p) == sorted(_red_values(unshuffled)) for p in first)
    assert len({tuple(p) for p in first}) > 1  # a new order on a later pass


def test_unbatched_yields_single_images(folder):
    ds = image_dataset_from_directory(
        folder, image_size=(4, 6), batch_size=None, shuffle=False, verbose=False
    )
    items = list(ds)
    assert len(ds) == 8 and len(items) == 8
    image, label = items[0]
    assert image.shape == (4, 6, 3) and int(label) == 0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            dict(color_mode="gray"),
            ValueError,
            "Unknown color_mode 'gray'. Did you mean 'grayscale'",
        ),
        (dict(label_mode="categorial"), ValueError, "Did you mean 'categorical'"),
        (dict(interpolation="cubic"), ValueError, "Did you mean 'bicubic'"),
        (dict(labels="infer"), ValueError, "labels expects 'inferred'"),
        (dict(labels=None, class_names=["cats"]), ValueError, "class_names is only valid"),
        (dict(validation_split=0.2, subset="training"), ValueError, "needs a seed"),
        (dict(validation_split=0.2), ValueError, "needs subset="),
        (dict(subset="training", seed=1), ValueError, "needs validation_split"),
        (dict(validation_split=1.5, subset="training", seed=1), ValueError, r"in \(0, 1\)"),
        (dict(validation_split=0.2, subset="train", seed=1), ValueError, "Did you mean 'training'"),
        (dict(batch_size=0), ValueError, "batch_size expects a positive integer"),
        (dict(image_size=(0, 3)), ValueError, "image_size expects positive"),
        (dict(image_size=5), ValueError, r"image_size expects \(height, width\)"),
    ],
)
def test_argument_errors(folder, kwargs, error, match):
    with pytest.raises(error, match=match):
        image_dataset_from_directory(folder, verbose=False, **kwargs)


def test_binary_needs_two_classes(folder):
    _write(folder / "birds" / "b.png", 50)
    with pytest.raises(ValueError, match="label_mode='binary' needs exactly 2 classes, got 3"):
        image_dataset_from_directory(folder, label_mode="binary", verbose=False)


def test_missing_or_empty_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        image_dataset_from_directory(tmp_path / "nope")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "a" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"No images found in directory .*\.png"):
        image_dataset_from_directory(tmp_path / "empty")


def test_without_pillow_says_how_to_install(folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"pip install filterbank\[io\]"):
        image_dataset_from_directory(folder)
