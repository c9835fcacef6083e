"""Learning-rate callbacks: ``ReduceLROnPlateau`` and ``LearningRateScheduler``.

Both read the rate with ``model.optimizer.current_learning_rate()`` (so a schedule gives its
current value), write a float to ``model.optimizer.learning_rate``, and add the rate used in
the epoch to the epoch logs as ``"learning_rate"`` (so History and CSVLogger record it).
"""

from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

from ..progbar import print_msg
from ._monitor import check_mode, resolve_direction, warn_missing
from .base import Callback


def _optimizer(callback):
    optimizer = getattr(callback.model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(
            f"{type(callback).__name__} needs a compiled model with an optimizer that has a "
            "learning_rate, got model.optimizer="
            f"{type(optimizer).__name__ if optimizer is not None else None}. "
            "Call model.compile(optimizer='adam', ...) before fit."
        )
    return optimizer


def current_learning_rate(optimizer) -> float:
    """The rate the optimizer uses now (a schedule's current value, or the float)."""
    if hasattr(optimizer, "current_learning_rate"):
        return float(optimizer.current_learning_rate())
    return float(optimizer.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving.

    After ``patience`` epochs without an improvement larger than ``min_delta``, the rate
    becomes ``max(lr * factor, min_lr)``; then ``cooldown`` epochs pass in which nothing is
    counted. Nothing happens once the rate is at ``min_lr``.

    Args:
        monitor: the logs key to watch.
        factor: the multiplier, < 1.
        patience: epochs without improvement before a reduction.
        verbose: 1 prints "Epoch 12: ReduceLROnPlateau reducing learning rate to 0.0001."
        mode: "min", "max" or "auto" (inferred from the name; min when the name says nothing,
            as Keras).
        min_delta: the smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: lower bound on the rate.

    Example:
        >>> cb = ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=1e-5)
        >>> # model.fit(x, y, validation_split=0.1, epochs=50, callbacks=[cb])
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        super().__init__()
        if not factor < 1.0:
            raise ValueError(
                f"ReduceLROnPlateau argument 'factor' expects a value < 1.0 (the rate is "
                f"multiplied by it), got factor={factor}. For 'divide by 10' pass 0.1."
            )
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.mode = check_mode(mode, "ReduceLROnPlateau")
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self._reset()

    def _reset(self):
        self.wait = 0
        self.cooldown_counter = 0
        self.best = None
        self.direction = None

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _improved(self, current):
        if math.isnan(current):
            return False
        if self.best is None:
            return True
        if self.direction == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        optimizer = _optimizer(self)
        logs["learning_rate"] = current_learning_rate(optimizer)
        current = logs.get(self.monitor)
        if current is None:
            warn_missing("Learning rate reduction is", self.monitor, logs)
            return
        current = float(current)
        if self.direction is None:
            try:
                self.direction = resolve_direction(self.monitor, self.mode, self.model)
            except ValueError:
                self.direction = "min"  # Keras: minimize unless the name says otherwise
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
            return
        if self.in_cooldown():
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        old_lr = current_learning_rate(optimizer)
        # Compare in float32: a rate stored as float32 never equals the float64 min_lr exactly.
        if old_lr > np.float32(self.min_lr):
            new_lr = max(old_lr * self.factor, self.min_lr)
            optimizer.learning_rate = float(new_lr)
            if self.verbose > 0:
                print_msg(
                    f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}."
                )
            self.cooldown_counter = self.cooldown
            self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch from ``schedule(epoch, lr)``.

    Args:
        schedule: a function ``(epoch, lr) -> new_lr`` (epoch counts from 0, lr is the current
            rate); a one-argument ``schedule(epoch)`` works too.
        verbose: 1 prints "Epoch 3: LearningRateScheduler setting learning rate to 0.001."

    Example:
        >>> def halve_after_5(epoch, lr):
        ...     return lr if epoch < 5 else lr * 0.5
        >>> cb = LearningRateScheduler(halve_after_5)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                "LearningRateScheduler argument 'schedule' expects a function "
                f"(epoch, lr) -> lr, got {type(schedule).__name__}."
            )
        self.schedule = schedule
        self.verbose = verbose

    def _call_schedule(self, epoch, lr):
        try:
            signature = inspect.signature(self.schedule)
        except (TypeError, ValueError):  # some builtins have no signature
            return self.schedule(epoch, lr)
        try:
            signature.bind(epoch, lr)
        except TypeError:
            return self.schedule(epoch)  # the old one-argument form
        return self.schedule(epoch, lr)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = _optimizer(self)
        new_lr = self._call_schedule(epoch, current_learning_rate(optimizer))
        if (
            isinstance(new_lr, bool)
            or not isinstance(new_lr, numbers.Real)
            or math.isnan(float(new_lr))
        ):
            raise ValueError(
                "LearningRateScheduler expects the schedule to return a number, got "
                f"{new_lr!r} at epoch {epoch}. Return a float, e.g. `return lr * 0.9`."
            )
        optimizer.learning_rate = float(new_lr)
        if self.verbose > 0:
            print_msg(
                f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                f"{float(new_lr)}."
            )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = current_learning_rate(_optimizer(self))


__all__ = ["ReduceLROnPlateau", "LearningRateScheduler", "current_learning_rate"]
