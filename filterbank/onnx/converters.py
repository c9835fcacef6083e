"""One small function per layer class turns a filterbank layer into ONNX nodes.

``CONVERTERS`` maps a layer class name to ``fn(b, layer, inputs) -> Value``: ``b`` is the
:class:`~filterbank.onnx._builder.GraphBuilder`, ``inputs`` the layer's input
:class:`~filterbank.onnx._builder.Value` list. A converter reads only the layer's public
surface (``get_config()``, ``get_weights()``, ``input`` / ``output`` shapes). Adding a layer
class is one decorated function::

    @register("Cropping2D")
    def _cropping2d(b, layer, inputs): ...

Example:
    >>> from filterbank.onnx.converters import CONVERTERS
    >>> "Conv2D" in CONVERTERS and "Dense" in CONVERTERS
    True
"""

from __future__ import annotations

import math

import numpy as np

from ._builder import GraphBuilder, Value, to_first_perm
from ._registry import registrar

CONVERTERS: dict = {}


# Decorator: the function converts layers of these class names.
register = registrar(CONVERTERS)


def _weights(layer) -> list[np.ndarray]:
    return [np.asarray(w, dtype=np.float32) for w in layer.get_weights()]


def _out_shape(layer) -> tuple:
    return tuple(layer.output.shape)


def _in_shape(layer) -> tuple:
    shape = layer.input.shape if not isinstance(layer.input, list) else layer.input[0].shape
    return tuple(shape)


# ---- activations ---------------------------------------------------------------------------
def activation(b: GraphBuilder, v: Value, name: str, hint: str) -> Value:
    """Apply the named Keras activation to ``v`` (any layout; softmax on the channel axis)."""
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
    if name == "linear":
        return v
    if name in simple:
        return Value(b.node(simple[name], [v.name], f"{hint}_{name}"), v.shape, v.layout)
    if name == "elu":
        return Value(b.node("Elu", [v.name], f"{hint}_elu", alpha=1.0), v.shape, v.layout)
    if name == "leaky_relu":
        from ..ops.activations import LEAKY_SLOPE

        return Value(
            b.node("LeakyRelu", [v.name], f"{hint}_leaky_relu", alpha=LEAKY_SLOPE),
            v.shape,
            v.layout,
        )
    if name == "gelu":
        if b.opset >= 20:
            return Value(b.node("Gelu", [v.name], f"{hint}_gelu"), v.shape, v.layout)
        # Exact GELU, x * 0.5 * (1 + erf(x / sqrt 2)), spelled out before opset 20.
        scaled = b.node(
            "Mul", [v.name, b.const(f"{hint}_inv_sqrt2", 1 / math.sqrt(2))], f"{hint}_gelu_scaled"
        )
        erf = b.node("Erf", [scaled], f"{hint}_gelu_erf")
        one = b.node("Add", [erf, b.const(f"{hint}_one", 1.0)], f"{hint}_gelu_1p")
        half = b.node("Mul", [one, b.const(f"{hint}_half", 0.5)], f"{hint}_gelu_phi")
        return Value(b.node("Mul", [v.name, half], f"{hint}_gelu"), v.shape, v.layout)
    if name == "softmax":
        return Value(b.node("Softmax", [b.last(v)], f"{hint}_softmax", axis=-1), v.shape, "last")
    raise ValueError(f"Activation {name!r} of layer {hint!r} has no ONNX conversion.")


def _layer_activation(b, layer, v: Value) -> Value:
    return activation(b, v, layer.get_config().get("activation", "linear"), layer.name)


# ---- padding -------------------------------------------------------------------------------
def same_pads(layer, sizes, kernel, strides, dilations) -> tuple[list[int], list[int]]:
    """Keras "same": total = max((ceil(n/s)-1)*s + (k-1)*d + 1 - n, 0), the odd cell at the end."""
    begins, ends = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dilations):
        if n is None:
            raise ValueError(
                f"Layer '{layer.name}' uses padding='same' on an axis of unknown size, and ONNX "
                "export writes explicit pads. Give the model a fixed input size "
                "(keras.Input(shape=(28, 28, 1)))."
            )
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins, ends


def _pads(layer, cfg, kernel, strides, dilations) -> list[int]:
    rank = len(kernel)
    padding = str(cfg.get("padding", "valid")).lower()
    if padding == "valid":
        return [0] * (2 * rank)
    if padding == "causal":
        return [(kernel[0] - 1) * dilations[0], 0]
    if padding == "same":
        sizes = _in_shape(layer)[1 : 1 + rank]
        begins, ends = same_pads(layer, sizes, kernel, strides, dilations)
        return begins + ends
    raise ValueError(
        f"Layer '{layer.name}' has padding={padding!r}, which ONNX export does "
        "not know; expected 'valid', 'same' or 'causal'."
    )


