"""Keras callbacks: hooks into ``fit`` / ``evaluate`` / ``predict``.

Example:
    >>> from filterbank import callbacks
    >>> cbs = [callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True),
    ...        callbacks.ModelCheckpoint("best.fbk", save_best_only=True),
    ...        callbacks.CSVLogger("log.csv")]
    >>> # history = model.fit(x, y, validation_split=0.1, epochs=50, callbacks=cbs)

Modules: ``base`` (Callback, History, LambdaCallback), ``callback_list`` (what fit drives),
``progbar_logger``, ``early_stopping``, ``model_checkpoint``, ``learning_rate``
(ReduceLROnPlateau, LearningRateScheduler), ``terminate_on_nan``, ``csv_logger``.
``backup_and_restore`` (BackupAndRestore: a killed run resumes bit-identically).
"""

from .backup_and_restore import BackupAndRestore
from .base import HOOK_NAMES, Callback, History, LambdaCallback
from .callback_list import CallbackList
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau
from .model_checkpoint import ModelCheckpoint
from .progbar_logger import ProgbarLogger
from .terminate_on_nan import TerminateOnNaN

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "LambdaCallback",
    "ProgbarLogger",
    "EarlyStopping",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "LearningRateScheduler",
    "TerminateOnNaN",
    "CSVLogger",
    "BackupAndRestore",
    "HOOK_NAMES",
]
