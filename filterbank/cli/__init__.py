"""The ``filterbank`` command: train, evaluate, predict, explain, summary, datasets.

Examples::

    filterbank train                                  # seed Sequential CNN on MNIST, 5 epochs
    filterbank train --data xo --model xo --epochs 3 --out runs/xo
    filterbank train --model runs/xo/model.fbk --data xo --epochs 2 --out runs/xo2  # continue
    filterbank evaluate runs/xo/model.fbk
    filterbank predict runs/main/model.fbk digit.png
    filterbank predict runs/main/model.fbk --samples 5
    filterbank explain runs/main/model.fbk --sample 0 --out runs/main/explain
    filterbank summary runs/main/model.fbk
    filterbank datasets
    filterbank explore runs/main                      # the model in the browser

A user error (missing file, damaged model file, unknown name, bad number) prints one line,
``filterbank: error: ...``, on stderr and exits with status 2;
``FILTERBANK_DEBUG=1`` shows the traceback. Other exceptions are bugs and keep theirs.

Example:
    >>> parser = build_parser()
    >>> args = parser.parse_args(["train", "--data", "xo", "--epochs", "2"])
    >>> args.command, args.data, args.epochs, args.batch_size
    ('train', 'xo', 2, 64)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import (
    ArgumentParser,
    CLIError,
    add_command,
    add_data_options,
    add_invert_option,
    add_seed_option,
    debug,
    fraction,
    image_size,
    nonnegative_int,
    one_line,
    positive_float,
    positive_int,
)

_TRAIN_EPILOG = """\
--model FILE: a saved model (e.g. runs/main/model.fbk) continues training from its weights and
optimizer state, with its compile settings; a Python file (*.py) must define
build_model(input_shape, num_classes) returning a filterbank model. The Python file is
executed: it is your own code, run with your rights -- only pass files you trust.

--data DIR: a folder with one subfolder of images per class (or train/ and test/ subfolders
holding them); images are read as --image-size grayscale (28x28 by default) or in the loaded
model's size and channels, scaled x/255. Built-in data: mnist (the full set when cached, else
the bundled 8,000/2,000 digits), fashion_mnist, xo ('filterbank datasets' lists them).

Labels: an uncompiled model is compiled as the seed Sequential listing --
categorical_crossentropy on one-hot labels, metrics=["accuracy"] -- with --optimizer
(default rmsprop). A model that arrives compiled keeps its loss and optimizer;
--optimizer replaces the optimizer, --learning-rate sets its rate.

Writes DIR/model.fbk, DIR/metrics.json and DIR/curves.png (with matplotlib); by default
DIR is a new timestamped folder under runs/, and an existing run is never replaced without
--overwrite. While training, DIR/backup/ holds the last finished epoch: Ctrl-C saves the model
so far, and running the same command with the same --out again resumes the run there.
"""

_PREDICT_EPILOG = """\
Images (PNG, JPEG, ... via Pillow) are flattened onto white if transparent, converted to the
model's channels, resized to its height x width (bilinear; crop to a square first) and scaled
to [0, 1]. --invert auto (default): MNIST-like data are light objects on a dark background,
while a digit on paper is dark on light. An image is inverted (1 - x) when its border (the
outermost pixels) averages brighter than mid-grey and the model's training images were light
on dark -- mnist, fashion_mnist, xo, or a grayscale folder measured so -- or the other way
round. Colour models are never inverted by auto. MNIST digits fill the central 20x20 of
28x28 pixels: leave a margin around the digit.

