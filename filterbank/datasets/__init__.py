"""Datasets, as ``keras.datasets``: MNIST (works offline), Fashion-MNIST, X's and O's, images.

* :mod:`~filterbank.datasets.mnist` -- ``mnist.load_data()``: the full MNIST from the cache or
  a download, else a bundled 8,000/2,000 subset of real digits (with a warning).
* :mod:`~filterbank.datasets.fashion_mnist` -- ``fashion_mnist.load_data()``: cache, the Debian
  package ``dataset-fashion-mnist``, or a download.
* :mod:`~filterbank.datasets.xo` -- ``xo.load_data()``: the seed lecture's X's and O's, generated.
* :func:`image_dataset_from_directory` -- batches of images from one folder per class.
* :func:`available` -- what can be loaded here and from where (no network, no parsing).

Submodules are imported on first use, so ``import filterbank`` stays fast.

Example:
    >>> from filterbank.datasets import mnist
    >>> (x_train, y_train), (x_test, y_test) = mnist.load_data(source="bundled")
    >>> x_train.shape
    (8000, 28, 28)
"""

from __future__ import annotations

from .. import _lazy

_SUBMODULES = ("mnist", "fashion_mnist", "xo", "image_folder")
__getattr__ = _lazy.lazy_attributes(
    __name__,
    __name__,
    _SUBMODULES,
    {"image_dataset_from_directory": ".image_folder", "ImageDataset": ".image_folder"},
)


def available() -> dict[str, dict]:
    """Which datasets can be loaded on this machine without a download, and from where.

    Only checks that files exist (nothing is read, hashed or downloaded), so it is fast.

    Returns:
        ``{name: {"available": bool, "source": str | None, "location": str | None,
        "samples": str, "note": str}}`` for "mnist", "fashion_mnist" and "xo". ``source`` is the
        one ``load_data()`` would use first; ``samples`` is "train/test" counts.

    Example:
        >>> info = available()
        >>> info["mnist"]["available"], info["xo"]["source"]
        (True, 'generated')
    """
    from . import _download, fashion_mnist, mnist

    offline = _download.is_offline()
    download_note = (
        "downloads disabled (FILTERBANK_OFFLINE)"
        if offline
        else f"can be downloaded from {_download.origin()}"
    )
    info: dict[str, dict] = {}
    if mnist.is_cached():
        info["mnist"] = dict(
            available=True,
            source="cache",
            location=str(mnist.cache_path()),
            samples="60000/10000",
            note="full MNIST",
        )
    else:
        info["mnist"] = dict(
            available=True,
            source="bundled",
            location=str(mnist.BUNDLED_PATH),
            samples="8000/2000",
            note=f"bundled real-digit subset; the full set {download_note}",
        )
    source = fashion_mnist.available_source()
    if source == "cache":
        location = str(fashion_mnist.cache_folder())
    elif source == "system":
        location = str(next(iter(fashion_mnist.system_files().values())).parent)
    else:
        location = None
    info["fashion_mnist"] = dict(
        available=source is not None,
        source=source,
        location=location,
        samples="60000/10000",
        note=(
            "full Fashion-MNIST"
            if source
            else f"not found locally (apt-get install {fashion_mnist.DEBIAN_PACKAGE}); "
            f"{download_note}"
        ),
    )
    info["xo"] = dict(
        available=True,
        source="generated",
        location=None,
        samples="800/200 by default",
        note="X's and O's drawn on the fly (any n, size, seed)",
    )
    return info


__all__ = ["available", "fashion_mnist", "image_dataset_from_directory", "mnist", "xo"]
