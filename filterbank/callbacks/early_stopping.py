"""``EarlyStopping``: stop training when a monitored quantity stops improving (Keras 3 rules)."""

from __future__ import annotations

import math

from ..progbar import print_msg
from ._monitor import check_mode, resolve_direction, warn_missing
from .base import Callback


class EarlyStopping(Callback):
    """Stop training once ``monitor`` has not improved for ``patience`` epochs.

    An epoch improves when its value beats the best so far by more than ``min_delta`` (lower
    in "min" mode, higher in "max"). Each epoch without improvement adds one to ``wait``; at
    ``wait >= patience`` (and never at epoch 0) ``model.stop_training`` is set.

    Args:
        monitor: the logs key to watch, e.g. "val_loss", "val_accuracy", "loss".
        min_delta: the smallest change that counts as an improvement (its sign is ignored).
        patience: epochs without improvement before stopping.
        verbose: 1 prints "Epoch 7: early stopping" (and the restore) at the end.
        mode: "min", "max" or "auto" (inferred from the name: losses down, accuracies up).
        baseline: a value the quantity must beat. Until an epoch beats both the best so far and
            the baseline, ``wait`` keeps growing, so training stops after ``patience`` epochs
            that never reach it.
        restore_best_weights: at the end of training (stopped early or not, as Keras 3) set
            the weights of the best epoch. The best epoch may be one that missed the baseline.
        start_from_epoch: epochs to ignore at the start (warm-up): no monitoring before it.

    Attributes:
        stopped_epoch: epoch (0-based) at which training was stopped, 0 if it was not.
        best, best_epoch, best_weights, wait: the running state.

    A monitor missing from the logs gives a warning naming the available keys; the epoch is
    then skipped (training never crashes for it).

    Example:
        >>> cb = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
        >>> # model.fit(x, y, validation_split=0.1, epochs=100, callbacks=[cb])
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = check_mode(mode, "EarlyStopping")
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.direction = None  # "min" / "max", fixed at the first monitored epoch
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        # A fresh run (instances may be reused for several fits).
        self._reset()

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        if self.direction == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warn_missing("Early stopping", self.monitor, logs)
            return
        if epoch < self.start_from_epoch:
            return
        if self.direction is None:
            self.direction = resolve_direction(self.monitor, self.mode, self.model, "EarlyStopping")
        current = float(current)
        if self.restore_best_weights and self.best_weights is None:
            # Until something is better, the first monitored weights are the best.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if not math.isnan(current) and self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # The wait restarts only when the value beats the baseline too.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_msg(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)


__all__ = ["EarlyStopping"]
