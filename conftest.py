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


# Docstring examples that write HDF5 need h5py (an optional extra, issue #14): without it they
# are not collected; tests/saving/test_keras_files.py skips with its reason instead.
def _optional_doctests():
    import importlib.util

    if importlib.util.find_spec("h5py") is None:
        return ["filterbank/saving/keras_format/__init__.py",
                "filterbank/saving/keras_format/h5weights.py"]
    return []


collect_ignore = _optional_doctests()
