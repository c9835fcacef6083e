"""Engine-level fusion: ``Conv2D(relu or linear) -> MaxPooling2D`` run as one step.

The graph engine (:mod:`filterbank.models.graph`) replaces such a pair with a
:class:`FusedConvPool` when the convolution's output feeds only the pooling layer and is
not a model output. This module only matches the pattern (:func:`only_reader`, shared
with the other fusions, and :func:`can_fuse`) and adapts the two layers (their checks,
weights, gradients and workspaces) to the fused operation, whose math -- crop, chunks,
workspaces, the GEMM loop, the backward, the lean inference functions -- lives in
:mod:`filterbank.ops.fused_plan`; which inference kernel runs is decided by
:mod:`filterbank.ops.kernels`.

The same numbers as the two layers within float rounding, **not bit for bit**: the
training forward is identical, but gradients and predictions are summed in other orders
(measured on the seed functional model, float32: gradients within 2.6e-6 and predictions
within 2.5e-7 of their largest values; see :mod:`filterbank.ops.fused_plan`).

Both layers stay ordinary layers: their weights, ``grads``, configs and summaries are
unchanged; only how the engine runs them differs. ``Graph(..., fuse=False)`` or the
environment variable ``FILTERBANK_DISABLE_FUSION=1`` (read when a graph is built) turns
fusion off.

Shapes: x (N, H, W, C) -> y (N, OH, OW, F) (the pooling layer's output).
"""

from __future__ import annotations

import numpy as np

from ..layers.convolutional import Conv2D
from ..layers.pooling import MaxPooling2D
from ..ops import conv_gemm as _conv_gemm
from ..ops import fused as _fused
from ..ops import kernels as _kernels
from ..ops.fused_plan import ConvPoolCache, ConvPoolOp
from ..ops.kernels import fusion_enabled  # noqa: F401  (graph.py imports it from here)

FUSABLE_ACTIVATIONS = _fused.ACTIVATIONS  # non-decreasing: they commute with max


def readers_of(steps) -> dict[int, list]:
    """slot -> the steps reading it (a step reading a slot twice is listed twice)."""
    readers: dict[int, list] = {}
    for step in steps:
        for s in step.in_slots:
            readers.setdefault(s, []).append(step)
    return readers


def only_reader(step, readers, consumers, outputs):
    """The one single-input step reading ``step``'s output, or None: the rule every
    engine fusion (here, :mod:`.fusion_bn`, :mod:`.fold`) needs before it may keep an
    intermediate map to itself (no fan-out, not a model output)."""
    nxt = readers.get(step.out_slot, [])
    if (
        len(nxt) != 1
        or consumers[step.out_slot] != 1
        or step.out_slot in outputs
        or getattr(nxt[0], "multi", True)
        or not hasattr(nxt[0], "layer")
    ):
        return None
    return nxt[0]


def can_fuse(conv_step, pool_step) -> bool:
    """True when the pair fits, ``pool_step`` being ``conv_step``'s :func:`only_reader`."""
    conv, pool = conv_step.layer, pool_step.layer
    return (
        type(conv) is Conv2D
        and type(pool) is MaxPooling2D
        and conv.activation.name in FUSABLE_ACTIVATIONS
        and pool.padding in ("valid", "same")
    )


