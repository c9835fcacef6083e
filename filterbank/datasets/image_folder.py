"""``image_dataset_from_directory``: a labelled image dataset from one folder per class.

Same arguments and file selection as ``keras.utils.image_dataset_from_directory``: class folders
sorted alphanumerically (or ``class_names``), images found recursively and sorted, the file list
shuffled once with ``np.random.RandomState(seed)`` before a ``validation_split`` takes the last
fraction -- so a given seed selects the same training/validation files as Keras.

Differences from Keras (which returns a ``tf.data.Dataset``): we return an
:class:`ImageDataset`, a plain re-iterable object yielding NumPy batches
``(images float32 (b, h, w, c) in 0..255, labels)``; it has ``class_names``, ``file_paths``,
``len()`` (number of batches) and ``to_numpy()`` (all images and labels as two arrays).
Images are decoded and resized by Pillow on each pass (nothing is cached), so resized pixel
values can differ slightly from TensorFlow's. With ``shuffle=True`` each pass visits the
files in a new random order (a full shuffle; Keras shuffles within a buffer of 8 batches),
``epoch_order(k)`` for pass k, a function of ``seed`` and k alone. Pass the dataset straight
to ``model.fit`` / ``evaluate`` / ``predict``: batches are decoded as training reads them,
so a folder larger than memory trains in bounded memory. Needs Pillow: ``pip install filterbank[io]``.

Example:
    >>> from filterbank.datasets import image_dataset_from_directory
    >>> train = image_dataset_from_directory("photos/", image_size=(64, 64), batch_size=16,
    ...     validation_split=0.2, subset="training", seed=1)            # doctest: +SKIP
    Found 120 files belonging to 2 classes.
    Using 96 files for training.
    >>> train.class_names                                               # doctest: +SKIP
    ['cats', 'dogs']
    >>> images, labels = next(iter(train))                              # doctest: +SKIP
    >>> images.shape, labels.dtype                                      # doctest: +SKIP
    ((16, 64, 64, 3), dtype('int32'))
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._argspec import is_positive_int
from ..errors import unknown_name
from .safe_images import open_image, skip_irregular

ALLOWED_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
LABEL_MODES = ("int", "categorical", "binary")
COLOR_MODES = {"grayscale": 1, "rgb": 3, "rgba": 4}
SUBSETS = ("training", "validation", "both")
# Keras's interpolation names -> Pillow resampling filters ("area" is a box filter).
INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3")


def _pillow():
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(
            "image_dataset_from_directory needs Pillow to read images: "
            "pip install filterbank[io]  (or: pip install pillow)"
        ) from exc
    return Image


def _walk_images(folder: Path, follow_links: bool) -> list[Path]:
    """Image files under `folder`, recursively, in Keras's order (folders by path, then names)."""
    walk = sorted(os.walk(folder, followlinks=follow_links), key=lambda entry: entry[0])
    found = [
        Path(root) / name
        for root, _, files in walk
        for name in sorted(files)
        if name.lower().endswith(ALLOWED_FORMATS)
    ]
    return skip_irregular(found)


def _index_directory(directory: Path, labels, class_names, follow_links: bool):
    """(file_paths, labels or None, class_names or None) in Keras's order, before shuffling."""
    if isinstance(labels, str):  # "inferred", checked by the caller
        subdirs = sorted(
            p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")
        )
        if class_names is None:
            class_names = subdirs
        else:
            class_names = [str(c) for c in class_names]
            unknown = [c for c in class_names if c not in subdirs]
            if unknown or len(set(class_names)) != len(class_names):
                raise ValueError(
                    f"image_dataset_from_directory class_names expects distinct names of "
                    f"subdirectories of {directory} (all of them or some), got {class_names}; "
                    f"the subdirectories are {subdirs}."
                )
        paths, label_list = [], []
        for index, name in enumerate(class_names):
            files = _walk_images(directory / name, follow_links)
            paths.extend(files)
            label_list.extend([index] * len(files))
        return paths, np.asarray(label_list, dtype=np.int64), list(class_names)
    paths = _walk_images(directory, follow_links)
    if labels is None:
        return paths, None, None
    label_array = np.asarray(labels)
    if label_array.ndim != 1 or (label_array.size and label_array.dtype.kind not in "iu"):
        raise ValueError(
            "image_dataset_from_directory labels expects 'inferred', None or a "
            f"1-D list of integer labels, got an array of dtype "
            f"{label_array.dtype} and shape {label_array.shape}."
        )
    if len(label_array) != len(paths):
        raise ValueError(
            f"image_dataset_from_directory got {len(label_array)} labels but found "
            f"{len(paths)} image files in {directory}; give one label per file, in the "
            "alphanumeric order of the file paths, or use labels='inferred'."
        )
    if len(label_array) and label_array.min() < 0:
        raise ValueError(
            f"image_dataset_from_directory labels must be >= 0, got {int(label_array.min())}."
        )
    # As Keras: the class names are the distinct labels, sorted, as strings.
    names = [str(v) for v in sorted(set(label_array.tolist()))]
    return paths, label_array.astype(np.int64), names


