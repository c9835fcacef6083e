"""Shared fixtures: every test starts with fresh layer names, float32 and a fixed seed."""

import numpy as np
import pytest

from filterbank import backend
from filterbank.layers.base import clear_session


@pytest.fixture(autouse=True)
def _fresh_session():
    clear_session()
    backend.set_floatx("float32")
    backend.set_random_seed(1234)
    yield
    backend.set_floatx("float32")


@pytest.fixture
def float64():
    """Build layers and weights in float64 (for finite-difference checks)."""
    backend.set_floatx("float64")
    yield
    backend.set_floatx("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
