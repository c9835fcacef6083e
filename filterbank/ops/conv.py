"""Convolution (cross-correlation, as every DL library) forward and backward, NHWC / NWC.

One GEMM per convolution per pass:

* forward: ``y = im2col(x) @ kernel`` with the column matrix (N*Ho*Wo, kh*kw*C) and the
  Keras kernel (kh, kw, C, F) reshaped to (kh*kw*C, F); the product is the NHWC output.
* backward: ``dkernel = col.T @ dy``, ``dcol = dy @ kernel.T`` then ``dx = col2im(dcol)``,
  ``dbias = dy`` summed over batch and pixels.

Padding follows Keras/TensorFlow (:mod:`filterbank.ops.padding`): "valid" pads nothing,
"same" pads ``max((ceil(n/s)-1)*s + (k-1)*d + 1 - n, 0)`` with the odd cell at the end.
Conv1D also has Keras's "causal" (all ``(k-1)*d`` zeros at the start).

The work runs through a :class:`~filterbank.ops.conv_gemm.ConvPlan` (the geometry of one
input shape, resolved once; large batches run in chunks). im2col is one NumPy strided copy
(:mod:`filterbank.ops.im2col`, the reference); col2im runs compiled with numba when it is
installed (``filterbank[fast]``), else in plain NumPy. Set the environment variable
``FILTERBANK_DISABLE_NUMBA=1`` to force NumPy. numba is imported on the first convolution,
never by ``import filterbank``.

The data type is kept: float32 in, float32 out (the kernel is cast to the input's type).

Example:
    >>> import numpy as np
    >>> x = np.array([[1, 0, 2], [3, 1, 0], [0, 0, 4]], "float32").reshape(1, 3, 3, 1)
    >>> w = np.array([[1, 0], [0, 1]], "float32").reshape(2, 2, 1, 1)
    >>> y, cache = conv2d_forward(x, w, None, (1, 1), "valid", (1, 1))
    >>> y[0, :, :, 0]
    array([[2., 0.],
           [3., 5.]], dtype=float32)
    >>> dx, dw, db = conv2d_backward(np.ones_like(y), cache)
    >>> dw[:, :, 0, 0]
    array([[5., 3.],
           [4., 5.]], dtype=float32)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import backend
from ..errors import unknown_name
from .conv_gemm import FEW_CHANNELS, ConvPlan, conv_output_size, numba_kernels
from .padding import effective_kernel, pad_amounts

PADDINGS_2D = ("valid", "same")
PADDINGS_1D = ("valid", "same", "causal")

__all__ = [
    "FEW_CHANNELS",
    "ConvCache",
    "ConvPlan",
    "check_fits",
    "conv1d_backward",
    "conv1d_forward",
    "conv2d_backward",
    "conv2d_forward",
    "conv_output_size",
    "numba_kernels",
    "resolve_pads",
]


# ---- sizes ---------------------------------------------------------------------------------
def resolve_pads(sizes, kernel, strides, padding, dilation):
    """((before, after), ...) per spatial axis for "valid" / "same" / "causal".

    An unknown size (None) gets (0, 0) for "same": only shapes are being computed then.
    """
    pads = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation):
        if padding == "causal":
            pads.append((effective_kernel(k, d) - 1, 0))
        elif n is None:
            pads.append((0, 0))
        else:
            pads.append(pad_amounts(n, k, s, padding, d))
    return tuple(pads)


def check_fits(where, sizes, kernel, strides, padding, dilation, axis_names):
    """Output sizes per spatial axis, or a ValueError when the kernel does not fit.

    ``where`` starts the message (e.g. "Layer 'conv2d'"). The message shows the
    output-size formula with the numbers: ``(N - F + 2P)/S + 1 = (2 - 3 + 0)/1 + 1 = 0``.
    """
    pads = resolve_pads(sizes, kernel, strides, padding, dilation)
    outs = []
    for n, k, s, d, p, axis in zip(sizes, kernel, strides, dilation, pads, axis_names):
        out = conv_output_size(n, k, s, p, d)
        if out is not None and out < 1:
            f = effective_kernel(k, d)
            dil = f" (with dilation {d} it spans F = {f} cells)" if d > 1 else ""
            value = (n - f + sum(p)) / s + 1
            raise ValueError(
                f"{where} kernel size {k}{dil} is larger than its input along {axis}: "
                f"{n} cells plus {sum(p)} padding with padding={padding!r}. Output size "
                f"(N - F + 2P)/S + 1 = ({n} - {f} + {sum(p)})/{s} + 1 = {value:g}, less than one "
                "cell. Use a smaller kernel_size, padding='same', or a larger input "
                "(e.g. drop a pooling layer before this one)."
            )
        outs.append(out)
    return tuple(outs)


# ---- 2D ------------------------------------------------------------------------------------
@dataclass
class ConvCache:
    """What :func:`conv2d_backward` needs from the forward pass (NHWC geometry).

    ``layout`` says how ``col`` is stored: "pointwise" (1x1 kernel without padding: the
    strided input itself, (M, C)), "pixel" ((M, K) with M = N*Ho*Wo, K = kh*kw*C) or
    "channel" ((K, M), the transpose, for few input channels). ``plan`` is the
    :class:`~filterbank.ops.conv_gemm.ConvPlan` that ran the forward.
    """

    x_shape: tuple
    kernel: np.ndarray  # (kh, kw, C, F), the forward's weights
    col: np.ndarray
    layout: str
    strides: tuple
    pads: tuple
    dilation: tuple
    out_shape: tuple
    impl: str | None
    has_bias: bool = True
    squeeze_h: bool = False  # a 1D convolution run as 2D with H = 1
    plan: ConvPlan | None = None


def _as_float(x):
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(backend.floatx())


def _padding(padding, allowed):
    """The padding name, lower-cased, or the unknown-name error listing ``allowed``."""
    padding = padding.lower() if isinstance(padding, str) else padding
    if padding not in allowed:
        raise unknown_name("padding", padding, allowed)
    return padding


def _pair(v, name):
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    t = tuple(int(a) for a in v)
    if len(t) != 2:
        raise ValueError(f"conv2d {name} expects an int or a pair, got {v!r}.")
    return t


def _conv_forward(x, w, b, strides, pads, dilation, impl, where="conv2d", plan=None, ws=None):
    """Forward through a ConvPlan (made here unless the caller has one for x's shape)."""
    x = np.ascontiguousarray(_as_float(x))
    w = np.asarray(w, dtype=x.dtype)
    if plan is None:
        if x.ndim != 4 or w.ndim != 4:
            raise ValueError(
                f"{where} expects x (N, H, W, C) and kernel (kh, kw, C, F), got shapes "
                f"{x.shape} and {w.shape}."
            )
        plan = ConvPlan(x.shape, w.shape, strides, pads, dilation, impl, where)
    y, col = plan.forward(x, w, None if b is None else np.asarray(b, dtype=x.dtype), ws=ws)
    cache = ConvCache(
        x.shape,
        w,
        col,
        plan.layout,
        plan.strides,
        plan.pads,
        plan.dilation,
        y.shape,
        impl,
        has_bias=b is not None,
        plan=plan,
    )
    return y, cache


def conv2d_forward(x, w, b=None, strides=(1, 1), padding="valid", dilation=(1, 1), impl=None):
    """2D convolution, NHWC, no kernel flip (cross-correlation, as Keras).

    ``y[n, i, j, f] = b[f] + sum_{a, e, c} x_pad[n, i*sh + a*dh, j*sw + e*dw, c] * w[a, e, c, f]``

    Shapes: x (N, H, W, C), w (kh, kw, C, F), b (F,) or None -> y (N, Ho, Wo, F) with
    Ho = floor((H + pad_h - ((kh-1)*dh + 1)) / sh) + 1 (likewise Wo).

    Args:
        strides, dilation: int or (rows, cols).
        padding: "valid" or "same" (Keras: the odd padding cell goes at the end).
        impl: None (numba when available, else NumPy), "numpy" or "numba".

    Returns:
        (y, cache); pass cache to :func:`conv2d_backward`.
    """
    strides, dilation = _pair(strides, "strides"), _pair(dilation, "dilation")
    padding = _padding(padding, PADDINGS_2D)
    x = _as_float(x)
    w = np.asarray(w)
    pads = resolve_pads(x.shape[1:3], w.shape[:2], strides, padding, dilation)
    return _conv_forward(x, w, b, strides, pads, dilation, impl)


def conv2d_backward(dy, cache: ConvCache, need_dx=True, ws=None):
    """Gradients of :func:`conv2d_forward`.

    Shapes: dy (N, Ho, Wo, F) -> dx (N, H, W, C) or None (when ``need_dx`` is False),
    dw (kh, kw, C, F), db (F,) or None (when the forward had no bias). ``ws``: an optional
    :class:`~filterbank.ops.workspace.Workspace` for the column gradient.
    """
    w = cache.kernel
    plan = cache.plan
    if plan is None:
        plan = ConvPlan(
            cache.x_shape, w.shape, cache.strides, cache.pads, cache.dilation, cache.impl
        )
    dy = np.ascontiguousarray(dy, dtype=w.dtype).reshape(plan.out_shape)
    dx, dw, db = plan.backward(dy, w, cache.col, need_dx, cache.has_bias, ws=ws)
    if cache.squeeze_h:
        dx = None if dx is None else dx.reshape(cache.x_shape[0], *cache.x_shape[2:])
        dw = dw.reshape(w.shape[1:])
    return dx, dw, db


# ---- 1D ------------------------------------------------------------------------------------
def conv1d_forward(x, w, b=None, stride=1, padding="valid", dilation=1, impl=None):
    """1D convolution, NWC: the 2D one with a height of 1.

    Shapes: x (N, L, C), w (k, C, F), b (F,) or None -> y (N, Lo, F).
    ``padding``: "valid", "same" or "causal" (Keras: (k-1)*d zeros at the start, so
    ``y[t]`` sees only ``x[..t]``).

    Example:
        >>> import numpy as np
        >>> x = np.array([0, 0, 1, 1, 1, 0], "float32").reshape(1, 6, 1)
        >>> w = np.array([-1, 1], "float32").reshape(2, 1, 1)
        >>> conv1d_forward(x, w, padding="causal")[0].ravel()
        array([ 0.,  0.,  1.,  0.,  0., -1.], dtype=float32)
    """
    stride, dilation = _single(stride, "stride"), _single(dilation, "dilation")
    padding = _padding(padding, PADDINGS_1D)
    x = _as_float(x)
    w = np.asarray(w)
    if x.ndim != 3 or w.ndim != 3:
        raise ValueError(
            f"conv1d expects x (N, L, C) and kernel (k, C, F), got shapes {x.shape} and {w.shape}."
        )
    pads = ((0, 0),) + resolve_pads(x.shape[1:2], w.shape[:1], (stride,), padding, (dilation,))
    y, cache = _conv_forward(
        x[:, None], w[None], b, (1, stride), pads, (1, dilation), impl, where="conv1d"
    )
    cache.squeeze_h = True
    return y[:, 0], cache


def conv1d_backward(dy, cache: ConvCache, need_dx=True):
    """Gradients of :func:`conv1d_forward`.

    Shapes: dy (N, Lo, F) -> dx (N, L, C) or None, dw (k, C, F), db (F,) or None.
    """
    dy = np.asarray(dy)
    return conv2d_backward(dy[:, None], cache, need_dx)


def _single(v, name):
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise ValueError(f"conv1d {name} expects an int or a 1-tuple, got {v!r}.")
        v = v[0]
    return int(v)
