"""#17.5, 17.8, 17.9 (command line): no lost runs, one-line errors, consistent run folders."""

import errno
import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from filterbank.cli import main
from tests.cli_helpers import cli_env

Image = pytest.importorskip("PIL.Image")

XO = ["train", "--data", "xo", "--model", "xo", "--verbose", "2", "--seed", "3"]


def run_files(out: Path) -> set:
    return {p.name for p in out.iterdir()} if out.exists() else set()


class Ran:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """``filterbank ARGS`` in this process (no interpreter start-up): returns a Ran."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FILTERBANK_HOME", str(tmp_path / "fbhome"))
    monkeypatch.setenv("FILTERBANK_OFFLINE", "1")
    monkeypatch.delenv("FILTERBANK_DEBUG", raising=False)

    def run(args, check=True):
        capsys.readouterr()
        status = main([str(a) for a in args])
        got = capsys.readouterr()
        if check:
            assert status == 0, got.err
        return Ran(status, got.out, got.err)

    return run


def one_error_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("filterbank: error: ")]
    assert proc.returncode == 2, proc.stderr
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


def weights(path):
    from filterbank.saving import load_model

    return load_model(path).get_weights()


# ---- Ctrl-C and resume --------------------------------------------------------------------
def test_ctrl_c_saves_and_the_rerun_resumes_bit_identically(tmp_path, cli):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "filterbank.cli", *XO, "--epochs", "5", "--out", str(out)]
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=cli_env(tmp_path / "fbhome"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    epochs_seen = 0
    for line in proc.stdout:
        if line.startswith("Epoch "):
            epochs_seen += 1
            if epochs_seen == 3:  # epochs 1 and 2 are done (and backed up)
                proc.send_signal(signal.SIGINT)
                break
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "Interrupted after 2 of 5 epoch(s)" in err and "resume from epoch 3" in err
    assert {"model.fbk", "interrupted.json", "backup"} <= run_files(out)
    assert "metrics.json" not in run_files(out)

    resumed = cli([*XO, "--epochs", "5", "--out", out])
    assert "Resuming the unfinished run" in resumed.stdout
    assert "Epoch 1/5" not in resumed.stdout and "Epoch 3/5" in resumed.stdout
    assert run_files(out) == {"model.fbk", "metrics.json", "curves.png"}

    straight = tmp_path / "straight"
    cli([*XO, "--epochs", "5", "--out", straight])
    for a, b in zip(weights(out / "model.fbk"), weights(straight / "model.fbk")):
        np.testing.assert_array_equal(a, b)
    import json

    hist = json.loads((out / "metrics.json").read_text())["history"]
    assert hist == json.loads((straight / "metrics.json").read_text())["history"]


def test_full_disk_while_saving_keeps_the_backup_and_a_rerun_saves(tmp_path, monkeypatch, capsys):
    from filterbank.saving import atomic

    real = atomic.atomic_write
    out = tmp_path / "run"

    def full(path, fill):
        if path.endswith("model.fbk"):
            raise atomic._save_error(path, OSError(errno.ENOSPC, "No space left on device"))
        return real(path, fill)

    monkeypatch.setattr(atomic, "atomic_write", full)
    import filterbank.saving.archive as archive

    monkeypatch.setattr(archive, "atomic_write", full)
    monkeypatch.chdir(tmp_path)
    status = main([*XO, "--epochs", "2", "--verbose", "0", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    line = [x for x in err.splitlines() if x.startswith("filterbank: error:")]
    assert len(line) == 1 and "No space left on device" in line[0] and ".tmp" not in line[0]
    assert "re-run the same command to save it without training again" in line[0]
    # the backup, and the live history.json that `filterbank explore` draws; no half-written model
    assert run_files(out) == {"backup", "history.json"}
    monkeypatch.setattr(archive, "atomic_write", real)
    monkeypatch.setattr(atomic, "atomic_write", real)
    assert main([*XO, "--epochs", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Epoch 1/2" not in printed and "Epoch 2/2" not in printed
    assert run_files(out) == {"model.fbk", "metrics.json", "curves.png"}


# ---- image folders -------------------------------------------------------------------------
def image_folder(root: Path, n=6) -> Path:
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            pixels = (rng.random((8, 8)) * 255).astype("uint8")
            Image.fromarray(pixels, "L").save(root / cls / f"{i}.png")
    return root


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height 8-bit grey pixels and holds a tiny broken IDAT."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


TRAIN_FOLDER = [
    "train",
    "--model",
    "xo",
    "--image-size",
    "9",
    "--epochs",
    "1",
    "--verbose",
    "0",
    "--test-split",
    "0.25",
]


def test_fifo_in_a_data_folder_is_skipped_with_a_warning(tmp_path, cli):
    data = image_folder(tmp_path / "data")
    os.mkfifo(data / "a" / "fifo.png")
    proc = cli([*TRAIN_FOLDER, "--data", data, "--out", tmp_path / "run"])
    assert "filterbank: warning: skipped 1 file(s) that are not regular files" in proc.stderr
    assert "fifo.png" in proc.stderr
    assert {"model.fbk", "metrics.json"} <= run_files(tmp_path / "run")


@pytest.mark.parametrize(
    "bad,match",
    [
        (b"", "it is empty (0 bytes)"),
        (b"\x89PNG\r\n\x1a\n not really a png", "The file is damaged or not an image"),
        (png_header_only(30000, 30000), "declares 30000 x 30000 = 900,000,000 pixels"),
    ],
)
def test_bad_images_in_a_data_folder_are_one_line_errors(tmp_path, cli, bad, match):
    data = image_folder(tmp_path / "data")
    (data / "b" / "bad.png").write_bytes(bad)
    out = tmp_path / "run"
    proc = cli([*TRAIN_FOLDER, "--data", data, "--out", out], check=False)
    line = one_error_line(proc)
    assert "bad.png" in line and match in line
    assert not (run_files(out) & {"model.fbk", "metrics.json", "curves.png"})


def test_decompression_bomb_and_folder_in_predict(tmp_path, cli):
    data = image_folder(tmp_path / "data")
    cli([*TRAIN_FOLDER, "--data", data, "--out", tmp_path / "run"])
    model = tmp_path / "run" / "model.fbk"
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(30000, 30000))
    line = one_error_line(cli(["predict", model, bomb], check=False))
    assert "bomb.png" in line and "900,000,000 pixels" in line
    line = one_error_line(cli(["predict", model, data], check=False))
    assert "is a folder; expected an image file" in line


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_huge_image_size_is_a_one_line_error(tmp_path):
    data = image_folder(tmp_path / "data")
    code = (
        "import resource, sys\n"
        "from filterbank.cli import main\n"
        "used = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "resource.setrlimit(resource.RLIMIT_AS, (used + 400 * 2**20,) * 2)\n"
        f"sys.exit(main(['train', '--data', {str(data)!r}, '--image-size', '3000', '--epochs',"
        f" '1', '--test-split', '0.25', '--out', {str(tmp_path / 'run')!r}]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=cli_env(tmp_path / "fbhome"),
        timeout=120,
    )
    line = one_error_line(proc)
    assert "3000x3000" in line and "smaller --image-size" in line


def test_non_utf8_out_path_completes_the_run(tmp_path, cli):
    out = os.fsencode(tmp_path) + b"/run-\xff\xfe"
    proc = cli([*XO, "--epochs", "1", "--verbose", "0", "--out", os.fsdecode(out)])
    assert "Wrote" in proc.stdout
    names = set(os.listdir(out))
    assert {b"model.fbk", b"metrics.json"} <= {os.fsencode(n) for n in names}
    # a model path with such bytes (the plot's title names it): the run completes, plot included
    out2 = os.fsencode(tmp_path) + b"/again-\xfe"
    proc = cli(
        [
            *XO,
            "--epochs",
            "1",
            "--verbose",
            "0",
            "--model",
            os.fsdecode(out + b"/model.fbk"),
            "--out",
            os.fsdecode(out2),
        ]
    )
    assert "warning" not in proc.stderr, proc.stderr
    assert set(os.listdir(out2)) == {b"model.fbk", b"metrics.json", b"curves.png"}


# ---- misleading messages, broken outputs, dependencies -------------------------------------
def test_summary_of_a_device(tmp_path, cli):
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null")
    line = one_error_line(cli(["summary", "/dev/null"], check=False))
    assert "is not a regular file" in line and "does not exist" not in line


def test_predict_refuses_to_print_nan_percentages(tmp_path, cli):
    import filterbank as keras
    from filterbank import layers

    model = keras.Sequential(
        [keras.Input(shape=(8, 8, 1)), layers.Flatten(), layers.Dense(2, activation="softmax")]
    )
    model.set_weights([np.full((64, 2), 3e38, "float32"), np.zeros(2, "float32")])
    model.save(tmp_path / "m.fbk")
    img = tmp_path / "x.png"
    Image.fromarray(np.full((8, 8), 200, "uint8"), "L").save(img)
    proc = cli(["predict", tmp_path / "m.fbk", img], check=False)
    line = one_error_line(proc)
    assert "NaN or infinite" in line and "nan%" not in proc.stdout


def test_missing_pillow_is_reported_before_any_work(tmp_path, monkeypatch, capsys):
    from filterbank.cli import needs

    data = image_folder(tmp_path / "data")
    real = needs.missing_packages
    monkeypatch.setattr(
        needs, "missing_packages", lambda mods: [m for m in mods if m == "PIL"] or real(mods)
    )
    assert main([*TRAIN_FOLDER, "--data", str(data), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "train needs pillow, which is not installed; nothing was done" in err
    assert not (tmp_path / "run").exists()


def test_missing_matplotlib_skips_the_plot_with_a_note(tmp_path, monkeypatch, capsys):
    from filterbank.cli import needs, report

    real = needs.missing_packages
    monkeypatch.setattr(
        needs, "missing_packages", lambda mods: [m for m in mods if m == "matplotlib"] or real(mods)
    )
    monkeypatch.setattr(report, "plot_curves", lambda *a: False)
    monkeypatch.chdir(tmp_path)
    assert main([*XO, "--epochs", "1", "--verbose", "0", "--out", str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    assert "matplotlib is not installed, so this run will not draw curves.png" in captured.err
    assert run_files(tmp_path / "run") == {"model.fbk", "metrics.json"}
