"""Pictures of what a CNN computes (matplotlib, headless: no display is needed).

Every function returns a :class:`matplotlib.figure.Figure` and, given ``save=path``,
writes it as a PNG too. Maps use a diverging colour scale centred on 0 (blue negative,
white 0, red positive) with the value range printed, so an all-zero ReLU map is visibly
zero rather than stretched to look busy.

Example:
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank import explain, layers
    >>> keras.utils.clear_session()
    >>> m = keras.Sequential([keras.Input(shape=(6, 6, 1)), layers.Conv2D(3, 3)])
    >>> fig = explain.plots.plot_feature_maps(m, np.eye(6), "conv2d")
    >>> fig.axes[0].get_title()
    'ch 0 [-0.268, 0.327]'
    >>> fig.savefig(__import__("io").BytesIO(), format="png")
"""

from __future__ import annotations

import numpy as np

from .. import _lazy
from . import values as V

DIVERGING = "RdBu_r"


def _figure(width, height):
    try:
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - the io extra brings it
        raise ImportError(
            "Pictures need matplotlib: pip install 'filterbank[io]' (or pip install matplotlib)."
        ) from e
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig, save):
    """Write ``fig`` as a PNG at ``save`` (if given); returns ``fig``."""
    if save is not None:
        fig.savefig(str(save), dpi=100)
    return fig


def symmetric_limit(a) -> float:
    """max |a|, or 1 for an all-zero array (so zero stays white, not mid-scale noise)."""
    m = float(np.max(np.abs(a))) if np.size(a) else 0.0
    return m if m > 0 else 1.0


def _range(a):
    from .text import num

    return f"[{num(np.min(a), 3)}, {num(np.max(a), 3)}]"


def _grid(n, cols=None):
    cols = cols or int(np.ceil(np.sqrt(n)))
    return int(np.ceil(n / cols)), cols


def _tile(ax, img, vmax, title, cmap=DIVERGING, values=False):
    img = np.atleast_2d(img)
    im = ax.imshow(
        img,
        cmap=cmap,
        vmin=-vmax if cmap == DIVERGING else None,
        vmax=vmax if cmap == DIVERGING else None,
        interpolation="nearest",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)
    if values and img.size <= 100:
        from .text import num

        for (r, c), v in np.ndenumerate(img):
            ax.text(
                c,
                r,
                num(v, 2),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if abs(v) > 0.6 * vmax else "black",
            )
    return im


def plot_feature_maps(model, x, layer, pre_activation=False, max_channels=32, save=None):
    """One tile per channel of ``layer``'s output for one sample, on one shared scale."""
    la = V.resolve_layer(model, layer)
    maps = __import__("filterbank.explain.maps", fromlist=["feature_maps"]).feature_maps(
        model, x, [la], pre_activation=pre_activation
    )[la.name]
    if maps.ndim == 1:  # Dense: one row of units
        maps = maps[None, :, None]
    elif maps.ndim == 2:  # 1D maps (steps, channels): one row per channel, one picture
        return save_figure(_sequence_maps(la, maps, pre_activation), save)
    channels = min(maps.shape[-1], max_channels)
    rows, cols = _grid(channels)
    fig = _figure(1.6 * cols + 1.2, 1.6 * rows + 0.8)
    vmax = symmetric_limit(maps)
    axes = fig.subplots(rows, cols, squeeze=False)
    im = None
    for c, ax in enumerate(axes.ravel()):
        if c >= channels:
            ax.axis("off")
            continue
        im = _tile(ax, maps[..., c], vmax, f"ch {c} {_range(maps[..., c])}")
    what = "pre-activation z" if pre_activation else "output"
    more = f" (first {channels} of {maps.shape[-1]} channels)" if channels < maps.shape[-1] else ""
    fig.suptitle(
        f"{la.name} ({type(la).__name__}) {what}{more}; all values {_range(maps)}", fontsize=10
    )
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="value (0 = white)")
    return save_figure(fig, save)


def _sequence_maps(la, maps, pre_activation):
    """(steps, channels) maps as one picture: a row per channel, steps left to right."""
    shown = maps[:, :64].T
    fig = _figure(min(12, 1.5 + 0.35 * shown.shape[1]), 1.2 + 0.35 * shown.shape[0])
    ax = fig.subplots()
    vmax = symmetric_limit(shown)
    im = _tile(ax, shown, vmax, "", values=shown.size <= 160)
    ax.set_yticks(range(shown.shape[0]), [f"ch {c}" for c in range(shown.shape[0])], fontsize=8)
    ax.set_xlabel("step")
    what = "pre-activation z" if pre_activation else "output"
    more = (
        f" (first {shown.shape[0]} of {maps.shape[1]} channels)"
        if shown.shape[0] < maps.shape[1]
        else ""
    )
    fig.suptitle(
        f"{la.name} ({type(la).__name__}) {what}{more}; all values {_range(maps)}", fontsize=10
    )
    fig.colorbar(im, ax=ax, shrink=0.8, label="value (0 = white)")
    return fig


