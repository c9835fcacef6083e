"""The model file container: one zip with four known members, written atomically, read warily.

Members (see ``FORMAT.md``)::

    config.json                 architecture (+ compile config), format_version, filterbank_version
    metadata.json               format_version, filterbank_version, date, numpy version, tensor list
    model.weights.safetensors   every layer weight, named "<layer>/<weight>"
    optimizer.safetensors       optimizer state (optional: only once the optimizer has stepped)

Writing goes to a temporary file in the target's directory, is fsync'ed and then renamed over
the target with ``os.replace``: a crash leaves either the old file or the new one, never half.

Reading trusts nothing: size, zip structure, member names, flags, methods, declared sizes and
compression ratios, the bytes actually decompressed (never more than declared), JSON syntax and
depth, safetensors headers, dtypes, and the agreement of metadata.json with the tensors. Nothing
is written to disk, unpickled or evaluated; every defect raises :class:`ModelFileError`.

Example:
    >>> import numpy as np, tempfile, os
    >>> from filterbank.saving.archive import write_archive, read_archive, WEIGHTS
    >>> path = os.path.join(tempfile.mkdtemp(), "m.fbk")
    >>> weights = {"d/kernel": np.ones((2, 2), "float32")}
    >>> write_archive(path, {"class_name": "Sequential"}, {}, {WEIGHTS: weights})
    >>> read_archive(path).tensors[WEIGHTS]["d/kernel"].shape
    (2, 2)
"""

from __future__ import annotations

import datetime
import os
import stat
import struct
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .atomic import atomic_write
from .errors import (
    DAMAGED,
    MAX_JSON_BYTES,
    MAX_RATIO,
    MAX_TOTAL_BYTES,
    RATIO_FREE_BYTES,
    ModelFileError,
    file_error,
    hdf5_error,
    is_hdf5,
    parse_json,
)
from .tensorfile import FLOAT_DTYPES, STATE_DTYPES, decode_tensors, encode_tensors, read_header

FORMAT_VERSION = 1
"""The container format this filterbank writes and the newest it reads (an integer major)."""

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS = "model.weights.safetensors"
OPTIMIZER = "optimizer.safetensors"
REQUIRED = (CONFIG, METADATA, WEIGHTS)
KNOWN = (CONFIG, METADATA, WEIGHTS, OPTIMIZER)
TENSOR_MEMBERS = {WEIGHTS: FLOAT_DTYPES, OPTIMIZER: STATE_DTYPES}

_JSON_MEMBERS = (CONFIG, METADATA)
_ALLOWED_FLAGS = 0x0002 | 0x0004 | 0x0008 | 0x0800  # deflate level bits, data descriptor, UTF-8
_EOCD = b"PK\x05\x06"
_MAX_CENTRAL_DIR = 64 * 1024  # four members need ~300 bytes; more means a crafted file
_MAX_ENTRIES = 64  # a few extra members are reported by name below; thousands are refused here


@dataclass
class Archive:
    """What :func:`read_archive` returns: parsed JSON members and ``{member: {name: array}}``."""

    config: dict
    metadata: dict
    tensors: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def _filterbank_version() -> str:
    from .. import __version__

    return __version__


# ------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------
def _json_bytes(value) -> bytes:
    import json

    return json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False).encode("utf-8")


def write_archive(
    path, config: dict, metadata: dict, tensors: dict[str, dict[str, np.ndarray]]
) -> None:
    """Write a model file atomically.

    Args:
        path: target file name (any extension; ``.fbk`` suggested, ``.keras`` accepted).
        config: JSON-serialisable architecture dict; ``format_version`` and
            ``filterbank_version`` are added.
        metadata: extra JSON-serialisable facts; the format/library/numpy versions, the date and
            the per-tensor list are added (and win over same-named keys).
        tensors: ``{member: {tensor name: array}}`` for ``model.weights.safetensors`` (required,
            float32/float64) and ``optimizer.safetensors`` (optional; float32/float64/int64).
    """
    path = os.fspath(path)
    if set(tensors) - set(TENSOR_MEMBERS):
        unknown = sorted(set(tensors) - set(TENSOR_MEMBERS))
        raise ValueError(
            f"write_archive: unknown tensor members {unknown}; use {WEIGHTS!r} and {OPTIMIZER!r}."
        )
    if WEIGHTS not in tensors:
        raise ValueError(f"write_archive needs the {WEIGHTS!r} member (it may be an empty dict).")
    tensors = {m: {n: np.asarray(a, order="C") for n, a in t.items()} for m, t in tensors.items()}
    version = _filterbank_version()
    config = {**config, "format_version": FORMAT_VERSION, "filterbank_version": version}
    blobs = {m: encode_tensors(t, TENSOR_MEMBERS[m]) for m, t in tensors.items()}
    listing = [
        {"member": m, "name": n, "dtype": str(a.dtype), "shape": list(a.shape)}
        for m, t in tensors.items()
        for n, a in t.items()
    ]
    metadata = {
        **metadata,
        "format_version": FORMAT_VERSION,
        "filterbank_version": version,
        "date_saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "numpy_version": np.__version__,
        "tensors": listing,
    }
    members = [(CONFIG, _json_bytes(config)), (METADATA, _json_bytes(metadata))]
    members += [(m, blobs[m]) for m in (WEIGHTS, OPTIMIZER) if m in blobs]
    total = sum(len(b) for _, b in members)
    if total > MAX_TOTAL_BYTES:
        raise ValueError(
            f"The model is {total:,} bytes; a filterbank file holds at most "
            f"{MAX_TOTAL_BYTES:,} bytes."
        )

    def fill(fp):
        with zipfile.ZipFile(fp, "w") as zf:
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                # JSON compresses well; float tensors barely do, and stored members load faster.
                info.compress_type = (
                    zipfile.ZIP_DEFLATED if name in _JSON_MEMBERS else zipfile.ZIP_STORED
                )
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)

    atomic_write(path, fill)


