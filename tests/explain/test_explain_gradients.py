"""explain.gradients against centered differences (float64) and the 6.036 closed form;
gradients, saliency and Grad-CAM against PyTorch autograd on the same weights."""

import numpy as np
import pytest
from gradcheck import assert_close, numeric_grad

import filterbank as keras
from filterbank import explain, layers


def _model(seed, act="softmax", bn=True):
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(7, 6, 2))
    x = layers.Conv2D(3, (3, 2), padding="same", activation="relu")(inp)
    if bn:
        x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(4, 2, strides=(1, 2), activation="tanh")(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    out = layers.Dense(3, activation=act)(x)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = [
            w + rng.normal(0, 0.3, w.shape) if n != "moving_variance" else w + 0.5
            for n, w in zip(layer.params, layer.get_weights())
        ]
        if ws:
            layer.set_weights(ws)
    return model


@pytest.mark.parametrize("seed", [0, 1])
def test_gradients_match_finite_differences(float64, seed):
    model = _model(seed)
    model.compile(loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, 7, 6, 2))
    y = np.array([0, 2, 1])
    g = explain.gradients(model, x, y)
    assert list(g["weights"]) == ["conv2d", "batch_normalization", "conv2d_1", "dense"]
    assert list(g["weights"]["batch_normalization"]) == ["gamma", "beta"]

    def loss():
        return explain.gradients(model, x, y)["loss"]

    assert g["loss"] == pytest.approx(float(model.evaluate(x, y, verbose=0)), rel=1e-9)
    for layer in model.layers:
        for name in layer.trainable_param_names():
            w = layer.params[name]
            assert_close(
                g["weights"][layer.name][name],
                numeric_grad(loss, w),
                rtol=1e-5,
                atol=1e-8,
                what=f"{layer.name}/{name}",
            )
    assert_close(g["input"], numeric_grad(loss, x), rtol=1e-5, atol=1e-8, what="input")


def test_gradients_include_regularization_and_leave_weights_alone(float64):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input(shape=(4,)), layers.Dense(2, kernel_regularizer=keras.regularizers.L2(0.1))]
    )
    model.compile(loss="mse", optimizer="sgd")
    before = model.get_weights()
    x, y = np.ones((2, 4)), np.zeros((2, 2))
    g = explain.gradients(model, x, y)
    k = before[0]
    pred = x @ k + before[1]
    assert g["loss"] == pytest.approx(np.mean(pred**2) + 0.1 * np.sum(k**2))
    assert_close(g["weights"]["dense"]["kernel"], x.T @ (2 * pred / pred.size) + 0.2 * k)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_6036_closed_form_1d(float64):
    """Worked example 8: dLoss/dW1_j = sum_i X[i - k//2 + j] [Z1_i > 0] 2 (A2 - y) W2_i."""
    rng = np.random.default_rng(5)
    n, k = 10, 3
    model = keras.Sequential(
        [
            keras.Input(shape=(n, 1)),
            layers.Conv1D(1, k, padding="same", activation="relu", use_bias=False),
            layers.Flatten(),
            layers.Dense(1, use_bias=False),
        ]
    )
    model.compile(loss="mse")
    w1, w2 = rng.normal(size=k), rng.normal(size=n)
    model.layers[0].set_weights([w1.reshape(k, 1, 1)])
    model.layers[2].set_weights([w2.reshape(n, 1)])
    x = np.array([0, 0, 1, 1, 1, 0, 1, 0, 0, 0], float)
    y = 0.5
    g = explain.gradients(model, x[None, :, None], np.array([[y]]))
    xp = np.concatenate([[0.0], x, [0.0]])
    z1 = np.array([xp[i : i + k] @ w1 for i in range(n)])
    a2 = np.maximum(z1, 0) @ w2
    closed = [
        sum(xp[i + j] * (z1[i] > 0) * 2 * (a2 - y) * w2[i] for i in range(n)) for j in range(k)
    ]
    assert_close(g["weights"]["conv1d"]["kernel"].ravel(), closed, rtol=1e-12, atol=1e-12)
    assert g["loss"] == pytest.approx((a2 - y) ** 2)


