"""Fixtures of the explore tests: a small trained run folder and the app serving it."""

import json

import numpy as np
import pytest

pytest.importorskip(
    "fastapi", reason="the explore tests need fastapi (pip install filterbank[explore])"
)
pytest.importorskip(
    "uvicorn", reason="the explore tests need uvicorn (pip install filterbank[explore])"
)
pytest.importorskip("PIL", reason="the explore tests need Pillow")


@pytest.fixture(scope="session")
def explore_home(tmp_path_factory):
    return tmp_path_factory.mktemp("fbhome")


@pytest.fixture(autouse=True)
def _offline(monkeypatch, explore_home):
    """No network and a private data cache in every explore test: MNIST is the bundled subset.

    Per test (not per session), so the rest of the suite never sees these variables.
    """
    monkeypatch.setenv("FILTERBANK_OFFLINE", "1")
    monkeypatch.setenv("FILTERBANK_HOME", str(explore_home))


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory, explore_home):
    """A run folder written by 'filterbank train': the seed CNN after a few steps on MNIST."""
    from filterbank.cli import main

    out = tmp_path_factory.mktemp("explore") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FILTERBANK_OFFLINE", "1")
        mp.setenv("FILTERBANK_HOME", str(explore_home))
        status = main(
            [
                "train",
                "--model",
                "seed-sequential",
                "--train-samples",
                "384",
                "--epochs",
                "2",
                "--batch-size",
                "64",
                "--validation-split",
                "0.25",
                "--out",
                str(out),
                "--verbose",
                "0",
                "--seed",
                "0",
            ]
        )
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
