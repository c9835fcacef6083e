"""Module attributes imported on first use (PEP 562), so ``import filterbank`` stays fast.

A package lists what loads late -- whole submodules, and names that live in a submodule --
and :func:`lazy_attributes` gives it the module-level ``__getattr__`` that imports them.

Example:
    >>> getattr_ = lazy_attributes("filterbank", "filterbank", attributes={"Model": ".models"})
    >>> getattr_("Model").__name__
    'Model'
    >>> getattr_("nothing")
    Traceback (most recent call last):
    AttributeError: module 'filterbank' has no attribute 'nothing'
"""

from __future__ import annotations

import importlib


def lazy_attributes(module_name: str, package: str, submodules=(), attributes=None):
    """A module ``__getattr__``: each of ``submodules`` (names relative to ``package``), and
    each name in ``attributes`` from the module it maps to (relative to ``package``)."""
    attributes = attributes or {}

    def __getattr__(name):
        if name in submodules:
            return importlib.import_module(f".{name}", package)
        source = attributes.get(name)
        if source is not None:
            return getattr(importlib.import_module(source, package), name)
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__
