"""Keras 3's optimizer update rules, transcribed literally (new arrays, no in-place tricks).

The tests compare filterbank's in-place optimizers with these, step by step. Each
function takes the parameter, gradient, state dict and learning rate and returns the
new parameter and state. ``t`` is the 1-based step (Keras's ``iterations + 1``).
"""

import numpy as np


def sgd(w, g, s, lr, t, momentum=0.0, nesterov=False):
    if momentum == 0:
        return w - lr * g, s
    m = s.get("momentum", np.zeros_like(w))
    m = m * momentum - g * lr
    if nesterov:
        w = w + (m * momentum - g * lr)
    else:
        w = w + m
    return w, {"momentum": m}


def rmsprop(w, g, s, lr, t, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    v = s.get("velocity", np.zeros_like(w))
    v = rho * v + (1 - rho) * g**2
    out = {"velocity": v}
    if centered:
        a = s.get("average_gradient", np.zeros_like(w))
        a = rho * a + (1 - rho) * g
        out["average_gradient"] = a
        denominator = v - a**2 + epsilon
    else:
        denominator = v + epsilon
    increment = lr * g / np.sqrt(denominator)
    if momentum > 0:
        m = momentum * s.get("momentum", np.zeros_like(w)) + increment
        out["momentum"] = m
        return w - m, out
    return w - increment, out


def adam(w, g, s, lr, t, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    m = s.get("momentum", np.zeros_like(w))
    v = s.get("velocity", np.zeros_like(w))
    m = m + (g - m) * (1 - beta_1)
    v = v + (g**2 - v) * (1 - beta_2)
    out = {"momentum": m, "velocity": v}
    if amsgrad:
        v_hat = np.maximum(s.get("velocity_hat", np.zeros_like(w)), v)
        out["velocity_hat"] = v_hat
        v = v_hat
    return w - m * alpha / (np.sqrt(v) + epsilon), out


RULES = {"SGD": sgd, "RMSprop": rmsprop, "Adam": adam, "AdamW": adam}


def clip(grads, clipnorm=None, clipvalue=None, global_clipnorm=None):
    if clipnorm:
        return [g * clipnorm / max(np.sqrt((g**2).sum()), clipnorm) for g in grads]
    if global_clipnorm:
        norm = np.sqrt(sum((g**2).sum() for g in grads))
        return [g * global_clipnorm * min(1 / norm, 1 / global_clipnorm) for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


def run(cls_name, hyper, params, grad_seq, lr_fn, weight_decay=None, clips=None):
    """Apply Keras's base-optimizer order for each step: lr, clip, weight decay, update."""
    params = [p.copy() for p in params]
    states = [{} for _ in params]
    for step, grads in enumerate(grad_seq):
        lr = lr_fn(step)
        grads = clip(grads, **(clips or {}))
        if weight_decay:
            params = [p - p * weight_decay * lr for p in params]
        for i, g in enumerate(grads):
            params[i], states[i] = RULES[cls_name](params[i], g, states[i], lr, step + 1, **hyper)
    return params, states
