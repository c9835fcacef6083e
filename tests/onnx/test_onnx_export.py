"""Exported ONNX graphs agree with model.predict under ONNX Runtime and the ONNX reference."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers, zoo
from tests.onnx.random_models import random_model, sample_input

onnx = pytest.importorskip("onnx", reason="ONNX export tests need onnx (pip install onnx)")
ort = pytest.importorskip(
    "onnxruntime", reason="ONNX export tests need onnxruntime (pip install onnxruntime)"
)

from onnx.reference import ReferenceEvaluator  # noqa: E402

from filterbank.onnx import build_onnx, export_model  # noqa: E402

TOL = 1e-5


def _rel_err(got, want):
    scale = max(float(np.abs(want).max()), 1e-3)
    return float(np.abs(got - want).max()) / scale


def _ort_run(proto, xs):
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), xs)})


def _check(model, batches=(1, 64), reference=True, seed=0, reference_batches=(1, 64)):
    proto = build_onnx(model)
    ref = ReferenceEvaluator(proto) if reference else None
    for batch in batches:
        xs = sample_input(model, batch, seed)
        want = model.predict(xs[0] if len(xs) == 1 else xs, verbose=0, batch_size=batch)
        got = _ort_run(proto, xs)[0]
        assert got.shape == want.shape
        assert _rel_err(got, want) < TOL, (model.name, batch, "onnxruntime")
        if ref is not None and batch in reference_batches:
            got = ref.run(None, {i.name: x for i, x in zip(proto.graph.input, xs)})[0]
            assert _rel_err(got, want) < TOL, (model.name, batch, "reference")


@pytest.mark.parametrize("name", zoo.names())
def test_seed_models_export(name):
    shape = (9, 9, 1) if name == "xo" else (28, 28, 1)
    model = zoo.build(name, shape, 10 if name != "xo" else 2)
    from tests.onnx.random_models import randomize_weights

    randomize_weights(model, np.random.default_rng(1))
    # The pure-Python reference takes seconds per 28x28 batch of 64: there, two of the four.
    _check(model, reference_batches=(1, 64) if name in ("xo", "seed-functional") else (1,))


def test_random_models_export():
    classes = set()
    for seed in range(120):
        model = random_model(seed)
        classes |= {type(layer).__name__ for layer in model.layers}
        _check(model, seed=seed)
    # The generator reaches every layer class filterbank exports today.
    from filterbank.onnx.converters import CONVERTERS
    from tests.onnx.test_onnx_battery import EXPORTABLE

    # ... or is exported from its layer-battery cases in test_onnx_battery.py.
    missing = {c for c in CONVERTERS if c in layers.LAYER_CLASSES} - classes - set(EXPORTABLE)
    assert not missing, missing


def test_graph_properties(tmp_path):
    model = zoo.build("seed-functional", (28, 28, 1), 10)
    path = export_model(model, tmp_path / "m.onnx")
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == 17
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [28, 28, 1]
    ops = [n.op_type for n in proto.graph.node]
    # One transpose in (NHWC -> NCHW), one back before Flatten: none between conv and pool.
    assert ops.count("Transpose") == 2
    for node in proto.graph.node:
        for a in node.attribute:
            assert not (a.name == "auto_pad" and a.s != b"NOTSET")


def test_same_padding_pads_are_explicit_and_keras_like():
    inputs = keras.Input((7, 6, 2))
    x = layers.Conv2D(3, (4, 3), strides=2, padding="same")(inputs)
    x = layers.AveragePooling2D(3, strides=2, padding="same")(x)
    model = keras.Model(inputs, layers.Flatten()(x))
    from tests.onnx.random_models import randomize_weights

    randomize_weights(model, np.random.default_rng(0))
    proto = build_onnx(model)
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    pads = next(a.ints for a in conv.attribute if a.name == "pads")
    # rows: n=7, k=4, s=2 -> total 3 (1 before, 2 after); cols: n=6, k=3, s=2 -> total 1 (0, 1)
    assert list(pads) == [1, 0, 2, 1]
    _check(model)


def test_channels_first_option():
    model = zoo.build("lenet5", (28, 28, 1), 10)
    proto = build_onnx(model, channels_first=True)
    x = np.random.default_rng(0).normal(size=(5, 28, 28, 1)).astype("float32")
    got = _ort_run(proto, [x.transpose(0, 3, 1, 2).copy()])[0]
    assert _rel_err(got, model.predict(x, verbose=0)) < TOL
    assert proto.metadata_props[0].value == "NCHW"


@pytest.mark.parametrize("opset", [13, 18, 20])
def test_other_opsets(opset):
    inputs = keras.Input((6, 5, 2))
    x = layers.Conv2D(2, 3, activation="gelu")(inputs)
    x = layers.Softmax(axis=(1, 2))(x)
    model = keras.Model(inputs, layers.GlobalMaxPooling2D()(x))
    proto = build_onnx(model, opset=opset)
    assert proto.opset_import[0].version == opset
    xs = sample_input(model, 4)
    assert _rel_err(_ort_run(proto, xs)[0], model.predict(xs[0], verbose=0)) < TOL


def test_unknown_layer_class_is_named():
    class Doubler(layers.Layer):
        def forward(self, inputs, training=False):
            return inputs * 2

    inputs = keras.Input((3,))
    model = keras.Model(inputs, Doubler(name="twice")(layers.Dense(2)(inputs)))
    with pytest.raises(ValueError, match=r"Layer 'twice' \(Doubler\) has no ONNX converter"):
        build_onnx(model)


def test_bad_opset_and_unbuilt_model():
    model = zoo.build("xo", (9, 9, 1), 2)
    with pytest.raises(ValueError, match="opset must be an int from 13"):
        build_onnx(model, opset=11)
    with pytest.raises(ValueError, match="not built"):
        build_onnx(keras.Sequential([layers.Dense(2)]))


def test_model_export_method(tmp_path):
    model = zoo.build("xo", (9, 9, 1), 2)
    path = tmp_path / "xo.onnx"
    model.export(path, format="onnx")
    x = np.ones((2, 9, 9, 1), "float32")
    got = _ort_run(onnx.load(path), [x])[0]
    assert _rel_err(got, model.predict(x, verbose=0)) < TOL
    with pytest.raises(ValueError, match="format"):
        model.export(tmp_path / "x", format="tf_saved_model")