# ------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------
def open_checked(path, allow_hdf5=False):
    """Open ``path`` for reading after checking it is a regular file of sane size.

    Returns ``(fileobj, size)``; raises :class:`ModelFileError` (or ``FileNotFoundError`` when
    nothing is there, which is what a caller expects for a mistyped name).
    """
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(
            f"Cannot load {p!r}: no such file. Check the path (working directory: {os.getcwd()!r})."
        )
    try:
        # O_NONBLOCK: opening a FIFO (or a device) must not hang before fstat can refuse it.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        fp = os.fdopen(os.open(p, flags), "rb")
    except OSError as e:
        raise file_error(p, f"it cannot be opened ({e.strerror or e})", None) from None
    try:
        st = os.fstat(fp.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise file_error(p, "it is not a regular file", "Give the path of a saved model file.")
        if st.st_size == 0:
            raise file_error(p, "it is empty (0 bytes)")
        if is_hdf5(fp.read(8)) and not allow_hdf5:  # the .weights.h5 reader passes True
            raise hdf5_error(p)
        fp.seek(0)
        if st.st_size > MAX_TOTAL_BYTES + RATIO_FREE_BYTES:
            raise file_error(
                p,
                f"it is {st.st_size:,} bytes, more than a filterbank file may hold "
                f"({MAX_TOTAL_BYTES:,})",
            )
    except BaseException:
        fp.close()
        raise
    return fp, st.st_size


def _check_central_directory(fp, size: int, path) -> None:
    # Bound the central directory before zipfile parses it, so a crafted file cannot make it
    # build millions of entries. The end record is in the last 22 + 65535 (comment) bytes.
    tail_len = min(size, 22 + 65535)
    fp.seek(size - tail_len)
    tail = fp.read(tail_len)
    at = tail.rfind(_EOCD)
    if at < 0 or at + 22 > len(tail):
        raise file_error(path, "it is not a zip file (no end-of-archive record)")
    (_, _, _, _, count, cd_size, _, _) = struct.unpack("<4s4H2LH", tail[at : at + 22])
    if count != 0xFFFF and count > _MAX_ENTRIES:
        raise file_error(
            path, f"it holds {count} members; a filterbank model has at most {len(KNOWN)}"
        )
    if cd_size != 0xFFFFFFFF and cd_size > _MAX_CENTRAL_DIR:
        raise file_error(
            path, f"its zip directory is {cd_size:,} bytes, far more than {len(KNOWN)} members need"
        )
    fp.seek(0)


def _check_members(zf: zipfile.ZipFile, path) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    # orig_filename: zipfile cuts names at a NUL byte ("config.json\0../x" reads as config.json).
    names = [i.orig_filename for i in infos]
    for name in names:
        if name not in KNOWN:
            if name.startswith(("/", "\\")) or ":" in name[:3]:
                bad = "an absolute path"
            elif ".." in name.replace("\\", "/").split("/"):
                bad = "a path outside the archive"
            else:
                bad = "unknown"
            raise file_error(
                path,
                f"member {name[:100]!r} is {bad}; a filterbank model holds only {', '.join(KNOWN)}",
            )
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise file_error(path, f"member {dup[0]!r} appears {names.count(dup[0])} times")
    missing = [m for m in REQUIRED if m not in names]
    if missing:
        raise file_error(path, f"member {missing[0]!r} is missing")
    total = 0
    for info in infos:
        where = f"member {info.filename!r}"
        if info.flag_bits & 0x1:
            raise file_error(path, f"{where} is encrypted", "filterbank never encrypts; " + DAMAGED)
        if info.flag_bits & ~_ALLOWED_FLAGS:
            raise file_error(
                path, f"{where} uses unsupported zip features (flags {info.flag_bits:#06x})"
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise file_error(
                path,
                f"{where} uses compression method {info.compress_type}; "
                "only stored (0) and deflated (8) are read",
            )
        if info.is_dir():
            raise file_error(path, f"{where} is a directory")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise file_error(
                path,
                f"{where} is stored uncompressed but declares "
                f"{info.compress_size:,} bytes compressed and "
                f"{info.file_size:,} uncompressed",
            )
        if info.filename in _JSON_MEMBERS and info.file_size > MAX_JSON_BYTES:
            raise file_error(
                path,
                f"{where} declares {info.file_size:,} bytes, more than the "
                f"{MAX_JSON_BYTES:,} a JSON member may hold",
            )
        ratio_limit = MAX_RATIO * max(info.compress_size, 1)
        if info.file_size > RATIO_FREE_BYTES and info.file_size > ratio_limit:
            raise file_error(
                path,
                f"{where} would expand {info.compress_size:,} bytes into "
                f"{info.file_size:,} (more than {MAX_RATIO}x): a zip bomb, "
                "or damage",
            )
        _check_local_header(zf, info, path)
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise file_error(
                path,
                f"its members declare {total:,} bytes in all, more than the "
                f"{MAX_TOTAL_BYTES:,} a filterbank file may hold",
            )
    return infos


def _check_local_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path) -> None:
    # zipfile trusts the central directory and reads only the name from each member's own
    # header; a file whose two copies of a member's facts disagree is damaged (or crafted to
    # be read differently by different tools), so refuse it.
    fp = zf.fp
    head = b""
    if info.header_offset >= 0:  # zipfile shifts offsets by any prefix; damage can make them < 0
        fp.seek(info.header_offset)
        head = fp.read(30)
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        raise file_error(
            path, f"member {info.filename!r} has no local header where the zip directory says"
        )
    _, _, flags, method, _, _, crc, csize, usize, _, _ = struct.unpack("<4s5H3L2H", head)
    same = method == info.compress_type and (flags & 0x1) == (info.flag_bits & 0x1)
    if same and not flags & 0x8:  # with a data descriptor the sizes follow the data instead
        same = (crc, csize, usize) == (info.CRC, info.compress_size, info.file_size)
    if not same:
        raise file_error(
            path,
            f"member {info.filename!r} has a local header that disagrees with the zip directory",
        )


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path) -> bytes:
    """Decompress one member, never producing more than its declared size (+1 to detect lies)."""
    try:
        with zf.open(info) as f:
            data = f.read(info.file_size + 1)
    except ModelFileError:
        raise
    except Exception as e:  # on damage zipfile raises BadZipFile, zlib.error, EOFError, OSError...
        raise file_error(
            path, f"member {info.filename!r} cannot be read ({type(e).__name__}: {e})"
        ) from None
    if len(data) != info.file_size:
        raise file_error(
            path,
            f"member {info.filename!r} holds {len(data):,} bytes but declares {info.file_size:,}",
        )
    return data


