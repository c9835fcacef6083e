"""The :class:`Explanation` of one output cell: its fields, ``to_dict()`` and ``str()``.

Example:
    >>> e = Explanation(layer="relu", layer_type="ReLU", kind="activation", index=[0],
    ...                 output=2.0, pre_activation=2.0, activation="relu")
    >>> e.to_dict()["output"], e.to_dict()["window"]
    (2.0, None)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np


def jsonable(value):
    """NumPy values -> plain Python (floats, ints, bools, nested lists); None stays None."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype == bool:
            return value.tolist()
        if value.dtype.kind in "iu":
            return value.astype(int).tolist()
        return value.astype(float).tolist()
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


@dataclass
class Explanation:
    """The arithmetic behind one output cell of one layer (see :mod:`filterbank.explain`).

    Arrays are NumPy float64 (the arithmetic is redone in float64 from the layer's own
    float32 inputs and weights); ``output`` is the result of that arithmetic and
    ``model_output`` the value the model itself computed (they agree within float32
    rounding).
    """

    layer: str
    layer_type: str
    kind: str
    index: list
    output: float
    pre_activation: float | None = None
    activation: str | None = None
    bias: float | None = None
    sum: float | None = None
    window: np.ndarray | None = None
    padding_mask: np.ndarray | None = None
    origin: list | None = None
    input_positions: list | None = None
    kernel: np.ndarray | None = None
    products: np.ndarray | None = None
    winner: dict | None = None
    counted: np.ndarray | None = None
    contributions: list | None = None
    input_layer: str | list | None = None
    model_output: float | None = None
    channel: int | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-serialisable dict: every field, floats as Python floats, plus ``text``."""
        d = {f.name: jsonable(getattr(self, f.name)) for f in fields(self)}
        d["text"] = str(self)
        return d

    def __str__(self) -> str:
        from .text import format_explanation

        return format_explanation(self)

    def __repr__(self) -> str:
        return f"<Explanation {self.layer}{list(self.index)} ({self.kind}) = {self.output:.6g}>"
