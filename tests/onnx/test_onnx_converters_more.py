"""The converters for layers other branches add, checked with real Keras 3 layers standing in
for them (same config keys, weights and layouts): ONNX Runtime agrees with Keras's output."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
onnx = pytest.importorskip("onnx", reason="needs onnx")
ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime")
K = pytest.importorskip("keras", reason="real Keras 3 stands in for the new layer classes")
if K.backend.backend() != "torch":  # pragma: no cover
    pytest.skip("runs with KERAS_BACKEND=torch", allow_module_level=True)

from onnx import TensorProto, helper  # noqa: E402

from filterbank.onnx._builder import GraphBuilder, Value  # noqa: E402
from filterbank.onnx.converters import CONVERTERS  # noqa: E402


def _run(layer_fn, in_shapes, opset=17, channels_first_input=False, seed=0):
    rng = np.random.default_rng(seed)
    ins = [K.Input(s) for s in in_shapes]
    layer = layer_fn()
    out = layer(ins if len(ins) > 1 else ins[0])
    K.Model(ins, out)  # builds it
    ws = layer.get_weights()
    if ws:
        layer.set_weights(
            [
                rng.normal(0, 0.5, w.shape).astype("float32")
                if "variance" not in str(i)
                else rng.uniform(0.5, 2, w.shape).astype("float32")
                for i, w in enumerate(ws)
            ]
        )
    xs = [rng.normal(size=(3, *s)).astype("float32") for s in in_shapes]
    want = np.asarray(layer(xs if len(xs) > 1 else xs[0], training=False).detach().cpu().numpy())
    b = GraphBuilder(opset)
    values, graph_in = [], []
    for i, s in enumerate(in_shapes):
        v = Value(f"x{i}", (None, *s), "last")
        if channels_first_input and len(s) >= 2:  # start from an NCHW value too
            v = Value(b.first(v), (None, *s), "first")
        values.append(v)
        graph_in.append(helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, ["n", *s]))
    y = CONVERTERS[type(layer).__name__](b, layer, values)
    out_name = b.node("Identity", [b.last(y)], "y")
    graph = helper.make_graph(
        b.nodes,
        "g",
        graph_in,
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [])],
        b.initializers,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    proto.ir_version = helper.find_min_ir_version_for(list(proto.opset_import))
    onnx.checker.check_model(proto)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {f"x{i}": x for i, x in enumerate(xs)})[0]
    assert got.shape == want.shape
    scale = max(float(np.abs(want).max()), 1e-3)
    assert float(np.abs(got - want).max()) / scale < 1e-5, type(layer).__name__


L = K.layers
CASES = [
    (lambda: L.DepthwiseConv2D((3, 2), depth_multiplier=2, padding="same", strides=2), [(7, 6, 3)]),
    (lambda: L.DepthwiseConv2D(3, activation="relu", dilation_rate=2), [(9, 8, 2)]),
    (lambda: L.SeparableConv2D(4, (3, 3), depth_multiplier=2, padding="same"), [(6, 7, 3)]),
    (lambda: L.SeparableConv2D(3, 2, strides=2, activation="tanh"), [(7, 7, 2)]),
    (lambda: L.Conv2DTranspose(3, (3, 2), strides=2, padding="same"), [(4, 5, 2)]),
    (lambda: L.Conv2DTranspose(2, 3, strides=2, padding="valid"), [(4, 3, 3)]),
    (lambda: L.Conv2DTranspose(2, 4, strides=2, padding="same"), [(3, 3, 2)]),
    (lambda: L.Conv2DTranspose(2, 3, strides=1, padding="same", activation="relu"), [(5, 4, 2)]),
    (lambda: L.Conv1DTranspose(3, 3, strides=2, padding="same"), [(6, 2)]),
    (lambda: L.UpSampling2D((2, 3)), [(3, 4, 2)]),
    (lambda: L.UpSampling2D(2, interpolation="bilinear"), [(3, 4, 2)]),
    (lambda: L.UpSampling1D(3), [(4, 2)]),
    (lambda: L.Cropping2D(((1, 0), (2, 1))), [(5, 6, 2)]),
    (lambda: L.Cropping1D((1, 2)), [(7, 3)]),
    (lambda: L.ZeroPadding1D((2, 1)), [(4, 3)]),
    (lambda: L.LayerNormalization(), [(4, 5, 3)]),
    (lambda: L.LayerNormalization(axis=[2, 3], epsilon=1e-5, center=False), [(4, 5, 3)]),
    (lambda: L.Rescaling(1 / 255.0, offset=-0.5), [(4, 4, 3)]),
    (lambda: L.RandomFlip(), [(4, 4, 3)]),
    (lambda: L.SpatialDropout2D(0.5), [(4, 4, 3)]),
    (lambda: L.Subtract(), [(4, 3, 2), (4, 3, 2)]),
    (lambda: L.Multiply(), [(4, 3, 2)] * 3),
    (lambda: L.Average(), [(4, 3, 2)] * 2),
    (lambda: L.Maximum(), [(5,), (5,)]),
    (lambda: L.Minimum(), [(4, 3, 2)] * 2),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_converter_matches_keras(case):
    fn, shapes = CASES[case]
    _run(fn, shapes)
    _run(fn, shapes, channels_first_input=True)  # the layouts a graph may hand it


def test_layer_norm_before_opset_17():
    _run(lambda: L.LayerNormalization(), [(4, 5, 3)], opset=13)
    _run(lambda: L.LayerNormalization(axis=[2, 3], scale=False), [(4, 5, 3)], opset=15)
