"""Engine-level fusion: ``Conv2D(relu or linear) -> MaxPooling2D`` run as one step.

The graph engine (:mod:`filterbank.models.graph`) replaces such a pair with a
:class:`FusedConvPool` when the convolution's output feeds only the pooling layer and is
not a model output. The fused step computes exactly what the two layers compute:

    forward:   z = conv(x) (no bias)  ->  y = relu(maxpool(z + b))      [ops/fused.py]
    backward:  dy -> (dz, db) through relu and the pool's argmax  ->  conv backward of dz

The bias and the ReLU move after the pooling (max commutes with a per-channel bias and
with any non-decreasing function), so they run on the 4x smaller pooled map, and the
full-size ``relu(z + b)`` map is never written. The compiled kernel adds the bias while it
scans each window, so the output, the argmax and every gradient are bit-identical to the
unfused layers (the bias gradient is summed in another order: equal within float
rounding). The raw map ``z`` and its gradient live in a workspace reused every step.

Both layers stay ordinary layers: their weights, ``grads``, configs and summaries are
unchanged; only how the engine runs them differs. ``Graph(..., fuse=False)`` or the
environment variable ``FILTERBANK_DISABLE_FUSION=1`` turns fusion off.

Shapes: x (N, H, W, C) -> y (N, OH, OW, F) (the pooling layer's output).
"""

from __future__ import annotations

import os

import numpy as np

from ..layers.convolutional import Conv2D
from ..layers.pooling import MaxPooling2D
from ..ops import fused as _fused
from ..ops.workspace import Workspace

FUSABLE_ACTIVATIONS = _fused.ACTIVATIONS  # non-decreasing: they commute with max


def fusion_enabled() -> bool:
    return os.environ.get("FILTERBANK_DISABLE_FUSION", "").strip() in ("", "0")


def can_fuse(conv_step, pool_step, consumers, output_slots) -> bool:
    """True when ``pool_step`` is the only reader of ``conv_step``'s output and the pair fits."""
    conv, pool = conv_step.layer, pool_step.layer
    return (
        type(conv) is Conv2D
        and type(pool) is MaxPooling2D
        and not pool_step.multi
        and pool_step.in_slots == [conv_step.out_slot]
        and consumers[conv_step.out_slot] == 1
        and conv_step.out_slot not in output_slots
        and conv.activation.name in FUSABLE_ACTIVATIONS
        and pool.padding in ("valid", "same")
    )


class FusedConvPool:
    """One graph step running a Conv2D and the MaxPooling2D that reads it.

    Attributes (as a graph step): ``in_slots`` (the convolution's input), ``out_slot``
    (the pooling output), ``multi`` (False), ``layers`` (conv, pool).
    """

    multi = False

    def __init__(self, conv_step, pool_step):
        self.conv = conv_step.layer
        self.pool = pool_step.layer
        self.layers = (self.conv, self.pool)
        self.in_slots = list(conv_step.in_slots)
        self.mid_slot = conv_step.out_slot
        self.out_slot = pool_step.out_slot
        self.workspace = Workspace()  # the raw map z and its gradient dz
        self._cache = None

    def __repr__(self):
        return f"<FusedConvPool {self.conv.name} + {self.pool.name}>"

    # ---- forward ------------------------------------------------------------------------------
    def _raw_conv(self, x):
        """(z, plan, col, kernel, bias): the convolution without bias, into the workspace."""
        conv, pool = self.conv, self.pool
        if x.dtype.kind != "f":
            x = x.astype(conv.compute_dtype)
        plan = conv.plan_for(x.shape)
        pool._output_spatial(plan.out_shape)  # the pooling layer's own check and message
        x = np.ascontiguousarray(x)
        w, b = conv._weights_as(x.dtype)
        z = self.workspace.get("z", plan.out_shape, x.dtype)
        z, col = plan.forward(x, w, None, ws=conv.workspace, out=z)
        return z, plan, col, w, b

    def forward(self, x, training=False):
        """y = maxpool(act(conv(x) + b)); keeps what :meth:`backward` needs."""
        z, plan, col, w, b = self._raw_conv(x)
        pool = self.pool
        y, arg = _fused.bias_act_max_pool2d_forward(
            z, b, self.conv.activation.name, pool.pool_size, pool.strides, pool.padding,
            return_argmax=True)
        self._cache = (plan, col, w, y, arg)
        return y

    def predict(self, x):
        """The forward for inference: nothing kept for a backward pass."""
        z, _, _, _, b = self._raw_conv(x)
        pool = self.pool
        return _fused.bias_act_max_pool2d_forward(
            z, b, self.conv.activation.name, pool.pool_size, pool.strides, pool.padding)

    # ---- backward -----------------------------------------------------------------------------
    def backward(self, grad):
        """dLoss/dx from dLoss/dy; sets the convolution's ``grads`` (kernel, bias)."""
        conv, pool = self.conv, self.pool
        plan, col, w, y, arg = self._cache
        grad = np.ascontiguousarray(grad, dtype=y.dtype)
        dz = self.workspace.get("dz", plan.out_shape, y.dtype)
        dz, db = _fused.bias_act_max_pool2d_backward(
            grad, y, arg, plan.out_shape, conv.activation.name, pool.pool_size, pool.strides,
            pool.padding, need_db=conv.use_bias, out=dz)
        dx, dw, _ = plan.backward(dz, w, col, need_dx=conv.compute_input_grad, need_db=False,
                                  ws=conv.workspace)
        conv.grads["kernel"] = dw
        if conv.use_bias:
            conv.grads["bias"] = db
        return dx if conv.compute_input_grad else None

    backward_preactivation = None  # never an output layer (the pool's output has no activation)
