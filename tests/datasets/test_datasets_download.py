"""The checked, atomic download helper, against a local HTTP server only."""

from __future__ import annotations

import hashlib
import sys

import pytest

from filterbank.datasets import _download


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_cache_dir_follows_filterbank_home(home, monkeypatch):
    assert _download.cache_dir() == home / "datasets"
    monkeypatch.delenv("FILTERBANK_HOME")
    assert _download.cache_dir().parent.name == ".filterbank"


@pytest.mark.parametrize(
    "value, offline", [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)]
)
def test_offline_switch(monkeypatch, value, offline):
    monkeypatch.setenv("FILTERBANK_OFFLINE", value)
    assert _download.is_offline() is offline


def test_origin_gets_a_trailing_slash(monkeypatch):
    monkeypatch.setenv("FILTERBANK_DATASETS_ORIGIN", "http://mirror.example/data")
    assert _download.origin() == "http://mirror.example/data/"
    monkeypatch.delenv("FILTERBANK_DATASETS_ORIGIN")
    assert _download.origin() == _download.KERAS_ORIGIN


def test_good_file_is_kept_and_nothing_else(serve, tmp_path):
    payload = bytes(range(256)) * 1000
    server = serve({"blob.bin": payload})
    dest = tmp_path / "cache" / "blob.bin"
    out = _download.download(server.url + "blob.bin", dest, _sha(payload))
    assert out == dest
    assert dest.read_bytes() == payload
    assert sorted(p.name for p in dest.parent.iterdir()) == ["blob.bin"]


def test_works_without_tqdm(serve, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    payload = b"x" * 5000
    server = serve({"f": payload})
    dest = _download.download(server.url + "f", tmp_path / "f", _sha(payload))
    assert dest.read_bytes() == payload


def test_wrong_hash_raises_and_leaves_nothing(serve, tmp_path):
    server = serve({"blob.bin": b"not what you expected"})
    dest = tmp_path / "cache" / "blob.bin"
    with pytest.raises(_download.ChecksumError, match=r"SHA-256 .* expected 0{64}.*discarded"):
        _download.download(server.url + "blob.bin", dest, "0" * 64)
    assert list(dest.parent.iterdir()) == []


def test_wrong_hash_keeps_an_existing_file(serve, tmp_path):
    dest = tmp_path / "blob.bin"
    dest.write_bytes(b"old good copy")
    server = serve({"blob.bin": b"corrupt"})
    with pytest.raises(_download.ChecksumError):
        _download.download(server.url + "blob.bin", dest, _sha(b"good"))
    assert dest.read_bytes() == b"old good copy"


def test_http_error_is_a_download_error(serve, tmp_path):
    server = serve({})
    with pytest.raises(_download.DownloadError, match="Download of .*missing.bin failed"):
        _download.download(server.url + "missing.bin", tmp_path / "m", "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_refused_connection_is_a_download_error(tmp_path, monkeypatch):
    monkeypatch.delenv("FILTERBANK_OFFLINE")
    with pytest.raises(_download.DownloadError, match="failed"):
        _download.download(_download.origin() + "x", tmp_path / "x", "0" * 64)


def test_hung_server_times_out(stalled_url, tmp_path, monkeypatch):
    monkeypatch.setattr(_download, "TIMEOUT", 0.3)
    with pytest.raises(_download.DownloadError, match="timed out"):
        _download.download(stalled_url + "x", tmp_path / "x", "0" * 64)


def test_offline_never_connects(serve, tmp_path, monkeypatch):
    server = serve({"f": b"data"})
    monkeypatch.setenv("FILTERBANK_OFFLINE", "1")
    with pytest.raises(_download.DownloadError, match="FILTERBANK_OFFLINE"):
        _download.download(server.url + "f", tmp_path / "f", _sha(b"data"))
    assert server.requests == []
