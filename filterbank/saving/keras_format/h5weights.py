"""``model.weights.h5`` read warily and written the way Keras 3 writes it.

Reading happens on bytes in memory and trusts nothing: only groups and plain datasets are
followed (a soft or external link -- which would make HDF5 open other files -- is refused),
every dataset must be a contiguous, unfiltered float array whose declared bytes lie inside the
file, and the number of groups and tensors is bounded. Any defect, including whatever the HDF5
library itself raises on a damaged file, becomes one :class:`ModelFileError`.

Example:
    >>> import numpy as np
    >>> blob = write_h5({"layers/dense": ("dense", [np.ones((2, 3), "float32")])}, "m")
    >>> read_h5(blob, "x.keras")["layers/dense"][0].shape
    (2, 3)
"""

from __future__ import annotations

import io

import numpy as np

from ..errors import DAMAGED, MAX_TENSORS, ModelFileError, file_error

MAX_GROUPS = 100_000
FLOAT_KINDS = ("float16", "float32", "float64")


def require_h5py(what: str = "Keras .keras and .weights.h5 files"):
    try:
        import h5py
    except ImportError:
        raise ImportError(
            f"{what} need the 'h5py' package: pip install "
            "'filterbank[keras-files]' (or pip install h5py)."
        ) from None
    return h5py


def _check_dataset(ds, where: str, size: int, path) -> np.ndarray:
    h5py = require_h5py()
    dt = ds.dtype
    if dt.kind != "f" or dt.name not in FLOAT_KINDS or dt.byteorder not in ("<", "=", "|"):
        raise file_error(path, f"weight {where!r} has dtype {dt}; weights are float16/32/64")
    shape = tuple(int(d) for d in ds.shape)
    if len(shape) > 8:
        raise file_error(path, f"weight {where!r} has {len(shape)} dimensions")
    nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize if shape else dt.itemsize
    if ds.compression is not None or ds.external or ds.chunks is not None or ds.is_virtual:
        raise file_error(
            path,
            f"weight {where!r} is chunked, compressed, virtual or stored "
            "outside the file; Keras writes plain contiguous arrays",
        )
    if nbytes > size:
        raise file_error(
            path,
            f"weight {where!r} declares {nbytes:,} bytes, more than the "
            f"whole weights file holds ({size:,})",
        )
    offset = ds.id.get_offset()
    if nbytes and (offset is None or offset < 0 or offset + nbytes > size):
        raise file_error(path, f"weight {where!r} points outside the weights file")
    if ds.id.get_storage_size() not in (0, nbytes) and nbytes:
        raise file_error(
            path, f"weight {where!r} stores a different number of bytes than its shape needs"
        )
    del h5py
    return np.asarray(ds[()]).astype(dt.newbyteorder("="), copy=False)


def read_h5(blob: bytes, path) -> dict[str, list[np.ndarray]]:
    """``{"layers/<name>": [array 0, array 1, ...]}`` for every group that holds ``vars``."""
    h5py = require_h5py()
    if not blob.startswith(b"\x89HDF\r\n\x1a\n"):
        raise file_error(path, "model.weights.h5 is not an HDF5 file")
    out: dict[str, list[np.ndarray]] = {}
    count = [0, 0]
    try:
        with h5py.File(io.BytesIO(blob), "r") as f:
            stack = [("", f)]
            while stack:
                prefix, group = stack.pop()
                for key in list(group.keys()):
                    count[0] += 1
                    if count[0] > MAX_GROUPS:
                        raise file_error(
                            path, f"model.weights.h5 has more than {MAX_GROUPS:,} entries"
                        )
                    link = group.get(key, getlink=True)
                    if not isinstance(link, h5py.HardLink):
                        raise file_error(
                            path,
                            f"model.weights.h5 entry {prefix + key!r} is a "
                            f"{type(link).__name__}; only plain groups and "
                            "datasets are read",
                        )
                    if not prefix and key not in ("layers", "vars"):
                        continue  # optimizer and metric state: not loaded, not read
                    item = group[key]
                    here = f"{prefix}{key}"
                    if isinstance(item, h5py.Group):
                        if key == "vars":
                            out[prefix.rstrip("/")] = _read_vars(item, here, len(blob), path, count)
                        else:
                            stack.append((here + "/", item))
                    elif key != "vars":
                        raise file_error(
                            path,
                            f"model.weights.h5 holds a dataset at {here!r} "
                            "outside any 'vars' group",
                        )
    except ModelFileError:
        raise
    except Exception as e:  # the HDF5 library's own errors on a damaged file
        raise file_error(
            path, f"model.weights.h5 cannot be read ({type(e).__name__}: {str(e)[:200]})"
        ) from None
    return out


def _read_vars(group, where: str, size: int, path, count) -> list[np.ndarray]:
    h5py = require_h5py()
    keys = list(group.keys())
    if sorted(keys, key=lambda k: (len(k), k)) != [str(i) for i in range(len(keys))]:
        raise file_error(
            path,
            f"model.weights.h5 group {where!r} holds {keys[:5]}; expected "
            "datasets named 0, 1, 2, ...",
        )
    arrays = []
    for i in range(len(keys)):
        count[1] += 1
        if count[1] > MAX_TENSORS:
            raise file_error(path, f"model.weights.h5 holds more than {MAX_TENSORS:,} tensors")
        link = group.get(str(i), getlink=True)
        if not isinstance(link, h5py.HardLink):  # checked before following: no other files
            raise file_error(
                path,
                f"model.weights.h5 entry {where}/{i} is a "
                f"{type(link).__name__}; only plain datasets are read",
            )
        ds = group[str(i)]
        if not isinstance(ds, h5py.Dataset):
            raise file_error(path, f"model.weights.h5 entry {where}/{i} is not a dataset")
        arrays.append(_check_dataset(ds, f"{where}/{i}", size, path))
    return arrays


def write_h5(groups: dict[str, tuple[str, list[np.ndarray]]], model_name: str) -> bytes:
    """HDF5 bytes with ``<path>/vars/<i>`` per layer (attribute ``name``), as Keras writes."""
    h5py = require_h5py()
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for gpath, (layer_name, arrays) in groups.items():
            vars_ = f.create_group(f"{gpath}/vars")
            vars_.attrs["name"] = layer_name
            for i, arr in enumerate(arrays):
                vars_.create_dataset(str(i), data=np.ascontiguousarray(arr))
        top = f.create_group("vars")
        top.attrs["name"] = model_name
    return buf.getvalue()


__all__ = ["DAMAGED", "read_h5", "require_h5py", "write_h5"]