class FusedConvPool:
    """One graph step running a Conv2D and the MaxPooling2D that reads it.

    Attributes (as a graph step): ``in_slots`` (the convolution's input), ``out_slot``
    (the pooling output), ``multi`` (False), ``layers`` (conv, pool), ``op`` (the
    :class:`~filterbank.ops.fused_plan.ConvPoolOp` that computes).
    """

    multi = False

    def __init__(self, conv_step, pool_step, internal_output=False, internal_input=False):
        self.conv = conv_step.layer
        self.pool = pool_step.layer
        self.layers = (self.conv, self.pool)
        self.in_slots = list(conv_step.in_slots)
        self.mid_slot = conv_step.out_slot
        self.out_slot = pool_step.out_slot
        pool = self.pool
        self.op = ConvPoolOp(
            pool.pool_size,
            pool.strides,
            pool.padding,
            self.conv.activation.name,
            internal_output,
            internal_input,
        )
        self._cache: ConvPoolCache | None = None
        self._plans: dict = {}  # input shape (and settings) -> (plan, chunks)
        self._predictors = _kernels.KeptFunctions()  # (shape, dtype) -> lean function or None

    @property
    def workspace(self):
        return self.op.workspace

    def __repr__(self):
        return f"<FusedConvPool {self.conv.name} + {self.pool.name}>"

    # ---- forward ------------------------------------------------------------------------------
    def _prepare(self, x):
        """(x, plan, kernel, bias, chunks) for input x: see :meth:`_plan_for`."""
        if x.dtype.kind != "f":
            x = x.astype(self.conv.compute_dtype)
        plan, chunks = self._plan_for(x.shape)
        x = np.ascontiguousarray(x)
        w, b = self.conv.weights_as(x.dtype)
        return x, plan, w, b, chunks

    def _plan_for(self, shape):
        """(plan, chunks) for an input shape: the layers' own checks (their messages name the
        layer at fault), then :meth:`ConvPoolOp.resolve` (crop, chunks), once per shape."""
        conv, pool = self.conv, self.pool
        key = (
            shape,
            conv.kernel_size,
            conv.strides,
            conv.padding,
            conv.dilation_rate,
            pool.pool_size,
            pool.strides,
            pool.padding,
            _conv_gemm.COL_LIMIT_ELEMENTS,
        )
        hit = self._plans.get(key)
        if hit is not None:
            return hit
        plan = conv.plan_for(shape)
        pool.compute_output_shape(plan.out_shape)  # the pooling layer's own check and message
        if len(self._plans) >= 8:  # bounded: a stream of odd shapes must not pile up
            self._plans.clear()
        self._plans[key] = hit = self.op.resolve(plan)
        return hit

    def forward(self, x, training=False):
        """y = maxpool(act(conv(x) + b)); keeps what :meth:`backward` needs."""
        x, plan, w, b, chunks = self._prepare(x)
        y, self._cache = self.op.forward(x, plan, chunks, w, b, self.conv.workspace)
        return y

    def _epilogue(self) -> tuple[str, bool]:
        """(activation name, bias added) after the pooling: the convolution's own."""
        return self.conv.activation.name, self.conv.use_bias

    def _query(self, shape, dtype):
        conv, pool = self.conv, self.pool
        return _kernels.Query(
            tuple(shape),
            np.dtype(dtype),
            conv.kernel_size,
            conv.strides,
            conv.dilation_rate,
            conv.padding,
            *self._epilogue(),
            pool.pool_size,
            pool.strides,
            pool.padding,
            conv.params["kernel"].dtype,
        )

    def kernel_for(self, shape, dtype, training=False) -> _kernels.Kernel:
        """The kernel of this step for inputs of ``shape`` and ``dtype``: for inference
        ``kernels.choose("conv2d+maxpool", ...)``; training runs the im2col GEMM and the
        fused pooling pass (compiled or NumPy) whatever the geometry."""
        q = self._query(shape, dtype)
        if training:
            pool = _kernels.choose("maxpool", q)
            return _kernels.Kernel(
                "gemm+pool" if pool.name == "numba" else "gemm+numpy-pool", reason=pool.reason
            )
        return _kernels.choose("conv2d+maxpool", q)

    def predict(self, x):
        """The forward for inference: nothing kept for a backward pass.

        The first call for an input shape and dtype checks and resolves everything and
        keeps a lean function for that shape (:meth:`ConvPoolOp.predictor`).
        """
        fn = self._predictors.get(x, self._lean_predictor)
        return self._predict(x) if fn is None else fn(x)

    def _lean_predictor(self, shape, dtype):
        kernel = self.kernel_for(shape, dtype)
        if kernel.name not in ("direct", "winograd", "gemm+pool"):
            return None
        _, plan, _, _, chunks = self._prepare(np.empty(shape, dtype))  # the checks, once
        conv = self.conv
        return self.op.predictor(
            kernel, plan, chunks, dtype, conv.params, conv.use_bias, conv.padding
        )

    def _predict(self, x):
        x, plan, w, b, chunks = self._prepare(x)
        return self.op.predict(x, plan, chunks, w, b, self.conv.workspace)

    # ---- backward -----------------------------------------------------------------------------
    def backward(self, grad):
        """dLoss/dx from dLoss/dy; sets the convolution's ``grads`` (kernel, bias)."""
        conv = self.conv
        cache = self._cache
        dx, dw, db = self.op.backward(
            grad,
            cache,
            conv.compute_input_grad,
            conv.use_bias,
            conv.workspace,
            conv.grad_buffer("kernel", cache.w.dtype),
        )
        conv.grads["kernel"] = dw
        if conv.use_bias:
            conv.grads["bias"] = db
        return dx

    def backward_preactivation(self, grad):  # never an output layer: nothing reads this
        raise NotImplementedError("a fused conv + pool step is never a model output")
