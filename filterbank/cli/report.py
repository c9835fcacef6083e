"""A training run's outputs: its folder, ``metrics.json``, ``curves.png`` and epoch timings.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> out = prepare_out_dir(root / "run", overwrite=False)
    >>> out.name
    'run'
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

from ..callbacks import Callback
from .common import CLIError

MODEL_FILE = "model.fbk"
METRICS_FILE = "metrics.json"
CURVES_FILE = "curves.png"
HISTORY_FILE = "history.json"  # the history so far, rewritten after every epoch
RUN_FILES = (MODEL_FILE, METRICS_FILE, CURVES_FILE)


class EpochTimer(Callback):
    """Wall-clock seconds of each epoch (its training steps and any validation pass)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class LiveHistory(Callback):
    """Rewrite ``HISTORY_FILE`` in the run folder after every epoch (``filterbank explore``
    draws the curves from it while training runs); removed once metrics.json is written."""

    def __init__(self, out: Path, epochs: int):
        super().__init__()
        self.path, self.epochs = Path(out) / HISTORY_FILE, epochs
        self.history: dict[str, list[float]] = {}

    def _write(self, done=False):
        try:
            write_json(self.path, {"history": self.history, "epochs": self.epochs, "done": done})
        except OSError:
            pass  # curves for a viewer are not worth failing a training run

    def on_train_begin(self, logs=None):
        self._write()

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self._write()


def new_run_dir(root: Path = Path("runs")) -> Path:
    """A fresh ``runs/<date>-<time>`` folder (``-2``, ``-3``, ... appended on a clash)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = root / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise CLIError(f"could not create a new run folder under {root}; pass --out DIR.")


def prepare_out_dir(out: Path | None, overwrite: bool) -> Path:
    """The run folder: ``out`` (created if needed) or a new timestamped one under runs/.

    A folder that already holds a run's files is refused unless ``overwrite`` -- a run is
    never replaced by accident.
    """
    if out is None:
        return new_run_dir()
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {str(out)!r} is a file; expected a folder.")
    if out.is_dir() and not overwrite:
        held = [name for name in RUN_FILES if (out / name).exists()]
        if held:
            raise CLIError(
                f"{str(out)!r} already holds a run ({', '.join(held)}); pass "
                "--overwrite to replace it, or choose another --out."
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create --out folder {str(out)!r}: {exc.strerror}.") from exc
    return out


def environment() -> dict:
    """Versions and the machine: the context any timing needs."""
    import numpy as np

    from .. import __version__

    try:
        import numba  # noqa: F401

        has_numba = True
    except ImportError:
        has_numba = False
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {
        "filterbank": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "numba": has_numba,
        "platform": platform.platform(),
        "usable_cores": cores,
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def _plain(value):
    """NumPy scalars and arrays (and anything else) as JSON-ready values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def write_json(path: Path, payload: dict) -> None:
    """Write JSON through a temporary file and a rename (never half a file)."""
    from ..saving.atomic import atomic_write

    text = json.dumps(payload, indent=2, default=_plain) + "\n"
    atomic_write(os.fspath(path), lambda fp: fp.write(text.encode("utf-8")))


def plot_curves(history: dict, path: Path, title: str) -> bool:
    """Loss and accuracy per epoch (training and validation) as a PNG; False without matplotlib.

    matplotlib is imported here only, with the Agg backend (no display needed).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = range(1, 1 + max((len(v) for v in history.values()), default=0))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
        for prefix, style in (("", "o-"), ("val_", "s--")):
            values = history.get(prefix + key)
            if values:
                ax.plot(
                    list(epochs)[: len(values)],
                    values,
                    style,
                    label=("validation " if prefix else "training ") + label,
                )
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    from ..saving.atomic import atomic_write

    try:
        # A file object, not a name: matplotlib cannot take every path (non-UTF-8 bytes).
        atomic_write(os.fspath(path), lambda fp: fig.savefig(fp, format="png", dpi=100))
    finally:
        plt.close(fig)
    return True


def read_run_metrics(model_path: Path) -> dict | None:
    """The ``metrics.json`` written beside ``model_path`` by ``filterbank train``, if any."""
    path = Path(model_path).parent / METRICS_FILE
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        return None
    # Only trust it when it describes this file (a folder may hold other models).
    model_file = payload.get("files", {}).get("model")
    if model_file and Path(model_file).name != Path(model_path).name:
        return None
    return payload


__all__ = [
    "EpochTimer",
    "LiveHistory",
    "environment",
    "new_run_dir",
    "plot_curves",
    "prepare_out_dir",
    "read_run_metrics",
    "write_json",
]
