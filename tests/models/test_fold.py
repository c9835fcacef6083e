"""BatchNormalization folded into the fused conv + pool inference step (models/fold.py):
predictions against the plain layer-by-layer forward over seeded random configurations,
when the weights change (fit, set_weights, load, assigning layer.kernel), the patterns it
must not take, the switch, and PyTorch as the oracle for the CIFAR-size model in eval mode.

Tolerance (float32): the folded step multiplies the kernel by the normalization's scale
before the convolution instead of after it, a reordered product: outputs are held to
2e-5 of the largest output (measured: 2.8e-7 over the 24 random configurations).
"""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from filterbank.layers.base import weights_changed
from filterbank.models.fold import FoldedConvPool
from filterbank.models.graph import Graph
from filterbank.ops import winograd
from tests import torch_oracle as oracle
from tests.models.bn_blocks import conv_bn_relu_pool


@pytest.fixture(autouse=True)
def _fusion_on(monkeypatch):
    monkeypatch.delenv("FILTERBANK_DISABLE_FUSION", raising=False)


def reference(model, x):
    """The plain layer-by-layer inference forward: no fusion, no folding."""
    return Graph(model.inputs, model.outputs, fuse=False).forward([x])[0]


def assert_close(got, ref, rel=2e-5):
    scale = max(float(np.abs(ref).max()), 1e-6)
    err = float(np.abs(np.asarray(got, np.float64) - ref).max())
    assert err <= rel * scale, f"largest difference {err:.3g} against {scale:.3g}"


def randomize_bn(model, rng):
    """Non-trivial gamma, beta and moving statistics (negative gammas included)."""
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            c = layer.params["moving_mean"].shape[0]
            values = {
                "gamma": rng.normal(0.8, 0.6, c),
                "beta": rng.normal(0, 0.5, c),
                "moving_mean": rng.normal(0, 0.3, c),
                "moving_variance": rng.uniform(0.05, 2.0, c),
            }
            layer.set_weights([values[n].astype("float32") for n in layer.params])


def block_model(cfg, c, image):
    inp = keras.Input((image, image, c))
    h = layers.Conv2D(
        cfg["filters"],
        cfg["k"],
        strides=cfg["strides"],
        padding=cfg["padding"],
        use_bias=cfg["use_bias"],
    )(inp)
    if cfg["bn"]:
        h = layers.BatchNormalization(
            epsilon=cfg["epsilon"], center=cfg["center"], scale=cfg["scale"]
        )(h)
    if cfg["act"]:
        h = layers.Activation(cfg["act"])(h)
    h = layers.MaxPooling2D(cfg["pool"], padding=cfg["pool_padding"])(h)
    h = layers.Flatten()(h)
    return keras.Model(inp, layers.Dense(3)(h))


