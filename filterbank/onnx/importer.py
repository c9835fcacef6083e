"""``load_model(path)``: an ONNX graph as an ordinary (channels-last) filterbank model.

Each ONNX tensor maps to a filterbank tensor plus how the two orders relate: ``"same"``,
``"cf"`` (the ONNX tensor is the channels-first view of the filterbank one, as everything in a
PyTorch graph is) or a flat permutation (PyTorch's Flatten of an NCHW map lists channels
first; Keras's lists them last, so the next Gemm's rows are permuted to match). Transpose
nodes that only move channels are folded away, so NHWC graphs from Keras / tf2onnx and NCHW
graphs from PyTorch both become plain NHWC models. ``model.onnx_input_layout`` records the
ONNX file's input layout ("NCHW" or "NHWC"); the filterbank model always takes NHWC.

Nothing is executed; the file is parsed by protobuf, never unpickled; external tensor data
(other files) is refused; every initializer's declared size is checked against the bytes it
holds; any defect, unsupported op or unsupported attribute raises
:class:`~filterbank.saving.ModelFileError` naming the node and its op.

Example:
    >>> # model = filterbank.onnx.load_model("resnet_small.onnx"); model.summary()
"""

from __future__ import annotations

import os

import numpy as np

from ..saving.errors import ModelFileError
from ..saving.errors import file_error as _file_error
from ._builder import to_first_perm, to_last_perm
from .import_fold import FOLD
from .import_ops import OPS, Sym

ONNX_DAMAGED = "The file is damaged or not a valid ONNX model."


def file_error(path, what, fix=ONNX_DAMAGED):
    return _file_error(path, what, fix)


def _read(path) -> bytes:
    from ..saving.archive import open_checked

    fp, size = open_checked(path)
    with fp:
        data = fp.read(size + 1)
    if len(data) != size:
        raise file_error(path, "it changed size while being read", None)
    return data


def _parse(data: bytes, path):
    from .export import require_onnx

    onnx = require_onnx("ONNX import")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError and friends
        raise file_error(
            path,
            f"it is not an ONNX model ({type(e).__name__}: {str(e)[:160]})",
            "The file is damaged or not ONNX.",
        ) from None
    if not proto.HasField("graph") or not proto.graph.node:
        raise file_error(path, "it holds no ONNX graph", "The file is damaged or not ONNX.")
    return proto


def tensor_array(t, path) -> np.ndarray:
    """An initializer / Constant tensor as NumPy, its declared size checked first."""
    from onnx import TensorProto, helper

    where = f"tensor {t.name[:80]!r}"
    if t.data_location == TensorProto.EXTERNAL or t.external_data:
        raise file_error(
            path,
            f"{where} keeps its data in another file",
            "filterbank reads self-contained ONNX files only.",
        )
    if any(d < 0 for d in t.dims) or len(t.dims) > 8:
        raise file_error(path, f"{where} declares shape {list(t.dims)}")
    allowed = {
        TensorProto.FLOAT: np.float32,
        TensorProto.DOUBLE: np.float64,
        TensorProto.FLOAT16: np.float16,
        TensorProto.INT64: np.int64,
        TensorProto.INT32: np.int32,
        TensorProto.BOOL: np.bool_,
    }
    if t.data_type not in allowed:
        raise file_error(
            path, f"{where} has data type {helper.tensor_dtype_to_string(t.data_type)}"
        )
    count = int(np.prod(list(t.dims), dtype=np.int64)) if t.dims else 1
    dtype = np.dtype(allowed[t.data_type])
    if t.raw_data:
        have = len(t.raw_data) // dtype.itemsize
    else:
        field = {
            TensorProto.FLOAT: t.float_data,
            TensorProto.DOUBLE: t.double_data,
            TensorProto.INT64: t.int64_data,
        }.get(t.data_type, t.int32_data)
        have = len(field)
    if have != count or (t.raw_data and len(t.raw_data) != count * dtype.itemsize):
        raise file_error(
            path, f"{where} declares {count:,} values of shape {list(t.dims)} but holds {have:,}"
        )
    from onnx import numpy_helper

    try:
        return np.array(numpy_helper.to_array(t))
    except Exception as e:
        raise file_error(path, f"{where} cannot be decoded ({type(e).__name__})") from None


def _input_shape(vi, path) -> list:
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
        raise file_error(path, f"graph input {vi.name!r} has no tensor shape")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
    if (
        len(dims) < 2
        or any(d is None or d < 1 for d in dims[1:])
        or any(d is not None and d > 1_000_000 for d in dims)
    ):
        raise file_error(
            path,
            f"graph input {vi.name!r} has shape {dims}; filterbank needs a "
            "batch axis and fixed positive sizes for the others",
        )
    return dims


