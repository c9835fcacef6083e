"""CallbackList, History, LambdaCallback, learning-rate callbacks, TerminateOnNaN, CSVLogger."""

import csv
import math
import subprocess
import sys

import numpy as np
import pytest

from filterbank import callbacks
from tests.callback_fakes import FakeModel, scripted_fit, val_losses


class Recorder(callbacks.Callback):
    def __init__(self, name, trace):
        super().__init__()
        self.name, self.trace = name, trace

    def on_epoch_end(self, epoch, logs=None):
        self.trace.append((self.name, epoch, dict(logs)))


# ----------------------------------------------------------------- CallbackList
def test_callback_list_fans_out_in_order_and_sets_params():
    trace = []
    a, b = Recorder("a", trace), Recorder("b", trace)
    model = FakeModel()
    cl = callbacks.CallbackList(
        [a, b], add_history=True, add_progbar=True, model=model, verbose=2, epochs=3, steps=7
    )
    assert [type(c).__name__ for c in cl.callbacks] == [
        "Recorder",
        "Recorder",
        "History",
        "ProgbarLogger",
    ]
    assert all(c.model is model for c in cl.callbacks)
    assert a.params == {"verbose": 2, "epochs": 3, "steps": 7}
    assert model.history is cl.history
    cl.on_epoch_end(0, {"loss": 1.0})
    assert [t[0] for t in trace] == ["a", "b"]


def test_callback_list_keeps_given_history_and_progbar():
    h, p = callbacks.History(), callbacks.ProgbarLogger()
    cl = callbacks.CallbackList([p, h], add_history=True, add_progbar=True)
    assert cl.callbacks == [p, h] and cl.history is h and cl.progbar is p


def test_callback_list_accepts_single_callback_none_and_nested():
    h = callbacks.History()
    assert callbacks.CallbackList(h).callbacks == [h]
    assert callbacks.CallbackList(None).callbacks == []
    assert callbacks.CallbackList([[h]]).callbacks == [h]
    user_list = [h]
    callbacks.CallbackList(user_list, add_progbar=True)
    assert user_list == [h]  # the caller's list is not modified


def test_callback_list_rejects_classes_and_functions():
    with pytest.raises(
        TypeError,
        match=r"callbacks\[0\] is the class EarlyStopping.*"
        r"EarlyStopping\(\.\.\.\)",
    ):
        callbacks.CallbackList([callbacks.EarlyStopping])
    with pytest.raises(TypeError, match=r"callbacks\[1\].*got function.*LambdaCallback"):
        callbacks.CallbackList([callbacks.History(), lambda e, logs: None])


def test_callback_list_shares_epoch_logs_and_makes_floats():
    seen = []

    class Adder(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["extra"] = 5.0

    class Reader(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(dict(logs))

    cl = callbacks.CallbackList([Adder(), Reader()], model=FakeModel())
    logs = {"loss": np.float32(0.25), "acc": np.array(0.5)}
    cl.on_epoch_end(0, logs)
    assert seen == [{"loss": 0.25, "acc": 0.5, "extra": 5.0}]
    assert type(seen[0]["loss"]) is float and type(seen[0]["acc"]) is float
    assert logs["extra"] == 5.0  # the caller's dict is the one passed around


def test_batch_aliases_are_called():
    calls = []

    class Old(callbacks.Callback):
        def on_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("end", batch, logs["loss"]))

    cl = callbacks.CallbackList([Old()])
    cl.on_train_batch_begin(3)
    cl.on_train_batch_end(3, {"loss": 0.5})
    assert calls == [("begin", 3), ("end", 3, 0.5)]


def test_append_sets_model_and_params():
    model = FakeModel()
    cl = callbacks.CallbackList([], model=model, epochs=4)
    h = callbacks.History()
    cl.append(h)
    assert h.model is model and h.params["epochs"] == 4 and len(cl) == 1


def test_every_hook_exists_and_is_a_noop():
    cb = callbacks.Callback()
    for name in callbacks.HOOK_NAMES:
        args = (0, {}) if "batch" in name or "epoch" in name else ({},)
        assert getattr(cb, name)(*args) is None


# ----------------------------------------------------------------- History
def test_history_records_keys_and_epochs():
    logs = [{"loss": 1.0 - i / 10, "accuracy": i / 10, "val_loss": 2.0 - i / 10} for i in range(3)]
    model, history, _ = scripted_fit([], logs)
    assert model.history is history
    assert history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "accuracy", "val_loss"}
    assert history.history["accuracy"] == [0.0, 0.1, 0.2]


