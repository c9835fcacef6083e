"""im2col / col2im in plain NumPy: the reference path of every convolution.

A convolution becomes one matrix product once every receptive field is copied into
a row of the *column matrix*::

    col[n, ho, wo, i, j, c] = x_padded[n, ho*sh + i*dh, wo*sw + j*dw, c]

Shapes: ``x`` (N, H, W, C) -> ``col`` (N, Ho, Wo, kh, kw, C). Reshaped to
(N*Ho*Wo, kh*kw*C) and multiplied by the Keras kernel reshaped to (kh*kw*C, F), it
gives (N*Ho*Wo, F): already the NHWC output, no transpose needed.

``col2im`` is the adjoint (the input gradient's scatter): each kernel offset
(i, j) adds one strided slice back into the padded input. That is a loop over
kh*kw offsets, each step vectorized over batch, pixels and channels -- never a
loop over pixels and never ``np.add.at`` (which is unbuffered and slow).

Example:
    >>> import numpy as np
    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> col = im2col(x, (2, 2), (1, 1), ((0, 0), (0, 0)), (1, 1), (2, 2))
    >>> col.reshape(4, 4)[0]          # the top-left 2x2 window
    array([0., 1., 3., 4.])
"""

from __future__ import annotations

import numpy as np


def pad_input(x: np.ndarray, pads) -> np.ndarray:
    """Zero-pad the two spatial axes of NHWC ``x``; ``pads`` is ((top, bottom), (left, right)).

    Shapes: (N, H, W, C) -> (N, H + top + bottom, W + left + right, C). Returns ``x``
    itself when there is nothing to pad.
    """
    (pt, pb), (pl, pr) = pads
    if pt == pb == pl == pr == 0:
        return x
    n, h, w, c = x.shape
    # zeros + one slice assignment is several times faster than np.pad.
    xp = np.zeros((n, h + pt + pb, w + pl + pr, c), dtype=x.dtype)
    xp[:, pt : pt + h, pl : pl + w, :] = x
    return xp


def _window_slices(i, j, strides, dilation, out_hw):
    """The (rows, cols) slices of the padded input that kernel offset (i, j) touches."""
    (sh, sw), (dh, dw), (ho, wo) = strides, dilation, out_hw
    h0, w0 = i * dh, j * dw
    return slice(h0, h0 + sh * (ho - 1) + 1, sh), slice(w0, w0 + sw * (wo - 1) + 1, sw)


def im2col(x, kernel, strides, pads, dilation, out_hw, out=None) -> np.ndarray:
    """Copy every receptive field of NHWC ``x`` into a C-contiguous array (pixel-major).

    Shapes: x (N, H, W, C) -> col (N, Ho, Wo, kh, kw, C), ``out_hw`` = (Ho, Wo).
    ``kernel``, ``strides``, ``dilation`` are (rows, cols) pairs; ``pads`` is
    ((top, bottom), (left, right)). ``out``: an optional array of col's shape to fill.
    """
    kh, kw = kernel
    ho, wo = out_hw
    n, c = x.shape[0], x.shape[3]
    xp = np.ascontiguousarray(pad_input(x, pads))
    # One strided view of all windows, then one copy: its inner loop runs over the kw*C
    # values of a kernel row, contiguous in both arrays when dilation is 1. (np.ndarray on
    # the buffer is np.lib.stride_tricks.as_strided without its Python overhead, which
    # matters for one-sample predictions.)
    sn, s_h, s_w, sc = xp.strides
    (sh, sw), (dh, dw) = strides, dilation
    view = np.ndarray(
        (n, ho, wo, kh, kw, c),
        dtype=xp.dtype,
        buffer=xp,
        strides=(sn, s_h * sh, s_w * sw, s_h * dh, s_w * dw, sc),
    )
    if out is None:
        return np.ascontiguousarray(view)
    np.copyto(out, view)
    return out


def col2im(dcol, x_shape, kernel, strides, pads, dilation) -> np.ndarray:
    """Sum the column gradient back onto the input: the adjoint of :func:`im2col`.

    Shapes: dcol (N, Ho, Wo, kh, kw, C) -> dx ``x_shape`` = (N, H, W, C).
    """
    n, h, w, c = x_shape
    kh, kw = kernel
    ho, wo = dcol.shape[1:3]
    (pt, pb), (pl, pr) = pads
    dxp = np.zeros((n, h + pt + pb, w + pl + pr, c), dtype=dcol.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, cols = _window_slices(i, j, strides, dilation, (ho, wo))
            dxp[:, rows, cols, :] += dcol[:, :, :, i, j, :]
    return _crop(dxp, pads, h, w)


# ---- channel-major variants, for inputs with few channels -----------------------------------
# With C = 1..4 the pixel-major copies above have inner loops of only C (or kw*C) values and
# NumPy spends its time on loop overhead. Putting channels and kernel offsets first,
# colT (kh, kw, C, N, Ho, Wo), makes every per-offset copy run over whole output rows.
# colT reshaped to (kh*kw*C, N*Ho*Wo) is the transpose of the pixel-major column matrix,
# so the GEMMs are the same products with a transposed operand (free for BLAS).


def im2col_cmajor(x, kernel, strides, pads, dilation, out_hw, out=None) -> np.ndarray:
    """Channel-major im2col. Shapes: x (N, H, W, C) -> colT (kh, kw, C, N, Ho, Wo).

    ``out``: an optional C-contiguous array of colT's shape to fill.
    """
    kh, kw = kernel
    ho, wo = out_hw
    n, c = x.shape[0], x.shape[3]
    # (C, N, Hp, Wp), C-contiguous (for one channel the transpose already is).
    xpt = np.ascontiguousarray(pad_input(x, pads).transpose(3, 0, 1, 2))
    (sh, sw), (dh, dw) = strides, dilation
    sc, sn, s_h, s_w = xpt.strides
    # One strided view of every window, channel-major, then one copy: its inner loop runs
    # over the Wo cells of an output row. (np.ndarray on the buffer is as_strided without
    # its Python overhead, which matters for one-sample predictions.)
    view = np.ndarray(
        (kh, kw, c, n, ho, wo),
        dtype=xpt.dtype,
        buffer=xpt,
        strides=(s_h * dh, s_w * dw, sc, sn, s_h * sh, s_w * sw),
    )
    if out is None:
        return np.ascontiguousarray(view)
    np.copyto(out, view)
    return out


def col2im_cmajor(dcolt, x_shape, kernel, strides, pads, dilation) -> np.ndarray:
    """Adjoint of :func:`im2col_cmajor`. Shapes: dcolT (kh, kw, C, N, Ho, Wo) -> dx (N, H, W, C)."""
    n, h, w, c = x_shape
    kh, kw = kernel
    ho, wo = dcolt.shape[4:6]
    (pt, pb), (pl, pr) = pads
    dxpt = np.zeros((c, n, h + pt + pb, w + pl + pr), dtype=dcolt.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, cols = _window_slices(i, j, strides, dilation, (ho, wo))
            dxpt[:, :, rows, cols] += dcolt[i, j]
    return _crop(dxpt.transpose(1, 2, 3, 0), pads, h, w)


def _crop(dxp, pads, h, w):
    """Drop the padding from an (N, Hp, Wp, C) gradient; always returns a C-contiguous array."""
    (pt, _), (pl, _) = pads
    return np.ascontiguousarray(dxp[:, pt : pt + h, pl : pl + w, :])
