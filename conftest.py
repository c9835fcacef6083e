"""Root fixtures, shared by tests/ and the docstring examples in filterbank/ (doctests)."""

import pytest

from filterbank import backend
from filterbank.layers.base import clear_session


@pytest.fixture(autouse=True)
def _fresh_session():
    """Every test and docstring example starts with fresh layer names, float32 and seed 1234."""
    clear_session()
    backend.set_floatx("float32")
    backend.set_random_seed(1234)
    yield
    backend.set_floatx("float32")
