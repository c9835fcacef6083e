"""The ONNX graph under construction, and where each tensor's channels sit.

filterbank tensors are channels-last (NHWC); ONNX's Conv, pooling and BatchNormalization are
channels-first (NCHW). Each :class:`Value` remembers which of the two orders its ONNX tensor
uses, and :meth:`GraphBuilder.last` / :meth:`GraphBuilder.first` insert a Transpose only when an
op needs the other order, so a chain of convolutions and pools stays NCHW with no transposes
between them, and Flatten/Dense see Keras's channels-last order again.

Example:
    >>> to_first_perm(4), to_last_perm(4)    # the Transpose perms NHWC <-> NCHW
    ([0, 3, 1, 2], [0, 2, 3, 1])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def to_first_perm(rank: int) -> list[int]:
    """Axes taking a channels-last tensor of ``rank`` to channels-first: [0, r-1, 1, ..., r-2]."""
    return [0, rank - 1, *range(1, rank - 1)]


def to_last_perm(rank: int) -> list[int]:
    """The inverse of :func:`to_first_perm`: [0, 2, ..., r-1, 1]."""
    return [0, *range(2, rank), 1]


@dataclass
class Value:
    """An ONNX tensor name, its Keras (channels-last) shape and the order its ONNX tensor uses.

    ``layout`` is "last" (same order as Keras) or "first" (channels moved to axis 1); it only
    matters for rank >= 3.
    """

    name: str
    shape: tuple
    layout: str = "last"
    _views: dict = field(default_factory=dict, repr=False)

    @property
    def rank(self) -> int:
        return len(self.shape)


class GraphBuilder:
    """Collects nodes and initializers; names are unique and readable (layer name + op)."""

    def __init__(self, opset: int):
        self.opset = int(opset)
        self.nodes: list = []
        self.initializers: list = []
        self._used: set[str] = set()

    def fresh(self, hint: str) -> str:
        name, i = hint, 1
        while name in self._used:
            name, i = f"{hint}_{i}", i + 1
        self._used.add(name)
        return name

    def const(self, hint: str, array, dtype=np.float32) -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        arr = np.ascontiguousarray(np.asarray(array, dtype=dtype))
        self.initializers.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, outputs: int = 1, **attrs) -> str:
        from onnx import helper

        names = [self.fresh(hint if outputs == 1 else f"{hint}_{i}") for i in range(outputs)]
        self.nodes.append(
            helper.make_node(op, inputs, names, name=self.fresh(f"{hint}/{op}"), **attrs)
        )
        return names[0]

    # ---- layouts -----------------------------------------------------------------------------
    def last(self, v: Value) -> str:
        """``v``'s ONNX name in channels-last order (a Transpose is added at most once)."""
        return self._view(v, "last", "nhwc", to_last_perm)

    def first(self, v: Value) -> str:
        """``v``'s ONNX name in channels-first order (a Transpose is added at most once)."""
        return self._view(v, "first", "nchw", to_first_perm)

    def _view(self, v: Value, layout: str, suffix: str, perm) -> str:
        if v.rank < 3 or v.layout == layout:
            return v.name
        if layout not in v._views:
            v._views[layout] = self.node(
                "Transpose", [v.name], f"{v.name}_{suffix}", perm=perm(v.rank)
            )
        return v._views[layout]

    def in_layout(self, v: Value, layout: str) -> str:
        return self.first(v) if layout == "first" else self.last(v)
