"""Which format a path means: ``.keras`` names are Keras 3 archives, anything else .fbk.

``save_model`` writes a real Keras 3 archive for a ``.keras`` name (:mod:`.keras_format`) and
a filterbank file otherwise; ``load_model`` reads a ``.keras`` name as Keras's format when the
zip holds ``model.weights.h5`` (older filterbank files named ``.keras`` still load);
``load_weights`` recognises Keras's HDF5 ``.weights.h5`` by content.

Example:
    >>> _is_keras("model.keras"), _is_keras("model.fbk")
    (True, False)
"""

from __future__ import annotations

from .model_io import load_model as _load_fbk
from .model_io import load_weights as _load_fbk_weights
from .model_io import save_model as _save_fbk


def _is_keras(path) -> bool:
    import os

    return isinstance(path, (str, os.PathLike)) and os.fspath(path).lower().endswith(".keras")


def save_model(model, path, *args, **kwargs):
    """``.keras`` -> a real Keras 3 archive (:mod:`.keras_format`); any other name -> .fbk."""
    if _is_keras(path):
        from .keras_format import save_keras

        return save_keras(model, path, overwrite=kwargs.get("overwrite", True))
    return _save_fbk(model, path, *args, **kwargs)


def load_model(path, *args, **kwargs):
    """A Keras 3 ``.keras`` archive (by content) or a filterbank model file."""
    from .keras_format import is_keras_archive

    if _is_keras(path) and is_keras_archive(path):
        from .keras_format import load_keras

        return load_keras(path, compile=kwargs.get("compile", args[0] if args else True))
    return _load_fbk(path, *args, **kwargs)


def load_weights(model, path, *args, **kwargs):
    """Weights from a filterbank file, or (HDF5 content) a Keras ``.weights.h5`` file."""
    import os

    if isinstance(path, (str, os.PathLike)) and os.path.isfile(path):
        with open(path, "rb") as f:
            if f.read(8) == b"\x89HDF\r\n\x1a\n":
                from .keras_format import load_keras_weights

                return load_keras_weights(model, path)
    return _load_fbk_weights(model, path, *args, **kwargs)
