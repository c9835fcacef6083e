"""Engine-level fusion: ``BatchNormalization -> Activation("relu") -> MaxPooling2D`` as one step.

The graph engine (:mod:`filterbank.models.graph`) replaces such a chain with a
:class:`FusedBNReluPool` when each layer's output feeds only the next one and neither
intermediate is a model output. The training step then runs
:mod:`filterbank.ops.bn_relu_pool` (which implementation: ``kernels.choose("bn+relu+maxpool")``);
everything else -- inference, a frozen (``trainable=False``) or synchronised (distributed)
batch norm, shapes or dtypes the compiled kernels do not take -- runs the three layers one
after the other, exactly as without fusion.

The three layers stay ordinary layers (weights, ``grads``, configs, moving statistics);
only how the engine runs them differs. ``FILTERBANK_DISABLE_FUSION=1`` (read when a graph
is built) turns this fusion off with the conv + pool one.

Shapes: x (N, H, W, C) -> y (N, H//2, W//2, C).
"""

from __future__ import annotations

import numpy as np

from ..layers.core import Activation
from ..layers.normalization import BatchNormalization
from ..layers.pooling import MaxPooling2D
from ..ops import bn_relu_pool as _op
from ..ops import kernels as _kernels
from ..ops import normalization as _bn
from ..ops.workspace import Workspace


def can_fuse_bn(bn_step, act_step, pool_step) -> bool:
    """True when bn -> act(relu) -> pool may fuse, each step being the previous one's
    :func:`~filterbank.models.fusion.only_reader`."""
    bn, act, pool = bn_step.layer, act_step.layer, pool_step.layer
    return (
        type(bn) is BatchNormalization
        and not bn_step.multi
        and type(act) is Activation
        and act.activation.name == "relu"
        and type(pool) is MaxPooling2D
    )


class FusedBNReluPool:
    """One graph step running a BatchNormalization, its ReLU and the MaxPooling2D after it.

    Attributes (as a graph step): ``in_slots``, ``out_slot``, ``multi`` (False),
    ``layers`` (bn, act, pool), ``steps`` (the three original steps, run when not fused).
    """

    multi = False

    def __init__(self, bn_step, act_step, pool_step, internal_output=False, internal_input=False):
        self.steps = (bn_step, act_step, pool_step)
        self.bn, self.act, self.pool = (s.layer for s in self.steps)
        self.layers = (self.bn, self.act, self.pool)
        self.in_slots = list(bn_step.in_slots)
        self.out_slot = pool_step.out_slot
        self.internal_output, self.internal_input = internal_output, internal_input
        # y, argmax, winners and dz reused from step to step (no page faults on first touch)
        self.workspace = Workspace()
        self._cache = None  # ("fused", cache) or ("layers", None)

    def __repr__(self):
        return f"<FusedBNReluPool {self.bn.name} + {self.act.name} + {self.pool.name}>"

    def _query(self, shape, dtype):
        pool = self.pool
        return _kernels.Query(
            tuple(shape),
            np.dtype(dtype),
            pool_size=pool.pool_size,
            pool_strides=pool.strides,
            pool_padding=pool.padding,
        )

    def _fused_kernel(self, x, training):
        """The fused kernel for this call, or None: the three layers run instead."""
        bn = self.bn
        if not (training and bn.trainable and bn.stats_reducer is None):
            return None
        if x.ndim != 4 or bn.axis % 4 != 3 or x.dtype not in _kernels.FLOATS:
            return None
        return _kernels.choose("bn+relu+maxpool", self._query(x.shape, x.dtype))

    def kernel_for(self, shape, dtype, training=False):
        if not training:
            return _kernels.Kernel("layers", reason="inference runs the three layers")
        k = _kernels.choose("bn+relu+maxpool", self._query(shape, dtype))
        return _kernels.Kernel(f"bn+relu+pool:{k.name}", k.fn, k.reason)

    # ---- forward ------------------------------------------------------------------------------
    def forward(self, x, training=False):
        kernel = self._fused_kernel(x, training)
        if kernel is None:
            self._cache = ("layers", None)
            for step in self.steps:
                x = step.forward(x, training)
            return x
        bn, pool = self.bn, self.pool
        bn.check_input_shape(x.shape)
        pool.compute_output_shape(x.shape)  # the pooling layer's own check and message
        impl = "numba" if kernel.name == "numba" else "reference"
        buffers = self.workspace if (self.internal_output and impl == "numba") else None
        y, cache = _op.forward(
            x,
            bn.params.get("gamma"),
            bn.params.get("beta"),
            bn.epsilon,
            pool.pool_size,
            pool.strides,
            pool.padding,
            impl=impl,
            buffers=buffers,
        )
        _bn.update_moving(bn.params["moving_mean"], cache.mean, bn.momentum)
        _bn.update_moving(bn.params["moving_variance"], cache.var, bn.momentum)
        self._cache = ("fused", cache)
        return y

    def predict(self, x):
        for step in self.steps:
            x = step.predict(x)
        return x

    # ---- backward -----------------------------------------------------------------------------
    def backward(self, grad):
        mode, cache = self._cache
        if mode == "layers":
            for step in reversed(self.steps):
                grad = step.backward(grad)
                if grad is None:
                    return None
            return grad
        bn, pool = self.bn, self.pool
        need_dz = bn.compute_input_grad
        out = None
        if need_dz and self.internal_input and cache.impl == "numba":
            out = self.workspace.get("dz", cache.z.shape, cache.z.dtype)
        dz, dgamma, dbeta = _op.backward(
            grad, cache, need_dz, (pool.pool_size, pool.strides, pool.padding), out=out
        )
        if bn.scale:
            bn.grads["gamma"] = dgamma.astype(bn.params["gamma"].dtype, copy=False)
        if bn.center:
            bn.grads["beta"] = dbeta.astype(bn.params["beta"].dtype, copy=False)
        return dz

    def backward_preactivation(self, grad):  # never an output layer: nothing reads this
        raise NotImplementedError("a fused batch norm + relu + pool step is never a model output")
