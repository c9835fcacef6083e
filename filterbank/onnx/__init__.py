"""ONNX interchange: export a filterbank model to ONNX, and import ONNX graphs as models.

``export_model(model, "m.onnx")`` (or Keras 3's ``model.export("m.onnx", format="onnx")``)
writes a graph that ONNX Runtime runs with the model's own predictions; ``load_model(path)``
turns a graph from PyTorch's exporter (NCHW) or a Keras/tf2onnx-style NHWC graph into an
ordinary filterbank model (summary, fit, save). Both need the ``onnx`` package
(``pip install 'filterbank[onnx]'``); importing this package does not.

Example:
    >>> from filterbank import onnx as fb_onnx
    >>> callable(fb_onnx.export_model) and callable(fb_onnx.load_model)
    True
"""

from .export import build_onnx, export_model


def load_model(path):
    """Import an ONNX file as a filterbank model (see :mod:`filterbank.onnx.importer`)."""
    from .importer import load_model as _load

    return _load(path)


__all__ = ["build_onnx", "export_model", "load_model"]
