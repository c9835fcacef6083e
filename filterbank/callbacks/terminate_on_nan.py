"""``TerminateOnNaN``: stop training as soon as the loss becomes NaN or infinite."""

from __future__ import annotations

import math

from ..progbar import print_msg
from .base import Callback


class TerminateOnNaN(Callback):
    """Stop training when a batch's loss is NaN or +-inf.

    By default training stops gracefully (``model.stop_training = True``: the epoch ends and
    every ``on_train_end`` runs). ``raise_error=True`` (Keras 3.11+) raises instead.

    Args:
        raise_error: raise a RuntimeError instead of stopping gracefully.

    Example:
        >>> cb = TerminateOnNaN()
        >>> # model.fit(x, y, callbacks=[cb])
        >>> # prints "Batch 12: Invalid loss, terminating training" on a NaN loss
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if math.isnan(loss) or math.isinf(loss):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                    "Lower the learning rate, check the inputs for NaN/inf, or scale them."
                )
            print_msg(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


__all__ = ["TerminateOnNaN"]
