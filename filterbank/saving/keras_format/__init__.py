"""Real Keras 3 files: ``.keras`` archives both ways, and ``.weights.h5`` weights.

A ``.keras`` file is a zip of ``config.json`` (the architecture), ``metadata.json`` and
``model.weights.h5`` (HDF5: ``layers/<snake class name>[_n]/vars/<i>``, by position in Keras's
layer order; see :mod:`.order`). ``load_keras(path)`` rebuilds the model from built-in layer
classes only (nothing is imported, evaluated or unpickled), checks every weight's shape before
it is allocated, and raises :class:`~filterbank.saving.ModelFileError` for any defect;
``save_keras(model, path)`` writes an archive real Keras 3 loads with the same predictions.
Compile settings (optimizer, loss, metrics) cross both ways;
the optimizer's state does not. Needs ``h5py``
(``pip install 'filterbank[keras-files]'``).

Example:
    >>> import os, tempfile
    >>> import numpy as np, filterbank as keras
    >>> from filterbank import layers
    >>> m = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
    >>> save_keras(m, path)
    >>> x = np.ones((1, 3), "float32")
    >>> bool(np.allclose(load_keras(path).predict(x, verbose=0), m.predict(x, verbose=0)))
    True
"""

from __future__ import annotations

import datetime
import io
import json
import os
import zipfile

import numpy as np

from ...layers.base import weights_changed
from ..errors import MAX_JSON_BYTES, MAX_RATIO, RATIO_FREE_BYTES, ModelFileError, file_error
from ..errors import parse_json as _parse_json
from .config_in import to_filterbank_config
from .config_out import keras_config
from .h5weights import read_h5, require_h5py, write_h5
from .order import functional_order, weight_paths

CONFIG, METADATA, WEIGHTS_H5 = "config.json", "metadata.json", "model.weights.h5"
MEMBERS = (CONFIG, METADATA, WEIGHTS_H5)
KERAS_VERSION = "3.0.0"
"""The Keras file-format generation written into metadata.json (any Keras 3 reads it)."""


def _read_bytes(path) -> bytes:
    from ..archive import open_checked

    fp, size = open_checked(path, allow_hdf5=True)
    with fp:
        data = fp.read(size + 1)
    if len(data) != size:
        raise file_error(path, "it changed size while being read", None)
    return data


def _members(blob: bytes, path) -> dict[str, bytes]:
    """The three members of a .keras zip, every size checked before it is decompressed."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
        infos = zf.infolist()
    except Exception as e:
        raise file_error(
            path,
            f"it is not a readable zip file ({type(e).__name__}: {str(e)[:120]})",
            "The file is damaged or not a .keras model.",
        ) from None
    if len(infos) > 64:
        raise file_error(path, f"it holds {len(infos)} members; a .keras model holds 3")
    out: dict[str, bytes] = {}
    total = 0
    for info in infos:
        name = info.orig_filename
        if name.startswith("assets/") and info.is_dir():
            continue  # Keras writes an empty assets/ folder; the layers read here have none
        if name == "model.weights.json" or name.startswith("model.weights_"):
            raise file_error(
                path,
                "its weights are sharded",
                "filterbank reads single-file .keras archives only.",
            )
        if name not in MEMBERS:
            raise file_error(
                path, f"member {name[:100]!r} is unknown; a .keras model holds {', '.join(MEMBERS)}"
            )
        if name in out:
            raise file_error(path, f"member {name!r} appears twice")
        if info.flag_bits & 0x1:
            raise file_error(path, f"member {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise file_error(path, f"member {name!r} uses compression method {info.compress_type}")
        limit = MAX_JSON_BYTES if name.endswith(".json") else len(blob) * MAX_RATIO
        if (
            info.file_size > max(limit, RATIO_FREE_BYTES)
            and name != WEIGHTS_H5
            or (info.file_size > RATIO_FREE_BYTES + MAX_RATIO * max(info.compress_size, 1))
        ):
            raise file_error(
                path,
                f"member {name!r} declares {info.file_size:,} bytes from "
                f"{info.compress_size:,} compressed: too large, or damage",
            )
        total += info.file_size
        if total > 2 * 1024**3:
            raise file_error(path, "its members declare more than 2 GiB in all")
        try:
            with zf.open(info) as f:
                data = f.read(info.file_size + 1)
        except Exception as e:
            raise file_error(
                path, f"member {name!r} cannot be read ({type(e).__name__}: {str(e)[:120]})"
            ) from None
        if len(data) != info.file_size:
            raise file_error(
                path, f"member {name!r} holds {len(data):,} bytes but declares {info.file_size:,}"
            )
        out[name] = data
    for name in (CONFIG, WEIGHTS_H5):
        if name not in out:
            raise file_error(
                path,
                f"member {name!r} is missing",
                "The file is damaged or not a Keras 3 .keras model.",
            )
    return out


def _layer_paths(fb_config: dict) -> dict[str, str]:
    """Layer name -> its h5 group, in Keras's own layer order for this architecture."""
    inner = fb_config["config"]
    if fb_config["class_name"] == "Sequential":
        entries = [e for e in inner["layers"] if e["class_name"] != "InputLayer"]
        names = [e["config"].get("name") for e in entries]
        return dict(zip(names, weight_paths([e["class_name"] for e in entries])))
    entries = {e["name"]: e for e in inner["layers"]}
    inbound = {n: list(e["inbound_nodes"]) for n, e in entries.items()}
    for n, parents in inbound.items():
        for p in parents:
            if p not in inbound:
                raise ValueError(f"layer {n!r} reads from {p!r}, which the config lacks")
    order = functional_order(inbound, inner["input_layers"], inner["output_layers"])
    return dict(zip(order, weight_paths([entries[n]["class_name"] for n in order])))


