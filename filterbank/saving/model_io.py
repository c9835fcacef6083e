"""Models to and from files: ``save_model`` / ``load_model`` / ``save_weights`` / ``load_weights``.

Weights are named ``"<layer name>/<weight name>"`` (``"conv2d/kernel"``) and matched by name
and shape, never by position. Loading a model rebuilds it from config.json through
``filterbank.models.model_from_config`` (built-in layer classes only) while a guard vets every
weight *before* it is allocated: a config asking for a weight the file does not hold, or of
another shape, is refused without allocating it. Loading does not disturb filterbank's random
generator, so ``set_random_seed(s); load_model(p).fit(...)`` trains exactly as the model
would have without the round trip.

Example:
    >>> import os, tempfile
    >>> import numpy as np, filterbank as keras
    >>> from filterbank import layers
    >>> model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.fbk")
    >>> model.save(path)
    >>> x = np.ones((1, 3), "float32")
    >>> loaded = keras.models.load_model(path)
    >>> bool((loaded.predict(x, verbose=0) == model.predict(x, verbose=0)).all())
    True
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .. import backend
from ..layers.base import weights_changed
from .archive import (
    OPTIMIZER,
    WEIGHTS,
    atomic_write,
    is_zip,
    open_checked,
    read_archive,
    read_open_archive,
    write_archive,
)
from .config_check import FLOATX, check_config
from .errors import DAMAGED, MAX_JSON_BYTES, MAX_TOTAL_BYTES, ModelFileError, file_error
from .tensorfile import FLOAT_DTYPES, decode_tensors, encode_tensors, read_header
from .values import check_compile_values, check_optimizer_values, check_weights_finite
from .vetting import check_float_weights, check_memory, check_optimizer_header, refuse_nonfinite

_MISMATCH_FIX = (
    "Build the model with the architecture the weights were saved from "
    "(compare model.summary() with the model that saved them)."
)
# Keras code names weights files "*.weights.h5"; filterbank writes no HDF5, but a name is just a
# name: such files hold plain safetensors, which load_weights recognises by content.
_PLAIN_WEIGHTS = (".safetensors", ".h5", ".hdf5")


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------
def _model_layers(model) -> list:
    from ..models import Sequential

    if isinstance(model, Sequential) or model.built:
        return list(model.layers)
    return []


def model_weights(model) -> dict[str, tuple[object, str, np.ndarray]]:
    """``{"layer/weight": (layer, weight name, array)}`` for every weight of ``model``."""
    out = {}
    for layer in _model_layers(model):
        for wname, arr in layer.params.items():
            key = f"{layer.name}/{wname}"
            if key in out:
                raise ValueError(
                    f"Model '{model.name}' has two layers named '{layer.name}', so their weights "
                    "cannot be told apart in a file. Give every layer a unique name."
                )
            out[key] = (layer, wname, arr)
    return out


def _split_key(key: str) -> tuple[str, str]:
    layer, _, weight = key.rpartition("/")
    return layer, weight


def _model_floatx(model) -> str:
    """The float type the model was built in (its weights' dtype where layers set none)."""
    for layer in _model_layers(model):
        if layer.dtype is None:
            for arr in layer.params.values():
                return str(arr.dtype) if str(arr.dtype) in FLOATX else backend.floatx()
    return backend.floatx() if backend.floatx() in FLOATX else "float32"


def _check_target(path, what: str) -> str:
    if isinstance(path, (bytes, bytearray)):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{what} expects a file path (str or pathlib.Path), got {type(path).__name__}."
        )
    return os.fspath(path)


def _check_builtin_layers(model) -> None:
    from ..layers import LAYER_CLASSES

    for layer in _model_layers(model):
        name = type(layer).__name__
        if LAYER_CLASSES.get(name) is not type(layer):
            raise ValueError(
                f"Layer '{layer.name}' is a {name}, not a built-in filterbank layer, and model "
                "files hold built-in layers only (loading never imports code). Save the weights "
                "with model.save_weights('w.safetensors') and rebuild the model in code before "
                "load_weights."
            )


def _unrebuildable(compile_config: dict) -> list[str]:
    """Class names in the compile settings that load_model could not rebuild (custom classes)."""
    from .. import losses, metrics, optimizers

    bad = []

    def visit(value, module):
        if isinstance(value, dict) and "class_name" in value:
            try:
                module.deserialize(value)
            except Exception:
                bad.append(str(value["class_name"]))
        elif isinstance(value, dict):
            for v in value.values():
                visit(v, module)
        elif isinstance(value, list):
            for v in value:
                visit(v, module)

    visit(compile_config.get("optimizer"), optimizers)
    visit(compile_config.get("loss"), losses)
    visit(compile_config.get("metrics"), metrics)
    return bad


