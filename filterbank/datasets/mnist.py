"""MNIST handwritten digits, as ``keras.datasets.mnist``, with an offline fallback.

``load_data()`` returns ``((x_train, y_train), (x_test, y_test))``: uint8 images (n, 28, 28)
with values 0..255 and uint8 labels (n,) in 0..9 -- exactly what Keras returns. Where the data
comes from (``source="auto"`` tries them in this order):

1. ``"cache"``: the full MNIST file ``mnist.npz`` in ``~/.filterbank/datasets`` (the root
   ``~/.filterbank`` is overridden by ``FILTERBANK_HOME``); Keras's own
   ``~/.keras/datasets/mnist.npz`` can be copied there.
2. ``"download"``: the ``mnist.npz`` Keras downloads (60,000 + 10,000 digits, 11 MB), checked
   by SHA-256 and cached atomically. Skipped when ``FILTERBANK_OFFLINE=1``; any network error
   (5 s timeout) moves on to the next source.
3. ``"bundled"``: 10,000 real MNIST digits shipped inside filterbank (1.6 MB), split per digit
   80/20 into 8,000 training and 2,000 test images (see ``filterbank/datasets/README.md``).
   ``"auto"`` warns (:class:`BundledDataWarning`) when it lands here.

MNIST: Yann LeCun, Corinna Cortes and Christopher J.C. Burges, CC BY-SA 3.0.

Example:
    >>> from filterbank.datasets import mnist
    >>> (x_train, y_train), (x_test, y_test) = mnist.load_data(source="bundled")
    >>> x_train.shape, x_train.dtype, y_test.shape
    ((8000, 28, 28), dtype('uint8'), (2000,))
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ..errors import unknown_name
from . import _download

FILENAME = "mnist.npz"
# SHA-256 of Keras's mnist.npz (keras/src/datasets/mnist.py, file_hash).
SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
SOURCES = ("auto", "cache", "download", "bundled")
BUNDLED_PATH = Path(__file__).resolve().parent / "data" / "mnist_subset.npz"
_KEYS = ("x_train", "y_train", "x_test", "y_test")


class BundledDataWarning(UserWarning):
    """``load_data()`` fell back to the small dataset bundled with filterbank."""


def url() -> str:
    """Where the full ``mnist.npz`` is downloaded from."""
    return _download.origin() + FILENAME


def cache_path(path: str | os.PathLike = FILENAME) -> Path:
    """Where `path` lives: relative paths are taken inside the cache folder (as Keras does)."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else _download.cache_dir() / path


def read_npz(path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Read a Keras-layout MNIST npz (keys x_train, y_train, x_test, y_test), validated.

    Returns:
        ``((x_train (n, 28, 28) uint8, y_train (n,) uint8), (x_test, y_test))``.

    Raises:
        ValueError: not an npz archive, a key is missing, an array holds pickled objects or
            has the wrong dtype or shape.
    """
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":  # np.load would take anything else for a pickle
        raise ValueError(
            f"MNIST file {path} is not a readable .npz archive (it starts with "
            f"{magic!r}). Delete it and run mnist.load_data(source='download')."
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            files = list(f.files)
            missing = [k for k in _KEYS if k not in files]
            arrays = {k: f[k] for k in _KEYS if k in f.files}
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(
            f"MNIST file {path} is not a readable .npz archive ({exc}). Delete it "
            "and run mnist.load_data(source='download')."
        ) from exc
    if missing:
        raise ValueError(
            f"MNIST file {path} lacks arrays {missing}; expected keys "
            f"{list(_KEYS)} (Keras's mnist.npz layout), got {files}."
        )
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ValueError(
                f"MNIST file {path}: x_{split} expects uint8 (n, 28, 28), got "
                f"{x.dtype} {x.shape}. Re-download it with source='download'."
            )
        if y.dtype != np.uint8 or y.shape != (len(x),):
            raise ValueError(
                f"MNIST file {path}: y_{split} expects uint8 ({len(x)},), got "
                f"{y.dtype} {y.shape}. Re-download it with source='download'."
            )
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _how_to_get_full() -> str:
    return (
        f"For the full 60,000/10,000 MNIST, run mnist.load_data(source='download') with "
        f"internet access, or put Keras's mnist.npz (from {url()}) in {_download.cache_dir()}"
    )


def load_data(path: str | os.PathLike = FILENAME, source: str = "auto"):
    """Load MNIST as Keras does: ``((x_train, y_train), (x_test, y_test))``.

    Args:
        path: file name of the full set inside ``~/.filterbank/datasets`` (or an absolute
            path), as Keras's ``path`` argument.
        source: ``"auto"`` (cache, then download, then bundled subset with a warning),
            ``"cache"``, ``"download"`` (fetch now, check SHA-256, cache) or ``"bundled"``.

    Returns:
        ``x_train`` uint8 (60000, 28, 28), ``y_train`` uint8 (60000,), ``x_test`` uint8
        (10000, 28, 28), ``y_test`` uint8 (10000,); from the bundled subset 8,000 and 2,000.

    Raises:
        ValueError: unknown `source`.
        FileNotFoundError: ``source="cache"`` and no cached file.
        DownloadError: ``source="download"`` and the download failed (ChecksumError when the
            bytes arrived but their SHA-256 was wrong).

    Example:
        >>> (x_train, y_train), _ = load_data(source="bundled")
        >>> x_train.shape
        (8000, 28, 28)
    """
    if source not in SOURCES:
        raise unknown_name("mnist source", source, SOURCES)
    full = cache_path(path)
    if source == "bundled":
        return read_npz(BUNDLED_PATH)
    if source == "cache":
        if not full.is_file():
            raise FileNotFoundError(
                f"mnist.load_data(source='cache') found no {full}. {_how_to_get_full()}."
            )
        return read_npz(full)
    if source == "download":
        _download.download(url(), full, SHA256)
        return read_npz(full)

    if full.is_file():
        return read_npz(full)
    if _download.is_offline():
        reason = "FILTERBANK_OFFLINE is set"
    else:
        try:
            _download.download(url(), full, SHA256)
            return read_npz(full)
        except _download.DownloadError as exc:
            reason = "download failed: " + " ".join(str(exc).split())
    warnings.warn(
        f"mnist.load_data: full MNIST unavailable ({reason}); using the bundled 8,000/2,000 "
        f"real-digit subset (MNIST training digits 0-9999, split 80/20 per digit). "
        f"{_how_to_get_full()}.",
        BundledDataWarning,
        stacklevel=2,
    )
    return read_npz(BUNDLED_PATH)


def is_cached(path: str | os.PathLike = FILENAME) -> bool:
    """Whether the full ``mnist.npz`` is in the cache folder (no network, no reading)."""
    return cache_path(path).is_file()
