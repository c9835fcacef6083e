"""``CSVLogger``: write one CSV row per epoch (epoch, then the logs keys in sorted order)."""

from __future__ import annotations

import csv
import os
import warnings

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
    as ``NA``. ``epoch`` counts from 0, as Keras. A key that first appears in a later epoch
    (``val_*`` with ``validation_freq > 1``) widens the header: the file written by this run is
    rewritten with the new column (earlier rows get ``NA``). Keras drops such keys.

    Args:
        filename: the CSV file, e.g. "runs/log.csv" (its folder must exist).
        separator: the field separator.
        append: keep an existing file and add rows under its header (same columns; a new key
            gives a warning); for resumed training. False overwrites the file.

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
        self._rows = []  # this run's rows, to rewrite the file if a new key appears
        self._offset = 0  # file size before this run (append mode keeps what is there)

    def on_train_begin(self, logs=None):
        self.append_header = True
        existing = None
        if self.append and os.path.exists(self.filename):
            with open(self.filename, newline="", encoding="utf-8") as f:
                existing = next(csv.reader(f, delimiter=self.sep), None)
            self.append_header = not existing
        self._close()
        self.csv_file = open(
            self.filename, "a" if self.append else "w", newline="", encoding="utf-8"
        )
        self._offset = self.csv_file.tell()
        self._rows = []
        # Appended rows follow the columns of the header already in the file.
        self.keys = existing[1:] if existing and existing[0] == "epoch" else None
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.csv_file is None:  # used outside fit: open as on_train_begin would
            self.on_train_begin()
        if self.keys is None:
            self.keys = sorted(logs)
        new_keys = sorted(set(logs) - set(self.keys))
        if new_keys and self.writer is not None:
            self._widen(new_keys)
        if self.writer is None:
            self._start_writer(write_header=self.append_header)
        row = {"epoch": epoch, **{key: _cell(value) for key, value in logs.items()}}
        self._rows.append(row)
        self.writer.writerow(self._complete(row))
        self.csv_file.flush()

    def _complete(self, row):
        return {"epoch": row["epoch"], **{key: row.get(key, "NA") for key in self.keys}}

    def _start_writer(self, write_header):
        self.writer = csv.DictWriter(
            self.csv_file,
            fieldnames=["epoch", *self.keys],
            delimiter=self.sep,
            lineterminator="\n",
            extrasaction="ignore",
        )
        if write_header:
            self.writer.writeheader()

    def _widen(self, new_keys):
        if not self.append_header:  # appending below another run's header: cannot change it
            warnings.warn(
                f"CSVLogger: {', '.join(new_keys)} appeared after the header of "
                f"{self.filename!r} was written by an earlier run; not recorded. Use "
                "append=False or a new file to log them.",
                stacklevel=4,
            )
            return
        self.keys = sorted({*self.keys, *new_keys})
        self.csv_file.seek(self._offset)
        self.csv_file.truncate()
        self._start_writer(write_header=True)
        for row in self._rows:
            self.writer.writerow(self._complete(row))

    def on_train_end(self, logs=None):
        self._close()
        self.writer = None

    def _close(self):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = None


__all__ = ["CSVLogger"]