def configs(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        bn = bool(rng.integers(0, 4))  # mostly with BatchNormalization
        out.append(
            {
                "filters": int(rng.choice([3, 8, 16])),
                "k": int(rng.choice([1, 2, 3])),
                "strides": int(rng.choice([1, 1, 2])),
                "padding": str(rng.choice(["same", "valid"])),
                "use_bias": bool(rng.integers(0, 2)),
                "bn": bn,
                "epsilon": float(rng.choice([1e-3, 1e-5, 0.1])),
                "center": bool(rng.integers(0, 4)),
                "scale": bool(rng.integers(0, 4)),
                "act": str(rng.choice(["relu", "linear"])) if bn and rng.integers(0, 3) else "relu",
                "pool": int(rng.choice([2, 3])),
                "pool_padding": str(rng.choice(["valid", "same"])),
                "c": int(rng.choice([1, 3, 8])),
                "image": int(rng.choice([9, 11, 12, 16])),
                "batch": int(rng.choice([1, 3, 40])),
            }
        )
    return out


@pytest.mark.parametrize("cfg", configs(24), ids=lambda c: "-".join(map(str, c.values())))
def test_folded_predict_equals_the_layers(cfg):
    rng = np.random.default_rng(1)
    model = block_model(cfg, cfg["c"], cfg["image"])
    randomize_bn(model, rng)
    folded = model._graph.predict_runs[0]
    assert isinstance(folded, FoldedConvPool)
    x = rng.random((cfg["batch"], cfg["image"], cfg["image"], cfg["c"]), dtype=np.float32)
    ref = reference(model, x)
    for _ in range(2):  # the second call runs the kept lean function
        assert_close(model.predict_on_batch(x), ref)


@pytest.mark.parametrize("batch", [1, 40])
def test_winograd_and_direct_kernels_fold(batch):
    """3x3 conv + 2x2 pool: the direct (one channel) and Winograd (>= 8 channels) kernels."""
    rng = np.random.default_rng(2)
    for c, image in ((1, 28), (16, 16)):
        cfg = configs(1)[0] | {
            "filters": 16,
            "k": 3,
            "strides": 1,
            "padding": "same",
            "bn": True,
            "center": True,
            "scale": True,
            "act": "relu",
            "pool": 2,
            "pool_padding": "valid",
        }
        model = block_model(cfg, c, image)
        randomize_bn(model, rng)
        x = rng.random((batch, image, image, c), dtype=np.float32)
        assert_close(model.predict_on_batch(x), reference(model, x))
        assert model.kernel_plan(batch)[0].predict.endswith("+fold")


def cifar_model():
    inp = keras.Input((32, 32, 3))
    h = layers.Flatten()(conv_bn_relu_pool(inp, (32, 64, 128)))
    h = layers.Dense(128, activation="relu")(h)
    return keras.Model(inp, layers.Dense(10, activation="softmax")(h))


def test_refolds_after_fit_set_weights_kernel_and_load(tmp_path):
    rng = np.random.default_rng(3)
    model = cifar_model()
    randomize_bn(model, rng)
    x = rng.random((6, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, 6)
    before = model.predict_on_batch(x).copy()
    assert_close(before, reference(model, x))

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=3, verbose=0)  # weights and moving statistics move
    after = model.predict_on_batch(x)
    assert not np.allclose(after, before)
    assert_close(after, reference(model, x))

    model.save_weights(tmp_path / "m.weights.h5")
    trained = model.get_weights()
    model.set_weights([w * 0.5 for w in trained])
    assert_close(model.predict_on_batch(x), reference(model, x))

    conv = model.layers[1]
    conv.kernel = conv.kernel * -1.0  # a new array object
    assert_close(model.predict_on_batch(x), reference(model, x))
    conv.params["bias"] = conv.params["bias"] + 1.0  # replaced in the dict: no epoch bump
    assert_close(model.predict_on_batch(x), reference(model, x))
    conv2 = model.layers[5]  # a Winograd step at this batch: its filter transform too
    if winograd.numba_kernels() is not None:  # else the GEMM path, checked the same way
        assert model.kernel_plan(len(x))[4].predict == "winograd+fold"
    conv2.params["kernel"] = conv2.params["kernel"] * 2.0
    assert_close(model.predict_on_batch(x), reference(model, x))

    bn = model.layers[2]
    bn.params["moving_mean"][...] += 1.0  # in place: the caller says so
    weights_changed()
    assert_close(model.predict_on_batch(x), reference(model, x))

    model.load_weights(tmp_path / "m.weights.h5")
    assert_close(model.predict_on_batch(x), reference(model, x))
    assert_close(model.predict_on_batch(x), model.predict_on_batch(x))
    np.testing.assert_allclose(model.get_weights()[0], trained[0])


def test_train_on_batch_then_predict():
    rng = np.random.default_rng(4)
    model = cifar_model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = rng.random((4, 32, 32, 3), dtype=np.float32)
    for _ in range(3):
        model.train_on_batch(x, rng.integers(0, 10, 4))
        assert_close(model.predict_on_batch(x), reference(model, x))


def _runs_types(model):
    return [type(r).__name__ for r in model._graph.predict_runs]


def test_patterns_that_are_not_folded():
    def build(conv_act="linear", bn_axis=-1, bn_is_output=False):
        inp = keras.Input((10, 10, 2))
        h = layers.Conv2D(4, 3, activation=conv_act)(inp)
        bn = layers.BatchNormalization(axis=bn_axis)(h)
        h = layers.Activation("relu")(bn)
        h = layers.MaxPooling2D()(h)
        out = layers.Dense(2)(layers.Flatten()(h))
        return keras.Model(inp, [out, bn] if bn_is_output else out)

    assert "FoldedConvPool" in _runs_types(build())
    assert "FoldedConvPool" not in _runs_types(build(conv_act="relu"))  # relu before BN
    assert "FoldedConvPool" not in _runs_types(build(bn_axis=1))  # not the channel axis
    model = build(bn_is_output=True)  # BN's output leaves the graph
    assert "FoldedConvPool" not in _runs_types(model)
    x = np.random.default_rng(5).random((2, 10, 10, 2), dtype=np.float32)
    ref = Graph(model.inputs, model.outputs, fuse=False).forward([x])
    for got, want in zip(model.predict_on_batch(x), ref):
        assert_close(got, want)


def test_the_fusion_switch_turns_folding_off(monkeypatch):
    monkeypatch.setenv("FILTERBANK_DISABLE_FUSION", "1")
    model = cifar_model()
    assert "FoldedConvPool" not in _runs_types(model)
    plan = model.kernel_plan(4)
    assert not any(r.predict.endswith("+fold") or r.predict.startswith("in ") for r in plan)


def test_kernel_plan_names_the_folded_step():
    plan = {r.layers[0]: r for r in cifar_model().kernel_plan(64)}
    assert plan["conv2d"].predict.endswith("+fold")
    assert plan["batch_normalization"].predict == "in conv2d"
    # Training runs BatchNormalization -> ReLU -> MaxPooling2D as its own fused step
    # (models/fusion_bn.py); predict folds the three into the convolution before them.
    assert plan["batch_normalization"].layers[-1] == "max_pooling2d"
    assert plan["batch_normalization_2"].predict == "in conv2d_2"
    assert plan["batch_normalization"].fit.startswith("bn+relu+pool")


def test_folded_step_refuses_training():
    step = cifar_model()._graph.predict_runs[0]
    with pytest.raises(NotImplementedError):
        step.forward(np.zeros((1, 32, 32, 3), np.float32), True)


def test_cifar_model_against_pytorch_eval_mode():
    torch = oracle.load()
    F = torch.nn.functional
    rng = np.random.default_rng(7)
    model = cifar_model()
    randomize_bn(model, rng)
    x = rng.random((3, 32, 32, 3), dtype=np.float32)
    ours = model.predict_on_batch(x)
    assert sum(isinstance(r, FoldedConvPool) for r in model._graph.predict_runs) == 3

    h = oracle.to_torch(x)
    convs = [la for la in model.layers if isinstance(la, layers.Conv2D)]
    bns = [la for la in model.layers if isinstance(la, layers.BatchNormalization)]
    for conv, bn in zip(convs, bns):
        w = torch.tensor(conv.kernel.astype(np.float64).transpose(3, 2, 0, 1).copy())
        pads = oracle.flat_pads(oracle.keras_pads(n, 3, 1, "same") for n in h.shape[2:])
        h = F.conv2d(F.pad(h, pads), w, torch.tensor(conv.bias.astype(np.float64)))
        p = {k: torch.tensor(v.astype(np.float64)) for k, v in bn.params.items()}
        h = F.batch_norm(
            h,
            p["moving_mean"],
            p["moving_variance"],
            p["gamma"],
            p["beta"],
            training=False,
            eps=bn.epsilon,
        )
        h = F.max_pool2d(F.relu(h), 2)
    flat = oracle.from_torch(h).reshape(3, -1)  # channels-last order, as Keras's Flatten
    d1, d2 = [la for la in model.layers if isinstance(la, layers.Dense)]
    z = np.maximum(flat @ d1.kernel + d1.bias, 0) @ d2.kernel + d2.bias
    want = np.exp(z - z.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(ours, want, rtol=1e-4, atol=1e-6)
