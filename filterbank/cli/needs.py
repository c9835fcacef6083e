"""What a command will need at its end, checked before it starts the work.

``filterbank train`` that trains for minutes and then cannot save would lose the run, so every
command checks its packages first: saving and loading need ``safetensors`` (a dependency of
filterbank, but a broken environment can lack it); image folders and image files need Pillow.
matplotlib is optional: without it ``train`` skips ``curves.png`` and says so.

Example:
    >>> missing_packages(["numpy"])
    []
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .common import CLIError

_INSTALL = {"safetensors": "safetensors", "PIL": "pillow", "matplotlib": "matplotlib"}


def missing_packages(modules) -> list[str]:
    """The names in ``modules`` that cannot be imported here."""
    out = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(name)
    return out


def _is_folder(spec) -> bool:
    from .data import canonical_name

    if spec is None:
        return False
    try:
        if canonical_name(spec) in ("mnist", "fashion_mnist", "xo"):
            return False
    except Exception:
        pass
    return Path(spec).expanduser().is_dir()


def required(args) -> list[str]:
    """The modules command ``args.command`` will import before it is done."""
    need = ["safetensors"]  # every command saves or loads a model file
    command = getattr(args, "command", None)
    if command == "datasets":
        return []
    if command in ("train", "evaluate") and _is_folder(getattr(args, "data", None)):
        need.append("PIL")
    if command == "predict" and (
        getattr(args, "images", None) or _is_folder(getattr(args, "data", None))
    ):
        need.append("PIL")
    return need


def check(args) -> list[str]:
    """Raise CLIError naming what to install when a required package is missing; return notes
    about optional ones (matplotlib for ``train``'s curves.png)."""
    missing = missing_packages(required(args))
    if missing:
        names = " ".join(_INSTALL.get(m, m) for m in missing)
        raise CLIError(
            f"{args.command} needs {', '.join(_INSTALL.get(m, m) for m in missing)}, "
            f"which {'is' if len(missing) == 1 else 'are'} not installed; nothing "
            f"was done. Install with: pip install {names}"
        )
    notes = []
    if getattr(args, "command", None) == "train" and missing_packages(["matplotlib"]):
        notes.append(
            "matplotlib is not installed, so this run will not draw curves.png "
            "(pip install matplotlib to get it)."
        )
    return notes