def test_history_set_on_train_begin():
    model = FakeModel()
    h = callbacks.History()
    h.set_model(model)
    model.history = None
    h.on_train_begin()
    assert model.history is h


# ----------------------------------------------------------------- LambdaCallback
def test_lambda_callback_hooks():
    trace = []
    cb = callbacks.LambdaCallback(
        on_train_begin=lambda logs: trace.append("train_begin"),
        on_epoch_end=lambda epoch, logs: trace.append(("epoch", epoch, logs["loss"])),
        on_train_batch_end=lambda batch, logs: trace.append(("batch", batch)),
        on_train_end=lambda logs: trace.append("train_end"),
        on_test_begin=lambda logs: trace.append("test_begin"),
    )
    scripted_fit([cb], [{"loss": 0.5}], steps=2)
    assert trace == ["train_begin", ("batch", 0), ("batch", 1), ("epoch", 0, 0.5), "train_end"]
    cb.on_test_begin({})
    assert trace[-1] == "test_begin"


def test_lambda_callback_unknown_hook():
    with pytest.raises(
        TypeError,
        match=r"unknown hook 'on_epoch_ends'.*Did you mean "
        r"'on_epoch_end'",
    ):
        callbacks.LambdaCallback(on_epoch_ends=print)
    with pytest.raises(TypeError, match="'on_epoch_end' expects a function"):
        callbacks.LambdaCallback(on_epoch_end=3)


# ----------------------------------------------------------------- ReduceLROnPlateau
def lr_trace(cb, values, lr=0.01, key="val_loss"):
    model = FakeModel(learning_rate=lr)
    model, history, _ = scripted_fit([cb], val_losses(values, key), model=model)
    return history.history["learning_rate"], model.optimizer.learning_rate


def test_reduce_lr_after_patience():
    cb = callbacks.ReduceLROnPlateau(factor=0.5, patience=2)
    lrs, final = lr_trace(cb, [1, 1, 1, 1, 1])
    # logged: the rate used in each epoch; reductions at the end of epochs 2 and 4
    assert lrs == [0.01, 0.01, 0.01, 0.005, 0.005]
    assert math.isclose(final, 0.0025)


def test_reduce_lr_improvement_resets_wait():
    cb = callbacks.ReduceLROnPlateau(factor=0.5, patience=2)
    lrs, final = lr_trace(cb, [1.0, 1.0, 0.5, 0.5, 0.2])
    assert final == 0.01 and lrs == [0.01] * 5


def test_reduce_lr_min_delta():
    cb = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.1)
    _, final = lr_trace(cb, [1.0, 0.95])  # 0.05 better: not enough
    assert final == 0.005
    cb = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.01)
    assert lr_trace(cb, [1.0, 0.95])[1] == 0.01


def test_reduce_lr_cooldown():
    cb = callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=2)
    lrs, _ = lr_trace(cb, [1] * 7)
    # reduce after epoch 2; epochs 3-4 cool down; counting resumes: reduce after epoch 5... 6
    assert lrs == [0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.0025]


def test_reduce_lr_min_lr():
    cb = callbacks.ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.0005)
    lrs, final = lr_trace(cb, [1] * 5)
    assert np.allclose(lrs, [0.01, 0.01, 0.001, 0.0005, 0.0005]) and final == 0.0005


def test_reduce_lr_mode_max_on_accuracy():
    cb = callbacks.ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1)
    _, final = lr_trace(cb, [0.5, 0.6, 0.7], key="val_accuracy")
    assert final == 0.01
    cb = callbacks.ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1, mode="min")
    assert lr_trace(cb, [0.5, 0.6, 0.7], key="val_accuracy")[1] == 0.0025


def test_reduce_lr_bad_factor_and_missing_monitor():
    with pytest.raises(ValueError, match=r"factor=1\.5.*pass 0\.1"):
        callbacks.ReduceLROnPlateau(factor=1.5)
    cb = callbacks.ReduceLROnPlateau(monitor="val_loss", patience=0)
    with pytest.warns(
        UserWarning,
        match="Learning rate reduction is conditioned on metric "
        "`val_loss`.*Available metrics are: loss",
    ):
        model, _, _ = scripted_fit([cb], [{"loss": 1.0}] * 3)
    assert model.optimizer.learning_rate == 0.01


def test_reduce_lr_verbose(capsys):
    cb = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, verbose=1)
    lr_trace(cb, [1, 1])
    out = capsys.readouterr().out
    assert out == "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.005.\n"


