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
rounding; without numba, pooling first can route a gradient to the other one of two cells
that only rounding made equal).

Also, per input shape (resolved once, :meth:`FusedConvPool._plan_for`):

* crop: a "valid" pooling that never reads the last rows/columns of the convolution (2x2
  pooling of an 11x11 map) lets the convolution skip them;
* chunks: large batches or images run in chunks of samples small enough for the cache
  (``COL_LIMIT_ELEMENTS``), which also bounds memory;
* buffers: the raw map z, its gradient and, when the graph says they stay inside it, the
  pooled output, the argmax and the input gradient live in workspaces reused every step;
* inference: :meth:`FusedConvPool.predict` keeps a lean function per input shape.

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
from ..ops import conv_gemm as _conv_gemm
from ..ops import direct as _direct
from ..ops import fused as _fused
from ..ops import pool as _pool
from ..ops import winograd as _winograd
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

    def __init__(self, conv_step, pool_step, internal_output=False, internal_input=False):
        self.conv = conv_step.layer
        self.pool = pool_step.layer
        self.layers = (self.conv, self.pool)
        self.in_slots = list(conv_step.in_slots)
        self.mid_slot = conv_step.out_slot
        self.out_slot = pool_step.out_slot
        # The raw map z and its gradient dz; and, when the graph says nobody outside it can
        # hold them, the pooled output and argmax (``internal_output``: not a model output)
        # and the input gradient (``internal_input``: not a model input). A training step
        # then allocates no large array afresh: fresh multi-megabyte arrays cost page
        # faults on first touch, measured at a quarter of a step on a small VM.
        self.workspace = Workspace()
        self.internal_output = internal_output
        self.internal_input = internal_input
        self._cache = None
        self._plans: dict = {}  # input shape (and settings) -> (plan, chunks)
        self._predictors: dict = {}  # (shape, dtype) -> lean inference function or None

    def __repr__(self):
        return f"<FusedConvPool {self.conv.name} + {self.pool.name}>"

    def __getstate__(self):
        # The inference functions close over the layers' weights: a copy of the model
        # (copy.deepcopy) must make its own, not call the original's.
        return {**self.__dict__, "_predictors": {}}

    # ---- forward ------------------------------------------------------------------------------
    def _prepare(self, x):
        """(x, plan, kernel, bias, chunks) for input x: see :meth:`_plan_for`."""
        conv = self.conv
        if x.dtype.kind != "f":
            x = x.astype(conv.compute_dtype)
        plan, chunks = self._plan_for(x.shape)
        x = np.ascontiguousarray(x)
        w, b = conv._weights_as(x.dtype)
        return x, plan, w, b, chunks

    def _plan_for(self, shape):
        """(plan, chunks) for an input shape: checked, cropped and chunked once per shape.

        * The checks are the layers' own (their messages name the layer at fault).
        * Crop: a "valid" pooling whose windows stop short of the edge (2x2 pooling of an
          11x11 map reads 10x10) never reads the last rows/columns of the convolution, so the
          plan computes only the rows and columns it reads (the same numbers, 17% fewer
          FLOPs in that example; their gradient would be zero anyway).
        * Chunks: the raw map z of one chunk lives in the workspace; chunks keep it (and the
          column matrix) below ``COL_LIMIT_ELEMENTS`` for large batches or images.
        """
        conv, pool = self.conv, self.pool
        key = (shape, conv.kernel_size, conv.strides, conv.padding, conv.dilation_rate,
               pool.pool_size, pool.strides, pool.padding, _conv_gemm.COL_LIMIT_ELEMENTS)
        hit = self._plans.get(key)
        if hit is not None:
            return hit
        plan = conv.plan_for(shape)
        pool._output_spatial(plan.out_shape)  # the pooling layer's own check and message
        if pool.padding == "valid":
            pooled = pool.compute_output_shape(plan.out_shape)[1:3]
            used = tuple((o - 1) * s + k for o, s, k in zip(pooled, pool.strides,
                                                            pool.pool_size))
            if used != plan.out_hw:
                plan = _conv_gemm.ConvPlan(plan.x_shape, plan.w_shape, plan.strides, plan.pads,
                                           plan.dilation, plan.impl, crop_hw=used)
        _, ho, wo, f = plan.out_shape
        size = min(plan.chunk, max(1, _conv_gemm.COL_LIMIT_ELEMENTS // (ho * wo * f)))
        if len(self._plans) >= 8:  # bounded: a stream of odd shapes must not pile up
            self._plans.clear()
        self._plans[key] = hit = (plan, plan.chunks(size))
        return hit

    def _pool_args(self):
        pool = self.pool
        return self.conv.activation.name, pool.pool_size, pool.strides, pool.padding

    def forward(self, x, training=False):
        """y = maxpool(act(conv(x) + b)); keeps what :meth:`backward` needs."""
        x, plan, w, b, chunks = self._prepare(x)
        act = self._pool_args()
        y, arg = self._outputs(plan, x.dtype)
        if len(chunks) == 1:
            z = self.workspace.get("z", plan.out_shape, x.dtype)
            z, col = plan.forward(x, w, None, ws=self.conv.workspace, out=z)
            _fused.bias_act_max_pool2d_forward(z, b, *act, return_argmax=True, out=y,
                                               argmax_out=arg)
            self._cache = (plan, chunks, col, None, w, y, arg)
            return y
        for i, j, sub in chunks:
            z = self.workspace.get("z", sub.out_shape, x.dtype)
            z, _ = sub.forward(x[i:j], w, None, ws=self.conv.workspace, out=z)
            _fused.bias_act_max_pool2d_forward(z, b, *act, return_argmax=True, out=y[i:j],
                                               argmax_out=arg[i:j])
        # Chunked: no column matrix is kept; the backward rebuilds it from x.
        self._cache = (plan, chunks, None, x, w, y, arg)
        return y

    def _outputs(self, plan, dtype, argmax=True):
        """(y, argmax) arrays for the pooled output: workspace buffers when internal."""
        pool = self.pool
        out_hw, _ = _pool.pool_geometry(plan.out_hw, pool.pool_size, pool.strides, pool.padding)
        shape = (plan.x_shape[0], *out_hw, plan.w_shape[3])
        arg_dtype = _pool._argmax_dtype(pool.pool_size)
        if self.internal_output:
            y = self.workspace.get("y", shape, dtype)
            arg = self.workspace.get("argmax", shape, arg_dtype) if argmax else None
        else:
            y = np.empty(shape, dtype)
            arg = np.empty(shape, arg_dtype) if argmax else None
        return y, arg

    def predict(self, x):
        """The forward for inference: nothing kept for a backward pass.

        The first call for an input shape and dtype checks and resolves everything and
        keeps a lean function for that shape (see :meth:`_lean_predictor`).
        """
        key = (x.shape, x.dtype)
        fn = self._predictors.get(key, False)
        if fn is False:
            fn = self._lean_predictor(x.shape, x.dtype)
            if len(self._predictors) >= 8:  # bounded: a stream of odd shapes must not pile up
                self._predictors.clear()
            self._predictors[key] = fn
        return self._predict(x) if fn is None else fn(x)

    def _lean_predictor(self, shape, dtype):
        """``x -> y`` with the geometry resolved, the raw map in a buffer of its own and the
        compiled pooling kernel called directly; None when the general path must run
        (another dtype, no numba)."""
        conv, pool = self.conv, self.pool
        kernels = _pool.numba_kernels()
        if (kernels is None or dtype not in (np.float32, np.float64)
                or conv.params["kernel"].dtype != dtype):
            return None
        x, plan, _, _, chunks = self._prepare(np.empty(shape, dtype))  # the checks, once
        params, use_bias = conv.params, conv.use_bias
        internal, self_ws = self.internal_output, self.workspace
        relu = conv.activation.name == "relu"
        geometry = (conv.kernel_size, conv.strides, conv.dilation_rate, conv.padding,
                    pool.pool_size, pool.strides, pool.padding, shape)
        special, fast = None, _winograd.fast_conv_enabled()
        if fast and _direct.numba_kernels() is not None and _direct.supports(*geometry):
            # 3x3 on one channel: a direct compiled kernel (ops/direct.py), no column matrix
            special = _direct.DirectConvPool(shape, conv.filters, dtype, conv.padding)
        elif fast and _winograd.numba_kernels() is not None and _winograd.supports(*geometry):
            # 3x3 convolution + 2x2 pooling: Winograd F(2x2, 3x3), 2.25x fewer multiplies
            # (ops/winograd.py). Both equal the GEMM path within float rounding.
            special = _winograd.WinogradConvPool(shape, conv.filters, dtype, conv.padding)
        if special is not None:
            special_shape = special.out_shape

            def run_special(x):
                y = (self_ws.get("y", special_shape, dtype) if internal
                     else np.empty(special_shape, dtype))
                return special.run(np.ascontiguousarray(x), params["kernel"],
                                   params["bias"] if use_bias else None, relu, y)

            run_special.kernel = special.kernel
            return run_special
        k, f = int(np.prod(plan.w_shape[:3])), plan.w_shape[3]
        zs = np.empty(chunks[0][2].out_shape, dtype)  # the raw map of one chunk
        cols = {}  # one im2col function per chunk size
        pieces = [(i, j, cols.setdefault(j - i, sub.im2col_fn(dtype)), zs[:j - i],
                   zs[:j - i].reshape(-1, f)) for i, j, sub in chunks]
        channel_major = plan.layout == "channel"
        no_bias = np.zeros(f, dtype)
        out_hw, pads = _pool.pool_geometry(plan.out_hw, pool.pool_size, pool.strides,
                                           pool.padding)
        y_shape = (plan.x_shape[0], *out_hw, f)
        no_arg = np.empty((1, 1, 1, 1), np.uint8)
        if _fused._is_2x2(pool.pool_size, pool.strides, pads):
            kernel, geometry = kernels.bias_act_max_pool2x2_forward, ()
        else:
            kernel = kernels.bias_act_max_pool2d_forward
            geometry = (*pool.pool_size, *pool.strides, pads[0][0], pads[1][0])

        def run(x):
            x = np.ascontiguousarray(x)
            w2 = params["kernel"].reshape(k, f)
            b = params["bias"] if use_bias else no_bias
            y = self_ws.get("y", y_shape, dtype) if internal else np.empty(y_shape, dtype)
            for i, j, im2col, z, z2 in pieces:
                col = im2col(x[i:j])
                np.matmul(col.T if channel_major else col, w2, out=z2)
                kernel(z, b, relu, *geometry, y[i:j], no_arg, False)
            return y

        run.kernel = "gemm"
        return run

    def _predict(self, x):
        x, plan, w, b, chunks = self._prepare(x)
        act = self._pool_args()
        y, _ = self._outputs(plan, x.dtype, argmax=False)
        for i, j, sub in chunks:
            z = self.workspace.get("z", sub.out_shape, x.dtype)
            z, _ = sub.forward(x[i:j], w, None, ws=self.conv.workspace, out=z)
            _fused.bias_act_max_pool2d_forward(z, b, *act, out=y[i:j])
        return y

    # ---- backward -----------------------------------------------------------------------------
    def backward(self, grad):
        """dLoss/dx from dLoss/dy; sets the convolution's ``grads`` (kernel, bias)."""
        conv = self.conv
        plan, chunks, col, x, w, y, arg = self._cache
        grad = np.ascontiguousarray(grad, dtype=y.dtype)
        act = self._pool_args()
        need_dx = conv.compute_input_grad
        dx = None
        if need_dx:
            dx = (self.workspace.get("dx", plan.x_shape, y.dtype) if self.internal_input
                  else np.empty(plan.x_shape, dtype=y.dtype))
        dw = db = None
        for i, j, sub in chunks:
            dz = self.workspace.get("dz", sub.out_shape, y.dtype)
            dz, dbc = _fused.bias_act_max_pool2d_backward(
                grad[i:j], y[i:j], arg[i:j], sub.out_shape, *act, need_db=conv.use_bias, out=dz)
            # The kernel gradient goes straight into the layer's gradient buffer (first
            # chunk), later chunks add their part.
            part = conv.grad_buffer("kernel", w.dtype) if dw is None else \
                self.workspace.get("dw_part", w.shape, w.dtype)
            _, dwc, _ = sub.backward(dz, w, col, need_dx=need_dx, need_db=False,
                                     ws=conv.workspace, x=None if x is None else x[i:j],
                                     dx_out=None if dx is None else dx[i:j], dw_out=part)
            if dw is None:
                dw = dwc
            else:
                dw += dwc
            if dbc is not None:
                db = dbc if db is None else db + dbc
        conv.grads["kernel"] = dw
        if conv.use_bias:
            conv.grads["bias"] = db
        return dx if need_dx else None

    backward_preactivation = None  # never an output layer (the pool's output has no activation)
