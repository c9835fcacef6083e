"""Convolution (cross-correlation, as every DL library) forward and backward, NHWC / NWC.

One GEMM per convolution per pass:

* forward: ``y = im2col(x) @ kernel`` with the column matrix (N*Ho*Wo, kh*kw*C) and the
  Keras kernel (kh, kw, C, F) reshaped to (kh*kw*C, F); the product is the NHWC output.
* backward: ``dkernel = col.T @ dy``, ``dcol = dy @ kernel.T`` then ``dx = col2im(dcol)``,
  ``dbias = dy`` summed over batch and pixels.

Padding follows Keras/TensorFlow (:mod:`filterbank.ops.padding`): "valid" pads nothing,
"same" pads ``max((ceil(n/s)-1)*s + (k-1)*d + 1 - n, 0)`` with the odd cell at the end.
Conv1D also has Keras's "causal" (all ``(k-1)*d`` zeros at the start).

im2col/col2im run compiled with numba when it is installed (``filterbank[fast]``),
else in plain NumPy (:mod:`filterbank.ops.im2col`, the reference). Set the environment
variable ``FILTERBANK_DISABLE_NUMBA=1`` to force NumPy. numba is imported on the first
convolution, never by ``import filterbank``.

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

import os
import warnings
from dataclasses import dataclass

import numpy as np

from .. import backend
from ..errors import unknown_name
from . import im2col as _np_kernels
from .padding import effective_kernel, pad_amounts

PADDINGS_2D = ("valid", "same")
PADDINGS_1D = ("valid", "same", "causal")

_UNRESOLVED = object()
_numba_module = _UNRESOLVED


def numba_kernels():
    """The compiled kernels module, or None (numba missing, or FILTERBANK_DISABLE_NUMBA=1)."""
    global _numba_module
    if os.environ.get("FILTERBANK_DISABLE_NUMBA", "").strip() not in ("", "0"):
        return None
    if _numba_module is _UNRESOLVED:
        try:
            from . import _numba_conv
        except ImportError:  # numba is an optional extra
            _numba_conv = None
        except Exception as exc:  # a broken numba install must not break training
            warnings.warn(f"numba failed to load ({exc!r}); using the NumPy convolution kernels.",
                          RuntimeWarning, stacklevel=2)
            _numba_conv = None
        _numba_module = _numba_conv
    return _numba_module


def _kernels(impl):
    if impl is None:
        return numba_kernels() or _np_kernels
    if impl == "numpy":
        return _np_kernels
    if impl == "numba":
        mod = numba_kernels()
        if mod is None:
            raise RuntimeError(
                "impl='numba' needs numba (pip install filterbank[fast]) and "
                "FILTERBANK_DISABLE_NUMBA unset."
            )
        return mod
    raise unknown_name("impl", impl, ["numpy", "numba"])


# ---- sizes ---------------------------------------------------------------------------------
def conv_output_size(n, k, s, pads, dilation=1):
    """Cells along one axis: ``(n + before + after - ((k-1)*d + 1)) // s + 1``; None stays None."""
    if n is None:
        return None
    return (n + pads[0] + pads[1] - effective_kernel(k, dilation)) // s + 1


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
# Inputs with at most this many channels use the channel-major column matrix (see im2col.py).
FEW_CHANNELS = 4