def test_lr_callbacks_need_an_optimizer():
    model = FakeModel()
    model.optimizer = None
    with pytest.raises(ValueError, match=r"model.compile\(optimizer="):
        scripted_fit([callbacks.LearningRateScheduler(lambda e, lr: lr)], [{"loss": 1}], model)


# ----------------------------------------------------------------- LearningRateScheduler
def test_scheduler_sets_lr_each_epoch():
    seen = []
    watch = callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(watch.model.optimizer.learning_rate)
    )
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr * 0.5)
    model, history, _ = scripted_fit([sched, watch], [{"loss": 1.0}] * 4, model=FakeModel(0.1))
    assert seen == [0.1, 0.1, 0.05, 0.025]
    assert history.history["learning_rate"] == [0.1, 0.1, 0.05, 0.025]
    assert type(model.optimizer.learning_rate) is float


def test_scheduler_one_argument_form_and_numpy_result():
    sched = callbacks.LearningRateScheduler(lambda epoch: np.float32(0.1 / (epoch + 1)))
    model, history, _ = scripted_fit([sched], [{"loss": 1.0}] * 3)
    assert np.allclose(history.history["learning_rate"], [0.1, 0.05, 0.1 / 3])


def test_scheduler_reads_a_schedule_current_value():
    class ScheduledOptimizer:
        learning_rate = object()  # a schedule object, not a float

        def current_learning_rate(self):
            return 0.2

    model = FakeModel()
    model.optimizer = ScheduledOptimizer()
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: lr / 2)
    scripted_fit([sched], [{"loss": 1.0}], model=model)
    assert model.optimizer.learning_rate == 0.1


def test_scheduler_rejects_non_numbers(capsys):
    with pytest.raises(ValueError, match="return a number, got 'fast' at epoch 0"):
        scripted_fit([callbacks.LearningRateScheduler(lambda e, lr: "fast")], [{"loss": 1}])
    with pytest.raises(TypeError, match="'schedule' expects a function"):
        callbacks.LearningRateScheduler(0.1)
    scripted_fit([callbacks.LearningRateScheduler(lambda e, lr: 0.5, verbose=1)], [{"loss": 1}])
    assert "Epoch 1: LearningRateScheduler setting learning rate to 0.5." in capsys.readouterr().out


# ----------------------------------------------------------------- TerminateOnNaN
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -np.inf])
def test_terminate_on_nan_stops(bad, capsys):
    losses = {(0, 0): 1.0, (0, 1): 0.9, (0, 2): bad}
    model, history, run = scripted_fit(
        [callbacks.TerminateOnNaN()],
        [{"loss": 1.0}] * 3,
        steps=4,
        batch_logs=lambda e, b: {"loss": np.float32(losses.get((e, b), 0.5))},
    )
    assert model.stop_training and run == 1
    assert capsys.readouterr().out == "Batch 2: Invalid loss, terminating training\n"


def test_terminate_on_nan_ignores_finite_and_can_raise():
    model, _, run = scripted_fit([callbacks.TerminateOnNaN()], [{"loss": 1.0}] * 2)
    assert run == 2 and not model.stop_training
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 0"):
        scripted_fit([callbacks.TerminateOnNaN(raise_error=True)], [{"loss": float("nan")}])


# ----------------------------------------------------------------- CSVLogger
def read_rows(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_header_and_rows(tmp_path):
    path = tmp_path / "log.csv"
    logs = [
        {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.625},
        {"loss": 0.25, "accuracy": 0.875, "val_loss": 0.5},
    ]
    scripted_fit([callbacks.CSVLogger(path)], logs)
    assert read_rows(path) == [
        ["epoch", "accuracy", "loss", "val_loss"],
        ["0", "0.75", "0.5", "0.625"],
        ["1", "0.875", "0.25", "0.5"],
    ]


def test_csv_logger_flushes_every_epoch(tmp_path):
    path = tmp_path / "log.csv"
    rows_during = []
    peek = callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: rows_during.append(len(read_rows(path)))
    )
    scripted_fit([callbacks.CSVLogger(path), peek], [{"loss": 1.0}] * 3)
    assert rows_during == [2, 3, 4]


