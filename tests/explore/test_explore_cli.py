"""``filterbank explore`` on the command line, and the input rules of explore.preprocess."""

import io
import os
import shutil
import time

import numpy as np
import pytest

from filterbank.cli import build_parser, main
from filterbank.cli.common import CLIError
from filterbank.cli.explore import find_model, is_loopback
from filterbank.explore.preprocess import (
    BadInput,
    center_of_mass,
    check_pixels,
    decode_image,
    mnist_frame,
)


# ---- which model ------------------------------------------------------------------------------
def test_find_model_prefers_runs_main_then_the_newest_run(tmp_path, run_dir):
    runs = tmp_path / "runs"
    for name in ("a", "b"):
        shutil.copytree(run_dir, runs / name)
    now, old = time.time(), time.time() - 100
    os.utime(runs / "a" / "model.fbk", (now, now))
    os.utime(runs / "b" / "model.fbk", (old, old))
    assert find_model(None, runs) == runs / "a" / "model.fbk"
    shutil.copytree(run_dir, runs / "main")
    os.utime(runs / "main" / "model.fbk", (old - 100, old - 100))
    assert find_model(None, runs) == runs / "main" / "model.fbk"
    assert find_model(str(runs / "b"), runs) == runs / "b" / "model.fbk"
    assert find_model(str(runs / "b" / "model.fbk"), runs) == runs / "b" / "model.fbk"


def test_find_model_says_how_to_train_one(tmp_path):
    with pytest.raises(CLIError, match="Train one first: filterbank train --out runs/main"):
        find_model(None, tmp_path / "runs")
    with pytest.raises(CLIError, match="holds no model.fbk"):
        find_model(str(tmp_path), tmp_path)
    with pytest.raises(CLIError, match="does not exist"):
        find_model(str(tmp_path / "nope.fbk"), tmp_path)


def test_parser_and_loopback_rule():
    args = build_parser().parse_args(["explore", "runs/x", "--port", "9000", "--open"])
    assert (args.model, args.host, args.port, args.open) == ("runs/x", "127.0.0.1", 9000, True)
    assert build_parser().parse_args(["explore"]).model is None
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.5", "example.org"))


def test_explore_command_serves_and_warns_on_a_public_address(run_dir, monkeypatch, capsys):
    import uvicorn

    served = {}

    def fake_run(self):
        served["host"], served["port"] = self.config.host, self.config.port
        raise KeyboardInterrupt  # Ctrl-C: the command stops cleanly

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    from filterbank.explore.server import free_port

    port = free_port()
    assert main(["explore", str(run_dir), "--host", "0.0.0.0", "--port", str(port)]) == 0
    out, err = capsys.readouterr()
    assert served == {"host": "0.0.0.0", "port": port}
    assert f"at http://127.0.0.1:{port}/" in out and "Stopped." in err
    assert "warning: serving on 0.0.0.0" in err
    assert main(["explore", str(run_dir), "--port", str(port)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_explore_command_errors_are_one_line(tmp_path, monkeypatch, capsys, run_dir):
    monkeypatch.chdir(tmp_path)
    assert main(["explore"]) == 2
    assert "no trained model to explore" in capsys.readouterr().err
    import socket

    from filterbank.explore.server import free_port

    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        assert main(["explore", str(run_dir), "--port", str(port)]) == 2
    assert "choose another --port" in capsys.readouterr().err


def test_explore_command_checks_its_packages_first(monkeypatch, capsys, run_dir):
    import importlib.util

    real_find = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "uvicorn" else real_find(name, *a),
    )
    assert main(["explore", str(run_dir)]) == 2
    assert "needs uvicorn: pip install filterbank[explore]" in capsys.readouterr().err


# ---- input rules ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape, box", [((40, 90), (10, 60)), ((300, 120), (200, 30)), ((28, 28), (3, 3))]
)
def test_mnist_frame_fits_the_box_and_centres_the_mass(shape, box):
    img = np.zeros(shape, np.float32)
    r, c = (shape[0] - box[0]) // 3, (shape[1] - box[1]) // 5
    img[r : r + box[0], c : c + box[1]] = 1.0
    out = mnist_frame(img, 28)
    rows, cols = np.nonzero(out > 0.05)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 <= 21
    cy, cx = center_of_mass(out)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    assert mnist_frame(np.zeros((50, 50)), 28).max() == 0  # nothing drawn: nothing sent


def test_check_pixels_rules():
    assert check_pixels(np.full((3, 2, 3), 0.5).tolist(), (3, 2, 3)).shape == (3, 2, 3)
    with pytest.raises(BadInput, match=r"shape \(3, 2, 3\) .* got \(3, 2\)"):
        check_pixels([[0, 0]] * 3, (3, 2, 3))
    with pytest.raises(BadInput, match="first at row 1, column 0"):
        check_pixels([[0, 0], [float("inf"), 0]], (2, 2, 1))
    with pytest.raises(BadInput, match="divide 0..255 values by 255"):
        check_pixels([[0, 255], [0, 0]], (2, 2, 1))


def _png(array, mode):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, "PNG")
    return buf.getvalue()


def test_decode_image_flattens_transparency_converts_and_resizes():
    rgba = np.zeros((10, 20, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent: white paper
    rgba[3:7, 5:15] = (0, 0, 0, 255)  # a black bar drawn on it
    x, notes = decode_image(_png(rgba, "RGBA"), (5, 10, 1), light_on_dark=True, frame=False)
    assert x.shape == (5, 10, 1) and x[0, 0, 0] == 0 and x[2, 5, 0] > 0.9
    assert any("inverted" in n for n in notes) and any("resized from 20x10" in n for n in notes)
    colour, _ = decode_image(_png(rgba, "RGBA"), (4, 4, 3), light_on_dark=None, frame=True)
    assert colour.shape == (4, 4, 3)
    with pytest.raises(BadInput, match="not an image") as err:
        decode_image(b"GIF89a but not really", (28, 28, 1), light_on_dark=True, frame=True)
    assert err.value.status == 415
