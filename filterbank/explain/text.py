"""Text forms: one cell's arithmetic the way the seeds write it, and maps in the terminal.

Small windows print every product (``1*1 + 0*0 + 0*0 + 4*1 = 5``); large ones print
per-channel subtotals and the largest products ("... and 560 more") while the totals stay
exact. Small maps print as aligned numbers, large ones as shaded blocks with a scale.

Example:
    >>> import numpy as np
    >>> print(map_text(np.array([[2.0, 0.0], [3.0, 5.0]])))
    2  0
    3  5
    >>> num(0.7777777), num(-3.0)
    ('0.7778', '-3')
"""

from __future__ import annotations

import numpy as np

MAX_TERMS = 27  # a 3x3x3 window prints in full; anything larger is condensed
TOP_TERMS = 8
SHADES = " ░▒▓█"


def num(v, digits: int = 4) -> str:
    """A number as a learner reads it: integers without a point, others to ``digits``."""
    v = float(v)
    if v != v:
        return "nan"
    if v == int(v) and abs(v) < 1e7:
        return str(int(v))
    return f"{v:.{digits}g}"


def _factor(v) -> str:
    s = num(v)
    return f"({s})" if s.startswith("-") else s


def _where(e) -> str:
    """'at rows 1..2, cols 1..2' for a window with this origin and shape."""
    if e.origin is None or e.window is None:
        return ""
    shape = e.window.shape
    spans = []
    names = ("rows", "cols") if len(e.origin) == 2 else ("steps",)
    dil = e.details.get("dilation_rate", [1] * len(e.origin))
    if len(dil) != len(e.origin):
        dil = dil[-len(e.origin) :]
    for name, o, n, d in zip(names, e.origin, shape, dil):
        step = f" step {d}" if d > 1 and n > 1 else ""
        spans.append(f"{name} {o}..{o + (n - 1) * d}{step}")
    return "at " + ", ".join(spans)


def _head(e) -> str:
    return f"{e.layer} ({e.layer_type}) output [{', '.join(str(i) for i in e.index)}]"


def _activation_line(e) -> str:
    bias = "no bias" if e.bias is None else f"bias {num(e.bias)}"
    line = f"  {num(e.sum, 7)} + {bias} = {num(e.pre_activation, 7)}"
    if e.activation in (None, "linear"):
        return line + "  (no activation)"
    if e.activation == "softmax":
        logits = e.details.get("logits")
        if logits is not None and len(logits) <= 12:
            terms = " + ".join(f"exp({num(z)})" for z in logits)
            return (
                line + f"  ->  softmax: exp({num(e.pre_activation)}) / ({terms})"
                f" = {num(e.output, 7)}"
            )
        return (
            line + f"  ->  softmax over {len(logits) if logits is not None else '?'} "
            f"units = {num(e.output, 7)}"
        )
    return line + f"  ->  {e.activation}({num(e.pre_activation, 7)}) = {num(e.output, 7)}"


