"""Models: one graph engine (functional ``Model``) and ``Sequential`` on top of it."""

from .functional import Model, model_from_config, model_from_json
from .sequential import Sequential


def load_model(path, compile=True):
    """Load a model saved with ``model.save(path)``; nothing is unpickled or evaluated."""
    from ..saving import load_model as _load

    return _load(path, compile=compile)


__all__ = ["Model", "Sequential", "load_model", "model_from_config", "model_from_json"]