# ------------------------------------------------------------------------------------------
# Saving
# ------------------------------------------------------------------------------------------
def save_model(model, path, overwrite: bool = True, zipped=None, include_optimizer: bool = True):
    """Save architecture, weights, compile settings and optimizer state to one file.

    Args:
        model: a filterbank ``Model`` or ``Sequential`` made of built-in layers.
        path: file name; ``.fbk`` suggested, ``.keras`` and any other name accepted.
        overwrite: replace an existing file (atomically); ``False`` raises FileExistsError.
        zipped: accepted for Keras compatibility; the file is always a zip.
        include_optimizer: store the optimizer state so training can resume exactly.

    Example:
        >>> # model.save("mnist.fbk"); model = keras.models.load_model("mnist.fbk")
    """
    from ..models import Sequential

    path = _check_target(path, "model.save")
    if zipped is False:
        raise ValueError(
            "model.save(zipped=False) is not supported: a filterbank model file is "
            "always one zip file."
        )
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"model.save: {path!r} exists and overwrite=False.")
    _check_builtin_layers(model)
    check_float_weights(model_weights(model), model.name, path)
    weights = model_weights(model)
    config = {
        "class_name": "Sequential" if isinstance(model, Sequential) else "Functional",
        "config": model.get_config(),
        "floatx": _model_floatx(model),
    }
    optimizer = getattr(model, "optimizer", None)
    compile_config = model.get_compile_config() if optimizer is not None else None
    if compile_config is not None:
        config["compile_config"] = compile_config
        bad = _unrebuildable(compile_config)
        if bad:
            warnings.warn(
                f"model.save: the compile settings use {', '.join(sorted(set(bad)))}, which "
                "load_model cannot rebuild (only built-in losses, metrics and optimizers can). "
                "Load the file with load_model(path, compile=False) and compile again.",
                stacklevel=3,
            )
    try:
        check_config(config, path)  # never write a file that load_model would refuse
    except ModelFileError as e:
        raise ValueError(
            f"Cannot save model '{model.name}' to {path!r}: its "
            f"{getattr(e, 'what', e)}, so load_model could not read the file "
            "back. Nothing was written."
        ) from None
    tensors = {WEIGHTS: {key: arr for key, (_, _, arr) in weights.items()}}
    refuse_nonfinite(tensors[WEIGHTS], model.name, path)
    if (
        include_optimizer
        and optimizer is not None
        and getattr(optimizer, "_iterations", getattr(optimizer, "iterations", 0)) > 0
    ):
        tensors[OPTIMIZER] = optimizer.get_state()
    metadata = {"model_name": model.name, "model_class": config["class_name"]}
    write_archive(path, config, metadata, tensors)


def save_weights(model, path, overwrite: bool = True) -> None:
    """Save only the weights: a plain safetensors file, or (any other name) a model file.

    Names ending in ``.safetensors`` -- or ``.h5`` / ``.hdf5``, as Keras code writes
    ``"w.weights.h5"`` -- get a plain safetensors file (filterbank writes no HDF5; the name
    does not change the content). Tensor names are ``"<layer>/<weight>"``; ``load_weights``
    matches them by name and shape and recognises either kind of file by its content.
    """
    from .. import __version__
    from .archive import FORMAT_VERSION

    path = _check_target(path, "model.save_weights")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"model.save_weights: {path!r} exists and overwrite=False.")
    if not path.lower().endswith(_PLAIN_WEIGHTS):
        save_model(model, path, include_optimizer=False)
        return
    check_float_weights(model_weights(model), model.name, path)
    tensors = {key: arr for key, (_, _, arr) in model_weights(model).items()}
    refuse_nonfinite(tensors, model.name, path)
    meta = {
        "format": "filterbank-weights",
        "format_version": str(FORMAT_VERSION),
        "filterbank_version": __version__,
    }
    blob = encode_tensors(tensors, FLOAT_DTYPES, metadata=meta)
    if len(blob) > MAX_TOTAL_BYTES:
        raise ValueError(
            f"The weights are {len(blob):,} bytes; a filterbank file holds at most "
            f"{MAX_TOTAL_BYTES:,}."
        )
    atomic_write(path, lambda fp: fp.write(blob))


