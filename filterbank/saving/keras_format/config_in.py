"""Keras 3 ``config.json`` -> a filterbank model config (pure data: nothing is imported).

Only layer classes filterbank has are accepted, looked up by name in
``filterbank.layers.LAYER_CLASSES``; a Lambda layer, a registered custom object or an
unknown class is refused with a message naming the layer. Each Keras layer config keeps the
keys filterbank's constructor takes; Keras-only keys are dropped when they hold their neutral
value (``groups=1``, no constraints, ...) and refused otherwise, so a model never silently
computes something else.

Example:
    >>> cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
    ...     {"class_name": "InputLayer", "config": {"batch_shape": [None, 3], "name": "in"}},
    ...     {"class_name": "Dense", "config": {"name": "d", "units": 2, "kernel_constraint": None}}]}}
    >>> fb = to_filterbank_config(cfg, "x.keras")
    >>> [layer["class_name"] for layer in fb["config"]["layers"]]
    ['InputLayer', 'Dense']
"""

from __future__ import annotations

import inspect
import json

from ..errors import file_error
from .config_out import _INITIALIZER_KEYS, _REGULARIZER_KEYS

# Keras-only keys and the values that mean "nothing": dropped silently.
NEUTRAL = {
    "activity_regularizer": (None,),
    "kernel_constraint": (None,),
    "bias_constraint": (None,),
    "beta_constraint": (None,),
    "gamma_constraint": (None,),
    "groups": (1,),
    "synchronized": (False,),
    "renorm": (False,),
    "renorm_clipping": (None,),
    "sparse": (False,),
    "ragged": (False,),
    "optional": (False,),
    "lora_rank": (None,),
    "quantization_config": (None,),
    "build_config": None,
    "registered_name": None,
}
ANY_VALUE = {"renorm_momentum", "lora_alpha", "module", "shared_object_id", "seed"}
FLOATS = ("float32", "float64")


def _refuse_custom(entry: dict, path) -> None:
    cls = entry.get("class_name")
    name = (entry.get("config") or {}).get("name", entry.get("name", "?"))
    if cls == "Lambda":
        raise file_error(
            path,
            f"layer {name!r} is a Lambda layer, which holds Python code",
            "filterbank never runs code from a file: rebuild that part of the "
            "model from built-in layers in Keras, save again, and load that file.",
        )
    registered = entry.get("registered_name")
    module = str(entry.get("module") or "keras.layers")
    if registered not in (None, cls) or not module.startswith("keras"):
        raise file_error(
            path,
            f"layer {name!r} is a custom object ({registered or cls!r} from module {module!r})",
            "filterbank loads built-in layers only and never imports code.",
        )


def _dtype_name(value, where: str, path) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name")
    if value not in FLOATS:
        raise file_error(
            path, f"{where} uses dtype {value!r}", "filterbank computes in float32 or float64 only."
        )
    return value


def _initializer(value):
    """A Keras initializer config as a filterbank one; None (use the default) if unknown."""
    from ... import initializers
    from ...layers.base import to_snake_case

    if isinstance(value, str):
        value = {"class_name": value, "config": {}}
    if not isinstance(value, dict):
        return None
    name = to_snake_case(str(value.get("class_name", "")))
    cls = initializers._REGISTRY.get(name) or initializers._REGISTRY.get(
        str(value.get("class_name", "")).lower()
    )
    if cls is None:
        return None
    params = inspect.signature(cls.__init__).parameters
    config = {k: v for k, v in (value.get("config") or {}).items() if k in params}
    return {
        "class_name": name if name in initializers._REGISTRY else str(value["class_name"]).lower(),
        "config": config,
    }


def _regularizer(value, where: str, path):
    if value is None:
        return None
    names = {"L1": "l1", "L2": "l2", "L1L2": "l1_l2", "l1": "l1", "l2": "l2", "l1_l2": "l1_l2"}
    cls = value.get("class_name") if isinstance(value, dict) else value
    if cls not in names:
        raise file_error(
            path, f"{where} uses regularizer {cls!r}", "filterbank knows L1, L2 and L1L2 only."
        )
    config = value.get("config", {}) if isinstance(value, dict) else {}
    return {
        "class_name": names[cls],
        "config": {k: v for k, v in config.items() if k in ("l1", "l2")},
    }


