"""One output cell's arithmetic as a picture, the way the X's and O's slides draw it:
the input patch, the kernel, their element-wise products, and the sum -> output.

Example:
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank import explain, layers
    >>> keras.utils.clear_session()
    >>> m = keras.Sequential([keras.Input(shape=(3, 3, 1)), layers.Conv2D(1, 2)])
    >>> fig = explain.plots.plot_cell(explain.cell(m, np.eye(3), "conv2d", (0, 0, 0)))
    >>> [ax.get_title() for ax in fig.axes][:3]
    ['input patch', '×  kernel (filter 0)', '=  products']
"""

from __future__ import annotations

import numpy as np

from .plots import _figure, save_figure, symmetric_limit
from .text import num


def _numbers(ax, grid, vmax, mask=None, highlight=None, cmap="RdBu_r"):
    """A grid of numbers on a diverging background; padding hatched, one cell outlined."""
    from matplotlib.patches import Rectangle

    grid = np.atleast_2d(grid)
    ax.imshow(grid, cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    big = grid.size > 49
    for (r, c), v in np.ndenumerate(grid):
        padded = mask is not None and np.atleast_2d(mask)[r, c]
        if padded:
            ax.add_patch(
                Rectangle(
                    (c - 0.5, r - 0.5), 1, 1, facecolor="0.85", hatch="//", edgecolor="0.6", lw=0
                )
            )
        if not big:
            ax.text(
                c,
                r,
                "pad" if padded and v == 0 else num(v, 3),
                ha="center",
                va="center",
                fontsize=9 if grid.size <= 25 else 7,
                color="white" if abs(v) > 0.65 * vmax else "black",
            )
    if highlight is not None:
        r, c = highlight
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="gold", lw=3))
    for k in range(grid.shape[0] + 1):
        ax.axhline(k - 0.5, color="0.5", lw=0.5)
    for k in range(grid.shape[1] + 1):
        ax.axvline(k - 0.5, color="0.5", lw=0.5)


def _result_line(e, divide_by):
    line = f"sum = {num(e.sum, 5)}"
    if e.bias is not None:
        line += f" + bias {num(e.bias, 4)} = {num(e.pre_activation, 5)}"
    if divide_by:
        line = (
            f"sum = {num(e.sum, 5)};  mean = {num(e.sum, 5)} / {divide_by} = "
            f"{num(e.sum / divide_by, 3)}"
        )
    if e.activation not in (None, "linear") and not divide_by:
        line += f"  ->  {e.activation} = {num(e.output, 5)}"
    return line


def plot_cell(e, in_channel=None, divide_by=None, save=None):
    """Draw an :class:`~filterbank.explain.explanation.Explanation` (conv, pooling, dense).

    Args:
        e: what :func:`filterbank.explain.cell` returned.
        in_channel: for a multi-channel conv window, the input channel to draw (default:
            the one whose products add up to the most, in absolute value).
        divide_by: show the mean of the products (the X's and O's slides divide by 9).
    """
    if e.kind == "conv":
        return save_figure(_conv(e, in_channel, divide_by), save)
    if e.kind in ("max_pool", "average_pool", "global_pool"):
        return save_figure(_pool(e), save)
    if e.kind == "dense":
        return save_figure(_dense(e), save)
    fig = _figure(6, 1.5)
    fig.text(0.02, 0.5, str(e), family="monospace", fontsize=9, va="center")
    return save_figure(fig, save)


def _conv(e, in_channel, divide_by):
    window, kernel, products = e.window, e.kernel, e.products
    if window.ndim == 2:  # Conv1D: a one-row strip
        window, kernel, products = window[None], kernel[None], products[None]
        mask = e.padding_mask[None]
    else:
        mask = e.padding_mask
    cin = window.shape[-1]
    per = products.reshape(-1, cin).sum(axis=0)
    c = int(np.argmax(np.abs(per))) if in_channel is None else int(in_channel)
    fig = _figure(11, 4.3 if window.shape[0] > 1 else 2.4)
    axes = fig.subplots(1, 3)
    vx = symmetric_limit(window[..., c])
    vk = symmetric_limit(kernel[..., c])
    vp = symmetric_limit(products[..., c])
    _numbers(axes[0], window[..., c], vx, mask)
    axes[0].set_title("input patch")
    _numbers(axes[1], kernel[..., c], vk)
    axes[1].set_title(f"\u00d7  kernel (filter {e.channel})")
    _numbers(axes[2], products[..., c], vp, mask)
    axes[2].set_title("=  products")
    where = ", ".join(str(i) for i in e.index)
    o = ", ".join(str(v) for v in e.origin)
    chan = (
        ""
        if cin == 1
        else (f"; input channel {c} of {cin} shown (its products add up to {num(per[c], 4)})")
    )
    fig.suptitle(
        f"{e.layer} output [{where}]: the window at [{o}] of {e.input_layer} times "
        f"filter {e.channel}, cell by cell{chan}",
        fontsize=10,
    )
    total = _result_line(e, divide_by)
    if cin > 1:
        total = f"all {cin} channels: " + total
    fig.text(0.5, 0.01, total, ha="center", fontsize=12, weight="bold")
    fig.get_layout_engine().set(rect=(0, 0.07, 1, 0.93))
    return fig


def _pool(e):
    window, mask = e.window, e.padding_mask
    if window.ndim == 1:
        window, mask = window[None], mask[None]
    fig = _figure(5.5, 4.5)
    ax = fig.subplots()
    highlight = None
    if e.winner is not None:
        wp = e.winner["window_position"]
        highlight = (0, wp[0]) if len(wp) == 1 else tuple(wp)
    _numbers(ax, window, symmetric_limit(window), mask, highlight)
    where = ", ".join(str(i) for i in e.index)
    if e.winner is not None:
        pos = ", ".join(str(v) for v in e.winner["position"])
        line = f"max = {num(e.output, 4)} (gold: the winner, at [{pos}] of {e.input_layer})"
    else:
        n = e.details["count"]
        line = f"mean of the {n} real cells = {num(e.sum, 4)} / {n} = {num(e.output, 4)}"
    ax.set_title(f"{e.layer} output [{where}]: channel {e.channel} window", fontsize=10)
    fig.text(0.5, 0.01, line, ha="center", fontsize=10, weight="bold")
    fig.get_layout_engine().set(rect=(0, 0.07, 1, 0.93))
    return fig


def _dense(e):
    items = e.contributions
    fig = _figure(8, 0.45 * len(items) + 1.8)
    ax = fig.subplots()
    labels, vals = [], []
    for it in items:
        src = it.get("source_position")
        where = f" = {e.details['source_layer']}[{', '.join(map(str, src))}]" if src else ""
        labels.append(
            f"input {it['input_index']}{where}: {num(it['input'], 3)} x {num(it['weight'], 3)}"
        )
        vals.append(it["product"])
    y = np.arange(len(vals))[::-1]
    ax.barh(y, vals, color=["tab:red" if v > 0 else "tab:blue" for v in vals])
    ax.set_yticks(y, labels, fontsize=8)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_xlabel("product (input x weight)")
    n = e.window.size
    ax.set_title(
        f"{e.layer} unit {e.channel}: the {len(vals)} largest of {n} products", fontsize=10
    )
    fig.text(0.5, 0.01, _result_line(e, None), ha="center", fontsize=10, weight="bold")
    fig.get_layout_engine().set(rect=(0, 0.06, 1, 0.94))
    return fig
