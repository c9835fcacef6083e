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


# Docstring examples that write HDF5 or ONNX need h5py / onnx (optional extras, issue #14):
# without them they are not collected (the tests under tests/ skip with their reasons).
def _optional_doctests():
    import importlib.util

    ignore = []
    if importlib.util.find_spec("h5py") is None:
        ignore += ["filterbank/saving/keras_format/__init__.py",
                   "filterbank/saving/keras_format/h5weights.py"]
    if importlib.util.find_spec("onnx") is None:
        ignore += ["filterbank/onnx/export.py"]
    return ignore


collect_ignore = _optional_doctests()