# ------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------
def _read_weight_tensors(path, model=None, skip_mismatch=False) -> dict[str, np.ndarray]:
    """Weights from a model file (zip) or a plain .safetensors file, fully checked.

    With ``model``, the names and shapes the headers declare are matched against the model's
    weights before any tensor data is read or decompressed.
    """
    fp, size = open_checked(path)

    def vet(headers):
        if model is not None:
            _match_names(
                model,
                {k: shape for k, (_, shape) in headers.items()},
                path,
                _MISMATCH_FIX,
                skip_mismatch=skip_mismatch,
            )

    with fp:
        if is_zip(fp):
            return read_open_archive(
                fp, size, path, vet=lambda c, m, h: vet(h.get(WEIGHTS, {}))
            ).tensors[WEIGHTS]
        fp.seek(0)
        head = fp.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else 0
        if 2 <= n <= min(size - 8, MAX_JSON_BYTES):
            head += fp.read(n)
        vet(read_header(head, path, "", FLOAT_DTYPES, size=size))
        fp.seek(0)
        data = fp.read(size + 1)
    if len(data) != size:
        raise file_error(path, "it changed size while being read", None)
    return decode_tensors(data, path, "", FLOAT_DTYPES)


def _match_names(model, shapes: dict[str, tuple], path, fix: str, skip_mismatch=False) -> list:
    """Problems matching ``{name: shape}`` to the model's weights; raises unless skipping."""
    weights = model_weights(model)
    problems = []
    for key, (layer, wname, arr) in weights.items():
        got = shapes.get(key)
        if got is None:
            problems.append(
                f"it has no weight {wname!r} for layer {layer.name!r} (the model "
                f"expects shape {tuple(arr.shape)})"
            )
        elif tuple(got) != arr.shape:
            problems.append(
                f"layer {layer.name!r} weight {wname!r} has shape {tuple(got)} "
                f"in the file, but the model expects {tuple(arr.shape)}"
            )
    for key in shapes:
        if key not in weights:
            layer, wname = _split_key(key)
            problems.append(
                f"it holds weight {wname!r} for layer {layer!r}, which the model "
                "does not have" + ("" if weights else " (is the model built?)")
            )
    if problems and not skip_mismatch:
        n = len(problems) - 1
        more = f" (and {n} more problem{'s' if n > 1 else ''})" if n else ""
        raise file_error(path, problems[0] + more, fix)
    return problems


def _assign(model, tensors: dict[str, np.ndarray], path, fix: str, skip_mismatch=False) -> None:
    """Match ``tensors`` to the model's weights by name and shape, then copy them in."""
    weights = model_weights(model)
    problems = _match_names(
        model, {k: v.shape for k, v in tensors.items()}, path, fix, skip_mismatch
    )
    check_weights_finite({k: v for k, v in tensors.items() if k in weights}, path)
    if problems:
        warnings.warn(
            f"load_weights(skip_mismatch=True) skipped {len(problems)} weights of "
            f"{os.fspath(path)!r}: {'; '.join(problems)}.",
            stacklevel=4,
        )
    for key, (_, _, arr) in weights.items():
        got = tensors.get(key)
        if got is not None and got.shape == arr.shape:
            arr[...] = got.astype(arr.dtype, copy=False)
    weights_changed()


def load_weights(model, path, skip_mismatch: bool = False) -> None:
    """Load weights saved by ``save_weights`` or ``save`` into ``model`` (matched by name).

    All-or-nothing: every name and shape is checked before any weight changes. With
    ``skip_mismatch=True`` missing, extra or mis-shaped weights are skipped with a warning.
    """
    tensors = _read_weight_tensors(path, model, skip_mismatch)
    _assign(model, tensors, path, _MISMATCH_FIX, skip_mismatch)


def _weight_guard(shapes: dict[str, tuple], path):
    def guard(layer, name, shape):
        key = f"{layer.name}/{name}"
        want = tuple(int(d) for d in shape)
        have = shapes.get(key)
        if have is None:
            raise file_error(
                path,
                f"config.json asks for weight {name!r} of layer {layer.name!r} "
                f"(shape {want}), which model.weights.safetensors does not hold",
            )
        if tuple(have) != want:
            raise file_error(
                path,
                f"config.json gives layer {layer.name!r} weight {name!r} shape "
                f"{want}, but model.weights.safetensors holds shape "
                f"{tuple(have)}",
            )

    return guard


