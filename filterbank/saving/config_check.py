"""Structural validation of a model file's config.json before any layer is constructed.

The engine's ``model_from_config`` already refuses unknown layer classes; this module checks
everything else a file could get wrong *before* the engine sees it, so damage is reported as
"config.json: layer 3 ('dense_1') has ..." rather than as a ``KeyError`` from deep inside:

* top level: known keys only; ``class_name`` a model class; ``floatx`` float32/float64;
* each layer entry: known keys, ``class_name`` in ``filterbank.layers.LAYER_CLASSES``
  (so "os.system" or "__import__" can never be named), ``config`` a dict with string keys,
  a unique non-empty name, a dtype of float32/float64 if any;
* functional graphs: inbound layers named earlier in the list (topological order), inputs
  that are InputLayers, known input/output layer names;
* the compile config: known keys, each leaf a name or a ``{"class_name", "config"}`` dict.

The argument values themselves are validated by the layer constructors when the model is
rebuilt (their errors are wrapped by the caller).

Example:
    >>> from filterbank.saving.config_check import check_config
    >>> check_config({"class_name": "Sequential", "config": {"name": "s", "layers": []}}, "m.fbk")
"""

from __future__ import annotations

from .errors import file_error

MAX_LAYERS = 10_000
MAX_NAME = 256
MAX_CONFIG_INT = 2**24
"""Largest integer a layer config may hold (units, filters, sizes, shapes, ...), seeds aside:
larger values describe no CNN this library can run, only a model that would exhaust memory."""
MODEL_CLASSES = ("Sequential", "Functional", "Model")
FLOATX = ("float32", "float64")
_TOP_KEYS = {
    "class_name",
    "config",
    "compile_config",
    "floatx",
    "format_version",
    "filterbank_version",
}
_SEQUENTIAL_KEYS = {"name", "trainable", "layers", "build_input_shape"}
_FUNCTIONAL_KEYS = {
    "name",
    "trainable",
    "layers",
    "input_layers",
    "output_layers",
    "single_input",
    "single_output",
}
_SEQUENTIAL_ENTRY = {"class_name", "config"}
_FUNCTIONAL_ENTRY = {"class_name", "config", "name", "inbound_nodes", "multi"}
_COMPILE_KEYS = {"optimizer", "loss", "metrics", "loss_weights"}
_SERIALIZED_KEYS = {"module", "class_name", "config", "registered_name"}


class _Checker:
    def __init__(self, path):
        self.path = path

    def fail(self, what: str):
        raise file_error(self.path, f"member 'config.json' {what}")

    def keys(self, value, allowed, where: str, required=()):
        if not isinstance(value, dict):
            self.fail(f"{where} must be a JSON object, got {_kind(value)}")
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            self.fail(
                f"{where} has unknown key {unknown[0][:60]!r} "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        missing = [k for k in required if k not in value]
        if missing:
            self.fail(f"{where} lacks the key {missing[0]!r}")

    def obj(self, value, where: str):
        if not isinstance(value, dict):
            self.fail(f"{where} must be a JSON object, got {_kind(value)}")

    def typed(self, value, types, where: str, what: str):
        if isinstance(value, bool) and bool not in types:
            ok = False
        else:
            ok = isinstance(value, types)
        if not ok:
            self.fail(f"{where} must be {what}, got {_kind(value)}")

    def name(self, value, where: str):
        self.typed(value, (str,), where, "a string")
        if not value or len(value) > MAX_NAME:
            self.fail(f"{where} must be a name of 1 to {MAX_NAME} characters, got {len(value)}")


def _big_int(config: dict):
    """The first (key, value) in a layer config with an integer beyond +-MAX_CONFIG_INT."""
    stack = [(k, v) for k, v in config.items()]
    while stack:
        key, value = stack.pop()
        if key == "seed":
            continue
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_CONFIG_INT:
            return key, value
        if isinstance(value, dict):
            stack.extend(value.items())
        elif isinstance(value, list):
            stack.extend((key, v) for v in value)
    return None


def _kind(value) -> str:
    if value is None:
        return "null"
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }
    text = str(value)
    return f"{names.get(type(value), type(value).__name__)} {text[:40]!r}"