def _rebuild(fb_config: dict, groups: dict[str, list[np.ndarray]], path):
    from ..model_io import build_guarded

    try:
        paths = _layer_paths(fb_config)
    except (KeyError, TypeError, ValueError, RecursionError) as e:
        raise file_error(
            path, f"config.json describes a graph that cannot be ordered ({e})"
        ) from None
    seen: dict[str, int] = {}

    def guard(layer, name, shape):
        gpath = paths.get(layer.name)
        i = seen.get(layer.name, 0)
        seen[layer.name] = i + 1
        arrays = groups.get(gpath, [])
        want = tuple(int(d) for d in shape)
        if i >= len(arrays):
            raise file_error(
                path,
                f"config.json gives layer {layer.name!r} weight {name!r} "
                f"(shape {want}), which model.weights.h5 does not hold at "
                f"{gpath}/vars/{i}",
            )
        if tuple(arrays[i].shape) != want:
            raise file_error(
                path,
                f"layer {layer.name!r} weight {name!r} has shape "
                f"{tuple(arrays[i].shape)} in model.weights.h5, but the "
                f"config gives it shape {want}",
            )

    model = build_guarded(fb_config, guard, "float32", path)
    _assign(model, groups, path)
    return model


def model_paths(model) -> dict[str, str]:
    """Layer name -> h5 group for a built filterbank model, in Keras's layer order."""
    from ...models import Sequential

    if isinstance(model, Sequential):
        layers = model.layers
        return dict(
            zip(
                [layer.name for layer in layers],
                weight_paths([type(layer).__name__ for layer in layers]),
            )
        )
    inbound = {}
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            inbound[layer.name] = []
        else:
            ins = layer.input if isinstance(layer.input, list) else [layer.input]
            inbound[layer.name] = [t.node.layer.name for t in ins]
    order = functional_order(
        inbound,
        [t.node.layer.name for t in model.inputs],
        [t.node.layer.name for t in model.outputs],
    )
    classes = {layer.name: type(layer).__name__ for layer in model.layers}
    return dict(zip(order, weight_paths([classes[n] for n in order])))


def _assign(model, groups: dict[str, list[np.ndarray]], path, paths=None) -> None:
    """Copy each layer's arrays in, after checking every count and shape (all or nothing)."""
    paths = paths or model_paths(model)
    plan = []
    for layer in model.layers:
        arrays = groups.get(paths.get(layer.name), [])
        if len(arrays) != len(layer.params):
            raise file_error(
                path,
                f"layer {layer.name!r} has {len(layer.params)} weights but "
                f"{paths.get(layer.name)}/vars in model.weights.h5 holds "
                f"{len(arrays)}",
                "Build the model with the architecture the weights were saved "
                "from (Keras matches weights by layer position and class).",
            )
        for (wname, w), a in zip(layer.params.items(), arrays):
            if a.shape != w.shape:
                raise file_error(
                    path,
                    f"layer {layer.name!r} weight {wname!r} has shape "
                    f"{a.shape} in the file, but the model expects {w.shape}",
                )
        plan.append((layer, arrays))
    used = set(paths.values())
    for gpath, arrays in groups.items():
        if gpath.startswith("layers/") and arrays and gpath not in used:
            raise file_error(
                path,
                f"model.weights.h5 holds weights at {gpath!r} for a layer the model does not have",
            )
    for layer, arrays in plan:
        for w, a in zip(layer.params.values(), arrays):
            w[...] = a.astype(w.dtype, copy=False)
    weights_changed()


