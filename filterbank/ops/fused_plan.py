"""A 2D convolution followed by bias, activation and max pooling, run as one operation.

The math of one fused ``Conv2D(relu|linear) -> MaxPooling2D`` step, without the layers
(:mod:`filterbank.models.fusion` matches the pattern and adapts the layers to this):

    forward:   z = conv(x) (no bias)  ->  y = act(maxpool(z + b))      [ops/fused.py]
    backward:  dy -> (dz, db) through act and the pool's argmax  ->  conv backward of dz

The bias and the ReLU move after the pooling (max commutes with a per-channel bias and
with any non-decreasing function), so they run on the 4x smaller pooled map and the
full-size ``relu(z + b)`` map is never written.

**Not bit-identical** to the two layers run one after the other. The training forward
is (the compiled kernel adds the bias while it scans each window, and ``fl(max(z) + b) ==
max(fl(z + b))``), but the bias gradient is summed over the pooled map in another order,
the chunked convolution adds its kernel gradient in parts, and the inference kernels
(direct, Winograd) sum in other orders. Measured on the seed functional model (float32,
batch 64, 5 seeds, ``Graph(fuse=True)`` against ``fuse=False``): training outputs equal
bit for bit; weight gradients within 1.2e-6 (2.6e-6 of each gradient's largest value);
``predict`` within 3e-8 (2.5e-7 relative). ``tests/models/test_fusion.py`` holds them to
1e-5 and 2e-6 relative.

Per input shape (:meth:`ConvPoolOp.resolve`): crop (a "valid" pooling that never reads the
last rows/columns of the convolution lets the convolution skip them) and chunks (large
batches run in chunks of samples small enough for the cache, ``COL_LIMIT_ELEMENTS``).
Buffers: the raw map z and its gradient, and -- when the caller says they stay inside the
graph -- the pooled output, its argmax and the input gradient, live in a workspace.

Shapes: x (N, H, W, C), w (kh, kw, C, F), b (F,) -> y (N, OH, OW, F).

Example:
    >>> import numpy as np
    >>> from filterbank.ops.conv_gemm import ConvPlan
    >>> op = ConvPoolOp((2, 2), (2, 2), "valid", "relu")
    >>> plan, chunks = op.resolve(ConvPlan((1, 5, 5, 1), (2, 2, 1, 3), (1, 1), ((0, 0),) * 2,
    ...                                    (1, 1)))
    >>> y, cache = op.forward(np.ones((1, 5, 5, 1)), plan, chunks, np.ones((2, 2, 1, 3)),
    ...                       np.zeros(3))
    >>> y.shape, float(y.max())
    ((1, 2, 2, 3), 4.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import conv_gemm as _conv_gemm
from . import fused as _fused
from . import pool as _pool
from .conv_infer import transform_predictor
from .kernels import Kernel
from .workspace import Workspace


@dataclass
class ConvPoolCache:
    """What :meth:`ConvPoolOp.backward` needs from the forward."""

    plan: _conv_gemm.ConvPlan  # the (cropped) convolution of the whole batch
    chunks: list  # [(start, stop, sub-plan)]
    col: np.ndarray | None  # the column matrix (one chunk), else None: rebuilt from x
    x: np.ndarray | None  # the input, kept when chunked
    w: np.ndarray  # the kernel in the input's dtype
    y: np.ndarray  # the pooled output
    argmax: np.ndarray  # each window's winning offset


class ConvPoolOp:
    """The fused conv + bias + activation + max pool of one model step, with its buffers.

    Args:
        pool_size, pool_strides: (rows, cols); pool_padding: "valid" or "same".
        activation: "relu" or "linear" (non-decreasing: commutes with max).
        internal_output: the pooled output and argmax may live in the workspace (nobody
            outside the graph keeps them); internal_input: so may the input gradient.
    """

    def __init__(
        self,
        pool_size,
        pool_strides,
        pool_padding,
        activation,
        internal_output=False,
        internal_input=False,
    ):
        if activation not in _fused.ACTIVATIONS:
            from ..errors import unknown_name

            raise unknown_name("fused pooling activation", activation, _fused.ACTIVATIONS)
        self.pool_size, self.pool_strides = tuple(pool_size), tuple(pool_strides)
        self.pool_padding, self.activation = pool_padding, activation
        self.internal_output, self.internal_input = internal_output, internal_input
        # The raw map z and its gradient; the pooled output, argmax and dx when internal.
        # A training step then allocates no large array afresh: fresh multi-megabyte arrays
        # cost page faults on first touch, measured at a quarter of a step on a small VM.
        self.workspace = Workspace()

    @property
    def pool_args(self):
        return self.activation, self.pool_size, self.pool_strides, self.pool_padding

    def resolve(self, plan: _conv_gemm.ConvPlan):
        """(plan, chunks) for the convolution ``plan`` of the whole batch: cropped to what the
        pooling reads, and chunked to keep the raw map under ``COL_LIMIT_ELEMENTS``."""
        if self.pool_padding == "valid":
            out_hw, _ = _pool.pool_geometry(plan.out_hw, self.pool_size, self.pool_strides)
            used = tuple(
                (o - 1) * s + k for o, s, k in zip(out_hw, self.pool_strides, self.pool_size)
            )
            if used != plan.out_hw:
                plan = _conv_gemm.ConvPlan(
                    plan.x_shape,
                    plan.w_shape,
                    plan.strides,
                    plan.pads,
                    plan.dilation,
                    plan.impl,
                    crop_hw=used,
                )
        _, ho, wo, f = plan.out_shape
        size = min(plan.chunk, max(1, _conv_gemm.COL_LIMIT_ELEMENTS // (ho * wo * f)))
        return plan, plan.chunks(size)

    def outputs(self, plan, dtype, argmax=True):
        """(y, argmax) arrays for the pooled output: workspace buffers when internal."""
        out_hw, _ = _pool.pool_geometry(
            plan.out_hw, self.pool_size, self.pool_strides, self.pool_padding
        )
        shape = (plan.x_shape[0], *out_hw, plan.w_shape[3])
        arg_dtype = _pool._argmax_dtype(self.pool_size)
        if self.internal_output:
            y = self.workspace.get("y", shape, dtype)
            arg = self.workspace.get("argmax", shape, arg_dtype) if argmax else None
        else:
            y = np.empty(shape, dtype)
            arg = np.empty(shape, arg_dtype) if argmax else None
        return y, arg

    # ---- training -----------------------------------------------------------------------------
    def forward(self, x, plan, chunks, w, b, conv_ws=None):
        """(y, cache): y = act(maxpool(conv(x, w) + b)); x C-contiguous, w and b in x's dtype."""
        act = self.pool_args
        y, arg = self.outputs(plan, x.dtype)
        if len(chunks) == 1:
            z = self.workspace.get("z", plan.out_shape, x.dtype)
            z, col = plan.forward(x, w, None, ws=conv_ws, out=z)
            _fused.bias_act_max_pool2d_forward(
                z, b, *act, return_argmax=True, out=y, argmax_out=arg
            )
            return y, ConvPoolCache(plan, chunks, col, None, w, y, arg)
        for i, j, sub in chunks:
            z = self.workspace.get("z", sub.out_shape, x.dtype)
            z, _ = sub.forward(x[i:j], w, None, ws=conv_ws, out=z)
            _fused.bias_act_max_pool2d_forward(
                z, b, *act, return_argmax=True, out=y[i:j], argmax_out=arg[i:j]
            )
        # Chunked: no column matrix is kept; the backward rebuilds it from x.
        return y, ConvPoolCache(plan, chunks, None, x, w, y, arg)

    def backward(
        self, grad, cache: ConvPoolCache, need_dx=True, need_db=True, conv_ws=None, dw_out=None
    ):
        """(dx or None, dw, db or None) from dLoss/dy. ``dw_out``: where dw is written."""
        plan, w, y, arg = cache.plan, cache.w, cache.y, cache.argmax
        grad = np.ascontiguousarray(grad, dtype=y.dtype)
        act = self.pool_args
        dx = None
        if need_dx:
            dx = (
                self.workspace.get("dx", plan.x_shape, y.dtype)
                if self.internal_input
                else np.empty(plan.x_shape, dtype=y.dtype)
            )
        dw = db = None
        for i, j, sub in cache.chunks:
            dz = self.workspace.get("dz", sub.out_shape, y.dtype)
            dz, dbc = _fused.bias_act_max_pool2d_backward(
                grad[i:j], y[i:j], arg[i:j], sub.out_shape, *act, need_db=need_db, out=dz
            )
            # The kernel gradient goes straight into dw_out (first chunk); later chunks add
            # their part to it.
            part = dw_out if dw is None else self.workspace.get("dw_part", w.shape, w.dtype)
            _, dwc, _ = sub.backward(
                dz,
                w,
                cache.col,
                need_dx=need_dx,
                need_db=False,
                ws=conv_ws,
                x=None if cache.x is None else cache.x[i:j],
                dx_out=None if dx is None else dx[i:j],
                dw_out=part,
            )
            if dw is None:
                dw = dwc
            else:
                dw += dwc
            if dbc is not None:
                db = dbc if db is None else db + dbc
        return dx, dw, db

    # ---- inference ----------------------------------------------------------------------------
    def predict(self, x, plan, chunks, w, b, conv_ws=None):
        """y for inference through the general path (any dtype; nothing kept)."""
        act = self.pool_args
        y, _ = self.outputs(plan, x.dtype, argmax=False)
        for i, j, sub in chunks:
            z = self.workspace.get("z", sub.out_shape, x.dtype)
            z, _ = sub.forward(x[i:j], w, None, ws=conv_ws, out=z)
            _fused.bias_act_max_pool2d_forward(z, b, *act, out=y[i:j])
        return y

    def predictor(self, kernel: Kernel, plan, chunks, dtype, params, use_bias, padding):
        """A lean ``x -> y`` for inputs of ``plan.x_shape`` and ``dtype`` running ``kernel``
        (from :func:`filterbank.ops.kernels.choose` "conv2d+maxpool"); None for the general
        :meth:`predict`. ``params``: the layer's weight dict, read on every call (the
        weights may change between calls). The function's ``kernel`` attribute names it."""
        relu = self.activation == "relu"
        internal, self_ws = self.internal_output, self.workspace
        shape = plan.x_shape
        filters = plan.w_shape[3]
        if kernel.name in ("direct", "winograd"):
            special = kernel.fn(shape, filters, dtype, padding)
            special_shape = special.out_shape

            if internal:
                return transform_predictor(
                    special,
                    kernel.name,
                    params,
                    use_bias,
                    relu,
                    lambda: self_ws.get("y", special_shape, dtype),
                )
            return transform_predictor(
                special, kernel.name, params, use_bias, relu, lambda: np.empty(special_shape, dtype)
            )
        if kernel.name != "gemm+pool":
            return None
        k, f = int(np.prod(plan.w_shape[:3])), filters
        zs = np.empty(chunks[0][2].out_shape, dtype)  # the raw map of one chunk
        cols = {}  # one im2col function per chunk size
        pieces = [
            (
                i,
                j,
                cols.setdefault(j - i, sub.im2col_fn(dtype)),
                zs[: j - i],
                zs[: j - i].reshape(-1, f),
            )
            for i, j, sub in chunks
        ]
        channel_major = plan.layout == "channel"
        no_bias = np.zeros(f, dtype)
        out_hw, pads = _pool.pool_geometry(
            plan.out_hw, self.pool_size, self.pool_strides, self.pool_padding
        )
        y_shape = (plan.x_shape[0], *out_hw, f)
        no_arg = np.empty((1, 1, 1, 1), np.uint8)
        compiled = _pool.numba_kernels()
        if _fused._is_2x2(self.pool_size, self.pool_strides, pads):
            pool_kernel, geometry = compiled.bias_act_max_pool2x2_forward, ()
        else:
            pool_kernel = compiled.bias_act_max_pool2d_forward
            geometry = (*self.pool_size, *self.pool_strides, pads[0][0], pads[1][0])

        def run(x):
            x = np.ascontiguousarray(x)
            w2 = params["kernel"].reshape(k, f)
            b = params["bias"] if use_bias else no_bias
            y = self_ws.get("y", y_shape, dtype) if internal else np.empty(y_shape, dtype)
            for i, j, im2col, z, z2 in pieces:
                col = im2col(x[i:j])
                np.matmul(col.T if channel_major else col, w2, out=z2)
                pool_kernel(z, b, relu, *geometry, y[i:j], no_arg, False)
            return y

        run.kernel = "gemm"
        return run
