"""Weight penalties added to the loss: ``kernel_regularizer=regularizers.l2(1e-4)``.

Example:
    >>> import numpy as np
    >>> from filterbank import regularizers
    >>> r = regularizers.l2(0.5)
    >>> float(r(np.array([1.0, 2.0])))
    2.5
"""

from __future__ import annotations

import numpy as np

from .errors import unknown_name


class Regularizer:
    def __call__(self, w) -> float:
        raise NotImplementedError

    def gradient(self, w):
        raise NotImplementedError

    def get_config(self) -> dict:
        return dict(vars(self))


class L1L2(Regularizer):
    """penalty = l1 * sum(|w|) + l2 * sum(w**2)  (Keras's convention: no 1/2 factor)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, w):
        out = 0.0
        if self.l1:
            out += self.l1 * float(np.abs(w).sum())
        if self.l2:
            out += self.l2 * float((w * w).sum())
        return out

    def gradient(self, w):
        g = np.zeros_like(w)
        if self.l1:
            g += self.l1 * np.sign(w)
        if self.l2:
            g += 2.0 * self.l2 * w
        return g


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(0.0, l2)

    def get_config(self):
        return {"l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1, 0.0)

    def get_config(self):
        return {"l1": self.l1}


l1, l2, l1_l2 = L1, L2, L1L2
_REGISTRY = {"l1": L1, "l2": L2, "l1_l2": L1L2}
_CLASS_NAMES = {"L1": "l1", "L2": "l2", "L1L2": "l1_l2"}


def get(identifier):
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in _REGISTRY:
            return _REGISTRY[identifier.lower()]()
        raise unknown_name("regularizer", identifier, _REGISTRY)
    if isinstance(identifier, dict):
        return _REGISTRY[identifier["class_name"]](**identifier.get("config", {}))
    raise TypeError(f"regularizer must be a name, a Regularizer or None, got {identifier!r}.")


def serialize(reg):
    if reg is None:
        return None
    return {"class_name": _CLASS_NAMES[type(reg).__name__], "config": reg.get_config()}
