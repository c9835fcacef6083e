"""One template for user-facing errors: what happened, where, expected, got, how to fix.

Example:
    >>> msg = format_message("Input 0 of layer 'conv2d'",
    ...     "expects 4 dims (batch, height, width, channels)", "got shape (60000, 28, 28)",
    ...     "Add a channel axis: x[..., None].")
    >>> msg
    "Input 0 of layer 'conv2d' expects 4 dims (batch, height, width, channels), got shape \
(60000, 28, 28). Add a channel axis: x[..., None]."
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def format_message(
    where: str, expected: str, got: str | None = None, fix: str | None = None
) -> str:
    """Build ``"<where> <expected>, <got>. <fix>"`` -- the one error sentence shape."""
    msg = f"{where} {expected}"
    if got:
        msg += f", {got}"
    msg += "."
    if fix:
        msg += " " + fix
    return msg


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A 'Did you mean ...?' hint for a misspelt name, or a list of valid names."""
    choices = sorted(set(choices))
    close = difflib.get_close_matches(str(name).lower(), choices, n=1, cutoff=0.5)
    if close:
        return f"Did you mean {close[0]!r}? Valid names: {', '.join(choices)}."
    return f"Valid names: {', '.join(choices)}."


def unknown_name(kind: str, name, choices: Iterable[str], where: str | None = None) -> ValueError:
    """The error for an unknown optimizer / loss / activation / padding / ... name.

    ``where`` (e.g. "Layer 'conv2d' argument padding") is put in front when given.
    """
    head = f"{where}: " if where else ""
    return ValueError(f"{head}Unknown {kind} {name!r}. {did_you_mean(str(name), choices)}")


def fmt_shape(shape) -> str:
    """Render a shape the way Keras prints it: (None, 26, 26, 32)."""
    return (
        "("
        + ", ".join("None" if d is None else str(d) for d in shape)
        + ("," if len(shape) == 1 else "")
        + ")"
    )