# ---- PyTorch ---------------------------------------------------------------------------------
def _torch_forward(torch, model, x, upto=None):
    """The same network in PyTorch (float64, NCHW inside, Keras's 'same' padding by F.pad).
    Returns (logits, activation map of `upto` or None)."""
    F = torch.nn.functional
    h = x.permute(0, 3, 1, 2)
    grabbed = None
    for layer in model.layers[1:]:
        name = type(layer).__name__
        ws = [torch.tensor(w, dtype=torch.float64) for w in layer.get_weights()]
        if name == "Conv2D":
            if layer.padding == "same":
                kh, kw = layer.kernel_size
                ph, pw = kh - 1, kw - 1
                h = F.pad(h, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
            h = F.conv2d(h, ws[0].permute(3, 2, 0, 1).contiguous(), ws[1], stride=layer.strides)
            h = {"relu": torch.relu, "tanh": torch.tanh, "linear": lambda t: t}[
                layer.activation.name
            ](h)
        elif name == "BatchNormalization":
            gamma, beta, mean, var = ws
            h = F.batch_norm(h, mean, var, gamma, beta, training=False, eps=layer.epsilon)
        elif name == "MaxPooling2D":
            h = F.max_pool2d(h, layer.pool_size, layer.strides)
        elif name == "Flatten":
            h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)
        elif name == "Dropout":
            pass
        elif name == "Dense":
            h = h @ ws[0] + ws[1]  # logits: the softmax is left to the caller
        else:
            raise AssertionError(name)
        if layer is upto:
            h.retain_grad()
            grabbed = h
    return h, grabbed


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_gradients_saliency_grad_cam_match_pytorch(float64, seed):
    torch = pytest.importorskip("torch")
    model = _model(seed)
    model.compile(loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(seed + 10)
    x = rng.normal(size=(4, 7, 6, 2))
    y = rng.integers(0, 3, size=4)
    g = explain.gradients(model, x, y)
    xt = torch.tensor(x, requires_grad=True)
    logits, _ = _torch_forward(torch, model, xt)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y))
    loss.backward()
    assert g["loss"] == pytest.approx(loss.item(), rel=1e-10)
    assert_close(g["input"], xt.grad.numpy(), rtol=1e-7, atol=1e-10, what="input")

    conv = model.get_layer("conv2d_1")
    for cls in range(3):
        xt = torch.tensor(x[:1], requires_grad=True)
        logits, amap = _torch_forward(torch, model, xt, upto=conv)
        logits[0, cls].backward()
        want = xt.grad.numpy()[0]
        assert_close(
            explain.saliency(model, x[0], cls, reduce=None),
            want,
            rtol=1e-7,
            atol=1e-10,
            what="saliency",
        )
        assert_close(
            explain.saliency(model, x[0], cls), np.abs(want).max(-1), rtol=1e-7, atol=1e-10
        )
        alpha = amap.grad[0].mean(dim=(1, 2))
        cam = torch.relu((alpha[:, None, None] * amap[0]).sum(0)).detach().numpy()
        assert_close(
            explain.grad_cam(model, x[0], cls), cam, rtol=1e-7, atol=1e-10, what="grad_cam"
        )
    # score="probability": the gradient of the softmax output itself
    xt = torch.tensor(x[:1], requires_grad=True)
    logits, _ = _torch_forward(torch, model, xt)
    torch.softmax(logits, -1)[0, 1].backward()
    assert_close(
        explain.saliency(model, x[0], 1, score="probability", reduce=None),
        xt.grad.numpy()[0],
        rtol=1e-7,
        atol=1e-10,
    )


def test_saliency_defaults_and_messages():
    model = _model(0, bn=False)
    x = np.random.default_rng(0).normal(size=(7, 6, 2)).astype("float32")
    pred = int(np.argmax(model.predict(x[None], verbose=0)))
    assert np.array_equal(explain.saliency(model, x), explain.saliency(model, x, pred))
    with pytest.raises(ValueError, match="class_index 7 is out of range.*3 classes"):
        explain.saliency(model, x, 7)
    with pytest.raises(ValueError, match="needs a loss"):
        explain.gradients(model, x[None], np.array([0]))
