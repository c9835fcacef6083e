"""The command line's parts in-process: argument checks, error reporting, data, images, runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from filterbank import cli
from filterbank.cli import common, images, report
from filterbank.cli import data as cli_data
from filterbank.cli import models as cli_models


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    monkeypatch.setenv("FILTERBANK_HOME", str(tmp_path / "fbhome"))
    monkeypatch.setenv("FILTERBANK_OFFLINE", "1")
    monkeypatch.delenv("FILTERBANK_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("filterbank: error: ")
    assert "Traceback" not in captured.err
    return lines[0]


# ---- arguments -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train", "--epochs", "0"], "argument --epochs: expected an integer >= 1, got '0'"),
        (["train", "--batch-size", "-3"], "argument --batch-size: expected an integer >= 1"),
        (["train", "--learning-rate", "nan"], "argument --learning-rate: expected a finite number"),
        (["train", "--learning-rate", "inf"], "argument --learning-rate: expected a finite number"),
        (["train", "--learning-rate", "fast"], "argument --learning-rate: expected a number"),
        (["train", "--validation-split", "1"], "argument --validation-split: expected a fraction"),
        (["train", "--seed", "-1"], "argument --seed: expected an integer >= 0"),
        (["train", "--image-size", "0x4"], "argument --image-size"),
        (["train", "--verbose", "3"], "argument --verbose: invalid choice"),
        (["predict", "m.fbk", "--invert", "maybe"], "argument --invert: invalid choice"),
        (["trian"], "argument COMMAND: invalid choice: 'trian'"),
        ([], "choose a command"),
    ],
)
def test_bad_arguments_are_one_line_usage_errors(capsys, args, fragment):
    assert cli.main(args) == 2
    assert fragment in one_error_line(capsys)


def test_parser_defaults_are_the_seed_recipe():
    args = cli.build_parser().parse_args(["train"])
    assert (args.data, args.model, args.epochs, args.batch_size, args.seed) == (
        "mnist",
        "seed-sequential",
        5,
        64,
        0,
    )
    assert args.optimizer is None and args.learning_rate is None  # rmsprop, Keras defaults
    assert args.out is None and not args.overwrite and args.verbose == 1


def test_help_says_a_python_model_file_is_run_as_code(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "build_model(input_shape, num_classes)" in text
    assert "The Python file is executed: it is your own code" in text


def test_image_size_parser():
    assert common.image_size("28") == (28, 28)
    assert common.image_size("32x48") == (32, 48)


# ---- user errors vs bugs ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train", "--data", "fashion-mnst"], "Did you mean 'fashion_mnist'?"),
        (
            ["train", "--optimizer", "rmsprp", "--data", "xo", "--model", "xo"],
            "Did you mean 'rmsprop'?",
        ),
        (["train", "--model", "nothere.py"], "model file 'nothere.py' does not exist"),
        (
            ["train", "--data", "xo", "--model", "seed-sequential"],
            "needs images of at least 18x18 pixels, got 9x9",
        ),
        (["predict", "m.fbk"], "predict needs image files or --samples N"),
    ],
)
def test_user_errors_are_one_line(capsys, args, fragment):
    assert cli.main(args) == 2
    assert fragment in one_error_line(capsys)


def test_errors_in_the_users_build_model_are_reported_in_one_line(capsys, tmp_path):
    (tmp_path / "broken.py").write_text(
        "def build_model(input_shape, num_classes):\n    return undefined_name\n"
    )
    (tmp_path / "empty.py").write_text("x = 1\n")
    assert cli.main(["train", "--data", "xo", "--model", "broken.py", "--out", "r1"]) == 2
    line = one_error_line(capsys)
    assert "build_model in broken.py raised NameError: name 'undefined_name'" in line
    assert cli.main(["train", "--data", "xo", "--model", "empty.py", "--out", "r2"]) == 2
    assert "empty.py defines no function build_model" in one_error_line(capsys)


def test_debug_shows_the_traceback(capsys, monkeypatch):
    monkeypatch.setenv("FILTERBANK_DEBUG", "1")
    assert cli.main(["evaluate", "missing.fbk"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("does not exist.")


def test_a_bug_keeps_its_traceback(monkeypatch):
    from filterbank.cli import commands

    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(commands, "datasets", broken)
    with pytest.raises(ZeroDivisionError, match="a bug"):
        cli.main(["datasets"])


def test_user_errors_context_converts_value_errors_only():
    with pytest.raises(common.CLIError, match="^training: bad shape$"):
        with common.user_errors("training"):
            raise ValueError("bad\n   shape")
    with pytest.raises(KeyError):
        with common.user_errors("training"):
            raise KeyError("a bug")


# ---- data ------------------------------------------------------------------------------------
def test_mnist_falls_back_to_the_bundled_digits_with_one_warning_line(capsys):
    data = cli_data.load("MNIST")
    assert data.source == "bundled" and data.input_shape == (28, 28, 1)
    assert (len(data.x_train), len(data.x_test)) == (8000, 2000)
    assert data.x_train.dtype == np.float32 and 0.0 <= data.x_train.min() < data.x_train.max() <= 1
    assert data.y_train.dtype == np.int64 and data.class_names == [str(d) for d in range(10)]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("filterbank: warning: mnist.load_data: full MNIST")


def test_builtin_data_refuse_a_model_of_another_shape():
    with pytest.raises(common.CLIError, match="expects 32x32 images with 3 channel"):
        cli_data.load("mnist", expected_shape=(32, 32, 3))
    assert cli_data.load("xo", expected_shape=(12, 12, 1)).input_shape == (12, 12, 1)


def test_data_name_errors(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(common.CLIError, match="is a file; expected a dataset name"):
        cli_data.load(str(tmp_path / "file.txt"))
    with pytest.raises(common.CLIError, match="Did you mean 'xo'"):
        cli_data.load("xoo")


def _write_digits(folder, label_images):
    from PIL import Image

    for name, values in label_images.items():
        (folder / name).mkdir(parents=True)
        for i, v in enumerate(values):
            image = np.zeros((10, 10), np.uint8)
            image[3:7, 3:7] = v
            Image.fromarray(image).save(folder / name / f"{i}.png")


def test_folder_with_train_and_test_keeps_the_training_class_order(tmp_path):
    _write_digits(tmp_path / "d" / "train", {"a": [10, 20], "b": [30, 40], "c": [50, 60]})
    _write_digits(tmp_path / "d" / "test", {"c": [200]})  # a subset of the classes
    data = cli_data.load(str(tmp_path / "d"), image_size=(10, 10))
    assert data.class_names == ["a", "b", "c"]
    assert data.y_test.tolist() == [2]  # "c" is class 2, not the test's class 0
    assert data.x_test[0, 5, 5, 0] == pytest.approx(200 / 255)
    assert data.light_on_dark is True
    assert data.describe()["split"] == "train/ and test/ subfolders"


def test_folder_test_split_and_errors(tmp_path):
    _write_digits(tmp_path / "f", {"a": [1] * 5, "b": [2] * 5})
    data = cli_data.load(str(tmp_path / "f"), seed=1, test_split=0.2)
    assert (len(data.x_train), len(data.x_test)) == (8, 2)
    assert data.describe()["test_split"] == 0.2 and data.describe()["seed"] == 1
    with pytest.raises(common.CLIError, match="--test-split must be > 0"):
        cli_data.load(str(tmp_path / "f"), test_split=0.0)
    with pytest.raises(common.CLIError, match="too few images to hold out a test split"):
        cli_data.load(str(tmp_path / "f"), test_split=0.05)
    _write_digits(tmp_path / "t", {"train/a": [1], "train/b": [2], "test/z": [3]})
    with pytest.raises(common.CLIError, match=r"class folders \['z'\] that the training"):
        cli_data.load(str(tmp_path / "t"))


# ---- models ----------------------------------------------------------------------------------
def test_resolve_model_names_and_files(tmp_path):
    assert cli_models.resolve("Seed_Sequential").name == "seed-sequential"
    (tmp_path / "m.py").write_text("")
    (tmp_path / "m.fbk").write_bytes(b"")
    assert cli_models.resolve(str(tmp_path / "m.py")).kind == "python"
    assert cli_models.resolve(str(tmp_path / "m.fbk")).kind == "saved"
    with pytest.raises(common.CLIError, match="is a folder"):
        cli_models.resolve(str(tmp_path))


def test_probabilities_pass_softmax_rows_and_convert_logits():
    probs = np.array([[0.2, 0.8], [1.0, 0.0]])
    np.testing.assert_array_equal(cli_models.probabilities(probs), probs)
    logits = np.array([[0.0, np.log(3.0)]])
    np.testing.assert_allclose(cli_models.probabilities(logits), [[0.25, 0.75]])


def test_targets_follow_the_loss():
    from filterbank import zoo

    model = zoo.build("xo", (9, 9, 1), 3)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert cli_models.targets(model, np.array([2, 0]), 3).tolist() == [2, 0]
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    assert cli_models.targets(model, np.array([2]), 3).tolist() == [[0, 0, 1]]


# ---- images ----------------------------------------------------------------------------------
def test_read_image_converts_resizes_scales_and_flattens_transparency(tmp_path):
    from PIL import Image

    rgba = np.zeros((20, 40, 4), np.uint8)  # fully transparent: white once flattened
    rgba[5:15, 10:30] = (0, 0, 0, 255)  # an opaque black box
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    gray = images.read_image(tmp_path / "a.png", (10, 20, 1))
    assert gray.shape == (10, 20, 1) and gray.dtype == np.float32
    assert gray[0, 0, 0] == 1.0 and gray[5, 10, 0] == 0.0
    rgb = images.read_image(tmp_path / "a.png", (10, 20, 3))
    assert rgb.shape == (10, 20, 3)
    (tmp_path / "b.png").write_text("not an image")
    with pytest.raises(common.CLIError, match="cannot read image"):
        images.read_image(tmp_path / "b.png", (10, 20, 1))


@pytest.mark.parametrize(
    "border, light_on_dark, mode, expected",
    [
        (0.9, True, "auto", True),
        (0.1, True, "auto", False),
        (0.1, False, "auto", True),
        (0.9, False, "auto", False),
        (0.9, None, "auto", False),
        (0.1, True, "yes", True),
        (0.9, True, "no", False),
    ],
)
def test_invert_rule(border, light_on_dark, mode, expected):
    image = np.full((6, 6, 1), border, np.float32)
    image[1:5, 1:5] = 1 - border
    assert images.border_mean(image) == pytest.approx(border)
    assert images.should_invert(image, mode, light_on_dark) is expected


def test_prepare_maps_to_the_training_value_range(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((4, 4), 255, np.uint8)).save(tmp_path / "white.png")
    x, inverted = images.prepare(
        [tmp_path / "white.png"],
        (4, 4, 1),
        invert="auto",
        light_on_dark=True,
        value_range=(-1.0, 1.0),
    )
    assert inverted == [True]
    np.testing.assert_array_equal(x, np.full((1, 4, 4, 1), -1.0, np.float32))


# ---- runs ------------------------------------------------------------------------------------
def test_run_folders_are_never_replaced_by_accident(tmp_path):
    first, second = report.new_run_dir(tmp_path / "runs"), report.new_run_dir(tmp_path / "runs")
    assert first != second and first.parent == second.parent == tmp_path / "runs"
    (first / "metrics.json").write_text("{}")
    with pytest.raises(common.CLIError, match="already holds a run"):
        report.prepare_out_dir(first, overwrite=False)
    assert report.prepare_out_dir(first, overwrite=True) == first
    assert report.prepare_out_dir(tmp_path / "new" / "deep", overwrite=False).is_dir()


def test_run_metrics_are_read_only_for_their_model(tmp_path):
    payload = {"data": {"name": "xo"}, "files": {"model": "model.fbk"}}
    report.write_json(tmp_path / "metrics.json", payload)
    assert report.read_run_metrics(tmp_path / "model.fbk") == payload
    assert report.read_run_metrics(tmp_path / "other.fbk") is None
    assert json.loads((tmp_path / "metrics.json").read_text()) == payload


def test_curves_png(tmp_path):
    pytest.importorskip("matplotlib")
    history = {"loss": [1.0, 0.5], "accuracy": [0.5, 0.8], "val_loss": [1.1, 0.7]}
    assert report.plot_curves(history, tmp_path / "c.png", "t")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
