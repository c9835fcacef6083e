"""``CSVLogger``: write one CSV row per epoch (epoch, then the logs keys in sorted order)."""

from __future__ import annotations

import csv
import os

import numpy as np

from .base import Callback


def _cell(value):
    # As Keras: a 1-D value is written as "[a, b, c]" in one cell.
    if isinstance(value, str) or np.ndim(value) == 0:
        return value
    return f"[{', '.join(map(str, np.ravel(value)))}]"


class CSVLogger(Callback):
    """Stream epoch results to a CSV file, flushed after every epoch.

    The header is ``epoch`` then the logs keys of the first epoch, sorted (e.g.
    ``epoch,accuracy,loss,val_accuracy,val_loss``); a key missing in a later epoch is written
    as ``NA``. ``epoch`` counts from 0, as Keras.

    Args:
        filename: the CSV file, e.g. "runs/log.csv" (its folder must exist).
        separator: the field separator.
        append: keep an existing file and add rows (no second header when it is non-empty);
            for resumed training. False overwrites the file.

    Example:
        >>> cb = CSVLogger("training.csv")
        >>> # model.fit(x, y, epochs=5, callbacks=[cb])
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self.writer = None
        self.csv_file = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        self.append_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8") as f:
                self.append_header = not f.readline()
        self._close()
        self.csv_file = open(self.filename, "a" if self.append else "w",
                             newline="", encoding="utf-8")
        self.keys = None
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.csv_file is None:  # used outside fit: open as on_train_begin would
            self.on_train_begin()
        if self.keys is None:
            self.keys = sorted(logs)
        if self.writer is None:
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch", *self.keys],
                                         delimiter=self.sep, lineterminator="\n",
                                         extrasaction="ignore")
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _cell(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        self._close()
        self.writer = None

    def _close(self):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = None


__all__ = ["CSVLogger"]
