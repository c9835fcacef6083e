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
from .dispatch import load_model, load_weights, save_model
from .errors import ModelFileError
from .model_io import save_weights

__all__ = [
    "FORMAT_VERSION",
    "Archive",
    "ModelFileError",
    "load_model",
    "load_weights",
    "read_archive",
    "save_model",
    "save_weights",
    "write_archive",
]
