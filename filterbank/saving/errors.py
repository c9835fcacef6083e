"""The one error a damaged, hostile or mismatched model file raises, and the limits it enforces.

Every check in :mod:`filterbank.saving` that concerns the *content of a file* raises
:class:`ModelFileError` (a ``ValueError``), never a ``KeyError`` from deep inside a parser,
so callers need one ``except`` clause. The message always names the file and what is wrong:

    Cannot load 'model.fbk': member 'config.json' is not valid JSON (line 3, column 7).
    The file is damaged or not a filterbank model.

Example:
    >>> from filterbank.saving.errors import file_error
    >>> str(file_error("model.fbk", "it is empty (0 bytes)"))
    "Cannot load 'model.fbk': it is empty (0 bytes). The file is damaged or not a filterbank model."
"""

from __future__ import annotations

import json
import os

# Limits: generous for any CNN this library trains, small enough that a hostile file cannot
# exhaust memory. Every size is checked *before* the bytes it describes are read or allocated.
MAX_TOTAL_BYTES = 2 * 1024**3
"""Most bytes a whole model file, and the sum of its uncompressed members, may hold (2 GiB)."""
MAX_JSON_BYTES = 16 * 1024**2
"""Most bytes config.json / metadata.json (and a safetensors header) may hold (16 MiB)."""
MAX_RATIO = 100
"""Highest compression ratio accepted for a member larger than :data:`RATIO_FREE_BYTES`."""
RATIO_FREE_BYTES = 1024**2
"""Members up to this size (1 MiB) may compress arbitrarily well (small JSON does)."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of lists/objects accepted in a JSON member."""
MAX_TENSORS = 100_000
"""Most tensors one safetensors member may hold."""
MAX_NAME_CHARS = 1024
"""Longest tensor name accepted."""

DAMAGED = "The file is damaged or not a filterbank model."


class ModelFileError(ValueError):
    """A model or weights file cannot be used: damaged, hostile, too new or not matching the model.

    The message names the file, what is wrong and, where it helps, how to fix it.
    """


class SaveError(OSError):
    """A model or weights file cannot be written: the target is not a regular file, the
    directory is read-only, the disk is full. The message names the target (never the hidden
    temporary file) and says that nothing was replaced; ``errno`` is the system's code.

    Example:
        >>> str(SaveError("Cannot save to 'm.fbk': it is a FIFO.", errno=None))
        "Cannot save to 'm.fbk': it is a FIFO."
    """

    def __init__(self, message: str, errno: int | None = None, filename=None):
        super().__init__(message)
        self.message = message
        self.errno = errno
        self.filename = filename

    def __str__(self):
        return self.message


def file_error(path, what: str, fix: str | None = DAMAGED) -> ModelFileError:
    """Build ``"Cannot load '<path>': <what>. <fix>"`` as a :class:`ModelFileError`."""
    msg = f"Cannot load {os.fspath(path)!r}: {what}."
    if fix:
        msg += " " + fix
    err = ModelFileError(msg)
    err.what = what  # the problem alone, for callers that word it differently (saving)
    return err


HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def hdf5_error(path) -> ModelFileError:
    """The message for an HDF5 file (Keras 2 ``.h5`` / Keras 3 ``.weights.h5``), found by its
    first bytes: a whole model comes from a filterbank file or a Keras 3 .keras archive.

    Example:
        >>> str(hdf5_error("w.weights.h5"))[:65]
        "Cannot load 'w.weights.h5': it is an HDF5 file (a Keras .h5 or .w"
    """
    return file_error(
        path,
        "it is an HDF5 file (a Keras .h5 or .weights.h5 file), and a whole "
        "model is read from a filterbank file or a Keras 3 .keras archive",
        "For Keras 3 weights, build the same model in filterbank and call "
        "model.load_weights('x.weights.h5') (needs h5py: pip install "
        "'filterbank[keras-files]'); for a Keras 2 .h5 model, re-save it in Keras 3 "
        "as model.save('x.keras') and load that.",
    )


def is_hdf5(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes) starts with the HDF5 signature."""
    return head[:8] == HDF5_MAGIC or head[:4] == HDF5_MAGIC[:4]


def _reject_duplicate_keys(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _depth_ok(value, limit: int) -> bool:
    """True when lists/dicts nest at most ``limit`` deep (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((c, depth + 1) for c in children)
    return True


def parse_json(data: bytes, path, member: str):
    """Parse a UTF-8 JSON member strictly (no duplicate keys, bounded size and depth).

    Raises :class:`ModelFileError` naming ``path`` and ``member`` on any problem.
    """
    if len(data) > MAX_JSON_BYTES:
        raise file_error(
            path,
            f"member {member!r} is {len(data):,} bytes, more than the "
            f"{MAX_JSON_BYTES:,} a JSON member may hold",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise file_error(path, f"member {member!r} is not UTF-8 text (byte {e.start})") from None
    try:
        value = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as e:
        raise file_error(
            path,
            f"member {member!r} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})",
        ) from None
    except RecursionError:
        raise file_error(path, f"member {member!r} nests JSON too deeply") from None
    except ValueError as e:  # duplicate keys, integers with too many digits
        raise file_error(path, f"member {member!r} is not valid JSON ({e})") from None
    if not _depth_ok(value, MAX_JSON_DEPTH):
        raise file_error(
            path, f"member {member!r} nests JSON more than {MAX_JSON_DEPTH} levels deep"
        )
    return value
