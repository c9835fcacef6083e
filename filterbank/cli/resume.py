"""``filterbank train`` never loses a run: a backup in the run folder, a save on Ctrl-C, a resume.

While a run trains, ``DIR/backup/backup.npz`` (``callbacks.BackupAndRestore``) holds the state
at the end of the last finished epoch: weights, optimizer, random streams, callbacks. Then:

* **Ctrl-C** (SIGINT) saves the model as it is to ``DIR/model.fbk``, writes
  ``DIR/interrupted.json`` (epochs done, the history so far, the command) and prints how to
  resume; the exit status is 130.
* **Re-running the same command with the same --out** resumes from the backup: training
  continues at the first unfinished epoch, bit-identical to an uninterrupted run, and the
  history in metrics.json covers every epoch (the backup restores the History too).
* When the run's files are written, the backup and interrupted.json are removed. If saving
  fails (a full disk), they are kept and the error says that re-running saves without
  training again.

``--overwrite`` starts afresh, deleting any backup.

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> can_resume(out)
    False
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from ..callbacks import BackupAndRestore, Callback
from . import report

BACKUP_DIR = "backup"
INTERRUPTED_FILE = "interrupted.json"


def backup_dir(out: Path) -> Path:
    return Path(out) / BACKUP_DIR


def can_resume(out: Path | None) -> bool:
    """True when ``out`` holds an unfinished run (a backup, or the note of an interruption).

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> (out / INTERRUPTED_FILE).write_text("{}")
        2
        >>> can_resume(out)
        True
    """
    if out is None:
        return False
    out = Path(out)
    return (backup_dir(out) / "backup.npz").is_file() or (out / INTERRUPTED_FILE).is_file()


def prepare(out: Path | None, overwrite: bool) -> tuple[Path, dict | None]:
    """The run folder and, when resuming, what interrupted.json recorded (else None)."""
    if out is not None and overwrite and Path(out).is_dir():
        discard(Path(out))
    if out is not None and not overwrite and can_resume(out) and Path(out).is_dir():
        return Path(out), _read_note(Path(out))
    return report.prepare_out_dir(out, overwrite), None


def _read_note(out: Path) -> dict:
    try:
        note = json.loads((out / INTERRUPTED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"history": {}}
    if not isinstance(note, dict) or not isinstance(note.get("history"), dict):
        return {"history": {}}
    return note


def callbacks(out: Path) -> tuple[BackupAndRestore, Progress]:
    """The backup callback (kept until the run's files are written) and a progress recorder."""
    return BackupAndRestore(str(backup_dir(out)), delete_checkpoint=False), Progress()


class Progress(Callback):
    """Epochs finished in this invocation and their logs, kept when fit() is interrupted."""

    def __init__(self):
        super().__init__()
        self.epochs_done = 0
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_done = epoch + 1
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))


def backup_epochs(out: Path) -> int:
    """Epochs the backup in ``out`` holds (0 without a readable backup)."""
    import numpy as np

    try:
        with np.load(backup_dir(out) / "backup.npz", allow_pickle=False) as data:
            meta = json.loads(data["__meta__"].tobytes().decode("utf-8"))
        return max(int(meta.get("epoch", 0)), 0)
    except Exception:
        return 0


def interrupted(model, out: Path, progress: Progress, previous: dict | None, args) -> int:
    """Ctrl-C during fit: save what there is, note how to resume, return exit status 130."""
    # The backup is written last at each epoch end, so a Ctrl-C can land after the progress
    # bar showed an epoch but before its backup: count only the epochs the backup holds.
    done = backup_epochs(out)
    old = (previous or {}).get("history", {})
    history = {
        k: [*old.get(k, []), *progress.history.get(k, [])][:done]
        for k in dict.fromkeys([*old, *progress.history])
    }
    saved = False
    try:
        model.save(out / report.MODEL_FILE)
        saved = True
    except (OSError, ValueError) as e:
        print(f"filterbank: warning: could not save the model: {e}", file=sys.stderr)
    note = {
        "epochs_done": done,
        "epochs": args.epochs,
        "history": history,
        "command": ["filterbank", *args.argv],
    }
    try:
        report.write_json(out / INTERRUPTED_FILE, note)
    except OSError as e:
        print(f"filterbank: warning: could not write {INTERRUPTED_FILE}: {e}", file=sys.stderr)
    has_backup = done > 0
    what = f"saved the model as it was to {out / report.MODEL_FILE}; " if saved else ""
    resume = (
        "re-run the same command with --out " + _quote(out) + f" to resume from epoch {done + 1}"
        if has_backup
        else "no epoch had finished, so re-running the same command starts it again"
    )
    print(
        f"\nInterrupted after {done} of {args.epochs} epoch(s): {what}{resume} "
        "(--overwrite starts afresh).",
        file=sys.stderr,
        flush=True,
    )
    return 130


def _quote(path: Path) -> str:
    text = os.fspath(path)
    return text if text and all(c.isalnum() or c in "/._-" for c in text) else repr(text)


def finished(out: Path) -> None:
    """The run's files are written: the backup and the interruption note are no longer needed."""
    discard(out)


def discard(out: Path) -> None:
    """Remove the backup folder (only files BackupAndRestore writes) and interrupted.json."""
    folder = backup_dir(out)
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder, ignore_errors=True)
    try:
        (out / INTERRUPTED_FILE).unlink()
    except OSError:
        pass
