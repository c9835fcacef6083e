"""One function per ONNX op: ``fn(ctx, node) -> [value per output]`` (see importer.py).

A value is a NumPy array (a constant) or a :class:`Sym`: a filterbank tensor and how the ONNX
tensor relates to it (``"same"``, ``"cf"``: the ONNX tensor is the channels-first view, or a
flat index permutation ``perm`` with ``onnx_flat[i] == filterbank_flat[perm[i]]``).

Example:
    >>> all(name in OPS for name in ("Conv", "Gemm", "MatMul", "Transpose", "Flatten"))
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..saving.errors import file_error
from ._builder import to_first_perm, to_last_perm
from ._registry import registrar

OPS: dict = {}


@dataclass
class Sym:
    t: object  # KerasTensor
    rel: object = "same"  # "same" | "cf" | np.ndarray (flat permutation)
    bias_layer: object = None  # the Conv/Dense that produced t directly: an Add of a
    # per-channel constant folds into its bias (Keras's and tf2onnx's exports add biases apart)
    affine: object = None  # the BatchNormalization that produced t directly: Sub/Mul/Div/Add
    # by per-channel constants (Keras's exported batch norm) fold into its scale and shift


op = registrar(OPS)


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _bad(ctx, node, what):
    return file_error(
        ctx["path"],
        f"node {node.name!r} ({node.op_type}) {what}",
        "filterbank imports this op only in the forms Keras layers express.",
    )


def _sym(ctx, node, i=0) -> Sym:
    v = ctx["values"][node.input[i]]
    if not isinstance(v, Sym):
        raise _bad(ctx, node, f"has a constant as input {i}; expected a tensor from the inputs")
    return v


def _const(ctx, node, i) -> np.ndarray:
    if i >= len(node.input) or not node.input[i]:
        return None
    v = ctx["values"][node.input[i]]
    if isinstance(v, Sym):
        raise _bad(ctx, node, f"computes input {i} at run time; filterbank needs a constant")
    return v


# The window attributes Conv and the pools share (any value: _padding and the callers check).
_WINDOW_ATTRS = {
    "kernel_shape": None,
    "strides": None,
    "dilations": None,
    "pads": None,
    "auto_pad": None,
}


def _check_attrs(ctx, node, allowed: dict):
    """Refuse any attribute not in ``allowed`` (name -> accepted values, or None for any)."""
    for name, value in _attrs(node).items():
        if name not in allowed:
            raise _bad(ctx, node, f"has attribute {name!r}, which filterbank does not support")
        ok = allowed[name]
        if ok is not None and value not in ok:
            raise _bad(ctx, node, f"has {name}={value!r}; filterbank supports {ok}")


def _call(layer, sym: Sym, rel=None, weights=None) -> Sym:
    out = layer(sym.t)
    if weights is not None:
        layer.set_weights(weights)
    return Sym(out, sym.rel if rel is None else rel)


def _same_pads(sizes, kernel, strides, dil):
    begins, ends = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dil):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins + ends


def _padding(ctx, node, a, x: Sym, kernel, strides, dil, allow_causal=False):
    """ "valid", "same" or "causal" for these pads, or explicit ((t, b), (l, r)) to pad first."""
    rank = len(kernel)
    sizes = list(x.t.shape[1 : 1 + rank])
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto == "VALID":
        return "valid"
    if auto == "SAME_UPPER":  # the odd cell at the end: Keras's "same"
        return "same"
    if auto not in ("NOTSET", ""):
        raise _bad(ctx, node, f"has auto_pad={auto}")
    pads = list(a.get("pads", [0] * 2 * rank))
    if not any(pads):
        return "valid"
    if pads == _same_pads(sizes, kernel, strides, dil):
        return "same"
    if allow_causal and rank == 1 and pads == [(kernel[0] - 1) * dil[0], 0]:
        return "causal"
    if rank == 2 and min(pads) >= 0:
        return ((pads[0], pads[2]), (pads[1], pads[3]))
    raise _bad(ctx, node, f"has pads={pads}, which no Keras padding expresses")


def _need_cf(ctx, node, x: Sym):
    if x.rel != "cf":
        raise _bad(
            ctx, node, "reads a tensor that is not channels-first here (is a Transpose missing?)"
        )


@op("Conv")
def _conv(ctx, node):
    from .. import layers

    x = _sym(ctx, node)
    _need_cf(ctx, node, x)
    w, b = _const(ctx, node, 1), _const(ctx, node, 2)
    a = _attrs(node)
    _check_attrs(ctx, node, {**_WINDOW_ATTRS, "group": [1]})
    rank = w.ndim - 2
    if rank not in (1, 2):
        raise _bad(ctx, node, f"is a {rank}D convolution; filterbank has Conv1D and Conv2D")
    kernel = list(w.shape[2:])
    strides = list(a.get("strides", [1] * rank))
    dil = list(a.get("dilations", [1] * rank))
    padding = _padding(ctx, node, a, x, kernel, strides, dil, allow_causal=True)
    if isinstance(padding, tuple):
        x = _call(layers.ZeroPadding2D(padding), x)
        padding = "valid"
    cls = layers.Conv2D if rank == 2 else layers.Conv1D
    layer = cls(w.shape[0], kernel, strides=strides, padding=padding, dilation_rate=dil)
    kernel_k = w.transpose(*range(2, 2 + rank), 1, 0)  # (out, in, k...) -> (k..., in, out)
    bias = b if b is not None else np.zeros(w.shape[0], w.dtype)
    return [replace(_call(layer, x, weights=[kernel_k, bias]), bias_layer=layer)]


@op("MaxPool", "AveragePool")
def _pool(ctx, node):
    from .. import layers

    x = _sym(ctx, node)
    _need_cf(ctx, node, x)
    a = _attrs(node)
    _check_attrs(
        ctx,
        node,
        {**_WINDOW_ATTRS, "ceil_mode": [0], "storage_order": [0], "count_include_pad": [0, 1]},
    )
    kernel = list(a["kernel_shape"])
    rank = len(kernel)
    if any(d != 1 for d in a.get("dilations", [1])):
        raise _bad(ctx, node, "has dilations; Keras pooling has none")
    strides = list(a.get("strides", [1] * rank))
    padding = _padding(ctx, node, a, x, kernel, strides, [1] * rank)
    avg = node.op_type == "AveragePool"
    if isinstance(padding, tuple) or (
        avg and padding == "same" and a.get("count_include_pad", 0) == 1
    ):
        raise _bad(ctx, node, f"pads in a way Keras pooling cannot ({a.get('pads')})")
    if rank not in (1, 2):
        raise _bad(ctx, node, f"pools over {rank} axes")
    cls = {
        (False, 2): layers.MaxPooling2D,
        (True, 2): layers.AveragePooling2D,
        (False, 1): layers.MaxPooling1D,
        (True, 1): layers.AveragePooling1D,
    }[(avg, rank)]
    return [_call(cls(kernel, strides=strides, padding=padding), x)]


@op("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(ctx, node):

    x = _sym(ctx, node)
    _need_cf(ctx, node, x)
    _check_attrs(ctx, node, {})
    rank = len(x.t.shape) - 2
    cls = global_pool_class(node.op_type == "GlobalAveragePool", rank)
    if cls is None:
        raise _bad(ctx, node, f"pools over {rank} axes")
    return [_call(cls(keepdims=True), x)]


def global_pool_class(average: bool, spatial_axes: int):
    """The Keras global pooling layer class (average or max, over 1 or 2 axes), or None."""
    from .. import layers

    return {
        (True, 2): layers.GlobalAveragePooling2D,
        (False, 2): layers.GlobalMaxPooling2D,
        (True, 1): layers.GlobalAveragePooling1D,
        (False, 1): layers.GlobalMaxPooling1D,
    }.get((average, spatial_axes))


def _flatten(ctx, node, x: Sym) -> Sym:
    from .. import layers

    if len(x.t.shape) == 2:
        return x
    out = _call(layers.Flatten(), x)
    if x.rel == "cf":
        shape = x.t.shape[1:]  # Keras (h, w, c): ONNX flattens (c, h, w)
        perm = (
            np.arange(int(np.prod(shape)))
            .reshape(shape)
            .transpose(len(shape) - 1, *range(len(shape) - 1))
            .ravel()
        )
        out.rel = "same" if np.array_equal(perm, np.arange(perm.size)) else perm
    elif x.rel != "same":
        raise _bad(ctx, node, "flattens an already permuted tensor")
    return out


@op("Flatten")
def _flatten_op(ctx, node):
    _check_attrs(ctx, node, {"axis": [1]})
    return [_flatten(ctx, node, _sym(ctx, node))]


@op("Reshape")
def _reshape(ctx, node):
    from .. import layers

    x = _sym(ctx, node)
    _check_attrs(ctx, node, {"allowzero": [0]})
    shape = _const(ctx, node, 1)
    if shape is None or shape.ndim != 1:
        raise _bad(ctx, node, "has no constant target shape")
    shape = [int(d) for d in shape]
    size = int(np.prod(x.t.shape[1:]))
    if (
        len(shape) == 2
        and (shape[1] in (-1, size))
        and shape[0] in (0, -1, 1)
        or (len(shape) == 2 and shape[0] == -1 and shape[1] == size)
    ):
        return [_flatten(ctx, node, x)]
    if x.rel != "same" and len(x.t.shape) >= 3:
        raise _bad(ctx, node, f"reshapes a channels-first tensor to {shape}")
    if shape[0] not in (0, -1) or any(d == 0 for d in shape[1:]):
        raise _bad(ctx, node, f"reshapes to {shape}; the first axis must stay the batch")
    return [_call(layers.Reshape(tuple(shape[1:])), x, rel="same")]


@op("Transpose")
def _transpose(ctx, node):
    x = _sym(ctx, node)
    _check_attrs(ctx, node, {"perm": None})
    perm = list(_attrs(node).get("perm", []))
    rank = len(x.t.shape)
    if rank >= 3 and x.rel == "same" and perm == to_first_perm(rank):
        return [replace(x, rel="cf")]
    if rank >= 3 and x.rel == "cf" and perm == to_last_perm(rank):
        return [replace(x, rel="same")]
    if perm == list(range(rank)):
        return [x]
    raise _bad(ctx, node, f"has perm={perm}; only moves of the channel axis fold away")


def _gemm_weights(ctx, node, x: Sym, w: np.ndarray) -> np.ndarray:
    if isinstance(x.rel, np.ndarray):  # rows follow ONNX's channels-first flatten order
        out = np.empty_like(w)
        out[x.rel] = w
        return out
    if x.rel != "same" and len(x.t.shape) >= 3:
        raise _bad(ctx, node, "multiplies a channels-first tensor")
    return w


@op("Gemm")
def _gemm(ctx, node):
    from .. import layers

    x = _sym(ctx, node)
    _check_attrs(ctx, node, {"alpha": None, "beta": None, "transA": [0], "transB": [0, 1]})
    a = _attrs(node)
    w, c = _const(ctx, node, 1), _const(ctx, node, 2)
    if w is None or w.ndim != 2:
        raise _bad(ctx, node, "has no constant 2D weight")
    w = (w.T if a.get("transB", 0) else w) * np.float32(a.get("alpha", 1.0))
    units = w.shape[1]
    bias = None
    if c is not None:
        if c.size not in (1, units):
            raise _bad(ctx, node, f"has a bias of shape {c.shape} for {units} units")
        bias = np.broadcast_to(c.reshape(-1), (units,)) * np.float32(a.get("beta", 1.0))
    layer = layers.Dense(units, use_bias=bias is not None)
    w = _gemm_weights(ctx, node, x, w)
    return [_call(layer, x, rel="same", weights=[w] + ([bias] if bias is not None else []))]


@op("MatMul")
def _matmul(ctx, node):
    from .. import layers

    x = _sym(ctx, node)
    _check_attrs(ctx, node, {})
    w = _const(ctx, node, 1)
    if w is None or w.ndim != 2:
        raise _bad(ctx, node, "has no constant 2D weight")
    layer = layers.Dense(w.shape[1])
    out = _call(
        layer,
        x,
        rel="same",
        weights=[_gemm_weights(ctx, node, x, w), np.zeros(w.shape[1], w.dtype)],
    )
    return [replace(out, bias_layer=layer)]


@op("Add", "Sum")
def _add(ctx, node):
    from .. import layers

    _check_attrs(ctx, node, {})
    vals = [ctx["values"][n] for n in node.input]
    consts = [v for v in vals if not isinstance(v, Sym)]
    syms = [v for v in vals if isinstance(v, Sym)]
    if consts and len(consts) == len(vals):
        return [np.asarray(sum(consts))]
    from .import_fold import _affine, _fold_bias

    if (
        consts
        and len(syms) == 1
        and len(consts) == 1
        and syms[0].affine is None
        and (syms[0].bias_layer is not None)
    ):  # Conv/MatMul + Add: that layer's bias
        return [_fold_bias(ctx, node, syms, consts)]
    if consts and len(syms) == 1 and len(consts) == 1:
        return [_affine(ctx, node, syms[0], consts[0], "add")]
    rels = {id(s.rel) if isinstance(s.rel, np.ndarray) else s.rel for s in syms}
    if len(rels) != 1:
        raise _bad(ctx, node, "adds tensors whose layouts differ")
    if len(syms) == 1:
        return [syms[0]]
    return [Sym(layers.Add()([s.t for s in syms]), syms[0].rel)]


@op("Concat")
def _concat(ctx, node):
    from .. import layers

    _check_attrs(ctx, node, {"axis": None})
    vals = [ctx["values"][n] for n in node.input]
    if not any(isinstance(v, Sym) for v in vals):
        return [
            np.concatenate(
                [np.asarray(v).reshape(-1) if np.ndim(v) == 0 else v for v in vals],
                axis=int(_attrs(node)["axis"]),
            )
        ]
    syms = [_sym(ctx, node, i) for i in range(len(node.input))]
    rels = {s.rel if isinstance(s.rel, str) else "perm" for s in syms}
    if len(rels) != 1 or "perm" in rels:
        raise _bad(ctx, node, "concatenates tensors whose layouts differ")
    rank = len(syms[0].t.shape)
    axis = int(_attrs(node)["axis"]) % rank
    if syms[0].rel == "cf" and rank >= 3:
        axis = to_first_perm(rank)[axis]
    return [Sym(layers.Concatenate(axis=axis)([s.t for s in syms]), syms[0].rel)]


@op("Relu", "Sigmoid", "Tanh")
def _simple(ctx, node):
    from .. import layers

    _check_attrs(ctx, node, {})
    return [_call(layers.Activation(node.op_type.lower()), _sym(ctx, node))]


@op("Gelu")
def _gelu(ctx, node):
    from .. import layers

    _check_attrs(ctx, node, {"approximate": [b"none", "none"]})
    return [_call(layers.Activation("gelu"), _sym(ctx, node))]


@op("LeakyRelu")
def _leaky(ctx, node):
    from .. import layers

    _check_attrs(ctx, node, {"alpha": None})
    return [
        _call(
            layers.LeakyReLU(negative_slope=float(_attrs(node).get("alpha", 0.01))), _sym(ctx, node)
        )
    ]


@op("Elu")
def _elu(ctx, node):
    from .. import layers

    _check_attrs(ctx, node, {"alpha": [1.0]})
    return [_call(layers.Activation("elu"), _sym(ctx, node))]


@op("Softmax")
def _softmax(ctx, node):
    from .. import layers

    x = _sym(ctx, node)
    _check_attrs(ctx, node, {"axis": None})
    rank = len(x.t.shape)
    axis = int(_attrs(node).get("axis", -1 if ctx["opset"] >= 13 else 1)) % rank
    if ctx["opset"] < 13 and axis != rank - 1:
        raise _bad(ctx, node, "uses the opset < 13 softmax over several axes")
    if x.rel == "cf" and rank >= 3:
        axis = to_first_perm(rank)[axis]
    elif not isinstance(x.rel, str) and axis != rank - 1:
        raise _bad(ctx, node, "takes a softmax of a permuted tensor")
    return [_call(layers.Softmax(axis=axis), x)]


@op("BatchNormalization")
def _batch_norm(ctx, node):
    from .. import layers

    x = _sym(ctx, node)
    _check_attrs(
        ctx, node, {"epsilon": None, "momentum": None, "training_mode": [0], "spatial": [1]}
    )
    if len(x.t.shape) >= 3:
        _need_cf(ctx, node, x)
    gamma, beta, mean, var = (_const(ctx, node, i) for i in range(1, 5))
    if any(v is None for v in (gamma, beta, mean, var)):
        raise _bad(ctx, node, "lacks a constant scale, bias, mean or variance")
    layer = layers.BatchNormalization(epsilon=float(_attrs(node).get("epsilon", 1e-5)))
    return [_call(layer, x, weights=[gamma, beta, mean, var])] + [None] * (len(node.output) - 1)


@op("Pad")
def _pad(ctx, node):
    from .. import layers

    x = _sym(ctx, node)
    a = _attrs(node)
    _check_attrs(ctx, node, {"mode": [b"constant", "constant"], "pads": None, "value": [0.0]})
    pads = a.get("pads") if "pads" in a else _const(ctx, node, 1)
    value = _const(ctx, node, 2)
    if pads is None or (value is not None and float(np.asarray(value).reshape(-1)[0]) != 0.0):
        raise _bad(ctx, node, "pads with a non-zero or unknown value")
    if len(node.input) > 3 and node.input[3]:
        raise _bad(ctx, node, "pads selected axes")
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    if len(x.t.shape) != 4 or len(pads) != 8 or min(pads) < 0:
        raise _bad(
            ctx,
            node,
            f"has pads={pads}; filterbank pads the two spatial axes of images (ZeroPadding2D)",
        )
    order = to_first_perm(4) if x.rel == "cf" else [0, 1, 2, 3]
    begin = [pads[order.index(i)] for i in range(4)]
    end = [pads[4 + order.index(i)] for i in range(4)]
    if begin[0] or end[0] or begin[3] or end[3]:
        raise _bad(ctx, node, "pads the batch or channel axis")
    return [_call(layers.ZeroPadding2D(((begin[1], end[1]), (begin[2], end[2]))), x)]


@op("Identity", "Dropout")
def _identity(ctx, node):
    x = ctx["values"][node.input[0]]
    if not isinstance(x, Sym):  # an Identity of a constant is that constant
        return [x] + [None] * (len(node.output) - 1)
    if node.op_type == "Dropout":
        training = _const(ctx, node, 2)
        if training is not None and bool(np.asarray(training)):
            raise _bad(ctx, node, "runs in training mode")
    return [x] + [None] * (len(node.output) - 1)


@op("Constant")
def _constant(ctx, node):
    from .importer import tensor_array

    a = {at.name: at for at in node.attribute}
    if set(a) != {"value"}:
        raise _bad(ctx, node, f"has attributes {sorted(a)}; filterbank reads 'value' only")
    return [tensor_array(a["value"].t, ctx["path"])]


from . import import_fold  # noqa: E402,F401  (registers the folding ops)
