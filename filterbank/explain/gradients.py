"""Gradients through the layer contract: ``gradients`` (loss, every weight, the input),
``saliency`` and ``grad_cam``.

The walk runs each layer's ``forward(x, training=False)`` then ``backward(grad)`` in the
model's layer order (the contract of :mod:`filterbank.layers.base`), so it sees exactly the
function the model computes at inference: Dropout passes values through, BatchNormalization
uses its moving statistics. Nothing is updated.

Example (6.036's 1D layer, worked example 8: the closed form of dLoss/dW1):
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank import explain, layers
    >>> keras.utils.clear_session()
    >>> model = keras.Sequential([keras.Input(shape=(4, 1)),
    ...     layers.Conv1D(1, 3, padding="same", activation="relu", use_bias=False),
    ...     layers.Flatten(), layers.Dense(1, use_bias=False)])
    >>> model.compile(loss="mse")
    >>> model.layers[0].set_weights([np.array([1.0, 2, 1]).reshape(3, 1, 1)])
    >>> model.layers[2].set_weights([np.array([[1.0], [-1], [2], [0]])])
    >>> g = explain.gradients(model, np.array([[1.0, 0, 2, 1]]), np.array([[0.0]]))
    >>> g["loss"], g["weights"]["conv1d"]["kernel"].ravel().tolist()
    (81.0, [-18.0, 90.0, 0.0])

    Z1 = conv(X, W1) = [2, 3, 5, 4] (all positive), A2 = 2 - 3 + 10 + 0 = 9, loss 9^2 = 81 and
    dLoss/dW1_j = sum_i X[i - 1 + j] * 2 * 9 * W2_i: 18 * (-1), 18 * 5, 18 * 0.
"""

from __future__ import annotations

import numpy as np

from .. import losses as _losses
from ..errors import fmt_shape
from ..layers.input_layer import InputLayer
from . import values as V


def _as_list(v):
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _layers(model):
    return [la for la in model.layers if not isinstance(la, InputLayer)]


def _prepare_x(model, x):
    """Input arrays with the batch axis, in the model's float type (channel axis added)."""
    xs = _as_list(x) if len(model.inputs) > 1 else [x]
    out = []
    for a, t in zip(xs, model.inputs):
        a = np.asarray(a, dtype=t.dtype)
        if a.ndim == len(t.shape) - 1 and t.shape[-1] == 1:
            a = a[..., None]
        if a.ndim != len(t.shape):
            raise ValueError(
                f"explain expects a batch of shape {fmt_shape(t.shape)} for model "
                f"'{model.name}', got shape {fmt_shape(a.shape)}. Add a batch "
                "axis for one sample: x[None]."
            )
        out.append(a)
    return out


def forward(model, xs):
    """Run every layer once (inference); returns the values by symbolic tensor id."""
    vals = {id(t): a for t, a in zip(model.inputs, xs)}
    for layer in _layers(model):
        ins = _as_list(layer.input)
        arrays = [vals[id(t)] for t in ins]
        vals[id(layer.output)] = layer.forward(
            arrays if len(ins) > 1 or isinstance(layer.input, list) else arrays[0], training=False
        )
    return vals


def backward(model, seeds, pre_activation=()):
    """Back-propagate from ``seeds`` ({tensor id: dLoss/dTensor}); returns the gradient of
    every tensor reached, by id. Layers named in ``pre_activation`` receive dLoss/dz of their
    pre-activation (their ``backward_preactivation`` runs)."""
    grads = dict(seeds)
    saved = []
    try:
        for layer in reversed(_layers(model)):
            g = grads.get(id(layer.output))
            if g is None:
                for name in layer.trainable_param_names():
                    layer.grads[name] = np.zeros_like(layer.params[name])
                continue
            saved.append((layer, layer.compute_input_grad))
            layer.compute_input_grad = True
            if layer.name in pre_activation:
                dx = layer.backward_preactivation(g)
            else:
                dx = layer.backward(g)
            ins = _as_list(layer.input)
            dxs = list(dx) if isinstance(layer.input, list) else [dx]
            for t, d in zip(ins, dxs):
                if d is None:
                    continue
                d = np.array(d)  # a layer may hand back a buffer it reuses
                grads[id(t)] = d if id(t) not in grads else grads[id(t)] + d
    finally:
        for layer, flag in saved:
            layer.compute_input_grad = flag
    return grads


def gradients(model, x, y, loss=None, sample_weight=None) -> dict:
    """The loss of batch (x, y) and its gradient for every weight and for the input.

    Args:
        model: a built model with one output, compiled with a loss (or pass ``loss``).
        x: a batch of inputs (the batch axis is required here).
        y: the targets, as for ``fit``.
        loss: a loss name or object to use instead of the model's compiled loss.
        sample_weight: optional per-sample weights, as for ``fit``.

    Returns:
        ``{"loss": float, "weights": {layer name: {weight name: array}}, "input": array}``:
        the loss includes the layers' regularization penalties, as in training; weights
        come layer by layer in Keras order (trainable weights only), each of the weight's
        shape; ``input`` has x's shape (a list for several inputs).
    """
    loss_obj = _losses.get(loss if loss is not None else getattr(model, "loss", None))
    if loss_obj is None:
        raise ValueError(
            f"explain.gradients needs a loss: model '{model.name}' was compiled "
            "without one. Compile it with loss=... or pass loss='mse' (a name or "
            "a Loss)."
        )
    if len(model.outputs) != 1:
        raise ValueError(
            f"explain.gradients handles models with one output; model "
            f"'{model.name}' has {len(model.outputs)}."
        )
    xs = _prepare_x(model, x)
    vals = forward(model, xs)
    out = vals[id(model.outputs[0])]
    value, g = loss_obj.forward_backward(np.asarray(y), out, sample_weight)
    grads = backward(model, {id(model.outputs[0]): g})
    weights = {}
    reg = 0.0
    for layer in _layers(model):
        names = layer.trainable_param_names()
        if not names:
            continue
        reg += layer.regularization_loss()
        layer.add_regularization_grads()
        weights[layer.name] = {n: np.array(layer.grads[n]) for n in names}
    dx = [grads.get(id(t), np.zeros_like(a)) for t, a in zip(model.inputs, xs)]
    return {"loss": float(value) + reg, "weights": weights, "input": dx if len(dx) > 1 else dx[0]}


