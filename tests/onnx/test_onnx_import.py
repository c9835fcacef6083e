"""ONNX import: PyTorch's NCHW graphs and Keras-style NHWC graphs agree with ONNX Runtime."""

import io

import numpy as np
import pytest

import filterbank as fb
from filterbank.saving import ModelFileError
from tests.onnx.random_models import random_model, sample_input

onnx = pytest.importorskip("onnx", reason="ONNX import tests need onnx (pip install onnx)")
ort = pytest.importorskip(
    "onnxruntime", reason="ONNX import tests need onnxruntime (pip install onnxruntime)"
)

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from filterbank.onnx import export_model, load_model  # noqa: E402

TOL = 1e-5


def _rel(a, b):
    return float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1e-3)


def _ort(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def _torch_model():
    torch = pytest.importorskip("torch", reason="the PyTorch export test needs torch")
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 6, 3, padding=1)
            self.bn = nn.BatchNorm2d(6)
            self.c2 = nn.Conv2d(6, 6, (3, 1), padding=(1, 0))
            self.c3 = nn.Conv2d(12, 8, 3, stride=2, padding=1)  # symmetric pads: not "same"
            self.head = nn.Sequential(
                nn.Flatten(),
                nn.Linear(8 * 4 * 5, 16),
                nn.LeakyReLU(0.1),
                nn.Dropout(0.3),
                nn.Linear(16, 5),
                nn.Softmax(dim=1),
            )

        def forward(self, x):
            y = torch.relu(self.bn(self.c1(x)))
            y = torch.cat([y, torch.relu(self.c2(y) + y)], dim=1)
            y = nn.functional.max_pool2d(y, 2)
            return self.head(torch.sigmoid(self.c3(y)))

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():  # statistics away from 0/1 so batch norm matters
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 2.0)
    net.eval()
    return torch, net


def test_pytorch_export_imports(tmp_path):
    torch, net = _torch_model()
    path = tmp_path / "torch.onnx"
    x = torch.randn(1, 3, 16, 20)
    torch.onnx.export(
        net,
        (x,),
        str(path),
        dynamo=False,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
        opset_version=17,
    )
    model = load_model(path)
    assert model.onnx_input_layout == "NCHW"
    assert model.input_shape == (None, 16, 20, 3)  # channels-last, as every filterbank model
    xs = np.random.default_rng(0).normal(size=(7, 3, 16, 20)).astype("float32")
    want = _ort(path, xs)
    with torch.no_grad():
        assert _rel(net(torch.from_numpy(xs)).numpy(), want) < TOL
    got = model.predict(xs.transpose(0, 2, 3, 1), verbose=0)
    assert _rel(got, want) < TOL
    # Fed NCHW data by mistake: the message says how to fix it.
    with pytest.raises(ValueError, match="transpose"):
        model.predict(xs, verbose=0)
    # An ordinary model: fine-tune, save, load.
    model.compile("adam", "sparse_categorical_crossentropy")
    before = model.evaluate(xs.transpose(0, 2, 3, 1), np.arange(7) % 5, verbose=0)
    model.fit(xs.transpose(0, 2, 3, 1), np.arange(7) % 5, epochs=5, verbose=0)
    after = model.evaluate(xs.transpose(0, 2, 3, 1), np.arange(7) % 5, verbose=0)
    assert after < before
    model.save(tmp_path / "tuned.fbk")
    fb.models.load_model(tmp_path / "tuned.fbk")


