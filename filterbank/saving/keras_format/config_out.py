"""A filterbank model -> Keras 3 ``config.json`` (the structure Keras's own ``save`` writes).

Example:
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> m = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    >>> cfg = keras_config(m)
    >>> cfg["class_name"], [l["class_name"] for l in cfg["config"]["layers"]]
    ('Sequential', ['InputLayer', 'Dense'])
"""

from __future__ import annotations

_INITIALIZER_KEYS = (
    "kernel_initializer",
    "bias_initializer",
    "beta_initializer",
    "gamma_initializer",
    "moving_mean_initializer",
    "moving_variance_initializer",
)
_REGULARIZER_KEYS = (
    "kernel_regularizer",
    "bias_regularizer",
    "beta_regularizer",
    "gamma_regularizer",
)
_REGULARIZER_CLASSES = {"l1": "L1", "l2": "L2", "l1_l2": "L1L2"}


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in str(name).split("_"))


def _policy(dtype: str) -> dict:
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": dtype},
        "registered_name": None,
    }


def _keras_object(value, module: str, class_map=None):
    if not isinstance(value, dict):
        return value
    cls = value.get("class_name")
    cls = (class_map or {}).get(cls) or _camel(cls)
    return {
        "module": module,
        "class_name": cls,
        "config": dict(value.get("config") or {}),
        "registered_name": None,
    }


def layer_entry(layer, floatx: str) -> dict:
    """One layer as Keras writes it: module, class_name, config, registered_name."""
    cls = type(layer).__name__
    cfg = dict(layer.get_config())
    cfg.pop("batch_input_shape", None)  # Keras 3 takes shapes from the InputLayer
    if cls == "InputLayer":
        return {
            "module": "keras.layers",
            "class_name": cls,
            "registered_name": None,
            "config": {
                "batch_shape": list(cfg.get("batch_shape") or layer.batch_shape),
                "dtype": cfg.get("dtype") or floatx,
                "sparse": False,
                "ragged": False,
                "name": layer.name,
            },
        }
    cfg["dtype"] = _policy(cfg.get("dtype") or floatx)
    for key in _INITIALIZER_KEYS:
        if key in cfg:
            cfg[key] = _keras_object(cfg[key], "keras.initializers")
    for key in _REGULARIZER_KEYS:
        if cfg.get(key) is not None:
            cfg[key] = _keras_object(cfg[key], "keras.regularizers", _REGULARIZER_CLASSES)
    for key in ("kernel_size", "strides", "dilation_rate", "pool_size"):
        if isinstance(cfg.get(key), tuple):
            cfg[key] = list(cfg[key])
    if cls == "ZeroPadding2D":
        cfg["padding"] = [list(p) for p in cfg["padding"]]
    if cls == "Softmax" and isinstance(cfg.get("axis"), tuple):
        cfg["axis"] = list(cfg["axis"])
    return {"module": "keras.layers", "class_name": cls, "config": cfg, "registered_name": None}


def _tensor(t) -> dict:
    return {
        "class_name": "__keras_tensor__",
        "config": {
            "shape": list(t.shape),
            "dtype": t.dtype,
            "keras_history": [t.node.layer.name, 0, 0],
        },
    }


def keras_config(model, floatx: str = "float32") -> dict:
    """The Keras 3 config.json dict of a filterbank Model or Sequential."""
    from ...models import Sequential

    if isinstance(model, Sequential):
        layers = [layer_entry(t.node.layer, floatx) for t in model.inputs]
        layers += [layer_entry(layer, floatx) for layer in model.layers]
        shape = list(model.inputs[0].shape)
        return {
            "module": "keras",
            "class_name": "Sequential",
            "registered_name": None,
            "config": {
                "name": model.name,
                "trainable": model.trainable,
                "dtype": _policy(floatx),
                "layers": layers,
                "build_input_shape": shape,
            },
            "build_config": {"input_shape": shape},
        }
    layers = []
    for layer in model.layers:
        entry = layer_entry(layer, floatx)
        entry["name"] = layer.name
        if type(layer).__name__ == "InputLayer":
            entry["inbound_nodes"] = []
        else:
            ins = layer.input
            arg = [_tensor(t) for t in ins] if isinstance(ins, list) else _tensor(ins)
            entry["inbound_nodes"] = [{"args": [arg], "kwargs": {}}]
        layers.append(entry)

    def ends(tensors, single):
        items = [[t.node.layer.name, 0, 0] for t in tensors]
        return items[0] if single and len(items) == 1 else items

    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "registered_name": "Functional",
        "config": {
            "name": model.name,
            "trainable": model.trainable,
            "layers": layers,
            "input_layers": ends(model.inputs, len(model.inputs) == 1),
            "output_layers": ends(model.outputs, len(model.outputs) == 1),
        },
        "build_config": {"input_shape": None},
    }
