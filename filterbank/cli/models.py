"""What ``--model`` names, and how the command line compiles and feeds a model.

``--model`` is one of:

* a :mod:`filterbank.zoo` architecture ("seed-sequential", "seed-functional", "lenet5", "xo"),
  built for the data's image shape and number of classes;
* a saved model file (``model.save(...)``, e.g. a previous run's ``model.fbk``): training
  continues from its weights *and* optimizer state, with its compile settings;
* a Python file (``*.py``) defining ``build_model(input_shape, num_classes)``. The file is
  executed as Python code -- it is the user's own code, run with the user's rights.

Compile rule: a model that arrives compiled (a saved file, or a ``build_model`` that compiled
it) keeps its loss and metrics and optimizer; ``--optimizer`` given explicitly replaces the
optimizer (its state starts afresh), ``--learning-rate`` sets the learning rate. An uncompiled
model is compiled as the seed's Sequential listing: ``loss="categorical_crossentropy"`` on
one-hot labels, ``metrics=["accuracy"]``, ``--optimizer`` (default rmsprop, Keras's defaults).

Example:
    >>> spec = resolve("lenet5")
    >>> spec.kind, spec.name
    ('zoo', 'lenet5')
"""

from __future__ import annotations

import runpy
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import zoo
from ..errors import did_you_mean
from .common import CLIError, debug, one_line, user_errors

DEFAULT_OPTIMIZER = "rmsprop"
DEFAULT_LOSS = "categorical_crossentropy"
SPARSE_LOSSES = {"sparse_categorical_crossentropy"}
ONE_HOT_LOSSES = {
    "categorical_crossentropy",
    "categorical_hinge",
    "kl_divergence",
    "kullback_leibler_divergence",
}


@dataclass
class ModelSpec:
    """What ``--model`` resolved to: kind "zoo", "saved" or "python", a name and a path."""

    kind: str
    name: str
    path: Path | None = None


def resolve(text: str) -> ModelSpec:
    """Classify the ``--model`` argument (nothing is loaded or run yet)."""
    key = str(text).strip().lower().replace("_", "-")
    if key in zoo.ARCHITECTURES:
        return ModelSpec("zoo", key)
    path = Path(text).expanduser()
    if path.is_dir():
        raise CLIError(
            f"--model {text!r} is a folder; expected an architecture name "
            f"({', '.join(zoo.names())}), a saved model file or a .py file."
        )
    if path.is_file():
        return ModelSpec("python" if path.suffix == ".py" else "saved", path.name, path)
    if path.exists():
        raise CLIError(
            f"--model {text!r} is not a regular file (a device, FIFO or socket); "
            "expected a saved model file or a .py file."
        )
    if path.suffix or "/" in str(text) or "\\" in str(text):
        raise CLIError(f"model file {str(text)!r} does not exist.")
    raise CLIError(
        f"unknown model {text!r} (and no file of that name). "
        + did_you_mean(key, zoo.names())
        + " Or pass a saved model file or a .py file defining build_model()."
    )


def load_saved(path: Path, compile: bool = True):
    """``load_model(path)``; a damaged or foreign file raises ModelFileError (a user error)."""
    from ..saving import load_model

    if path.is_dir():
        raise CLIError(
            f"{str(path)!r} is a folder; expected a model file (e.g. {path / 'model.fbk'})."
        )
    if not path.exists():
        raise CLIError(f"model file {str(path)!r} does not exist.")
    if not path.is_file():
        raise CLIError(
            f"{str(path)!r} is not a regular file (a device, FIFO or socket); "
            "expected a model file saved with model.save (e.g. runs/.../model.fbk)."
        )
    return load_model(path, compile=compile)


def build_from_python(path: Path, input_shape, num_classes: int):
    """Run the user's file and call its ``build_model(input_shape, num_classes)``."""
    where = str(path)
    try:
        namespace = runpy.run_path(where, run_name="__filterbank_build__")
    except Exception as exc:
        if debug():
            raise
        raise CLIError(
            f"running {where} failed: {type(exc).__name__}: {one_line(exc)} "
            "(FILTERBANK_DEBUG=1 shows the traceback)"
        ) from exc
    build = namespace.get("build_model")
    if not callable(build):
        raise CLIError(
            f"{where} defines no function build_model(input_shape, num_classes); "
            "define one that returns a filterbank model."
        )
    try:
        model = build(tuple(input_shape), int(num_classes))
    except Exception as exc:
        if debug():
            raise
        raise CLIError(
            f"build_model in {where} raised {type(exc).__name__}: {one_line(exc)} "
            "(FILTERBANK_DEBUG=1 shows the traceback)"
        ) from exc
    if not (hasattr(model, "fit") and hasattr(model, "count_params")):
        raise CLIError(
            f"build_model in {where} returned {type(model).__name__}; expected a "
            "filterbank model (keras.Sequential or keras.Model)."
        )
    return model


