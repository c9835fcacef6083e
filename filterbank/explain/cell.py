"""``explain.cell``: the arithmetic behind one output cell, from the layer's own weights
and the values its input held for this sample.

Conv1D/Conv2D (any stride, padding, dilation, channels), max/average/global pooling and
Dense are here; the other layer kinds are in :mod:`filterbank.explain.cell_other`.

Example (the 6.86x toy CNN: Pool(ReLU(Conv(I))) = 5):
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank import explain, layers
    >>> keras.utils.clear_session()
    >>> model = keras.Sequential([keras.Input(shape=(3, 3, 1)),
    ...                           layers.Conv2D(1, 2, activation="relu", use_bias=False),
    ...                           layers.MaxPooling2D(2, strides=1)])
    >>> model.layers[0].set_weights([np.array([[1.0, 0], [0, 1]]).reshape(2, 2, 1, 1)])
    >>> I = np.array([[1, 0, 2], [3, 1, 0], [0, 0, 4]], "float32")
    >>> print(explain.cell(model, I, "conv2d", (1, 1, 0)))
    conv2d (Conv2D) output [1, 1, 0]: filter 0 on the 2x2 window at rows 1..2, cols 1..2 of input_layer
      1*1 + 0*0 + 0*0 + 4*1 = 5
      5 + no bias = 5  ->  relu(5) = 5
    >>> explain.cell(model, I, "max_pooling2d", (0, 0, 0)).winner
    {'position': [1, 1, 0], 'value': 5.0, 'window_position': [1, 1]}
"""

from __future__ import annotations

import numpy as np

from ..errors import fmt_shape
from ..ops.conv import resolve_pads
from . import values as V
from .explanation import Explanation

POOL_TYPES = {
    "MaxPooling1D": "max_pool",
    "MaxPooling2D": "max_pool",
    "AveragePooling1D": "average_pool",
    "AveragePooling2D": "average_pool",
    "GlobalMaxPooling1D": "global_pool",
    "GlobalMaxPooling2D": "global_pool",
    "GlobalAveragePooling1D": "global_pool",
    "GlobalAveragePooling2D": "global_pool",
}


def check_index(layer, index, out_shape) -> tuple:
    """``index`` (an int or a tuple, without the batch axis) -> a tuple of non-negative ints."""
    shape = tuple(out_shape[1:])
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        index = (int(index),)
    try:
        idx = tuple(int(i) for i in index)
    except TypeError:
        idx = None
    example = "(" + ", ".join("0" for _ in shape) + ("," if len(shape) == 1 else "") + ")"
    if idx is None or len(idx) != len(shape):
        raise ValueError(
            f"Layer '{layer.name}' has outputs of shape {fmt_shape(shape)} per sample, so index "
            f"needs {len(shape)} number{'s' * (len(shape) != 1)} (without the batch axis), got "
            f"{index!r}. Pass e.g. index={example}."
        )
    out = []
    for axis, (i, n) in enumerate(zip(idx, shape)):
        if not -n <= i < n:
            raise ValueError(
                f"Layer '{layer.name}' index {index!r} is out of range on axis {axis}: the "
                f"output per sample has shape {fmt_shape(shape)}, so it must be in 0..{n - 1}."
            )
        out.append(i % n)
    return tuple(out)


def _activate(layer, z_all, position):
    """(activation name, output) of a kernel layer from the pre-activations ``z_all`` of
    every channel at this position (softmax needs all of them)."""
    act = layer.activation
    y = act.forward(np.asarray(z_all, dtype=np.float64)[None])[0]
    return act.name, float(y[position])


