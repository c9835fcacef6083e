"""What a layer saw and gave for one input: values read through the public model API.

Everything here runs a sub-model ``keras.Model(model.inputs, tensors)`` over the same
layers (never the engine's private state), so the values are the model's own, computed by
whatever kernels its prediction path uses (fused conv + pool, Winograd, ...).

Example:
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank.explain import values
    >>> keras.utils.clear_session()
    >>> model = keras.Sequential([keras.Input(shape=(3, 3, 1)), keras.layers.Conv2D(1, 2)])
    >>> x = values.one_sample(model, np.zeros((3, 3)))
    >>> x.shape
    (1, 3, 3, 1)
"""

from __future__ import annotations

import numpy as np

from ..errors import did_you_mean, fmt_shape
from ..layers.base import KerasTensor, Layer
from ..layers.input_layer import InputLayer


def _as_list(v):
    return list(v) if isinstance(v, (list, tuple)) else [v]


def resolve_layer(model, layer) -> Layer:
    """A layer of ``model`` from its name, its object or its position in ``model.layers``."""
    layers = [la for la in model.layers if not isinstance(la, InputLayer)]
    if isinstance(layer, Layer):
        if any(la is layer for la in model.layers):
            return layer
        raise ValueError(
            f"Layer '{layer.name}' is not a layer of model '{model.name}'. "
            "Pass one of model.layers or its name."
        )
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if not -len(layers) <= layer < len(layers):
            raise ValueError(
                f"Layer index {layer} is out of range: model '{model.name}' has "
                f"{len(layers)} layers after its input (0..{len(layers) - 1})."
            )
        return layers[int(layer)]
    if isinstance(layer, str):
        for la in model.layers:
            if la.name == layer:
                return la
        raise ValueError(
            f"No layer named {layer!r} in model '{model.name}'. "
            + did_you_mean(layer, [la.name for la in layers])
        )
    raise TypeError(
        f"layer expects a layer name, a layer of the model or an index, got "
        f"{type(layer).__name__} {layer!r}."
    )


def one_sample(model, x):
    """``x`` as a batch of one for ``model`` (a list for several inputs).

    Accepts one sample with or without the batch axis; a missing trailing channel axis of
    size 1 is added, as Keras does. A batch of several samples is refused with the fix.
    """
    shapes = [t.shape for t in model.inputs]
    xs = _as_list(x) if len(shapes) > 1 else [x]
    if len(xs) != len(shapes):
        raise ValueError(f"Model '{model.name}' has {len(shapes)} inputs, got {len(xs)} arrays.")
    out = []
    for arr, shape in zip(xs, shapes):
        a = np.asarray(arr)
        want = len(shape)
        if a.ndim == want - 2 and shape[-1] == 1:
            a = a[None, ..., None]
        elif a.ndim == want - 1:
            a = a[None]
        if a.ndim != want:
            raise ValueError(
                f"explain expects one sample of shape {fmt_shape(shape[1:])} (or with a batch "
                f"axis of 1) for model '{model.name}', got shape {fmt_shape(np.shape(arr))}."
            )
        if a.shape[0] != 1:
            raise ValueError(
                f"explain looks at one sample at a time, got a batch of {a.shape[0]} (shape "
                f"{fmt_shape(a.shape)}). Pass one of them, e.g. x[0]."
            )
        out.append(a)
    return out if len(shapes) > 1 else out[0]


def run_tensors(model, x, tensors):
    """The values of symbolic ``tensors`` (outputs of the model's layers) for batch ``x``."""
    tensors = list(tensors)
    inputs = model.inputs
    xs = _as_list(x) if len(inputs) > 1 else [x]
    result: list = [None] * len(tensors)
    wanted, where = [], []
    for k, t in enumerate(tensors):
        for i, inp in enumerate(inputs):
            if t is inp:
                result[k] = np.asarray(xs[i], dtype=inp.dtype)
                break
        else:
            wanted.append(t)
            where.append(k)
    if wanted:
        from ..models.functional import Model

        sub = Model(inputs if len(inputs) > 1 else inputs[0], wanted, name=f"{model.name}_explain")
        outs = sub(xs if len(inputs) > 1 else xs[0])
        for k, v in zip(where, outs):
            result[k] = np.asarray(v)
    return result


def layer_io(model, x, layer):
    """(inputs, output) of ``layer`` for batch ``x``: inputs is a list (one per input)."""
    ins = _as_list(layer.input)
    vals = run_tensors(model, x, [*ins, layer.output])
    return vals[:-1], vals[-1]


def input_layer_name(layer) -> list[str]:
    """Names of the layers whose outputs feed ``layer``."""
    return [t.node.layer.name for t in _as_list(layer.input) if isinstance(t, KerasTensor)]


def producer(tensor) -> Layer:
    return tensor.node.layer


def preactivation_layer(layer):
    """A copy of a kernel layer (Dense, Conv1D, Conv2D, ...) with a linear activation and the
    same weights: it computes the pre-activation ``z`` that the layer's own kernels fuse
    with the activation. None when the layer has no ``activation`` argument."""
    act = getattr(layer, "activation", None)
    if act is None or not hasattr(layer, "get_config") or "activation" not in layer.get_config():
        return None
    config = dict(layer.get_config())
    config.update(activation="linear", name=f"{layer.name}_preactivation")
    config.pop("batch_input_shape", None)
    clone = type(layer).from_config(config)
    clone.build(layer.input.shape)
    clone.set_weights(layer.get_weights())
    return clone