def build(spec: ModelSpec, input_shape, num_classes: int):
    """A fresh model for ``spec`` ("zoo" or "python") and the data's shape and classes."""
    if spec.kind == "python":
        return build_from_python(spec.path, input_shape, num_classes)
    with user_errors(f"model {spec.name!r}"):
        return zoo.build(spec.name, input_shape, num_classes)


def make_optimizer(name: str, learning_rate: float | None):
    """An optimizer by name (did-you-mean on a typo) with an optional learning rate."""
    from .. import optimizers

    with user_errors("--optimizer"):
        optimizer = optimizers.get(name)
    if learning_rate is not None:
        optimizer.learning_rate = learning_rate
    return optimizer


def compile_for_training(model, optimizer_name: str | None, learning_rate: float | None) -> list:
    """Apply the compile rule (module docstring); returns notes to print about what happened."""
    notes = []
    if not getattr(model, "compiled", False):
        model.compile(
            optimizer=make_optimizer(optimizer_name or DEFAULT_OPTIMIZER, learning_rate),
            loss=DEFAULT_LOSS,
            metrics=["accuracy"],
        )
        return notes
    if optimizer_name is not None:
        config = model.compile_arguments or {}
        model.compile(
            optimizer=make_optimizer(optimizer_name, learning_rate),
            loss=config.get("loss"),
            metrics=config.get("metrics"),
            loss_weights=config.get("loss_weights"),
        )
        notes.append(
            f"--optimizer {optimizer_name}: the model's optimizer is replaced and its "
            "state starts afresh."
        )
    elif learning_rate is not None:
        with user_errors("--learning-rate"):
            model.optimizer.learning_rate = learning_rate
    return notes


def ensure_compiled_for_evaluation(model) -> None:
    """An uncompiled model is compiled with the training default (for evaluate)."""
    if not getattr(model, "compiled", False):
        model.compile(optimizer=DEFAULT_OPTIMIZER, loss=DEFAULT_LOSS, metrics=["accuracy"])


def loss_name(model) -> str:
    """The compiled loss's name ("categorical_crossentropy", ...), or "" when unknown."""
    from .. import losses

    loss = getattr(model, "loss", None)
    if isinstance(loss, (list, tuple)) and len(loss) == 1:
        loss = loss[0]
    if isinstance(loss, dict) and len(loss) == 1 and "class_name" not in loss:
        loss = next(iter(loss.values()))
    try:
        return str(losses.get(loss).name).lower()
    except Exception:
        return str(getattr(loss, "name", loss) or "").lower()


def label_encoding(model) -> str:
    """ "one-hot" or "int": how the model's loss wants class labels."""
    return "int" if loss_name(model) in SPARSE_LOSSES else "one-hot"


def targets(model, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Class indices (n,) in the encoding the model's loss expects."""
    if label_encoding(model) == "int":
        return labels.astype(np.int64)
    from ..utils import to_categorical

    return to_categorical(labels, num_classes)


def check_fits_data(model, input_shape, num_classes: int, what: str) -> None:
    """A model whose input or output does not match the data: a clear user error."""
    in_shape = getattr(model, "input_shape", None)
    out_shape = getattr(model, "output_shape", None)
    if isinstance(in_shape, list) or isinstance(out_shape, list):
        raise CLIError(
            f"{what} has several inputs or outputs; the command line trains models "
            "with one image input and one class output."
        )
    if in_shape is not None and tuple(in_shape[1:]) != tuple(input_shape):
        raise CLIError(
            f"{what} expects inputs of shape {tuple(in_shape[1:])}, but the images "
            f"are {tuple(input_shape)}."
        )
    if out_shape is not None and tuple(out_shape[1:]) != (num_classes,):
        raise CLIError(
            f"{what} outputs shape {tuple(out_shape[1:])}, but the data has "
            f"{num_classes} classes; it needs a final Dense({num_classes}) layer."
        )


def load_data_for(model, name, seed, test_split, what: str):
    """Dataset ``name`` in ``model``'s input size and channels, checked to fit its classes."""
    from . import data as data_mod

    data = data_mod.load(
        name, expected_shape=model_input_shape(model), seed=seed, test_split=test_split
    )
    check_fits_data(model, data.input_shape, data.num_classes, what)
    return data


def model_input_shape(model) -> tuple[int, int, int]:
    """The (h, w, c) images a loaded model takes, or a CLIError for non-image models."""
    shape = getattr(model, "input_shape", None)
    if isinstance(shape, list) or shape is None or len(shape) != 4 or None in shape[1:]:
        raise CLIError(
            f"the model takes inputs of shape {shape}; the command line works with "
            "image models taking (batch, height, width, channels)."
        )
    return tuple(int(d) for d in shape[1:])


def probabilities(outputs: np.ndarray) -> np.ndarray:
    """Rows of class probabilities: the outputs if they already are, else their softmax."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if (outputs.min() >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3):
        return outputs
    shifted = outputs - outputs.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


__all__ = [
    "ModelSpec",
    "build",
    "compile_for_training",
    "label_encoding",
    "loss_name",
    "probabilities",
    "resolve",
    "targets",
]