def cell(model, x, layer, index) -> Explanation:
    """The arithmetic behind ``layer``'s output at ``index`` for one sample ``x``.

    Args:
        model: a built filterbank model.
        x: one sample, with or without the batch axis (a missing channel axis of 1 is added).
        layer: a layer name, a layer of the model, or its index among the non-input layers.
        index: the output position without the batch axis: ``(i, j, c)`` for 2D maps,
            ``(i, c)`` for 1D, ``(k,)`` or ``k`` for Dense.

    Returns:
        An :class:`~filterbank.explain.explanation.Explanation`: ``str()`` prints the
        arithmetic, ``.to_dict()`` gives it as JSON-ready data.
    """
    from ..layers.input_layer import InputLayer
    from .cell_other import explain_other

    if isinstance(V.resolve_layer(model, layer), InputLayer):
        raise ValueError(
            f"Layer '{V.resolve_layer(model, layer).name}' is the model's input: "
            "it computes nothing to explain. Pick a layer after it (its values "
            "are the sample itself)."
        )
    if isinstance(x, Snapshot):
        snap = x
        layer = V.resolve_layer(model, layer)
        xb = snap.x
        inputs, output = snap.io(layer)
    else:
        snap = None
        layer = V.resolve_layer(model, layer)
        xb = V.one_sample(model, x)
        inputs, output = V.layer_io(model, xb, layer)
    idx = check_index(layer, index, output.shape)
    ins = [a[0] for a in inputs]
    name = type(layer).__name__
    if name in ("Conv1D", "Conv2D"):
        e = _conv(layer, ins[0], idx)
    elif name in POOL_TYPES:
        e = _pool(layer, ins[0], idx)
    elif name == "Dense":
        e = _dense(layer, ins[0], idx, V.producer(layer.input), model, xb)
    else:
        e = explain_other(layer, ins, idx)
    # The model's own value comes from a sub-model ending at this layer alone, so it runs
    # the prediction path's kernels (a conv + pool pair stays fused there); a Snapshot
    # computed every layer's value at once instead.
    (own,) = [output] if snap is not None else V.run_tensors(model, xb, [layer.output])
    e.model_output = float(own[0][idx])
    names = V.input_layer_name(layer)
    e.input_layer = names[0] if len(names) == 1 else names
    return e


class Snapshot:
    """Every layer's input and output for one sample, computed in one pass, to explain many
    cells of it quickly (an interactive explorer hovering over maps).

    ``snapshot.cell(layer, index)`` is :func:`cell` without re-running the model;
    ``model_output`` then comes from this one pass, where no layer is fused with the next
    (every intermediate value is kept), so it equals the fused prediction path within
    float32 rounding rather than bit for bit.

    Example:
        >>> import numpy as np
        >>> import filterbank as keras
        >>> from filterbank import explain, layers
        >>> keras.utils.clear_session()
        >>> m = keras.Sequential([keras.Input(shape=(4, 4, 1)), layers.Conv2D(2, 3)])
        >>> snap = explain.Snapshot(m, np.ones((4, 4)))
        >>> snap.cell("conv2d", (1, 1, 0)).output == explain.cell(m, np.ones((4, 4)), "conv2d",
        ...                                                       (1, 1, 0)).output
        True
        >>> sorted(snap.maps())
        ['conv2d']
    """

    def __init__(self, model, x):
        from ..layers.input_layer import InputLayer

        self.model = model
        self.x = V.one_sample(model, x)
        self.layers = [la for la in model.layers if not isinstance(la, InputLayer)]
        outs = V.run_tensors(model, self.x, [la.output for la in self.layers])
        self._values = {id(la.output): v for la, v in zip(self.layers, outs)}
        xs = self.x if isinstance(self.x, list) else [self.x]
        for t, a in zip(model.inputs, xs):
            self._values[id(t)] = np.asarray(a, dtype=t.dtype)

    def io(self, layer):
        """(inputs, output) of ``layer``, batch axis of 1 included, as :func:`values.layer_io`."""
        ins = layer.input if isinstance(layer.input, list) else [layer.input]
        return [self._values[id(t)] for t in ins], self._values[id(layer.output)]

    def cell(self, layer, index) -> Explanation:
        return cell(self.model, self, layer, index)

    def maps(self) -> dict:
        """Every layer's output without the batch axis, by name (as :func:`feature_maps`)."""
        return {la.name: self._values[id(la.output)][0] for la in self.layers}