def _check_pair(name: str, value) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"image_dataset_from_directory {name} expects (height, width), got {value!r}."
        ) from None
    if h < 1 or w < 1:
        raise ValueError(
            f"image_dataset_from_directory {name} expects positive sizes, got {value!r}."
        )
    return h, w


class ImageDataset:
    """Batches of ``(images float32 (b, h, w, c) in 0..255, labels)`` read from image files.

    Iterate it (any number of times) to get batches; ``len()`` is the number of batches.
    Labels are int32 (b,) for ``label_mode="int"``, float32 one-hot (b, classes) for
    "categorical", float32 (b, 1) for "binary"; with ``labels=None`` only images are yielded.

    Attributes:
        class_names: list of class names (index = label), or None without labels.
        file_paths: list of the image files, in this dataset's (shuffled) order.
        labels: int array (n,) of class indices, or None.
    """

    def __init__(
        self,
        file_paths,
        labels,
        class_names,
        *,
        label_mode,
        num_channels,
        batch_size,
        image_size,
        interpolation,
        crop_to_aspect_ratio,
        shuffle,
        seed,
    ):
        self.file_paths = [str(p) for p in file_paths]
        self.labels = labels
        self.class_names = class_names
        self.label_mode = label_mode
        self.num_channels = num_channels
        self.batch_size = batch_size
        self.image_size = image_size
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.shuffle = shuffle
        # Pass k visits the files in epoch_order(k): seed and pass number decide it.
        self._seed = 0 if seed is None else int(seed)
        self._passes = 0

    def __len__(self) -> int:
        if self.batch_size is None:
            return len(self.file_paths)
        return -(-len(self.file_paths) // self.batch_size)

    @property
    def num_samples(self) -> int:
        """Number of images (not batches)."""
        return len(self.file_paths)

    def __repr__(self) -> str:
        h, w = self.image_size
        return (
            f"ImageDataset({self.num_samples} images, {len(self)} batches of "
            f"{self.batch_size}, image shape ({h}, {w}, {self.num_channels}), "
            f"class_names={self.class_names})"
        )

    def load_image(self, path) -> np.ndarray:
        """One image file as float32 (h, w, c), resized and converted like the dataset's."""
        Image = _pillow()
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[self.num_channels]
        r = Image.Resampling
        filters = {
            "bilinear": r.BILINEAR,
            "nearest": r.NEAREST,
            "bicubic": r.BICUBIC,
            "area": r.BOX,
            "lanczos3": r.LANCZOS,
        }
        h, w = self.image_size
        with open_image(path) as img:
            img = img.convert(mode)
            box = None
            if self.crop_to_aspect_ratio:
                # The largest centred window with the target aspect ratio (as Keras).
                width, height = img.size
                crop_w = min(width, round(height * w / h))
                crop_h = min(height, round(width * h / w))
                left, top = (width - crop_w) // 2, (height - crop_h) // 2
                box = (left, top, left + crop_w, top + crop_h)
            if img.size != (w, h) or box is not None:
                img = img.resize((w, h), resample=filters[self.interpolation], box=box)
            array = np.asarray(img, dtype=np.float32)
        return array.reshape(h, w, self.num_channels)

    def _encode_labels(self, index: np.ndarray) -> np.ndarray:
        labels = self.labels[index]
        if self.label_mode == "int":
            return labels.astype(np.int32)
        if self.label_mode == "binary":
            return labels.astype(np.float32).reshape(-1, 1)
        depth = max(len(self.class_names), int(self.labels.max()) + 1 if len(self.labels) else 0)
        onehot = np.zeros((len(labels), depth), dtype=np.float32)
        onehot[np.arange(len(labels)), labels] = 1.0
        return onehot

    def _batch(self, index: np.ndarray):
        images = np.stack([self.load_image(self.file_paths[i]) for i in index])
        if self.labels is None or self.label_mode is None:
            return images
        return images, self._encode_labels(index)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The order in which pass number ``epoch`` (0, 1, ...) visits the files.

        A function of ``seed`` and ``epoch`` alone, so a training run that resumes at epoch
        ``e`` (``BackupAndRestore``) sees the files in the same order as an uninterrupted one.
        """
        n = len(self.file_paths)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self._seed, int(epoch)]).permutation(n)

    def load_batch(self, index):
        """The batch of files ``index`` (positions in ``file_paths``), decoded now."""
        return self._batch(np.asarray(index))

    def __iter__(self):
        order = self.epoch_order(self._passes)
        self._passes += 1
        if self.batch_size is None:
            for i in order:
                item = self._batch(np.array([i]))
                yield tuple(a[0] for a in item) if isinstance(item, tuple) else item[0]
            return
        for start in range(0, len(order), self.batch_size):
            yield self._batch(order[start : start + self.batch_size])

    def to_numpy(self):
        """All images (n, h, w, c) float32 -- and labels, if any -- in file order (unshuffled).

        Returns:
            ``(images, labels)``, or ``images`` alone when the dataset has no labels.
        """
        h, w = self.image_size
        if not self.file_paths:
            images = np.zeros((0, h, w, self.num_channels), dtype=np.float32)
            if self.labels is None or self.label_mode is None:
                return images
            return images, self._encode_labels(np.arange(0))
        return self._batch(np.arange(len(self.file_paths)))


def image_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    color_mode="rgb",
    batch_size=32,
    image_size=(256, 256),
    shuffle=True,
    seed=None,
    validation_split=None,
    subset=None,
    interpolation="bilinear",
    follow_links=False,
    crop_to_aspect_ratio=False,
    verbose=True,
):
    """A dataset of images from `directory`, one subfolder per class (Keras's arguments).

    Args:
        directory: folder holding one subfolder per class (for ``labels="inferred"``) or
            the images themselves (recursively) otherwise.
        labels: "inferred" (from the subfolders), None (images only), or a list of integer
            labels, one per image file in alphanumeric order of the file paths.
        label_mode: "int" -> int32 (b,); "categorical" -> float32 one-hot (b, classes);
            "binary" -> float32 (b, 1), exactly 2 classes; None -> no labels.
        class_names: the class subfolders to use, in this order (all of them or some; only
            with labels="inferred").
        color_mode: "grayscale" (1 channel), "rgb" (3) or "rgba" (4).
        batch_size: images per batch, or None to yield single images.
        image_size: (height, width) every image is resized to.
        shuffle: shuffle the files (and reshuffle on every pass).
        seed: integer seed for shuffling; required with validation_split and shuffle.
        validation_split: fraction in (0, 1) kept for validation (the last files after the
            one-time shuffle); needs `subset`.
        subset: "training", "validation" or "both" (returns ``(train, validation)``).
        interpolation: resizing filter: "bilinear", "nearest", "bicubic", "area", "lanczos3".
        follow_links: follow symbolic links to folders.
        crop_to_aspect_ratio: crop the largest centred window with the target aspect ratio
            before resizing, instead of stretching.
        verbose: print "Found N files belonging to C classes." as Keras does.

    Returns:
        An :class:`ImageDataset` yielding ``(images (b, h, w, c) float32, labels)`` batches,
        or a tuple ``(training, validation)`` of them for ``subset="both"``.

    Raises:
        ImportError: Pillow is not installed.
        ValueError: an invalid argument or no images found (the message says which and why).
        FileNotFoundError: `directory` does not exist.

    Example:
        >>> ds = image_dataset_from_directory("flowers/", image_size=(32, 32))  # doctest: +SKIP
        >>> x, y = ds.to_numpy()                                                 # doctest: +SKIP
    """
    _pillow()  # fail at once, not on the first batch
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"image_dataset_from_directory directory {str(directory)!r} "
            "does not exist or is not a folder."
        )
    if not (
        labels is None
        or (isinstance(labels, str) and labels == "inferred")
        or isinstance(labels, (list, tuple, np.ndarray))
    ):
        raise ValueError(
            "image_dataset_from_directory labels expects 'inferred' (labels from the "
            "subfolder names), None (images only) or a list/tuple of integer labels, one per "
            f"image file; got {labels!r}."
        )
    if class_names is not None and not (isinstance(labels, str) and labels == "inferred"):
        raise ValueError(
            "image_dataset_from_directory class_names is only valid with "
            f"labels='inferred', got labels={labels!r}. Remove class_names."
        )
    if label_mode is not None and label_mode not in LABEL_MODES:
        raise unknown_name("label_mode", label_mode, LABEL_MODES)
    if labels is None:
        label_mode = None  # as Keras: no labels, images only
    if color_mode not in COLOR_MODES:
        raise unknown_name("color_mode", color_mode, COLOR_MODES)
    if interpolation not in INTERPOLATIONS:
        raise unknown_name("interpolation", interpolation, INTERPOLATIONS)
    if batch_size is not None and not is_positive_int(batch_size):
        raise ValueError(
            f"image_dataset_from_directory batch_size expects a positive "
            f"integer or None, got {batch_size!r}."
        )
    image_size = _check_pair("image_size", image_size)
    if validation_split is not None:
        if not 0.0 < float(validation_split) < 1.0:
            raise ValueError(
                f"image_dataset_from_directory validation_split expects a "
                f"fraction in (0, 1), got {validation_split!r}."
            )
        if subset is None:
            raise ValueError(
                "image_dataset_from_directory validation_split needs subset="
                "'training', 'validation' or 'both' to say which part to return."
            )
        if shuffle and seed is None:
            raise ValueError(
                "image_dataset_from_directory with validation_split and shuffle=True needs a "
                "seed, so that the training and validation subsets do not overlap: pass the "
                "same seed=... to both calls."
            )
    if subset is not None:
        if subset not in SUBSETS:
            raise unknown_name("subset", subset, SUBSETS)
        if validation_split is None:
            raise ValueError(
                f"image_dataset_from_directory subset={subset!r} needs "
                "validation_split (a fraction in (0, 1))."
            )

    paths, label_array, names = _index_directory(directory, labels, class_names, follow_links)
    if not paths:
        raise ValueError(
            f"No images found in directory {directory}. Allowed formats: "
            f"{', '.join(ALLOWED_FORMATS)}."
        )
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(
            f"image_dataset_from_directory label_mode='binary' needs exactly 2 "
            f"classes, got {len(names)}: {names}. Use label_mode='int' or "
            "'categorical'."
        )
    if verbose:
        if label_array is None:
            print(f"Found {len(paths)} files.")
        else:
            print(f"Found {len(paths)} files belonging to {len(names)} classes.")

    if shuffle:
        # Keras draws a seed when none is given, then shuffles files and labels alike.
        if seed is None:
            seed = int(np.random.randint(1_000_000))
        order = np.random.RandomState(seed).permutation(len(paths))
        paths = [paths[i] for i in order]
        if label_array is not None:
            label_array = label_array[order]

    common = dict(
        label_mode=label_mode,
        num_channels=COLOR_MODES[color_mode],
        batch_size=batch_size,
        image_size=image_size,
        interpolation=interpolation,
        crop_to_aspect_ratio=crop_to_aspect_ratio,
        shuffle=shuffle,
        seed=seed,
    )

    def make(lo, hi, what):
        if verbose and what:
            print(f"Using {hi - lo} files for {what}.")
        part_labels = None if label_array is None else label_array[lo:hi]
        return ImageDataset(paths[lo:hi], part_labels, names, **common)

    if validation_split is None:
        return make(0, len(paths), None)
    n_val = int(float(validation_split) * len(paths))
    n_train = len(paths) - n_val
    if subset == "training":
        return make(0, n_train, "training")
    if subset == "validation":
        return make(n_train, len(paths), "validation")
    return make(0, n_train, "training"), make(n_train, len(paths), "validation")
