"""Lean inference functions of a convolution (no pooling after it), one per input shape.

A convolution layer asks :func:`filterbank.ops.kernels.choose` which kernel runs its
inference for an input shape and dtype, then :func:`conv_predictor` builds an ``x -> y``
function for exactly that shape: the geometry is resolved once, the function only copies
the windows, multiplies, adds the bias and activates, keeping nothing for a backward pass.

Kernels: "winograd" (:class:`filterbank.ops.winograd.WinogradConv`, 3x3 stride 1), "gemm"
(the im2col GEMM of :class:`filterbank.ops.conv_gemm.ConvPlan`) with the epilogue chosen
by ``kernels.choose("epilogue", ...)`` ("rows": bias + relu in one compiled call; "numpy").
Each function's ``kernel`` attribute names what it runs.

Shapes: x has ``plan.x_shape`` (N, H, W, C) (a Conv1D passes its height-1 view), y has
``y_shape``.

Example:
    >>> import numpy as np
    >>> from filterbank.ops import kernels
    >>> from filterbank.ops.conv_gemm import ConvPlan
    >>> plan = ConvPlan((1, 4, 4, 1), (3, 3, 1, 2), (1, 1), ((0, 0), (0, 0)), (1, 1))
    >>> params = {"kernel": np.ones((3, 3, 1, 2)), "bias": np.zeros(2)}
    >>> fn = conv_predictor(kernels.Kernel("gemm"), kernels.Kernel("numpy"), plan,
    ...                     np.dtype("float64"), params, True, "linear", None, plan.out_shape)
    >>> fn(np.ones((1, 4, 4, 1)))[0, :, :, 0].tolist(), fn.kernel
    ([[9.0, 9.0], [9.0, 9.0]], 'gemm')
"""

from __future__ import annotations

import numpy as np

from .kernels import Kernel


def transform_predictor(special, name, params, use_bias, relu, new_output):
    """``x -> special.run(x, kernel, bias, relu, new_output())`` for a kernel object with a
    ``run`` method (Winograd, direct), named ``name`` (its ``kernel`` attribute)."""

    def run(x):
        bias = params["bias"] if use_bias else None
        return special.run(np.ascontiguousarray(x), params["kernel"], bias, relu, new_output())

    run.kernel = name
    return run


def conv_predictor(
    kernel: Kernel,
    epilogue: Kernel,
    plan,
    dtype,
    params,
    use_bias,
    activation: str,
    activate,
    y_shape,
    padding="valid",
):
    """``x -> y`` running ``kernel`` (and ``epilogue`` after a GEMM); None when the layer's
    own forward must run (a batch large enough to need chunks).

    ``params``: the layer's weight dict, read on every call. ``activate``: the activation's
    forward for activations other than relu and linear.
    """
    relu = activation == "relu"
    if kernel.name == "winograd":
        wino = kernel.fn(plan.x_shape, plan.w_shape[3], dtype, padding)

        return transform_predictor(
            wino, kernel.name, params, use_bias, relu, lambda: np.empty(wino.out_shape, dtype)
        )
    if plan.chunk < plan.x_shape[0]:
        return None  # chunks: the plain forward handles them
    im2col = plan.im2col_fn(dtype)
    k, f = int(np.prod(plan.w_shape[:3])), plan.w_shape[3]
    channel_major = plan.layout == "channel"
    if epilogue.name == "rows":
        # Bias + relu in one compiled call (two NumPy calls cost more at one sample).
        fused_epilogue = epilogue.fn

        def run_compiled(x):
            col = im2col(np.ascontiguousarray(x).reshape(plan.x_shape))
            y = (col.T if channel_major else col) @ params["kernel"].reshape(k, f)
            fused_epilogue(y, params["bias"], relu)
            return y.reshape(y_shape)

        run_compiled.kernel = "gemm"
        return run_compiled
    other = None if relu or activation == "linear" else activate

    def run(x):
        col = im2col(np.ascontiguousarray(x).reshape(plan.x_shape))
        y = (col.T if channel_major else col) @ params["kernel"].reshape(k, f)
        if use_bias:
            y += params["bias"]
        if relu:
            np.maximum(y, 0, out=y)
        elif other is not None:
            y = other(y)
        return y.reshape(y_shape)

    run.kernel = "gemm"  # which convolution kernel runs (benchmarks/inference_breakdown.py)
    return run
