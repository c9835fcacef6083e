"""Depthwise and separable convolutions, forward and backward, NHWC (Keras layouts).

Depthwise: every input channel ``c`` is convolved with its own ``depth_multiplier`` (M)
filters; output channel ``c*M + m`` (Keras/TensorFlow order)::

    y[n, i, j, c*M + m] = b[c*M + m]
        + sum_{a, e} x_pad[n, i*sh + a*dh, j*sw + e*dw, c] * w[a, e, c, m]

Shapes: x (N, H, W, C), w (kh, kw, C, M), b (C*M,) -> y (N, Ho, Wo, C*M); padding and
output sizes as Conv2D ("same": Keras's rule, odd cell at the end).

Separable: a depthwise convolution (no bias) followed by a 1x1 convolution, which is one
GEMM: ``y = z.reshape(-1, C*M) @ pointwise.reshape(C*M, F) + b``.

Speed: there is no channel mixing, so a depthwise convolution is no GEMM. The loop runs
over the kh*kw kernel offsets; each step is one vectorised multiply-add over the whole
batch, every pixel and channel (a strided view of the padded input, no copy). A gradient
of the kernel is one product and one BLAS ones-vector product per offset.

Example:
    >>> import numpy as np
    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)            # two channels
    >>> w = np.ones((2, 2, 2, 1)); w[..., 1, 0] = 10.0     # channel 1 weighs 10x
    >>> y, cache = depthwise_conv2d_forward(x, w)
    >>> y.ravel().tolist()                                  # [0+2+4+6, 10*(1+3+5+7)]
    [12.0, 160.0]
    >>> dx, dw, db = depthwise_conv2d_backward(np.ones_like(y), cache)
    >>> dw[..., 0].tolist()[0][0], db is None
    ([0.0, 1.0], True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .conv import PADDINGS_2D, _as_float, _padding, _pair, resolve_pads
from .conv_gemm import compiled_module, conv_output_size
from .im2col import _window_slices, pad_input


@dataclass
class DepthwiseCache:
    """What :func:`depthwise_conv2d_backward` needs from the forward pass."""

    xp: np.ndarray  # the zero-padded input (N, Hp, Wp, C)
    kernel: np.ndarray  # (kh, kw, C, M)
    x_shape: tuple
    pads: tuple
    strides: tuple
    dilation: tuple
    out_hw: tuple
    has_bias: bool


def depthwise_geometry(x_shape, k_shape, strides, padding, dilation, where="depthwise_conv2d"):
    """(pads, (Ho, Wo)) of a depthwise convolution; a ValueError when the kernel does not fit."""
    pads = resolve_pads(x_shape[1:3], k_shape[:2], strides, padding, dilation)
    out = tuple(
        conv_output_size(n, k, s, p, d)
        for n, k, s, p, d in zip(x_shape[1:3], k_shape[:2], strides, pads, dilation)
    )
    if min(out) < 1:
        raise ValueError(
            f"{where}: kernel {tuple(k_shape[:2])} (dilation {dilation}) does not fit the input "
            f"{tuple(x_shape[1:3])} padded by {pads}; the output would be {out}. Use "
            "padding='same', a smaller kernel or a larger input."
        )
    return pads, out


def depthwise_conv2d_forward(x, w, b=None, strides=(1, 1), padding="valid", dilation=(1, 1)):
    """Depthwise 2D convolution, NHWC. Returns (y, cache) for :func:`depthwise_conv2d_backward`.

    Shapes: x (N, H, W, C), w (kh, kw, C, M), b (C*M,) or None -> y (N, Ho, Wo, C*M).

    Example:
        >>> import numpy as np
        >>> y, _ = depthwise_conv2d_forward(np.ones((2, 9, 8, 3)), np.ones((3, 3, 3, 2)),
        ...                                 strides=2, padding="same")
        >>> y.shape, float(y[0, 1, 1, 0])
        ((2, 5, 4, 6), 9.0)
    """
    strides, dilation = _pair(strides, "strides"), _pair(dilation, "dilation")
    padding = _padding(padding, PADDINGS_2D)
    x = _as_float(x)
    w = np.asarray(w, dtype=x.dtype)
    if x.ndim != 4 or w.ndim != 4 or w.shape[2] != x.shape[3]:
        raise ValueError(
            f"depthwise_conv2d expects x (N, H, W, C) and kernel (kh, kw, C, M), got shapes "
            f"{x.shape} and {w.shape}."
        )
    pads, out_hw = depthwise_geometry(x.shape, w.shape, strides, padding, dilation)
    return depthwise_run(x, w, b, strides, pads, dilation, out_hw)


def depthwise_run(x, w, b, strides, pads, dilation, out_hw):
    """The forward with the geometry already resolved (what the layers call)."""
    n, _, _, c = x.shape
    kh, kw, _, m = w.shape
    xp = pad_input(x, pads)
    fast = _compiled()
    if fast is not None:
        xp = np.ascontiguousarray(xp)
        y = np.empty((n, *out_hw, c, m), dtype=x.dtype)
        fast.depthwise_forward(
            xp, np.ascontiguousarray(w), strides[0], strides[1], dilation[0], dilation[1], y
        )
    else:
        # One (N, Ho, Wo, C) map per multiplier m: the inner loops run over the C contiguous
        # channels (a trailing axis of size M would make NumPy loop one value at a time).
        ym = np.empty((m, n, *out_hw, c), dtype=x.dtype)
        tmp = np.empty((n, *out_hw, c), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                rows, cols = _window_slices(i, j, strides, dilation, out_hw)
                xs = xp[:, rows, cols, :]  # a strided view: no copy
                for k in range(m):
                    if i == 0 and j == 0:
                        np.multiply(xs, w[i, j, :, k], out=ym[k])
                    else:
                        np.multiply(xs, w[i, j, :, k], out=tmp)
                        ym[k] += tmp
        y = ym[0] if m == 1 else np.ascontiguousarray(ym.transpose(1, 2, 3, 4, 0))
    y = y.reshape(n, *out_hw, c * m)
    if b is not None:
        y += np.asarray(b, dtype=y.dtype)
    cache = DepthwiseCache(xp, w, x.shape, pads, strides, dilation, out_hw, b is not None)
    return y, cache


def depthwise_conv2d_backward(dy, cache: DepthwiseCache, need_dx=True):
    """Gradients of :func:`depthwise_conv2d_forward`.

    Shapes: dy (N, Ho, Wo, C*M) -> dx (N, H, W, C) or None, dw (kh, kw, C, M), db (C*M,)
    or None (no bias in the forward).
    """
    w, xp = cache.kernel, cache.xp
    kh, kw, c, m = w.shape
    n = xp.shape[0]
    ho, wo = cache.out_hw
    dy = np.ascontiguousarray(dy, dtype=w.dtype)
    ones = np.ones(n * ho * wo, dtype=dy.dtype)
    db = ones @ dy.reshape(-1, c * m) if cache.has_bias else None
    fast = _compiled()
    if fast is not None:
        dw = np.zeros(w.shape, dtype=dy.dtype)
        dxp = np.zeros(xp.shape, dtype=dy.dtype) if need_dx else np.zeros((1, 1, 1, 1), dy.dtype)
        fast.depthwise_backward(
            xp,
            np.ascontiguousarray(w),
            dy.reshape(n, ho, wo, c, m),
            cache.strides[0],
            cache.strides[1],
            cache.dilation[0],
            cache.dilation[1],
            need_dx,
            dxp,
            dw,
        )
        dxp = dxp if need_dx else None
    else:
        dw, dxp = _depthwise_backward_numpy(dy, xp, w, cache, need_dx, ones)
    dx = None
    if need_dx:
        (pt, _), (pl, _) = cache.pads
        h, wd = cache.x_shape[1:3]
        dx = np.ascontiguousarray(dxp[:, pt : pt + h, pl : pl + wd, :])
    return dx, dw, db


def _depthwise_backward_numpy(dy, xp, w, cache, need_dx, ones):
    """(dw, dx_padded or None): per kernel offset, one product and one BLAS ones-vector
    product per multiplier for dw, one multiply-add for dx."""
    kh, kw, c, m = w.shape
    n = xp.shape[0]
    ho, wo = cache.out_hw
    # (M, N, Ho, Wo, C): inner loops over the C contiguous channels.
    dym = dy.reshape(n, ho, wo, c, m).transpose(4, 0, 1, 2, 3)
    if m > 1:
        dym = np.ascontiguousarray(dym)
    dw = np.empty_like(w)
    dxp = np.zeros(xp.shape, dtype=dy.dtype) if need_dx else None
    tmp = np.empty((n, ho, wo, c), dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, cols = _window_slices(i, j, cache.strides, cache.dilation, (ho, wo))
            xs = xp[:, rows, cols, :]
            for k in range(m):
                np.multiply(xs, dym[k], out=tmp)
                # Summing the pixels as a BLAS ones-vector product: fast and blockwise (less
                # float32 drift than a running sum).
                dw[i, j, :, k] = ones @ tmp.reshape(-1, c)
                if need_dx:
                    np.multiply(dym[k], w[i, j, :, k], out=tmp)
                    dxp[:, rows, cols, :] += tmp
    return dw, dxp


def _compiled():
    """The numba kernels (ops/_numba_depthwise.py), or None: numba missing or switched off
    (FILTERBANK_DISABLE_NUMBA=1), the same switch as every compiled kernel."""
    return compiled_module("_numba_depthwise")


# ---- separable ------------------------------------------------------------------------------
@dataclass
class SeparableCache:
    depthwise: DepthwiseCache
    z: np.ndarray  # the depthwise output (N, Ho, Wo, C*M)
    pointwise: np.ndarray  # (1, 1, C*M, F)
    has_bias: bool


def separable_conv2d_forward(
    x, depthwise_kernel, pointwise_kernel, b=None, strides=(1, 1), padding="valid", dilation=(1, 1)
):
    """Depthwise convolution (no bias), then a 1x1 convolution (one GEMM), then the bias.

    Shapes: x (N, H, W, C), depthwise_kernel (kh, kw, C, M), pointwise_kernel
    (1, 1, C*M, F), b (F,) or None -> y (N, Ho, Wo, F).

    Example:
        >>> import numpy as np
        >>> y, _ = separable_conv2d_forward(np.ones((1, 3, 3, 2)), np.ones((3, 3, 2, 1)),
        ...                                 np.ones((1, 1, 2, 4)), padding="same")
        >>> y.shape, float(y[0, 1, 1, 0])
        ((1, 3, 3, 4), 18.0)
    """
    z, dcache = depthwise_conv2d_forward(x, depthwise_kernel, None, strides, padding, dilation)
    return separable_pointwise(z, dcache, pointwise_kernel, b)


def separable_pointwise(z, dcache, pointwise_kernel, b):
    """The 1x1 half of :func:`separable_conv2d_forward`, on the depthwise output z."""
    pw = np.asarray(pointwise_kernel, dtype=z.dtype)
    cm, f = pw.shape[2], pw.shape[3]
    if z.shape[-1] != cm:
        raise ValueError(
            f"separable_conv2d: the depthwise output has {z.shape[-1]} channels but the "
            f"pointwise kernel {pw.shape} expects {cm}."
        )
    y = (z.reshape(-1, cm) @ pw.reshape(cm, f)).reshape(*z.shape[:3], f)
    if b is not None:
        y += np.asarray(b, dtype=y.dtype)
    return y, SeparableCache(dcache, z, pw, b is not None)


def separable_conv2d_backward(dy, cache: SeparableCache, need_dx=True):
    """Gradients of :func:`separable_conv2d_forward`: (dx or None, d_depthwise, d_pointwise,
    db or None). Shapes as the forward's arguments."""
    pw = cache.pointwise
    cm, f = pw.shape[2], pw.shape[3]
    dy2 = np.ascontiguousarray(dy, dtype=pw.dtype).reshape(-1, f)
    z2 = cache.z.reshape(-1, cm)
    dpw = (z2.T @ dy2).reshape(pw.shape)
    db = np.ones(dy2.shape[0], dtype=dy2.dtype) @ dy2 if cache.has_bias else None
    dz = (dy2 @ pw.reshape(cm, f).T).reshape(cache.z.shape)
    dx, ddw, _ = depthwise_conv2d_backward(dz, cache.depthwise, need_dx)
    return dx, ddw, dpw, db
