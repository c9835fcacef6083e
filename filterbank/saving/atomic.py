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

import errno
import os
import re
import secrets
import stat
import time

from .errors import SaveError

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISLNK, "a symbolic link"),
)
# Our temporary names: "." + target name (<= 100 chars) + "." + 12 hex digits + ".tmp".
_TMP_RE = re.compile(r"^\..{1,100}\.[0-9a-f]{12}\.tmp$", re.DOTALL)
STALE_SECONDS = 10
"""A temporary file younger than this is never cleaned (its writer may just have created it)."""


def check_target(path: str) -> None:
    """Refuse a target that exists and is not a regular file (a FIFO, a device, a directory,
    a symbolic link): saving replaces the target, and must never replace those.

    Symbolic links are refused rather than followed or replaced: replacing the link would
    silently detach it from the file it names, following it would write outside the path the
    caller gave. Save to the real path instead.

    Example:
        >>> import os, tempfile
        >>> fifo = os.path.join(tempfile.mkdtemp(), "pipe")
        >>> os.mkfifo(fifo)
        >>> try:
        ...     check_target(fifo)
        ... except OSError as e:
        ...     print(str(e).split(": ")[1][:30])
        it is a FIFO (named pipe), not
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError:
        return  # unreadable: the write below reports it, naming the target
    if stat.S_ISREG(st.st_mode):
        return
    kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
    fix = (
        "Give a file name, e.g. 'model.fbk'."
        if stat.S_ISDIR(st.st_mode)
        else "Save to the real file's path, or remove the link first."
        if stat.S_ISLNK(st.st_mode)
        else "Save to a regular file name, e.g. 'model.fbk'."
    )
    raise SaveError(
        f"Cannot save to {path!r}: it is {kind}, not a regular file, and saving "
        f"would replace it. {fix}",
        errno.EEXIST,
        None,
    )


def atomic_write(path: str, fill) -> None:
    """Call ``fill(fileobj)`` on a temporary file beside ``path``, fsync it, then rename it over.

    A crash at any point leaves ``path`` as it was (or the complete new file), never partial.
    An existing ``path`` must be a regular file (see :func:`check_target`). Temporary files
    that earlier saves into the same folder stranded (killed processes) are removed first.
    OS errors (read-only folder, full disk) raise :class:`SaveError` naming ``path``.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"Cannot save to {path!r}: the directory {directory!r} does not exist."
        )
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"Cannot save to {path!r}: it is a directory. Give a file name, e.g. 'model.fbk'."
        )
    check_target(path)
    clean_stale_temp_files(directory)
    # The temporary name stays short of NAME_MAX even for a 255-character target name.
    tmp = os.path.join(directory, f".{os.path.basename(path)[:100]}.{secrets.token_hex(6)}.tmp")
    try:
        # O_EXCL: never follow or reuse an existing name; 0o666 lets the umask decide.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:
        raise _save_error(path, e) from None
    try:
        _hold(fd)  # while we write, a concurrent save's cleaning cannot take the file for stale
        with os.fdopen(fd, "wb") as fp:
            fill(fp)
            fp.flush()
            os.fsync(fp.fileno())
        check_target(path)  # the target may have become a FIFO while we wrote
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and not isinstance(e, SaveError):
            raise _save_error(path, e) from None
        raise
    _fsync_directory(directory)


def _save_error(path: str, e: OSError) -> SaveError:
    why = e.strerror or str(e)
    if e.errno == errno.ENOSPC or e.errno == getattr(errno, "EDQUOT", None):
        why += " (free some space, or save elsewhere)"
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why += " (the folder is not writable: save elsewhere)"
    return SaveError(
        f"Cannot save to {path!r}: {why}. Nothing was replaced: any earlier file "
        "there is unchanged.",
        e.errno,
        None,
    )


def _hold(fd: int) -> None:
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (ImportError, OSError):
        pass  # no flock (Windows): cleaning then goes by age alone


def clean_stale_temp_files(directory: str) -> list[str]:
    """Remove temporary files of our naming that no live save holds; returns their names.

    A save holds an exclusive ``flock`` on its temporary file until it renames it, and the
    system drops the lock when the process dies, so a file nobody holds and older than
    :data:`STALE_SECONDS` was stranded by a killed process. Only regular files owned by this
    user are touched; errors are ignored (cleaning is a courtesy, never a reason to fail).

    Example:
        >>> import os, tempfile, time
        >>> folder = tempfile.mkdtemp()
        >>> stale = os.path.join(folder, ".m.fbk.0123456789ab.tmp")
        >>> open(stale, "wb").close(); os.utime(stale, (time.time() - 60,) * 2)
        >>> clean_stale_temp_files(folder)
        ['.m.fbk.0123456789ab.tmp']
    """
    removed = []
    try:
        names = [n for n in os.listdir(directory) if _TMP_RE.match(n)]
    except OSError:
        return removed
    now = time.time()
    for name in names:
        full = os.path.join(directory, name)
        try:
            st = os.lstat(full)
            if (
                not stat.S_ISREG(st.st_mode)
                or now - st.st_mtime < STALE_SECONDS
                or (hasattr(os, "getuid") and st.st_uid != os.getuid())
            ):
                continue
            if _held_by_other(full):
                continue
            os.unlink(full)
            removed.append(name)
        except OSError:
            continue
    return removed


def _held_by_other(path: str) -> bool:
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


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
