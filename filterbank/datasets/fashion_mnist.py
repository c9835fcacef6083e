"""Fashion-MNIST (Zalando), as ``keras.datasets.fashion_mnist``.

``load_data()`` returns ``((x_train, y_train), (x_test, y_test))``: uint8 images (60000, 28, 28)
and (10000, 28, 28), values 0..255, and uint8 labels in 0..9 (see :data:`CLASS_NAMES`). The four
gzipped IDX files are read from the first of (``source="auto"``):

1. ``"cache"``: ``~/.filterbank/datasets/fashion-mnist/`` (root overridable by
   ``FILTERBANK_HOME``), the layout Keras uses under ``~/.keras/datasets``.
2. ``"system"``: the Debian/Ubuntu package ``dataset-fashion-mnist``
   (``sudo apt-get install dataset-fashion-mnist``), found through dpkg's file list or under
   ``/usr/share/datasets``.
3. ``"download"``: the files Keras downloads, each checked by SHA-256 and cached atomically
   (skipped when ``FILTERBANK_OFFLINE=1``).

Fashion-MNIST: Han Xiao, Kashif Rasul, Roland Vollgraf (Zalando SE), MIT license.

Example:
    >>> from filterbank.datasets import fashion_mnist
    >>> (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()  # doctest: +SKIP
    >>> x_train.shape, fashion_mnist.CLASS_NAMES[y_train[0]]               # doctest: +SKIP
    ((60000, 28, 28), 'Ankle boot')
"""

from __future__ import annotations

import glob
from pathlib import Path

from ..errors import unknown_name
from . import _download
from ._idx import read_idx

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
SOURCES = ("auto", "cache", "system", "download")
SUBDIR = "fashion-mnist"
DEBIAN_PACKAGE = "dataset-fashion-mnist"
# File name -> SHA-256 of the file Keras downloads (keras/src/datasets/fashion_mnist.py).
# The Debian package's files are re-compressed (other bytes, same content), so they are
# validated by their IDX structure instead.
FILES = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
# Where the Debian package puts its files: dpkg's list of the package's files first, then
# folders named like it under the usual data roots (module-level so tests can redirect them).
DPKG_LIST = Path("/var/lib/dpkg/info") / f"{DEBIAN_PACKAGE}.list"
SYSTEM_GLOBS = ("/usr/share/datasets/*fashion*", "/usr/local/share/datasets/*fashion*")


def cache_folder() -> Path:
    """``<cache dir>/fashion-mnist``: where cached and downloaded files live."""
    return _download.cache_dir() / SUBDIR


def _find_in(folder: Path) -> dict[str, Path] | None:
    """The four files in `folder` (gzipped, or unpacked without .gz), or None if any is missing."""
    found = {}
    for name in FILES:
        for candidate in (folder / name, folder / name[: -len(".gz")]):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            return None
    return found


def system_files() -> dict[str, Path] | None:
    """The Debian package's four files, or None when the package is not installed."""
    folders: list[Path] = []
    try:
        listed = DPKG_LIST.read_text().splitlines()
    except OSError:
        listed = []
    for line in listed:
        path = Path(line.strip())
        if path.name in FILES and path.parent not in folders:
            folders.append(path.parent)
    for pattern in SYSTEM_GLOBS:
        folders.extend(Path(p) for p in sorted(glob.glob(pattern)) if Path(p) not in folders)
    for folder in folders:
        found = _find_in(folder)
        if found is not None:
            return found
    return None


def read_files(files: dict[str, Path]):
    """Parse the four IDX files into ``((x_train, y_train), (x_test, y_test))``, validated."""
    out = []
    for prefix in ("train", "t10k"):
        images_path = files[f"{prefix}-images-idx3-ubyte.gz"]
        labels_path = files[f"{prefix}-labels-idx1-ubyte.gz"]
        x = read_idx(images_path, expected_ndim=3)
        y = read_idx(labels_path, expected_ndim=1)
        if x.shape[1:] != (28, 28):
            raise ValueError(f"{images_path} expects 28x28 images, got shape {x.shape}.")
        if len(x) != len(y):
            raise ValueError(
                f"{images_path} holds {len(x)} images but {labels_path} holds "
                f"{len(y)} labels; the files do not belong together."
            )
        if y.size and int(y.max()) >= len(CLASS_NAMES):
            raise ValueError(
                f"{labels_path} has label {int(y.max())}; Fashion-MNIST labels are 0..9."
            )
        out.append((x, y))
    return tuple(out)