def _keras_style_graph(path):
    """An NHWC graph as tf2onnx writes it: Transposes around the conv, MatMul + Add."""
    rng = np.random.default_rng(1)
    init = [
        numpy_helper.from_array(a.astype("float32"), n)
        for n, a in [
            ("w", rng.normal(size=(4, 2, 3, 3))),
            ("b", rng.normal(size=4)),
            ("dense_w", rng.normal(size=(3 * 3 * 4, 6)) * 0.2),
            ("dense_b", rng.normal(size=6)),
        ]
    ] + [numpy_helper.from_array(np.array([-1, 36], np.int64), "shape")]
    nodes = [
        helper.make_node("Transpose", ["x"], ["x_t"], perm=[0, 3, 1, 2]),
        helper.make_node(
            "Conv", ["x_t", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[0, 0, 1, 1], strides=[2, 2]
        ),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node(
            "AveragePool",
            ["r"],
            ["p"],
            kernel_shape=[2, 2],
            strides=[1, 1],
            pads=[0, 0, 1, 1],
            count_include_pad=0,
        ),
        helper.make_node("Transpose", ["p"], ["p_t"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["p_t", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "dense_w"], ["m"]),
        helper.make_node("Add", ["m", "dense_b"], ["a"]),
        helper.make_node("Softmax", ["a"], ["y"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "keras_style",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 6, 6, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 6])],
        init,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


def test_keras_style_nhwc_graph_imports(tmp_path):
    path = tmp_path / "nhwc.onnx"
    _keras_style_graph(path)
    model = load_model(path)
    assert model.onnx_input_layout == "NHWC"
    classes = [type(layer).__name__ for layer in model.layers]
    assert "Conv2D" in classes and "Dense" in classes and classes.count("Dense") == 1
    x = np.random.default_rng(2).normal(size=(5, 6, 6, 2)).astype("float32")
    assert _rel(model.predict(x, verbose=0), _ort(path, x)) < TOL
    model.compile("sgd", "categorical_crossentropy")
    model.fit(x, np.eye(6, dtype="float32")[:5], epochs=1, verbose=0)


def test_round_trip_of_random_models(tmp_path):
    done = 0
    for seed in range(40):
        model = random_model(seed)
        path = export_model(model, tmp_path / f"r{seed}.onnx", opset=20)
        try:
            back = load_model(path)
        except ModelFileError as e:  # ReLU(threshold=...) exports as Sub/Where/Min
            assert "uses op" in str(e)
            continue
        xs = sample_input(model, 3, seed)
        assert _rel(back.predict(xs[0], verbose=0), _ort(path, xs[0])) < TOL, seed
        done += 1
    assert done >= 35


def test_unsupported_op_names_the_node(tmp_path):
    nodes = [helper.make_node("Cos", ["x"], ["y"], name="my_cos")]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(proto, tmp_path / "cos.onnx")
    with pytest.raises(ModelFileError, match="node 'my_cos' uses op 'Cos'"):
        load_model(tmp_path / "cos.onnx")


def test_unsupported_attribute_names_the_node(tmp_path):
    w = numpy_helper.from_array(np.ones((4, 1, 3, 3), "float32"), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="grouped", group=2)]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, 3, 3])],
        [w],
    )
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "g.onnx"
    )
    with pytest.raises(ModelFileError, match=r"node 'grouped' \(Conv\) has group=2"):
        load_model(tmp_path / "g.onnx")


def test_declared_size_beyond_data_is_refused(tmp_path):
    t = numpy_helper.from_array(np.ones((2, 3), "float32"), "w")
    t.dims[:] = [2000, 3000]  # declares 6 million floats, holds 6
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
        [t],
    )
    buf = io.BytesIO()
    buf.write(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    )
    (tmp_path / "big.onnx").write_bytes(buf.getvalue())
    with pytest.raises(ModelFileError, match="declares 6,000,000 values"):
        load_model(tmp_path / "big.onnx")


