"""Activations: ``feature_maps`` (with pre-activations, even where the activation is fused
into Conv2D/Dense) and ``pool_winners`` (which input won each max-pool window).

Example:
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank import explain, layers
    >>> keras.utils.clear_session()
    >>> model = keras.Sequential([keras.Input(shape=(4, 4, 1)),
    ...                           layers.Conv2D(2, 3, activation="relu"),
    ...                           layers.MaxPooling2D(2)])
    >>> maps = explain.feature_maps(model, np.ones((4, 4)))
    >>> {name: m.shape for name, m in maps.items()}
    {'conv2d': (2, 2, 2), 'max_pooling2d': (1, 1, 2)}
"""

from __future__ import annotations

import numpy as np

from ..layers.input_layer import InputLayer
from . import values as V


def feature_maps(model, x, layers=None, pre_activation=False) -> dict:
    """Each layer's output for one sample ``x``, without the batch axis, by layer name.

    Args:
        model: a built model.
        x: one sample (with or without the batch axis).
        layers: names or layers (default: every layer after the input).
        pre_activation: give ``z`` instead of ``activation(z)`` for layers with an
            ``activation`` argument (Conv1D, Conv2D, Dense): computed by a copy of the layer
            with a linear activation and the same weights, from the layer's real input.
            Layers without an activation give their output either way.
    """
    xb = V.one_sample(model, x)
    if layers is None:
        chosen = [la for la in model.layers if not isinstance(la, InputLayer)]
    else:
        chosen = [
            V.resolve_layer(model, la)
            for la in (layers if isinstance(layers, (list, tuple)) else [layers])
        ]
    tensors = [la.output for la in chosen]
    pre = {}
    if pre_activation:
        for la in chosen:
            clone = V.preactivation_layer(la)
            if clone is not None:
                pre[la.name] = (clone, len(tensors))
                tensors.append(la.input)
    vals = V.run_tensors(model, xb, tensors)
    out = {}
    for k, la in enumerate(chosen):
        if la.name in pre:
            clone, at = pre[la.name]
            out[la.name] = np.asarray(clone(vals[at]))[0]
        else:
            out[la.name] = vals[k][0]
    return out


def pool_winners(model, x, layer) -> dict:
    """Where each output of a max-pooling layer came from, for one sample ``x``.

    Returns a dict with ``positions`` (an int array of shape output + (rank,): the winner's
    spatial position in the layer's input for every output cell and channel), ``values``
    (the pooled map) and ``input`` (the layer's input map), all without the batch axis.

    Example:
        >>> import numpy as np
        >>> import filterbank as keras
        >>> from filterbank import explain, layers
        >>> keras.utils.clear_session()
        >>> m = keras.Sequential([keras.Input(shape=(4, 4, 1)), layers.MaxPooling2D(2)])
        >>> x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], "float32")
        >>> w = explain.pool_winners(m, x, "max_pooling2d")
        >>> w["positions"][..., 0, :].tolist()
        [[[1, 1], [1, 3]], [[2, 0], [3, 3]]]
    """
    from .cell import cell

    la = V.resolve_layer(model, layer)
    if "MaxPooling" not in type(la).__name__ or "Global" in type(la).__name__:
        raise ValueError(
            f"pool_winners needs a MaxPooling1D/2D layer, got layer '{la.name}' "
            f"({type(la).__name__})."
        )
    xb = V.one_sample(model, x)
    inputs, output = V.layer_io(model, xb, la)
    out = output[0]
    positions = np.zeros((*out.shape, out.ndim - 1), int)
    for idx in np.ndindex(*out.shape):
        e = cell(model, xb, la, idx) if out.size <= 64 else None
        if e is None:
            e = _fast_winner(la, inputs[0][0], idx)
        positions[idx] = e.winner["position"][:-1]
    return {"positions": positions, "values": out, "input": inputs[0][0]}


def _fast_winner(layer, x, idx):
    from .cell import _pool

    return _pool(layer, x, idx)
