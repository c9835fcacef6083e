"""filterbank.datasets as a package: lazy imports and available()."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import filterbank
from filterbank import datasets
from filterbank.datasets import fashion_mnist


def test_import_filterbank_loads_no_dataset_code():
    code = (
        "import sys, filterbank, filterbank.datasets; "
        "print(sorted(m for m in sys.modules if m.startswith('filterbank.datasets.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_keras_style_attribute_access():
    assert filterbank.datasets.mnist.load_data is datasets.mnist.load_data
    assert callable(datasets.image_dataset_from_directory)
    assert datasets.xo.CLASS_NAMES == ("O", "X")


def test_unknown_attribute():
    import pytest

    with pytest.raises(AttributeError, match="has no attribute 'cifar10'"):
        datasets.cifar10  # noqa: B018


def test_available_offline_without_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(fashion_mnist, "DPKG_LIST", tmp_path / "none.list")
    monkeypatch.setattr(fashion_mnist, "SYSTEM_GLOBS", ())
    info = datasets.available()
    assert set(info) == {"mnist", "fashion_mnist", "xo"}
    assert info["mnist"]["available"] and info["mnist"]["source"] == "bundled"
    assert info["mnist"]["samples"] == "8000/2000"
    assert "FILTERBANK_OFFLINE" in info["mnist"]["note"]
    assert info["fashion_mnist"] == dict(
        available=False,
        source=None,
        location=None,
        samples="60000/10000",
        note=info["fashion_mnist"]["note"],
    )
    assert "apt-get install dataset-fashion-mnist" in info["fashion_mnist"]["note"]
    assert info["xo"]["source"] == "generated"


def test_available_sees_the_cache(home):
    folder = home / "datasets"
    (folder / "fashion-mnist").mkdir(parents=True)
    np.savez(folder / "mnist.npz", x=np.zeros(1))
    for name in fashion_mnist.FILES:
        (folder / "fashion-mnist" / name).write_bytes(b"")
    info = datasets.available()
    assert info["mnist"]["source"] == "cache"
    assert info["mnist"]["location"] == str(folder / "mnist.npz")
    assert info["fashion_mnist"]["source"] == "cache"
    assert info["fashion_mnist"]["location"] == str(folder / "fashion-mnist")


def test_available_sees_the_system_package(monkeypatch, tmp_path):
    system = tmp_path / "share" / "datasets" / "fashion-mnist"
    system.mkdir(parents=True)
    for name in fashion_mnist.FILES:
        (system / name).write_bytes(b"")
    monkeypatch.setattr(fashion_mnist, "DPKG_LIST", tmp_path / "none.list")
    monkeypatch.setattr(
        fashion_mnist, "SYSTEM_GLOBS", (str(tmp_path / "share" / "datasets" / "*fashion*"),)
    )
    info = datasets.available()
    assert info["fashion_mnist"]["available"] is True
    assert info["fashion_mnist"]["source"] == "system"
    assert info["fashion_mnist"]["location"] == str(system)
