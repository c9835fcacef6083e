"""Every callback in a real (small, fast) model.fit / evaluate / predict."""

import csv
import os
import re

import numpy as np
import pytest

import filterbank as keras
from filterbank import callbacks, layers, optimizers

N_TRAIN, BATCH = 96, 32  # 3 steps per epoch after validation_split=0.25 of 128


def data(seed=0, n=128):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64")
    return x, y


def classifier(lr=0.1, optimizer=None):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            layers.Dense(8, activation="relu", input_shape=(4,)),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=optimizer or optimizers.SGD(learning_rate=lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


class WeightLog(callbacks.Callback):
    """Snapshots the real weights at the end of every epoch."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def same(ws1, ws2):
    return all(np.array_equal(a, b) for a, b in zip(ws1, ws2, strict=True))


def fit(model, cbs, epochs=4, **kw):
    x, y = data()
    kw.setdefault("validation_split", 0.25)
    return model.fit(
        x, y, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=cbs, shuffle=False, **kw
    )


def test_history_from_fit():
    model = classifier()
    history = fit(model, [])
    assert isinstance(history, callbacks.History) and model.history is history
    assert history.epoch == [0, 1, 2, 3]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 4 and all(type(x) is float for x in v) for v in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0]  # it does learn


def test_early_stopping_in_fit_restores_best_weights():
    model, log = classifier(), WeightLog()
    # min_delta far above any change: only epoch 0 ever counts as an improvement
    es = callbacks.EarlyStopping(
        monitor="val_loss", patience=2, min_delta=100.0, restore_best_weights=True
    )
    history = fit(model, [log, es], epochs=20)
    assert history.epoch == [0, 1, 2] and es.stopped_epoch == 2 and model.stop_training
    assert not same(log.weights[0], log.weights[2])
    assert same(model.get_weights(), log.weights[0])


def test_early_stopping_in_fit_runs_all_epochs_when_improving():
    model = classifier()
    es = callbacks.EarlyStopping(monitor="loss", patience=3)
    assert fit(model, [es], epochs=5).epoch == [0, 1, 2, 3, 4]


def test_early_stopping_in_fit_warns_without_validation():
    model = classifier()
    es = callbacks.EarlyStopping(patience=0)
    with pytest.warns(
        UserWarning,
        match=r"`val_loss` which is not available\. Available "
        r"metrics are: loss,accuracy\..*validation_split",
    ):
        history = fit(model, [es], epochs=3, validation_split=0.0)
    assert len(history.epoch) == 3


def test_model_checkpoint_in_fit(tmp_path, monkeypatch):
    model, log = classifier(), WeightLog()
    saved = {}

    def save_weights(path):  # the saving module is separate work; record what would be saved
        saved[os.path.basename(path)] = model.get_weights()
        open(path, "w").close()

    monkeypatch.setattr(model, "save_weights", save_weights)
    ckpt = callbacks.ModelCheckpoint(
        str(tmp_path / "{epoch:02d}-{val_loss:.3f}.w"), save_best_only=True, save_weights_only=True
    )
    history = fit(model, [log, ckpt], epochs=5)
    val = history.history["val_loss"]
    best, expected = np.inf, []
    for epoch, v in enumerate(val):
        if v < best:
            best = v
            expected.append(epoch)
    names = [f"{e + 1:02d}-{val[e]:.3f}.w" for e in expected]
    assert sorted(os.listdir(tmp_path)) == sorted(names) and sorted(saved) == sorted(names)
    for e, name in zip(expected, names):
        assert same(saved[name], log.weights[e])


def test_model_checkpoint_in_fit_calls_model_save(tmp_path, monkeypatch):
    model = classifier()
    paths = []
    monkeypatch.setattr(model, "save", paths.append)
    fit(model, [callbacks.ModelCheckpoint(str(tmp_path / "m{epoch}.fbk"))], epochs=2)
    assert paths == [str(tmp_path / "m1.fbk"), str(tmp_path / "m2.fbk")]


def test_model_checkpoint_real_save_best_only_and_load(tmp_path):
    model, log = classifier(), WeightLog()
    path = str(tmp_path / "best.fbk")
    ckpt = callbacks.ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True)
    history = fit(model, [log, ckpt], epochs=4)
    best_epoch = int(np.argmax(history.history["val_accuracy"]))  # first maximum, as ">"
    loaded = keras.models.load_model(path)
    assert same(loaded.get_weights(), log.weights[best_epoch])
    x, y = data()
    model.set_weights(log.weights[best_epoch])
    assert np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_model_checkpoint_real_save_weights_per_epoch(tmp_path):
    model, log = classifier(), WeightLog()
    ckpt = callbacks.ModelCheckpoint(
        str(tmp_path / "w-{epoch}.safetensors"), save_weights_only=True
    )
    fit(model, [log, ckpt], epochs=3)
    assert sorted(os.listdir(tmp_path)) == [f"w-{e}.safetensors" for e in (1, 2, 3)]
    keras.utils.clear_session()  # weights are matched by layer name: same names again
    fresh = classifier()
    fresh.load_weights(str(tmp_path / "w-2.safetensors"))
    assert same(fresh.get_weights(), log.weights[1])


def test_reduce_lr_on_plateau_in_fit():
    model = classifier(lr=0.1)
    cb = callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=0.5, patience=1, min_delta=100.0, min_lr=0.02
    )
    history = fit(model, [cb], epochs=5)
    assert np.allclose(history.history["learning_rate"], [0.1, 0.1, 0.05, 0.025, 0.02])
    assert model.optimizer.current_learning_rate() == pytest.approx(0.02)


def test_learning_rate_scheduler_in_fit_changes_training():
    model, log = classifier(lr=0.1), WeightLog()
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 if epoch < 2 else 0.0)
    history = fit(model, [sched, log], epochs=4, validation_split=0.0)
    assert history.history["learning_rate"] == [0.1, 0.1, 0.0, 0.0]
    assert not same(log.weights[0], log.weights[1])
    assert same(log.weights[1], log.weights[2]) and same(log.weights[2], log.weights[3])


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_terminate_on_nan_in_fit(capsys):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([layers.Dense(1, input_shape=(4,))])
    model.compile(optimizer=optimizers.SGD(learning_rate=1e6), loss="mse")
    x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32") * 100
    y = x.sum(axis=1, keepdims=True)
    history = model.fit(
        x,
        y,
        epochs=5,
        batch_size=8,
        verbose=0,
        shuffle=False,
        callbacks=[callbacks.TerminateOnNaN()],
    )
    assert model.stop_training and history.epoch == [0]
    assert not np.isfinite(history.history["loss"][0])
    assert re.fullmatch(r"Batch \d+: Invalid loss, terminating training\n", capsys.readouterr().out)


def test_csv_logger_in_fit(tmp_path):
    path = tmp_path / "log.csv"
    history = fit(classifier(), [callbacks.CSVLogger(path)], epochs=3)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    assert np.allclose([float(r[2]) for r in rows[1:]], history.history["loss"])


def test_lambda_callback_in_fit():
    counts = {"batches": 0, "epochs": 0, "test_begin": 0}

    def bump(key):
        counts[key] += 1

    cb = callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: bump("batches"),
        on_epoch_end=lambda e, logs: bump("epochs"),
        on_test_begin=lambda logs: bump("test_begin"),
    )
    fit(classifier(), [cb], epochs=2)
    assert counts == {"batches": 2 * N_TRAIN // BATCH, "epochs": 2, "test_begin": 2}


# ----------------------------------------------------------------- progress output
VAL_LINE = (
    r"3/3 \[={30}\] - \d+s \d+(s|ms|us)/step - loss: \d\.\d{4} - accuracy: \d\.\d{4}"
    r" - val_loss: \d\.\d{4} - val_accuracy: \d\.\d{4}"
)


@pytest.mark.parametrize("verbose", [1, "auto"])
def test_fit_verbose1_prints_keras_lines(capsys, verbose):
    x, y = data()
    classifier().fit(x, y, epochs=2, batch_size=BATCH, verbose=verbose, validation_split=0.25)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert all(re.fullmatch(VAL_LINE, ln) for ln in lines[1::2]), lines


def test_fit_verbose2_and_0(capsys):
    x, y = data()
    classifier().fit(x, y, epochs=2, batch_size=BATCH, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    pattern = r"4/4 - \d+s - \d+(s|ms|us)/step - loss: \d\.\d{4} - accuracy: \d\.\d{4}"
    assert len(lines) == 4 and all(re.fullmatch(pattern, ln) for ln in lines[1::2]), lines
    classifier().fit(x, y, epochs=2, batch_size=BATCH, verbose=0)
    assert capsys.readouterr().out == ""


def test_evaluate_and_predict_progress(capsys):
    x, y = data()
    model = classifier()
    model.evaluate(x, y, batch_size=BATCH, verbose=1)
    model.predict(x, batch_size=64, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(
        r"4/4 \[={30}\] - \d+s \d+(s|ms|us)/step - loss: \d\.\d{4} - "
        r"accuracy: \d\.\d{4}",
        lines[0],
    ), lines
    assert re.fullmatch(r"2/2 \[={30}\] - \d+s \d+(s|ms|us)/step", lines[1]), lines
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""
