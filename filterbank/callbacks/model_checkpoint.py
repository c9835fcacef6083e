"""``ModelCheckpoint``: save the model (or its weights) during training."""

from __future__ import annotations

import math
import os
import warnings

from .._argspec import is_positive_int
from ..progbar import print_msg
from ._monitor import check_mode, resolve_direction
from .base import Callback


class ModelCheckpoint(Callback):
    """Save the model with ``model.save(path)`` (or ``model.save_weights(path)``) as it trains.

    Args:
        filepath: where to save. It may hold ``str.format`` fields filled from ``epoch``
            (1-based), ``batch`` (1-based, with an integer ``save_freq``) and the logs, e.g.
            ``"ckpt/{epoch:02d}-{val_loss:.2f}.fbk"`` -> ``"ckpt/03-0.41.fbk"``. Missing
            folders are created.
        monitor: the logs key compared when ``save_best_only``.
        verbose: 1 prints a line for each save (or skipped save).
        save_best_only: save only when ``monitor`` improves on the best so far (a path without
            fields is then overwritten by each better model). A monitor missing from the logs
            gives a warning and the model is saved anyway (as Keras 3).
        save_weights_only: call ``model.save_weights`` instead of ``model.save``.
        mode: "min", "max" or "auto" (inferred from the name).
        save_freq: "epoch" (at each epoch end) or an integer N: after every N training batches
            (counted across epochs; the batch logs are then running means of the epoch).
        initial_value_threshold: the best value to beat at the start (save_best_only).

    Example:
        >>> cb = ModelCheckpoint("ckpt/{epoch:02d}-{val_loss:.2f}.fbk", save_best_only=True)
        >>> cb._file_path(epoch=2, batch=None, logs={"val_loss": 0.4123})
        'ckpt/03-0.41.fbk'
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__()
        if save_freq != "epoch" and not is_positive_int(save_freq):
            raise ValueError(
                f"ModelCheckpoint argument 'save_freq' expects 'epoch' or an integer >= 1 "
                f"(a number of batches), got {save_freq!r}."
            )
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = check_mode(mode, "ModelCheckpoint")
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self.best = initial_value_threshold
        self.direction = None
        self._current_epoch = 0
        self._batches_since_save = 0

    def on_train_begin(self, logs=None):
        self._batches_since_save = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._current_epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    # ---------------------------------------------------------------- internals
    def _file_path(self, epoch, batch, logs):
        fields = dict(logs)
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise KeyError(
                f"ModelCheckpoint could not fill the filepath {self.filepath!r}: no value for "
                f"{e}. Available fields: {', '.join(sorted(fields))}. "
                "Use one of them, or pass validation data to get val_ metrics."
            ) from None

    def _improved(self, current):
        if self.direction is None:
            self.direction = resolve_direction(
                self.monitor, self.mode, self.model, "ModelCheckpoint"
            )
        if math.isnan(current):
            return False
        if self.best is None:
            return True
        return current < self.best if self.direction == "min" else current > self.best

    def _should_save(self, epoch, logs, filepath):
        if not self.save_best_only:
            if self.verbose > 0:
                print_msg(f"Epoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Can save best model only with {self.monitor} available. "
                f"Available metrics are: {','.join(logs)}. Saving anyway.",
                stacklevel=4,
            )
            return True
        current = float(current)
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._improved(current):
            if self.verbose > 0:
                print_msg(
                    f"Epoch {epoch + 1}: {self.monitor} improved from {best} to "
                    f"{current:.5f}, saving model to {filepath}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            print_msg(f"Epoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save(self, epoch, batch, logs):
        filepath = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IsADirectoryError(
                f"ModelCheckpoint filepath {filepath!r} is an existing directory; it expects a "
                "file path. Add a file name, e.g. os.path.join(dir, 'model.fbk')."
            )
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)


__all__ = ["ModelCheckpoint"]
