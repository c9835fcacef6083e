"""``BackupAndRestore``: a killed ``fit`` resumes where its last backup left it, exactly.

Keras's callback of the same name restores the weights and the epoch number. This one also
restores everything else the rest of the run depends on, so the resumed run ends with weights
and a History that are *bit-identical* to an uninterrupted run with the same seed:

* every weight (trainable or not, e.g. BatchNormalization's moving statistics);
* the optimizer state (``model.optimizer.get_state()``: iterations, learning rate, slots);
* the random generator of :mod:`filterbank.backend` (shuffling, dropout, noise) and the private
  generator of every layer built with its own ``seed=`` (e.g. ``Dropout(0.5, seed=1)``);
* the History so far, and the state of EarlyStopping (wait, best, best weights),
  ReduceLROnPlateau (wait, cooldown, best) and ModelCheckpoint (best); any other callback can
  take part by defining ``get_backup_state() -> dict`` (JSON-serialisable) and
  ``set_backup_state(state)``;
* for a mid-epoch backup (integer ``save_freq``): the position in the epoch, the epoch's
  shuffled order and the running loss and metrics of the epoch.

The backup is one file, ``<backup_dir>/backup.npz``: arrays stored with ``np.savez`` (read back
with ``allow_pickle=False``) and the rest as UTF-8 JSON in its ``__meta__`` member. It is written
to a temporary file, fsync'ed and renamed over the previous backup (``os.replace``), so a crash
at any moment, SIGKILL included, leaves either the previous backup or the new one.

The file belongs to one training script: rerun the *same* script (same model, compile and fit
arguments, seed) to resume. A backup that does not fit the model raises an error that says to
delete ``backup_dir`` to start over. Use ``CSVLogger(..., append=True)`` beside it, or the
resumed run rewrites the log from its first resumed epoch.

Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank import layers, callbacks
    >>> keras.utils.set_random_seed(0)
    >>> x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    >>> model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> backup = callbacks.BackupAndRestore(os.path.join(tempfile.mkdtemp(), "backup"))
    >>> history = model.fit(x, y, epochs=3, callbacks=[backup], verbose=0)
    >>> # killed and rerun, the same script would continue after the last completed epoch
    >>> len(history.history["loss"])
    3
"""

from __future__ import annotations

import glob
import json
import os
import zipfile

import numpy as np

from .. import backend
from .._argspec import is_positive_int
from ..errors import fmt_shape
from ..layers.base import weights_changed
from ..saving.atomic import atomic_write
from ._backup_state import (
    fields_of,
    layer_generators,
    metric_state,
    set_metric_state,
    to_json,
    weight_slots,
)
from .base import Callback, History
from .early_stopping import EarlyStopping

BACKUP_NAME = "backup.npz"
_FORMAT = "filterbank-backup"
_VERSION = 1
_META = "__meta__"


