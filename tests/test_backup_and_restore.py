"""BackupAndRestore: a killed run, rerun, ends bit-identical to an uninterrupted one.

The first test is the real thing (a training subprocess killed with SIGKILL in the middle of an
epoch, then the same script run again); the others interrupt ``fit`` in-process with an
exception, which leaves the backup in the same state, and check each piece of restored state.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import filterbank as keras
from filterbank import backend, callbacks, layers
from filterbank.callbacks import BackupAndRestore, CallbackList
from filterbank.callbacks.backup_and_restore import BACKUP_NAME

ROOT = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------ the subprocess round trip
SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    import numpy as np
    import filterbank as keras
    from filterbank import callbacks, layers

    backup_dir, out, pause_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    keras.utils.set_random_seed(7)
    data = np.random.default_rng(0)
    x = data.normal(size=(48, 8, 8, 1)).astype("float32")
    y = data.integers(0, 3, size=48)
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(4, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Dropout(0.3),
        layers.Flatten(),
        layers.Dropout(0.2, seed=11),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    ran = []

    class Pause(callbacks.Callback):
        # Test instrumentation: in the middle of epoch `pause_at`, say so and wait to be killed.
        def on_epoch_begin(self, epoch, logs=None):
            ran.append(epoch)
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == pause_at and batch == 1:
                open(out + ".ready", "w").close()
                time.sleep(120)

    history = model.fit(x, y, epochs=5, batch_size=8, shuffle=True, verbose=0,
                        callbacks=[callbacks.BackupAndRestore(backup_dir), Pause()])
    np.savez(out, *model.get_weights())
    with open(out + ".json", "w") as f:
        json.dump({"history": history.history, "epochs_run": ran}, f)
""")


