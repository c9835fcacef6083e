"""``explain.cell`` for the layers without a window: batch norm, activations, softmax,
Flatten/Reshape, Add/Concatenate, ZeroPadding2D and Dropout (and a plain answer for any
other layer).

Example:
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank import explain, layers
    >>> keras.utils.clear_session()
    >>> inp = keras.Input(shape=(3,))
    >>> model = keras.Model(inp, layers.Softmax()(inp))
    >>> print(explain.cell(model, np.log([1.0, 2.0, 1.0]), "softmax", 1))
    softmax (Softmax) output [1]: softmax over the 3 values along axis -1 of input_layer
      exp(0.6931) / (exp(0) + exp(0.6931) + exp(0)) = 2 / 4 = 0.5
"""

from __future__ import annotations

import numpy as np

from .explanation import Explanation


def explain_other(layer, inputs, idx) -> Explanation:
    name = type(layer).__name__
    x = inputs[0].astype(np.float64) if inputs else None
    base = dict(layer=layer.name, layer_type=name, index=list(idx))
    if name == "BatchNormalization":
        return _batch_norm(layer, x, idx, base)
    if name == "Softmax":
        return _softmax(layer, x, idx, base)
    if name in ("Activation", "ReLU", "LeakyReLU"):
        v = float(x[idx])
        y = (
            float(layer(np.array([[v]], dtype=layer.compute_dtype))[0, 0])
            if name != "Activation"
            else float(layer.activation.forward(np.array([v]))[0])
        )
        act = layer.activation.name if name == "Activation" else _relu_name(layer)
        if act == "softmax":
            return _softmax(layer, x, idx, base)
        return Explanation(
            kind="activation",
            output=y,
            pre_activation=v,
            activation=act,
            input_positions=[list(idx)],
            **base,
        )
    if name in ("Flatten", "Reshape"):
        flat = int(np.ravel_multi_index(idx, layer.output.shape[1:]))
        src = [int(v) for v in np.unravel_index(flat, x.shape)]
        return Explanation(
            kind="reshape",
            output=float(x[tuple(src)]),
            input_positions=[src],
            details={"flat_index": flat, "source_position": src},
            **base,
        )
    if name == "Add":
        vals = [float(a[idx]) for a in inputs]
        return Explanation(
            kind="merge",
            output=float(np.sum(vals)),
            sum=float(np.sum(vals)),
            input_positions=[list(idx)] * len(vals),
            details={"operation": "add", "values": vals},
            **base,
        )
    if name == "Concatenate":
        return _concatenate(layer, inputs, idx, base)
    if name == "ZeroPadding2D":
        (t, _), (left, _) = layer.padding
        r, c = idx[0] - t, idx[1] - left
        inside = 0 <= r < x.shape[0] and 0 <= c < x.shape[1]
        src = [r, c, idx[2]]
        return Explanation(
            kind="padding",
            output=float(x[tuple(src)]) if inside else 0.0,
            input_positions=[src] if inside else [],
            details={"padding": not inside, "source_position": src},
            **base,
        )
    if name == "Dropout":
        return Explanation(
            kind="identity",
            output=float(x[idx]),
            input_positions=[list(idx)],
            details={"note": "Dropout passes values unchanged at inference"},
            **base,
        )
    # A layer this module does not know: report its value, honestly without arithmetic.
    value = float(x[idx]) if x is not None and x.shape == tuple(layer.output.shape[1:]) else None
    return Explanation(
        kind="other",
        output=float("nan") if value is None else value,
        details={"note": f"no arithmetic view for {name} layers yet"},
        **base,
    )


def _relu_name(layer):
    if type(layer).__name__ == "LeakyReLU":
        return "leaky_relu"
    plain = layer.max_value is None and layer.negative_slope == 0 and layer.threshold == 0
    return "relu" if plain else "relu_options"


def _batch_norm(layer, x, idx, base):
    axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
    axis = axis - 1 if axis > 0 else axis  # the layer's axis counts the batch axis
    ch = idx[axis]
    p = {k: v.astype(np.float64) for k, v in zip(layer.params, layer.get_weights())}
    mean, var = float(p["moving_mean"][ch]), float(p["moving_variance"][ch])
    gamma = float(p["gamma"][ch]) if "gamma" in p else 1.0
    beta = float(p["beta"][ch]) if "beta" in p else 0.0
    v = float(x[idx])
    std = float(np.sqrt(var + layer.epsilon))
    normalized = (v - mean) / std
    out = gamma * normalized + beta
    return Explanation(
        kind="batch_norm",
        output=out,
        pre_activation=v,
        channel=int(ch),
        input_positions=[list(idx)],
        details={
            "input": v,
            "moving_mean": mean,
            "moving_variance": var,
            "epsilon": float(layer.epsilon),
            "gamma": gamma,
            "beta": beta,
            "normalized": normalized,
        },
        **base,
    )


def _softmax(layer, x, idx, base):
    axis = getattr(layer, "axis", -1)
    axis = axis if isinstance(axis, int) else axis[0]
    ax = axis - 1 if axis > 0 else axis % x.ndim
    sl = list(idx)
    sl[ax] = slice(None)
    logits = x[tuple(sl)]
    k = idx[ax]
    shifted = np.exp(logits - logits.max())
    out = float(shifted[k] / shifted.sum())
    return Explanation(
        kind="softmax",
        output=out,
        pre_activation=float(logits[k]),
        activation="softmax",
        channel=int(k),
        input_positions=[[*idx[:ax], j, *idx[ax + 1 :]] for j in range(len(logits))],
        details={"logits": logits, "axis": axis},
        **base,
    )


def _concatenate(layer, inputs, idx, base):
    axis = layer.axis % (inputs[0].ndim + 1) - 1
    offset = 0
    for which, a in enumerate(inputs):
        n = a.shape[axis]
        if idx[axis] < offset + n:
            src = list(idx)
            src[axis] -= offset
            return Explanation(
                kind="merge",
                output=float(a[tuple(src)]),
                input_positions=[src],
                details={"operation": "concatenate", "input": which, "source_position": src},
                **base,
            )
        offset += n
    raise AssertionError("index beyond the concatenated inputs")