def _download_all(force: bool) -> dict[str, Path]:
    folder = cache_folder()
    found = {}
    for name, sha in FILES.items():
        dest = folder / name
        if force or not dest.is_file():
            _download.download(_download.origin() + name, dest, sha)
        found[name] = dest
    return found


def _not_found(download_note: str) -> FileNotFoundError:
    return FileNotFoundError(
        "fashion_mnist.load_data found no Fashion-MNIST. Sources tried: "
        f"(1) cache: no {', '.join(FILES)} in {cache_folder()} -- copy them there (Keras keeps "
        "them in ~/.keras/datasets/fashion-mnist); "
        f"(2) system: the Debian/Ubuntu package {DEBIAN_PACKAGE} is not installed -- "
        f"`sudo apt-get install {DEBIAN_PACKAGE}`; "
        f"(3) download from {_download.origin()}: {download_note} -- connect to the internet "
        "(and unset FILTERBANK_OFFLINE) or set FILTERBANK_DATASETS_ORIGIN to a mirror."
    )


def load_data(source: str = "auto"):
    """Load Fashion-MNIST as Keras does: ``((x_train, y_train), (x_test, y_test))``.

    Args:
        source: ``"auto"`` (cache, then the Debian package, then download), ``"cache"``,
            ``"system"`` or ``"download"`` (fetch all four files now, even if cached).

    Returns:
        ``x_train`` uint8 (60000, 28, 28), ``y_train`` uint8 (60000,), ``x_test`` uint8
        (10000, 28, 28), ``y_test`` uint8 (10000,). Label names: :data:`CLASS_NAMES`.

    Raises:
        ValueError: unknown `source`, or a file that is not the expected IDX data.
        FileNotFoundError: the chosen source (or, for ``"auto"``, every source) has no data;
            the message says how to get each.
        DownloadError: ``source="download"`` and a download failed.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data()  # doctest: +SKIP
    """
    if source not in SOURCES:
        raise unknown_name("fashion_mnist source", source, SOURCES)
    for local, find in _LOCAL_SOURCES:
        if source in ("auto", local):
            files = find()
            if files is not None:
                return read_files(files)
            if source == local:
                raise FileNotFoundError(_missing(local))
    if source == "download":
        return read_files(_download_all(force=True))
    if _download.is_offline():
        raise _not_found("skipped, FILTERBANK_OFFLINE is set")
    try:
        files = _download_all(force=False)
    except _download.DownloadError as exc:
        raise _not_found("failed: " + " ".join(str(exc).split())) from exc
    return read_files(files)


def available_source() -> str | None:
    """The local source ``load_data()`` would use ('cache' or 'system'), or None (no I/O beyond
    checking that files exist)."""
    for local, find in _LOCAL_SOURCES:
        if find() is not None:
            return local
    return None


# The sources on this machine, in the order "auto" tries them: name, file finder (looked up
# at call time, so a patched cache_folder or system_files is the one used).
_LOCAL_SOURCES = (("cache", lambda: _find_in(cache_folder())), ("system", lambda: system_files()))


def _missing(local: str) -> str:
    """Why load_data(source=local) found nothing, and what to do."""
    if local == "cache":
        return (
            f"fashion_mnist.load_data(source='cache') found no {', '.join(FILES)} in "
            f"{cache_folder()}. Copy them there, or use source='auto'."
        )
    return (
        f"fashion_mnist.load_data(source='system'): the Debian/Ubuntu package "
        f"{DEBIAN_PACKAGE} is not installed. Install it with "
        f"`sudo apt-get install {DEBIAN_PACKAGE}`, or use source='auto'."
    )


__all__ = ["CLASS_NAMES", "load_data"]