def convert(proto, path):
    """Build the filterbank model for a parsed ONNX ``ModelProto``."""
    import filterbank as fb

    graph = proto.graph
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    opset = opsets.get("ai.onnx", 0)
    if not 7 <= opset <= 22:
        raise file_error(path, f"it uses ONNX opset {opset}; filterbank imports opsets 7 to 22")
    values: dict[str, object] = {}
    for init in graph.initializer:
        values[init.name] = tensor_array(init, path)
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    inputs, layouts = [], []
    for vi in graph.input:
        if vi.name in values:
            continue
        dims = _input_shape(vi, path)
        rank = len(dims)
        nhwc = rank < 3 or _looks_nhwc(vi.name, rank, consumers, proto)
        shape = dims[1:] if nhwc else [*dims[2:], dims[1]]
        t = fb.Input(shape=tuple(shape), name=_safe_name(vi.name, "input"))
        inputs.append(t)
        layouts.append("NHWC" if nhwc or rank < 3 else "NCHW")
        values[vi.name] = Sym(t, "same" if nhwc else "cf")
    if not inputs:
        raise file_error(path, "its graph has no inputs")
    ctx = {"path": path, "opset": opset, "values": values}
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise _unsupported(path, node, f"op domain {node.domain!r}")
        fn = OPS.get(node.op_type)
        ins = [values.get(n) if n else None for n in node.input]
        if (
            node.op_type in FOLD
            and node.input
            and all(
                not isinstance(v, Sym) and (v is not None or not n) for v, n in zip(ins, node.input)
            )
        ):
            fn = lambda ctx, node, _f=FOLD[node.op_type], _i=ins: _f(ctx, node, _i)  # noqa: E731
        if fn is None:
            raise _unsupported(path, node, "op")
        for name in node.input:
            if name and name not in values:
                raise file_error(
                    path,
                    f"node {node.name!r} ({node.op_type}) reads {name!r}, "
                    "which no earlier node produces",
                )
        try:
            outs = fn(ctx, node)
        except ModelFileError:
            raise
        except Exception as e:  # a layer refusing the settings, or a malformed node
            raise file_error(
                path,
                f"node {node.name!r} ({node.op_type}) cannot be converted "
                f"({type(e).__name__}: {str(e)[:300]})",
            ) from None
        for name, value in zip(node.output, outs):
            values[name] = value
    outputs = []
    for vi in graph.output:
        v = values.get(vi.name)
        if not isinstance(v, Sym):
            raise file_error(path, f"graph output {vi.name!r} is not computed from the inputs")
        if v.rel not in ("same", "cf"):
            raise file_error(
                path,
                f"graph output {vi.name!r} is an NCHW map flattened "
                "channels-first; filterbank's Flatten is channels-last",
            )
        outputs.append(v)
    if not outputs:
        raise file_error(path, "its graph has no outputs")
    try:
        model = fb.Model(
            inputs[0] if len(inputs) == 1 else inputs,
            outputs[0].t if len(outputs) == 1 else [o.t for o in outputs],
            name=_safe_name(graph.name or "onnx_model", "onnx_model"),
        )
    except (ValueError, TypeError) as e:  # e.g. an input no output depends on
        raise file_error(path, f"its graph cannot be wired as a model ({str(e)[:300]})") from None
    model.onnx_input_layout = layouts[0] if len(layouts) == 1 else layouts
    model.onnx_output_layout = [
        "NCHW" if o.rel == "cf" and len(o.t.shape) >= 3 else "as in ONNX" for o in outputs
    ]
    return model


_AGNOSTIC = {"Relu", "Sigmoid", "Tanh", "LeakyRelu", "Elu", "Gelu", "Identity", "Dropout"}
_CHANNELS_FIRST = {
    "Conv",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "BatchNormalization",
}


def _looks_nhwc(name, rank, consumers, proto) -> bool:
    """Whether a graph input of rank >= 3 is channels-last.

    The file's own ``input_layout`` metadata (filterbank writes it) decides; otherwise the
    first layout-aware op downstream: a Transpose to channels-first means NHWC (Keras,
    tf2onnx), a Conv / pool / BatchNormalization reading it directly means NCHW (PyTorch).
    """
    for p in proto.metadata_props:
        if p.key == "input_layout" and p.value in ("NHWC", "NCHW"):
            return p.value == "NHWC"
    frontier, seen = [name], set()
    while frontier:
        cur = frontier.pop(0)
        for n in consumers.get(cur, []):
            if id(n) in seen:
                continue
            seen.add(id(n))
            if n.op_type == "Transpose":
                return _perm(n) == to_first_perm(rank)
            if n.op_type in _CHANNELS_FIRST:
                return False
            if n.op_type in _AGNOSTIC:
                frontier.extend(o for o in n.output if o)
    return True


def _perm(node) -> list[int]:
    for a in node.attribute:
        if a.name == "perm":
            return list(a.ints)
    return []


def _safe_name(name: str, default: str) -> str:
    import re

    if isinstance(name, bytes):  # protobuf hands back invalid UTF-8 as bytes
        name = name.decode("utf-8", "replace")
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name or "")[:60].strip("_")
    return clean if clean and not clean[0].isdigit() else default


def _unsupported(path, node, what) -> ModelFileError:
    from .import_ops import OPS as ops

    return file_error(
        path,
        f"node {node.name!r} uses {what} {node.op_type!r}, which filterbank cannot import",
        f"Supported ops: {', '.join(sorted(ops))}.",
    )


def load_model(path):
    """Import the ONNX file at ``path`` as a filterbank model (uncompiled).

    Example:
        >>> # model = load_model("from_torch.onnx"); model.onnx_input_layout  -> "NCHW"
        >>> # model.predict(x_nhwc)   # filterbank models take NHWC: x_nchw.transpose(0, 2, 3, 1)
    """
    from .. import backend

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"onnx.load_model expects a file path, got {type(path).__name__}.")
    data = _read(path)
    proto = _parse(data, path)
    rng = backend.get_rng_state()
    try:
        return convert(proto, path)
    except ModelFileError:
        raise
    except Exception as e:  # whatever else a malformed graph trips: still one error class
        raise file_error(
            path, f"its graph cannot be imported ({type(e).__name__}: {str(e)[:200]})"
        ) from None
    finally:
        backend.set_rng_state(rng)


__all__ = ["load_model", "to_last_perm"]