@dataclass
class ConvCache:
    """What :func:`conv2d_backward` needs from the forward pass (NHWC geometry).

    ``layout`` says how ``col`` is stored: "pointwise" (1x1 kernel without padding: the
    strided input itself, (M, C)), "pixel" ((M, K) with M = N*Ho*Wo, K = kh*kw*C) or
    "channel" ((K, M), the transpose, for few input channels).
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


def _as_float(x):
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(backend.floatx())


def _pair(v, name):
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    t = tuple(int(a) for a in v)
    if len(t) != 2:
        raise ValueError(f"conv2d {name} expects an int or a pair, got {v!r}.")
    return t


def _conv_forward(x, w, b, strides, pads, dilation, impl, where="conv2d"):
    x = _as_float(x)
    w = np.asarray(w, dtype=x.dtype)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(
            f"{where} expects x (N, H, W, C) and kernel (kh, kw, C, F), got shapes "
            f"{x.shape} and {w.shape}."
        )
    n, h, wd, c = x.shape
    kh, kw, cin, f = w.shape
    if cin != c:
        raise ValueError(f"{where}: input has {c} channels but the kernel {w.shape} expects {cin}.")
    ho = conv_output_size(h, kh, strides[0], pads[0], dilation[0])
    wo = conv_output_size(wd, kw, strides[1], pads[1], dilation[1])
    if ho < 1 or wo < 1:
        raise ValueError(
            f"{where}: kernel {(kh, kw)} (dilation {dilation}) does not fit input {(h, wd)} "
            f"padded by {pads}; output would be {(ho, wo)}."
        )
    w2 = w.reshape(-1, f)
    geometry = ((kh, kw), strides, pads, dilation, (ho, wo))
    if kh == kw == 1 and pads == ((0, 0), (0, 0)):
        # A 1x1 kernel needs no im2col: the (strided) input is the column matrix already.
        layout = "pointwise"
        xs = x if strides == (1, 1) else x[:, ::strides[0], ::strides[1], :][:, :ho, :wo, :]
        col = np.ascontiguousarray(xs).reshape(-1, c)
        y2 = col @ w2
    elif c <= FEW_CHANNELS:
        # NumPy copies few-channel windows fastest channel-major (numba gains nothing here).
        layout = "channel"
        col = _np_kernels.im2col_cmajor(x, *geometry).reshape(kh * kw * c, -1)
        y2 = col.T @ w2
    else:
        layout = "pixel"
        col = _kernels(impl).im2col(x, *geometry).reshape(-1, kh * kw * c)
        y2 = col @ w2
    y = y2.reshape(n, ho, wo, f)
    if b is not None:
        _add_bias(y, np.asarray(b, dtype=y.dtype))
    cache = ConvCache(x.shape, w, col, layout, strides, pads, dilation, y.shape, impl,
                      has_bias=b is not None)
    return y, cache


def _add_bias(y, b):
    """y (N, Ho, Wo, F) += b (F,) in place.

    A broadcast add runs its inner loop over only F values and is loop-overhead-bound; adding
    the bias tiled over a whole sample's map (one long row per sample) is ~3x faster.
    """
    n, ho, wo, _ = y.shape
    if ho * wo >= 8 and y.flags.c_contiguous:
        rows = y.reshape(n, -1)  # a view, so the add lands in y
        rows += np.tile(b, ho * wo)
    else:
        y += b


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
    padding = padding.lower() if isinstance(padding, str) else padding
    if padding not in PADDINGS_2D:
        raise unknown_name("padding", padding, PADDINGS_2D)
    x = _as_float(x)
    w = np.asarray(w)
    pads = resolve_pads(x.shape[1:3], w.shape[:2], strides, padding, dilation)
    return _conv_forward(x, w, b, strides, pads, dilation, impl)


def conv2d_backward(dy, cache: ConvCache, need_dx=True):
    """Gradients of :func:`conv2d_forward`.

    Shapes: dy (N, Ho, Wo, F) -> dx (N, H, W, C) or None (when ``need_dx`` is False),
    dw (kh, kw, C, F), db (F,) or None (when the forward had no bias).
    """
    w = cache.kernel
    kh, kw, c, f = w.shape
    w2 = w.reshape(-1, f)
    dy2 = np.asarray(dy, dtype=w.dtype).reshape(-1, f)
    channel_major = cache.layout == "channel"
    dw = ((cache.col if channel_major else cache.col.T) @ dy2).reshape(w.shape)
    db = None
    if cache.has_bias:
        # A BLAS matrix-vector product: several times faster than dy2.sum(axis=0) for few
        # columns, and it sums in blocks, so float32 loses less.
        db = np.ones(dy2.shape[0], dtype=dy2.dtype) @ dy2
    dx = None
    if need_dx:
        n = cache.x_shape[0]
        ho, wo = cache.out_shape[1:3]
        geometry = (cache.x_shape, (kh, kw), cache.strides, cache.pads, cache.dilation)
        kern = _kernels(cache.impl) if c > FEW_CHANNELS else _np_kernels
        if cache.layout == "pointwise":
            dx = _pointwise_input_grad(dy2 @ w2.T, cache)
        elif kern is _np_kernels and (c <= FEW_CHANNELS or 2 * wo >= c):
            # NumPy's slice-adds are fastest over long rows: channel-major unless the
            # channels outnumber the output columns.
            dcolt = (w2 @ dy2.T).reshape(kh, kw, c, n, ho, wo)
            dx = _np_kernels.col2im_cmajor(dcolt, *geometry)
        else:
            dcol = (dy2 @ w2.T).reshape(n, ho, wo, kh, kw, c)
            dx = kern.col2im(dcol, *geometry)
    if cache.squeeze_h:
        dx = None if dx is None else dx.reshape(cache.x_shape[0], *cache.x_shape[2:])
        dw = dw.reshape(w.shape[1:])
    return dx, dw, db


def _pointwise_input_grad(dcol, cache):
    """dx of a 1x1 convolution: dcol (N*Ho*Wo, C) placed on the strided input pixels."""
    if cache.strides == (1, 1):
        return dcol.reshape(cache.x_shape)
    n, _, _, c = cache.x_shape
    (sh, sw), (ho, wo) = cache.strides, cache.out_shape[1:3]
    dx = np.zeros(cache.x_shape, dtype=dcol.dtype)
    dx[:, :sh * ho:sh, :sw * wo:sw, :] = dcol.reshape(n, ho, wo, c)
    return dx


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
    padding = padding.lower() if isinstance(padding, str) else padding
    if padding not in PADDINGS_1D:
        raise unknown_name("padding", padding, PADDINGS_1D)
    x = _as_float(x)
    w = np.asarray(w)
    if x.ndim != 3 or w.ndim != 3:
        raise ValueError(
            f"conv1d expects x (N, L, C) and kernel (k, C, F), got shapes {x.shape} and {w.shape}."
        )
    pads = ((0, 0),) + resolve_pads(x.shape[1:2], w.shape[:1], (stride,), padding, (dilation,))
    y, cache = _conv_forward(x[:, None], w[None], b, (1, stride), pads, (1, dilation), impl,
                             where="conv1d")
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
