"""Stochastic gradient descent with optional (Nesterov) momentum, Keras 3's formulas.

Keras keeps the *velocity* (already scaled by the learning rate), not PyTorch's buffer:

    velocity = momentum * velocity - learning_rate * g
    w = w + velocity                                    (nesterov=False)
    w = w + momentum * velocity - learning_rate * g     (nesterov=True)

With a constant learning rate this equals PyTorch's SGD (dampening 0); they differ
once the learning rate changes (Keras's velocity remembers the old rates).

Example:
    >>> import numpy as np
    >>> w = np.array([1.0])
    >>> opt = SGD(learning_rate=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.apply_gradients([(np.array([1.0]), w, "w")])
    >>> w.round(6)
    array([0.71])
"""

from __future__ import annotations

import numpy as np

from .._argspec import takes_base_args
from .base import Optimizer, _check_number


@takes_base_args
class SGD(Optimizer):
    """Gradient descent (with momentum). Defaults as Keras: learning_rate=0.01, momentum=0.

    Slots per parameter: "momentum" (only when momentum > 0).
    """

    default_name = "SGD"

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        nesterov=False,
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = _check_number("SGD", "momentum", momentum, low=0, high=1)
        self.nesterov = bool(nesterov)

    def _slot_names(self):
        return ("momentum",) if self.momentum != 0 else ()

    def _update(self, grad, param, slots, lr):
        step = np.multiply(grad, lr, out=self._scratch(param))
        if self.momentum == 0:
            param -= step
            return
        m = slots["momentum"]
        m *= self.momentum
        m -= step
        if self.nesterov:
            param -= step
            param += np.multiply(m, self.momentum, out=step)
        else:
            param += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


__all__ = ["SGD"]
