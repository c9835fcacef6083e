"""Adaptive optimizers: RMSprop, Adam and AdamW with Keras 3's exact formulas.

RMSprop (epsilon *inside* the square root, unlike PyTorch's ``sqrt(v) + eps``)::

    v = rho * v + (1 - rho) * g**2
    a = rho * a + (1 - rho) * g                    (centered only)
    inc = lr * g / sqrt(v - a**2 + eps)            (centered; else sqrt(v + eps))
    m = momentum * m + inc;  w -= m                (momentum > 0; else w -= inc)

Adam (Keras's "epsilon hat": bias correction folded into the step size, epsilon added
to the *uncorrected* sqrt(v), unlike PyTorch's sqrt(v_hat) + eps), with t = iterations + 1::

    alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
    m += (g - m) * (1 - beta_1);  v += (g**2 - v) * (1 - beta_2)
    v_hat = max(v_hat, v)                          (amsgrad only; then used for v)
    w -= alpha * m / (sqrt(v) + epsilon)

AdamW is Adam with decoupled weight decay ``w -= lr * weight_decay * w`` applied first.

Example:
    >>> import numpy as np
    >>> w = np.array([1.0])
    >>> Adam(learning_rate=0.1).apply_gradients([(np.array([0.5]), w, "w")])
    >>> w.round(4)  # the first step moves by lr (times 1 - ~1e-5 from epsilon)
    array([0.9])
"""

from __future__ import annotations

import math

import numpy as np

from .._argspec import takes_base_args
from ..ops import kernels as _kernels
from .base import Optimizer, _check_number


def _rmsprop_kernel():
    """The compiled plain-RMSprop update, or None (no numba, or FILTERBANK_DISABLE_NUMBA)."""
    module = _kernels.compiled("optimizers._numba_rmsprop")
    return None if module is None else module.rmsprop_update


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _compiled_update(grad, param, velocity):
    """The compiled update if it applies (float32/64 arrays of one dtype, all C-contiguous,
    numba available: loaded once a model trains, never at import), else None."""
    dtype = param.dtype
    if (
        dtype in _FLOATS
        and grad.dtype == dtype
        and velocity.dtype == dtype
        and param.flags.c_contiguous
        and grad.flags.c_contiguous
        and velocity.flags.c_contiguous
    ):
        return _rmsprop_kernel()
    return None


@takes_base_args
class RMSprop(Optimizer):
    """RMSprop. Defaults as Keras: learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7.

    Slots per parameter: "velocity", plus "momentum" (momentum > 0) and
    "average_gradient" (centered=True).
    """

    default_name = "rmsprop"

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = _check_number("RMSprop", "rho", rho, low=0, high=1)
        self.momentum = _check_number("RMSprop", "momentum", momentum, low=0, high=1)
        self.epsilon = _check_number("RMSprop", "epsilon", epsilon, low=0)
        self.centered = bool(centered)

    def _slot_names(self):
        names = ("velocity",)
        if self.momentum > 0:
            names += ("momentum",)
        if self.centered:
            names += ("average_gradient",)
        return names

    def _update(self, grad, param, slots, lr):
        rho = self.rho
        v = slots["velocity"]
        kernel = None
        if not self.centered and self.momentum == 0:
            kernel = _compiled_update(grad, param, v)
        if kernel is not None:
            t = param.dtype.type
            kernel(
                param.reshape(-1),
                grad.reshape(-1),
                v.reshape(-1),
                t(rho),
                t(1.0 - rho),
                t(self.epsilon),
                t(lr),
            )
            return
        s = self._scratch(param)  # every temporary lives here: no allocation per step
        v *= rho
        np.square(grad, out=s)
        s *= 1.0 - rho
        v += s
        if self.centered:
            a = slots["average_gradient"]
            a *= rho
            np.multiply(grad, 1.0 - rho, out=s)
            a += s
            np.square(a, out=s)
            np.subtract(v, s, out=s)
            s += self.epsilon
        else:
            np.add(v, self.epsilon, out=s)
        np.sqrt(s, out=s)
        np.divide(grad, s, out=s)
        increment = s
        increment *= lr
        if self.momentum > 0:
            m = slots["momentum"]
            m *= self.momentum
            m += increment
            param -= m
        else:
            param -= increment

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


@takes_base_args
class Adam(Optimizer):
    """Adam. Defaults as Keras: learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7.

    Slots per parameter: "momentum", "velocity", and "velocity_hat" (amsgrad=True).
    """

    default_name = "adam"

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        cls = type(self).__name__
        self.beta_1 = _check_number(cls, "beta_1", beta_1, low=0, high=1)
        self.beta_2 = _check_number(cls, "beta_2", beta_2, low=0, high=1)
        for arg, default in (("beta_1", 0.9), ("beta_2", 0.999)):
            if getattr(self, arg) >= 1:  # 1 - beta**t is then 0: nothing could be bias-corrected
                raise ValueError(
                    f"{cls} expects {arg} in [0, 1), got {arg}=1.0: the moving "
                    "average would never move and its bias correction divides by "
                    f"zero. Use a value below 1 (Keras's default is {default})."
                )
        self.epsilon = _check_number(cls, "epsilon", epsilon, low=0)
        self.amsgrad = bool(amsgrad)

    def _slot_names(self):
        names = ("momentum", "velocity")
        return names + ("velocity_hat",) if self.amsgrad else names

    def _update(self, grad, param, slots, lr):
        t = self.iterations + 1
        b1, b2 = self.beta_1, self.beta_2
        alpha = lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        m, v = slots["momentum"], slots["velocity"]
        s = self._scratch(param)  # every temporary lives here: no allocation per step
        np.subtract(grad, m, out=s)
        s *= 1.0 - b1
        m += s
        np.square(grad, out=s)
        s -= v
        s *= 1.0 - b2
        v += s
        if self.amsgrad:
            v = np.maximum(slots["velocity_hat"], v, out=slots["velocity_hat"])
        np.sqrt(v, out=s)
        s += self.epsilon
        np.divide(m, s, out=s)
        s *= alpha
        param -= s

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


@takes_base_args
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter). Keras default weight_decay=0.004.

    Each step first does ``w -= learning_rate * weight_decay * w``, then Adam's update.
    """

    default_name = "adamw"

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        **kwargs,
    ):
        if weight_decay is None:
            raise ValueError(
                "AdamW expects weight_decay to be a float, got None. Use Adam for no decay."
            )
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            weight_decay=weight_decay,
            **kwargs,
        )
