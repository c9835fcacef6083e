"""Elementwise merges Subtract, Multiply, Average, Maximum, Minimum, and the functional forms
``add``, ``subtract``, ``multiply``, ``average``, ``maximum``, ``minimum``, ``concatenate``.

As in Keras 3, inputs of the same rank may broadcast: every axis but the batch must be
equal or 1 in one of them (e.g. a squeeze-and-excitation scale (batch, 1, 1, C) times a
map (batch, H, W, C)). The backward sums each input's gradient over the axes it was
broadcast along.

Maximum / Minimum send the gradient to the input that won; on a tie, to the first of the
tied inputs (TensorFlow's rule; PyTorch splits ties equally).

Example:
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> a, b = keras.Input(shape=(8, 8, 16)), keras.Input(shape=(1, 1, 16))
    >>> layers.multiply([a, b]).shape
    (None, 8, 8, 16)
    >>> layers.Subtract()([np.full((1, 2), 5.0), np.ones((1, 2))])
    array([[4., 4.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from .merging import Add, Concatenate, _Merge, _shapes_text


class _Elementwise(_Merge):
    """Same-rank inputs, broadcast on equal-or-1 axes (Keras's elementwise merge rule)."""

    min_inputs = 1

    def compute_output_shape(self, input_shape):
        self._require_list(input_shape, "shape")
        shapes = [tuple(s) for s in input_shape]
        name = type(self).__name__
        if len(shapes) < self.min_inputs or (name == "Subtract" and len(shapes) != 2):
            want = "exactly 2" if name == "Subtract" else f"at least {self.min_inputs}"
            raise ValueError(
                f"Layer '{self.name}' ({name}) expects {want} inputs, got {len(shapes)} "
                f"(shapes {_shapes_text(shapes)}). Call it on a list, e.g. {name}()([x1, x2])."
            )
        rank = len(shapes[0])
        ok = all(len(s) == rank for s in shapes)
        out = []
        if ok:
            for i in range(rank):
                sizes = {s[i] for s in shapes}
                known = {d for d in sizes if d is not None}
                if i == 0:
                    if len(known) > 1:
                        ok = False
                        break
                    out.append(known.pop() if known else None)
                    continue
                big = {d for d in known if d != 1}
                if len(big) > 1:
                    ok = False
                    break
                if big:
                    out.append(big.pop())
                elif None in sizes:
                    out.append(None)
                else:
                    out.append(1)
        if not ok:
            raise ValueError(
                f"Layer '{self.name}' combines its inputs elementwise, so their shapes must match "
                f"(or be 1 where they differ, to broadcast), with the same number of dims and "
                f"batch size; got shapes {_shapes_text(shapes)}. Make them match, e.g. with a "
                "Reshape to (1, 1, C) or a 1x1 Conv2D to align channels."
            )
        return tuple(out)

    def _merge(self, arrays):
        self._shapes = [a.shape for a in arrays]
        self._inputs = arrays
        out = self._combine(arrays)
        return out.astype(arrays[0].dtype, copy=False)

    def _reduce(self, g, shape):
        """Sum a gradient of the output's shape down to an input's (broadcast) shape."""
        if g.shape == shape:
            return np.ascontiguousarray(g)
        axes = tuple(i for i, (a, b) in enumerate(zip(g.shape, shape)) if b == 1 and a != 1)
        return np.ascontiguousarray(g.sum(axis=axes, keepdims=True))

    def backward(self, grad):
        return [self._reduce(g, s) for g, s in zip(self._input_grads(grad), self._shapes)]


class Subtract(_Elementwise):
    """``x1 - x2`` for exactly two inputs.

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.Subtract()([np.array([[3.0, 1.0]]), np.array([[1.0, 1.0]])])
        array([[2., 0.]], dtype=float32)
    """

    min_inputs = 2

    def _combine(self, arrays):
        return arrays[0] - arrays[1]

    def _input_grads(self, grad):
        return [grad, -grad]


class Multiply(_Elementwise):
    """Elementwise product of the inputs.

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.Multiply()([np.array([[2.0, 3.0]]), np.array([[4.0, 5.0]])])
        array([[ 8., 15.]], dtype=float32)
    """

    def _combine(self, arrays):
        out = arrays[0]
        for a in arrays[1:]:
            out = out * a
        return out

    def _input_grads(self, grad):
        grads = []
        for i in range(len(self._inputs)):
            g = grad
            for j, a in enumerate(self._inputs):
                if j != i:
                    g = g * a
            grads.append(g)
        return grads


class Average(_Elementwise):
    """Elementwise mean of the inputs.

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.Average()([np.array([[2.0, 3.0]]), np.array([[4.0, 5.0]])])
        array([[3., 4.]], dtype=float32)
    """

    def _combine(self, arrays):
        out = arrays[0]
        for a in arrays[1:]:
            out = out + a
        return out / len(arrays)

    def _input_grads(self, grad):
        g = grad / len(self._inputs)
        return [g] * len(self._inputs)


class _Extreme(_Elementwise):
    _pick = None  # np.maximum or np.minimum

    def _combine(self, arrays):
        out = arrays[0]
        for a in arrays[1:]:
            out = type(self)._pick(out, a)
        self._out = out
        return out

    def _input_grads(self, grad):
        out = np.broadcast_to(self._out, grad.shape)
        taken = np.zeros(grad.shape, dtype=bool)
        grads = []
        for a in self._inputs:
            wins = (np.broadcast_to(a, grad.shape) == out) & ~taken
            taken |= wins
            grads.append(grad * wins)
        return grads


class Maximum(_Extreme):
    """Elementwise maximum of the inputs.

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.Maximum()([np.array([[2.0, 7.0]]), np.array([[4.0, 5.0]])])
        array([[4., 7.]], dtype=float32)
    """

    _pick = np.maximum


class Minimum(_Extreme):
    """Elementwise minimum of the inputs.

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.Minimum()([np.array([[2.0, 7.0]]), np.array([[4.0, 5.0]])])
        array([[2., 5.]], dtype=float32)
    """

    _pick = np.minimum


# ---- functional forms (Keras's keras.layers.add(...) etc.) ---------------------------------
def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``.

    Example:
        >>> import filterbank as keras
        >>> x = keras.Input(shape=(4,))
        >>> keras.layers.add([x, x]).shape
        (None, 4)
    """
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``; see :class:`Subtract`.

    Example:
        >>> import filterbank as keras
        >>> a, b = keras.Input(shape=(4,)), keras.Input(shape=(4,))
        >>> keras.layers.subtract([a, b]).shape
        (None, 4)
    """
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``; see :class:`Multiply`.

    Example:
        >>> import filterbank as keras
        >>> a, b = keras.Input(shape=(4,)), keras.Input(shape=(4,))
        >>> keras.layers.multiply([a, b]).shape
        (None, 4)
    """
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``; see :class:`Average`.

    Example:
        >>> import filterbank as keras
        >>> a, b = keras.Input(shape=(4,)), keras.Input(shape=(4,))
        >>> keras.layers.average([a, b]).shape
        (None, 4)
    """
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``; see :class:`Maximum`.

    Example:
        >>> import filterbank as keras
        >>> a, b = keras.Input(shape=(4,)), keras.Input(shape=(4,))
        >>> keras.layers.maximum([a, b]).shape
        (None, 4)
    """
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``; see :class:`Minimum`.

    Example:
        >>> import filterbank as keras
        >>> a, b = keras.Input(shape=(4,)), keras.Input(shape=(4,))
        >>> keras.layers.minimum([a, b]).shape
        (None, 4)
    """
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``.

    Example:
        >>> import filterbank as keras
        >>> a, b = keras.Input(shape=(8, 8, 3)), keras.Input(shape=(8, 8, 5))
        >>> keras.layers.concatenate([a, b]).shape
        (None, 8, 8, 8)
    """
    return Concatenate(axis=axis, **kwargs)(inputs)
