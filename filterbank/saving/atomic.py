"""Atomic file replacement: a crash leaves the old file or the new one, never half of one.

Example:
    >>> import os, tempfile
    >>> from filterbank.saving.atomic import atomic_write
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> atomic_write(path, lambda fp: fp.write(b"hello"))
    >>> open(path, "rb").read()
    b'hello'
"""

from __future__ import annotations

import os
import secrets


def atomic_write(path: str, fill) -> None:
    """Call ``fill(fileobj)`` on a temporary file beside ``path``, fsync it, then rename it over.

    A crash at any point leaves ``path`` as it was (or the complete new file), never partial.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Cannot save to {path!r}: the directory {directory!r} "
                                "does not exist.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot save to {path!r}: it is a directory. "
                                "Give a file name, e.g. 'model.fbk'.")
    # The temporary name stays short of NAME_MAX even for a 255-character target name.
    tmp = os.path.join(directory, f".{os.path.basename(path)[:100]}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never follow or reuse an existing name; 0o666 lets the umask decide, as open() does.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fp:
            fill(fp)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable on POSIX; Windows cannot open directories, and need not.
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
