"""Small local stand-ins for the optimizer and metric interfaces (used until/besides the real ones).

They implement exactly the interface the engine consumes, so the engine's tests do not depend
on the details of filterbank.optimizers / filterbank.metrics.
"""

from __future__ import annotations

import numpy as np


class PlainSGD:
    """opt.apply_gradients([(grad, param, key), ...]) updates in place: p -= lr * g."""

    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate
        self.iterations = 0
        self.seen_keys: list[str] = []

    def apply_gradients(self, pairs):
        self.seen_keys = [k for _, _, k in pairs]
        for g, p, _ in pairs:
            p -= self.learning_rate * g
        self.iterations += 1

    def get_config(self):
        return {"learning_rate": self.learning_rate}


class Recorder:
    """An optimizer that changes nothing and remembers the gradients it was given."""

    def __init__(self):
        self.learning_rate = 0.0
        self.iterations = 0
        self.last = {}

    def apply_gradients(self, pairs):
        self.last = {k: g.copy() for g, _, k in pairs}
        self.iterations += 1


class SparseAccuracy:
    """Fraction of samples whose argmax matches the integer label (sample-weighted)."""

    name = "accuracy"

    def __init__(self):
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.asarray(y_true).reshape(len(y_pred), -1)[:, 0]
        hit = (np.argmax(y_pred, axis=-1) == y_true).astype(np.float64)
        w = np.ones_like(hit) if sample_weight is None else np.asarray(sample_weight, np.float64)
        self.total += float((hit * w).sum())
        self.count += float(w.sum())

    def result(self):
        return self.total / self.count if self.count else 0.0


# ---- merge layers (stand-ins for layers.Add / layers.Concatenate) ------------------------------
from filterbank.layers.base import Layer  # noqa: E402


class SumOf(Layer):
    """Element-wise sum of a list of same-shape inputs."""

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def forward(self, inputs, training=False):
        out = inputs[0].copy()
        for a in inputs[1:]:
            out += a
        return out

    def backward(self, grad):
        return [grad for _ in range(self._n_inputs)]

    def build(self, input_shape):
        self._n_inputs = len(input_shape)


class JoinLast(Layer):
    """Concatenation along the last axis."""

    def build(self, input_shape):
        self._sizes = [s[-1] for s in input_shape]

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], sum(s[-1] for s in input_shape))

    def forward(self, inputs, training=False):
        return np.concatenate(inputs, axis=-1)

    def backward(self, grad):
        cuts = np.cumsum(self._sizes)[:-1]
        return np.split(grad, cuts, axis=-1)
