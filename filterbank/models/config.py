"""Model configs: the architecture as JSON-ready dicts, and back.

Functional::

    {"name": "functional", "trainable": True,
     "layers": [{"class_name": "InputLayer", "name": "input_layer", "config": {...},
                 "inbound_nodes": []},
                {"class_name": "Dense", "name": "dense", "config": {...},
                 "inbound_nodes": ["input_layer"]},          # names of the producing layers
                {"class_name": "Add", "name": "add", "config": {...},
                 "inbound_nodes": ["dense", "dense_1"], "multi": True}, ...],
     "input_layers": ["input_layer"], "output_layers": ["dense_2"],
     "single_input": True, "single_output": True}

Sequential::

    {"name": "sequential", "trainable": True,
     "layers": [{"class_name": "InputLayer", "config": {...}}, {"class_name": "Dense", ...}],
     "build_input_shape": [None, 8]}

Every layer is called once in a graph and has one output, so a tensor is named
by the layer that produces it. Classes are looked up in
``filterbank.layers.LAYER_CLASSES`` only: a config never imports or evaluates
anything. ``serialize_model`` wraps a config as ``{"class_name", "config"}``.

Example:
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> m = keras.Sequential([layers.Dense(2, input_shape=(3,))])
    >>> [c["class_name"] for c in m.get_config()["layers"]]
    ['InputLayer', 'Dense']
"""

from __future__ import annotations

import copy

from ..errors import did_you_mean
from ..layers.input_layer import InputLayer

MODEL_CLASSES = ("Functional", "Model", "Sequential")


def layer_to_config(layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def layer_from_config(entry: dict):
    from ..layers import LAYER_CLASSES

    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError(
            f"A layer config must be a dict with 'class_name' and 'config', got {entry!r}."
        )
    name = entry["class_name"]
    cls = LAYER_CLASSES.get(name)
    if cls is None:
        raise ValueError(
            f"Unknown layer class {name!r} in the model config; only built-in layers can be "
            "loaded. " + did_you_mean(str(name), LAYER_CLASSES)
        )
    return cls.from_config(copy.deepcopy(entry.get("config") or {}))


# ---- functional --------------------------------------------------------------------------------
def functional_config(model) -> dict:
    graph = model._require_graph("config")
    layers = []
    for layer in graph.layers:
        node = layer.inbound_node
        entry = {
            "class_name": type(layer).__name__,
            "name": layer.name,
            "config": layer.get_config(),
            "inbound_nodes": [t.node.layer.name for t in node.inputs],
        }
        if node.multi:
            entry["multi"] = True
        layers.append(entry)
    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": layers,
        "input_layers": [t.node.layer.name for t in graph.inputs],
        "output_layers": [t.node.layer.name for t in graph.outputs],
        "single_input": model._single_input,
        "single_output": model._single_output,
    }


def functional_from_config(config: dict):
    from .functional import Model

    _require_keys(config, ("layers", "input_layers", "output_layers"), "functional model")
    tensors: dict = {}
    pending = list(config["layers"])
    # Configs list layers in topological order; still, resolve in passes so any order works.
    while pending:
        progressed = False
        rest = []
        for entry in pending:
            inbound = entry.get("inbound_nodes", [])
            if any(name not in tensors for name in inbound):
                rest.append(entry)
                continue
            layer = layer_from_config(entry)
            if entry.get("name") is not None and layer.name != entry["name"]:
                layer.name = entry["name"]
            if not inbound:
                if not isinstance(layer, InputLayer):
                    raise ValueError(
                        f"Layer '{layer.name}' has no inbound layers in the config, but only an "
                        "InputLayer may start a graph."
                    )
                tensors[layer.name] = layer.output
            else:
                args = [tensors[name] for name in inbound]
                tensors[layer.name] = layer(args if entry.get("multi") else args[0])
            progressed = True
        if not progressed:
            names = {e.get("name") for e in rest}
            missing = sorted(
                {
                    n
                    for e in rest
                    for n in e.get("inbound_nodes", [])
                    if n not in tensors and n not in names
                }
            )
            raise ValueError(
                f"Model config is inconsistent: layers {[e.get('name') for e in rest]} cannot be "
                + (
                    f"connected: they read from {missing}, which no layer in the config produces."
                    if missing
                    else "ordered: their inbound layers form a cycle."
                )
            )
        pending = rest
    for key in ("input_layers", "output_layers"):
        for name in config[key]:
            if name not in tensors:
                raise ValueError(
                    f"Model config names {name!r} in {key}, but no layer has that name."
                )
    inputs = [tensors[n] for n in config["input_layers"]]
    outputs = [tensors[n] for n in config["output_layers"]]
    model = Model(
        inputs[0] if config.get("single_input", len(inputs) == 1) else inputs,
        outputs[0] if config.get("single_output", len(outputs) == 1) else outputs,
        name=config.get("name"),
    )
    if not config.get("trainable", True):
        model.trainable = False
    return model