def test_csv_logger_append_and_overwrite(tmp_path):
    path = tmp_path / "log.csv"
    scripted_fit([callbacks.CSVLogger(path)], [{"loss": 1.0}] * 2)
    scripted_fit([callbacks.CSVLogger(path, append=True)], [{"loss": 0.5}])
    assert read_rows(path) == [["epoch", "loss"], ["0", "1.0"], ["1", "1.0"], ["0", "0.5"]]
    scripted_fit([callbacks.CSVLogger(path, append=False)], [{"loss": 0.25}])
    assert read_rows(path) == [["epoch", "loss"], ["0", "0.25"]]
    fresh = tmp_path / "new.csv"  # append to a file that does not exist: header written
    scripted_fit([callbacks.CSVLogger(fresh, append=True)], [{"loss": 0.5}])
    assert read_rows(fresh)[0] == ["epoch", "loss"]


def test_csv_logger_separator_missing_keys_and_arrays(tmp_path):
    path = tmp_path / "log.tsv"
    logs = [{"loss": 1.0, "val_loss": 2.0, "per_class": np.array([1, 2])}, {"loss": 0.5}]
    scripted_fit([callbacks.CSVLogger(path, separator="\t")], logs)
    assert read_rows(path, "\t") == [
        ["epoch", "loss", "per_class", "val_loss"],
        ["0", "1.0", "[1, 2]", "2.0"],
        ["1", "0.5", "NA", "NA"],
    ]


def test_csv_logger_records_learning_rate_added_before_it(tmp_path):
    path = tmp_path / "log.csv"
    scripted_fit(
        [callbacks.ReduceLROnPlateau(patience=1, factor=0.5), callbacks.CSVLogger(path)],
        val_losses([1, 1]),
    )
    rows = read_rows(path)
    assert rows[0] == ["epoch", "learning_rate", "loss", "val_loss"]
    assert [r[1] for r in rows[1:]] == ["0.01", "0.01"]


# ----------------------------------------------------------------- package surface
def test_public_names_and_lazy_tqdm():
    for name in (
        "Callback",
        "CallbackList",
        "History",
        "EarlyStopping",
        "ModelCheckpoint",
        "ReduceLROnPlateau",
        "LearningRateScheduler",
        "TerminateOnNaN",
        "CSVLogger",
        "LambdaCallback",
        "ProgbarLogger",
        "BackupAndRestore",
    ):
        assert isinstance(getattr(callbacks, name), type)
    code = (
        "import sys, io, filterbank\n"
        "from filterbank import callbacks\n"
        "p = filterbank.progbar.Progbar(3, stream=io.StringIO())\n"
        "p.update(3, [('loss', 1.0)])\n"
        "assert 'tqdm' not in sys.modules, 'tqdm imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(_root()))


def _root():
    import pathlib

    return pathlib.Path(__file__).resolve().parents[1]


def test_csv_logger_key_appearing_later_widens_the_header(tmp_path):
    path = tmp_path / "log.csv"
    logs = [{"loss": 1.0}, {"loss": 0.5, "val_loss": 0.75}, {"loss": 0.25}]
    scripted_fit([callbacks.CSVLogger(path)], logs)
    assert read_rows(path) == [
        ["epoch", "loss", "val_loss"],
        ["0", "1.0", "NA"],
        ["1", "0.5", "0.75"],
        ["2", "0.25", "NA"],
    ]
    # appending to a file with an earlier run's header: the header cannot change
    with pytest.warns(UserWarning, match="val_acc appeared after the header"):
        scripted_fit(
            [callbacks.CSVLogger(path, append=True)], [{"loss": 0.5}, {"loss": 0.5, "val_acc": 1.0}]
        )
    assert read_rows(path)[-2:] == [["0", "0.5", "NA"], ["1", "0.5", "NA"]]
    # a fresh file in append mode is this run's own: it is widened
    fresh = tmp_path / "fresh.csv"
    scripted_fit([callbacks.CSVLogger(fresh, append=True)], [{"loss": 1.0}, {"loss": 1.0, "b": 2}])
    assert read_rows(fresh) == [["epoch", "b", "loss"], ["0", "NA", "1.0"], ["1", "2.0", "1.0"]]


def test_csv_logger_validation_freq_in_real_fit(tmp_path):
    import filterbank as keras
    from filterbank import layers

    keras.utils.set_random_seed(0)
    model = keras.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    model.fit(
        x,
        x.sum(1),
        epochs=4,
        verbose=0,
        validation_split=0.25,
        validation_freq=2,
        callbacks=[callbacks.CSVLogger(tmp_path / "log.csv")],
    )
    rows = read_rows(tmp_path / "log.csv")
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert [r[2] == "NA" for r in rows[1:]] == [True, False, True, False]
