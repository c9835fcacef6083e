"""The callback contract: ``Callback`` (all Keras hooks, no-ops), ``History``, ``LambdaCallback``.

``model.fit`` calls the hooks in this order (``evaluate``/``predict`` use the test/predict ones)::

    on_train_begin
      on_epoch_begin(epoch)                 # epoch counts from 0
        on_train_batch_begin(batch) / on_train_batch_end(batch, logs)   # batch counts from 0
        [validation: on_test_begin, on_test_batch_*, on_test_end]
      on_epoch_end(epoch, logs)             # logs: {"loss": .., "accuracy": .., "val_loss": ..}
    on_train_end

``logs`` is a dict of plain floats. Batch logs hold the running means over the epoch so far;
epoch logs the epoch means plus ``val_*`` entries when there is validation data. The epoch-end
dict is the same object for every callback, so a value one callback adds (``learning_rate``)
is seen by the ones after it (``History``, ``ProgbarLogger`` run last).

Example:
    >>> class PrintLoss(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(f"epoch {epoch}: loss {logs['loss']:.3f}")
    >>> PrintLoss().on_epoch_end(0, {"loss": 0.25})
    epoch 0: loss 0.250
"""

from __future__ import annotations

from ..errors import did_you_mean


class Callback:
    """Base class of all callbacks: override the hooks you need.

    Attributes:
        model: the model being trained (set by ``set_model``); a callback may read and write
            ``model.stop_training``, ``model.optimizer.learning_rate``, ``model.get_weights()``.
        params: dict with ``verbose``, ``epochs`` and ``steps`` (steps per epoch, or None).
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    # Training.
    def on_train_begin(self, logs=None):
        """Called once at the start of ``fit``."""

    def on_train_end(self, logs=None):
        """Called once at the end of ``fit`` (also after an early stop)."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of epoch ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of epoch ``epoch`` with the epoch's metrics (and ``val_*``)."""

    def on_batch_begin(self, batch, logs=None):
        """Keras alias of ``on_train_batch_begin`` (kept for old code)."""

    def on_batch_end(self, batch, logs=None):
        """Keras alias of ``on_train_batch_end`` (kept for old code)."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before training batch ``batch`` (0-based within the epoch)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after training batch ``batch`` with the running epoch metrics."""
        self.on_batch_end(batch, logs=logs)

    # Evaluation (``evaluate`` and the validation pass inside ``fit``).
    def on_test_begin(self, logs=None):
        """Called at the start of an evaluation."""

    def on_test_end(self, logs=None):
        """Called at the end of an evaluation with its metrics."""

    def on_test_batch_begin(self, batch, logs=None):
        """Called before evaluation batch ``batch``."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after evaluation batch ``batch`` with the running metrics."""

    # Prediction.
    def on_predict_begin(self, logs=None):
        """Called at the start of ``predict``."""

    def on_predict_end(self, logs=None):
        """Called at the end of ``predict``."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before prediction batch ``batch``."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after prediction batch ``batch``."""


HOOK_NAMES = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_batch_begin",
    "on_batch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)


class History(Callback):
    """Records the epoch logs; ``model.fit`` returns it (and sets ``model.history`` to it).

    Attributes:
        history: dict name -> list of per-epoch values, e.g. ``{"loss": [0.31, 0.17]}``.
        epoch: list of the epoch indices recorded in this ``fit`` (0-based).

    Example:
        >>> h = History()
        >>> h.on_train_begin()
        >>> h.on_epoch_end(0, {"loss": 0.5}); h.on_epoch_end(1, {"loss": 0.25})
        >>> h.history, h.epoch
        ({'loss': [0.5, 0.25]}, [0, 1])
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def set_model(self, model):
        super().set_model(model)
        _attach_history(model, self)

    def on_train_begin(self, logs=None):
        # As Keras: the epoch list restarts, the history dict keeps growing if a History
        # instance is reused over several fits (resumed training gives one long curve).
        self.epoch = []
        _attach_history(self.model, self)

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        _attach_history(self.model, self)


def _attach_history(model, history):
    if model is not None:
        model.history = history


class LambdaCallback(Callback):
    """A callback built from plain functions, one per hook.

    Each argument is a function with the hook's signature: ``on_epoch_end(epoch, logs)``,
    ``on_train_batch_end(batch, logs)``, ``on_train_begin(logs)``, and so on for every hook
    name of ``Callback`` (``on_test_*``, ``on_predict_*`` too, as keyword arguments).

    Example:
        >>> losses = []
        >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
        >>> cb.on_epoch_end(0, {"loss": 0.5}); losses
        [0.5]
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        for name in kwargs:
            if name not in HOOK_NAMES:
                raise TypeError(
                    f"LambdaCallback got an unknown hook {name!r}. {did_you_mean(name, HOOK_NAMES)}"
                )
        hooks = dict(
            on_epoch_begin=on_epoch_begin,
            on_epoch_end=on_epoch_end,
            on_train_begin=on_train_begin,
            on_train_end=on_train_end,
            on_train_batch_begin=on_train_batch_begin,
            on_train_batch_end=on_train_batch_end,
            **kwargs,
        )
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(
                    f"LambdaCallback argument {name!r} expects a function, got {type(fn).__name__}."
                )
            setattr(self, name, fn)


__all__ = ["Callback", "History", "LambdaCallback", "HOOK_NAMES"]