# ---- convolution ---------------------------------------------------------------------------
def _as_2d(layer, x):
    """A Conv1D is the Conv2D of height 1: (L, C) -> (1, L, C); geometry likewise."""
    kernel = layer.get_weights()[0].astype(np.float64)
    if layer.rank == 1:
        return (x[None], kernel[None], (1, *layer.strides), (1, *layer.dilation_rate))
    return x, kernel, tuple(layer.strides), tuple(layer.dilation_rate)


def conv_window(layer, x, position):
    """(window, padding mask, origin, input positions) of a conv layer at output ``position``
    (spatial indices only), for one sample's input ``x`` (spatial..., channels)."""
    x2, kernel, strides, dil = _as_2d(layer, x)
    pads = resolve_pads(
        x.shape[:-1], layer.kernel_size, layer.strides, layer.padding, layer.dilation_rate
    )
    pads = ((0, 0), *pads) if layer.rank == 1 else pads
    pos = (0, *position) if layer.rank == 1 else tuple(position)
    kh, kw = kernel.shape[:2]
    h, w = x2.shape[:2]
    r0 = pos[0] * strides[0] - pads[0][0]
    c0 = pos[1] * strides[1] - pads[1][0]
    rows = r0 + np.arange(kh) * dil[0]
    cols = c0 + np.arange(kw) * dil[1]
    rin = (rows >= 0) & (rows < h)
    cin = (cols >= 0) & (cols < w)
    real = rin[:, None] & cin[None, :]
    window = np.zeros((kh, kw, x2.shape[-1]), np.float64)
    rr, cc = np.meshgrid(np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1), indexing="ij")
    window[real] = x2[rr[real], cc[real]].astype(np.float64)
    positions = [[int(r), int(c)] for r in rows[rin] for c in cols[cin]]
    if layer.rank == 1:
        return window[0], ~real[0], [int(c0)], [[p[1]] for p in positions]
    return window, ~real, [int(r0), int(c0)], positions


def _conv(layer, x, idx):
    *position, c = idx
    window, pad, origin, positions = conv_window(layer, x, position)
    kernel, bias_all = _weights64(layer)
    # Every filter at this position (a softmax activation needs them all), in float64.
    z_all = np.tensordot(window, kernel, axes=window.ndim) + bias_all
    return _weighted_cell(
        layer,
        "conv",
        idx,
        window,
        kernel[..., c],
        bias_all,
        z_all,
        c,
        layer_type=type(layer).__name__,
        padding_mask=pad,
        origin=origin,
        input_positions=positions,
        details={
            "strides": list(layer.strides),
            "padding": layer.padding,
            "dilation_rate": list(layer.dilation_rate),
            "input_shape": list(x.shape),
        },
    )


def _weights64(layer):
    """A kernel layer's kernel and bias (zeros without one) in float64."""
    weights = layer.get_weights()
    kernel = weights[0].astype(np.float64)
    bias_all = weights[1].astype(np.float64) if layer.use_bias else np.zeros(kernel.shape[-1])
    return kernel, bias_all


def _weighted_cell(layer, kind, idx, inputs, weights, bias_all, z_all, c, **fields):
    """``activation(sum(inputs * weights) + bias)`` for output channel ``c`` of a conv or
    dense layer; ``z_all`` holds every channel's pre-activation at this position (softmax
    needs them all), its entry ``c`` replaced by the sum computed here."""
    products = inputs * weights
    total = float(products.sum())
    bias = float(bias_all[c]) if layer.use_bias else None
    z = total + (bias or 0.0)
    z_all[c] = z
    act, out = _activate(layer, z_all, c)
    return Explanation(
        layer=layer.name,
        kind=kind,
        index=list(idx),
        output=out,
        pre_activation=z,
        activation=act,
        bias=bias,
        sum=total,
        window=inputs,
        kernel=weights,
        products=products,
        channel=int(c),
        **fields,
    )