def plot_filters(model, layer, max_filters=16, max_channels=8, save=None):
    """A conv layer's kernels: one row per filter, one column per input channel."""
    la = V.resolve_layer(model, layer)
    if type(la).__name__ not in ("Conv1D", "Conv2D"):
        raise ValueError(
            f"plot_filters needs a Conv1D/Conv2D layer, got '{la.name}' ({type(la).__name__})."
        )
    kernel = la.get_weights()[0]
    if kernel.ndim == 3:
        kernel = kernel[None]
    nf = min(kernel.shape[-1], max_filters)
    nc = min(kernel.shape[-2], max_channels)
    # Filters side by side when each has one input channel, else one row per filter.
    if nc == 1:
        rows, cols = _grid(nf)
    else:
        rows, cols = nf, nc
    fig = _figure(1.3 * cols + 1.2, 1.3 * rows + 0.8)
    axes = fig.subplots(rows, cols, squeeze=False)
    vmax = symmetric_limit(kernel)
    im = None
    small = kernel.shape[0] * kernel.shape[1] <= 25 and rows * cols <= 16
    for k, ax in enumerate(axes.ravel()):
        f, c = (k, 0) if nc == 1 else divmod(k, cols)
        if f >= nf or c >= nc:
            ax.axis("off")
            continue
        # One channel: each tile is a filter; several: rows are filters, columns channels.
        title = f"filter {f}" if nc == 1 else (f"input ch {c}" if f == 0 else "")
        im = _tile(ax, kernel[:, :, c, f], vmax, title, values=small)
        if nc > 1 and c == 0:
            ax.set_ylabel(f"filter {f}", fontsize=8)
    more = []
    if nf < kernel.shape[-1]:
        more.append(f"first {nf} of {kernel.shape[-1]} filters")
    if nc < kernel.shape[-2]:
        more.append(f"first {nc} of {kernel.shape[-2]} input channels")
    fig.suptitle(
        f"{la.name} kernels {kernel.shape[0]}x{kernel.shape[1]}"
        + (f" ({'; '.join(more)})" if more else "")
        + f"; weights {_range(kernel)}",
        fontsize=10,
    )
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="weight")
    return save_figure(fig, save)


def plot_pool_winners(model, x, layer, channel=0, save=None):
    """A max-pooling layer's input map (one channel) with each window's winner marked,
    beside the pooled output."""
    from .maps import pool_winners

    la = V.resolve_layer(model, layer)
    w = pool_winners(model, x, la)
    inp, out, pos = w["input"], w["values"], w["positions"]
    if inp.ndim == 2:  # 1D: a strip
        inp, out, pos = (
            inp[None],
            out[None],
            np.concatenate([np.zeros(pos.shape[:-1] + (1,), int), pos], axis=-1)[None],
        )
    plane = inp[..., channel]
    fig = _figure(9, 4.2 if plane.shape[0] > 1 else 2.2)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[plane.shape[1], max(out.shape[1], 1)])
    vmax = symmetric_limit(plane)
    _tile(
        ax1,
        plane,
        vmax,
        f"input of {la.name} ({V.input_layer_name(la)[0]}), channel {channel}",
        values=plane.size <= 100,
    )
    from matplotlib.patches import Rectangle

    size, strides = la.pool_size, la.strides
    if len(size) == 1:
        size, strides = (1, *size), (1, *strides)
    big = max(plane.shape) > (12 if plane.shape[0] > 1 else 40)
    # The window grid (windows that tile the input), then each window's winner; a window
    # whose values all tie (e.g. all 0 after a ReLU) has no meaningful winner: unmarked.
    if strides == size:
        for r in np.arange(0, plane.shape[0] + 1, size[0]) - 0.5:
            ax1.axhline(r, color="0.25", lw=1.2)
        for c in np.arange(0, plane.shape[1] + 1, size[1]) - 0.5:
            ax1.axvline(c, color="0.25", lw=1.2)
    ties = 0
    for idx in np.ndindex(*out.shape[:-1]):
        r, c = pos[idx][channel]
        r0, c0 = idx[0] * strides[0], (idx[1] if len(idx) > 1 else 0) * strides[1]
        win = (
            plane[max(r0, 0) : r0 + size[0], max(c0, 0) : c0 + size[1]]
            if len(idx) > 1
            else plane[:, max(idx[0] * strides[1], 0) : idx[0] * strides[1] + size[1]]
        )
        if win.size and np.all(win == win.flat[0]):
            ties += 1
            continue
        if big:
            ax1.plot(c, r, "o", ms=4, mfc="gold", mec="black", mew=0.6)
        else:
            ax1.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="gold", lw=2.5))
    _tile(
        ax2,
        out[..., channel],
        vmax,
        f"{la.name} output (each = its window's max)",
        values=out[..., channel].size <= 100,
    )
    mark = "gold dots" if big else "gold squares"
    note = f"\n({ties} windows of equal values have no winner: unmarked)" if ties else ""
    geometry = (
        f"{size[1]}-step windows, stride {strides[1]}"
        if len(la.pool_size) == 1
        else f"{size[0]}x{size[1]} windows, stride {strides[0]}x{strides[1]}"
    )
    fig.suptitle(f"{la.name}: max over {geometry}; {mark} = the winners{note}", fontsize=10)
    return save_figure(fig, save)


