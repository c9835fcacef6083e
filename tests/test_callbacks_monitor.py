"""EarlyStopping and ModelCheckpoint on scripted logs (fake model)."""

import os
import warnings

import numpy as np
import pytest

from filterbank import callbacks
from filterbank.callbacks._monitor import resolve_direction
from tests.callback_fakes import scripted_fit, val_losses


def epoch_of_weights(model):
    return int(model.weights[0][0])


# ----------------------------------------------------------------- direction inference
@pytest.mark.parametrize(
    "monitor, expected",
    [
        ("val_loss", "min"),
        ("loss", "min"),
        ("val_accuracy", "max"),
        ("acc", "max"),
        ("sparse_categorical_accuracy", "max"),
        ("val_auc", "max"),
        ("val_mean_squared_error", "min"),
        ("val_mae", "min"),
        ("categorical_crossentropy", "min"),
        ("output_1_loss", "min"),
        ("val_precision", "max"),
        ("kl_divergence", "min"),
        ("val_bce", "min"),
    ],
)
def test_auto_direction_from_names(monitor, expected):
    assert resolve_direction(monitor, "auto") == expected


def test_auto_direction_from_model_metric_objects():
    class Score:
        name = "score"
        _direction = "up"

    class M:
        metrics = [Score()]

    assert resolve_direction("val_score", "auto", M()) == "max"
    with pytest.raises(ValueError, match=r"monitor='val_score'.*mode='max'"):
        resolve_direction("val_score", "auto", None)


# ----------------------------------------------------------------- EarlyStopping
def test_early_stopping_stops_after_patience():
    es = callbacks.EarlyStopping(patience=2)
    _, history, run = scripted_fit([es], val_losses([1.0, 0.9, 0.95, 0.94, 0.8, 0.7]))
    # best at epoch 1; epochs 2 and 3 do not improve -> stop at the end of epoch 3
    assert run == 4 and es.stopped_epoch == 3 and es.best == 0.9 and es.best_epoch == 1
    assert history.epoch == [0, 1, 2, 3]


def test_early_stopping_patience_zero_stops_at_first_worse_epoch():
    es = callbacks.EarlyStopping(monitor="loss", patience=0)
    logs = [{"loss": v} for v in (1.0, 0.5, 0.6, 0.1)]
    _, _, run = scripted_fit([es], logs)
    assert run == 3 and es.stopped_epoch == 2


def test_early_stopping_never_stops_while_improving():
    es = callbacks.EarlyStopping(patience=0)
    _, _, run = scripted_fit([es], val_losses([5, 4, 3, 2, 1]))
    assert run == 5 and es.stopped_epoch == 0


def test_early_stopping_restores_best_weights_when_stopped():
    es = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    model, _, run = scripted_fit([es], val_losses([1.0, 0.5, 0.7, 0.8, 0.1]))
    assert run == 4
    assert epoch_of_weights(model) == 1  # epoch 1 had the best val_loss


def test_early_stopping_restores_best_weights_without_stopping_keras3():
    # Keras 3 restores at the end of training even when patience never ran out.
    es = callbacks.EarlyStopping(patience=10, restore_best_weights=True)
    model, _, run = scripted_fit([es], val_losses([1.0, 0.3, 0.7, 0.8]))
    assert run == 4 and es.stopped_epoch == 0
    assert epoch_of_weights(model) == 1


def test_early_stopping_keeps_last_weights_without_restore():
    es = callbacks.EarlyStopping(patience=1)
    model, _, run = scripted_fit([es], val_losses([1.0, 0.5, 0.7, 0.1]))
    assert run == 3 and epoch_of_weights(model) == 2


def test_early_stopping_min_delta():
    logs = val_losses([1.0, 0.95, 0.92, 0.90, 0.88])
    es = callbacks.EarlyStopping(patience=2, min_delta=0.1)
    _, _, run = scripted_fit([es], logs)
    assert run == 3 and es.stopped_epoch == 2 and es.best == 1.0
    es = callbacks.EarlyStopping(patience=2, min_delta=-0.1)  # sign ignored, as Keras
    assert es.min_delta == 0.1
    es = callbacks.EarlyStopping(patience=2)
    _, _, run = scripted_fit([es], logs)
    assert run == 5