def _conv_node(b, layer, cfg, ins, name, group):
    """An ONNX Conv node with the layer's kernel size, strides, dilations and padding."""
    kernel, strides = list(cfg["kernel_size"]), list(cfg["strides"])
    dil = list(cfg.get("dilation_rate", (1,) * len(kernel)))
    return b.node(
        "Conv",
        ins,
        name,
        kernel_shape=kernel,
        strides=strides,
        dilations=dil,
        pads=_pads(layer, cfg, kernel, strides, dil),
        group=group,
    )


# ---- layers --------------------------------------------------------------------------------
@register("Conv1D", "Conv2D")
def _conv(b, layer, inputs):
    cfg = layer.get_config()
    (v,) = inputs
    rank = len(cfg["kernel_size"])
    w = _weights(layer)
    # Keras (k..., in, out) -> ONNX (out, in, k...)
    k = w[0].transpose(rank + 1, rank, *range(rank))
    ins = [b.first(v), b.const(f"{layer.name}_kernel", k)]
    if cfg.get("use_bias", True):
        ins.append(b.const(f"{layer.name}_bias", w[1]))
    y = _conv_node(b, layer, cfg, ins, layer.name, group=1)
    return _layer_activation(b, layer, Value(y, _out_shape(layer), "first"))


@register("Dense")
def _dense(b, layer, inputs):
    cfg = layer.get_config()
    (v,) = inputs
    w = _weights(layer)
    x = b.last(v)
    kernel = b.const(f"{layer.name}_kernel", w[0])
    if v.rank == 2:
        ins = [x, kernel] + (
            [b.const(f"{layer.name}_bias", w[1])] if cfg.get("use_bias", True) else []
        )
        y = b.node("Gemm", ins, layer.name)
    else:  # Keras's Dense acts on the last axis of any rank
        y = b.node("MatMul", [x, kernel], f"{layer.name}_matmul")
        if cfg.get("use_bias", True):
            y = b.node("Add", [y, b.const(f"{layer.name}_bias", w[1])], layer.name)
    return _layer_activation(b, layer, Value(y, _out_shape(layer), "last"))


@register("Activation")
def _activation(b, layer, inputs):
    return _layer_activation(b, layer, inputs[0])


@register("ReLU")
def _relu(b, layer, inputs):
    cfg = layer.get_config()
    (v,) = inputs
    slope, thr, top = (
        cfg.get("negative_slope", 0.0),
        cfg.get("threshold", 0.0),
        cfg.get("max_value"),
    )
    if slope == 0 and thr == 0:
        y = b.node("Relu", [v.name], layer.name)
    else:
        t = b.const(f"{layer.name}_threshold", thr)
        below = (
            b.node(
                "Mul",
                [
                    b.node("Sub", [v.name, t], f"{layer.name}_shift"),
                    b.const(f"{layer.name}_slope", slope),
                ],
                f"{layer.name}_below",
            )
            if slope
            else b.const(f"{layer.name}_zero", 0.0)
        )
        above = b.node("Greater", [v.name, t], f"{layer.name}_above")
        y = b.node("Where", [above, v.name, below], layer.name)
    if top is not None:
        y = b.node("Min", [y, b.const(f"{layer.name}_max", top)], f"{layer.name}_capped")
    return Value(y, v.shape, v.layout)


@register("LeakyReLU")
def _leaky_relu(b, layer, inputs):
    (v,) = inputs
    slope = float(layer.get_config().get("negative_slope", 0.3))
    return Value(b.node("LeakyRelu", [v.name], layer.name, alpha=slope), v.shape, v.layout)


@register("Softmax")
def _softmax(b, layer, inputs):
    (v,) = inputs
    axis = layer.get_config().get("axis", -1)
    x = b.last(v)
    if isinstance(axis, int):
        return Value(b.node("Softmax", [x], layer.name, axis=int(axis)), v.shape, "last")
    # Several axes at once: exp(x - max) / sum, reduced over the axes (as Keras).
    axes = [int(a) % v.rank for a in axis]
    mx = _reduce(b, "ReduceMax", x, axes, f"{layer.name}_max")
    e = b.node("Exp", [b.node("Sub", [x, mx], f"{layer.name}_shift")], f"{layer.name}_exp")
    s = _reduce(b, "ReduceSum", e, axes, f"{layer.name}_sum")
    return Value(b.node("Div", [e, s], layer.name), v.shape, "last")


def _reduce(b, op, x, axes, hint, keepdims=1):
    # Axes became an input of ReduceSum at opset 13 and of the other reductions at opset 18.
    if op == "ReduceSum" or b.opset >= 18:
        return b.node(op, [x, b.const(f"{hint}_axes", axes, np.int64)], hint, keepdims=keepdims)
    return b.node(op, [x], hint, axes=axes, keepdims=keepdims)


