"""``export_model(model, path)``: a filterbank model as an ONNX file.

The graph takes channels-last input by default (as the model does) and transposes to NCHW
inside the graph once, before the first convolution; ``channels_first=True`` declares NCHW
inputs (and outputs of rank >= 3) instead. The batch axis is dynamic (named ``"batch"``);
"same" padding becomes explicit ``pads`` (never ``SAME_UPPER``: several runtimes place the odd
cell differently); Flatten keeps Keras's channels-last order. Weights are stored as float32.

Example:
    >>> import os, tempfile
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> from filterbank.onnx import export_model
    >>> m = keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(2, 3), layers.Flatten(),
    ...                       layers.Dense(3, activation="softmax")])
    >>> path = export_model(m, os.path.join(tempfile.mkdtemp(), "m.onnx"))
    >>> import onnx
    >>> [node.op_type for node in onnx.load(path).graph.node]
    ['Transpose', 'Conv', 'Transpose', 'Flatten', 'Gemm', 'Softmax', 'Identity']
"""

from __future__ import annotations

import os

from ._builder import GraphBuilder, Value
from .converters import CONVERTERS

MIN_OPSET = 13
MAX_OPSET = 21


def require_onnx(what: str = "ONNX export"):
    """Import and return the ``onnx`` package, or raise ImportError saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise ImportError(
            f"{what} needs the 'onnx' package: pip install 'filterbank[onnx]' "
            "(or pip install onnx)."
        ) from None
    return onnx


def _graph_layers(model) -> list:
    """Every layer reachable from the outputs, producers before consumers (public API only)."""
    order, seen = [], set()
    for out in model.outputs:
        stack = [(out.node.layer, False)]
        while stack:
            layer, expanded = stack.pop()
            if id(layer) in seen:
                continue
            if expanded:
                seen.add(id(layer))
                order.append(layer)
                continue
            stack.append((layer, True))
            if type(layer).__name__ != "InputLayer":
                ins = layer.input if isinstance(layer.input, list) else [layer.input]
                for t in reversed(ins):
                    if id(t.node.layer) not in seen:
                        stack.append((t.node.layer, False))
    return order


def _unsupported(layer) -> ValueError:
    cls = type(layer).__name__
    return ValueError(
        f"Layer '{layer.name}' ({cls}) has no ONNX converter, so the model cannot be exported. "
        f"Layers that export: {', '.join(sorted(CONVERTERS))}. To add one, register a converter "
        'in filterbank/onnx/converters.py (@register("' + cls + '")).'
    )


def build_onnx(model, opset: int = 17, channels_first: bool = False):
    """The ONNX ``ModelProto`` of ``model`` (checked with ``onnx.checker``); nothing is written."""
    onnx = require_onnx()
    from onnx import TensorProto, helper

    if not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(
            f"export: opset must be an int from {MIN_OPSET} to {MAX_OPSET}, got "
            f"{opset!r}. The default, 17, runs on every current runtime."
        )
    if not getattr(model, "built", False):
        raise ValueError(
            f"Model '{model.name}' is not built, so it has no shapes to export. "
            "Give it an input shape (keras.Input(shape=...)) or call model.build()."
        )
    layers = _graph_layers(model)
    for layer in layers:
        if type(layer).__name__ != "InputLayer" and type(layer).__name__ not in CONVERTERS:
            raise _unsupported(layer)
    b = GraphBuilder(opset)
    values: dict[int, Value] = {}
    graph_inputs = []
    for t in model.inputs:
        layer = t.node.layer
        shape = tuple(t.shape)
        layout = "first" if channels_first and len(shape) >= 3 else "last"
        onnx_shape = list(shape)
        if layout == "first":
            onnx_shape = [shape[0], shape[-1], *shape[1:-1]]
        name = b.fresh(layer.name)
        graph_inputs.append(
            helper.make_tensor_value_info(
                name, TensorProto.FLOAT, ["batch" if d is None else d for d in onnx_shape]
            )
        )
        values[id(layer)] = Value(name, shape, layout)
    for layer in layers:
        if id(layer) in values:
            continue
        ins = layer.input if isinstance(layer.input, list) else [layer.input]
        try:
            values[id(layer)] = CONVERTERS[type(layer).__name__](
                b, layer, [values[id(t.node.layer)] for t in ins]
            )
        except KeyError as e:  # an input that is not a model input nor a converted layer
            raise ValueError(
                f"Layer '{layer.name}' reads a tensor the export did not produce "
                f"({e}); is every input of the model in model.inputs?"
            ) from None
    graph_outputs = []
    for t in model.outputs:
        v = values[id(t.node.layer)]
        shape = tuple(t.shape)
        want = "first" if channels_first and len(shape) >= 3 else "last"
        src = b.in_layout(v, want)
        out_name = b.node("Identity", [src], f"{t.node.layer.name}_output")
        onnx_shape = [shape[0], shape[-1], *shape[1:-1]] if want == "first" else list(shape)
        graph_outputs.append(
            helper.make_tensor_value_info(
                out_name, TensorProto.FLOAT, ["batch" if d is None else d for d in onnx_shape]
            )
        )
    graph = helper.make_graph(b.nodes, model.name, graph_inputs, graph_outputs, b.initializers)
    from .. import __version__

    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="filterbank",
        producer_version=__version__,
    )
    # The oldest IR version that carries this opset, so older runtimes open the file too.
    proto.ir_version = helper.find_min_ir_version_for(list(proto.opset_import))
    meta = proto.metadata_props.add()
    meta.key, meta.value = "input_layout", "NCHW" if channels_first else "NHWC"
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_model(model, path, opset: int = 17, channels_first: bool = False) -> str:
    """Write ``model`` as an ONNX file at ``path``; returns the path.

    Args:
        model: a built filterbank ``Model`` or ``Sequential``.
        path: the ``.onnx`` file to write (replaced atomically).
        opset: ONNX opset, 13 to 21 (default 17).
        channels_first: declare NCHW inputs (and NCHW outputs of rank >= 3), as PyTorch
            models take; default False: NHWC, as the filterbank model takes.

    A layer class without a converter raises ValueError naming the layer and its class.

    Example:
        >>> # export_model(model, "mnist.onnx"); onnxruntime.InferenceSession("mnist.onnx")
    """
    from ..saving.atomic import atomic_write

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"export_model expects a file path, got {type(path).__name__}.")
    proto = build_onnx(model, opset=opset, channels_first=channels_first)
    data = proto.SerializeToString()
    path = os.fspath(path)
    atomic_write(path, lambda fp: fp.write(data))
    return path