def _compile(model, config: dict, path) -> None:
    """Compile with the archive's compile settings (optimizer, loss, metrics), when it has
    them; settings filterbank cannot rebuild leave the model uncompiled, with a warning."""
    import warnings

    cc = config.get("compile_config")
    if not isinstance(cc, dict) or not cc.get("loss"):
        return
    keep = {k: cc.get(k) for k in ("optimizer", "loss", "metrics", "loss_weights")}
    try:
        model.compile_from_config(keep)
    except Exception as e:
        warnings.warn(
            f"{os.fspath(path)!r}: its compile settings cannot be rebuilt "
            f"({type(e).__name__}: {str(e)[:200]}); the model is loaded uncompiled. "
            "Call model.compile(...) before fit.",
            stacklevel=3,
        )


def load_keras(path, compile: bool = True):
    """Load a Keras 3 ``.keras`` archive as a filterbank model.

    With ``compile=True`` the archive's optimizer, loss and metrics are rebuilt (not the
    optimizer's state: training restarts its moments)."""
    require_h5py()
    members = _members(_read_bytes(path), path)
    config = _parse_json(members[CONFIG], path, CONFIG)
    if METADATA in members:
        _parse_json(members[METADATA], path, METADATA)
    try:
        fb_config = to_filterbank_config(config, path)
        groups = read_h5(members[WEIGHTS_H5], path)
        model = _rebuild(fb_config, groups, path)
    except ModelFileError:
        raise
    except Exception as e:  # whatever else a malformed config trips: still one error class
        raise file_error(
            path,
            f"config.json cannot be read as a Keras model ({type(e).__name__}: {str(e)[:200]})",
        ) from None
    if compile:
        _compile(model, config, path)
    return model


def load_keras_weights(model, path) -> None:
    """Load a Keras ``.weights.h5`` file (or the weights of a ``.keras`` archive) into ``model``."""
    require_h5py()
    blob = _read_bytes(path)
    if blob[:4] == b"PK\x03\x04":
        blob = _members(blob, path)[WEIGHTS_H5]
    _assign(model, read_h5(blob, path), path)


def _check_layers(model) -> None:
    from ...layers import LAYER_CLASSES

    for layer in model.layers:
        if LAYER_CLASSES.get(type(layer).__name__) is not type(layer):
            raise ValueError(
                f"Layer '{layer.name}' is a {type(layer).__name__}, not a built-in "
                "layer; a .keras file written by filterbank holds built-in layers "
                "only."
            )


def save_keras(model, path, overwrite: bool = True) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` archive (architecture + weights, no compile)."""
    from ... import __version__
    from ..atomic import atomic_write

    require_h5py()
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"model.save: {path!r} exists and overwrite=False.")
    if not getattr(model, "built", False):
        raise ValueError(
            f"Model '{model.name}' is not built; give it an input shape before saving it as .keras."
        )
    _check_layers(model)
    floatx = next(
        (str(w.dtype) for layer in model.layers for w in layer.params.values()), "float32"
    )
    paths = model_paths(model)
    groups = {
        paths[layer.name]: (layer.name, list(layer.params.values())) for layer in model.layers
    }
    h5 = write_h5(groups, model.name)
    meta = {
        "keras_version": KERAS_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "producer": f"filterbank {__version__}",
    }
    config = keras_config(model, floatx if floatx in ("float32", "float64") else "float32")
    if getattr(model, "optimizer", None) is not None:  # same keys as Keras's compile config
        config["compile_config"] = model.get_compile_config()

    def fill(fp):
        with zipfile.ZipFile(fp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(METADATA, json.dumps(meta))
            zf.writestr(CONFIG, json.dumps(config))
            zf.writestr(WEIGHTS_H5, h5)

    atomic_write(path, fill)


def is_keras_archive(path) -> bool:
    """True when ``path`` is a zip holding ``model.weights.h5`` (a Keras 3 archive)."""
    try:
        with zipfile.ZipFile(os.fspath(path)) as zf:
            return WEIGHTS_H5 in zf.namelist()
    except Exception:
        return False


__all__ = ["is_keras_archive", "load_keras", "load_keras_weights", "save_keras"]
