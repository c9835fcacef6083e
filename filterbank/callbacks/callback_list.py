"""``CallbackList``: the one object the training loop talks to; it fans each hook out in order.

Example (what ``fit`` does)::

    cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                       verbose=verbose, epochs=epochs, steps=steps_per_epoch)
    cbs.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        cbs.on_epoch_begin(epoch)
        ...
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end()
    return model.history
"""

from __future__ import annotations

import numbers

import numpy as np

from .base import Callback, History
from .progbar_logger import ProgbarLogger


def _check_callback(cb, index):
    if isinstance(cb, Callback):
        return cb
    if isinstance(cb, type) and issubclass(cb, Callback):
        raise TypeError(
            f"callbacks[{index}] is the class {cb.__name__}, expected an instance. "
            f"Call it: {cb.__name__}(...)."
        )
    fix = " Wrap a plain function with LambdaCallback(on_epoch_end=fn)." if callable(cb) else ""
    raise TypeError(
        f"callbacks[{index}] expects a filterbank.callbacks.Callback instance, "
        f"got {type(cb).__name__}.{fix}"
    )


def _flatten(callbacks):
    if callbacks is None:
        return []
    if isinstance(callbacks, CallbackList):
        return list(callbacks.callbacks)
    if not isinstance(callbacks, (list, tuple)):
        callbacks = [callbacks]
    out = []
    for cb in callbacks:
        if isinstance(cb, (list, tuple)):
            out.extend(_flatten(cb))
        else:
            out.append(cb)
    return [_check_callback(cb, i) for i, cb in enumerate(out)]


def _to_float(value):
    # NumPy scalars / 0-d arrays become plain floats so CSV, History and printing see numbers.
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        return float(value)
    if isinstance(value, numbers.Real) and not isinstance(value, float):
        return float(value)
    return value


def _pythonify(logs):
    """Make the values of ``logs`` plain floats, in place (the dict object is kept)."""
    for key, value in logs.items():
        logs[key] = _to_float(value)
    return logs


class CallbackList(Callback):
    """A list of callbacks behaving as one: every hook calls each callback in order.

    Args:
        callbacks: a Callback, a list of them, or None.
        add_history: append a ``History`` unless the list already has one.
        add_progbar: append a ``ProgbarLogger`` unless the list already has one.
        model: the model; passed to every callback (``set_model``).
        verbose, epochs, steps: the ``params`` every callback receives
            (``steps``: batches per epoch, None if unknown). Extra keyword arguments are
            added to ``params`` too.

    Attributes:
        callbacks: the list, user callbacks first, then History, then ProgbarLogger (Keras order),
            then any callback with ``runs_after_others = True`` (BackupAndRestore: it saves the
            other callbacks' state, so it must see it after each hook; it gets the list through
            ``set_callbacks``).
        history: the History callback, if any.

    Example:
        >>> cbs = CallbackList([], add_history=True, epochs=2, steps=10)
        >>> [type(cb).__name__ for cb in cbs.callbacks], cbs.params["steps"]
        (['History'], 10)
    """

    def __init__(
        self,
        callbacks=None,
        add_history=False,
        add_progbar=False,
        model=None,
        verbose=1,
        epochs=1,
        steps=None,
        **params,
    ):
        super().__init__()
        self.callbacks = _flatten(callbacks)
        self.history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        self.progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)
        if self.progbar is None and add_progbar:
            self.progbar = ProgbarLogger()
            self.callbacks.append(self.progbar)
        self._order_snapshotters()
        if model is not None:
            self.set_model(model)
        self.set_params({"verbose": verbose, "epochs": epochs, "steps": steps, **params})

    def _order_snapshotters(self):
        last = [cb for cb in self.callbacks if getattr(cb, "runs_after_others", False)]
        if last:
            moved = {id(cb) for cb in last}
            self.callbacks = [cb for cb in self.callbacks if id(cb) not in moved] + last
            for cb in last:
                cb.set_callbacks(self.callbacks)

    def append(self, callback):
        """Add one more callback at the end (it gets the current model and params)."""
        callback = _check_callback(callback, len(self.callbacks))
        self.callbacks.append(callback)
        self._order_snapshotters()
        if self.model is not None:
            callback.set_model(self.model)
        if self.params:
            callback.set_params(self.params)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)

    def set_model(self, model):
        super().set_model(model)
        if self.history is not None and model is not None:
            model.history = self.history
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        for cb in self.callbacks:
            cb.set_params(params)

    # One fan-out per hook. Epoch-end logs are passed as the same dict to every callback (a
    # value added by one is seen by the next); batch logs likewise, after float conversion.
    def _call(self, hook, logs, *args):
        logs = {} if logs is None else _pythonify(logs)
        for cb in self.callbacks:
            getattr(cb, hook)(*args, logs)
        return logs

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", logs, epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", logs, epoch)

    def on_batch_begin(self, batch, logs=None):
        self._call("on_batch_begin", logs, batch)

    def on_batch_end(self, batch, logs=None):
        self._call("on_batch_end", logs, batch)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", logs, batch)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", logs, batch)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", logs, batch)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", logs, batch)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", logs, batch)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", logs, batch)


__all__ = ["CallbackList"]
