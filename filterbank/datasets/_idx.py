"""Reader for IDX files, the format of the MNIST and Fashion-MNIST distributions.

An IDX file is: two zero bytes, a type byte (0x08 = unsigned byte, the only type these datasets
use), a byte with the number of dimensions d, then d big-endian uint32 sizes, then the data in
C order. Labels files are 1-D (magic 0x00000801), image files 3-D (magic 0x00000803).
Files may be gzipped (detected by the gzip magic bytes, not the name).

Example:
    >>> import numpy as np
    >>> raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])
    >>> parse_idx(raw, expected_ndim=1, name="labels")
    array([7, 2, 1], dtype=uint8)
"""

from __future__ import annotations

import gzip
import zlib

import numpy as np

_GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(raw: bytes, expected_ndim: int | None = None, name: str = "IDX data") -> np.ndarray:
    """Decode an (uncompressed) IDX byte string into a uint8 array of the stored shape.

    Raises:
        ValueError: wrong magic number, dimension count or data length, naming `name`.
    """
    if len(raw) < 4:
        raise ValueError(f"{name} is not an IDX file: {len(raw)} bytes, too short for a header.")
    zero0, zero1, dtype_code, ndim = raw[0], raw[1], raw[2], raw[3]
    magic = int.from_bytes(raw[:4], "big")
    if zero0 != 0 or zero1 != 0 or dtype_code != 0x08:
        raise ValueError(
            f"{name} is not an unsigned-byte IDX file: magic number 0x{magic:08x}, "
            "expected 0x00000801 (labels) or 0x00000803 (images). Is it corrupt "
            "or a different file?"
        )
    if expected_ndim is not None and ndim != expected_ndim:
        raise ValueError(
            f"{name} expects an IDX file with {expected_ndim} dimension(s) "
            f"(magic 0x{0x800 + expected_ndim:08x}), got magic 0x{magic:08x} "
            f"({ndim} dimension(s)). Are the images and labels files swapped?"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{name}: IDX header announces {ndim} dimensions but the file has "
            f"only {len(raw)} bytes."
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if len(raw) - header != expected:
        raise ValueError(
            f"{name}: IDX header announces shape {shape} ({expected:,} bytes of "
            f"data), got {len(raw) - header:,} bytes. The file is truncated or "
            "corrupt: delete it and fetch it again."
        )
    # A copy, so callers get a writable array (np.frombuffer over bytes is read-only).
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def read_idx(path, expected_ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or not) from disk; see :func:`parse_idx`."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(
                f"{path} is a damaged gzip file ({exc}): delete it and fetch it again."
            ) from exc
    return parse_idx(raw, expected_ndim, name=str(path))