def _run_script(script, backup_dir, out, pause_at=-1):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FILTERBANK_DISABLE_NUMBA": "1"}
    return subprocess.Popen(
        [sys.executable, str(script), str(backup_dir), str(out), str(pause_at)],
        env=env,
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _finish(proc):
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr.decode()


def _result(out):
    with np.load(str(out) + ".npz", allow_pickle=False) as data:
        weights = [data[f"arr_{i}"] for i in range(len(data.files))]
    with open(str(out) + ".json") as f:
        return weights, json.load(f)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals only")
def test_sigkill_mid_epoch_then_rerun_equals_uninterrupted_run_byte_for_byte(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    backup = tmp_path / "backup"
    out = tmp_path / "resumed"
    reference = _run_script(script, tmp_path / "other-backup", tmp_path / "reference")

    victim = _run_script(script, backup, out, pause_at=3)
    ready = Path(str(out) + ".ready")
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert victim.poll() is None, victim.communicate()[1].decode()
        assert time.monotonic() < deadline, "the training subprocess never reached epoch 3"
        time.sleep(0.02)
    with np.load(backup / BACKUP_NAME, allow_pickle=False) as data:
        meta = json.loads(data["__meta__"].tobytes())
    assert (meta["epoch"], meta["step"]) == (3, 0)  # epochs 0, 1, 2 completed
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL

    _finish(_run_script(script, backup, out))  # the same script, run again
    _finish(reference)
    resumed_weights, resumed = _result(out)
    ref_weights, ref = _result(tmp_path / "reference")
    assert resumed["epochs_run"] == [3, 4]  # it resumed, it did not start over
    assert ref["epochs_run"] == [0, 1, 2, 3, 4]
    assert len(resumed_weights) == len(ref_weights) == 4
    for a, b in zip(resumed_weights, ref_weights):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert resumed["history"] == ref["history"]
    assert not backup.exists()  # delete_checkpoint=True: nothing left once fit completes


# ------------------------------------------------------------------ in-process interruptions
X = np.random.default_rng(0).normal(size=(60, 6, 6, 1)).astype("float32")
Y = np.random.default_rng(1).integers(0, 3, size=60)


class Interrupt(callbacks.Callback):
    """Raises in the middle of a chosen epoch (a crash that leaves the backup behind)."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt


class Recorder(callbacks.Callback):
    """Which (epoch, batch) pairs this fit actually trained."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.batches.append((self.epoch, batch))


def _model(loss="sparse_categorical_crossentropy", optimizer="adam"):
    # Every build starts from the same seed; layer names go on counting (dense_1, dense_2, ...)
    # as in a notebook where a cell is run again, which the backup must tolerate.
    backend.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input(shape=(6, 6, 1)),
            layers.Conv2D(3, 3, activation="relu"),
            layers.BatchNormalization(),
            layers.Dropout(0.25),
            layers.Flatten(),
            layers.Dropout(0.25, seed=5),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def _fit(model, extra, backup_dir, save_freq="epoch", epochs=6, **kwargs):
    # min_delta=10: no epoch counts as an improvement, so both callbacks act on their state
    # (the rate halves every epoch; EarlyStopping keeps epoch 0's weights as the best).
    model.stoppers = [
        callbacks.EarlyStopping("val_loss", min_delta=10, patience=10, restore_best_weights=True),
        callbacks.ReduceLROnPlateau("val_loss", min_delta=10, patience=1, factor=0.5),
    ]
    cbs = [BackupAndRestore(backup_dir, save_freq=save_freq, **kwargs), *model.stoppers, *extra]
    return model.fit(
        X, Y, epochs=epochs, batch_size=8, validation_split=0.2, verbose=0, callbacks=cbs
    )


def _assert_same_run(model_a, history_a, model_b, history_b):
    for a, b in zip(model_a.get_weights(), model_b.get_weights(), strict=True):
        assert a.tobytes() == b.tobytes()
    stop_a, stop_b = model_a.stoppers[0], model_b.stoppers[0]
    assert (stop_a.wait, stop_a.best, stop_a.best_epoch) == (
        stop_b.wait,
        stop_b.best,
        stop_b.best_epoch,
    )
    for a, b in zip(stop_a.best_weights, stop_b.best_weights, strict=True):
        assert a.tobytes() == b.tobytes()
    plateau_a, plateau_b = model_a.stoppers[1], model_b.stoppers[1]
    assert (plateau_a.wait, plateau_a.best) == (plateau_b.wait, plateau_b.best)
    assert history_a.history == history_b.history
    assert history_a.epoch == history_b.epoch
    state_a, state_b = model_a.optimizer.get_state(), model_b.optimizer.get_state()
    assert state_a["iterations"] == state_b["iterations"]
    assert state_a["learning_rate"] == state_b["learning_rate"]
    for layer_a, layer_b in zip(model_a.layers, model_b.layers, strict=True):
        for name in layer_a.trainable_param_names():  # slots are keyed by the layer's name
            for slot in ("momentum", "velocity"):
                a = state_a[f"{layer_a.name}/{name}/{slot}"]
                assert a.tobytes() == state_b[f"{layer_b.name}/{name}/{slot}"].tobytes()


@pytest.mark.parametrize(
    "save_freq, interrupt, first_resumed",
    [
        ("epoch", (3, 2), (3, 0)),  # resumes at the start of the interrupted epoch
        (2, (3, 4), (3, 4)),  # backups after batches 1 and 3 of the epoch: resumes at 4
        (4, (2, 2), (2, 0)),  # no backup yet in epoch 2: resumes at its start
    ],
)
def test_interrupted_run_resumes_bit_identically(tmp_path, save_freq, interrupt, first_resumed):
    reference = _model()
    ref_history = _fit(reference, [], tmp_path / "ref", save_freq)
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), [Interrupt(*interrupt)], tmp_path / "b", save_freq)
    assert (tmp_path / "b" / BACKUP_NAME).exists()
    resumed, recorder = _model(), Recorder()
    history = _fit(resumed, [recorder], tmp_path / "b", save_freq)
    assert recorder.batches[0] == first_resumed
    _assert_same_run(reference, ref_history, resumed, history)
    assert ref_history.history["learning_rate"] == [1e-3] + [1e-3 * 0.5**i for i in range(5)]
    assert reference.stoppers[0].best_epoch == 0