# ---- pooling -------------------------------------------------------------------------------
def _pool(layer, x, idx):
    kind = POOL_TYPES[type(layer).__name__]
    c = idx[-1]
    plane = x[..., c].astype(np.float64)
    if kind == "global_pool":
        window = plane
        pad = np.zeros(plane.shape, bool)
        origin = [0] * plane.ndim
        grid = np.indices(plane.shape).reshape(plane.ndim, -1).T
        positions = [[int(v) for v in p] for p in grid]
        is_max = "Max" in type(layer).__name__
    else:
        size, strides = layer.pool_size, layer.strides
        pads = resolve_pads(plane.shape, size, strides, layer.padding, (1,) * len(size))
        position = idx[:-1]
        starts = [p * s - pb for p, s, (pb, _) in zip(position, strides, pads)]
        ranges = [st + np.arange(k) for st, k in zip(starts, size)]
        inside = [(r >= 0) & (r < n) for r, n in zip(ranges, plane.shape)]
        real = inside[0] if len(inside) == 1 else inside[0][:, None] & inside[1][None, :]
        clipped = [np.clip(r, 0, n - 1) for r, n in zip(ranges, plane.shape)]
        window = np.zeros(size, np.float64)
        window[real] = plane[np.ix_(*clipped)][real]
        pad = ~real
        origin = [int(s) for s in starts]
        positions = [[int(v) for v in p] for p in _product([r[m] for r, m in zip(ranges, inside)])]
        is_max = kind == "max_pool"
    real_vals = window[~pad]
    e = Explanation(
        layer=layer.name,
        layer_type=type(layer).__name__,
        kind=kind,
        index=list(idx),
        output=0.0,
        window=window,
        padding_mask=pad,
        origin=origin,
        input_positions=positions,
        channel=int(c),
        details={"operation": "max" if is_max else "mean"},
    )
    if is_max:
        flat = np.where(pad, -np.inf, window)
        arg = np.unravel_index(int(np.argmax(flat)), window.shape)
        where = [int(o + a) for o, a in zip(origin, arg)] + [int(c)]
        e.output = float(window[arg])
        e.winner = {
            "position": where,
            "value": float(window[arg]),
            "window_position": [int(a) for a in arg],
        }
    else:
        e.counted = ~pad
        e.sum = float(real_vals.sum())
        e.output = e.sum / real_vals.size
        e.details["count"] = int(real_vals.size)
    return e


def _product(axes):
    if len(axes) == 1:
        return [[int(a)] for a in axes[0]]
    return [[int(a), int(b)] for a in axes[0] for b in axes[1]]


# ---- dense ---------------------------------------------------------------------------------
def _dense(layer, x, idx, source, model, xb, top=10):
    *lead, k = idx
    vec = x[tuple(lead)].astype(np.float64)
    kernel, bias_all = _weights64(layer)
    column = kernel[:, k]
    z_all = vec @ kernel + bias_all
    e = _weighted_cell(layer, "dense", idx, vec, column, bias_all, z_all, k, layer_type="Dense")
    products = e.products
    # Where each input came from, when a Flatten made the vector out of a map.
    src_shape = None
    if type(source).__name__ == "Flatten" and not lead:
        src_shape = tuple(source.input.shape[1:])
    order = np.argsort(-np.abs(products), kind="stable")[:top]
    contributions = []
    for i in order:
        item = {
            "input_index": int(i),
            "input": float(vec[i]),
            "weight": float(column[i]),
            "product": float(products[i]),
        }
        if src_shape is not None:
            item["source_position"] = [int(v) for v in np.unravel_index(int(i), src_shape)]
        contributions.append(item)
    e.contributions = contributions
    e.details = {"units": int(kernel.shape[1]), "inputs": int(kernel.shape[0])}
    if e.activation == "softmax":
        e.details["logits"] = z_all
    if src_shape is not None:
        e.details["source_layer"] = V.producer(source.input).name
        e.details["source_shape"] = list(src_shape)
    return e
