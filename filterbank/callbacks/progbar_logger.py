"""``ProgbarLogger``: the progress output of ``fit`` / ``evaluate`` / ``predict``.

``model.fit(..., verbose=1)`` adds one itself. Layout (see ``filterbank.progbar``)::

    Epoch 1/5
    938/938 [==============================] - 3s 3ms/step - loss: 0.1644 - accuracy: 0.9490

On a terminal the line is redrawn live during the epoch; in logs, files and pipes it is
written once per epoch. ``verbose=2`` writes ``938/938 - 3s - 3ms/step - loss: ...``.
"""

from __future__ import annotations

from ..progbar import Progbar, print_msg
from .base import Callback


class ProgbarLogger(Callback):
    """Prints the Keras progress output; the model's ``verbose`` (from ``params``) picks the form.

    The "Epoch i/N" header is printed when ``epochs > 1`` (as Keras 3). Batch logs are shown
    as given: they are already running means over the epoch, so they are not re-averaged.
    The validation pass inside ``fit`` is silent; ``evaluate`` and ``predict`` get their own line.

    Args:
        stream: text stream to write to (default: ``sys.stdout`` when each bar starts).

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> cb = ProgbarLogger(stream=out)
        >>> cb.set_params({"verbose": 2, "epochs": 1, "steps": 2})
        >>> cb.on_train_begin(); cb.on_epoch_begin(0)
        >>> cb.on_train_batch_end(0, {"loss": 0.5}); cb.on_train_batch_end(1, {"loss": 0.4})
        >>> cb.on_epoch_end(0, {"loss": 0.4}); out.getvalue().endswith(" - loss: 0.4000\\n")
        True
    """

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    # ---------------------------------------------------------------- hooks
    def on_train_begin(self, logs=None):
        # Inside fit the validation pass is silent (its numbers appear as val_* at epoch end).
        self._called_in_fit = True

    def on_train_end(self, logs=None):
        self._called_in_fit = False
        self._close()

    def on_epoch_begin(self, epoch, logs=None):
        self._start_bar()
        if self.verbose and self.epochs > 1:
            print_msg(f"Epoch {epoch + 1}/{self.epochs}", self.progbar.stream)

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize(logs)

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._start_bar()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize(logs)

    def on_predict_begin(self, logs=None):
        self._start_bar()

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)  # predictions are not metrics

    def on_predict_end(self, logs=None):
        self._finalize(None)

    # ---------------------------------------------------------------- internals
    def _start_bar(self):
        self._close()
        self.seen = 0
        self.progbar = Progbar(
            target=self.target, verbose=self.verbose, unit_name="step", stream=self.stream
        )

    def _update(self, batch, logs):
        if self.progbar is None:
            self._start_bar()
        self.seen = batch + 1
        if self.verbose:
            # verbose=2 draws nothing here, but recording the steps keeps its time per step
            # free of the slow first step, as in verbose=1.
            logs = logs or {}
            self.progbar.stateful_metrics.update(logs)
            self.progbar.update(self.seen, list(logs.items()), finalize=False)

    def _finalize(self, logs):
        if self.progbar is None:
            self._start_bar()
        logs = logs or {}
        target = self.target
        if target is None:
            # Unknown number of steps: the count seen is the total.
            target = self.progbar.target = self.seen
        # A run stopped mid-epoch (stop_training) shows how far it got, not a full bar.
        current = self.seen if 0 < self.seen < target else target
        self.progbar.stateful_metrics.update(logs)
        self.progbar.update(current, list(logs.items()), finalize=True)
        self.progbar = None

    def _close(self):
        if self.progbar is not None:
            self.progbar.close()
            self.progbar = None


__all__ = ["ProgbarLogger"]
