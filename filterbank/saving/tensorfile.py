"""Tensors to and from safetensors bytes, with every header check done before data is trusted.

The safetensors format is an 8-byte little-endian header length, a JSON header
``{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}}``
and the raw little-endian data. The ``safetensors`` library (``pip install filterbank[io]``)
reads and writes it; this module validates the header first (sizes, dtypes, shapes, offsets)
so a damaged header gives a clear :class:`ModelFileError` instead of a library exception,
and no tensor larger than the bytes actually present is ever allocated.

Example:
    >>> import numpy as np
    >>> from filterbank.saving.tensorfile import encode_tensors, decode_tensors
    >>> blob = encode_tensors({"dense/kernel": np.ones((2, 3), "float32")})
    >>> decode_tensors(blob, "w.safetensors", "weights")["dense/kernel"].shape
    (2, 3)
"""

from __future__ import annotations

import math

import numpy as np

from .errors import (
    MAX_JSON_BYTES,
    MAX_NAME_CHARS,
    MAX_TENSORS,
    file_error,
    parse_json,
)

# safetensors dtype codes accepted, per kind of member. Weights are float32/float64 only.
FLOAT_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
STATE_DTYPES = {**FLOAT_DTYPES, "I64": np.dtype("<i8")}
_CODES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int64"): "I64"}


def require_safetensors():
    """Import ``safetensors.numpy`` or explain how to install it (it is an optional extra)."""
    try:
        import safetensors.numpy as st
    except ImportError as e:
        raise ImportError(
            "Saving and loading filterbank models needs the 'safetensors' package (a dependency "
            "of filterbank), which is not installed. Install it with: pip install safetensors"
        ) from e
    return st


def encode_tensors(
    tensors: dict[str, np.ndarray], allowed=STATE_DTYPES, metadata: dict[str, str] | None = None
) -> bytes:
    """Serialize ``{name: array}`` to safetensors bytes (arrays made C-contiguous first).

    Raises ``ValueError`` for a dtype outside ``allowed`` (float32/float64, plus int64 for state).
    """
    st = require_safetensors()
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"Tensor names must be non-empty strings, got {name!r}.")
        arr = np.asarray(value, order="C")  # keeps 0-d scalars 0-d, unlike ascontiguousarray
        code = _CODES.get(arr.dtype)
        if code not in allowed:
            raise ValueError(
                f"Tensor {name!r} has dtype {arr.dtype}; a filterbank file stores only "
                f"{', '.join(sorted(str(d) for d in allowed.values()))}. "
                "Cast it with .astype('float32')."
            )
        arrays[name] = arr
    return st.save(arrays, metadata=metadata)


def read_header(
    data: bytes, path, member: str, allowed=STATE_DTYPES, size: int | None = None
) -> dict[str, tuple[str, tuple]]:
    """Validate a safetensors header and return ``{name: (dtype_code, shape)}``.

    Checks: the length prefix fits the data, the header is a strict JSON object, every entry
    has exactly dtype/shape/data_offsets of the right types, dtypes are in ``allowed``, and
    each tensor's byte range has exactly ``prod(shape) * itemsize`` bytes inside the data, and
    the tensors together fill the data exactly (no bytes beyond what the tensors need).

    ``data`` may be only the first bytes (length prefix and header) when ``size`` gives the
    whole length: the header is then checked before the tensor data is read at all.
    """
    where = f"member {member!r}" if member else "the file"
    size = len(data) if size is None else size
    if size < 8 or len(data) < 8:
        raise file_error(path, f"{where} is too short to be a safetensors file ({size} bytes)")
    n = int.from_bytes(data[:8], "little")
    if n < 2 or n > size - 8 or n > MAX_JSON_BYTES or n > len(data) - 8:
        raise file_error(
            path,
            f"{where} declares a safetensors header of {n:,} bytes, but holds "
            f"{size:,} bytes in all",
        )
    header = parse_json(bytes(data[8 : 8 + n]), path, f"{member or 'safetensors'} header")
    if not isinstance(header, dict):
        raise file_error(path, f"the safetensors header of {where} is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise file_error(
            path, f"the safetensors __metadata__ of {where} is not a string-to-string map"
        )
    if len(header) > MAX_TENSORS:
        raise file_error(path, f"{where} holds {len(header):,} tensors, more than {MAX_TENSORS:,}")
    body = size - 8 - n
    out = {}
    used = 0
    for name, entry in header.items():
        if not name or len(name) > MAX_NAME_CHARS:
            raise file_error(path, f"{where} has a tensor name of {len(name)} characters")
        label = f"tensor {name[:80]!r} in {where}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise file_error(path, f"{label} must have exactly the keys dtype, shape, data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in allowed:
            raise file_error(
                path, f"{label} has dtype {dtype!r}; only {', '.join(allowed)} are allowed"
            )
        if not isinstance(shape, list) or len(shape) > 8 or not all(_is_count(d) for d in shape):
            raise file_error(path, f"{label} has an invalid shape {str(shape)[:80]}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_is_count(o) for o in offsets)
            or not offsets[0] <= offsets[1] <= body
        ):
            raise file_error(
                path,
                f"{label} has data offsets {str(offsets)[:80]} outside the {body:,} data bytes",
            )
        need = math.prod(shape) * allowed[dtype].itemsize
        if offsets[1] - offsets[0] != need:
            raise file_error(
                path,
                f"{label} has shape {tuple(shape)} ({need:,} bytes) but "
                f"{offsets[1] - offsets[0]:,} data bytes",
            )
        out[name] = (dtype, tuple(shape))
        used += need
    if used != body:
        raise file_error(path, f"{where} holds {body:,} data bytes but its tensors need {used:,}")
    return out


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**62


def decode_tensors(data: bytes, path, member: str, allowed=STATE_DTYPES) -> dict[str, np.ndarray]:
    """Validate then load safetensors bytes into writable native arrays ``{name: array}``.

    Raises :class:`ModelFileError` naming ``path`` and ``member`` for any defect.
    """
    header = read_header(data, path, member, allowed)
    st = require_safetensors()
    where = f"member {member!r}" if member else "the file"
    try:
        raw = st.load(bytes(data))
    except Exception as e:  # the Rust parser's own checks (overlaps, gaps); its type is private
        raise file_error(path, f"{where} is not a valid safetensors file ({e})") from None
    if set(raw) != set(header):
        raise file_error(path, f"{where} lists tensors its data does not hold")
    out = {}
    for name, arr in raw.items():
        want = allowed[header[name][0]]
        # Copy: the loaded views are read-only and little-endian; the model needs its own memory.
        out[name] = np.array(arr, dtype=want.newbyteorder("="), copy=True).reshape(header[name][1])
    return out
