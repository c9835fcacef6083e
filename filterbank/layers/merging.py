"""Merge layers: Add and Concatenate, called on a list of tensors.

``forward(list of arrays) -> array``; ``backward(grad) -> list of grads`` (one per input);
``compute_output_shape(list of shapes) -> shape``.

Example:
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> a, b = keras.Input(shape=(8, 8, 16)), keras.Input(shape=(8, 8, 4))
    >>> layers.Concatenate()([a, b]).shape
    (None, 8, 8, 20)
"""

from __future__ import annotations

import numpy as np

from ..errors import fmt_shape
from .base import Layer


def _shapes_text(shapes) -> str:
    return "[" + ", ".join(fmt_shape(s) for s in shapes) + "]"


class _Merge(Layer):
    _example = "([x1, x2])"

    def _require_list(self, value, what):
        """``value``: a list of shapes (``what="shape"``) or of arrays (``what="input"``)."""
        if what == "shape":
            single = not (
                isinstance(value, (list, tuple))
                and all(isinstance(v, (list, tuple)) for v in value)
            )
            desc = f"shape {fmt_shape(value)}" if single else ""
        else:
            single = not isinstance(value, (list, tuple))
            desc = f"array of shape {fmt_shape(np.shape(value))}" if single else ""
        if single:
            raise ValueError(
                f"Layer '{self.name}' expects a list of inputs, got a single {desc}. "
                f"Call it on a list: {type(self).__name__}(){self._example}."
            )
        if len(value) < 1:
            raise ValueError(
                f"Layer '{self.name}' expects a list of at least 1 input, got an empty list. "
                f"Call it on a list: {type(self).__name__}(){self._example}."
            )

    def _maybe_build(self, input_shape, actual_shape=None):
        self._require_list(input_shape, "shape")
        super()._maybe_build(
            list(input_shape), None if actual_shape is None else list(actual_shape)
        )

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # validates the shapes

    def forward(self, inputs, training=False):
        self._require_list(inputs, "input")
        self.compute_output_shape([a.shape for a in inputs])
        return self._merge(list(inputs))


class Add(_Merge):
    """Elementwise sum of same-shape inputs: [(batch, ...), ...] -> (batch, ...).

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.Add()([np.ones((2, 3)), np.full((2, 3), 2.0)])
        array([[3., 3., 3.],
               [3., 3., 3.]], dtype=float32)
    """

    def compute_output_shape(self, input_shape):
        self._require_list(input_shape, "shape")
        shapes = [tuple(s) for s in input_shape]
        rank = len(shapes[0])
        out = list(shapes[0])
        ok = all(len(s) == rank for s in shapes)
        if ok:
            for i in range(rank):
                known = {s[i] for s in shapes if s[i] is not None}
                if len(known) > 1:
                    ok = False
                    break
                out[i] = known.pop() if known else None
        if not ok:
            raise ValueError(
                f"Layer '{self.name}' adds inputs elementwise, so they need the same shape; got "
                f"shapes {_shapes_text(shapes)}. Make them match (e.g. a 1x1 Conv2D or Dense to "
                "align channels, or matching strides/padding to align sizes)."
            )
        return tuple(out)

    def _merge(self, arrays):
        self._n = len(arrays)
        out = arrays[0] + arrays[1] if len(arrays) > 1 else arrays[0].copy()
        for a in arrays[2:]:
            out += a
        return out

    def backward(self, grad):
        # d(sum)/d(each input) is the identity: the same array for every input (the graph
        # engine sums fan-out gradients out of place, so sharing it is safe).
        return [grad] * self._n


class Concatenate(_Merge):
    """Join inputs along ``axis`` (default the last, the channels).

    Shapes: inputs equal on every axis but ``axis``; the output's ``axis`` is the sum.

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.Concatenate()([np.zeros((2, 3)), np.ones((2, 1))]).shape
        (2, 4)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(
                f"Layer '{self.name}' argument axis expects an integer, got {axis!r}. "
                "Pass e.g. axis=-1."
            )
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        self._require_list(input_shape, "shape")
        shapes = [tuple(s) for s in input_shape]
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ValueError(
                f"Layer '{self.name}' expects inputs with the same number of dims, got shapes "
                f"{_shapes_text(shapes)}."
            )
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(
                f"Layer '{self.name}' cannot concatenate along axis={self.axis}: the inputs have "
                f"{rank} dims {_shapes_text(shapes)} and axis 0 is the batch. "
                "Use axis=-1 (channels)."
            )
        axis = self.axis % rank
        out = []
        for i in range(rank):
            if i == axis:
                sizes = [s[i] for s in shapes]
                out.append(None if None in sizes else int(sum(sizes)))
                continue
            known = {s[i] for s in shapes if s[i] is not None}
            if len(known) > 1:
                raise ValueError(
                    f"Layer '{self.name}' expects inputs with matching shapes except along the "
                    f"concatenation axis {self.axis}, got shapes {_shapes_text(shapes)} (axis {i} "
                    f"differs: {', '.join(str(s[i]) for s in shapes)}). Resize or crop the "
                    "inputs, or concatenate along the axis that differs."
                )
            out.append(known.pop() if known else None)
        return tuple(out)

    def _merge(self, arrays):
        axis = self.axis % arrays[0].ndim
        self._splits = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        self._axis_abs = axis
        return np.concatenate(arrays, axis=axis)

    def backward(self, grad):
        return [np.ascontiguousarray(g) for g in np.split(grad, self._splits, axis=self._axis_abs)]

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config