def check_format_version(value, path, member: str, made_by) -> int:
    """Accept an integer format version up to :data:`FORMAT_VERSION`; refuse newer ones."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise file_error(
            path,
            f"member {member!r} has format_version {str(value)[:40]!r}; "
            "expected a positive integer",
        )
    if value > FORMAT_VERSION:
        made = made_by if isinstance(made_by, str) else "an unknown version"
        raise file_error(
            path,
            f"it was made by filterbank {made[:40]} with format {value}; this filterbank "
            f"({_filterbank_version()}) reads up to format {FORMAT_VERSION}",
            "Upgrade filterbank: pip install --upgrade filterbank",
        )
    return value


def _check_metadata(meta, path) -> None:
    if not isinstance(meta, dict):
        raise file_error(path, f"member {METADATA!r} is not a JSON object")
    check_format_version(meta.get("format_version"), path, METADATA, meta.get("filterbank_version"))
    if not isinstance(meta.get("filterbank_version"), str):
        raise file_error(path, f"member {METADATA!r} has no filterbank_version string")
    for key in ("date_saved", "numpy_version", "model_name", "model_class"):
        if key in meta and not isinstance(meta[key], str):
            raise file_error(path, f"member {METADATA!r} has a non-string {key!r}")
    listing = meta.get("tensors")
    if not isinstance(listing, list):
        raise file_error(path, f"member {METADATA!r} has no 'tensors' list")
    for entry in listing:
        ok = (
            isinstance(entry, dict)
            and set(entry) == {"member", "name", "dtype", "shape"}
            and isinstance(entry["member"], str)
            and entry["member"] in TENSOR_MEMBERS
            and isinstance(entry["name"], str)
            and isinstance(entry["dtype"], str)
            and isinstance(entry["shape"], list)
            and all(isinstance(d, int) and not isinstance(d, bool) for d in entry["shape"])
        )
        if not ok:
            raise file_error(
                path, f"member {METADATA!r} has a malformed tensor entry {str(entry)[:80]}"
            )


def _listing(tensors: dict[str, dict[str, np.ndarray]]) -> set:
    return {(m, n, str(a.dtype), tuple(a.shape)) for m, t in tensors.items() for n, a in t.items()}


def read_archive(path, vet=None) -> Archive:
    """Read and check a model file; nothing is written to disk, unpickled or evaluated.

    Returns an :class:`Archive`. Raises :class:`ModelFileError` for any defect (the message
    names the file and the problem), ``FileNotFoundError`` when there is no file at all.
    """
    fp, size = open_checked(path)
    with fp:
        if not is_zip(fp):
            raise file_error(
                path,
                "it is not a zip file",
                "A filterbank model file (.fbk) is a zip; was this saved with "
                "model.save()? For a plain .safetensors weights file use "
                "model.load_weights().",
            )
        return read_open_archive(fp, size, path, vet)


def is_zip(fp) -> bool:
    """``zipfile.is_zipfile`` on an open file, False (not an exception) for any oddity."""
    try:
        return zipfile.is_zipfile(fp)
    except Exception:
        return False


def _read_tensor_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path, member: str):
    """The safetensors header of a member, read without decompressing its tensor data."""
    try:
        with zf.open(info) as f:
            head = f.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else 0
            if 2 <= n <= min(MAX_JSON_BYTES, info.file_size - 8):
                head += f.read(n)
    except ModelFileError:
        raise
    except Exception as e:
        raise file_error(
            path, f"member {info.filename!r} cannot be read ({type(e).__name__}: {e})"
        ) from None
    return read_header(head, path, member, TENSOR_MEMBERS[member], size=info.file_size)


def read_open_archive(fp, size: int, path, vet=None) -> Archive:
    """:func:`read_archive` on a file already opened by :func:`open_checked` (one handle, so
    the file cannot be swapped between checks).

    Everything the JSON members and the safetensors headers say is checked before any tensor
    data is decompressed: the metadata's tensor list against the headers, then ``vet(config,
    metadata, headers)`` if given (``headers`` is ``{member: {name: (dtype code, shape)}}``;
    the loader rebuilds the model there and compares its weights with the headers).
    """
    _check_central_directory(fp, size, path)
    try:
        zf = zipfile.ZipFile(fp)
    except Exception as e:
        raise file_error(path, f"its zip structure is broken ({type(e).__name__}: {e})") from None
    with zf:
        infos = {i.filename: i for i in _check_members(zf, path)}
        meta = parse_json(_read_member(zf, infos[METADATA], path), path, METADATA)
        _check_metadata(meta, path)
        config = parse_json(_read_member(zf, infos[CONFIG], path), path, CONFIG)
        if not isinstance(config, dict):
            raise file_error(path, f"member {CONFIG!r} is not a JSON object")
        check_format_version(
            config.get("format_version"), path, CONFIG, config.get("filterbank_version")
        )
        if config["format_version"] != meta["format_version"]:
            raise file_error(
                path, f"members {CONFIG!r} and {METADATA!r} disagree on format_version"
            )
        headers = {
            m: _read_tensor_header(zf, infos[m], path, m)
            for m in (WEIGHTS, OPTIMIZER)
            if m in infos
        }
        listed = {(e["member"], e["name"], e["dtype"], tuple(e["shape"])) for e in meta["tensors"]}
        held = {
            (m, n, str(TENSOR_MEMBERS[m][code]), shape)
            for m, h in headers.items()
            for n, (code, shape) in h.items()
        }
        if listed != held:
            diff = sorted(listed ^ held, key=str)[0]
            side = "lists" if diff in listed else "does not list"
            raise file_error(
                path,
                f"member {METADATA!r} {side} tensor {diff[1][:80]!r} in "
                f"{diff[0]!r} (dtype {diff[2]}, shape {diff[3]}) but the "
                "tensors disagree",
            )
        if vet is not None:
            vet(config, meta, headers)
        tensors = {}
        for member in headers:
            data = _read_member(zf, infos[member], path)
            tensors[member] = decode_tensors(data, path, member, TENSOR_MEMBERS[member])
            del data
    return Archive(config=config, metadata=meta, tensors=tensors)
