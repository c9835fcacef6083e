"""numba-compiled depthwise convolution kernels (optional: ``pip install filterbank[fast]``).

Same contract as the NumPy path of :mod:`filterbank.ops.depthwise`, which stays the
reference (the tests compare the two). One pass over the output instead of kh*kw passes
of whole-array products: for each output pixel, the kernel offsets, then the channels
(the contiguous inner loop). The kernel gradient accumulates in float64, so a float32
batch loses nothing to a long running sum. Serial on purpose (see ``_numba_conv``).
Loaded through :func:`filterbank.ops.conv_gemm.compiled_module`.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _forward_m1(xp, w, sh, sw, dh, dw, y):
    n_, ho_, wo_, c_ = y.shape
    kh, kw = w.shape[0], w.shape[1]
    for n in range(n_):
        for a in range(ho_):
            for b in range(wo_):
                out = y[n, a, b]
                out[:] = 0.0
                for i in range(kh):
                    h = a * sh + i * dh
                    for j in range(kw):
                        x_row = xp[n, h, b * sw + j * dw]
                        w_row = w[i, j]
                        for c in range(c_):
                            out[c] += x_row[c] * w_row[c]


@numba.njit(cache=True, nogil=True)
def _forward_mm(xp, w, sh, sw, dh, dw, y):
    n_, ho_, wo_, c_, m_ = y.shape
    kh, kw = w.shape[0], w.shape[1]
    for n in range(n_):
        for a in range(ho_):
            for b in range(wo_):
                out = y[n, a, b]
                out[:, :] = 0.0
                for i in range(kh):
                    h = a * sh + i * dh
                    for j in range(kw):
                        x_row = xp[n, h, b * sw + j * dw]
                        for c in range(c_):
                            xv = x_row[c]
                            for m in range(m_):
                                out[c, m] += xv * w[i, j, c, m]


def depthwise_forward(xp, w, sh, sw, dh, dw, y):
    """y (N, Ho, Wo, C, M) = the depthwise convolution of the padded input xp (N, Hp, Wp, C)
    with w (kh, kw, C, M); all C-contiguous, one dtype."""
    if w.shape[3] == 1:
        _forward_m1(xp, w[:, :, :, 0].copy(), sh, sw, dh, dw, y.reshape(y.shape[:4]))
    else:
        _forward_mm(xp, w, sh, sw, dh, dw, y)


@numba.njit(cache=True, nogil=True)
def _backward_m1(xp, w, dy, sh, sw, dh, dw, need_dx, dxp, dw64):
    n_, ho_, wo_, c_ = dy.shape
    kh, kw = w.shape[0], w.shape[1]
    # Per output row, the kernel gradient sums in the input's type (short sums, vectorised);
    # each row's total then goes into the float64 accumulator.
    row_acc = np.zeros((kh, kw, c_), dtype=dy.dtype)
    for n in range(n_):
        for a in range(ho_):
            row_acc[:] = 0.0
            for b in range(wo_):
                g_row = dy[n, a, b]
                for i in range(kh):
                    h = a * sh + i * dh
                    for j in range(kw):
                        col = b * sw + j * dw
                        x_row = xp[n, h, col]
                        acc = row_acc[i, j]
                        for c in range(c_):
                            acc[c] += x_row[c] * g_row[c]
                        if need_dx:
                            d_row = dxp[n, h, col]
                            w_row = w[i, j]
                            for c in range(c_):
                                d_row[c] += g_row[c] * w_row[c]
            for i in range(kh):
                for j in range(kw):
                    for c in range(c_):
                        dw64[i, j, c] += row_acc[i, j, c]


@numba.njit(cache=True, nogil=True)
def _backward_mm(xp, w, dy, sh, sw, dh, dw, need_dx, dxp, dw64):
    n_, ho_, wo_, c_, m_ = dy.shape
    kh, kw = w.shape[0], w.shape[1]
    for n in range(n_):
        for a in range(ho_):
            for b in range(wo_):
                g = dy[n, a, b]
                for i in range(kh):
                    h = a * sh + i * dh
                    for j in range(kw):
                        col = b * sw + j * dw
                        for c in range(c_):
                            xv = xp[n, h, col, c]
                            total = 0.0
                            for m in range(m_):
                                dw64[i, j, c, m] += xv * g[c, m]
                                total += g[c, m] * w[i, j, c, m]
                            if need_dx:
                                dxp[n, h, col, c] += total


def depthwise_backward(xp, w, dy, sh, sw, dh, dw, need_dx, dxp, dw_out):
    """Adds the input gradient (padded, into dxp when ``need_dx``) and writes the kernel
    gradient into dw_out. dy (N, Ho, Wo, C, M); the rest as :func:`depthwise_forward`."""
    dw64 = np.zeros(w.shape, dtype=np.float64)
    if w.shape[3] == 1:
        acc = dw64[:, :, :, 0].copy()
        _backward_m1(
            xp, w[:, :, :, 0].copy(), dy.reshape(dy.shape[:4]), sh, sw, dh, dw, need_dx, dxp, acc
        )
        dw64[:, :, :, 0] = acc
    else:
        _backward_mm(xp, w, dy, sh, sw, dh, dw, need_dx, dxp, dw64)
    dw_out[...] = dw64
