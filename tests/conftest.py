"""Test fixtures (the per-test session reset lives in the root conftest.py)."""

import numpy as np
import pytest

from filterbank import backend


@pytest.fixture
def float64():
    """Build layers and weights in float64 (for finite-difference checks)."""
    backend.set_floatx("float64")
    yield
    backend.set_floatx("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
