"""Real Keras 3 as a second oracle (torch backend), loaded once, skipped when missing."""

from __future__ import annotations

import os

import numpy as np
import pytest


def real_keras():
    """The real ``keras`` package on the torch backend, or a pytest skip."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    if os.environ["KERAS_BACKEND"] != "torch":
        pytest.skip("real Keras is loaded with another backend")
    pytest.importorskip("torch")
    return pytest.importorskip("keras")


def keras_output(keras_layer, inputs, weights=None, **call):
    """Build the real Keras layer on ``inputs``, give it ``weights``, return its output."""
    multi = isinstance(inputs, list)
    arrays = [np.asarray(a, "float32") for a in (inputs if multi else [inputs])]
    keras_layer.build([a.shape for a in arrays] if multi else arrays[0].shape)
    if weights is not None:
        keras_layer.set_weights([np.asarray(w, "float32") for w in weights])
    y = keras_layer(arrays if multi else arrays[0], **call)
    return np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y)
