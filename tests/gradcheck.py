"""Centered finite differences, in float64, for layers, losses and whole models.

`check_layer(layer, x)` compares `layer.backward` (input gradient and every
trainable weight gradient) against numeric derivatives of
`L = sum(forward(x) * G)` for a fixed random G.
"""

from __future__ import annotations

import numpy as np


def numeric_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """dF/dx by centered differences; `f` takes no argument and reads `x` (mutated in place)."""
    g = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def assert_close(analytic, numeric, rtol=1e-5, atol=1e-7, what=""):
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    assert analytic.shape == numeric.shape, f"{what}: shape {analytic.shape} vs {numeric.shape}"
    err = np.abs(analytic - numeric)
    tol = atol + rtol * np.abs(numeric)
    worst = np.unravel_index(np.argmax(err - tol), err.shape) if err.size else None
    assert np.all(err <= tol), (
        f"{what}: max abs err {err.max():.3e} at {worst} "
        f"(analytic {analytic[worst]:.8g}, numeric {numeric[worst]:.8g})"
    )


def check_layer(layer, x, training=False, seed=0, rtol=1e-5, atol=1e-7, eps=1e-6):
    """Check input and weight gradients of a built-or-not layer at float64 input `x`.

    `x` may be a list (merge layers). Returns the number of scalar derivatives checked.
    """
    rng = np.random.default_rng(seed)
    multi = isinstance(x, list)
    xs = [np.array(a, dtype=np.float64) for a in (x if multi else [x])]
    arg = xs if multi else xs[0]
    y = layer(arg, training=training)  # builds
    G = rng.standard_normal(y.shape)

    def loss():
        return float(np.sum(layer.forward(arg, training=training) * G))

    layer.forward(arg, training=training)
    dx = layer.backward(G)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    dxs = dx if multi else [dx]
    checked = 0
    for i, (xi, dxi) in enumerate(zip(xs, dxs)):
        assert_close(dxi, numeric_grad(loss, xi, eps), rtol, atol, f"{layer.name} input {i}")
        checked += xi.size
    for name in layer.trainable_param_names():
        p = layer.params[name]
        assert_close(
            grads[name], numeric_grad(loss, p, eps), rtol, atol, f"{layer.name} weight {name}"
        )
        checked += p.size
    return checked