def test_cli_export_and_import(tmp_path, capsys):
    from filterbank import zoo
    from filterbank.cli import main

    model = zoo.build("xo", (9, 9, 1), 2)
    model.save(tmp_path / "xo.fbk")
    assert main(["export", str(tmp_path / "xo.fbk"), str(tmp_path / "xo.onnx")]) == 0
    assert "opset 17" in capsys.readouterr().out
    assert main(["import", str(tmp_path / "xo.onnx"), str(tmp_path / "back.fbk")]) == 0
    back = fb.models.load_model(tmp_path / "back.fbk")
    x = np.random.default_rng(0).normal(size=(3, 9, 9, 1)).astype("float32")
    assert _rel(back.predict(x, verbose=0), model.predict(x, verbose=0)) < TOL
    # User mistakes: one line, exit 2.
    (tmp_path / "junk.onnx").write_bytes(b"not onnx at all")
    assert main(["import", str(tmp_path / "junk.onnx"), str(tmp_path / "j.fbk")]) == 2
    assert main(["export", str(tmp_path / "xo.fbk"), str(tmp_path / "xo.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("filterbank: error:") == 2 and "Traceback" not in err


def test_summary_notes_the_nchw_source(tmp_path):
    torch, net = _torch_model()
    torch.onnx.export(net, (torch.randn(1, 3, 16, 20),), str(tmp_path / "t.onnx"), dynamo=False)
    text = load_model(tmp_path / "t.onnx").summary_string()
    assert "NCHW ONNX graph" in text and "transpose(0, 2, 3, 1)" in text


def test_keras_exported_onnx_imports(tmp_path):
    """Real Keras 3 (torch backend) model.export(format="onnx"): NHWC, Casts, biases added
    apart, a Shape/Gather/Concat Flatten; imported and run, it agrees with ONNX Runtime."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    K = pytest.importorskip("keras", reason="needs real Keras 3")
    if K.backend.backend() != "torch":
        pytest.skip("the Keras export test runs with KERAS_BACKEND=torch")
    inputs = K.Input((12, 10, 2))
    x = K.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = K.layers.MaxPooling2D()(x)
    y = K.layers.Conv2D(4, 1)(x)
    x = K.layers.Concatenate()([x, y])
    x = K.layers.Conv2D(3, (3, 2), strides=2, activation="tanh")(x)
    x = K.layers.Flatten()(x)
    outputs = K.layers.Dense(3, activation="softmax")(x)
    km = K.Model(inputs, outputs)
    xs = np.random.default_rng(0).normal(size=(6, 12, 10, 2)).astype("float32")
    km.predict(xs, verbose=0)
    km.export(str(tmp_path / "k.onnx"), format="onnx", verbose=False)
    model = load_model(tmp_path / "k.onnx")
    assert model.onnx_input_layout == "NHWC"
    want = _ort(tmp_path / "k.onnx", xs)
    assert _rel(model.predict(xs, verbose=0), want) < TOL
    assert _rel(want, np.asarray(km.predict(xs, verbose=0))) < 1e-4

    # Batch norm (exported as Sub/Mul/Add) and global pooling (ReduceMean) fold into layers.
    inputs = K.Input((8, 8, 2))
    x = K.layers.Conv2D(4, 3, use_bias=False)(inputs)
    x = K.layers.BatchNormalization()(x)
    x = K.layers.Activation("relu")(x)
    x = K.layers.GlobalAveragePooling2D()(x)
    outputs = K.layers.Dense(3)(K.layers.Dropout(0.2)(x))
    km = K.Model(inputs, outputs)
    bn = km.layers[2]
    rng = np.random.default_rng(1)
    bn.set_weights(
        [
            rng.uniform(0.5, 2, 4).astype("float32"),
            rng.normal(size=4).astype("float32"),
            rng.normal(size=4).astype("float32"),
            rng.uniform(0.5, 2, 4).astype("float32"),
        ]
    )
    xs = rng.normal(size=(5, 8, 8, 2)).astype("float32")
    km.predict(xs, verbose=0)
    km.export(str(tmp_path / "bn.onnx"), format="onnx", verbose=False)
    model = load_model(tmp_path / "bn.onnx")
    assert "BatchNormalization" in [type(a).__name__ for a in model.layers]
    want = _ort(tmp_path / "bn.onnx", xs)
    assert _rel(model.predict(xs, verbose=0), want) < TOL
    assert _rel(want, np.asarray(km.predict(xs, verbose=0))) < 1e-4


def test_pytorch_idioms_view_flatten_and_pools(tmp_path):
    """x.view(x.size(0), -1) (a Shape/Gather/Concat/Reshape chain when the batch is dynamic),
    adaptive average pooling, average pooling, explicit F.pad, ELU and Tanh."""
    torch = pytest.importorskip("torch", reason="needs torch")
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(2, 5, (3, 2), stride=(1, 2))
            self.c2 = nn.Conv2d(5, 6, 3)
            self.fc = nn.Linear(6 * 2 * 1, 4)
            self.gap_fc = nn.Linear(6, 4)

        def forward(self, x):
            y = nn.functional.elu(self.c1(x))
            y = nn.functional.avg_pool2d(nn.functional.pad(y, (1, 0, 0, 1)), 2)
            y = torch.tanh(self.c2(y))
            a = self.fc(y.view(y.size(0), -1))
            b = self.gap_fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))
            return a + b

    torch.manual_seed(1)
    net = Net().eval()
    path = tmp_path / "idioms.onnx"
    torch.onnx.export(
        net,
        (torch.randn(1, 2, 10, 12),),
        str(path),
        dynamo=False,
        input_names=["x"],
        dynamic_axes={"x": {0: "n"}},
    )
    model = load_model(path)
    xs = np.random.default_rng(3).normal(size=(4, 2, 10, 12)).astype("float32")
    assert _rel(model.predict(xs.transpose(0, 2, 3, 1), verbose=0), _ort(path, xs)) < TOL
