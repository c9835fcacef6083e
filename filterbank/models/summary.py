"""``model.summary()``: the Keras 3 table, drawn in plain text (no ``rich`` needed).

Layout as Keras 3: a title ``Model: "name"``, a box-drawn table with the
columns "Layer (type)", "Output Shape", "Param #" (and "Connected to" for a
functional model that is not a simple chain), then the totals with their
memory size::

    Model: "sequential"
    ┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
    ┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
    ┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
    │ conv2d (Conv2D)                 │ (None, 26, 26, 32)     │           320 │
    ...
     Total params: 93,322 (364.54 KB)
     Trainable params: 93,322 (364.54 KB)
     Non-trainable params: 0 (0.00 B)

Column widths follow Keras: ``positions`` split ``line_length`` (default 88, or
108 with "Connected to", capped at the terminal width minus 4), then each
cell's padding is taken back evenly, the way ``rich`` fits the table.

Example:
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> m = keras.Sequential([layers.Dense(4, input_shape=(3,))], name="tiny")
    >>> print(format_summary(m, line_length=60).splitlines()[0])
    Model: "tiny"
"""

from __future__ import annotations

import shutil

from ..errors import fmt_shape

# rich's HEAVY_HEAD box: top, header row, header separator, body row, row separator, bottom.
_TOP = ("┏", "━", "┳", "┓")
_HEAD_ROW = ("┃", "┃", "┃")
_HEAD_SEP = ("┡", "━", "╇", "┩")
_ROW = ("│", "│", "│")
_ROW_SEP = ("├", "─", "┼", "┤")
_BOTTOM = ("└", "─", "┴", "┘")


def readable_memory_size(n_bytes: float) -> str:
    """Keras's size string: 373288 -> '364.54 KB' (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n_bytes / 1024 < 1:
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.2f} PB"


def _is_chain(model) -> bool:
    """True when a functional model is a simple chain (Keras then omits "Connected to")."""
    from .sequential import Sequential

    if isinstance(model, Sequential) or model._graph is None:
        return True
    g = model._graph
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        return False
    return all(len(s.in_slots) == 1 for s in g.steps) and all(c <= 1 for c in g.consumers)


def _ratio_reduce(total: int, widths: list[int]) -> list[int]:
    """rich's ratio_reduce with equal ratios: take ``total`` off the widths evenly."""
    out = []
    remaining_ratio = len(widths)
    for w in widths:
        cut = min(w, round(total / remaining_ratio))  # Python's round: banker's, as rich
        out.append(w - cut)
        total -= cut
        remaining_ratio -= 1
    return out