def test_early_stopping_baseline_never_reached():
    logs = val_losses([0.9, 0.8, 0.7, 0.75, 0.6, 0.5])
    # Without a baseline the one worse epoch (3) is within patience.
    es = callbacks.EarlyStopping(patience=3)
    assert scripted_fit([es], logs)[2] == 6
    # With baseline 0.5, no epoch counts as "good enough": wait keeps growing and the first
    # non-improving epoch after 3 stops training.
    es = callbacks.EarlyStopping(patience=3, baseline=0.5, restore_best_weights=True)
    model, _, run = scripted_fit([es], logs)
    assert run == 4 and es.stopped_epoch == 3
    assert epoch_of_weights(model) == 2  # the best epoch, although it missed the baseline


def test_early_stopping_baseline_reached_resets_wait():
    es = callbacks.EarlyStopping(patience=1, baseline=0.85)
    _, _, run = scripted_fit([es], val_losses([0.9, 0.8, 0.79, 0.81, 0.7]))
    # epoch 1 beats the baseline (wait 0), epoch 2 too, epoch 3 is worse -> stop
    assert run == 4 and es.stopped_epoch == 3


def test_early_stopping_mode_max_and_auto_on_accuracy():
    logs = [{"loss": 1.0, "val_accuracy": v} for v in (0.5, 0.7, 0.6, 0.65, 0.9)]
    for mode in ("max", "auto"):
        es = callbacks.EarlyStopping(monitor="val_accuracy", mode=mode, patience=1)
        _, _, run = scripted_fit([es], logs)
        assert run == 3 and es.best == 0.7, mode
    # mode="min" on an accuracy: every rise is "worse"
    es = callbacks.EarlyStopping(monitor="val_accuracy", mode="min", patience=0)
    _, _, run = scripted_fit([es], logs)
    assert run == 2 and es.best == 0.5


def test_early_stopping_start_from_epoch():
    logs = val_losses([1, 2, 3, 4, 5, 6])
    es = callbacks.EarlyStopping(patience=0)
    assert scripted_fit([es], logs)[2] == 2
    es = callbacks.EarlyStopping(patience=0, start_from_epoch=2, restore_best_weights=True)
    model, _, run = scripted_fit([es], logs)
    assert run == 4 and es.stopped_epoch == 3 and es.best == 3
    assert epoch_of_weights(model) == 2  # nothing before start_from_epoch counts


def test_early_stopping_missing_monitor_warns_and_continues():
    es = callbacks.EarlyStopping(monitor="val_loss", patience=0)
    logs = [{"loss": v, "accuracy": 0.5} for v in (1.0, 2.0, 3.0)]
    with pytest.warns(
        UserWarning,
        match=r"`val_loss` which is not available\. "
        r"Available metrics are: loss,accuracy\..*validation",
    ):
        _, _, run = scripted_fit([es], logs)
    assert run == 3


def test_early_stopping_unknown_mode_warns_and_uses_auto():
    with pytest.warns(UserWarning, match="mode 'maximum' is unknown"):
        es = callbacks.EarlyStopping(monitor="val_accuracy", mode="maximum")
    assert es.mode == "auto"


def test_early_stopping_ambiguous_metric_asks_for_mode():
    es = callbacks.EarlyStopping(monitor="score")
    with pytest.raises(ValueError, match="Pass mode='max'"):
        scripted_fit([es], [{"loss": 1.0, "score": 3.0}])


def test_early_stopping_verbose_messages(capsys):
    es = callbacks.EarlyStopping(patience=1, verbose=1, restore_best_weights=True)
    scripted_fit([es], val_losses([1.0, 0.5, 0.7, 0.8]))
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Epoch 3: early stopping",
        "Restoring model weights from the end of the best epoch: 2.",
    ]


def test_early_stopping_reused_instance_starts_fresh():
    es = callbacks.EarlyStopping(patience=1)
    scripted_fit([es], val_losses([0.1, 0.5, 0.6]))
    assert es.stopped_epoch == 1  # patience 1: the first worse epoch stops (as patience 0)
    _, _, run = scripted_fit([es], val_losses([5.0, 4.0, 3.0]))
    assert run == 3 and es.stopped_epoch == 0 and es.best == 3.0


def test_early_stopping_nan_is_never_an_improvement():
    es = callbacks.EarlyStopping(patience=2)
    _, _, run = scripted_fit([es], val_losses([1.0, float("nan"), float("nan"), 0.5]))
    assert run == 3 and es.best == 1.0


