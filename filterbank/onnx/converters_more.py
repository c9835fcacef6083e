"""Converters for the layer classes other branches add (issue #11), keyed by Keras class name.

They read only what Keras 3 defines for each class -- ``get_config()`` keys and the
``get_weights()`` order and layouts (DepthwiseConv2D kernel ``(kh, kw, in, multiplier)``,
SeparableConv2D ``[depthwise, pointwise (1, 1, in*m, out), bias]``, Conv2DTranspose kernel
``(kh, kw, out, in)``) -- so a filterbank layer with Keras's config and weights exports as
soon as it exists. Each is tested against real Keras layers standing in for them
(tests/onnx/test_onnx_converters_more.py). Augmentation layers and spatial dropout are the
identity at inference, as in Keras.

Example:
    >>> from filterbank.onnx.converters import CONVERTERS
    >>> "DepthwiseConv2D" in CONVERTERS and "RandomFlip" in CONVERTERS
    True
"""

from __future__ import annotations

import numpy as np

from ._builder import Value, to_first_perm
from .converters import (
    _conv_node,
    _in_shape,
    _layer_activation,
    _out_shape,
    _reduce,
    _weights,
    register,
)

INFERENCE_IDENTITY = (
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "RandomContrast",
    "RandomBrightness",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
)


@register(*INFERENCE_IDENTITY)
def _inference_identity(b, layer, inputs):
    (v,) = inputs
    return Value(b.node("Identity", [v.name], layer.name), v.shape, v.layout)


@register("Rescaling")
def _rescaling(b, layer, inputs):
    (v,) = inputs
    cfg = layer.get_config()
    scale = np.asarray(cfg.get("scale", 1.0), np.float32)
    offset = np.asarray(cfg.get("offset", 0.0), np.float32)
    x = b.last(v) if scale.ndim or offset.ndim else v.name  # per-channel: channels last
    layout = "last" if scale.ndim or offset.ndim else v.layout
    y = b.node("Mul", [x, b.const(f"{layer.name}_scale", scale)], f"{layer.name}_scaled")
    y = b.node("Add", [y, b.const(f"{layer.name}_offset", offset)], layer.name)
    return Value(y, v.shape, layout)


# ---- merges --------------------------------------------------------------------------------
def _merge(b, layer, inputs, op):
    layout = inputs[0].layout
    names = [b.in_layout(v, layout) for v in inputs]
    return Value(b.node(op, names, layer.name), _out_shape(layer), layout)


@register("Subtract")
def _subtract(b, layer, inputs):
    return _merge(b, layer, inputs, "Sub")


@register("Maximum")
def _maximum(b, layer, inputs):
    return _merge(b, layer, inputs, "Max")


@register("Minimum")
def _minimum(b, layer, inputs):
    return _merge(b, layer, inputs, "Min")


@register("Multiply")
def _multiply(b, layer, inputs):
    layout = inputs[0].layout
    names = [b.in_layout(v, layout) for v in inputs]
    y = names[0]
    for i, n in enumerate(names[1:]):
        y = b.node("Mul", [y, n], layer.name if i == len(names) - 2 else f"{layer.name}_{i}")
    return Value(y, _out_shape(layer), layout)


@register("Average")
def _average(b, layer, inputs):
    s = _merge(b, layer, inputs, "Sum")
    y = b.node(
        "Mul", [s.name, b.const(f"{layer.name}_inv_n", 1.0 / len(inputs))], f"{layer.name}_mean"
    )
    return Value(y, s.shape, s.layout)


# ---- cropping, padding, upsampling ----------------------------------------------------------
def _spatial_axes(v: Value) -> list[int]:
    """ONNX axes of the spatial dims of ``v`` in its current layout."""
    r = v.rank
    return list(range(2, r)) if v.layout == "first" and r >= 3 else list(range(1, r - 1))


def _pairs(value, rank):
    if isinstance(value, int):
        return [(value, value)] * rank
    if rank == 1 and len(value) == 2 and all(isinstance(p, int) for p in value):
        return [tuple(value)]
    return [(p, p) if isinstance(p, int) else tuple(p) for p in value]


