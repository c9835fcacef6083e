"""fashion_mnist.load_data and the IDX reader; the real data only when the Debian package is
installed, otherwise small IDX fixtures (served locally for the download path)."""

from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest

from filterbank.datasets import _download, fashion_mnist
from filterbank.datasets._idx import parse_idx, read_idx


def _idx(array: np.ndarray) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.tobytes()


def _fixture_files(n_train=5, n_test=3, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    blobs = {name: gzip.compress(_idx(a), mtime=0) for name, a in arrays.items()}
    return blobs, arrays


def _check(result, arrays):
    (x_train, y_train), (x_test, y_test) = result
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte.gz"])
    np.testing.assert_array_equal(x_test, arrays["t10k-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"])


@pytest.fixture
def no_system_package(monkeypatch, tmp_path):
    """Pretend the Debian package is not installed."""
    monkeypatch.setattr(fashion_mnist, "DPKG_LIST", tmp_path / "none.list")
    monkeypatch.setattr(fashion_mnist, "SYSTEM_GLOBS", (str(tmp_path / "nothing*"),))


# --- IDX ------------------------------------------------------------------------------------


def test_parse_idx_round_trip_and_writable():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = parse_idx(_idx(images), expected_ndim=3)
    np.testing.assert_array_equal(out, images)
    out[0, 0, 0] = 9  # a writable copy, unlike np.frombuffer over bytes


def test_parse_idx_bad_magic():
    raw = bytearray(_idx(np.zeros(3)))
    raw[2] = 0x0D  # float32 type code
    with pytest.raises(ValueError, match=r"magic number 0x00000d01, expected 0x00000801"):
        parse_idx(bytes(raw), name="labels.idx")
    with pytest.raises(ValueError, match="too short"):
        parse_idx(b"\x00\x00", name="x")


def test_parse_idx_wrong_dimensions_names_the_swap():
    with pytest.raises(ValueError, match=r"expects an IDX file with 3 dimension.*swapped"):
        parse_idx(_idx(np.zeros(5)), expected_ndim=3, name="images")


def test_parse_idx_truncated():
    raw = _idx(np.zeros((2, 28, 28)))
    with pytest.raises(
        ValueError, match=r"shape \(2, 28, 28\) \(1,568 bytes.*got 1,567.*truncated"
    ):
        parse_idx(raw[:-1], name="images")
    with pytest.raises(ValueError, match="announces 3 dimensions"):
        parse_idx(raw[:9], name="images")


def test_read_idx_gzipped_plain_and_damaged(tmp_path):
    labels = np.array([3, 1, 4], np.uint8)
    (tmp_path / "a.gz").write_bytes(gzip.compress(_idx(labels)))
    (tmp_path / "a").write_bytes(_idx(labels))
    (tmp_path / "bad.gz").write_bytes(gzip.compress(_idx(labels))[:-6])
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz", 1), labels)
    np.testing.assert_array_equal(read_idx(tmp_path / "a", 1), labels)
    with pytest.raises(ValueError, match="damaged gzip"):
        read_idx(tmp_path / "bad.gz", 1)


# --- the Debian package (real data) -------------------------------------------------------------


@pytest.fixture(scope="module")
def real():
    if fashion_mnist.system_files() is None:
        pytest.skip(
            "Debian package dataset-fashion-mnist not installed "
            "(apt-get install dataset-fashion-mnist)"
        )
    return fashion_mnist.load_data(source="system")


def test_system_package_gives_the_full_dataset(real):
    (x_train, y_train), (x_test, y_test) = real
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    # Known first labels of the official files: Ankle boot, T-shirt, T-shirt, Dress, ...
    assert y_train[:6].tolist() == [9, 0, 0, 3, 0, 2]
    assert y_test[:5].tolist() == [9, 2, 1, 1, 6]
    assert x_train.max() == 255 and x_train.min() == 0


def test_auto_uses_the_system_package_when_nothing_is_cached(real, monkeypatch):
    system = fashion_mnist.system_files()
    monkeypatch.setattr(fashion_mnist, "read_files", lambda files: files)  # skip parsing
    assert fashion_mnist.load_data() == system


def test_system_files_found_through_dpkg_list(tmp_path, monkeypatch):
    blobs, arrays = _fixture_files()
    folder = tmp_path / "odd" / "place"
    folder.mkdir(parents=True)
    for name, blob in blobs.items():
        (folder / name).write_bytes(blob)
    listing = tmp_path / "dataset-fashion-mnist.list"
    listing.write_text("/.\n/usr\n" + "".join(f"{folder / n}\n" for n in blobs))
    monkeypatch.setattr(fashion_mnist, "DPKG_LIST", listing)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_GLOBS", ())
    _check(fashion_mnist.load_data(source="system"), arrays)


def test_system_glob_ignores_folders_not_named_fashion(tmp_path, monkeypatch):
    blobs, arrays = _fixture_files()
    for sub in ("mnist", "fashion-mnist"):
        (tmp_path / sub).mkdir()
        for name, blob in blobs.items():
            (tmp_path / sub / name).write_bytes(blob)
    monkeypatch.setattr(fashion_mnist, "DPKG_LIST", tmp_path / "absent.list")
    monkeypatch.setattr(fashion_mnist, "SYSTEM_GLOBS", (str(tmp_path / "*fashion*"),))
    assert fashion_mnist.system_files()["train-images-idx3-ubyte.gz"].parent.name == "fashion-mnist"


# --- cache, download, errors (fixtures) ---------------------------------------------------------


def test_cache_comes_first(home):
    blobs, arrays = _fixture_files(seed=1)
    folder = home / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    for name, blob in blobs.items():
        (folder / name).write_bytes(blob)
    _check(fashion_mnist.load_data(), arrays)
    _check(fashion_mnist.load_data(source="cache"), arrays)


def test_download_checks_hashes_and_caches(serve, monkeypatch, home, no_system_package):
    blobs, arrays = _fixture_files(seed=2)
    monkeypatch.setattr(
        fashion_mnist, "FILES", {n: hashlib.sha256(b).hexdigest() for n, b in blobs.items()}
    )
    server = serve(blobs)
    _check(fashion_mnist.load_data(), arrays)  # auto: cache empty, no package -> download
    folder = home / "datasets" / "fashion-mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(blobs)
    assert len(server.requests) == 4
    _check(fashion_mnist.load_data(), arrays)  # now from the cache
    assert len(server.requests) == 4
    _check(fashion_mnist.load_data(source="download"), arrays)  # explicit: fetch again
    assert len(server.requests) == 8


def test_download_wrong_hash_leaves_no_file(serve, monkeypatch, home, no_system_package):
    blobs, _ = _fixture_files(seed=2)
    hashes = {n: hashlib.sha256(b).hexdigest() for n, b in blobs.items()}
    hashes["t10k-images-idx3-ubyte.gz"] = "f" * 64
    monkeypatch.setattr(fashion_mnist, "FILES", hashes)
    serve(blobs)
    with pytest.raises(_download.ChecksumError, match="t10k-images.*SHA-256"):
        fashion_mnist.load_data(source="download")
    names = sorted(p.name for p in (home / "datasets" / "fashion-mnist").iterdir())
    assert "t10k-images-idx3-ubyte.gz" not in names
    assert not any(name.endswith(".part") for name in names)


def test_nothing_found_names_all_three_sources(no_system_package):
    with pytest.raises(FileNotFoundError) as info:
        fashion_mnist.load_data()
    message = str(info.value)
    assert "(1) cache" in message and "fashion-mnist" in message
    assert "(2) system" in message and "apt-get install dataset-fashion-mnist" in message
    assert "(3) download" in message and "FILTERBANK_OFFLINE" in message


def test_nothing_found_when_server_is_down(no_system_package, monkeypatch):
    monkeypatch.delenv("FILTERBANK_OFFLINE")
    with pytest.raises(FileNotFoundError, match=r"\(3\) download from .*failed"):
        fashion_mnist.load_data()


def test_explicit_sources_fail_clearly(no_system_package):
    with pytest.raises(FileNotFoundError, match="source='cache'.*found no"):
        fashion_mnist.load_data(source="cache")
    with pytest.raises(FileNotFoundError, match="not installed.*apt-get install"):
        fashion_mnist.load_data(source="system")
    with pytest.raises(_download.DownloadError, match="FILTERBANK_OFFLINE"):
        fashion_mnist.load_data(source="download")
    with pytest.raises(ValueError, match="Did you mean 'system'"):
        fashion_mnist.load_data(source="sytem")


def test_mismatched_files_are_rejected(home):
    blobs, _ = _fixture_files(n_train=5, n_test=3)
    folder = home / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    for name, blob in blobs.items():
        (folder / name).write_bytes(blob)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(np.zeros(4))))
    with pytest.raises(ValueError, match="5 images but .* 4 labels"):
        fashion_mnist.load_data(source="cache")
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(np.full(5, 10))))
    with pytest.raises(ValueError, match="label 10"):
        fashion_mnist.load_data(source="cache")


def test_class_names():
    assert len(fashion_mnist.CLASS_NAMES) == 10
    assert fashion_mnist.CLASS_NAMES[0] == "T-shirt/top"
    assert fashion_mnist.CLASS_NAMES[9] == "Ankle boot"