def _image_for_display(x):
    img = np.asarray(x, dtype=np.float64)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 3:
        lo, hi = img.min(), img.max()
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    return img


def _upsample(m, shape):
    """Bilinear resize of a 2D map to ``shape`` (cell centres aligned)."""
    m = np.asarray(m, dtype=np.float64)
    ys = (np.arange(shape[0]) + 0.5) * m.shape[0] / shape[0] - 0.5
    xs = (np.arange(shape[1]) + 0.5) * m.shape[1] / shape[1] - 0.5
    ys, xs = np.clip(ys, 0, m.shape[0] - 1), np.clip(xs, 0, m.shape[1] - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, m.shape[0] - 1), np.minimum(x0 + 1, m.shape[1] - 1)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = m[y0][:, x0] * (1 - wx) + m[y0][:, x1] * wx
    bottom = m[y1][:, x0] * (1 - wx) + m[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def _overlay(title, x, heat, heat_label, extra=""):
    img = _image_for_display(x)
    fig = _figure(10, 3.6)
    a1, a2, a3 = fig.subplots(1, 3)
    for ax in (a1, a2, a3):
        ax.set_xticks([])
        ax.set_yticks([])
    a1.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
    a1.set_title("input", fontsize=9)
    im = a2.imshow(heat, cmap="inferno", vmin=0, interpolation="nearest")
    a2.set_title(f"{heat_label} [{heat.min():.3g}, {heat.max():.3g}]", fontsize=9)
    fig.colorbar(im, ax=a2, shrink=0.8)
    a3.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
    peak = heat.max()
    a3.imshow(
        heat / peak if peak > 0 else heat,
        cmap="inferno",
        alpha=0.55,
        vmin=0,
        vmax=1,
        interpolation="bilinear",
    )
    a3.set_title("overlay", fontsize=9)
    fig.suptitle(title + extra, fontsize=10)
    return fig


def _class_title(model, x, class_index, class_names):
    probs = np.asarray(model.predict(V.one_sample(model, x), verbose=0))[0]
    if class_index is None:
        class_index = int(np.argmax(probs))
    name = class_names[class_index] if class_names is not None else str(class_index)
    return class_index, f"class {name} (model output {probs[class_index]:.4g})"


def plot_saliency(model, x, class_index=None, class_names=None, save=None):
    """The saliency map |d score / d input| of one sample, beside and over the input."""
    from .gradients import saliency

    class_index, what = _class_title(model, x, class_index, class_names)
    heat = saliency(model, x, class_index)
    img = np.asarray(V.one_sample(model, x))[0]
    if heat.ndim == 1:  # a sequence: one row per input channel, steps left to right
        img = img.T
        heat = np.repeat(heat[None], img.shape[0], axis=0)
    fig = _overlay(
        f"Saliency for {what}: how much each pixel moves the class score",
        img,
        heat,
        "|d score / d pixel|",
    )
    return save_figure(fig, save)


def plot_grad_cam(model, x, class_index=None, layer=None, class_names=None, save=None):
    """Grad-CAM of one sample (at ``layer``, default the last conv), upsampled over the input."""
    from .gradients import grad_cam, last_conv_layer

    class_index, what = _class_title(model, x, class_index, class_names)
    la = last_conv_layer(model) if layer is None else V.resolve_layer(model, layer)
    cam = grad_cam(model, x, class_index, la)
    img = np.asarray(V.one_sample(model, x))[0]
    if cam.ndim == 1:  # a sequence: one row per input channel, steps left to right
        img = img.T
        cam = cam[None]
    shape = img.shape[:2]
    fig = _overlay(
        f"Grad-CAM for {what} at {la.name}",
        img,
        _upsample(cam, shape),
        "Grad-CAM",
        extra=f" ({cam.shape[0]}x{cam.shape[1]} map, upsampled)",
    )
    return save_figure(fig, save)


# plot_cell, plot_history and plot_image_grid live in sibling modules (kept small).
__getattr__ = _lazy.lazy_attributes(
    __name__,
    __package__,
    attributes={
        "plot_cell": ".plots_cell",
        "plot_history": ".plots_training",
        "plot_image_grid": ".plots_training",
    },
)
