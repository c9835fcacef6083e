"""Safe model files: one zip of JSON + safetensors; nothing is ever unpickled or evaluated.

``model.save("model.fbk")`` writes architecture, weights, compile settings and optimizer
state to one file (atomically); ``keras.models.load_model("model.fbk")`` checks everything
before trusting it and raises :class:`ModelFileError` for any damaged or hostile file.
``model.save_weights("w.safetensors")`` / ``model.load_weights(...)`` move weights only,
matched by layer name and shape. See ``filterbank/saving/FORMAT.md`` for the format.

Example:
    >>> import os, tempfile
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.fbk")
    >>> model.save(path)
    >>> keras.models.load_model(path).get_layer("dense").get_weights()[0].shape
    (4, 2)
"""

from .archive import FORMAT_VERSION, Archive, read_archive, write_archive
from .errors import ModelFileError
from .model_io import load_model as _load_fbk
from .model_io import load_weights as _load_fbk_weights
from .model_io import save_model as _save_fbk
from .model_io import save_weights


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


__all__ = ["FORMAT_VERSION", "Archive", "ModelFileError", "load_model", "load_weights",
           "read_archive", "save_model", "save_weights", "write_archive"]