class BackupAndRestore(Callback):
    """Back up the whole training state during ``fit``; a rerun of the script resumes from it.

    Args:
        backup_dir: a folder used only by this callback (created if missing). Another run's
            backup, or ModelCheckpoint files, must not share it.
        save_freq: "epoch": back up at the end of every epoch (a resumed run repeats the
            interrupted epoch from its start). An integer N: also back up after every N
            training batches within an epoch (the count restarts at each epoch end); a resumed
            run continues after the last backed-up batch, with the same batch order.
        delete_checkpoint: delete the backup when ``fit`` completes (as Keras). False keeps
            it: rerunning the finished script then trains no further and returns the History.
        double_checkpoint: accepted for Keras compatibility and ignored: Keras keeps the
            previous backup in case the latest is half-written; here every backup is written
            atomically, so there is never a half-written one.

    A rerun finds the backup at ``on_train_begin``, restores the state listed in the module
    docstring and tells ``fit`` where to continue (``model.resume_at(epoch, step)``, the step for a
    mid-epoch backup); a run stopped early (EarlyStopping) stays stopped. This
    callback runs after all other callbacks at every hook, so it saves their final state.

    Example:
        >>> cb = BackupAndRestore("/tmp/run1-backup")
        >>> # model.fit(x, y, epochs=20, callbacks=[cb])  -> kill it, rerun: it resumes
    """

    runs_after_others = True

    def __init__(
        self, backup_dir, save_freq="epoch", delete_checkpoint=True, *, double_checkpoint=False
    ):
        super().__init__()
        if isinstance(backup_dir, (bytes, bytearray)):
            backup_dir = os.fsdecode(backup_dir)
        if not isinstance(backup_dir, (str, os.PathLike)) or not os.fspath(backup_dir):
            raise ValueError(
                f"BackupAndRestore argument backup_dir expects a folder path, got "
                f"{backup_dir!r}. Pass a folder used only for this run's backup, e.g. "
                "backup_dir='backup'."
            )
        if save_freq != "epoch" and not is_positive_int(save_freq):
            raise ValueError(
                "BackupAndRestore argument save_freq expects 'epoch' or an integer >= 1 (a number "
                f"of training batches), got {save_freq!r}."
            )
        if os.path.exists(backup_dir) and not os.path.isdir(backup_dir):
            raise ValueError(
                f"BackupAndRestore argument backup_dir expects a folder path, got "
                f"{os.fspath(backup_dir)!r}, which exists and is not a folder. Pass a folder "
                "used only for this run's backup, e.g. backup_dir='backup'."
            )
        for name, value in (
            ("delete_checkpoint", delete_checkpoint),
            ("double_checkpoint", double_checkpoint),
        ):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(
                    f"BackupAndRestore argument {name} expects True or False, got {value!r}."
                )
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._callbacks: list = []
        self._epoch = 0
        self._epoch_rng = None
        self._batches_since_save = 0
        self._pending = None

    @property
    def backup_path(self) -> str:
        """The backup file: ``<backup_dir>/backup.npz``."""
        return os.path.join(self.backup_dir, BACKUP_NAME)

    def set_callbacks(self, callbacks):
        """Called by CallbackList with the list this callback runs in (to save the others)."""
        self._callbacks = callbacks

    # ---- hooks ---------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._batches_since_save = 0
        self._pending = None
        self._remove_stale_temporaries()
        if os.path.exists(self.backup_path):
            meta, arrays = self._read()
            try:
                self._restore(meta, arrays)
            except (KeyError, TypeError, IndexError, AttributeError) as e:
                # The description passed the format check but lacks or garbles an entry.
                raise self._fail(
                    f"its description is damaged ({type(e).__name__}: {str(e)[:100]})"
                ) from None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        # The epoch's shuffled order is drawn right after this hook; a mid-epoch backup keeps
        # this state so a resumed run draws the same order.
        self._epoch_rng = backend.get_rng_state()

    def on_train_batch_begin(self, batch, logs=None):
        if self._pending is not None:
            # First batch after a mid-epoch resume: the order is drawn, now the rest.
            rng, meta, arrays = self._pending
            self._pending = None
            set_metric_state(self.model.compiled_state, meta, arrays)
            backend.set_rng_state(rng)

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        steps = self.params.get("steps")
        last_of_epoch = steps is not None and batch + 1 >= steps
        # A backup due at the epoch's last batch (or as training stops) waits for the
        # epoch's end, which has the validation results and the callbacks' epoch state.
        if (
            self._batches_since_save >= self.save_freq
            and not last_of_epoch
            and not self.model.stop_training
        ):
            self._batches_since_save = 0
            self._save(self._epoch, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self._batches_since_save = 0
        self._save(epoch + 1, 0)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:
            for path in [self.backup_path, *self._temporaries()]:
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass
            try:
                os.rmdir(self.backup_dir)  # only if nothing else is in it
            except OSError:
                pass

    # ---- saving --------------------------------------------------------------------------
    def _save(self, epoch: int, step: int) -> None:
        model = self.model
        slots = weight_slots(model)
        arrays = {f"weights/{i}": arr for i, (_, _, arr) in enumerate(slots)}
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            for key, arr in optimizer.get_state().items():
                arrays[f"optimizer/{key}"] = arr
        meta = {
            "format": _FORMAT,
            "version": _VERSION,
            "epoch": int(epoch),
            "step": int(step),
            "steps": self.params.get("steps"),
            "stopped": bool(getattr(model, "stop_training", False)),
            "weights": [[type(layer).__name__, layer.name, wname] for layer, wname, _ in slots],
            "optimizer": type(optimizer).__name__ if optimizer is not None else None,
            "rng": backend.get_rng_state(),
            "layer_rngs": {
                key: gen.bit_generator.state for key, gen in layer_generators(model).items()
            },
            "callbacks": self._callback_states(arrays),
        }
        if step:
            meta["epoch_rng"] = self._epoch_rng
            meta["metrics"] = metric_state(model.compiled_state, arrays)
        arrays[_META] = np.frombuffer(to_json(meta), dtype=np.uint8)
        os.makedirs(self.backup_dir, exist_ok=True)
        atomic_write(self.backup_path, lambda fp: np.savez(fp, **arrays))

    def _callback_states(self, arrays) -> list:
        states = []
        for i, (cb, index) in enumerate(self._others()):
            if isinstance(cb, History):
                state = {"history": cb.history, "epoch": list(cb.epoch)}
            elif hasattr(cb, "get_backup_state"):
                state = cb.get_backup_state()
            else:
                fields = fields_of(cb)
                if fields is None:
                    continue
                state = {name: getattr(cb, name) for name in fields}
                if isinstance(cb, EarlyStopping) and cb.best_weights is not None:
                    state["best_weights"] = len(cb.best_weights)
                    for j, w in enumerate(cb.best_weights):
                        arrays[f"callbacks/{i}/best_weights/{j}"] = w
            states.append({"class": type(cb).__name__, "index": index, "slot": i, "state": state})
        return states

    def _others(self):
        """(callback, n-th of its class) for every other callback, in list order."""
        seen: dict[str, int] = {}
        out = []
        for cb in self._callbacks:
            if cb is self:
                continue
            name = type(cb).__name__
            out.append((cb, seen.get(name, 0)))
            seen[name] = seen.get(name, 0) + 1
        return out

    # ---- restoring -----------------------------------------------------------------------
    def _fail(self, what: str) -> ValueError:
        return ValueError(
            f"BackupAndRestore cannot resume from {self.backup_path!r}: {what}. A backup belongs "
            "to one training script; resume with the same model, compile() and fit() arguments, "
            f"or delete the folder {self.backup_dir!r} to start training from scratch."
        )

    def _read(self):
        try:
            with np.load(self.backup_path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as e:
            raise self._fail(
                f"the file is not a readable backup ({type(e).__name__}: {e})"
            ) from None
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise self._fail("the file was not written by BackupAndRestore")
        if meta.get("version") != _VERSION:
            raise self._fail(
                f"it has backup format version {meta.get('version')!r}; this "
                f"filterbank reads version {_VERSION}"
            )
        return meta, arrays

    def _restore(self, meta: dict, arrays: dict) -> None:
        model = self.model
        step = meta["step"]
        if step and meta.get("steps") != self.params.get("steps"):
            raise self._fail(
                f"it was taken in the middle of an epoch of {meta.get('steps')} batches, but this "
                f"fit() has {self.params.get('steps')} batches per epoch"
            )
        optimizer = getattr(model, "optimizer", None)
        if meta["optimizer"] != (type(optimizer).__name__ if optimizer is not None else None):
            raise self._fail(
                f"it holds the state of optimizer {meta['optimizer']}, but the "
                f"model was compiled with {type(optimizer).__name__}"
            )
        self._restore_weights(meta, arrays)
        if optimizer is not None:
            # Slots are keyed "<layer name>/<weight>/<slot>": follow the layers' current names.
            renamed = {
                f"{lname}/{wname}": f"{layer.name}/{wname}"
                for (layer, wname, _), (_, lname, _) in zip(weight_slots(model), meta["weights"])
            }
            state = {}
            for key, value in arrays.items():
                if not key.startswith("optimizer/"):
                    continue
                name = key[len("optimizer/") :]
                param, _, slot = name.rpartition("/")
                state[f"{renamed[param]}/{slot}" if param in renamed else name] = value
            try:
                optimizer.set_state(state)
            except ValueError as e:
                raise self._fail(f"the optimizer state does not fit ({e})") from None
        generators = layer_generators(model)
        if set(generators) != set(meta["layer_rngs"]):
            raise self._fail(
                f"it holds the generators of the seeded layers "
                f"{sorted(meta['layer_rngs'])}, the model has {sorted(generators)}"
            )
        for key, gen in generators.items():
            gen.bit_generator.state = meta["layer_rngs"][key]
        self._restore_callbacks(meta["callbacks"], arrays)
        epochs = self.params.get("epochs", meta["epoch"])
        resume_epoch = max(epochs, meta["epoch"]) if meta["stopped"] else meta["epoch"]
        if step and not meta["stopped"]:
            model.resume_at(resume_epoch, step)
            backend.set_rng_state(meta["epoch_rng"])
            self._pending = (meta["rng"], meta["metrics"], arrays)
        else:
            model.resume_at(resume_epoch)
            backend.set_rng_state(meta["rng"])

    def _restore_weights(self, meta: dict, arrays: dict) -> None:
        # Matched by position, not by layer name: rebuilding a model in the same Python session
        # (a notebook cell run again after Ctrl-C) numbers its layers anew (dense_1 -> dense_2).
        slots = weight_slots(self.model)
        described = meta["weights"]
        if len(described) != len(slots):
            raise self._fail(
                f"it holds {len(described)} weight arrays, model "
                f"'{self.model.name}' has {len(slots)}"
            )
        for i, ((layer, wname, arr), (cls, lname, saved_name)) in enumerate(zip(slots, described)):
            got = arrays.get(f"weights/{i}")
            if got is None:
                raise self._fail(f"weight array {i} is missing")
            if (
                (type(layer).__name__, wname) != (cls, saved_name)
                or got.shape != arr.shape
                or got.dtype != arr.dtype
            ):
                raise self._fail(
                    f"weight {i} is {cls} '{lname}' {saved_name} {fmt_shape(got.shape)} "
                    f"{got.dtype} in the backup, but {type(layer).__name__} '{layer.name}' "
                    f"{wname} {fmt_shape(arr.shape)} {arr.dtype} in the model"
                )
        for i, (_, _, arr) in enumerate(slots):
            arr[...] = arrays[f"weights/{i}"]
        weights_changed()

    def _restore_callbacks(self, states: list, arrays: dict) -> None:
        by_identity = {(s["class"], s["index"]): s for s in states}
        for cb, index in self._others():
            entry = by_identity.get((type(cb).__name__, index))
            if entry is None:
                continue
            state = entry["state"]
            if isinstance(cb, History):
                cb.history = {k: list(v) for k, v in state["history"].items()}
                cb.epoch = list(state["epoch"])
                self.model.history = cb
            elif hasattr(cb, "set_backup_state"):
                cb.set_backup_state(state)
            elif fields_of(cb) is not None:
                state = dict(state)
                count = state.pop("best_weights", None)
                for name, value in state.items():
                    setattr(cb, name, value)
                if isinstance(cb, EarlyStopping):
                    cb.best_weights = (
                        None
                        if count is None
                        else [
                            arrays[f"callbacks/{entry['slot']}/best_weights/{j}"]
                            for j in range(count)
                        ]
                    )

    # ---- files ---------------------------------------------------------------------------
    def _temporaries(self) -> list[str]:
        # What atomic_write leaves behind when the process is killed in the middle of a save.
        return glob.glob(os.path.join(glob.escape(self.backup_dir), f".{BACKUP_NAME}.*.tmp"))

    def _remove_stale_temporaries(self) -> None:
        for path in self._temporaries():
            try:
                os.remove(path)
            except OSError:
                pass


__all__ = ["BackupAndRestore", "BACKUP_NAME"]