# ----------------------------------------------------------------- ModelCheckpoint
def test_checkpoint_every_epoch_with_formatted_names(tmp_path):
    path = os.path.join(tmp_path, "ckpt", "{epoch:02d}-{val_loss:.2f}.fbk")
    cb = callbacks.ModelCheckpoint(path)
    model, _, _ = scripted_fit([cb], val_losses([0.5, 0.4123, 0.6]))
    names = sorted(os.listdir(tmp_path / "ckpt"))
    assert names == ["01-0.50.fbk", "02-0.41.fbk", "03-0.60.fbk"]
    assert [kind for kind, _ in model.saves] == ["model"] * 3
    assert (tmp_path / "ckpt" / "02-0.41.fbk").read_text() == "model"


def test_checkpoint_save_weights_only(tmp_path):
    cb = callbacks.ModelCheckpoint(tmp_path / "w.npz", save_weights_only=True)
    model, _, _ = scripted_fit([cb], val_losses([0.5, 0.4]))
    assert model.saves == [("weights", str(tmp_path / "w.npz"))] * 2
    assert (tmp_path / "w.npz").read_text() == "weights"


def test_checkpoint_save_best_only_min(tmp_path):
    cb = callbacks.ModelCheckpoint(tmp_path / "best.fbk", save_best_only=True)
    model, _, _ = scripted_fit([cb], val_losses([0.5, 0.6, 0.4, 0.45, 0.3]))
    assert len(model.saves) == 3 and cb.best == 0.3  # epochs 0, 2, 4


def test_checkpoint_save_best_only_per_epoch_names_and_max(tmp_path):
    cb = callbacks.ModelCheckpoint(
        str(tmp_path / "m-{epoch}.fbk"), monitor="val_accuracy", save_best_only=True, mode="auto"
    )
    logs = [{"loss": 1.0, "val_accuracy": v} for v in (0.5, 0.4, 0.7, 0.7)]
    scripted_fit([cb], logs)
    assert sorted(os.listdir(tmp_path)) == ["m-1.fbk", "m-3.fbk"]


def test_checkpoint_initial_value_threshold(tmp_path):
    cb = callbacks.ModelCheckpoint(
        tmp_path / "b.fbk", save_best_only=True, initial_value_threshold=0.45
    )
    model, _, _ = scripted_fit([cb], val_losses([0.5, 0.6, 0.4]))
    assert len(model.saves) == 1 and cb.best == 0.4


def test_checkpoint_missing_monitor_warns_and_saves(tmp_path):
    cb = callbacks.ModelCheckpoint(tmp_path / "b.fbk", save_best_only=True)
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        model, _, _ = scripted_fit([cb], [{"loss": 1.0}])
    assert len(model.saves) == 1


def test_checkpoint_bad_field_names_the_field(tmp_path):
    cb = callbacks.ModelCheckpoint(str(tmp_path / "{epoch}-{val_acc:.2f}.fbk"))
    with pytest.raises(KeyError, match=r"no value for 'val_acc'.*Available fields: epoch, loss"):
        scripted_fit([cb], [{"loss": 1.0}])


def test_checkpoint_integer_save_freq_counts_batches(tmp_path):
    cb = callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}.fbk"), save_freq=2)
    model, _, _ = scripted_fit([cb], val_losses([0.5, 0.4]), steps=3)
    # 6 batches, a save after every 2nd, counted across epochs
    assert sorted(os.listdir(tmp_path)) == ["e1-b2.fbk", "e2-b1.fbk", "e2-b3.fbk"]


@pytest.mark.parametrize("bad", ["batch", 0, -3, 1.5, True])
def test_checkpoint_rejects_bad_save_freq(bad):
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.ModelCheckpoint("m.fbk", save_freq=bad)


def test_checkpoint_directory_path_is_an_error(tmp_path):
    cb = callbacks.ModelCheckpoint(tmp_path)
    with pytest.raises(IsADirectoryError, match="Add a file name"):
        scripted_fit([cb], val_losses([0.5]))


def test_checkpoint_verbose_messages(tmp_path, capsys):
    path = str(tmp_path / "b.fbk")
    cb = callbacks.ModelCheckpoint(path, save_best_only=True, verbose=1)
    scripted_fit([cb], val_losses([0.5, 0.6]))
    assert capsys.readouterr().out.splitlines() == [
        f"Epoch 1: val_loss improved from None to 0.50000, saving model to {path}",
        "Epoch 2: val_loss did not improve from 0.50000",
    ]


def test_checkpoint_no_warning_when_monitor_present(tmp_path):
    cb = callbacks.ModelCheckpoint(tmp_path / "b.fbk", save_best_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scripted_fit([cb], val_losses([0.5, 0.4]))
    assert np.isclose(cb.best, 0.4)