def build_guarded(fb_config: dict, guard, floatx: str, path):
    """Build the model a file's (filterbank) config describes, its weights checked by
    ``guard`` as they are made, in ``floatx``; any failure is the file's error. Used by
    the .fbk and the .keras readers."""
    from ..layers.base import WEIGHT_GUARD
    from ..models import model_from_config

    old_floatx, rng_state = backend.floatx(), backend.get_rng_state()
    token = WEIGHT_GUARD.set(guard)
    try:
        backend.set_floatx(floatx)
        return model_from_config(fb_config)
    except ModelFileError:
        raise
    except Exception as e:  # a constructor's own argument check, or a graph that cannot be wired
        raise file_error(
            path,
            f"config.json describes a model that cannot be built "
            f"({type(e).__name__}: {str(e)[:300]})",
        ) from e
    finally:
        WEIGHT_GUARD.reset(token)
        backend.set_floatx(old_floatx)
        backend.set_rng_state(rng_state)  # loading must not shift the user's random stream


def _rebuild(config: dict, shapes: dict[str, tuple], path):
    return build_guarded(
        {"class_name": config["class_name"], "config": config["config"]},
        _weight_guard(shapes, path),
        config.get("floatx", "float32"),
        path,
    )


def _vet(path, compile: bool, out: dict):
    """The checks load_model runs on config.json and the tensor headers, before any data."""
    from ..models.memory import check_sample_sizes

    def vet(config, meta, headers):
        check_config(config, path)
        if config.get("compile_config") is not None:
            check_compile_values(config["compile_config"], path)
        if OPTIMIZER in headers and config.get("compile_config") is None:
            raise file_error(path, "it holds optimizer state but no compile config")
        shapes = {k: shape for k, (_, shape) in headers.get(WEIGHTS, {}).items()}
        model = _rebuild(config, shapes, path)
        _match_names(model, shapes, path, DAMAGED)
        check_memory(headers, path)
        big = check_sample_sizes(model)
        if big is not None:
            name, shape, nbytes = big
            raise file_error(
                path,
                f"config.json makes layer {name!r} output {shape[1:]} per "
                f"sample ({nbytes:,} bytes), more than any model this library "
                "can run",
            )
        if compile and OPTIMIZER in headers:
            check_optimizer_header(headers[OPTIMIZER], model_weights(model), path)
        out["model"] = model

    return vet


def load_model(path, compile: bool = True, custom_objects=None, safe_mode: bool = True):
    """Load a model saved with ``model.save(path)``: architecture, weights, compile, optimizer.

    Nothing is unpickled, imported or evaluated, and nothing is written to disk. Any defect of
    the file raises :class:`ModelFileError` naming the file and the problem.

    Args:
        path: the model file.
        compile: re-compile with the saved settings and restore the optimizer state.
        custom_objects: not supported (model files hold built-in layers only).
        safe_mode: accepted for Keras compatibility; loading is always safe.
    """
    if custom_objects:
        raise ValueError(
            "load_model(custom_objects=...) is not supported: filterbank model files "
            "hold built-in layers only, and loading never imports code."
        )
    del safe_mode
    out: dict = {}
    archive = read_archive(path, vet=_vet(path, compile, out))
    config, tensors = archive.config, archive.tensors
    model = out["model"]
    _assign(model, tensors[WEIGHTS], path, DAMAGED)
    state = tensors.get(OPTIMIZER)
    cc = config.get("compile_config")
    if compile and cc is not None:
        try:
            model.compile_from_config(cc)
        except Exception as e:
            raise file_error(
                path,
                f"its compile settings cannot be rebuilt ({type(e).__name__}: {str(e)[:300]})",
                "If the model was compiled with a custom loss, metric or optimizer, "
                "load it with load_model(path, compile=False) and compile it "
                "again; otherwise the file is damaged.",
            ) from e
        if state is not None:
            if int(state["iterations"]) < 0:
                raise file_error(path, "optimizer.safetensors has a negative 'iterations'")
            check_optimizer_values(state, path)
            try:
                model.optimizer.set_state(state)
            except Exception as e:
                raise file_error(
                    path,
                    f"its optimizer state does not fit the "
                    f"{type(model.optimizer).__name__} optimizer "
                    f"({str(e)[:300]})",
                ) from e
    return model
