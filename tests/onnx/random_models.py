"""Seeded random small models over every exportable layer class (for ONNX and .keras tests).

``random_model(seed)`` returns a built functional model with random (not initial) weights:
2D images, 1D sequences or flat vectors; convolutions with every padding, strides and
dilation; pooling incl. "same"; batch norm with random statistics; residual Add/Concatenate
branches; every activation. Shapes stay small so a hundred models run in seconds.
"""

from __future__ import annotations

import numpy as np

import filterbank as keras
from filterbank import layers

ACTIVATIONS = ["relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softmax", "linear"]


def _try(layer, x):
    try:
        y = layer(x)
    except ValueError:
        return x
    if any(d is not None and d < 1 for d in y.shape[1:]):
        return x
    return y


def _image_block(rng, x, rank):
    pick = rng.integers(0, 9)
    conv = layers.Conv2D if rank == 2 else layers.Conv1D
    if pick <= 2:
        strides = int(rng.integers(1, 3))
        pads = ["valid", "same"] + (["causal"] if rank == 1 else [])
        padding = pads[rng.integers(0, len(pads))]
        dil = 1 if strides > 1 else int(rng.integers(1, 3))
        if rank == 2:
            kernel = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            kw = dict(
                strides=(strides, int(rng.integers(1, 3))) if dil == 1 else 1,
                dilation_rate=(dil, 1) if dil > 1 else 1,
            )
        else:
            kernel, kw = int(rng.integers(1, 4)), dict(strides=strides, dilation_rate=dil)
        act = ACTIVATIONS[rng.integers(0, len(ACTIVATIONS))]
        return _try(
            conv(
                int(rng.integers(1, 5)),
                kernel,
                padding=padding,
                activation=act,
                use_bias=bool(rng.integers(0, 4)),
                **kw,
            ),
            x,
        )
    if pick == 3:
        cls = (
            [layers.MaxPooling2D, layers.AveragePooling2D]
            if rank == 2
            else [layers.MaxPooling1D, layers.AveragePooling1D]
        )
        size = (
            (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            if rank == 2
            else int(rng.integers(1, 4))
        )
        strides = [None, 1, 2][rng.integers(0, 3)]
        return _try(
            cls[rng.integers(0, 2)](
                size, strides=strides, padding=["valid", "same"][rng.integers(0, 2)]
            ),
            x,
        )
    if pick == 4:
        return _try(layers.BatchNormalization(epsilon=float(rng.choice([1e-3, 1e-5]))), x)
    if pick == 5 and rank == 2:
        return _try(
            layers.ZeroPadding2D(
                (
                    (int(rng.integers(0, 2)), int(rng.integers(0, 3))),
                    (int(rng.integers(0, 3)), int(rng.integers(0, 2))),
                )
            ),
            x,
        )
    if pick == 6:
        return _try(
            [
                layers.ReLU(),
                layers.ReLU(max_value=0.5, negative_slope=0.1, threshold=0.05),
                layers.LeakyReLU(0.15),
                layers.Dropout(0.3),
            ][rng.integers(0, 4)],
            x,
        )
    if pick == 7:  # a residual branch
        c = x.shape[-1]
        conv_kw = dict(padding="same", activation="relu")
        a = conv(c, 3 if rank == 1 else (3, 1), **conv_kw)(x)
        if rng.integers(0, 2):
            return layers.Add()([x, a])
        return layers.Concatenate(axis=[-1, 1][rng.integers(0, 2)])([x, a])
    return _try(layers.Activation(ACTIVATIONS[rng.integers(0, len(ACTIVATIONS))]), x)


def _head(rng, x, classes):
    rank = len(x.shape) - 2
    pick = rng.integers(0, 4)
    if rank >= 1 and pick == 0:
        cls = {
            1: [layers.GlobalMaxPooling1D, layers.GlobalAveragePooling1D],
            2: [layers.GlobalMaxPooling2D, layers.GlobalAveragePooling2D],
        }[rank]
        keep = bool(rng.integers(0, 2))
        x = cls[rng.integers(0, 2)](keepdims=keep)(x)
        if keep:
            x = layers.Flatten()(x)
    elif rank >= 1 and pick == 1:
        x = layers.Reshape((-1,))(x)
    elif rank >= 1:
        x = layers.Flatten()(x)
    x = layers.Dense(
        int(rng.integers(2, 6)), activation=ACTIVATIONS[rng.integers(0, len(ACTIVATIONS))]
    )(x)
    if rng.integers(0, 2):
        x = layers.Dense(classes)(x)
        return layers.Softmax()(x)
    return layers.Dense(classes, activation="softmax" if rng.integers(0, 2) else None)(x)


def random_model(seed: int):
    """A small random built model (float32), random weights, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    kind = ["image", "image", "sequence", "flat"][seed % 4]
    if kind == "image":
        shape = (int(rng.integers(5, 11)), int(rng.integers(5, 11)), int(rng.integers(1, 4)))
    elif kind == "sequence":
        shape = (int(rng.integers(6, 14)), int(rng.integers(1, 4)))
    else:
        shape = (int(rng.integers(3, 9)),)
    inputs = keras.Input(shape=shape)
    x = inputs
    for _ in range(int(rng.integers(1, 5))):
        if kind == "flat":
            x = [
                layers.Dense(int(rng.integers(2, 6)), activation=ACTIVATIONS[rng.integers(0, 8)]),
                layers.BatchNormalization(),
                layers.Dropout(0.2),
            ][rng.integers(0, 3)](x)
        else:
            x = _image_block(rng, x, len(shape) - 1)
    outputs = _head(rng, x, int(rng.integers(2, 5)))
    model = keras.Model(inputs, outputs, name=f"random_{seed}")
    randomize_weights(model, rng)
    return model


def randomize_weights(model, rng) -> None:
    """Random weights everywhere; batch norm variances positive (it reads them at inference)."""
    for layer in model.layers:
        new = []
        for name, w in layer.params.items():
            # Kernels scaled by fan-in keep activations O(1): a saturated softmax would turn
            # float32 rounding in the logits into large relative output differences.
            std = 1 / np.sqrt(np.prod(w.shape[:-1])) if w.ndim >= 2 else 0.3
            v = rng.normal(0, std, w.shape)
            if name == "moving_variance":
                v = rng.uniform(0.5, 2.0, w.shape)
            new.append(v.astype(w.dtype))
        if new:
            layer.set_weights(new)


def sample_input(model, batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 1, (batch, *t.shape[1:])).astype("float32") for t in model.inputs]