def _class_score_grads(model, x, class_index, score, extra_tensor=None):
    """Forward one sample, then back-propagate d(score of class)/d(...). Returns
    (tensor values, tensor grads, class index)."""
    if len(model.outputs) != 1 or len(model.inputs) != 1:
        raise ValueError("saliency and grad_cam handle models with one input and one output.")
    xb = V.one_sample(model, x)
    xs = _prepare_x(model, xb)
    vals = forward(model, xs)
    out_t = model.outputs[0]
    out = vals[id(out_t)]
    if out.ndim != 2:
        raise ValueError(
            f"saliency and grad_cam expect class scores of shape (batch, classes), "
            f"got the output shape {fmt_shape(out_t.shape)} of model '{model.name}'."
        )
    if class_index is None:
        class_index = int(np.argmax(out[0]))
    if not 0 <= class_index < out.shape[1]:
        raise ValueError(
            f"class_index {class_index} is out of range: model '{model.name}' has "
            f"{out.shape[1]} classes (0..{out.shape[1] - 1})."
        )
    seed = np.zeros_like(out)
    seed[0, class_index] = 1.0
    last = out_t.node.layer
    pre = ()
    if score not in ("logit", "probability"):
        raise ValueError(f"score expects 'logit' or 'probability', got {score!r}.")
    if score == "logit" and getattr(getattr(last, "activation", None), "name", "") == "softmax":
        # The class score before the softmax (Simonyan et al.; Selvaraju et al.): softmax
        # couples the classes, so its probabilities' gradients mix in every other class.
        pre = (last.name,)
    grads = backward(model, {id(out_t): seed}, pre_activation=pre)
    return vals, grads, class_index


def saliency(model, x, class_index=None, score="logit", reduce="max"):
    """Saliency map of one sample: how much each input value moves the class score.

    ``|d score / d x|``, reduced over the channels by the maximum (Simonyan et al., 2014;
    ``reduce=None`` keeps the signed gradient with its channel axis). ``score="logit"``
    (default) differentiates the class's pre-softmax score where the model ends in a
    softmax, ``"probability"`` the output itself. ``class_index=None``: the predicted class.

    Example:
        >>> import numpy as np
        >>> import filterbank as keras
        >>> from filterbank import explain, layers
        >>> keras.utils.clear_session()
        >>> m = keras.Sequential([keras.Input(shape=(2, 2, 1)), layers.Flatten(),
        ...                       layers.Dense(2, use_bias=False, activation="softmax")])
        >>> m.layers[1].set_weights([np.array([[1.0, 0], [-2, 0], [0, 3], [0, 0]])])
        >>> explain.saliency(m, np.ones((2, 2)), class_index=0).tolist()
        [[1.0, 2.0], [0.0, 0.0]]
    """
    _, grads, _ = _class_score_grads(model, x, class_index, score)
    g = grads[id(model.inputs[0])][0]
    if reduce is None:
        return g
    if reduce != "max":
        raise ValueError(f"reduce expects 'max' or None, got {reduce!r}.")
    return np.abs(g).max(axis=-1)


def last_conv_layer(model):
    """The last Conv1D/Conv2D of the model (Grad-CAM's default layer)."""
    convs = [la for la in _layers(model) if type(la).__name__ in ("Conv1D", "Conv2D")]
    if not convs:
        raise ValueError(
            f"Model '{model.name}' has no Conv1D/Conv2D layer for Grad-CAM; pass "
            "layer= a layer with a spatial output."
        )
    return convs[-1]


def grad_cam(model, x, class_index=None, layer=None, score="logit"):
    """Grad-CAM (Selvaraju et al., 2017) of one sample at ``layer`` (default: the last conv).

    ``relu(sum_k alpha_k A_k)`` with ``alpha_k`` the spatial mean of d score/dA_k, where A
    is the layer's output: a map of the layer's spatial size (upsample it to overlay it on
    the input; :func:`filterbank.explain.plots.plot_grad_cam` does).

    Example:
        >>> import numpy as np
        >>> import filterbank as keras
        >>> from filterbank import explain, layers
        >>> keras.utils.clear_session()
        >>> m = keras.Sequential([keras.Input(shape=(4, 4, 1)), layers.Conv2D(2, 3),
        ...                       layers.GlobalAveragePooling2D(), layers.Dense(3)])
        >>> explain.grad_cam(m, np.ones((4, 4)), class_index=1).shape
        (2, 2)
    """
    la = last_conv_layer(model) if layer is None else V.resolve_layer(model, layer)
    vals, grads, _ = _class_score_grads(model, x, class_index, score)
    a = vals[id(la.output)][0].astype(np.float64)
    g = grads.get(id(la.output))
    g = np.zeros_like(a) if g is None else g[0].astype(np.float64)
    if a.ndim < 2:
        raise ValueError(
            f"grad_cam needs a layer with a spatial output, got '{la.name}' with "
            f"output shape {fmt_shape(la.output.shape)}."
        )
    alpha = g.reshape(-1, g.shape[-1]).mean(axis=0)
    return np.maximum((a * alpha).sum(axis=-1), 0.0)
