"""Seed 002 (MIT 6.036, chapter 9): 1D filters F1 and F2, and back-propagation through a 1D
conv layer (the closed form of dLoss/dW1), with explain.cell and explain.gradients.

Padding note: the notes pad F1 = (-1, +1) with one zero on the *left*, so Y_i = F1 . (X_{i-1},
X_i). Keras's padding="same" puts the odd pad at the *end* instead (Y_i = F1 . (X_i, X_{i+1})):
use padding="causal" to get the notes' left pad.

Run: python examples/seed_002_1d_filters.py
"""

import numpy as np

import filterbank as keras
from filterbank import explain, layers

X = np.array([0, 0, 1, 1, 1, 0, 1, 0, 0, 0], "float32")


def filter_model(weights, padding):
    model = keras.Sequential(
        [
            keras.Input(shape=(len(X), 1)),
            layers.Conv1D(1, len(weights), padding=padding, use_bias=False, name="f"),
        ]
    )
    model.layers[0].set_weights([np.array(weights, "float32").reshape(-1, 1, 1)])
    return model


def main(out=None):
    f1 = filter_model([-1, 1], "causal")
    y1 = explain.feature_maps(f1, X)["f"][:, 0]
    print(f"X          = {X.astype(int).tolist()}")
    print(f"F1 causal  = {y1.astype(int).tolist()}   (left edges: +1, right edges: -1)")
    print(explain.cell(f1, X, 0, (2, 0)))
    f1_same = filter_model([-1, 1], "same")
    y1_same = explain.feature_maps(f1_same, X)["f"][:, 0]
    print(f"F1 'same'  = {y1_same.astype(int).tolist()}   (Keras pads the end: shifted left)")
    f2 = filter_model([-1, 1, -1], "same")
    y2 = explain.feature_maps(f2, X)["f"][:, 0]
    print(f"F2 'same'  = {y2.astype(int).tolist()}   (isolated pixel at 6 -> the only +1)")

    # Back-propagation (worked example 8): conv (k=3, same) -> ReLU -> dense, squared loss.
    rng = np.random.default_rng(0)
    keras.backend.set_floatx("float64")
    try:
        model = keras.Sequential(
            [
                keras.Input(shape=(len(X), 1)),
                layers.Conv1D(
                    1, 3, padding="same", activation="relu", use_bias=False, name="conv1d"
                ),
                layers.Flatten(),
                layers.Dense(1, use_bias=False),
            ]
        )
        model.compile(loss="mse")
        w1, w2 = rng.normal(size=3), rng.normal(size=len(X))
        model.layers[0].set_weights([w1.reshape(3, 1, 1)])
        model.layers[2].set_weights([w2.reshape(-1, 1)])
        y = 1.0
        g = explain.gradients(model, X[None, :, None].astype("float64"), np.array([[y]]))
    finally:
        keras.backend.set_floatx("float32")
    xp = np.concatenate([[0.0], X, [0.0]])
    z1 = np.array([xp[i : i + 3] @ w1 for i in range(len(X))])
    a2 = np.maximum(z1, 0) @ w2
    closed = [
        sum(xp[i + j] * (z1[i] > 0) * 2 * (a2 - y) * w2[i] for i in range(len(X))) for j in range(3)
    ]
    got = g["weights"]["conv1d"]["kernel"].ravel()
    print(f"\nloss (A2 - y)^2 = {g['loss']:.6f}")
    print(f"dLoss/dW1 from explain.gradients: {np.round(got, 6).tolist()}")
    print(f"closed form sum_i X[i-1+j] [Z1_i > 0] 2 (A2 - y) W2_i: {np.round(closed, 6).tolist()}")
    return {
        "f1": y1.tolist(),
        "f1_same": y1_same.tolist(),
        "f2": y2.tolist(),
        "grad": got.tolist(),
        "closed": closed,
    }


if __name__ == "__main__":
    main()