With --samples N, N test images of the model's dataset (from the metrics.json beside the model,
--data, or a guess from its shape) are chosen with --seed and shown with true and predicted
classes.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``filterbank`` command (subcommands in ``command``)."""
    from .. import __version__, zoo

    parser = ArgumentParser(
        prog="filterbank",
        description="Train and use convolutional networks built on NumPy (filterbank "
        f"{__version__}). 'filterbank COMMAND --help' explains each command.",
    )
    parser.add_argument("--version", action="version", version=f"filterbank {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = add_command(
        sub,
        "train",
        "train a model, evaluate it, save the run",
        "Train a model, evaluate it on the test split and save model, metrics and curves.",
        epilog=_TRAIN_EPILOG,
    )
    add_data_options(
        p,
        data_default="mnist",
        data_help="mnist (default), fashion_mnist, xo, or a folder of class subfolders",
    )
    p.add_argument(
        "--image-size",
        type=image_size,
        default=None,
        metavar="HxW",
        help="image size for folder data when the model is built here (default 28)",
    )
    p.add_argument(
        "--model",
        default="seed-sequential",
        metavar="{" + ",".join(zoo.names()) + ",FILE}",
        help="architecture name (default seed-sequential), a saved model file to "
        "continue training, or a .py file defining build_model(input_shape, "
        "num_classes) -- the .py file is run as your code",
    )
    p.add_argument("--epochs", type=positive_int, default=5, metavar="N", help="default 5")
    p.add_argument("--batch-size", type=positive_int, default=64, metavar="N", help="default 64")
    p.add_argument(
        "--optimizer",
        default=None,
        metavar="NAME",
        help="sgd, rmsprop, adam or adamw (default rmsprop; a saved model keeps its "
        "own unless this is given)",
    )
    p.add_argument(
        "--learning-rate",
        type=positive_float,
        default=None,
        metavar="F",
        help="learning rate (default: the optimizer's Keras default, 0.001 for rmsprop)",
    )
    p.add_argument(
        "--train-samples",
        type=positive_int,
        default=None,
        metavar="N",
        help="train on the first N training images only (a quick run)",
    )
    add_seed_option(p, "random seed: initial weights, shuffling, data splits (default 0)", 0)
    p.add_argument(
        "--validation-split",
        type=fraction,
        default=0.0,
        metavar="F",
        help="fraction of the training data held out to validate after each epoch",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="run folder (default: a new runs/<date>-<time>)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace the run files in an existing --out folder"
    )
    p.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="0 silent, 1 progress bar (default), 2 one line per epoch",
    )

    p = add_command(
        sub,
        "evaluate",
        "test accuracy and loss of a saved model",
        "Evaluate a saved model on the test split of its dataset.",
        model="a saved model file (e.g. runs/main/model.fbk)",
    )
    add_data_options(p, data_help="dataset (default: the one recorded beside the model)")
    add_seed_option(p, "seed of the data split for xo and folders (default: as trained)")
    p.add_argument("--batch-size", type=positive_int, default=256, metavar="N")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=0)

    p = add_command(
        sub,
        "predict",
        "classify image files or test samples",
        "Top classes for image files, or true vs predicted for --samples N test images.",
        model="a saved model file",
        epilog=_PREDICT_EPILOG,
    )
    p.add_argument("images", metavar="IMAGE", nargs="*", help="PNG/JPEG/... files")
    p.add_argument(
        "--samples",
        type=positive_int,
        default=None,
        metavar="N",
        help="predict N test images of the model's dataset instead",
    )
    add_data_options(p, data_help="dataset for --samples (default: as recorded)")
    add_seed_option(p, "which test images --samples picks (default: the training seed or 0)")
    add_invert_option(p, "invert images to light-on-dark (default auto: see below)")
    p.add_argument(
        "--top", type=positive_int, default=3, metavar="K", help="classes shown (default 3)"
    )
    p.add_argument("--batch-size", type=positive_int, default=256, metavar="N")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="with --samples: also write DIR/predictions.png, the images with their "
        "true and predicted classes",
    )

    from .explain import add_parser as _add_explain

    _add_explain(sub)

    add_command(
        sub,
        "summary",
        "print a saved model's layers",
        "Print a saved model's summary table and compile settings.",
        model="a saved model file",
    )

    sub.add_parser(
        "datasets",
        help="list the datasets available here",
        description="Which datasets load on this machine, and from where.",
    )

    p = sub.add_parser(
        "explore",
        help="look inside a trained model in the browser",
        description="Serve a local web page showing a trained model's layers, "
        "activations and arithmetic (needs filterbank[explore]).",
    )
    p.add_argument(
        "model",
        metavar="MODEL_OR_RUN_DIR",
        nargs="?",
        default=None,
        help="a model file or run folder (default: runs/main, else the newest run)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=positive_int, default=8000, metavar="N", help="default 8000")
    p.add_argument("--open", action="store_true", help="open the page in the web browser")

    from .interop import add_parsers as _add_interop

    _add_interop(sub)
    return parser


def _dispatch(args) -> int:
    from .common import warn
    from .needs import check

    for note in check(args):  # what the command needs at its end, before any work
        warn(note)
    if args.command == "train":
        from .train import run

        return run(args)
    if args.command == "explain":
        from .explain import run

        return run(args)
    if args.command == "explore":
        from .explore import run

        return run(args)
    if args.command in ("export", "import"):
        from . import interop

        return interop.export(args) if args.command == "export" else interop.import_(args)
    from . import commands

    return getattr(commands, args.command)(args)


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default: sys.argv[1:]); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # paths with non-UTF-8 bytes print as escapes
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            raise CLIError(
                "choose a command: train, evaluate, predict, explain, summary, "
                "datasets, explore, export or import "
                "(see filterbank --help)"
            )
        args.argv = argv
        status = _dispatch(args)
    except KeyboardInterrupt:
        print("filterbank: interrupted", file=sys.stderr)
        status = 130
    except Exception as exc:
        status = _report(exc)
    sys.stdout.flush()
    return status


def _user_error_kinds():
    kinds = [CLIError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError]
    from ..saving import ModelFileError
    from ..saving.errors import SaveError

    kinds += [ModelFileError, SaveError, MemoryError]
    try:
        from ..datasets._download import DownloadError

        kinds.append(DownloadError)
    except ImportError:
        pass
    return tuple(kinds)


def _report(exc: BaseException) -> int:
    """One line for a user error (traceback with FILTERBANK_DEBUG=1); re-raise a bug."""
    # Optional packages (Pillow, safetensors, ...) say "pip install ..." when they are missing.
    missing_extra = isinstance(exc, ImportError) and "pip install" in str(exc)
    if not (isinstance(exc, _user_error_kinds()) or missing_extra):
        raise exc
    if debug():
        import traceback

        traceback.print_exception(exc)
    message = one_line(exc)
    if type(exc) is MemoryError or "_ArrayMemoryError" in type(exc).__name__:
        message = (
            f"out of memory ({message or 'MemoryError'}). Use a smaller --batch-size, "
            "--image-size or model, or free memory."
        )
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        message = f"{exc.strerror}: {exc.filename!r}"
    print(f"filterbank: error: {message}", file=sys.stderr)
    return getattr(exc, "status", 2)


__all__ = ["build_parser", "main"]
