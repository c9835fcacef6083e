"""Cache folder, offline switch and checked, atomic downloads for the dataset loaders.

Environment variables:

* ``FILTERBANK_HOME``: root of filterbank's files (default ``~/.filterbank``); datasets are cached
  in ``$FILTERBANK_HOME/datasets``.
* ``FILTERBANK_OFFLINE=1``: never touch the network (loaders go straight to local sources).
* ``FILTERBANK_DATASETS_ORIGIN``: base URL the dataset files are fetched from (default: the
  folder Keras downloads from), e.g. a local mirror.

Example:
    >>> from filterbank.datasets import _download
    >>> _download.cache_dir().name
    'datasets'
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

# The folder Keras's mnist / fashion_mnist loaders download from.
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# Seconds without progress before a connection or a read is given up: short, so that a
# machine without internet falls back to local data at once instead of hanging.
TIMEOUT = 5.0
_CHUNK = 1 << 16


class DownloadError(OSError):
    """A dataset file could not be fetched (offline, network error, or bad checksum)."""


class ChecksumError(DownloadError):
    """A downloaded file's SHA-256 differs from the expected one (nothing was kept)."""


def filterbank_home() -> Path:
    """``$FILTERBANK_HOME`` or ``~/.filterbank``."""
    home = os.environ.get("FILTERBANK_HOME")
    return Path(home).expanduser() if home else Path.home() / ".filterbank"


def cache_dir() -> Path:
    """The folder datasets are cached in: ``<filterbank_home()>/datasets`` (may not exist)."""
    return filterbank_home() / "datasets"


def is_offline() -> bool:
    """True when ``FILTERBANK_OFFLINE`` is set to 1/true/yes/on."""
    return os.environ.get("FILTERBANK_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def origin() -> str:
    """Base URL of the dataset files (``FILTERBANK_DATASETS_ORIGIN`` or Keras's folder)."""
    base = os.environ.get("FILTERBANK_DATASETS_ORIGIN") or KERAS_ORIGIN
    return base if base.endswith("/") else base + "/"


def _progress_bar(total: int | None, desc: str, enabled: bool):
    # tqdm is optional (the `io` extra): imported only when a download really starts.
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, leave=False)


def download(
    url: str, dest, sha256: str, *, timeout: float | None = None, progress: bool = True
) -> Path:
    """Fetch `url` into `dest`, keeping it only if its SHA-256 is `sha256`.

    The bytes go to a temporary file beside `dest` that is renamed onto `dest` (``os.replace``)
    once complete and checked, so `dest` is never a partial or unverified file.

    Args:
        url: http(s) or file URL.
        dest: final path (its folder is created).
        sha256: expected hex digest (64 characters).
        timeout: seconds of no progress before giving up (default :data:`TIMEOUT`).
        progress: show a tqdm bar on stderr when tqdm is installed.

    Returns:
        ``Path(dest)``.

    Raises:
        DownloadError: offline mode, a network/HTTP/file-system error (the cause is chained).
        ChecksumError: the file arrived but its hash differs; nothing is left on disk.

    Example:
        >>> download("https://example.org/mnist.npz", "/tmp/mnist.npz", "731c...")  # doctest: +SKIP
    """
    dest = Path(dest)
    if is_offline():
        raise DownloadError(
            f"Download of {url} skipped: FILTERBANK_OFFLINE is set. Unset it to allow downloads."
        )
    timeout = TIMEOUT if timeout is None else timeout
    tmp_name = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length") if response.headers else None
            total = int(length) if length and length.isdigit() else None
            fd, tmp_name = tempfile.mkstemp(
                dir=dest.parent, prefix=f".{dest.name}.", suffix=".part"
            )
            digest = hashlib.sha256()
            bar = _progress_bar(total, dest.name, progress)
            try:
                with os.fdopen(fd, "wb") as out:
                    for block in iter(lambda: response.read(_CHUNK), b""):
                        out.write(block)
                        digest.update(block)
                        if bar is not None:
                            bar.update(len(block))
            finally:
                if bar is not None:
                    bar.close()
        got = digest.hexdigest()
        if got != sha256.lower():
            raise ChecksumError(
                f"Download of {url} has SHA-256 {got}, expected {sha256}; the file was "
                "discarded. The server sent different bytes (a proxy page, a truncated or "
                "changed file): retry later or fetch the file by hand into "
                f"{dest.parent}."
            )
        os.replace(tmp_name, dest)
        tmp_name = None
        return dest
    except ChecksumError:
        raise
    except (
        urllib.error.URLError,
        http.client.HTTPException,
        TimeoutError,
        OSError,
        ValueError,
    ) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"Download of {url} failed: {reason}") from exc
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)
