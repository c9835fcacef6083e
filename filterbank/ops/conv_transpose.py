"""Transposed convolution ("deconvolution"), forward and backward, NHWC / NWC (Keras layouts).

A transposed convolution is the input gradient of an ordinary convolution, run forward.
With the Keras kernel (kh, kw, F, C) -- F output channels, C input channels -- and the
*associated* convolution that maps a (N, Hf, Wf, F) map to (N, H, W, C) with stride s,
dilation d and no padding (Hf = (H-1)*s + (kh-1)*d + 1, the "full" size):

* forward: ``dcol = x.reshape(-1, C) @ kernel.reshape(-1, C).T`` then ``full = col2im(dcol)``
  (one GEMM and one scatter-add), then Keras's padding crops (or zero-extends) ``full``;
* backward: ``col = im2col(dfull)``, ``dx = col @ kernel2``, ``dkernel = col.T @ x2`` (two
  GEMMs), with ``dfull`` the output gradient placed back on the full grid.

Output size per axis (Keras 3, ``k`` the dilated kernel):

* "valid": ``(n-1)*s + max(k, s)`` (``(n-1)*s + k + output_padding`` when given);
* "same": ``n*s`` (``(n-1)*s + k % 2 + output_padding`` when given).

Where that window sits on the full grid follows Keras's JAX/TensorFlow convention: the
full grid is cut by ``(k-1) - left_pad`` cells at the start with
``left_pad = min(ceil(pad/2), k-1)``, pad = ``s + k - 2`` ("same") or
``k + k%2 - 2 + output_padding`` ("same" with output_padding), and 0 cut for "valid";
cells past the end of the full grid are zeros.

Example:
    >>> import numpy as np
    >>> x = np.array([1.0, 2.0]).reshape(1, 1, 2, 1)
    >>> w = np.array([1.0, 10.0, 100.0]).reshape(1, 3, 1, 1)
    >>> y, cache = conv2d_transpose_forward(x, w, strides=(1, 2))
    >>> y.ravel().tolist()      # 1*[1, 10, 100] + 2*[1, 10, 100] shifted by the stride 2
    [1.0, 10.0, 102.0, 20.0, 200.0]
    >>> dx, dw, db = conv2d_transpose_backward(np.ones_like(y), cache)
    >>> dx.ravel().tolist()
    [111.0, 111.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import im2col as _np_kernels
from .conv import _as_float, _padding, _pair
from .conv_gemm import FEW_CHANNELS, kernels
from .padding import effective_kernel

PADDINGS = ("valid", "same")


def transpose_output_length(n, k, s, padding, output_padding=None, dilation=1):
    """Keras 3's output size of a transposed convolution along one axis (None stays None).

    Example:
        >>> transpose_output_length(7, 3, 2, "valid"), transpose_output_length(7, 3, 2, "same")
        (15, 14)
        >>> transpose_output_length(7, 3, 2, "same", output_padding=0)
        13
    """
    if n is None:
        return None
    k = effective_kernel(k, dilation)
    if padding == "valid":
        extra = max(k, s) - k if output_padding is None else output_padding
        return (n - 1) * s + k + extra
    if output_padding is None:
        return n * s
    return (n - 1) * s + k % 2 + output_padding


def transpose_crop(k, s, padding, output_padding=None, dilation=1):
    """Cells cut from the start of the full grid (Keras's JAX/TensorFlow placement).

    Example:
        >>> transpose_crop(3, 2, "same"), transpose_crop(4, 2, "same"), transpose_crop(3, 1, "same")
        (0, 1, 1)
    """
    k = effective_kernel(k, dilation)
    if padding == "valid":
        return 0
    pad = s + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    left = min(pad // 2 + pad % 2, k - 1)
    return k - 1 - left


@dataclass
class TransposePlan:
    """One transposed convolution's geometry for one input shape.

    ``x_shape`` (N, H, W, C), ``w_shape`` (kh, kw, F, C); ``full_hw`` the full grid,
    ``crop`` the (rows, cols) cut from its start, ``out_shape`` (N, Ho, Wo, F).
    """

    x_shape: tuple
    w_shape: tuple
    strides: tuple
    dilation: tuple
    full_hw: tuple
    crop: tuple
    out_shape: tuple

    @classmethod
    def make(cls, x_shape, w_shape, strides, padding, output_padding, dilation):
        n, h, wd, c = x_shape
        kh, kw, f, cin = w_shape
        if cin != c:
            raise ValueError(
                f"conv2d_transpose: the input has {c} channels but the kernel {tuple(w_shape)} "
                f"(kh, kw, out, in) expects {cin}."
            )
        ops = (None, None) if output_padding is None else tuple(output_padding)
        full = tuple(
            (n_ - 1) * s + effective_kernel(k, d)
            for n_, k, s, d in zip((h, wd), (kh, kw), strides, dilation)
        )
        crop = tuple(
            transpose_crop(k, s, padding, op, d)
            for k, s, op, d in zip((kh, kw), strides, ops, dilation)
        )
        out = tuple(
            transpose_output_length(n_, k, s, padding, op, d)
            for n_, k, s, op, d in zip((h, wd), (kh, kw), strides, ops, dilation)
        )
        if min(out) < 1:
            raise ValueError(
                f"conv2d_transpose: input {(h, wd)}, kernel {(kh, kw)}, strides {strides}, "
                f"padding {padding!r} and output_padding {output_padding} give an empty output "
                f"{out}. Use padding='valid' or a larger output_padding."
            )
        return cls(
            tuple(x_shape),
            tuple(w_shape),
            tuple(strides),
            tuple(dilation),
            full,
            crop,
            (n, *out, f),
        )

    # The associated convolution maps the full grid (N, Hf, Wf, F) to x's (N, H, W, C).
    def _geometry(self):
        n = self.x_shape[0]
        f = self.w_shape[2]
        return (
            (n, *self.full_hw, f),
            self.w_shape[:2],
            self.strides,
            ((0, 0), (0, 0)),
            self.dilation,
        )

    def _window(self):
        """(rows, cols) slices of the output within the full grid, and the part inside it."""
        (ch, cw), (ho, wo) = self.crop, self.out_shape[1:3]
        hf, wf = self.full_hw
        return ch, cw, min(ho, hf - ch), min(wo, wf - cw)

    def forward(self, x, w, b=None):
        n, h, wd, c = self.x_shape
        kh, kw, f, _ = self.w_shape
        w2 = w.reshape(kh * kw * f, c)
        geometry = self._geometry()
        kern = kernels(None) if f > FEW_CHANNELS else _np_kernels
        if kern is _np_kernels:
            # Channel-major scatter-adds run over whole rows (see conv_gemm's backward).
            dcolt = (w2 @ x.reshape(-1, c).T).reshape(kh, kw, f, n, h, wd)
            full = _np_kernels.col2im_cmajor(dcolt, *geometry)
        else:
            dcol = (x.reshape(-1, c) @ w2.T).reshape(n, h, wd, kh, kw, f)
            full = kern.col2im(dcol, *geometry)
        ch, cw, hh, ww = self._window()
        if (ch, cw) == (0, 0) and full.shape[1:3] == self.out_shape[1:3]:
            y = full
        else:
            y = np.zeros(self.out_shape, dtype=x.dtype)
            y[:, :hh, :ww] = full[:, ch : ch + hh, cw : cw + ww]
        if b is not None:
            y += b
        return y

    def backward(self, dy, w, x, need_dx=True, need_db=True):
        n, h, wd, c = self.x_shape
        kh, kw, f, _ = self.w_shape
        ch, cw, hh, ww = self._window()
        if (ch, cw) == (0, 0) and self.full_hw == self.out_shape[1:3]:
            dfull = dy
        else:
            dfull = np.zeros((n, *self.full_hw, f), dtype=dy.dtype)
            dfull[:, ch : ch + hh, cw : cw + ww] = dy[:, :hh, :ww]
        geometry = self._geometry()[1:]
        x2 = x.reshape(-1, c)
        w2 = w.reshape(kh * kw * f, c)
        if f <= FEW_CHANNELS:
            colt = _np_kernels.im2col_cmajor(dfull, *geometry, (h, wd)).reshape(kh * kw * f, -1)
            dw = (colt @ x2).reshape(self.w_shape)
            dx = (colt.T @ w2).reshape(self.x_shape) if need_dx else None
        else:
            col = _np_kernels.im2col(dfull, *geometry, (h, wd)).reshape(-1, kh * kw * f)
            dw = (col.T @ x2).reshape(self.w_shape)
            dx = (col @ w2).reshape(self.x_shape) if need_dx else None
        db = None
        if need_db:
            db = np.ones(n * self.out_shape[1] * self.out_shape[2], dy.dtype) @ dy.reshape(-1, f)
        return dx, dw, db


@dataclass
class TransposeCache:
    plan: TransposePlan
    x: np.ndarray
    kernel: np.ndarray
    has_bias: bool
    squeeze_h: bool = False


def _check_output_padding(output_padding, strides, rank):
    if output_padding is None:
        return None
    op = (
        (output_padding,) * rank
        if isinstance(output_padding, (int, np.integer))
        else tuple(output_padding)
    )
    if len(op) != rank or any(int(p) < 0 or int(p) >= s for p, s in zip(op, strides)):
        raise ValueError(
            f"conv_transpose output_padding expects {rank} non-negative integers, each smaller "
            f"than its stride {strides}, got {output_padding!r}."
        )
    return tuple(int(p) for p in op)


def conv2d_transpose_forward(
    x, w, b=None, strides=(1, 1), padding="valid", output_padding=None, dilation=(1, 1)
):
    """Transposed 2D convolution, NHWC. Returns (y, cache).

    Shapes: x (N, H, W, C), w (kh, kw, F, C) (Keras's Conv2DTranspose kernel), b (F,) or
    None -> y (N, Ho, Wo, F), sizes as in the module docstring.

    Example:
        >>> import numpy as np
        >>> y, _ = conv2d_transpose_forward(np.ones((1, 7, 7, 4)), np.ones((3, 3, 2, 4)),
        ...                                 strides=2, padding="same")
        >>> y.shape
        (1, 14, 14, 2)
    """
    strides, dilation = _pair(strides, "strides"), _pair(dilation, "dilation")
    padding = _padding(padding, PADDINGS)
    output_padding = _check_output_padding(output_padding, strides, 2)
    x = np.ascontiguousarray(_as_float(x))
    w = np.asarray(w, dtype=x.dtype)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(
            f"conv2d_transpose expects x (N, H, W, C) and kernel (kh, kw, F, C), got shapes "
            f"{x.shape} and {w.shape}."
        )
    plan = TransposePlan.make(x.shape, w.shape, strides, padding, output_padding, dilation)
    y = plan.forward(x, w, None if b is None else np.asarray(b, dtype=x.dtype))
    return y, TransposeCache(plan, x, w, b is not None)


def conv2d_transpose_backward(dy, cache: TransposeCache, need_dx=True):
    """Gradients of :func:`conv2d_transpose_forward`: (dx or None, dw, db or None)."""
    w = cache.kernel
    dy = np.ascontiguousarray(dy, dtype=w.dtype)
    if cache.squeeze_h:
        dy = dy[:, None]
    dx, dw, db = cache.plan.backward(
        dy, w.reshape(cache.plan.w_shape), cache.x, need_dx, cache.has_bias
    )
    if cache.squeeze_h:
        dx = None if dx is None else dx[:, 0]
        dw = dw.reshape(w.shape)
    return dx, dw, db


def conv1d_transpose_forward(
    x, w, b=None, stride=1, padding="valid", output_padding=None, dilation=1
):
    """Transposed 1D convolution, NWC: the 2D one with a height of 1.

    Shapes: x (N, L, C), w (k, F, C), b (F,) or None -> y (N, Lo, F).

    Example:
        >>> import numpy as np
        >>> y, _ = conv1d_transpose_forward(np.ones((1, 3, 1)), np.ones((2, 1, 1)), stride=2)
        >>> y.ravel().tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    stride = int(stride[0] if isinstance(stride, (tuple, list)) else stride)
    dilation = int(dilation[0] if isinstance(dilation, (tuple, list)) else dilation)
    if output_padding is not None:
        op = output_padding
        op = op[0] if isinstance(op, (tuple, list)) and len(op) == 1 else op
        output_padding = (0, op) if isinstance(op, (int, np.integer)) else (0, None)
        if output_padding[1] is None:
            raise ValueError(f"conv1d_transpose output_padding expects an integer, got {op!r}.")
        if not 0 <= output_padding[1] < stride:
            raise ValueError(
                f"conv1d_transpose output_padding expects a non-negative integer smaller than "
                f"the stride {stride}, got {op!r}."
            )
    x = np.ascontiguousarray(_as_float(x))
    w = np.asarray(w, dtype=x.dtype)
    if x.ndim != 3 or w.ndim != 3:
        raise ValueError(
            f"conv1d_transpose expects x (N, L, C) and kernel (k, F, C), got shapes {x.shape} "
            f"and {w.shape}."
        )
    padding = _padding(padding, PADDINGS)
    plan = TransposePlan.make(
        (x.shape[0], 1, *x.shape[1:]),
        (1, *w.shape),
        (1, stride),
        padding,
        output_padding,
        (1, dilation),
    )
    # The dummy height axis (size 1, kernel 1, stride 1, output_padding 0) stays 1 row.
    y = plan.forward(x[:, None], w[None], None if b is None else np.asarray(b, dtype=x.dtype))
    return y[:, 0], TransposeCache(plan, x[:, None], w, b is not None, squeeze_h=True)
