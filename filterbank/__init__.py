"""filterbank: convolutional neural networks from first principles, on NumPy, with the Keras API.

Example:
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> inputs = keras.Input(shape=(28, 28, 1))
    >>> x = layers.Conv2D(filters=32, kernel_size=3, activation="relu")(inputs)
    >>> x.shape
    (None, 26, 26, 32)
"""

__version__ = "0.1.0"

from . import activations, backend, initializers, layers, regularizers, utils  # noqa: E402
from .layers import Input  # noqa: E402

_LAZY = {
    "models",
    "losses",
    "optimizers",
    "metrics",
    "callbacks",
    "datasets",
    "saving",
    "ops",
    "onnx",
}


def __getattr__(name):
    # Submodules that pull in more code load on first use, keeping `import filterbank` fast.
    import importlib

    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    if name in ("Model", "Sequential"):
        return getattr(importlib.import_module(".models", __name__), name)
    raise AttributeError(f"module 'filterbank' has no attribute {name!r}")


__all__ = [
    "Input",
    "Model",
    "Sequential",
    "activations",
    "backend",
    "initializers",
    "layers",
    "regularizers",
    "utils",
    *sorted(_LAZY),
]
