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

from . import (  # noqa: E402
    _lazy,  # noqa: E402
    activations,
    backend,
    initializers,
    layers,
    regularizers,
    utils,
)
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


# Submodules that pull in more code load on first use, keeping `import filterbank` fast.
__getattr__ = _lazy.lazy_attributes(
    __name__, __name__, _LAZY, {"Model": ".models", "Sequential": ".models"}
)


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