@register("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D")
def _pool(b, layer, inputs):
    cfg = layer.get_config()
    (v,) = inputs
    kernel = list(cfg["pool_size"])
    strides = list(cfg.get("strides") or kernel)
    pads = _pads(layer, cfg, kernel, strides, [1] * len(kernel))
    attrs = dict(kernel_shape=kernel, strides=strides, pads=pads)
    if type(layer).__name__.startswith("Max"):
        y = b.node("MaxPool", [b.first(v)], layer.name, **attrs)
    else:  # Keras's "same" average divides by the number of real cells
        y = b.node("AveragePool", [b.first(v)], layer.name, count_include_pad=0, **attrs)
    return Value(y, _out_shape(layer), "first")


@register(
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D"
)
def _global_pool(b, layer, inputs):
    (v,) = inputs
    # A reduction over the spatial axes of whichever layout the tensor has: no transpose.
    op = "ReduceMax" if "Max" in type(layer).__name__ else "ReduceMean"
    axes = list(range(2, v.rank)) if v.layout == "first" else list(range(1, v.rank - 1))
    keep = bool(layer.get_config().get("keepdims", False))
    y = _reduce(b, op, v.name, axes, layer.name, keepdims=int(keep))
    return Value(y, _out_shape(layer), v.layout if keep else "last")


@register("Flatten")
def _flatten(b, layer, inputs):
    (v,) = inputs
    # Keras flattens in channels-last order: transpose back first when the tensor is NCHW.
    return Value(b.node("Flatten", [b.last(v)], layer.name, axis=1), _out_shape(layer), "last")


@register("Reshape")
def _reshape(b, layer, inputs):
    (v,) = inputs
    target = [int(d) for d in layer.get_config()["target_shape"]]
    shape = b.const(f"{layer.name}_shape", [0, *target], np.int64)  # 0 keeps the batch size
    return Value(b.node("Reshape", [b.last(v), shape], layer.name), _out_shape(layer), "last")


@register("ZeroPadding2D")
def _zero_padding(b, layer, inputs):
    (v,) = inputs
    (t, bottom), (left, r) = layer.get_config()["padding"]
    if v.layout == "first":
        pads = [0, 0, t, left, 0, 0, bottom, r]
    else:
        pads = [0, t, left, 0, 0, bottom, r, 0]
    y = b.node(
        "Pad", [v.name, b.const(f"{layer.name}_pads", pads, np.int64)], layer.name, mode="constant"
    )
    return Value(y, _out_shape(layer), v.layout)


@register("Dropout")
def _dropout(b, layer, inputs):
    (v,) = inputs  # inference: dropout does nothing
    return Value(b.node("Identity", [v.name], layer.name), v.shape, v.layout)


@register("BatchNormalization")
def _batch_norm(b, layer, inputs):
    cfg = layer.get_config()
    (v,) = inputs
    params = dict(zip(layer.params, _weights(layer)))
    c = params["moving_mean"].shape[0]
    gamma = params.get("gamma", np.ones(c, np.float32))
    beta = params.get("beta", np.zeros(c, np.float32))
    mean, var, eps = params["moving_mean"], params["moving_variance"], float(cfg["epsilon"])
    axis = int(cfg.get("axis", -1)) % v.rank
    if axis == v.rank - 1:
        ins = [b.first(v)] + [
            b.const(f"{layer.name}_{n}", a)
            for n, a in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var))
        ]
        y = b.node("BatchNormalization", ins, layer.name, epsilon=eps)
        return Value(y, v.shape, "first" if v.rank >= 3 else "last")
    # Another axis: the same affine map as constants broadcast along that axis.
    scale = (gamma / np.sqrt(var.astype(np.float64) + eps)).astype(np.float32)
    shift = (beta - mean * scale).astype(np.float32)
    shape = [1] * v.rank
    shape[axis] = c
    y = b.node(
        "Mul",
        [b.last(v), b.const(f"{layer.name}_scale", scale.reshape(shape))],
        f"{layer.name}_scaled",
    )
    y = b.node("Add", [y, b.const(f"{layer.name}_shift", shift.reshape(shape))], layer.name)
    return Value(y, v.shape, "last")


@register("Add")
def _add(b, layer, inputs):
    layout = inputs[0].layout
    names = [b.in_layout(v, layout) for v in inputs]
    return Value(b.node("Sum", names, layer.name), _out_shape(layer), layout)


@register("Concatenate")
def _concatenate(b, layer, inputs):
    rank = inputs[0].rank
    axis = int(layer.get_config().get("axis", -1)) % rank
    layout = inputs[0].layout if rank >= 3 else "last"
    names = [b.in_layout(v, layout) for v in inputs]
    onnx_axis = to_first_perm(rank).index(axis) if layout == "first" else axis
    return Value(b.node("Concat", names, layer.name, axis=onnx_axis), _out_shape(layer), layout)


from . import converters_more  # noqa: E402,F401  (registers the other branches' layer classes)