def test_mid_epoch_resume_restores_running_metrics_of_an_auto_accuracy(tmp_path):
    # "accuracy" with an MSE loss is resolved from the first batch's shapes (AutoAccuracy):
    # a fresh process resolves it again before putting back the epoch's running counts.
    def model():
        backend.set_random_seed(2)
        m = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1, activation="sigmoid")])
        m.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])
        return m

    x = np.random.default_rng(4).normal(size=(40, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")

    def fit(m, extra, path):
        return m.fit(
            x,
            y,
            epochs=2,
            batch_size=4,
            verbose=0,
            callbacks=[BackupAndRestore(path, save_freq=3), *extra],
        )

    reference = model()
    ref_history = fit(reference, [], tmp_path / "ref")
    with pytest.raises(KeyboardInterrupt):
        fit(model(), [Interrupt(1, 7)], tmp_path / "b")
    resumed = model()
    history = fit(resumed, [], tmp_path / "b")
    assert history.history == ref_history.history
    assert reference.get_weights()[0].tobytes() == resumed.get_weights()[0].tobytes()


def test_a_run_stopped_early_stays_stopped(tmp_path):
    def fit(model, path, *extra):
        stop = callbacks.EarlyStopping("loss", patience=0, baseline=0.0, restore_best_weights=True)
        return model.fit(
            X,
            Y,
            epochs=10,
            batch_size=16,
            verbose=0,
            callbacks=[BackupAndRestore(path, delete_checkpoint=False), stop, *extra],
        )

    reference = _model()
    ref_history = fit(reference, tmp_path / "b")
    assert len(ref_history.epoch) < 10  # nothing beats a baseline of 0: it stops early
    # The finished run kept its backup: running the script again trains nothing more, and
    # EarlyStopping, its state restored, again ends on the best epoch's weights.
    again, recorder = _model(), Recorder()
    history = fit(again, tmp_path / "b", recorder)
    assert recorder.batches == []
    assert history.history == ref_history.history
    for a, b in zip(reference.get_weights(), again.get_weights(), strict=True):
        assert a.tobytes() == b.tobytes()


def test_backup_is_one_pickle_free_file_replaced_atomically(tmp_path, monkeypatch):
    model = _model()
    backup = BackupAndRestore(tmp_path / "b", delete_checkpoint=False)
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0, callbacks=[backup])
    assert os.listdir(tmp_path / "b") == [BACKUP_NAME]
    with np.load(backup.backup_path, allow_pickle=False) as data:
        assert all(data[k].dtype.kind in "fiu" for k in data.files)
        meta = json.loads(data["__meta__"].tobytes())
    assert (meta["epoch"], meta["step"]) == (2, 0)
    assert meta["layer_rngs"] and meta["rng"]["bit_generator"] == "PCG64"
    before = Path(backup.backup_path).read_bytes()

    # A crash in the middle of writing the next backup leaves the previous one untouched.
    def broken_savez(fp, **arrays):
        fp.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        model.fit(X, Y, epochs=4, batch_size=16, verbose=0, callbacks=[backup])
    assert Path(backup.backup_path).read_bytes() == before
    assert os.listdir(tmp_path / "b") == [BACKUP_NAME]  # no temporary file left behind


def test_delete_checkpoint_removes_the_backup_and_its_empty_folder(tmp_path):
    model = _model()
    model.fit(
        X, Y, epochs=1, batch_size=16, verbose=0, callbacks=[BackupAndRestore(tmp_path / "b")]
    )
    assert not (tmp_path / "b").exists()
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    model.fit(
        X, Y, epochs=1, batch_size=16, verbose=0, callbacks=[BackupAndRestore(tmp_path / "c")]
    )
    assert os.listdir(tmp_path / "c") == ["notes.txt"]  # only its own file is removed


def test_stale_temporary_files_from_a_killed_save_are_cleaned_up(tmp_path):
    (tmp_path / "b").mkdir()
    stale = tmp_path / "b" / f".{BACKUP_NAME}.0123456789ab.tmp"
    stale.write_bytes(b"half")
    _model().fit(
        X,
        Y,
        epochs=1,
        batch_size=16,
        verbose=0,
        callbacks=[BackupAndRestore(tmp_path / "b", delete_checkpoint=False)],
    )
    assert os.listdir(tmp_path / "b") == [BACKUP_NAME]


def test_runs_after_the_other_callbacks_whatever_their_order():
    backup, stop = BackupAndRestore("unused"), callbacks.EarlyStopping()
    cbl = CallbackList([backup, stop], add_history=True)
    assert cbl.callbacks[0] is stop and cbl.callbacks[-1] is backup
    assert isinstance(cbl.callbacks[1], callbacks.History)
    assert backup._callbacks is cbl.callbacks


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"backup_dir": ""}, ValueError, "backup_dir expects a folder path, got ''"),
        ({"backup_dir": None}, ValueError, "backup_dir expects a folder path, got None"),
        (
            {"backup_dir": "b", "save_freq": 0},
            ValueError,
            "save_freq expects 'epoch' or an integer >= 1",
        ),
        ({"backup_dir": "b", "save_freq": "batch"}, ValueError, "got 'batch'"),
        ({"backup_dir": "b", "save_freq": True}, ValueError, "got True"),
        (
            {"backup_dir": "b", "delete_checkpoint": "yes"},
            TypeError,
            "delete_checkpoint expects True or False, got 'yes'",
        ),
        (
            {"backup_dir": "b", "double_checkpoint": 1},
            TypeError,
            "double_checkpoint expects True or False, got 1",
        ),
    ],
)
def test_constructor_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        BackupAndRestore(**kwargs)