def _wrap(text: str, width: int) -> list[str]:
    """Word-wrap into lines of at most ``width`` characters (long words are folded)."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        while len(word) > width:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= width:
            current += " " + word
        else:
            lines.append(current)
            current = word
    lines.append(current)
    return lines


def _justify(text: str, width: int, how: str) -> str:
    if how == "right":
        return text.rjust(width)
    if how == "center":
        return text.center(width)
    return text.ljust(width)


def _rule(box, widths):
    left, fill, mid, right = box
    return left + mid.join(fill * w for w in widths) + right


def _row(box, cells, widths, align):
    left, mid, right = box
    wrapped = [_wrap(str(c), w - 2) for c, w in zip(cells, widths)]
    height = max(len(w) for w in wrapped)
    lines = []
    for i in range(height):
        parts = []
        for lines_of_cell, w, how in zip(wrapped, widths, align):
            text = lines_of_cell[i] if i < len(lines_of_cell) else ""
            parts.append(" " + _justify(text, w - 2, how) + " ")
        lines.append(left + mid.join(parts) + right)
    return lines


def _layer_fields(model, layer, chain: bool, show_trainable: bool):
    name = f"{layer.name} ({type(layer).__name__})"
    node = layer.inbound_node
    in_graph = model._graph is not None and node is not None
    shape = fmt_shape(node.output.shape) if in_graph else "?"
    params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
    fields = [name, shape, params]
    if not chain:
        conns = ", ".join(f"{t.node.layer.name}[0][0]" for t in node.inputs) if in_graph else ""
        fields.append(conns or "-")
    if show_trainable:
        fields.append(("Y" if layer.trainable else "N") if layer.weights else "-")
    return fields


def _layer_range(layers, layer_range):
    """Keras's layer_range: rows from the first name matching ``first`` to the last matching
    ``last`` (regexes allowed), both included."""
    if layer_range is None:
        return layers
    import re

    if (
        not isinstance(layer_range, (list, tuple))
        or len(layer_range) != 2
        or not all(isinstance(s, str) for s in layer_range)
    ):
        raise ValueError(
            f"summary() argument layer_range expects two layer names (or regexes), e.g. "
            f"layer_range=('conv2d', 'flatten'), got {layer_range!r}."
        )
    lo = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    hi = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lo or not hi:
        raise ValueError(
            f"summary() argument layer_range={tuple(layer_range)} matches no layer "
            f"name{'' if lo else ' for its first entry'}. Layer names: "
            f"{[layer.name for layer in layers]}."
        )
    start, stop = (min(lo), max(hi) + 1) if min(lo) <= max(hi) else (min(hi), max(lo) + 1)
    return layers[start:stop]


def format_summary(
    model, line_length=None, positions=None, show_trainable=False, layer_range=None
) -> str:
    """The summary table as text (see the module docstring)."""
    chain = _is_chain(model)
    if chain:
        default_length, default_positions = 88, [0.45, 0.80, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #"]
        align = ["left", "left", "right"]
    else:
        default_length, default_positions = 108, [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        align = ["left", "left", "right", "left"]
    if show_trainable:
        default_length += 12
        default_positions = [p * 0.90 for p in default_positions] + [1.0]
        header.append("Trainable")
        align.append("center")
    default_length = min(default_length, shutil.get_terminal_size().columns - 4)
    line_length = int(line_length or default_length)
    positions = list(positions or default_positions)
    if len(positions) != len(header):
        raise ValueError(
            f"summary() argument positions needs {len(header)} column boundaries "
            f"({', '.join(header)}), got {len(positions)}: {positions}."
        )
    if positions[-1] <= 1:  # fractions of the line (Keras 3); else absolute columns (Keras 2)
        positions = [int(p * line_length) for p in positions]
    col_widths, current = [], 0
    for pos in positions:
        width = int(pos) - current
        if width < 4:
            raise ValueError(
                f"summary(): line_length={line_length} is too narrow for the table; pass a larger "
                "line_length (e.g. 88)."
            )
        col_widths.append(width)
        current += width
    # As rich: each cell gets 1 space of padding on both sides, and the columns are shrunk
    # evenly until the table, borders included, is line_length wide.
    widths = [w + 2 for w in col_widths]
    available = line_length - (len(widths) + 1)
    if sum(widths) > available:
        widths = _ratio_reduce(sum(widths) - available, widths)

    from .sequential import Sequential

    if model._graph is None or isinstance(model, Sequential):
        layers = model.layers
    else:
        layers = model._graph.layers
    layers = _layer_range(layers, layer_range)
    lines = [f'Model: "{model.name}"', _rule(_TOP, widths)]
    lines += _row(_HEAD_ROW, header, widths, align)
    lines.append(_rule(_HEAD_SEP, widths))
    for i, layer in enumerate(layers):
        if i:
            lines.append(_rule(_ROW_SEP, widths))
        lines += _row(_ROW, _layer_fields(model, layer, chain, show_trainable), widths, align)
    lines.append(_rule(_BOTTOM, widths))

    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    t_count = sum(w.size for w in trainable)
    n_count = sum(w.size for w in non_trainable)
    t_bytes = sum(w.nbytes for w in trainable)
    n_bytes = sum(w.nbytes for w in non_trainable)
    opt_arrays = _optimizer_arrays(model)
    o_count = sum(a.size for a in opt_arrays)
    o_bytes = sum(a.nbytes for a in opt_arrays)
    lines.append(
        f" Total params: {t_count + n_count + o_count:,} "
        f"({readable_memory_size(t_bytes + n_bytes + o_bytes)})"
    )
    lines.append(f" Trainable params: {t_count:,} ({readable_memory_size(t_bytes)})")
    lines.append(f" Non-trainable params: {n_count:,} ({readable_memory_size(n_bytes)})")
    if getattr(model, "onnx_input_layout", None) == "NCHW":  # set by filterbank.onnx import
        lines.append(
            " Imported from an NCHW ONNX graph: this model takes NHWC input, "
            "x.transpose(0, 2, 3, 1)."
        )
    if opt_arrays:
        lines.append(f" Optimizer params: {o_count:,} ({readable_memory_size(o_bytes)})")
    return "\n".join(lines)


def _optimizer_arrays(model) -> list:
    """The optimizer's state arrays once it has taken a step (Keras prints them then)."""
    opt = getattr(model, "optimizer", None)
    if opt is None or not getattr(model, "compiled", False) or not getattr(opt, "iterations", 0):
        return []
    get_state = getattr(opt, "get_state", None)
    if get_state is None:
        return []
    return [v for v in get_state().values() if hasattr(v, "nbytes")]


_ASCII = str.maketrans(
    {
        "┏": "+",
        "┳": "+",
        "┓": "+",
        "┡": "+",
        "╇": "+",
        "┩": "+",
        "├": "+",
        "┼": "+",
        "┤": "+",
        "└": "+",
        "┴": "+",
        "┘": "+",
        "━": "=",
        "─": "-",
        "┃": "|",
        "│": "|",
    }
)


def to_ascii(text: str) -> str:
    """The table with ASCII borders (for consoles that cannot encode box-drawing characters)."""
    return text.translate(_ASCII)


def print_summary(
    model, line_length=None, positions=None, print_fn=None, show_trainable=False, layer_range=None
):
    """Print :func:`format_summary`'s text, or hand it to ``print_fn`` in one call."""
    text = format_summary(
        model,
        line_length=line_length,
        positions=positions,
        show_trainable=show_trainable,
        layer_range=layer_range,
    )
    if print_fn is not None:
        print_fn(text)
        return
    try:
        print(text)
    except UnicodeEncodeError:
        print(to_ascii(text))
