"""Elementwise activations: forward and backward as pure NumPy functions.

Each activation is a pair ``forward(x) -> y`` and ``backward(grad, x, y) -> dx``
(backward receives both the input and the output so each can use the cheaper
one). Shapes: any; ``softmax`` works over the last axis.

Example:
    >>> import numpy as np
    >>> relu_forward(np.array([-1.0, 2.0]))
    array([0., 2.])
"""

from __future__ import annotations

import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])


def linear_forward(x):
    return x


def linear_backward(grad, x, y):
    return grad


def relu_forward(x):
    return np.maximum(x, 0, dtype=x.dtype) if x.dtype.kind == "f" else np.maximum(x, 0)


def relu_backward(grad, x, y):
    # y > 0 exactly where x > 0; the kink at 0 gets gradient 0, as PyTorch and Keras.
    return grad * (y > 0)


LEAKY_SLOPE = 0.2  # Keras 3's default negative_slope for the `leaky_relu` activation


def leaky_relu_forward(x, negative_slope=LEAKY_SLOPE):
    return np.where(x > 0, x, x * negative_slope).astype(x.dtype, copy=False)


def leaky_relu_backward(grad, x, y, negative_slope=LEAKY_SLOPE):
    return np.where(x > 0, grad, grad * negative_slope).astype(grad.dtype, copy=False)


def elu_forward(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


def elu_backward(grad, x, y, alpha=1.0):
    return np.where(x > 0, grad, grad * (y + alpha)).astype(grad.dtype, copy=False)


def gelu_forward(x):
    # Exact GELU (Keras's default approximate=False): x * Phi(x).
    phi = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
    return (x * phi).astype(x.dtype, copy=False)


def gelu_backward(grad, x, y):
    phi = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return (grad * (phi + x * pdf)).astype(grad.dtype, copy=False)


def sigmoid_forward(x):
    # Split by sign so exp never overflows.
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def sigmoid_backward(grad, x, y):
    return grad * y * (1 - y)


def tanh_forward(x):
    return np.tanh(x)


def tanh_backward(grad, x, y):
    return grad * (1 - y * y)


def softmax_forward(x, axis=-1):
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(grad, x, y, axis=-1):
    return y * (grad - (grad * y).sum(axis=axis, keepdims=True))


ACTIVATIONS = {
    "linear": (linear_forward, linear_backward),
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "elu": (elu_forward, elu_backward),
    "gelu": (gelu_forward, gelu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
    "softmax": (softmax_forward, softmax_backward),
}


def rows_kernels():
    """The compiled in-place row epilogues (bias + relu, bias + softmax) of
    :mod:`filterbank.ops._numba_rows`, or None (numba missing, or FILTERBANK_DISABLE_NUMBA=1).
    Loaded on first use (:func:`filterbank.ops.kernels.compiled`), never by ``import filterbank``."""
    from .kernels import compiled

    return compiled("ops._numba_rows")