def _backup_after_interrupt(tmp_path, save_freq="epoch"):
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), [Interrupt(1, 3)], tmp_path / "b", save_freq)
    return tmp_path / "b"


def test_a_backup_from_another_architecture_is_refused_with_a_fix(tmp_path):
    path = _backup_after_interrupt(tmp_path)
    other = keras.Sequential(
        [keras.Input(shape=(6, 6, 1)), layers.Flatten(), layers.Dense(3, activation="softmax")]
    )
    other.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(
        ValueError,
        match=r"it holds 8 weight arrays, model 'sequential_\d+' has 2"
        r".*delete the folder",
    ):
        other.fit(X, Y, epochs=2, verbose=0, callbacks=[BackupAndRestore(path)])
    changed = keras.Sequential(
        [
            keras.Input(shape=(6, 6, 1)),
            layers.Conv2D(3, 3),
            layers.BatchNormalization(),
            layers.Dropout(0.25),
            layers.Flatten(),
            layers.Dropout(0.25, seed=5),
            layers.Dense(5),
        ]
    )
    changed.compile(optimizer="adam", loss="mse")
    with pytest.raises(
        ValueError,
        match=r"weight 6 is Dense '.*' kernel \(48, 3\) float32 in the "
        r"backup, but Dense '.*' kernel \(48, 5\) float32",
    ):
        changed.fit(X, np.zeros((60, 5)), epochs=2, verbose=0, callbacks=[BackupAndRestore(path)])


def test_another_optimizer_is_refused(tmp_path):
    path = _backup_after_interrupt(tmp_path)
    with pytest.raises(
        ValueError, match="state of optimizer Adam, but the model was compiled with SGD"
    ):
        _fit(_model(optimizer="sgd"), [], path)


def test_a_mid_epoch_backup_needs_the_same_batches_per_epoch(tmp_path):
    path = _backup_after_interrupt(tmp_path, save_freq=2)
    model = _model()
    with pytest.raises(
        ValueError, match=r"middle of an epoch of 6 batches, but this fit\(\) has 3"
    ):
        model.fit(
            X,
            Y,
            epochs=3,
            batch_size=16,
            validation_split=0.2,
            verbose=0,
            callbacks=[BackupAndRestore(path, save_freq=2)],
        )


def test_a_damaged_or_foreign_file_is_refused(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / BACKUP_NAME).write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not a readable backup.*delete the folder"):
        _fit(_model(), [], tmp_path / "b")
    np.savez(tmp_path / "b" / BACKUP_NAME, __meta__=np.frombuffer(b'{"format": "x"}', np.uint8))
    with pytest.raises(ValueError, match="not written by BackupAndRestore"):
        _fit(_model(), [], tmp_path / "b")