def check_config(config, path) -> None:
    """Raise :class:`ModelFileError` unless ``config`` is a well-formed model config."""
    from ..layers import LAYER_CLASSES

    c = _Checker(path)
    c.keys(config, _TOP_KEYS, "the top level", required=("class_name", "config"))
    cls = config["class_name"]
    if not isinstance(cls, str) or cls not in MODEL_CLASSES:
        c.fail(f"names model class {str(cls)[:60]!r}; only {', '.join(MODEL_CLASSES)} exist")
    if config.get("floatx", "float32") not in FLOATX:
        c.fail(
            f"has floatx {str(config.get('floatx'))[:40]!r}; expected one of {', '.join(FLOATX)}"
        )
    inner = config["config"]
    sequential = cls == "Sequential"
    if sequential:
        c.keys(inner, _SEQUENTIAL_KEYS, "the model config", required=("layers",))
    else:
        c.keys(
            inner,
            _FUNCTIONAL_KEYS,
            "the model config",
            required=("layers", "input_layers", "output_layers"),
        )
    if "name" in inner:
        c.name(inner["name"], "the model name")
    for key in ("trainable", "single_input", "single_output"):
        if key in inner:
            c.typed(inner[key], (bool,), f"the model's {key!r}", "true or false")
    layers = inner["layers"]
    c.typed(layers, (list,), "the model's 'layers'", "a list")
    if len(layers) > MAX_LAYERS:
        c.fail(f"lists {len(layers):,} layers, more than {MAX_LAYERS:,}")

    seen: dict[str, str] = {}
    for i, entry in enumerate(layers):
        where = f"layer {i}"
        c.keys(
            entry,
            _SEQUENTIAL_ENTRY if sequential else _FUNCTIONAL_ENTRY,
            where,
            required=("class_name", "config"),
        )
        name = entry["class_name"]
        if not isinstance(name, str) or name not in LAYER_CLASSES:
            c.fail(
                f"{where} names class {str(name)[:60]!r}, which is not a filterbank layer "
                "(only built-in layers can be loaded; nothing is imported from a file)"
            )
        cfg = entry["config"]
        c.obj(cfg, f"{where} ({name}) config")
        lname = cfg.get("name", entry.get("name"))
        c.name(lname, f"{where} ({name}) name")
        where = f"layer {i} ({name} {lname[:60]!r})"
        if "name" in entry and entry["name"] != lname:
            c.fail(f"{where} has two different names")
        if lname in seen:
            c.fail(f"{where} reuses the name of an earlier layer; layer names must be unique")
        if cfg.get("dtype") is not None and cfg["dtype"] not in FLOATX:
            c.fail(
                f"{where} has dtype {str(cfg['dtype'])[:40]!r}; expected one of {', '.join(FLOATX)}"
            )
        big = _big_int(cfg)
        if big is not None:
            c.fail(
                f"{where} has {big[0]!r} = {big[1]}; layer arguments above {MAX_CONFIG_INT:,} "
                "describe no model this library can run"
            )
        if "trainable" in cfg:
            c.typed(cfg["trainable"], (bool,), f"{where} 'trainable'", "true or false")
        if not sequential:
            inbound = entry.get("inbound_nodes", [])
            c.typed(inbound, (list,), f"{where} 'inbound_nodes'", "a list of layer names")
            for src in inbound:
                if not isinstance(src, str) or src not in seen:
                    c.fail(f"{where} reads from {str(src)[:60]!r}, which is not an earlier layer")
            if not inbound and name != "InputLayer":
                c.fail(f"{where} has no inbound layers, but only an InputLayer may start a graph")
            if inbound and name == "InputLayer":
                c.fail(f"{where} is an InputLayer with inbound layers")
            if "multi" in entry:
                c.typed(entry["multi"], (bool,), f"{where} 'multi'", "true or false")
            if len(inbound) > 1 and not entry.get("multi"):
                c.fail(f"{where} reads {len(inbound)} layers but is not marked multi")
        seen[lname] = name

    if sequential:
        shape = inner.get("build_input_shape")
        if shape is not None:
            c.typed(shape, (list,), "'build_input_shape'", "a list")
            if (
                not shape
                or len(shape) > 8
                or not all(
                    d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 1)
                    for d in shape
                )
            ):
                c.fail(
                    f"has build_input_shape {str(shape)[:60]}; expected 1 to 8 positive "
                    "integers or nulls"
                )
    else:
        for key in ("input_layers", "output_layers"):
            names = inner[key]
            c.typed(names, (list,), f"the model's {key!r}", "a list of layer names")
            if not names:
                c.fail(f"has an empty {key!r}")
            for n in names:
                if not isinstance(n, str) or n not in seen:
                    c.fail(f"names {str(n)[:60]!r} in {key!r}, but no layer has that name")
                if key == "input_layers" and seen[n] != "InputLayer":
                    c.fail(
                        f"names {n!r} in 'input_layers', but it is a {seen[n]}, not an InputLayer"
                    )
    if config.get("compile_config") is not None:
        _check_compile(c, config["compile_config"])


def _check_serialized(c: _Checker, value, where: str):
    """A ``{"module", "class_name", "config", "registered_name"}`` object (names, never imports)."""
    c.keys(value, _SERIALIZED_KEYS, where, required=("class_name",))
    c.typed(value["class_name"], (str,), f"{where} class_name", "a string")
    if value.get("config") is not None:
        c.obj(value["config"], f"{where} config")
    module = value.get("module")
    # Informational only (nothing is imported), but a file naming another module is not ours.
    if module is not None and (
        not isinstance(module, str) or not module.startswith(("keras.", "filterbank."))
    ):
        c.fail(f"has {where} module {str(module)[:60]!r}; expected a keras.* or filterbank.* name")
    if value.get("registered_name") is not None:
        c.typed(value["registered_name"], (str,), f"{where} registered_name", "a string or null")


def _check_leaf(c: _Checker, value, where: str, depth: int = 0):
    if value is None or isinstance(value, str):
        return
    if isinstance(value, list) and depth < 2:
        for i, v in enumerate(value):
            _check_leaf(c, v, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, dict) and "class_name" in value:
        _check_serialized(c, value, where)
        return
    if isinstance(value, dict) and depth < 2:  # one entry per named output
        for k, v in value.items():
            _check_leaf(c, v, f"{where}[{k[:40]!r}]", depth + 1)
        return
    c.fail(f"has {where} = {_kind(value)}; expected a name or a {{'class_name', 'config'}} object")


def _check_compile(c: _Checker, cc):
    c.keys(cc, _COMPILE_KEYS, "'compile_config'")
    opt = cc.get("optimizer")
    if opt is not None and not isinstance(opt, str):
        _check_serialized(c, opt, "the compile optimizer")
    _check_leaf(c, cc.get("loss"), "the compile loss")
    _check_leaf(c, cc.get("metrics"), "the compile metrics")
    weights = cc.get("loss_weights")
    items = (
        weights
        if isinstance(weights, list)
        else (list(weights.values()) if isinstance(weights, dict) else [weights])
    )
    for w in items:
        if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float))):
            c.fail(f"has a loss weight {_kind(w)}; expected numbers")
