"""The data behind ``--data``: mnist, fashion_mnist, xo or a folder of class subfolders.

Every source becomes a :class:`Data`: float32 images (n, height, width, channels) and int64
labels (n,), split into training and test parts, plus where they came from (for metrics.json).

Preprocessing (recorded in ``metrics.json`` under ``data.preprocessing``):

* mnist, fashion_mnist and folders: uint8 pixels ``x / 255`` as float32, so values lie in
  [0, 1]; a channel axis is added to the 28x28 sets.
* xo: the generated images as they are: -1 background, +1 strokes (the lecture's values).

Folders (``--data DIR``): ``DIR/train`` and ``DIR/test`` (each with one subfolder per class)
when both exist; otherwise DIR's class subfolders, of which ``--test-split`` (default 0.2) is
held out for testing by :func:`filterbank.datasets.image_dataset_from_directory` with the
run's seed. Images are read in the model's size and channels (28x28 grayscale by default).

Example:
    >>> data = load("xo", seed=0)
    >>> data.input_shape, data.num_classes, data.class_names
    ((9, 9, 1), 2, ['O', 'X'])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import did_you_mean
from .common import CLIError, one_line, user_errors, warn

BUILTIN = ("mnist", "fashion_mnist", "xo")
DEFAULT_SHAPE = (28, 28, 1)
DEFAULT_TEST_SPLIT = 0.2
XO_IMAGES = 1000  # xo.load_data's default: 800 for training, 200 for testing
COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}


@dataclass
class Data:
    """Images and labels of one dataset, ready for a model.

    Attributes:
        name: "mnist", "fashion_mnist", "xo" or the folder's absolute path.
        source: where the images came from ("bundled", "cache", "download", "system",
            "generated", "folder").
        x_train, x_test: float32 (n, h, w, c).
        y_train, y_test: int64 (n,) class indices.
        class_names: one name per class index.
        value_range: (low, high) of the preprocessed pixels: (0, 1) or (-1, 1).
        light_on_dark: True when objects are bright on a dark background (MNIST-like), False
            for dark on light, None when unknown (color images).
    """

    name: str
    source: str
    location: str | None
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    value_range: tuple[float, float] = (0.0, 1.0)
    light_on_dark: bool | None = True
    preprocessing: str = "x / 255 as float32, channel axis added"
    details: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> dict:
        """What metrics.json records about the data (enough to load the same split again)."""
        return {
            "name": self.name,
            "source": self.source,
            "location": self.location,
            "train_samples": int(len(self.x_train)),
            "test_samples": int(len(self.x_test)),
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "preprocessing": {
                "rule": self.preprocessing,
                "value_range": list(self.value_range),
                "light_on_dark": self.light_on_dark,
            },
            **self.details,
        }


def canonical_name(spec: str) -> str | None:
    """The built-in dataset `spec` names ("Fashion-MNIST" -> "fashion_mnist"), else None."""
    key = str(spec).strip().lower().replace("-", "_")
    return key if key in BUILTIN else None


def builtin_class_names(name) -> list[str] | None:
    """The class names of the built-in dataset `name` names, else None (or for no name)."""
    builtin = canonical_name(name) if name else None
    if builtin == "mnist":
        return [str(d) for d in range(10)]
    if builtin == "fashion_mnist":
        from ..datasets.fashion_mnist import CLASS_NAMES

        return list(CLASS_NAMES)
    if builtin == "xo":
        from ..datasets.xo import CLASS_NAMES

        return list(CLASS_NAMES)
    return None


def _scaled(x: np.ndarray) -> np.ndarray:
    """uint8 (n, h, w) or (n, h, w, c) -> float32 in [0, 1] with a channel axis."""
    x = x.astype(np.float32) / np.float32(255.0)
    return x[..., None] if x.ndim == 3 else x


def _keras_splits(name, source, location, train, test, class_names) -> Data:
    """Data from a Keras-style loader's ((x_train, y_train), (x_test, y_test)) of uint8 images."""
    (x_train, y_train), (x_test, y_test) = train, test
    return Data(
        name,
        source,
        location,
        _scaled(x_train),
        y_train.astype(np.int64),
        _scaled(x_test),
        y_test.astype(np.int64),
        class_names,
    )


