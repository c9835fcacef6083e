"""numba-compiled im2col / col2im (optional: ``pip install filterbank[fast]``).

Same contract as :mod:`filterbank.ops.im2col`, which stays the reference; the tests
compare the two. These kernels fold the zero padding into the loops (no padded copy
of the input) and col2im makes one pass over the gradient instead of kh*kw passes.

They are serial on purpose: the GEMMs already use BLAS's thread pool, and a second
pool (numba ``parallel=True``) beside it made training several times slower.
``cache=True`` keeps the compiled code on disk, so only the first run compiles.

This module imports numba at its top; :mod:`filterbank.ops.conv` imports it lazily
(first convolution), so ``import filterbank`` never pays for numba.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _im2col_kernel(x, kh, kw, sh, sw, dh, dw, pt, pl, col):
    n_, h_, w_, c_ = x.shape
    ho_, wo_ = col.shape[1], col.shape[2]
    for n in range(n_):
        for ho in range(ho_):
            for wo in range(wo_):
                for i in range(kh):
                    h = ho * sh + i * dh - pt
                    for j in range(kw):
                        w = wo * sw + j * dw - pl
                        if 0 <= h < h_ and 0 <= w < w_:
                            for c in range(c_):
                                col[n, ho, wo, i, j, c] = x[n, h, w, c]
                        else:
                            for c in range(c_):
                                col[n, ho, wo, i, j, c] = 0.0


@numba.njit(cache=True, nogil=True)
def _col2im_kernel(dcol, sh, sw, dh, dw, pt, pl, dx):
    n_, ho_, wo_, kh, kw, c_ = dcol.shape
    h_, w_ = dx.shape[1], dx.shape[2]
    for n in range(n_):
        for ho in range(ho_):
            for wo in range(wo_):
                for i in range(kh):
                    h = ho * sh + i * dh - pt
                    if h < 0 or h >= h_:
                        continue
                    for j in range(kw):
                        w = wo * sw + j * dw - pl
                        if w < 0 or w >= w_:
                            continue
                        for c in range(c_):
                            dx[n, h, w, c] += dcol[n, ho, wo, i, j, c]


def im2col(x, kernel, strides, pads, dilation, out_hw, out=None) -> np.ndarray:
    """Compiled :func:`filterbank.ops.im2col.im2col`: (N, H, W, C) -> (N, Ho, Wo, kh, kw, C)."""
    x = np.ascontiguousarray(x)
    col = (
        np.empty((x.shape[0], *out_hw, *kernel, x.shape[3]), dtype=x.dtype) if out is None else out
    )
    _im2col_kernel(
        x,
        kernel[0],
        kernel[1],
        strides[0],
        strides[1],
        dilation[0],
        dilation[1],
        pads[0][0],
        pads[1][0],
        col,
    )
    return col


def col2im(dcol, x_shape, kernel, strides, pads, dilation, out=None) -> np.ndarray:
    """Compiled :func:`filterbank.ops.im2col.col2im`: (N, Ho, Wo, kh, kw, C) -> (N, H, W, C).

    ``out``: an optional C-contiguous array of ``x_shape`` to write dx into (zeroed here).
    """
    dcol = np.ascontiguousarray(dcol)
    if out is None:
        dx = np.zeros(x_shape, dtype=dcol.dtype)
    else:
        dx = out
        dx.fill(0)
    _col2im_kernel(
        dcol, strides[0], strides[1], dilation[0], dilation[1], pads[0][0], pads[1][0], dx
    )
    return dx
