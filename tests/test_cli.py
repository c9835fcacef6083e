"""The ``filterbank`` command, run as a subprocess (``python -m filterbank.cli``) on tiny data.

One xo model is trained once per module (2 epochs, ~1 s of training) and reused by the
evaluate / predict / summary / continue-training tests. Every subprocess runs offline with its
own FILTERBANK_HOME, so the bundled MNIST digits are what "mnist" means here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.cli_helpers import run_cli


@pytest.fixture(scope="module")
def xo_run(tmp_path_factory):
    """A 2-epoch xo run: (folder, completed process, metrics.json)."""
    cwd = tmp_path_factory.mktemp("cli")
    proc = run_cli(["train", "--data", "xo", "--model", "xo", "--epochs", "2", "--out", "run"], cwd)
    out = cwd / "run"
    return out, proc, json.loads((out / "metrics.json").read_text())


def assert_one_line_error(proc, *fragments, status=None):
    assert proc.returncode != 0
    if status is not None:
        assert proc.returncode == status
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("filterbank: error: "), lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    for fragment in fragments:
        assert fragment in lines[0]


# ---- train ----------------------------------------------------------------------------------
def test_train_prints_summary_progress_and_writes_the_run(xo_run):
    out, proc, metrics = xo_run
    assert "Total params: 338" in proc.stdout  # the summary table
    assert "Epoch 1/2" in proc.stdout and "Epoch 2/2" in proc.stdout
    assert "13/13" in proc.stdout  # 800 images / batch 64 = 13 steps
    assert f"Test accuracy: {metrics['test_accuracy']:.4f}" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "metrics.json", "model.fbk"]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["test_loss"] > 0
    assert sorted(metrics["history"]) == ["accuracy", "loss"]
    assert len(metrics["history"]["loss"]) == 2
    timings = metrics["timings"]
    assert len(timings["seconds_per_epoch"]) == 2
    assert timings["train_samples_per_second"] > 0
    assert timings["total_seconds"] >= timings["train_seconds"] > 0
    assert metrics["data"]["name"] == "xo" and metrics["data"]["source"] == "generated"
    assert metrics["data"]["train_samples"] == 800 and metrics["data"]["test_samples"] == 200
    assert metrics["data"]["class_names"] == ["O", "X"]
    assert metrics["data"]["preprocessing"]["value_range"] == [-1.0, 1.0]
    config = metrics["config"]
    assert (config["seed"], config["epochs"], config["batch_size"]) == (0, 2, 64)
    assert config["loss"] == "categorical_crossentropy" and config["labels"] == "one-hot"
    assert config["optimizer"]["name"] == "rmsprop"
    assert config["optimizer"]["learning_rate"] == pytest.approx(0.001)
    assert config["optimizer"]["iterations"] == 26
    assert metrics["model"] == {
        "source": "zoo",
        "name": "xo",
        "file": None,
        "class": "Sequential",
        "params": 338,
        "input_shape": [9, 9, 1],
    }


def test_train_refuses_to_replace_a_run_without_overwrite(xo_run):
    out, _, _ = xo_run
    proc = run_cli(
        ["train", "--data", "xo", "--model", "xo", "--out", out], out.parent, check=False
    )
    assert_one_line_error(proc, "already holds a run", "--overwrite", status=2)


def test_train_continues_a_saved_model_with_its_optimizer_state(xo_run):
    import filterbank as keras

    out, _, _ = xo_run
    proc = run_cli(
        [
            "train",
            "--data",
            "xo",
            "--model",
            out / "model.fbk",
            "--epochs",
            "1",
            "--out",
            "continued",
            "--verbose",
            "2",
        ],
        out.parent,
    )
    assert "26 optimizer steps so far" in proc.stdout
    metrics = json.loads((out.parent / "continued" / "metrics.json").read_text())
    assert metrics["model"]["source"] == "saved"
    assert metrics["config"]["optimizer"]["iterations"] == 26 + 13
    before = keras.models.load_model(out / "model.fbk")
    after = keras.models.load_model(out.parent / "continued" / "model.fbk")
    assert after.optimizer.iterations == 39
    assert not np.array_equal(before.get_weights()[0], after.get_weights()[0])


def test_train_runs_build_model_from_a_python_file(tmp_path):
    (tmp_path / "net.py").write_text(
        "import filterbank as keras\n"
        "from filterbank import layers\n\n"
        "def build_model(input_shape, num_classes):\n"
        "    return keras.Sequential([keras.Input(shape=input_shape), layers.Flatten(),\n"
        "                             layers.Dense(num_classes, activation='softmax')])\n"
    )
    run_cli(
        [
            "train",
            "--data",
            "xo",
            "--model",
            "net.py",
            "--epochs",
            "1",
            "--out",
            "r",
            "--verbose",
            "0",
            "--validation-split",
            "0.25",
        ],
        tmp_path,
    )
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert sorted(metrics["history"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert metrics["config"]["validation_samples"] == 200  # the last quarter of 800
    assert metrics["config"]["optimizer"]["iterations"] == 10  # 600 images / batch 64
    assert metrics["model"]["source"] == "python"
    assert metrics["model"]["params"] == 9 * 9 * 2 + 2
    assert metrics["model"]["file"] == str((tmp_path / "net.py").resolve())


def test_train_reads_a_folder_of_class_subfolders(tmp_path):
    from PIL import Image

    from filterbank.datasets import xo

    images, labels = xo.generate(20, size=12, seed=3)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = tmp_path / "shapes" / ("circle" if label == 0 else "cross")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(((image + 1) * 127.5).astype(np.uint8)).save(folder / f"{i}.png")
    run_cli(
        [
            "train",
            "--data",
            "shapes",
            "--model",
            "xo",
            "--image-size",
            "12",
            "--epochs",
            "1",
            "--out",
            "r",
            "--verbose",
            "0",
        ],
        tmp_path,
    )
    data = json.loads((tmp_path / "r" / "metrics.json").read_text())["data"]
    assert data["source"] == "folder" and data["name"] == str((tmp_path / "shapes").resolve())
    assert data["class_names"] == ["circle", "cross"]
    assert (data["train_samples"], data["test_samples"]) == (16, 4)
    assert data["input_shape"] == [12, 12, 1]
    assert data["preprocessing"]["light_on_dark"] is True  # white strokes on black


# ---- evaluate, predict, summary, datasets ----------------------------------------------------
def test_evaluate_reproduces_the_recorded_test_accuracy(xo_run):
    out, _, metrics = xo_run
    proc = run_cli(["evaluate", out / "model.fbk"], out.parent)
    correct = round(metrics["test_accuracy"] * 200)
    assert f"Test accuracy: {metrics['test_accuracy']:.4f} ({correct}/200)" in proc.stdout
    assert f"test loss: {metrics['test_loss']:.4f}" in proc.stdout
    assert "xo (generated)" in proc.stdout


def test_predict_samples_prints_true_and_predicted(xo_run):
    from filterbank.datasets import xo

    out, _, _ = xo_run
    proc = run_cli(["predict", out / "model.fbk", "--samples", "5"], out.parent)
    lines = proc.stdout.strip().splitlines()
    rows = lines[2:-1]
    assert len(rows) == 5
    _, (_, y_test) = xo.load_data(n=1000, size=9, seed=0)
    index = np.sort(np.random.default_rng(0).choice(len(y_test), size=5, replace=False))
    for row, i in zip(rows, index):
        fields = row.split()
        assert int(fields[0]) == i
        assert fields[1] == "OX"[y_test[i]]
        assert fields[2] in ("O", "X")
    wrong = sum("<- wrong" in r for r in rows)
    assert lines[-1] == f"{5 - wrong}/5 correct"


def test_predict_image_files_top_classes_and_inversion(xo_run, tmp_path):
    from PIL import Image

    from filterbank.datasets import xo

    out, _, _ = xo_run
    strokes = xo.render("x", size=9) > 0
    # Dark strokes on white paper, 4x larger than the model's input: resized and inverted.
    paper = np.where(strokes, 0, 255).astype(np.uint8)
    Image.fromarray(paper).resize((36, 36), Image.Resampling.NEAREST).save(tmp_path / "paper.png")
    # Light strokes on black, as the training images: taken as they are (RGB -> grayscale).
    Image.fromarray(255 - paper).resize((36, 36), Image.Resampling.NEAREST).convert("RGB").save(
        tmp_path / "screen.png"
    )
    proc = run_cli(
        ["predict", out / "model.fbk", tmp_path / "paper.png", tmp_path / "screen.png"], out.parent
    )
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{tmp_path / 'paper.png'}: ")
    assert lines[0].endswith("(inverted to match the training images)")
    assert "inverted" not in lines[1]
    # Both files hold the same picture once inverted (up to the rounding of resized 8-bit
    # pixels), so the same probabilities.
    ranked = [
        line.split(": ", 1)[1].replace("  (inverted to match the training images)", "")
        for line in lines
    ]
    tops = [
        dict(zip(r.split()[0::2], (float(p.rstrip("%")) for p in r.split()[1::2]))) for r in ranked
    ]
    assert sorted(tops[0]) == sorted(tops[1]) == ["O", "X"]  # 2 classes: the top 3 is a top 2
    for name in ("O", "X"):
        assert tops[0][name] == pytest.approx(tops[1][name], abs=1.0)
    percents = list(tops[0].values())
    assert percents == sorted(percents, reverse=True)
    assert sum(percents) == pytest.approx(100, abs=0.11)


def test_summary_prints_the_table_and_the_training_record(xo_run):
    out, _, metrics = xo_run
    proc = run_cli(["summary", out / "model.fbk"], out.parent)
    assert "Total params: 678" in proc.stdout or "Trainable params: 338" in proc.stdout
    assert "conv2d (Conv2D)" in proc.stdout
    assert "Compiled: optimizer rmsprop (learning rate 0.001, 26 steps taken)" in proc.stdout
    assert f"Trained on xo (generated); test accuracy {metrics['test_accuracy']:.4f}" in proc.stdout


def test_datasets_lists_what_is_available(tmp_path):
    proc = run_cli(["datasets"], tmp_path)
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[1:4]}
    assert rows["mnist"][1:4] == ["yes", "bundled", "8000/2000"]
    assert rows["xo"][1:3] == ["yes", "generated"]
    assert rows["fashion_mnist"][1] in ("yes", "no")


# ---- user errors: one line, no traceback ---------------------------------------------------
@pytest.mark.parametrize(
    "args, fragments, status",
    [
        (["train", "--data", "mnsit"], ["unknown dataset 'mnsit'", "Did you mean 'mnist'?"], 2),
        (["train", "--model", "lenet"], ["unknown model 'lenet'", "Did you mean 'lenet5'?"], 2),
        (["train", "--epochs", "abc"], ["argument --epochs", "'abc'"], 2),
        (["evaluate", "missing.fbk"], ["model file 'missing.fbk' does not exist"], 2),
    ],
)
def test_user_errors_print_one_line(tmp_path, args, fragments, status):
    proc = run_cli(args, tmp_path, check=False)
    assert_one_line_error(proc, *fragments, status=status)


def test_damaged_model_file_is_a_one_line_error(tmp_path):
    (tmp_path / "bad.fbk").write_bytes(b"PK\x03\x04 not really a zip")
    proc = run_cli(["summary", "bad.fbk"], tmp_path, check=False)
    assert_one_line_error(proc, "Cannot load 'bad.fbk'", status=2)