def _check_shape(name: str, shape, expected) -> None:
    if expected is not None and tuple(expected) != tuple(shape):
        h, w, c = expected
        raise CLIError(
            f"the model expects {h}x{w} images with {c} channel(s), but {name} images are "
            f"{shape[0]}x{shape[1]} with {shape[2]}; use data of the model's shape "
            "(a folder of images is resized to it) or another model."
        )


def _load_mnist(expected):
    from ..datasets import mnist

    _check_shape("mnist", DEFAULT_SHAPE, expected)
    cached = mnist.is_cached()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train, test = mnist.load_data()
    bundled = False
    for w in caught:
        if issubclass(w.category, mnist.BundledDataWarning):
            bundled = True
            # The library's warning ends with a long how-to; the first sentence is the news.
            text = str(w.message).split(" For the full")[0]
            warn(text + " `filterbank datasets` says how to get the full set.")
        else:
            warn(str(w.message))
    source = "bundled" if bundled else ("cache" if cached else "download")
    location = str(mnist.BUNDLED_PATH if bundled else mnist.cache_path())
    return _keras_splits("mnist", source, location, train, test, [str(d) for d in range(10)])


def _load_fashion(expected):
    from ..datasets import fashion_mnist

    _check_shape("fashion_mnist", DEFAULT_SHAPE, expected)
    source = fashion_mnist.available_source() or "download"
    try:
        train, test = fashion_mnist.load_data()
    except FileNotFoundError as exc:
        raise CLIError(one_line(exc)) from exc
    location = (
        str(fashion_mnist.cache_folder())
        if source != "system"
        else str(next(iter(fashion_mnist.system_files().values())).parent)
    )
    return _keras_splits(
        "fashion_mnist", source, location, train, test, list(fashion_mnist.CLASS_NAMES)
    )


def _load_xo(expected, seed: int):
    from ..datasets import xo

    size = 9
    if expected is not None:
        h, w, c = expected
        if h != w or c != 1 or h < 7:
            raise CLIError(
                f"the model expects {h}x{w} images with {c} channel(s); xo draws "
                "square 1-channel images of at least 7x7."
            )
        size = h
    (x_train, y_train), (x_test, y_test) = xo.load_data(n=XO_IMAGES, size=size, seed=seed)
    return Data(
        "xo",
        "generated",
        None,
        x_train[..., None],
        y_train.astype(np.int64),
        x_test[..., None],
        y_test.astype(np.int64),
        list(xo.CLASS_NAMES),
        value_range=(-1.0, 1.0),
        preprocessing="as generated: -1 background, +1 strokes, channel axis added",
        details={"images": XO_IMAGES, "size": size, "seed": seed},
    )


def _read_folder(folder: Path, *, shape, **split):
    from ..datasets import image_dataset_from_directory

    h, w, c = shape
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = image_dataset_from_directory(
            folder,
            color_mode=COLOR_MODES[c],
            image_size=(h, w),
            batch_size=None,
            shuffle=bool(split),
            verbose=False,
            **split,
        )
    for message in dict.fromkeys(str(w.message) for w in caught):
        warn(message)  # e.g. a FIFO named a.png: skipped, never opened
    return result


def _check_memory(datasets, shape) -> None:
    """Refuse, before decoding, a folder whose images at this size cannot fit in memory."""
    from ..models.memory import _fmt, available_bytes

    n = sum(d.num_samples for d in datasets)
    need = 2 * n * int(np.prod(shape)) * 4  # float32 images, and their scaled copy
    avail = available_bytes()
    if avail is not None and need > avail:
        raise CLIError(
            f"{n:,} images of {shape[0]}x{shape[1]}x{shape[2]} need {_fmt(need)} of "
            f"memory as float32, more than the {_fmt(avail)} available; use a "
            "smaller --image-size (28 is the default)."
        )


def _test_labels(train, test, test_dir: Path) -> np.ndarray:
    """The test folder's labels renumbered to the training folder's class order."""
    unknown = [name for name in test.class_names if name not in train.class_names]
    if unknown:
        raise CLIError(
            f"{test_dir} has class folders {unknown} that the training folder "
            f"lacks; its classes are {train.class_names}."
        )
    index = np.array([train.class_names.index(name) for name in test.class_names])
    return index[test.labels] if len(test.labels) else test.labels


