"""mnist.load_data: bundled subset, cache, download (local server only) and the offline fallback."""

from __future__ import annotations

import hashlib
import io
import warnings

import numpy as np
import pytest

from filterbank.datasets import _download, mnist

PER_DIGIT_TRAIN = [801, 902, 793, 826, 784, 690, 811, 856, 755, 782]
PER_DIGIT_TEST = [200, 225, 198, 206, 196, 173, 203, 214, 189, 196]


def _fake_mnist_npz(n_train=6, n_test=4, seed=0) -> tuple[bytes, dict]:
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue(), arrays


def _assert_same(result, arrays):
    (x_train, y_train), (x_test, y_test) = result
    for got, key in (
        (x_train, "x_train"),
        (y_train, "y_train"),
        (x_test, "x_test"),
        (y_test, "y_test"),
    ):
        np.testing.assert_array_equal(got, arrays[key])
        assert got.dtype == np.uint8


# --- the bundled subset -------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled():
    return mnist.load_data(source="bundled")


def test_bundled_shapes_and_dtypes_match_keras(bundled):
    (x_train, y_train), (x_test, y_test) = bundled
    assert x_train.shape == (8000, 28, 28) and x_test.shape == (2000, 28, 28)
    assert y_train.shape == (8000,) and y_test.shape == (2000,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8


def test_bundled_per_digit_split_is_80_20(bundled):
    (_, y_train), (_, y_test) = bundled
    assert np.bincount(y_train, minlength=10).tolist() == PER_DIGIT_TRAIN
    assert np.bincount(y_test, minlength=10).tolist() == PER_DIGIT_TEST
    totals = np.add(PER_DIGIT_TRAIN, PER_DIGIT_TEST)
    assert totals.tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    assert np.all(np.asarray(PER_DIGIT_TRAIN) == (8 * totals + 5) // 10)


def test_bundled_images_look_like_mnist(bundled):
    (x_train, y_train), (x_test, _) = bundled
    assert x_train.min() == 0 and x_train.max() == 255
    # MNIST digits sit in the central 20x20 box; the border is (almost) always black.
    assert x_train[:, :2, :].mean() < 0.5 and x_train[:, 10:18, 10:18].mean() > 50
    # Shuffled: labels are not sorted, and no image is in both splits.
    assert np.any(np.diff(y_train.astype(int)) < 0)
    train_keys = {img.tobytes() for img in x_train}
    assert not any(img.tobytes() in train_keys for img in x_test)


def test_bundled_images_are_10000_distinct_digits(bundled):
    (x_train, _), (x_test, _) = bundled
    keys = {img.tobytes() for img in np.concatenate([x_train, x_test])}
    assert len(keys) == 10000


def test_bundled_file_is_small():
    assert mnist.BUNDLED_PATH.is_file()
    assert 1_000_000 < mnist.BUNDLED_PATH.stat().st_size < 2_000_000


def test_load_returns_fresh_writable_arrays():
    (x1, _), _ = mnist.load_data(source="bundled")
    original = int(x1[0, 14, 14])
    x1[0, 14, 14] = (original + 1) % 256
    (x2, _), _ = mnist.load_data(source="bundled")
    assert int(x2[0, 14, 14]) == original


# --- auto: fallback to the bundled subset ---------------------------------------------------


def test_auto_offline_falls_back_with_one_line_warning(bundled):
    with pytest.warns(mnist.BundledDataWarning) as record:
        result = mnist.load_data()
    assert len(record) == 1
    message = str(record[0].message)
    assert "\n" not in message
    assert "bundled 8,000/2,000 real-digit subset" in message
    assert "FILTERBANK_OFFLINE" in message
    assert "source='download'" in message
    for got, want in zip(result, bundled):
        np.testing.assert_array_equal(got[0], want[0])


def test_auto_falls_back_when_server_is_down(monkeypatch, home):
    monkeypatch.delenv("FILTERBANK_OFFLINE")  # origin is a closed local port
    with pytest.warns(mnist.BundledDataWarning, match="download failed"):
        (x_train, _), _ = mnist.load_data()
    assert x_train.shape == (8000, 28, 28)
    assert not (home / "datasets" / "mnist.npz").exists()


def test_auto_falls_back_when_server_hangs(stalled_url, monkeypatch):
    monkeypatch.setattr(_download, "TIMEOUT", 0.3)
    monkeypatch.setenv("FILTERBANK_DATASETS_ORIGIN", stalled_url)
    with pytest.warns(mnist.BundledDataWarning, match="timed out"):
        (x_train, _), _ = mnist.load_data()
    assert len(x_train) == 8000


def test_auto_falls_back_on_bad_checksum(serve, home):
    data, _ = _fake_mnist_npz()
    serve({"mnist.npz": data})  # the real SHA-256 cannot match this fake file
    with pytest.warns(mnist.BundledDataWarning, match="SHA-256"):
        (x_train, _), _ = mnist.load_data()
    assert len(x_train) == 8000
    assert not (home / "datasets" / "mnist.npz").exists()


# --- download and cache (local server) ------------------------------------------------------


def test_download_checks_hash_and_caches_atomically(serve, monkeypatch, home):
    data, arrays = _fake_mnist_npz()
    monkeypatch.setattr(mnist, "SHA256", hashlib.sha256(data).hexdigest())
    server = serve({"mnist.npz": data})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_same(mnist.load_data(source="download"), arrays)
    cached = home / "datasets" / "mnist.npz"
    assert cached.read_bytes() == data
    assert sorted(p.name for p in cached.parent.iterdir()) == ["mnist.npz"]
    assert server.requests == ["/mnist.npz"]
    # auto now reads the cache: no request, no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_same(mnist.load_data(), arrays)
        _assert_same(mnist.load_data(source="cache"), arrays)
    assert server.requests == ["/mnist.npz"]


def test_auto_downloads_when_not_cached(serve, monkeypatch, home):
    data, arrays = _fake_mnist_npz(seed=3)
    monkeypatch.setattr(mnist, "SHA256", hashlib.sha256(data).hexdigest())
    serve({"mnist.npz": data})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_same(mnist.load_data(), arrays)
    assert (home / "datasets" / "mnist.npz").is_file()


def test_download_wrong_hash_is_a_clear_error(serve, home):
    data, _ = _fake_mnist_npz()
    serve({"mnist.npz": data})
    with pytest.raises(_download.ChecksumError, match="SHA-256 .* expected 731c5ac6"):
        mnist.load_data(source="download")
    assert not (home / "datasets" / "mnist.npz").exists()
    assert not any((home / "datasets").iterdir())


def test_download_offline_is_an_error():
    with pytest.raises(_download.DownloadError, match="FILTERBANK_OFFLINE"):
        mnist.load_data(source="download")


def test_default_url_is_keras(monkeypatch):
    monkeypatch.delenv("FILTERBANK_DATASETS_ORIGIN")
    assert mnist.url() == "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


def test_cache_source_missing_says_how_to_get_it(home):
    with pytest.raises(FileNotFoundError, match=r"found no .*mnist\.npz.*source='download'"):
        mnist.load_data(source="cache")


def test_path_argument_relative_and_absolute(home, tmp_path):
    data, arrays = _fake_mnist_npz(seed=5)
    (home / "datasets").mkdir(parents=True)
    (home / "datasets" / "other.npz").write_bytes(data)
    _assert_same(mnist.load_data(path="other.npz", source="cache"), arrays)
    absolute = tmp_path / "elsewhere.npz"
    absolute.write_bytes(data)
    _assert_same(mnist.load_data(path=str(absolute)), arrays)


def test_unknown_source_did_you_mean():
    with pytest.raises(ValueError, match=r"Unknown mnist source 'bundle'. Did you mean 'bundled'"):
        mnist.load_data(source="bundle")


def test_corrupt_cache_files_give_clear_errors(home):
    folder = home / "datasets"
    folder.mkdir(parents=True)
    np.savez(folder / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"lacks arrays \['y_train', 'x_test', 'y_test'\]"):
        mnist.load_data(source="cache")
    np.savez(
        folder / "mnist.npz",
        x_train=np.zeros((2, 28, 28), np.float32),
        y_train=np.zeros(2, np.uint8),
        x_test=np.zeros((1, 28, 28), np.uint8),
        y_test=np.zeros(1, np.uint8),
    )
    with pytest.raises(ValueError, match=r"x_train expects uint8 \(n, 28, 28\), got float32"):
        mnist.load_data(source="cache")
    np.savez(
        folder / "mnist.npz",
        x_train=np.zeros((2, 28, 28), np.uint8),
        y_train=np.zeros(3, np.uint8),
        x_test=np.zeros((1, 28, 28), np.uint8),
        y_test=np.zeros(1, np.uint8),
    )
    with pytest.raises(ValueError, match=r"y_train expects uint8 \(2,\), got uint8 \(3,\)"):
        mnist.load_data(source="cache")


def test_garbage_cache_file_is_a_clear_error(home):
    folder = home / "datasets"
    folder.mkdir(parents=True)
    (folder / "mnist.npz").write_bytes(b"<html>captive portal</html>")
    with pytest.raises(ValueError, match=r"not a readable \.npz archive.*source='download'"):
        mnist.load_data()


def test_pickled_object_arrays_are_refused(home):
    folder = home / "datasets"
    folder.mkdir(parents=True)
    np.savez(
        folder / "mnist.npz",
        x_train=np.array([{"evil": 1}], dtype=object),
        y_train=np.zeros(1, np.uint8),
        x_test=np.zeros((1, 28, 28), np.uint8),
        y_test=np.zeros(1, np.uint8),
    )
    with pytest.raises(ValueError, match="allow_pickle"):
        mnist.load_data(source="cache")