# ---- sequential --------------------------------------------------------------------------------
def sequential_config(model) -> dict:
    config = {
        "name": model.name,
        "trainable": model.trainable,
        "layers": [layer_to_config(layer) for layer in model._layers],
    }
    if model._graph is not None:
        config["build_input_shape"] = list(model._graph.inputs[0].shape)
    return config


def sequential_from_config(config: dict):
    from .sequential import Sequential

    _require_keys(config, ("layers",), "Sequential model")
    model = Sequential(name=config.get("name"))
    for entry in config["layers"]:
        model.add(layer_from_config(entry), rebuild=False)
    if model._layers:
        model._maybe_rebuild()
    shape = config.get("build_input_shape")
    if model._graph is None and shape is not None:
        model.build(tuple(shape))
    if not config.get("trainable", True):
        model.trainable = False
    return model


# ---- dispatch ----------------------------------------------------------------------------------
def serialize_model(model) -> dict:
    """``{"class_name": "Sequential" | "Functional", "config": model.get_config()}``."""
    from .sequential import Sequential

    return {
        "class_name": "Sequential" if isinstance(model, Sequential) else "Functional",
        "config": model.get_config(),
    }


def model_from_config(config: dict):
    if not isinstance(config, dict):
        raise TypeError(
            "model_from_config expects a dict (from model.get_config()), got "
            f"{type(config).__name__}."
        )
    if "class_name" in config and "config" in config:
        name = config["class_name"]
        if name not in MODEL_CLASSES:
            raise ValueError(
                f"model_from_config got class_name {name!r}; expected one of {list(MODEL_CLASSES)}."
            )
        inner = config["config"]
        return (
            sequential_from_config(inner) if name == "Sequential" else functional_from_config(inner)
        )
    if "input_layers" in config:
        return functional_from_config(config)
    if "layers" in config:
        return sequential_from_config(config)
    raise ValueError(
        "model_from_config expects model.get_config() output (with 'layers') or "
        f"{{'class_name': ..., 'config': ...}}; got keys {sorted(config)}."
    )


def _require_keys(config, keys, what):
    if not isinstance(config, dict):
        raise TypeError(f"A {what} config must be a dict, got {type(config).__name__}.")
    missing = [k for k in keys if k not in config]
    if missing:
        raise ValueError(
            f"The {what} config lacks {missing}; pass the dict model.get_config() returned."
        )


# ---- compile -----------------------------------------------------------------------------------
def _serialize_item(value, module_name):
    """A compile() argument leaf as JSON: names stay names, objects use their module's serialize.

    A metric its module cannot serialise (e.g. "accuracy" resolved by shape at run time) is
    saved by its name, which resolves the same way again.
    """
    if value is None or isinstance(value, str):
        return value
    import importlib

    module = importlib.import_module(f"filterbank.{module_name}")
    try:
        return module.serialize(value)
    except (TypeError, ValueError, KeyError, AttributeError):
        name = getattr(value, "name", None)
        if module_name == "metrics" and isinstance(name, str):
            return name
        raise TypeError(
            f"Cannot save {value!r} in the compile config: only built-in {module_name} can be "
            "saved. Compile with a built-in name, or compile again after loading."
        ) from None


def _map(structure, fn):
    # A serialized object ({"class_name": ..., "config": ...}) is one leaf, not a per-output dict.
    if isinstance(structure, dict) and "class_name" not in structure:
        return {k: _map(v, fn) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [_map(v, fn) for v in structure]
    return fn(structure)


def compile_config(model) -> dict | None:
    if not model.compiled:
        return None
    raw = model._compile_config
    return {
        "optimizer": _serialize_item(model.optimizer, "optimizers"),
        "loss": _map(raw["loss"], lambda v: _serialize_item(v, "losses")),
        "metrics": _map(raw["metrics"], lambda v: _serialize_item(v, "metrics")),
        "loss_weights": raw["loss_weights"],
    }


def _deserialize_item(value, module_name):
    if value is None or isinstance(value, str):
        return value
    import importlib

    module = importlib.import_module(f"filterbank.{module_name}")
    des = getattr(module, "deserialize", None)
    if des is None:
        raise ValueError(f"filterbank.{module_name} cannot deserialize {value!r}.")
    return des(value)


def compile_from_config(model, config: dict) -> None:
    if config is None:
        return
    model.compile(
        optimizer=_deserialize_item(config.get("optimizer"), "optimizers") or "rmsprop",
        loss=_map(config.get("loss"), lambda v: _deserialize_item(v, "losses")),
        metrics=_map(config.get("metrics"), lambda v: _deserialize_item(v, "metrics")),
        loss_weights=config.get("loss_weights"),
    )
