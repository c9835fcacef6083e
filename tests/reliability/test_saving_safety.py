"""#17.2, 17.6, 17.8 (library side): what saving refuses, what it cleans, and how it words it."""

import errno
import fcntl
import os
import stat
import subprocess
import sys
import time

import pytest

import filterbank as keras
from filterbank import layers
from filterbank.saving import ModelFileError, atomic, load_model
from filterbank.saving.errors import SaveError


def small_model():
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_save_refuses_a_fifo_and_leaves_it(tmp_path):
    target = tmp_path / "n"
    os.mkfifo(target)
    for save in (small_model().save, small_model().save_weights):
        with pytest.raises(
            SaveError,
            match=r"Cannot save to '.*n': it is a FIFO \(named pipe\), "
            r"not a regular file, and saving would replace it",
        ):
            save(str(target))
    assert stat.S_ISFIFO(os.lstat(target).st_mode)
    with pytest.raises(SaveError, match="FIFO"):
        small_model().save_weights(str(tmp_path / "n"))
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_save_refuses_a_device_node(tmp_path):
    target = tmp_path / "null"
    try:
        os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot create a device node here ({e})")
    with pytest.raises(SaveError, match="it is a character device"):
        small_model().save(str(target))
    assert stat.S_ISCHR(os.lstat(target).st_mode)


def test_save_refuses_a_symlink_and_keeps_its_target(tmp_path):
    real = tmp_path / "real.fbk"
    small_model().save(real)
    before = real.read_bytes()
    link = tmp_path / "link.fbk"
    link.symlink_to(real)
    with pytest.raises(SaveError, match="it is a symbolic link.*Save to the real file's path"):
        small_model().save(str(link))
    assert link.is_symlink() and real.read_bytes() == before


def test_stale_temp_files_are_cleaned_but_live_ones_kept(tmp_path, monkeypatch):
    stale = tmp_path / ".model.fbk.0123456789ab.tmp"
    live = tmp_path / ".model.fbk.ba9876543210.tmp"
    other = tmp_path / ".notes.tmp"  # not our naming: never touched
    for p in (stale, live, other):
        p.write_bytes(b"x" * 100)
        os.utime(p, (time.time() - 3600, time.time() - 3600))
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a save in progress holds its temporary file
    try:
        small_model().save(tmp_path / "model.fbk")
    finally:
        os.close(fd)
    assert not stale.exists()
    assert live.exists() and other.exists()


def test_temp_file_of_a_killed_save_is_cleaned_by_the_next(tmp_path, monkeypatch):
    script = (
        "import sys, numpy as np, filterbank as keras\n"
        "from filterbank import layers\n"
        "m = keras.Sequential([keras.Input(shape=(2048,)), layers.Dense(2048)])\n"
        "print('ready', flush=True)\n"
        "while True: m.save(sys.argv[1])\n"
    )
    target = tmp_path / "big.fbk"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE, env=os.environ.copy()
    )
    try:
        assert proc.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            n.endswith(".tmp") for n in os.listdir(tmp_path)
        ):
            time.sleep(0.005)
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    left = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    if not left:
        pytest.skip("the kill did not land inside a save")
    monkeypatch.setattr(atomic, "STALE_SECONDS", 0)
    small_model().save(tmp_path / "other.fbk")
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_full_disk_names_the_target_not_the_temp_file(tmp_path):
    def fill(fp):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".x.abc.tmp"))

    target = tmp_path / "model.fbk"
    target.write_bytes(b"old")
    with pytest.raises(SaveError) as info:
        atomic.atomic_write(str(target), fill)
    msg = str(info.value)
    assert msg.startswith(f"Cannot save to {str(target)!r}: No space left on device")
    assert ".tmp" not in msg and "unchanged" in msg and info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.fbk"]


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders"
)
def test_read_only_folder_names_the_target(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(SaveError, match=r"Cannot save to '.*model.fbk': Permission denied"):
            small_model().save(folder / "model.fbk")
    finally:
        folder.chmod(0o700)


def test_save_refusals_are_worded_as_save_errors(tmp_path):
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2, name="d" * 300)])
    with pytest.raises(ValueError) as info:
        model.save(tmp_path / "m.fbk")
    msg = str(info.value)
    assert msg.startswith("Cannot save model") and "Cannot load" not in msg
    assert "damaged" not in msg and not (tmp_path / "m.fbk").exists()


def test_float16_layers_are_refused_by_save_with_a_reason(tmp_path):
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2, dtype="float16")])
    with pytest.raises(
        ValueError,
        match=r"layer 'dense.*' keeps its weights in float16.*"
        r"dtype='float32'",
    ):
        model.save(tmp_path / "m.fbk")


@pytest.mark.parametrize("name", ["w.weights.h5", "model.fbk", "m.keras"])
def test_hdf5_files_are_named_as_such(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(2000))
    with pytest.raises(
        ModelFileError,
        match=r"it is an HDF5 file \(a Keras .h5 or .weights.h5 "
        r"file\).*model.load_weights",
    ):
        load_model(path)
    # load_weights reads Keras 3 .weights.h5 files (h5py): a damaged one is a ModelFileError
    pytest.importorskip("h5py")
    with pytest.raises(ModelFileError):
        small_model().load_weights(path)
