"""Engine-level fusion of Conv2D(relu|linear) + MaxPooling2D: when it applies, and that a fused
model computes what the unfused one computes (outputs, gradients, updates), against finite
differences and against PyTorch."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from filterbank.models.fusion import FusedConvPool
from filterbank.models.graph import Graph
from filterbank.ops import conv_gemm
from tests.gradcheck import assert_close, numeric_grad
from tests.models.doubles import Recorder


@pytest.fixture(autouse=True)
def _fusion_on(monkeypatch):
    """These tests are about fusion: on whatever the CI run's switches say."""
    monkeypatch.delenv("FILTERBANK_DISABLE_FUSION", raising=False)


def seed_functional(conv_act="relu", image=12, pool="max"):
    """The seed's functional model, smaller: conv-pool, conv-pool, conv, flatten, dense."""
    pooling = layers.MaxPooling2D if pool == "max" else layers.AveragePooling2D
    inp = keras.Input(shape=(image, image, 1))
    x = layers.Conv2D(4, 3, activation=conv_act)(inp)
    x = pooling(2)(x)
    x = layers.Conv2D(6, (2, 3), padding="same", activation=conv_act)(x)
    x = pooling((2, 2), padding="same")(x)
    x = layers.Conv2D(5, 2, activation="relu")(x)
    x = layers.Flatten()(x)
    out = layers.Dense(3, activation="softmax")(x)
    return keras.Model(inp, out)


def kinds(graph):
    return [type(r).__name__ for r in graph.runs]