def layer_config(entry: dict, path) -> dict:
    """One Keras layer entry -> ``{"class_name", "config"}`` for filterbank."""
    from ...layers import LAYER_CLASSES

    if not isinstance(entry, dict) or not isinstance(entry.get("config", {}), dict):
        raise file_error(path, "config.json has a layer entry that is not an object")
    _refuse_custom(entry, path)
    cls_name = entry.get("class_name")
    cfg = dict(entry.get("config") or {})
    name = cfg.get("name", entry.get("name"))
    cls = LAYER_CLASSES.get(cls_name) if isinstance(cls_name, str) else None
    if cls is None:
        raise file_error(
            path,
            f"layer {name!r} is a {cls_name!r}, a layer class filterbank does not have",
            f"filterbank reads these Keras layers: {', '.join(sorted(LAYER_CLASSES))}.",
        )
    where = f"layer {name!r} ({cls_name})"
    accepted = set(cls._arg_names())
    out = {}
    for key, value in cfg.items():
        if key == "dtype":
            dt = _dtype_name(value, where, path)
            if dt == "float64":
                out["dtype"] = dt
        elif key in _INITIALIZER_KEYS:
            init = _initializer(value)
            if init is not None and key in accepted:
                out[key] = init
        elif key in _REGULARIZER_KEYS:
            out[key] = _regularizer(value, where, path)
        elif key == "activation" and not isinstance(value, str):
            raise file_error(
                path,
                f"{where} uses a custom activation ({str(value)[:80]})",
                "filterbank reads activations given by name only.",
            )
        elif key in accepted:
            out[key] = value
        elif key in ANY_VALUE or (
            key in NEUTRAL and (NEUTRAL[key] is None or value in NEUTRAL[key])
        ):
            continue
        elif value in (None, False):
            continue  # an option newer Keras added, switched off
        else:
            raise file_error(
                path,
                f"{where} sets {key}={json.dumps(value)[:80]}, which filterbank does not support",
                "Rebuild that layer without the option in Keras and save again.",
            )
    if cls_name == "InputLayer":
        out.pop("trainable", None)
        if "batch_shape" not in out and "batch_input_shape" in cfg:
            out["batch_shape"] = cfg["batch_input_shape"]
    return {"class_name": cls_name, "config": out}


def _history(arg, path) -> list[str]:
    """The producing layer names of one call argument (a tensor or a list of tensors)."""
    if isinstance(arg, list) and arg and all(isinstance(a, dict) for a in arg):
        return [n for a in arg for n in _history(a, path)]
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        hist = (arg.get("config") or {}).get("keras_history")
        if isinstance(hist, list) and hist and isinstance(hist[0], str):
            if hist[1:] not in ([0, 0], []):
                raise file_error(
                    path,
                    f"a layer reads output {hist[1:]} of layer {hist[0]!r}; "
                    "filterbank models call each layer once",
                )
            return [hist[0]]
    if isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str):  # Keras 2 style
        return [arg[0]]
    raise file_error(path, f"config.json has an inbound node it cannot read ({str(arg)[:100]})")


def _endpoints(value, path) -> list[str]:
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [value[0]]
    if isinstance(value, list) and all(
        isinstance(v, list) and v and isinstance(v[0], str) for v in value
    ):
        return [v[0] for v in value]
    raise file_error(
        path, f"config.json has model inputs/outputs it cannot read ({str(value)[:100]})"
    )


def functional_layers(config: dict, path) -> tuple[list, list[str], list[str]]:
    """``(layers, inputs, outputs)`` with each layer's inbound names and ``multi`` flag."""
    layers = []
    for entry in config.get("layers") or []:
        fb = layer_config(entry, path)
        name = entry.get("name") or fb["config"].get("name")
        nodes = entry.get("inbound_nodes") or []
        if len(nodes) > 1:
            raise file_error(
                path,
                f"layer {name!r} is called {len(nodes)} times; filterbank "
                "models call each layer once (no shared layers)",
            )
        inbound, multi = [], False
        if nodes:
            node = nodes[0]
            args = node.get("args") if isinstance(node, dict) else node
            if not isinstance(args, list) or not args:
                raise file_error(path, f"layer {name!r} has an inbound node without arguments")
            multi = isinstance(args[0], list)
            inbound = _history(args[0], path)
        layers.append({**fb, "name": name, "inbound_nodes": inbound, "multi": multi})
    return (
        layers,
        _endpoints(config.get("input_layers"), path),
        _endpoints(config.get("output_layers"), path),
    )


def to_filterbank_config(top: dict, path) -> dict:
    """The whole Keras config.json -> ``{"class_name", "config"}`` for model_from_config."""
    if not isinstance(top, dict) or not isinstance(top.get("config"), dict):
        raise file_error(path, "config.json is not a Keras model config (no 'config' object)")
    cls = top.get("class_name")
    config = top["config"]
    if cls == "Sequential":
        layers = [layer_config(e, path) for e in config.get("layers") or []]
        out = {"name": config.get("name"), "layers": layers}
        if config.get("build_input_shape") is not None:
            out["build_input_shape"] = config["build_input_shape"]
        return {"class_name": "Sequential", "config": out}
    if cls in ("Functional", "Model"):
        if "layers" not in config:
            raise file_error(
                path,
                "config.json describes a subclassed Keras model (no layer graph)",
                "filterbank reads Sequential and functional models "
                "only; subclassed models hold Python code.",
            )
        layers, inputs, outputs = functional_layers(config, path)
        single_in = (
            isinstance(config.get("input_layers"), list)
            and len(config["input_layers"]) == 3
            and isinstance(config["input_layers"][0], str)
        )
        single_out = (
            isinstance(config.get("output_layers"), list)
            and len(config["output_layers"]) == 3
            and isinstance(config["output_layers"][0], str)
        )
        return {
            "class_name": "Functional",
            "config": {
                "name": config.get("name"),
                "layers": layers,
                "input_layers": inputs,
                "output_layers": outputs,
                "single_input": single_in or len(inputs) == 1,
                "single_output": single_out or len(outputs) == 1,
            },
        }
    raise file_error(
        path,
        f"config.json holds a {cls!r}; filterbank reads Keras Sequential and Functional models",
    )
