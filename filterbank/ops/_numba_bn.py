"""Numba-compiled serial kernels of the fused BatchNormalization -> ReLU -> 2x2 max pool step.

Imported lazily through :func:`filterbank.ops.kernels.compiled` ("ops._numba_bn"), never by
``import filterbank``. Serial on purpose, like every compiled kernel here: the GEMMs own the
threads (see ``_numba_pool.py``). The math and the NumPy reference are in
:mod:`filterbank.ops.bn_relu_pool`.

Three passes over the full-size map instead of NumPy's ~15 (each NumPy call is a pass):

* :func:`channel_moments`: one read of z, float64 sums of ``z - z[0]`` and their squares
  (shifted by the first sample's value, so the one-pass variance keeps its accuracy when
  the mean is large next to the spread);
* :func:`bn_relu_pool2x2_forward`: one read of z, writing only the pooled map, its argmax
  and the normalized value of each window's winner (what the backward's sums need);
* :func:`bn_relu_pool2x2_backward`: one read of z and one write of dz, after sums over the
  pooled map only (the ReLU and the pooling route the gradient to one cell per window).

Shapes: z, dz (N, H, W, C); y, argmax, xhat_win, grad (N, H//2, W//2, C); vectors (C,).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def channel_moments(z2, mean_out, var_out):  # pragma: no cover
    """Mean and biased variance per column of z2 (M, C), into mean_out / var_out."""
    m, c = z2.shape
    shift = np.empty(c, np.float64)
    s = np.zeros(c, np.float64)
    ss = np.zeros(c, np.float64)
    for j in range(c):
        shift[j] = z2[0, j]
    for i in range(m):
        row = z2[i]
        for j in range(c):
            d = row[j] - shift[j]
            s[j] += d
            ss[j] += d * d
    for j in range(c):
        mu = s[j] / m
        mean_out[j] = shift[j] + mu
        var_out[j] = max(ss[j] / m - mu * mu, 0.0)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def bn_relu_pool2x2_forward(z, mean, inv_std, gamma, beta, y, argmax, xhat_win):  # pragma: no cover
    """y = maxpool2x2(relu(gamma * (z - mean) * inv_std + beta)); argmax and the winner's
    normalized value. The same operation order as the NumPy reference (subtract, scale by
    inv_std, by gamma, add beta), so the values match it given the same statistics."""
    n_batch = z.shape[0]
    channels = z.shape[3]
    oh, ow = y.shape[1], y.shape[2]
    zero = z.dtype.type(0)
    best_k = np.empty(channels, np.int32)
    for n in range(n_batch):
        for oy in range(oh):
            for ox in range(ow):
                o = y[n, oy, ox]
                xw = xhat_win[n, oy, ox]
                for k in range(4):
                    row = z[n, 2 * oy + k // 2, 2 * ox + k % 2]
                    for c in range(channels):
                        h = (row[c] - mean[c]) * inv_std[c]
                        a = h * gamma[c] + beta[c]
                        if k == 0:
                            o[c] = a
                            xw[c] = h
                            best_k[c] = 0
                        else:
                            w = (a > o[c]) | (a != a)
                            o[c] = a if w else o[c]
                            xw[c] = h if w else xw[c]
                            best_k[c] = k if w else best_k[c]
                ar = argmax[n, oy, ox]
                for c in range(channels):
                    v = o[c]
                    o[c] = v if (v > zero) | (v != v) else zero
                    ar[c] = best_k[c]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def window_sums(grad, y, xhat_win, sum_g, sum_gx):  # pragma: no cover
    """sum_g = sum(g'), sum_gx = sum(g' * xhat) over the pooled cells, g' = grad * (y > 0):
    the only cells with a nonzero gradient through the ReLU and the pooling."""
    channels = grad.shape[3]
    g2 = grad.reshape(-1, channels)
    y2 = y.reshape(-1, channels)
    x2 = xhat_win.reshape(-1, channels)
    for c in range(channels):
        sum_g[c] = 0.0
        sum_gx[c] = 0.0
    zero = grad.dtype.type(0)
    for i in range(g2.shape[0]):
        for c in range(channels):
            g = g2[i, c] if y2[i, c] > zero else zero
            sum_g[c] += g
            sum_gx[c] += g * x2[i, c]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def bn_relu_pool2x2_backward(
    grad, y, argmax, z, mean, inv_std, scale, c0, c1, dz
):  # pragma: no cover
    """dz = scale * g'_cell - c0 - xhat * c1 over every cell of z, where g'_cell is the
    pooled gradient at each window's winner (where y > 0) and 0 elsewhere;
    ``c0 = scale * sum_g / M`` and ``c1 = scale * sum_gx / M`` (:func:`window_sums`).
    Cells outside every window (a last odd row or column) get the g' = 0 value too."""
    n_batch, height, width, channels = z.shape
    oh, ow = y.shape[1], y.shape[2]
    zero = z.dtype.type(0)
    for n in range(n_batch):
        for oy in range(oh):
            for ox in range(ow):
                g = grad[n, oy, ox]
                yo = y[n, oy, ox]
                ar = argmax[n, oy, ox]
                for k in range(4):
                    r = 2 * oy + k // 2
                    col = 2 * ox + k % 2
                    row = z[n, r, col]
                    d = dz[n, r, col]
                    for c in range(channels):
                        h = (row[c] - mean[c]) * inv_std[c]
                        gc = g[c] if (ar[c] == k) & (yo[c] > zero) else zero
                        d[c] = scale[c] * gc - c0[c] - h * c1[c]
        # the last odd row / column: read by no window
        for r in range(height):
            for col in range(width):
                if r < 2 * oh and col < 2 * ow:
                    continue
                row = z[n, r, col]
                d = dz[n, r, col]
                for c in range(channels):
                    h = (row[c] - mean[c]) * inv_std[c]
                    d[c] = -c0[c] - h * c1[c]