def data(n=6, image=12, seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    return rng.random((n, image, image, 1)).astype(dtype), rng.integers(0, 3, n)


# ---- when fusion applies ----------------------------------------------------------------------
def test_seed_pairs_are_fused():
    model = seed_functional()
    assert kinds(model._graph) == ["FusedConvPool", "FusedConvPool", "Step", "Step", "Step"]
    fused = model._graph.runs[0]
    assert [layer.name for layer in fused.layers] == ["conv2d", "max_pooling2d"]
    assert len(model._graph.steps) == 7  # the layers themselves are untouched
    assert [layer.name for layer in model.layers][1:3] == ["conv2d", "max_pooling2d"]


@pytest.mark.parametrize("case", ["fan_out", "model_output", "tanh", "avg_pool", "conv1d"])
def test_pairs_that_must_not_fuse(case):
    if case == "conv1d":
        inp = keras.Input(shape=(10, 2))
        out = layers.MaxPooling1D(2)(layers.Conv1D(3, 3, activation="relu")(inp))
        model = keras.Model(inp, out)
    elif case in ("tanh", "avg_pool"):
        model = seed_functional(
            conv_act="tanh" if case == "tanh" else "relu",
            pool="avg" if case == "avg_pool" else "max",
        )
    else:
        inp = keras.Input(shape=(8, 8, 1))
        c = layers.Conv2D(2, 3, activation="relu")(inp)
        p = layers.MaxPooling2D(2)(c)
        if case == "fan_out":  # the conv output also feeds a second layer
            other = layers.Flatten()(layers.MaxPooling2D(3)(c))
            model = keras.Model(inp, [layers.Flatten()(p), other])
        else:  # the conv output is itself a model output
            model = keras.Model(inp, [p, c])
    assert "FusedConvPool" not in kinds(model._graph)


def test_fusion_can_be_switched_off(monkeypatch):
    model = seed_functional()
    graph = Graph(model.inputs, model.outputs, fuse=False)
    assert graph.runs == graph.steps
    monkeypatch.setenv("FILTERBANK_DISABLE_FUSION", "1")
    assert "FusedConvPool" not in kinds(Graph(model.inputs, model.outputs))


# ---- the fused model computes the same thing ----------------------------------------------------
def _train(model, x, y, steps=3):
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    losses = [model.train_on_batch(x, y) for _ in range(steps)]
    return losses, model.predict_on_batch(x), model.get_weights()


@pytest.mark.parametrize("conv_act", ["relu", "linear"])
def test_fused_training_matches_unfused(conv_act):
    x, y = data()
    results = []
    for fuse in (True, False):
        keras.utils.set_random_seed(3)
        model = seed_functional(conv_act)
        if not fuse:
            model._graph.runs = model._graph.steps
        results.append(_train(model, x, y))
    (l1, p1, w1), (l2, p2, w2) = results
    np.testing.assert_allclose(l1, l2, rtol=1e-5)
    np.testing.assert_allclose(p1, p2, rtol=1e-5, atol=1e-7)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("image", [12, 13])  # 13: the first pooling skips the last row/col
def test_fused_gradients_match_finite_differences(image, float64):
    x, y = data(n=3, image=image, dtype="float64", seed=4)
    keras.utils.set_random_seed(5)
    model = seed_functional(image=image)
    assert "FusedConvPool" in kinds(model._graph)
    plan, _ = model._graph.runs[0]._plan_for(x.shape)
    assert model.layers[1].plan_for(x.shape).out_hw == (image - 2, image - 2)
    assert plan.out_hw == (10, 10)  # at 13: the 11x11 map is cropped to the 10x10 pooled
    model.compile(optimizer=Recorder(), loss="sparse_categorical_crossentropy")

    def loss():
        return model.test_on_batch(x, y)

    model.train_on_batch(x, y)
    recorded = model.optimizer.last
    for layer in model.layers:
        for name in layer.trainable_param_names():
            key = f"{layer.name}/{name}"
            assert_close(
                recorded[key],
                numeric_grad(loss, layer.params[name]),
                rtol=1e-6,
                atol=1e-8,
                what=key,
            )
    # The input gradient goes through both fused steps (the first one included).
    graph = model._graph
    outs = graph.forward([x], training=True)
    _, grads, fused = model._loss_and_output_grads([y], outs, [None])
    (dx,) = graph.backward(grads, fused, input_grads=True)
    assert_close(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8, what="input")


def test_chunked_fused_steps_match_whole_batch(monkeypatch):
    x, y = data(n=5)
    keras.utils.set_random_seed(1)
    whole = _train(seed_functional(), x, y)
    # So small that every convolution and every raw map runs one sample at a time.
    monkeypatch.setattr(conv_gemm, "COL_LIMIT_ELEMENTS", 50)
    keras.utils.set_random_seed(1)
    model = seed_functional()
    chunked = _train(model, x, y)
    plan = model.layers[1].plan_for((5, 12, 12, 1))
    assert plan.chunk == 1
    np.testing.assert_allclose(chunked[0], whole[0], rtol=1e-5)
    np.testing.assert_allclose(chunked[1], whole[1], rtol=1e-5, atol=1e-7)
    for a, b in zip(chunked[2], whole[2]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_predict_forward_and_keep_agree():
    x, _ = data(n=4)
    model = seed_functional()
    graph = model._graph
    y_forward = graph.forward([x])[0]
    y_keep, vals = graph.forward([x], keep=True)
    assert all(v is not None for v in vals)  # keep: every layer's output, nothing fused away
    np.testing.assert_array_equal(y_keep[0], y_forward)
    # The predict path may use the compiled bias+softmax: equal within float32 rounding.
    np.testing.assert_allclose(graph.predict([x])[0], y_forward, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict(x, verbose=0), y_forward, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model(x), y_forward, rtol=1e-6, atol=1e-7)
    # One sample at a time gives the same rows (the batch-1 inference path).
    for i in range(len(x)):
        np.testing.assert_allclose(
            model.predict_on_batch(x[i : i + 1])[0], y_forward[i], rtol=1e-5, atol=1e-7
        )


def test_backward_after_an_unfused_forward():
    x, y = data(n=3, dtype="float64")
    model = seed_functional()
    model.compile(optimizer=Recorder(), loss="sparse_categorical_crossentropy")
    graph = model._graph
    grads = []
    for keep in (False, True):
        outs = graph.forward([x], training=True, keep=keep)
        outs = outs[0] if keep else outs
        _, g, fused = model._loss_and_output_grads([y], outs, [None])
        graph.backward(g, fused)
        grads.append(model.layers[1].grads["kernel"].copy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-7)


def test_pooling_errors_still_name_the_pooling_layer():
    inp = keras.Input(shape=(None, None, 1))
    x = layers.MaxPooling2D(4, name="big_pool")(layers.Conv2D(2, 3, name="c")(inp))
    model = keras.Model(inp, layers.GlobalMaxPooling2D()(x))
    assert isinstance(model._graph.runs[0], FusedConvPool)
    with pytest.raises(ValueError, match="Layer 'big_pool' pool_size"):
        model.predict_on_batch(np.zeros((1, 5, 5, 1), "float32"))
    with pytest.raises(ValueError, match="Layer 'c' kernel size"):
        model.predict_on_batch(np.zeros((1, 2, 5, 1), "float32"))
    assert model.predict_on_batch(np.zeros((2, 6, 6, 1), "float32")).shape == (2, 2)


def test_fused_model_matches_torch(float64):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, y = data(n=4, dtype="float64", seed=7)
    keras.utils.set_random_seed(7)
    model = seed_functional()
    model.compile(optimizer=Recorder(), loss="sparse_categorical_crossentropy")
    loss = model.train_on_batch(x, y)
    got = model.optimizer.last

    def t(a):
        return torch.tensor(np.ascontiguousarray(a), dtype=torch.float64, requires_grad=True)

    def kernel(layer):  # Keras (kh, kw, in, out) -> torch (out, in, kh, kw)
        return t(layer.params["kernel"].transpose(3, 2, 0, 1))

    convs = [la for la in model.layers if isinstance(la, layers.Conv2D)]
    dense = model.layers[-1]
    ws = [(kernel(c), t(c.params["bias"])) for c in convs]
    dw, db = t(dense.params["kernel"]), t(dense.params["bias"])
    h = torch.tensor(x).permute(0, 3, 1, 2).clone(memory_format=torch.contiguous_format)
    h = F.max_pool2d(F.relu(F.conv2d(h, *ws[0])), 2)
    h = F.relu(F.conv2d(F.pad(h, (1, 1, 0, 1)), *ws[1]))  # Keras "same": (2, 3) kernel
    h = F.max_pool2d(F.pad(h, (0, 1, 0, 1), value=-np.inf), 2)  # "same" pool, 3x3 -> 2x2
    h = F.relu(F.conv2d(h, *ws[2]))
    logits = h.permute(0, 2, 3, 1).reshape(len(x), -1) @ dw + db
    ref = F.cross_entropy(logits, torch.tensor(y))
    ref.backward()
    np.testing.assert_allclose(loss, ref.item(), rtol=1e-10)
    for c, (wt, bt) in zip(convs, ws):
        np.testing.assert_allclose(
            got[f"{c.name}/kernel"], wt.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-7, atol=1e-12
        )
        np.testing.assert_allclose(got[f"{c.name}/bias"], bt.grad.numpy(), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(got[f"{dense.name}/kernel"], dw.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_fused_step_is_close_to_the_layers_but_not_bit_identical(monkeypatch):
    """What the fusion docstrings claim: the training forward equal bit for bit, gradients
    within 1e-5 and predictions within 2e-6 of their largest values (float32)."""
    from filterbank import zoo

    # Both sides on the im2col GEMM: an unfused Conv2D would otherwise train through
    # Winograd (ops/winograd_train.py), equal only within rounding.
    monkeypatch.setenv("FILTERBANK_DISABLE_FAST_CONV", "1")
    keras.utils.set_random_seed(3)
    model = zoo.seed_functional((28, 28, 1), 10)
    rng = np.random.default_rng(3)
    x = rng.random((32, 28, 28, 1)).astype("float32")
    g = rng.standard_normal((32, 10)).astype("float32")
    res = []
    for fuse in (True, False):
        graph = Graph(model.inputs, model.outputs, fuse=fuse)
        assert ("FusedConvPool" in kinds(graph)) == fuse
        out = graph.forward([x], training=True)[0].copy()
        graph.backward([g])
        grads = [la.grads[n].copy() for la in graph.layers for n in la.trainable_param_names()]
        res.append((out, grads, graph.predict([x])[0].copy()))
    (o1, g1, p1), (o2, g2, p2) = res
    np.testing.assert_array_equal(o1, o2)
    for a, b in zip(g1, g2):
        assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max()
    assert np.abs(p1 - p2).max() <= 2e-6 * np.abs(p2).max()