def _products_text(e, labels) -> list[str]:
    """The sum of products, in full or condensed; ``labels[i]`` names flat term i."""
    x = np.ravel(e.window)
    w = np.ravel(e.kernel)
    p = np.ravel(e.products)
    n = p.size
    if n <= MAX_TERMS:
        terms = [f"{_factor(a)}*{_factor(b)}" for a, b in zip(x, w)]
        line = f"  {' + '.join(terms)} = {num(e.sum, 7)}"
        if len(line) <= 100:
            return [line]
        # Too long for one line: one line per window row (per kernel row), then the total.
        per = max(1, n // e.window.shape[0]) if e.window.ndim >= 2 else 4
        rows = [" + ".join(terms[k : k + per]) for k in range(0, n, per)]
        return ["  " + ("  " if i == 0 else "+ ") + r for i, r in enumerate(rows)] + [
            f"  = {num(e.sum, 7)}"
        ]
    lines = []
    if e.kind == "conv" and e.window.ndim >= 2:
        per = e.products.reshape(-1, e.products.shape[-1]).sum(axis=0)
        cin = per.size
        lines.append(
            f"  {n} products ({' x '.join(str(s) for s in e.window.shape[:-1])} window"
            f" x {cin} input channel{'s' * (cin != 1)}); per input channel:"
        )
        order = range(cin) if cin <= 16 else np.argsort(-np.abs(per), kind="stable")[:TOP_TERMS]
        parts = [f"ch {int(c)}: {num(per[c])}" for c in order]
        for k in range(0, len(parts), 6):
            lines.append("    " + "   ".join(parts[k : k + 6]))
        if cin > 16:
            lines.append(f"    ... and {cin - TOP_TERMS} more channels")
    top = np.argsort(-np.abs(p), kind="stable")[:TOP_TERMS]
    lines.append("  largest products:")
    for i in top:
        term = f"{_factor(x[i])}*{_factor(w[i])}"
        lines.append(f"    {term:<22} = {num(p[i]):>9}   {labels(i)}")
    lines.append(f"    ... and {n - len(top)} more")
    lines.append(f"  sum of all {n} products = {num(e.sum, 7)}")
    return lines


def _conv_labels(e):
    shape = e.window.shape

    def label(i):
        pos = np.unravel_index(int(i), shape)
        names = ("row", "col", "ch") if len(shape) == 3 else ("step", "ch")
        return ", ".join(f"{a} {int(v)}" for a, v in zip(names, pos)) + " of the window"

    return label


def format_explanation(e) -> str:
    """The arithmetic of an :class:`~filterbank.explain.explanation.Explanation`."""
    head = _head(e)
    src = (
        e.input_layer
        if isinstance(e.input_layer, str)
        else ", ".join(e.input_layer or []) or "its input"
    )
    if e.kind == "conv":
        shape = "x".join(str(s) for s in e.window.shape[:-1])
        cin = e.window.shape[-1]
        size = shape + (f"x{cin}" if cin > 1 else "")
        if e.window.ndim == 2:  # Conv1D: k steps of cin channels
            size = f"{shape}-step" + (f" x {cin}-channel" if cin > 1 else "")
        lines = [f"{head}: filter {e.channel} on the {size} window {_where(e)} of {src}"]
        npad = int(np.sum(e.padding_mask)) if e.padding_mask is not None else 0
        lines += _products_text(e, _conv_labels(e))
        if npad:
            cells = e.padding_mask.size
            lines.append(f"  ({npad} of the {cells} window positions are zero padding)")
        lines.append(_activation_line(e))
        return "\n".join(lines)
    if e.kind == "dense":
        lines = [
            f"{head}: {e.window.size} inputs from {src} times column {e.channel} of the kernel"
        ]

        def label(i):
            sp = e.details.get("source_shape")
            if sp is None:
                return f"input {int(i)}"
            pos = np.unravel_index(int(i), sp)
            return f"input {int(i)} = {e.details['source_layer']}[{', '.join(map(str, pos))}]"

        lines += _products_text(e, label)
        lines.append(_activation_line(e))
        return "\n".join(lines)
    if e.kind in ("max_pool", "average_pool", "global_pool"):
        return _pool_text(e, head, src)
    return _other_text(e, head, src)


def _pool_text(e, head, src):
    size = "x".join(str(s) for s in e.window.shape)
    where = "the whole map" if e.kind == "global_pool" else f"the {size} window {_where(e)}"
    op = e.details["operation"]
    lines = [f"{head}: {op} of {where} of channel {e.channel} of {src}"]
    vals = e.window[~e.padding_mask]
    npad = int(e.padding_mask.sum())
    shown = vals if vals.size <= MAX_TERMS else None
    if op == "max":
        body = ", ".join(num(v) for v in shown) if shown is not None else f"{vals.size} values"
        pos = e.winner["position"]
        lines.append(
            f"  max({body}) = {num(e.output, 7)}  (the winner is at "
            f"[{', '.join(map(str, pos))}] of {src})"
        )
    else:
        body = (
            " + ".join(num(v) for v in shown)
            if shown is not None
            else f"the sum of {vals.size} values {num(e.sum, 7)}"
        )
        lines.append(f"  ({body}) / {vals.size} = {num(e.output, 7)}")
    if npad:
        lines.append(f"  ({npad} padding position{'s' * (npad != 1)} not counted, as Keras)")
    return "\n".join(lines)


def _other_text(e, head, src):
    d = e.details
    if e.kind == "batch_norm":
        return (
            f"{head}: batch normalization (inference) of channel {e.channel} of {src}\n"
            f"  gamma * (x - mean) / sqrt(var + eps) + beta = {num(d['gamma'])} * "
            f"({num(d['input'])} - {num(d['moving_mean'])}) / sqrt({num(d['moving_variance'])}"
            f" + {num(d['epsilon'])}) + {num(d['beta'])} = {num(e.output, 7)}"
        )
    if e.kind == "softmax":
        logits = d["logits"]
        k = e.channel
        lines = [f"{head}: softmax over the {len(logits)} values along axis {d['axis']} of {src}"]
        m = float(np.max(logits))
        ex = np.exp(np.asarray(logits, dtype=np.float64) - m)
        if len(logits) <= 12:
            terms = " + ".join(f"exp({num(z)})" for z in logits)
            ratio = f"{num(ex[k] * np.exp(m))} / {num(ex.sum() * np.exp(m))}" if m < 50 else ""
            lines.append(
                f"  exp({num(logits[k])}) / ({terms}) = "
                + (f"{ratio} = " if ratio else "")
                + num(e.output, 7)
            )
        else:
            lines.append(
                f"  exp({num(logits[k])}) / (sum of {len(logits)} exps) = {num(e.output, 7)}"
            )
        return "\n".join(lines)
    if e.kind == "activation":
        return (
            f"{head}: {e.activation}({num(e.pre_activation, 7)}) = {num(e.output, 7)} (from {src})"
        )
    if e.kind == "reshape":
        pos = ", ".join(map(str, d["source_position"]))
        return (
            f"{head}: {num(e.output, 7)}, the value at [{pos}] of {src} "
            f"(flat position {d['flat_index']})"
        )
    if e.kind == "merge" and d.get("operation") == "add":
        return (
            f"{head}: "
            + " + ".join(num(v) for v in d["values"])
            + f" = {num(e.output, 7)} (one value from each of {src})"
        )
    if e.kind == "merge":
        names = e.input_layer if isinstance(e.input_layer, list) else [src]
        which = names[d["input"]] if d["input"] < len(names) else f"input {d['input']}"
        pos = ", ".join(map(str, d["source_position"]))
        return (
            f"{head}: {num(e.output, 7)}, copied from [{pos}] of {which} "
            f"(input {d['input']} of the concatenation)"
        )
    if e.kind == "padding":
        if d["padding"]:
            return f"{head}: 0, a padding cell added around {src}"
        pos = ", ".join(map(str, d["source_position"]))
        return f"{head}: {num(e.output, 7)}, copied from [{pos}] of {src}"
    if e.kind == "identity":
        return f"{head}: {num(e.output, 7)}, unchanged from {src} ({d['note']})"
    return f"{head}: {num(e.output, 7)} ({d.get('note', '')})"


# ---- maps ----------------------------------------------------------------------------------
def map_text(a, max_numbers: int = 16) -> str:
    """A 2D map as aligned numbers when both sides are <= ``max_numbers``, else as shaded
    blocks (darker = larger) with a scale line. A 1D array prints as one row."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise ValueError(f"map_text expects a 1D or 2D array, got shape {a.shape}.")
    if max(a.shape) <= max_numbers:
        cells = [[num(v, 3) for v in row] for row in a]
        width = max(len(c) for row in cells for c in row)
        return "\n".join("  ".join(c.rjust(width) for c in row) for row in cells)
    lo, hi = float(a.min()), float(a.max())
    span = hi - lo
    levels = (
        np.zeros(a.shape, int)
        if span == 0
        else np.minimum(((a - lo) / span * len(SHADES)).astype(int), len(SHADES) - 1)
    )
    rows = ["".join(SHADES[v] * 2 for v in row) for row in levels]
    step = span / len(SHADES)
    scale = "   ".join(f"{SHADES[i] * 2} {num(lo + i * step, 3)}.." for i in range(len(SHADES)))
    rows.append(f"scale: {scale}{num(hi, 3)}")
    return "\n".join(rows)


def maps_text(maps, name: str = "", max_channels: int = 8) -> str:
    """Every channel of a (h, w, c) or (steps, c) map, one after another, with its range."""
    maps = np.asarray(maps)
    if maps.ndim == 1:
        return f"{name} ({maps.size} values)\n" + map_text(maps)
    out = []
    channels = maps.shape[-1]
    for c in range(min(channels, max_channels)):
        m = maps[..., c]
        out.append(f"{name} channel {c} (min {num(m.min())}, max {num(m.max())})")
        out.append(map_text(m))
    if channels > max_channels:
        out.append(f"... and {channels - max_channels} more channels")
    return "\n".join(out)


def winners_text(winners, channel: int = 0) -> str:
    """A max-pool layer's input map (one channel) as numbers, each window's winner in
    brackets: the text form of :func:`filterbank.explain.pool_winners`.

    Example:
        >>> import numpy as np
        >>> w = {"input": np.array([[1.0, 3], [2, 0]])[..., None],
        ...      "positions": np.array([[[[0, 1]]]])}
        >>> print(winners_text(w))
         1   [3]
         2    0
    """
    plane = np.asarray(winners["input"])[..., channel]
    if plane.ndim == 1:
        plane = plane[None]
    marked = set()
    positions = np.asarray(winners["positions"])
    for idx in np.ndindex(*positions.shape[:-2]):
        p = positions[idx][channel]
        marked.add((0, int(p[0])) if p.size == 1 else (int(p[0]), int(p[1])))
    cells = [
        [(f"[{num(v, 3)}]" if (r, c) in marked else f" {num(v, 3)} ") for c, v in enumerate(row)]
        for r, row in enumerate(plane)
    ]
    width = max(len(x) for row in cells for x in row)
    return "\n".join("  ".join(x.rjust(width) for x in row).rstrip() for row in cells)


def gradients_text(result) -> str:
    """The loss and one line per weight gradient (shape, range, L2 norm) of
    :func:`filterbank.explain.gradients`, and the input gradient's.

    Example:
        >>> import numpy as np
        >>> print(gradients_text({"loss": 0.5, "weights": {"dense": {"kernel": np.ones((2, 1))}},
        ...                       "input": np.zeros((1, 2))}))
        loss 0.5
          dense/kernel     (2, 1)  min 1  max 1  norm 1.414
          input            (1, 2)  min 0  max 0  norm 0
    """

    def line(name, g):
        g = np.asarray(g, dtype=np.float64)
        return (
            f"  {name:<16} {str(g.shape):<7} min {num(g.min())}  max {num(g.max())}  "
            f"norm {num(np.linalg.norm(g))}"
        )

    lines = [f"loss {num(result['loss'], 7)}"]
    for layer, grads in result["weights"].items():
        lines += [line(f"{layer}/{name}", g) for name, g in grads.items()]
    inputs = result["input"] if isinstance(result["input"], list) else [result["input"]]
    lines += [line("input" if len(inputs) == 1 else f"input {i}", g) for i, g in enumerate(inputs)]
    return "\n".join(lines)