@register("Cropping1D", "Cropping2D")
def _cropping(b, layer, inputs):
    (v,) = inputs
    rank = v.rank - 2
    crops = _pairs(layer.get_config()["cropping"], rank)
    sizes = _in_shape(layer)[1 : 1 + rank]
    starts = [c[0] for c in crops]
    ends = [n - c[1] for n, c in zip(sizes, crops)]
    y = b.node(
        "Slice",
        [
            v.name,
            b.const(f"{layer.name}_starts", starts, np.int64),
            b.const(f"{layer.name}_ends", ends, np.int64),
            b.const(f"{layer.name}_axes", _spatial_axes(v), np.int64),
        ],
        layer.name,
    )
    return Value(y, _out_shape(layer), v.layout)


@register("ZeroPadding1D")
def _zero_padding1d(b, layer, inputs):
    (v,) = inputs
    ((left, right),) = _pairs(layer.get_config()["padding"], 1)
    axis = _spatial_axes(v)[0]
    pads = [0, 0, 0, 0, 0, 0]
    pads[axis], pads[3 + axis] = left, right
    y = b.node(
        "Pad", [v.name, b.const(f"{layer.name}_pads", pads, np.int64)], layer.name, mode="constant"
    )
    return Value(y, _out_shape(layer), v.layout)


# UpSampling's interpolation as ONNX Resize attributes. Nearest: each cell repeated, the
# floor of the scaled-down coordinate.
_RESIZE_MODES = {
    "nearest": {
        "mode": "nearest",
        "coordinate_transformation_mode": "asymmetric",
        "nearest_mode": "floor",
    },
    "bilinear": {"mode": "linear", "coordinate_transformation_mode": "half_pixel"},
}


@register("UpSampling1D", "UpSampling2D")
def _upsampling(b, layer, inputs):
    (v,) = inputs
    cfg = layer.get_config()
    rank = v.rank - 2
    size = cfg.get("size", 2)
    size = [size] * rank if isinstance(size, int) else list(size)
    interp = cfg.get("interpolation", "nearest")
    x = b.first(v)
    scales = b.const(f"{layer.name}_scales", [1.0, 1.0, *[float(s) for s in size]])
    if interp not in _RESIZE_MODES:
        raise ValueError(
            f"Layer '{layer.name}' uses interpolation={interp!r}; ONNX export "
            "supports 'nearest' and 'bilinear'."
        )
    y = b.node("Resize", [x, "", scales], layer.name, **_RESIZE_MODES[interp])
    return Value(y, _out_shape(layer), "first")


# ---- convolutions ---------------------------------------------------------------------------
def _depthwise_kernel(w):
    """Keras's depthwise kernel (kh, kw, in, mult) as ONNX's grouped (in*mult, 1, kh, kw)."""
    kh, kw, cin, mult = w.shape
    # output channel c*mult + m reads input channel c (ONNX groups are consecutive)
    return w.reshape(kh, kw, cin * mult).transpose(2, 0, 1)[:, None]


@register("DepthwiseConv2D")
def _depthwise(b, layer, inputs):
    (v,) = inputs
    cfg = layer.get_config()
    w = _weights(layer)
    ins = [b.first(v), b.const(f"{layer.name}_kernel", _depthwise_kernel(w[0]))]
    if cfg.get("use_bias", True):
        ins.append(b.const(f"{layer.name}_bias", w[1]))
    y = _conv_node(b, layer, cfg, ins, layer.name, group=w[0].shape[2])
    return _layer_activation(b, layer, Value(y, _out_shape(layer), "first"))


@register("SeparableConv2D")
def _separable(b, layer, inputs):
    (v,) = inputs
    cfg = layer.get_config()
    w = _weights(layer)
    dk = b.const(f"{layer.name}_depthwise", _depthwise_kernel(w[0]))
    d = _conv_node(b, layer, cfg, [b.first(v), dk], f"{layer.name}_depthwise", w[0].shape[2])
    pk = w[1].transpose(3, 2, 0, 1)  # (1, 1, in*m, out) -> (out, in*m, 1, 1)
    ins = [d, b.const(f"{layer.name}_pointwise", pk)]
    if cfg.get("use_bias", True):
        ins.append(b.const(f"{layer.name}_bias", w[2]))
    y = b.node("Conv", ins, layer.name, kernel_shape=[1, 1])
    return _layer_activation(b, layer, Value(y, _out_shape(layer), "first"))


