"""``filterbank explain`` and ``filterbank predict --samples N --out DIR``, in process."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from filterbank.cli import main


@pytest.fixture
def xo_model(tmp_path, monkeypatch):
    monkeypatch.setenv("FILTERBANK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FILTERBANK_OFFLINE", "1")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(9, 9, 1)),
            layers.Conv2D(3, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    path = tmp_path / "xo.fbk"
    model.save(path)
    return path


def test_explain_sample_prints_prediction_and_arithmetic(xo_model, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "pics"
    assert main(["explain", str(xo_model), "--sample", "1", "--data", "xo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "test image 1 of xo:" in text and "(true class:" in text
    assert "The strongest cell of conv2d is [" in text
    assert "conv2d (Conv2D) output [" in text and "->  relu(" in text
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "maps_conv2d.png",
            "filters_conv2d.png",
            "pool_max_pooling2d.png",
            "maps_max_pooling2d.png",
            "cell.png",
            "saliency.png",
            "grad_cam.png",
        ]
    )


def test_explain_image_layer_and_index(xo_model, tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    img = np.full((9, 9), 255, np.uint8)
    for i in range(1, 8):
        img[i, i] = img[i, 8 - i] = 0
    Image.fromarray(img).save(tmp_path / "x.png")
    assert (
        main(
            [
                "explain",
                str(xo_model),
                "--image",
                str(tmp_path / "x.png"),
                "--data",
                "xo",
                "--layer",
                "max_pooling2d",
                "--index",
                "1,2,0",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "x.png (inverted to match the training images)" in text
    assert "max_pooling2d (MaxPooling2D) output [1, 2, 0]: max of the 2x2 window" in text


def test_explain_user_errors_are_one_line(xo_model, capsys):
    assert (
        main(["explain", str(xo_model), "--sample", "0", "--data", "xo", "--index", "9,9,9"]) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("filterbank: error: ") and "out of range" in err
    assert err.count("\n") == 1
    assert main(["explain", str(xo_model), "--sample", "5000", "--data", "xo"]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(["explain", str(xo_model), "--sample", "0", "--data", "xo", "--index", "a,b"]) == 2
    assert "--index expects integers" in capsys.readouterr().err


def test_predict_samples_writes_the_grid(xo_model, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "grid"
    assert (
        main(["predict", str(xo_model), "--samples", "6", "--data", "xo", "--out", str(out)]) == 0
    )
    assert (out / "predictions.png").read_bytes()[:4] == b"\x89PNG"
    assert "Wrote" in capsys.readouterr().out
