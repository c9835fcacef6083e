"""Training curves (from a History, its dict, or a run's metrics.json) and a grid of test
images with their true and predicted labels.

Example:
    >>> from filterbank import explain
    >>> fig = explain.plots.plot_history({"loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.6, 0.5]})
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['epoch']
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .plots import _figure, save_figure


def _history_dict(history) -> dict:
    if isinstance(history, (str, Path)):
        path = Path(history)
        if path.is_dir():
            path = path / "metrics.json"
        try:
            payload = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ValueError(
                f"plot_history could not read {path}: {e}. Pass a History, its "
                ".history dict, or a run's metrics.json."
            ) from None
        history = payload
    if hasattr(history, "history"):
        history = history.history
    if isinstance(history, dict) and isinstance(history.get("history"), dict):
        history = history["history"]
    if not isinstance(history, dict) or not history:
        raise ValueError(
            "plot_history expects a History, a dict of per-epoch lists such as "
            "{'loss': [...], 'val_loss': [...]}, or a metrics.json with 'history'."
        )
    return {k: list(v) for k, v in history.items() if isinstance(v, (list, tuple))}


def plot_history(history, title="Training", save=None):
    """Loss and each metric per epoch, training (solid) and validation (dashed), on integer
    epochs (1, 2, ...)."""
    h = _history_dict(history)
    metrics = [k for k in h if not k.startswith("val_") and k not in ("lr", "learning_rate")]
    metrics += [k[4:] for k in h if k.startswith("val_") and k[4:] not in metrics]
    fig = _figure(4.2 * len(metrics) + 0.5, 3.6)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    from matplotlib.ticker import MaxNLocator

    for ax, key in zip(axes, metrics):
        for prefix, style, label in (("", "o-", "training"), ("val_", "s--", "validation")):
            values = h.get(prefix + key)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=label)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    return save_figure(fig, save)


def plot_image_grid(
    images,
    true_labels=None,
    predicted=None,
    class_names=None,
    cols=None,
    probabilities=None,
    save=None,
):
    """Images in a grid, each titled "true 7 / predicted 7" (red when they differ)."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    n = len(images)
    cols = cols or min(n, 8)
    rows = int(np.ceil(n / cols))
    fig = _figure(1.5 * cols, 1.75 * rows + 0.4)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()

    def name(k):
        return str(class_names[k]) if class_names is not None else str(int(k))

    wrong = 0
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        img = images[i].astype(np.float64)
        if img.ndim == 3:
            lo, hi = img.min(), img.max()
            img = (img - lo) / (hi - lo) if hi > lo else img * 0
        ax.imshow(img, cmap="gray_r" if img.ndim == 2 else None, interpolation="nearest")
        parts, color = [], "black"
        if true_labels is not None:
            parts.append(f"true {name(true_labels[i])}")
        if predicted is not None:
            p = f"pred {name(predicted[i])}"
            if probabilities is not None:
                p += f" ({probabilities[i]:.0%})"
            parts.append(p)
            if true_labels is not None and int(true_labels[i]) != int(predicted[i]):
                color = "red"
                wrong += 1
        ax.set_title("\n".join(parts), fontsize=8, color=color)
    if predicted is not None and true_labels is not None:
        fig.suptitle(f"{n - wrong} of {n} predicted correctly (wrong ones in red)", fontsize=10)
    return save_figure(fig, save)
