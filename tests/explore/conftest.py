"""Fixtures of the explore tests: a small trained run folder and the app serving it."""

import json

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the explore tests need fastapi (pip install filterbank[explore])")
pytest.importorskip("uvicorn", reason="the explore tests need uvicorn (pip install filterbank[explore])")
pytest.importorskip("PIL", reason="the explore tests need Pillow")


@pytest.fixture(scope="session", autouse=True)
def _offline(tmp_path_factory):
    """No network and a private data cache: MNIST is the bundled subset."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FILTERBANK_OFFLINE", "1")
        mp.setenv("FILTERBANK_HOME", str(tmp_path_factory.mktemp("fbhome")))
        yield


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory, _offline):
    """A run folder written by 'filterbank train': the seed CNN after a few steps on MNIST."""
    from filterbank.cli import main

    out = tmp_path_factory.mktemp("explore") / "run"
    status = main(["train", "--model", "seed-sequential", "--train-samples", "384",
                   "--epochs", "2", "--batch-size", "64", "--validation-split", "0.25",
                   "--out", str(out), "--verbose", "0", "--seed", "0"])
    assert status == 0
    assert json.loads((out / "metrics.json").read_text())["history"]["loss"]
    return out


@pytest.fixture(scope="session")
def app(run_dir):
    from filterbank.explore import create_app

    return create_app(run_dir)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def digit():
    """A test digit of the bundled MNIST subset, (28, 28) in [0, 1]."""
    from filterbank.datasets import mnist

    (_, _), (x, _) = mnist.load_data(source="bundled")
    return (x[3] / 255.0).astype(np.float32)