def _light_on_dark(x: np.ndarray) -> bool | None:
    """Grayscale images whose borders are mostly dark (< 0.5): True; light: False; color: None."""
    if x.shape[-1] != 1 or not len(x):
        return None
    ring = np.ones(x.shape[1:3], dtype=bool)
    if min(x.shape[1:3]) > 2:
        ring[1:-1, 1:-1] = False
    return bool(x[:, ring, 0].mean() < 0.5)


def _load_folder(folder: Path, expected, image_size, seed: int, test_split: float):
    if expected is not None:
        shape = tuple(expected)
        if shape[2] not in COLOR_MODES:
            raise CLIError(
                f"the model expects {shape[2]}-channel images; images from a folder "
                "have 1 (grayscale), 3 (rgb) or 4 (rgba) channels."
            )
    else:
        h, w = image_size or DEFAULT_SHAPE[:2]
        shape = (h, w, 1)
    train_dir, test_dir = folder / "train", folder / "test"
    details: dict = {"image_size": list(shape[:2]), "color_mode": COLOR_MODES[shape[2]]}
    with user_errors(f"reading images from {folder}"):
        if train_dir.is_dir() and test_dir.is_dir():
            train = _read_folder(train_dir, shape=shape)
            test = _read_folder(test_dir, shape=shape)
            test.labels = _test_labels(train, test, test_dir)
            details["split"] = "train/ and test/ subfolders"
        else:
            if not test_split:
                raise CLIError(
                    f"--test-split must be > 0 for the folder {folder} (it has no "
                    "train/ and test/ subfolders), so that a test split exists."
                )
            train, test = _read_folder(
                folder, shape=shape, validation_split=test_split, subset="both", seed=seed
            )
            details.update(
                split=f"last {test_split:g} of the shuffled files held out for testing",
                test_split=test_split,
                seed=seed,
            )
        if test.num_samples == 0:
            raise CLIError(
                f"the folder {folder} has too few images to hold out a test split "
                f"({train.num_samples} in all); add images or raise --test-split."
            )
        if len(train.class_names) < 2:
            raise CLIError(
                f"the folder {folder} has {len(train.class_names)} class "
                "subfolder(s); classification needs at least 2."
            )
        _check_memory((train, test), shape)
        x_train, y_train = train.to_numpy()
        x_test, y_test = test.to_numpy()
    x_train /= np.float32(255.0)
    x_test /= np.float32(255.0)
    return Data(
        str(folder.resolve()),
        "folder",
        str(folder.resolve()),
        x_train,
        y_train.astype(np.int64),
        x_test,
        y_test.astype(np.int64),
        list(train.class_names),
        light_on_dark=_light_on_dark(x_train),
        preprocessing="decoded and resized by Pillow (bilinear), x / 255 as float32",
        details=details,
    )


def load(
    spec: str,
    *,
    expected_shape=None,
    image_size=None,
    seed: int = 0,
    test_split: float | None = None,
) -> Data:
    """Load ``--data spec`` for a model taking ``expected_shape`` (h, w, c) images (None: any).

    Raises:
        CLIError: unknown name (with a "Did you mean"), missing data, or data that cannot have
            the model's shape.
    """
    name = canonical_name(spec)
    if name == "mnist":
        return _load_mnist(expected_shape)
    if name == "fashion_mnist":
        return _load_fashion(expected_shape)
    if name == "xo":
        return _load_xo(expected_shape, seed)
    path = Path(spec).expanduser()
    if path.is_dir():
        split = DEFAULT_TEST_SPLIT if test_split is None else test_split
        return _load_folder(path, expected_shape, image_size, seed, split)
    if path.exists():
        raise CLIError(
            f"--data {spec!r} is a file; expected a dataset name "
            f"({', '.join(BUILTIN)}) or a folder with one subfolder of images per "
            "class."
        )
    raise CLIError(
        f"unknown dataset {spec!r} (and no folder of that name). "
        + did_you_mean(str(spec).replace("-", "_"), BUILTIN)
        + " Or pass a folder with one subfolder of images per class."
    )


__all__ = ["BUILTIN", "Data", "canonical_name", "load"]
