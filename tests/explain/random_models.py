"""Random small CNNs for the explain property tests: every layer kind explain.cell covers,
with the shapes that select each inference kernel (im2col GEMM, Winograd 3x3, the direct
one-channel 3x3 + 2x2 pool kernel, fused conv + pool)."""

import numpy as np

import filterbank as keras
from filterbank import layers

ACTS = ["relu", "linear", "tanh", "sigmoid", "relu", "softmax"]


def _conv2d(rng, n_in_hw, prefer_fast):
    if prefer_fast:
        return layers.Conv2D(
            int(rng.integers(2, 10)),
            3,
            padding=str(rng.choice(["valid", "same"])),
            activation=str(rng.choice(["relu", "linear"])),
        )
    k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    if rng.random() < 0.3:
        strides, dil = (1, 1), (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    else:
        strides, dil = (int(rng.integers(1, 3)), int(rng.integers(1, 4))), (1, 1)
    return layers.Conv2D(
        int(rng.integers(1, 6)),
        k,
        strides=strides,
        dilation_rate=dil,
        padding=str(rng.choice(["valid", "same"])),
        activation=str(rng.choice(ACTS)),
        use_bias=bool(rng.random() < 0.8),
    )


def random_model_2d(seed):
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(7, 14)), int(rng.integers(7, 14))
    cin = int(rng.choice([1, 1, 2, 3, 8]))
    fast = rng.random() < 0.4
    inp = keras.Input(shape=(h, w, cin))
    x = _conv2d(rng, (h, w), fast)(inp)
    if rng.random() < 0.3:
        x = layers.BatchNormalization()(x)
        x = layers.Activation(str(rng.choice(["relu", "tanh"])))(x)
    pool = rng.choice(["max", "avg", "max", "none"])
    if pool != "none":
        cls = layers.MaxPooling2D if pool == "max" else layers.AveragePooling2D
        if fast or rng.random() < 0.5:
            x = cls(2)(x)
        else:
            x = cls(
                (int(rng.integers(1, 4)), int(rng.integers(1, 3))),
                strides=(int(rng.integers(1, 3)), int(rng.integers(1, 3))),
                padding=str(rng.choice(["valid", "same"])),
            )(x)
    if rng.random() < 0.5 and min(x.shape[1:3]) >= 3:
        # 8+ channels into a 3x3 stride-1 conv: the Winograd kernel's case.
        x = layers.Conv2D(int(rng.integers(8, 12)), 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(int(rng.integers(2, 6)), 3, padding="same", activation="relu")(x)
        if rng.random() < 0.5:
            x = layers.MaxPooling2D(2, padding="same")(x)
    if rng.random() < 0.3:
        x = layers.ZeroPadding2D(1)(x)
    if rng.random() < 0.4:
        x = (
            layers.GlobalMaxPooling2D()(x)
            if rng.random() < 0.5
            else layers.GlobalAveragePooling2D()(x)
        )
    else:
        x = layers.Flatten()(x)
    x = layers.Dense(int(rng.integers(3, 12)), activation=str(rng.choice(["relu", "tanh"])))(x)
    x = layers.Dropout(0.3)(x)
    out = layers.Dense(int(rng.integers(2, 6)), activation="softmax")(x)
    model = keras.Model(inp, out)
    _randomize(model, rng)
    return model, rng.normal(size=(h, w, cin)).astype("float32")


def random_model_1d(seed):
    rng = np.random.default_rng(seed)
    n, cin = int(rng.integers(6, 16)), int(rng.integers(1, 4))
    inp = keras.Input(shape=(n, cin))
    dil = int(rng.integers(1, 3))
    a = layers.Conv1D(
        int(rng.integers(1, 5)),
        int(rng.integers(1, 4)),
        strides=1 if dil > 1 else int(rng.integers(1, 3)),
        dilation_rate=dil,
        padding=str(rng.choice(["valid", "same", "causal"])),
        activation=str(rng.choice(ACTS)),
    )(inp)
    b = layers.Conv1D(a.shape[-1], 1, activation="relu")(a)
    x = layers.Add()([a, b]) if rng.random() < 0.5 else layers.Concatenate()([a, b])
    cls = layers.MaxPooling1D if rng.random() < 0.5 else layers.AveragePooling1D
    x = cls(2, padding=str(rng.choice(["valid", "same"])))(x)
    x = layers.ReLU()(x) if rng.random() < 0.5 else layers.LeakyReLU(0.2)(x)
    x = layers.GlobalAveragePooling1D()(x) if rng.random() < 0.5 else layers.Flatten()(x)
    out = layers.Softmax()(layers.Dense(3)(x))
    model = keras.Model(inp, out)
    _randomize(model, rng)
    return model, rng.normal(size=(n, cin)).astype("float32")


def _randomize(model, rng):
    """Non-zero biases and batch-norm statistics, so every term of each formula matters."""
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        new = []
        for name, w in zip(layer.params, ws):
            if name == "moving_variance":
                new.append(rng.uniform(0.5, 2.0, w.shape))
            elif name in ("bias", "beta", "moving_mean"):
                new.append(rng.normal(0, 0.5, w.shape))
            elif name == "gamma":
                new.append(rng.uniform(0.5, 1.5, w.shape))
            else:
                new.append(w)
        layer.set_weights(new)


def random_model_winograd(seed):
    """Shapes large enough for the Winograd kernels (8+ input channels, 256+ tiles): an
    unpooled 3x3 'same' conv, then a 3x3 conv fused with a 2x2 max pool."""
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(34, 37)), int(rng.integers(34, 37))
    inp = keras.Input(shape=(h, w, 8))
    x = layers.Conv2D(8, 3, padding="same", activation=str(rng.choice(["relu", "linear"])))(inp)
    x = layers.Conv2D(
        int(rng.integers(2, 6)), 3, activation="relu", padding=str(rng.choice(["valid", "same"]))
    )(x)
    x = layers.MaxPooling2D(2)(x)
    out = layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, out)
    _randomize(model, rng)
    return model, rng.normal(size=(h, w, 8)).astype("float32")
