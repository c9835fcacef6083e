"""Layer arithmetic: output-size and parameter formulas with their numbers, the receptive
field, and what a Dense layer between the same input and output would cost.

Works from the layers' configurations and shapes alone: nothing is allocated, so a
``Dense(10**6)`` on a 10^6-value input answers 10^12 + 10^6 parameters (MITx 6.86x's
argument for convolutions) instead of running out of memory.

Example (CS231n: a 7x7 input, 3x3 filter, stride 3 "doesn't fit"):
    >>> from filterbank import explain, layers
    >>> rows = explain.layer_arithmetic([layers.Conv2D(1, 3, strides=3)], input_shape=(7, 7, 1))
    >>> print(rows[0]["output_formula"])
    height: (7 - 3 + 2*0)/3 + 1 = 2.333: doesn't fit, floored to 2 (the last 1 cell is never covered)
    width: (7 - 3 + 2*0)/3 + 1 = 2.333: doesn't fit, floored to 2 (the last 1 cell is never covered)
    >>> explain.count_params(layers.Dense(10**6), input_shape=(10**6,))
    1000001000000
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import fmt_shape
from ..layers.input_layer import InputLayer
from ..ops.padding import effective_kernel, same_padding


def _conv_geometry(layer):
    """(kernel, strides, dilation, padding) of a conv or pooling layer, else None."""
    name = type(layer).__name__
    if name in ("Conv1D", "Conv2D"):
        return layer.kernel_size, layer.strides, layer.dilation_rate, layer.padding
    if hasattr(layer, "pool_size") and "Global" not in name:
        return layer.pool_size, layer.strides, (1,) * len(layer.pool_size), layer.padding
    return None


def _axis_formula(axis, n, k, s, d, padding):
    f = effective_kernel(k, d)
    fdesc = f"{f}" if d == 1 else f"{f} (kernel {k} dilated by {d})"
    if padding == "same":
        before, after = same_padding(n, k, s, d)
        out = -(-n // s)
        return (
            (
                f"{axis}: ceil({n}/{s}) = {out} ('same': {before} zero"
                f"{'s' * (before != 1)} before, {after} after; F = {fdesc})"
            ),
            out,
            True,
        )
    p = f - 1 if padding == "causal" else 0
    span = n - f + p
    exact = span / s + 1
    out = span // s + 1
    pp = f"{p}" if padding == "causal" else "2*0"
    text = f"{axis}: ({n} - {f} + {pp})/{s} + 1 = {exact:.4g}"
    if padding == "causal":
        text += f" ('causal': {p} zeros before)"
    if span % s:
        rest = span % s
        text += (
            f": doesn't fit, floored to {out} (the last {rest} cell"
            f"{'s are' if rest != 1 else ' is'} never covered)"
        )
        return text, out, False
    return text, out, True


def _param_formula(layer, in_shape):
    """(formula text, count) from the configuration; (None, None) when unknown."""
    name = type(layer).__name__
    if name in ("Conv1D", "Conv2D"):
        k = "*".join(str(v) for v in layer.kernel_size)
        cin = in_shape[-1]
        b = " + 1" if layer.use_bias else ""
        count = (int(np.prod(layer.kernel_size)) * cin + int(layer.use_bias)) * layer.filters
        return f"({k}*{cin}{b})*{layer.filters} = {count:,}", count
    if name == "Dense":
        n = in_shape[-1]
        b = " + 1" if layer.use_bias else ""
        count = (n + int(layer.use_bias)) * layer.units
        return f"({n}{b})*{layer.units} = {count:,}", count
    if name == "BatchNormalization":
        c = in_shape[layer.axis if isinstance(layer.axis, int) else layer.axis[0]]
        per = 2 + int(layer.center) + int(layer.scale)
        return f"{per}*{c} = {per * c:,} ({2 * c:,} of them moving statistics)", per * c
    if layer.built:
        count = layer.count_params()
        return (f"{count:,}" if count else "0"), count
    if not _has_weights(name):
        return "0", 0
    return None, None


def _has_weights(name):
    return (
        name
        not in (
            "Flatten",
            "Reshape",
            "ZeroPadding2D",
            "Dropout",
            "Activation",
            "ReLU",
            "LeakyReLU",
            "Softmax",
            "Add",
            "Concatenate",
        )
        and "Pool" not in name
    )


def count_params(layer, input_shape) -> int:
    """Parameters of ``layer`` on inputs of ``input_shape`` (no batch axis), from its
    configuration only (nothing is allocated)."""
    shape = (None, *tuple(input_shape))
    _, count = _param_formula(layer, shape)
    if count is None:
        raise ValueError(
            f"count_params does not know the formula of {type(layer).__name__} "
            "layers; build the layer and call layer.count_params()."
        )
    return int(count)


def _size(shape):
    return int(np.prod([d for d in shape[1:]], dtype=object)) if None not in shape[1:] else None


def _walk(model_or_layers, input_shape):
    """(layer, input shapes, output shape) for every layer, computed without building."""
    if isinstance(model_or_layers, (list, tuple)):
        if input_shape is None:
            raise ValueError(
                "layer_arithmetic on a list of layers needs input_shape=(...), "
                "the shape of one sample, e.g. input_shape=(28, 28, 1)."
            )
        shape = (None, *tuple(input_shape))
        out = []
        for layer in model_or_layers:
            if isinstance(layer, InputLayer):
                continue
            new = tuple(layer.compute_output_shape(shape))
            out.append((layer, [shape], new))
            shape = new
        return out
    model = model_or_layers
    rows = []
    for layer in model.layers:
        if isinstance(layer, InputLayer):
            continue
        ins = layer.input if isinstance(layer.input, list) else [layer.input]
        rows.append((layer, [t.shape for t in ins], layer.output.shape))
    return rows


def layer_arithmetic(model_or_layers, input_shape=None) -> list[dict]:
    """Per layer: output-size and parameter formulas with the numbers, the receptive field,
    and the cost of a Dense layer between the same input and output.

    Args:
        model_or_layers: a built model, or a list of (unbuilt) layers in order.
        input_shape: one sample's shape, for a list of layers.

    Returns:
        One dict per layer: ``name``, ``type``, ``input_shape``, ``output_shape``,
        ``output_formula`` (one line per spatial axis, "doesn't fit" flagged),
        ``fits`` (False when a formula is not whole), ``param_formula``, ``params``,
        ``receptive_field`` (input cells per axis that one output cell sees, or None for
        "all"), ``jump`` (input cells between neighbouring output cells),
        ``dense_params`` (the Dense-equivalent count) and ``dense_formula``.
    """
    rf: dict = {}
    rows = []
    items = _walk(model_or_layers, input_shape)
    for layer, in_shapes, out_shape in items:
        in_shape = in_shapes[0]
        spatial = len(in_shape) - 2
        prev = _previous_field(model_or_layers, layer, rf, rows, spatial)
        fields, fits = [], True
        geo = _conv_geometry(layer)
        r, j = list(prev[0]), list(prev[1])
        if geo is not None:
            kernel, strides, dil, padding = geo
            names = ("height", "width") if len(kernel) == 2 else ("steps",)
            for a, (axis, n, k, s, d) in enumerate(
                zip(names, in_shape[1:-1], kernel, strides, dil)
            ):
                if n is None:
                    continue
                text, _, ok = _axis_formula(axis, n, k, s, d, padding)
                fields.append(text)
                fits = fits and ok
                if a < len(r) and r[a] is not None:
                    r[a] = r[a] + (effective_kernel(k, d) - 1) * j[a]
                    j[a] = j[a] * s
        elif (
            len(out_shape) < len(in_shape)
            or type(layer).__name__ in ("Dense",)
            and len(in_shape) == 2
        ):
            r = [None] * len(r)
        formula, params = _param_formula(layer, in_shape)
        n_in, n_out = _size(in_shape), _size(out_shape)
        dense = dense_formula = None
        if params and n_in and n_out and type(layer).__name__ in ("Conv1D", "Conv2D"):
            dense = n_in * n_out + n_out
            dense_formula = (
                f"{n_in:,}*{n_out:,} + {n_out:,} = {dense:,} "
                f"({_ratio(dense, params)} the layer's {params:,})"
            )
        row = dict(
            name=layer.name,
            type=type(layer).__name__,
            input_shape=fmt_shape(in_shape),
            output_shape=fmt_shape(out_shape),
            output_formula="\n".join(fields) or None,
            fits=fits,
            param_formula=formula,
            params=params,
            receptive_field=None if not r or None in r else r,
            jump=None if not r or None in r else j,
            dense_params=dense,
            dense_formula=dense_formula,
            _rf=(r, j),
        )
        if not isinstance(model_or_layers, (list, tuple)):
            rf[id(layer.output)] = (r, j)
        rows.append(row)
    for row in rows:
        row.pop("_rf")
    return rows


def _previous_field(model_or_layers, layer, rf, rows, spatial):
    """(receptive field, jump) per axis of the layer's input (the widest of a merge's)."""
    if isinstance(model_or_layers, (list, tuple)):
        found = [rows[-1]["_rf"]] if rows else []
    else:
        ins = layer.input if isinstance(layer.input, list) else [layer.input]
        found = [rf[id(t)] for t in ins if id(t) in rf]
    if not found:
        return [1] * max(spatial, 0), [1] * max(spatial, 0)
    if len(found) == 1 or any(None in f[0] for f in found):
        return found[0] if len(found) == 1 else ([None] * len(found[0][0]), found[0][1])
    return (
        [max(f[0][a] for f in found) for a in range(len(found[0][0]))],
        [max(f[1][a] for f in found) for a in range(len(found[0][1]))],
    )


def _ratio(a, b):
    x = a / b
    return f"{x:,.0f}x" if x >= 10 else f"{x:.3g}x"


def arithmetic_text(model_or_layers, input_shape=None) -> str:
    """:func:`layer_arithmetic` as text: one block per layer (what
    ``model.summary(arithmetic=True)`` adds under the table)."""
    lines = ["Layer arithmetic (output size (N - F + 2P)/S + 1; parameters; receptive field)"]
    for row in layer_arithmetic(model_or_layers, input_shape):
        lines.append(
            f"{row['name']} ({row['type']}): {row['input_shape']} -> {row['output_shape']}"
        )
        if row["output_formula"]:
            lines += ["  size    " + t for t in row["output_formula"].splitlines()]
        if row["param_formula"] is not None and row["params"]:
            lines.append(f"  params  {row['param_formula']}")
        if row["receptive_field"] is not None and row["output_formula"]:
            rf = "x".join(str(v) for v in row["receptive_field"])
            jump = "x".join(str(v) for v in row["jump"])
            lines.append(f"  sees    {rf} input cells per output cell (neighbours {jump} apart)")
        if row["dense_formula"]:
            lines.append(
                f"  dense   a Dense layer from the same input to the same output: "
                f"{row['dense_formula']}"
            )
        if not row["fits"]:
            lines.append(
                "  note    the geometry does not fit: libraries floor the size and drop "
                "the last cells; change the padding or stride so (N - F + 2P) is a "
                "multiple of S"
            )
    return "\n".join(lines)


def log10(n: int) -> float:
    """log10 of a (possibly huge) integer, for "10^12 connections" style statements."""
    return math.log10(n)
