"""lazy_attributes: the module __getattr__ the lazily loading packages share."""

import sys

import pytest

from filterbank._lazy import lazy_attributes


def test_submodules_and_names_load_on_first_use():
    getattr_ = lazy_attributes(
        "filterbank.datasets", "filterbank.datasets", ("xo",), {"ImageDataset": ".image_folder"}
    )
    assert getattr_("xo") is sys.modules["filterbank.datasets.xo"]
    assert getattr_("ImageDataset").__name__ == "ImageDataset"


def test_a_module_anchors_names_on_its_package():
    getattr_ = lazy_attributes(
        "filterbank.utils", "filterbank", attributes={"PyDataset": ".datasets.py_dataset"}
    )
    assert getattr_("PyDataset").__module__ == "filterbank.datasets.py_dataset"


def test_unknown_name_is_an_attribute_error_naming_the_module():
    with pytest.raises(AttributeError, match="^module 'filterbank.utils' has no attribute 'nope'$"):
        lazy_attributes("filterbank.utils", "filterbank")("nope")