def transpose_pads(k, s, d, padding, output_padding):
    """Keras's (TensorFlow's) transposed-convolution padding as ONNX pads + output_padding.

    In Keras a transposed convolution is the input dilated by the stride, padded by
    (left, right) and correlated with the kernel; ONNX starts from the full output and crops
    ``k_eff - 1 - left`` / ``k_eff - 1 - right`` (a negative crop is output_padding).
    """
    ke = (k - 1) * d + 1
    if padding == "valid":
        op = max(ke, s) - ke if output_padding is None else output_padding
        left, right = ke - 1, ke - 1 + op
    else:
        pad_len = s + ke - 2 if output_padding is None else ke + ke % 2 - 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, ke - 1)
        right = pad_len - left
    begin, end = ke - 1 - left, ke - 1 - right
    return begin, max(end, 0), max(-end, 0)


@register("Conv1DTranspose", "Conv2DTranspose")
def _conv_transpose(b, layer, inputs):
    (v,) = inputs
    cfg = layer.get_config()
    w = _weights(layer)
    kernel = list(cfg["kernel_size"])
    rank = len(kernel)
    strides = list(cfg["strides"])
    dil = list(cfg.get("dilation_rate", [1] * rank))
    outpad = cfg.get("output_padding")
    outpad = (
        [None] * rank
        if outpad is None
        else ([outpad] * rank if isinstance(outpad, int) else list(outpad))
    )
    begins, ends, extra = [], [], []
    for k, s, d, op in zip(kernel, strides, dil, outpad):
        bg, en, ex = transpose_pads(k, s, d, str(cfg.get("padding", "valid")).lower(), op)
        begins.append(bg)
        ends.append(en)
        extra.append(ex)
    # Keras (k..., out, in) -> ONNX ConvTranspose (in, out, k...)
    k_onnx = w[0].transpose(rank + 1, rank, *range(rank))
    ins = [b.first(v), b.const(f"{layer.name}_kernel", k_onnx)]
    if cfg.get("use_bias", True):
        ins.append(b.const(f"{layer.name}_bias", w[1]))
    y = b.node(
        "ConvTranspose",
        ins,
        layer.name,
        kernel_shape=kernel,
        strides=strides,
        dilations=dil,
        pads=begins + ends,
        output_padding=extra,
    )
    return _layer_activation(b, layer, Value(y, _out_shape(layer), "first"))


# ---- normalization -------------------------------------------------------------------------
@register("LayerNormalization")
def _layer_norm(b, layer, inputs):
    (v,) = inputs
    cfg = layer.get_config()
    axes = cfg.get("axis", -1)
    axes = sorted(int(a) % v.rank for a in (axes if isinstance(axes, (list, tuple)) else [axes]))
    eps = float(cfg.get("epsilon", 1e-3))
    w = _weights(layer)
    feat = [_in_shape(layer)[a] for a in axes]
    gamma = w.pop(0) if cfg.get("scale", True) else np.ones(feat, np.float32)
    beta = w.pop(0) if cfg.get("center", True) else np.zeros(feat, np.float32)
    x = b.last(v)
    trailing = axes == list(range(axes[0], v.rank))
    if trailing and b.opset >= 17:
        g = b.const(f"{layer.name}_gamma", gamma.reshape(feat))
        bt = b.const(f"{layer.name}_beta", beta.reshape(feat))
        y = b.node("LayerNormalization", [x, g, bt], layer.name, axis=axes[0], epsilon=eps)
        return Value(y, v.shape, "last")
    # Spelled out: (x - mean) / sqrt(var + eps) * gamma + beta over the axes.
    mean = _reduce(b, "ReduceMean", x, axes, f"{layer.name}_mean")
    xc = b.node("Sub", [x, mean], f"{layer.name}_centered")
    var = _reduce(
        b, "ReduceMean", b.node("Mul", [xc, xc], f"{layer.name}_sq"), axes, f"{layer.name}_var"
    )
    std = b.node(
        "Sqrt",
        [b.node("Add", [var, b.const(f"{layer.name}_eps", eps)], f"{layer.name}_var_eps")],
        f"{layer.name}_std",
    )
    shape = [1] * v.rank
    for a, n in zip(axes, feat):
        shape[a] = n
    y = b.node("Div", [xc, std], f"{layer.name}_normed")
    y = b.node(
        "Mul", [y, b.const(f"{layer.name}_gamma", gamma.reshape(shape))], f"{layer.name}_scaled"
    )
    y = b.node("Add", [y, b.const(f"{layer.name}_beta", beta.reshape(shape))], layer.name)
    return Value(y, v.shape, "last")


__all__ = ["INFERENCE_IDENTITY", "to_first_perm", "transpose_pads"]
