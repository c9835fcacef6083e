"""More ONNX ops for the importer: constants folded into layers, and constant arithmetic.

Exporters often write a layer as several ops: a Conv or MatMul and then an Add of the bias
(Keras 3, tf2onnx), batch norm as Sub/Mul/Add with per-channel constants (Keras 3), global
pooling as ReduceMean, a Flatten as Shape -> Gather -> Unsqueeze -> Concat -> Reshape, a pad
as a chain of constant reshapes (PyTorch's F.pad). Here they fold back into filterbank layers;
``FOLD`` holds the ops evaluated on constants only (bounded in size), never on tensors.

Example:
    >>> "ConstantOfShape" in FOLD and "ReduceMean" in OPS
    True
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..layers.base import weights_changed
from ._registry import registrar
from .import_ops import (
    OPS,
    Sym,
    _attrs,
    _bad,
    _call,
    _check_attrs,
    _const,
    _sym,
    global_pool_class,
    op,
)


def _fold_bias(ctx, node, syms, consts) -> Sym:
    x = syms[0]
    layer = x.bias_layer
    if layer is None or len(syms) != 1 or len(consts) != 1 or "bias" not in layer.params:
        raise _bad(ctx, node, "adds a constant that is not the bias of a Conv, Gemm or MatMul")
    c = np.asarray(consts[0])
    units = layer.params["bias"].shape[0]
    rank = len(x.t.shape)
    axis = 1 if (x.rel == "cf" and rank >= 3) else rank - 1  # the channel axis in ONNX order
    pos = c.ndim - (rank - axis)  # broadcasting aligns from the right
    ok = c.size == 1 or (c.size == units and 0 <= pos < c.ndim and c.shape[pos] == units)
    if not ok or c.ndim > rank:
        raise _bad(
            ctx,
            node,
            f"adds a constant of shape {c.shape}; a bias of {units} channels was expected",
        )
    bias = layer.params["bias"]
    layer.params["bias"][...] = bias + np.broadcast_to(c.reshape(-1), (units,)).astype(bias.dtype)
    weights_changed()
    return x


def _channel_vector(ctx, node, x: Sym, c) -> np.ndarray:
    """A constant that varies at most along the channel axis, as a (channels,) vector."""
    c = np.asarray(c, np.float64)
    rank = len(x.t.shape)
    units = x.t.shape[-1]
    axis = 1 if (x.rel == "cf" and rank >= 3) else rank - 1
    pos = c.ndim - (rank - axis)
    if c.size == 1 and c.ndim <= rank:
        return np.full(units, float(c.reshape(-1)[0]))
    if c.ndim <= rank and c.size == units and 0 <= pos < c.ndim and c.shape[pos] == units:
        return c.reshape(-1)
    raise _bad(
        ctx,
        node,
        f"combines a tensor with a constant of shape {c.shape}; filterbank "
        "folds per-channel constants only",
    )


def _affine(ctx, node, x: Sym, c, how: str) -> Sym:
    """x*scale + shift per channel, kept in one inference-only BatchNormalization layer."""
    from .. import layers

    if isinstance(x.rel, np.ndarray):
        raise _bad(ctx, node, "combines a permuted flat tensor with a constant")
    v = _channel_vector(ctx, node, x, c)
    layer = x.affine
    if layer is None:
        eps = 1e-3
        layer = layers.BatchNormalization(epsilon=eps)
        n = x.t.shape[-1]
        # variance 1 - eps: the layer divides by sqrt(var + eps) = 1
        x = replace(
            _call(
                layer,
                x,
                weights=[
                    np.ones(n, np.float32),
                    np.zeros(n, np.float32),
                    np.zeros(n, np.float32),
                    np.full(n, 1 - eps, np.float32),
                ],
            ),
            affine=layer,
            bias_layer=None,
        )
    gamma, beta = layer.params["gamma"], layer.params["beta"]
    if how == "add":
        beta[...] = beta + v
    elif how == "sub":
        beta[...] = beta - v
    elif how == "mul":
        gamma[...] = gamma * v
        beta[...] = beta * v
    else:  # div
        if np.any(v == 0):
            raise _bad(ctx, node, "divides by zero")
        gamma[...] = gamma / v
        beta[...] = beta / v
    weights_changed()
    return x


@op("Sub", "Mul", "Div")
def _arith(ctx, node):
    _check_attrs(ctx, node, {})
    a, b = (ctx["values"][n] for n in node.input)
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        fn = {"Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[node.op_type]
        return [fn(a, b)]
    if isinstance(a, Sym) and isinstance(b, Sym):
        raise _bad(ctx, node, "combines two computed tensors; filterbank has no such layer")
    if not isinstance(a, Sym):
        if node.op_type != "Mul":
            raise _bad(ctx, node, "has the constant on the left")
        a, b = b, a
    return [_affine(ctx, node, a, b, node.op_type.lower())]


@op("ReduceMean", "ReduceMax")
def _reduce_spatial(ctx, node):
    x = _sym(ctx, node)
    _check_attrs(ctx, node, {"axes": None, "keepdims": [0, 1], "noop_with_empty_axes": [0]})
    a = _attrs(node)
    axes = a.get("axes")
    if axes is None:
        axes = _const(ctx, node, 1)
    rank = len(x.t.shape)
    axes = sorted(int(i) % rank for i in np.asarray(axes).reshape(-1))
    spatial = list(range(2, rank)) if x.rel == "cf" else list(range(1, rank - 1))
    if axes != spatial or rank not in (3, 4):
        raise _bad(
            ctx, node, f"reduces axes {axes}; filterbank reduces the spatial axes (global pooling)"
        )
    keep = bool(a.get("keepdims", 1))
    cls = global_pool_class(node.op_type == "ReduceMean", rank - 2)
    out = _call(cls(keepdims=keep), x)
    return [out if keep else replace(out, rel="same")]


# ---- shape arithmetic and casts (as Keras's torch exporter writes a Flatten) ----------------
@op("Shape")
def _shape(ctx, node):
    x = _sym(ctx, node)
    _check_attrs(ctx, node, {})
    dims = list(x.t.shape[1:])
    if x.rel == "cf" and len(dims) >= 2:
        dims = [dims[-1], *dims[:-1]]
    return [np.array([-1, *dims], np.int64)]  # -1: the batch size, unknown until run time


def _consts(ctx, node):
    return [_const(ctx, node, i) for i in range(len(node.input))]


@op("Gather")
def _gather(ctx, node):
    _check_attrs(ctx, node, {"axis": None})
    data, idx = _consts(ctx, node)
    return [np.take(data, idx.astype(np.int64), axis=int(_attrs(node).get("axis", 0)))]


@op("Unsqueeze", "Squeeze")
def _unsqueeze(ctx, node):
    _check_attrs(ctx, node, {"axes": None})
    data = _const(ctx, node, 0)
    axes = _attrs(node).get("axes")
    if axes is None:
        axes = _const(ctx, node, 1)
    axes = tuple(int(a) for a in np.asarray(axes).reshape(-1))
    if node.op_type == "Squeeze":
        return [np.squeeze(data, axis=axes)]
    return [np.expand_dims(data, axes)]


@op("Cast")
def _cast(ctx, node):
    from onnx import TensorProto, helper

    _check_attrs(ctx, node, {"to": None, "saturate": None})
    to = int(_attrs(node)["to"])
    v = ctx["values"][node.input[0]]
    if isinstance(v, Sym):
        if to not in (TensorProto.FLOAT, TensorProto.DOUBLE):
            raise _bad(
                ctx,
                node,
                f"casts a tensor to {helper.tensor_dtype_to_string(to)}; "
                "filterbank computes in floats",
            )
        return [v]
    return [np.asarray(v).astype(helper.tensor_dtype_to_np_dtype(to))]


# ---- constant folding: shape arithmetic exporters leave behind (e.g. torch's F.pad) -----------
MAX_FOLDED = 1_000_000
FOLD: dict = {}


fold = registrar(FOLD)


@fold("ConstantOfShape")
def _fold_constant_of_shape(ctx, node, ins):
    from .importer import tensor_array

    shape = [int(d) for d in np.asarray(ins[0]).reshape(-1)]
    if any(d < 0 for d in shape) or int(np.prod(shape, dtype=np.int64)) > MAX_FOLDED:
        raise _bad(ctx, node, f"asks for a constant of shape {shape}")
    a = {at.name: at for at in node.attribute}
    value = (
        tensor_array(a["value"].t, ctx["path"]).reshape(-1)
        if "value" in a
        else np.zeros(1, np.float32)
    )
    return [np.full(shape, value[0], value.dtype)]


@fold("Reshape")
def _fold_reshape(ctx, node, ins):
    data, shape = np.asarray(ins[0]), [int(d) for d in np.asarray(ins[1]).reshape(-1)]
    shape = [data.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return [data.reshape(shape)]


@fold("Slice")
def _fold_slice(ctx, node, ins):
    data = np.asarray(ins[0])
    starts, ends = (np.asarray(v).reshape(-1) for v in ins[1:3])
    axes = (
        np.asarray(ins[3]).reshape(-1)
        if len(ins) > 3 and ins[3] is not None
        else range(len(starts))
    )
    steps = (
        np.asarray(ins[4]).reshape(-1) if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
    )
    index = [slice(None)] * data.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        index[int(ax)] = slice(
            int(max(min(s, 2**62), -(2**62))), int(max(min(e, 2**62), -(2**62))), int(st)
        )
    return [data[tuple(index)]]


@fold("Transpose")
def _fold_transpose(ctx, node, ins):
    perm = _attrs(node).get("perm")
    return [np.transpose(np.asarray(ins[0]), perm)]


__all__ = ["FOLD", "OPS"]
