"""What every command shares: the user-error type, one-line messages, number parsers for
argparse, and the parser helpers for the options several commands take (one spelling each).

A :class:`CLIError` is a mistake the user can fix (a missing file, an unknown name, a bad
number): :func:`filterbank.cli.main` prints it as one line, ``filterbank: error: <message>``,
and exits with status 2 (as argparse does for bad arguments). Anything else is a bug and keeps
its traceback.

Example:
    >>> positive_int("64")
    64
    >>> one_line("two\\n   lines")
    'two lines'
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys


class CLIError(Exception):
    """A user error: printed as one line on stderr, exit status 2."""

    def __init__(self, message: str, status: int = 2):
        super().__init__(message)
        self.status = status


def debug() -> bool:
    """True when ``FILTERBANK_DEBUG`` is set to something other than "", "0" or "false"."""
    return os.environ.get("FILTERBANK_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def one_line(text) -> str:
    """Collapse any message to a single line (library messages may span several)."""
    return " ".join(str(text).split())


def warn(message: str) -> None:
    """Print ``filterbank: warning: <message>`` as one line on stderr."""
    print(f"filterbank: warning: {one_line(message)}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def user_errors(context: str, kinds=(ValueError, TypeError)):
    """Turn the library's input-checking errors raised inside the block into a CLIError.

    The library's ValueErrors say what was wrong with the data or arguments, so they are user
    errors here; the context ("training", "reading the data") says which step failed.
    """
    try:
        yield
    except CLIError:
        raise
    except kinds as exc:
        if debug():
            raise
        raise CLIError(f"{context}: {one_line(exc)}") from exc


# ---- argparse value types (their messages become "argument --epochs: <message>") ----------
def _int(text: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    """An integer >= 1 (epochs, batch size, samples)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (seeds)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1) (validation and test splits)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a fraction, got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def image_size(text: str) -> tuple[int, int]:
    """``28`` or ``32x48`` (height x width) -> (height, width)."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a size like 28 or 32x48 (height x width), got {text!r}"
        ) from None
    if len(sizes) == 1:
        sizes = sizes * 2
    if len(sizes) != 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected a size like 28 or 32x48 (height x width), got {text!r}"
        )
    return sizes[0], sizes[1]


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``filterbank train: error: ...`` and exit status 2."""

    def error(self, message):
        raise CLIError(f"{one_line(message)} (see {self.prog} --help)")


# ---- parser helpers: options several commands take, declared once -----------------------------


def add_command(sub, name, help, description, *, model=None, epilog=None):
    """Register subcommand ``name``; ``model``: the help of its first argument, MODEL (a saved
    model file); ``epilog``: shown as written, after the options."""
    extra = {}
    if epilog is not None:
        extra = {"epilog": epilog, "formatter_class": argparse.RawDescriptionHelpFormatter}
    p = sub.add_parser(name, help=help, description=description, **extra)
    if model is not None:
        p.add_argument("model", metavar="MODEL", help=model)
    return p


def add_data_options(p, *, data_default=None, data_help=None):
    """--data and --test-split, as train, evaluate, predict and explain take them."""
    p.add_argument(
        "--data",
        default=data_default,
        metavar="{mnist,fashion_mnist,xo,DIR}",
        help=data_help or "dataset name or folder of class subfolders",
    )
    p.add_argument(
        "--test-split",
        type=fraction,
        default=None,
        metavar="F",
        help="fraction of a folder's images held out for testing when it has no "
        "train/ and test/ subfolders (default 0.2)",
    )


def add_seed_option(p, help, default=None):
    p.add_argument("--seed", type=nonnegative_int, default=default, metavar="N", help=help)


def add_invert_option(p, help):
    """--invert: light-on-dark conversion of image files (auto: as the training images)."""
    p.add_argument("--invert", choices=("auto", "yes", "no"), default="auto", help=help)
