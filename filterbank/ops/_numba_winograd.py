"""Numba-compiled serial kernels of the Winograd F(2x2, 3x3) inference path.

Imported lazily by :mod:`filterbank.ops.winograd` (never by ``import filterbank``), only
when numba is installed and ``FILTERBANK_DISABLE_NUMBA`` is unset. Each kernel is one pass
over its arrays, its innermost loop running over channels (contiguous in NHWC), so LLVM
vectorizes it; the GEMMs between the transforms are NumPy's (BLAS, multi-threaded).
``contract`` lets LLVM fuse a multiply and an add (one rounding fewer), nothing more.

Layouts: a tile's 16 transformed values sit in one row, ``v[t, k * C + c]`` for the
input and ``m[t, k * F + f]`` for the products, ``k = 4 * row + col`` of the 4x4 tile;
tiles are numbered ``t = (n * TH + a) * TW + b``. Rows may be longer than ``16 * C``
(padding that keeps the row stride off multiples of 4 KiB, see ``winograd.py``).

Shapes: x (N, H, W, C); w (3, 3, C, F); u (16, C, F); v (N*TH*TW, >= 16*C);
m (N*TH*TW, >= 16*F); y (N, TH, TW, F).
"""

from __future__ import annotations

import numba
import numpy as np

_OPTS = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})


@numba.njit(**_OPTS)
def kernel_transform(w, u):  # pragma: no cover - compiled; tested through winograd.py
    """u[:, c, f] = (G g G^T).ravel() for each 3x3 filter g = w[:, :, c, f]."""
    channels, filters = w.shape[2], w.shape[3]
    half = w.dtype.type(0.5)
    gg = np.empty((4, 3, filters), w.dtype)  # G g for one input channel, all filters
    for c in range(channels):
        for j in range(3):
            for f in range(filters):  # contiguous in w and u: vectorized
                # G down column j: g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2
                g0 = w[0, j, c, f]
                g2 = w[2, j, c, f]
                s = (g0 + g2) * half
                d = w[1, j, c, f] * half
                gg[0, j, f] = g0
                gg[1, j, f] = s + d
                gg[2, j, f] = s - d
                gg[3, j, f] = g2
        for i in range(4):
            for f in range(filters):
                # G^T along row i (p, q, r): p, (p + q + r) / 2, (p - q + r) / 2, r
                p = gg[i, 0, f]
                r = gg[i, 2, f]
                s = (p + r) * half
                d = gg[i, 1, f] * half
                u[4 * i, c, f] = p
                u[4 * i + 1, c, f] = s + d
                u[4 * i + 2, c, f] = s - d
                u[4 * i + 3, c, f] = r


@numba.njit(**_OPTS)
def input_transform(x, th, tw, v):  # pragma: no cover - compiled; tested through winograd.py
    """v[t] = (B^T d B) of tile t: d = x[n, 2a:2a+4, 2b:2b+4, :], per channel."""
    n_batch, channels = x.shape[0], x.shape[3]
    d = np.empty((4, 4, channels), x.dtype)  # B^T d of the current tile
    t = 0
    for n in range(n_batch):
        for a in range(th):
            r = 2 * a
            for b in range(tw):
                s = 2 * b
                for j in range(4):  # columns: B^T applied down each column
                    for c in range(channels):
                        x0 = x[n, r, s + j, c]
                        x1 = x[n, r + 1, s + j, c]
                        x2 = x[n, r + 2, s + j, c]
                        x3 = x[n, r + 3, s + j, c]
                        d[0, j, c] = x0 - x2
                        d[1, j, c] = x1 + x2
                        d[2, j, c] = x2 - x1
                        d[3, j, c] = x1 - x3
                row = v[t]
                for i in range(4):  # rows: (B^T d) B
                    o = 4 * i * channels
                    for c in range(channels):
                        y0 = d[i, 0, c]
                        y1 = d[i, 1, c]
                        y2 = d[i, 2, c]
                        y3 = d[i, 3, c]
                        row[o + c] = y0 - y2
                        row[o + channels + c] = y1 + y2
                        row[o + 2 * channels + c] = y2 - y1
                        row[o + 3 * channels + c] = y1 - y3
                t += 1


@numba.njit(**_OPTS)
def output_max_pool(m, bias, relu, y):  # pragma: no cover - compiled; tested via winograd.py
    """y[n, a, b] = act(max of the 2x2 outputs A^T M A of tile t, + bias).

    The bias is added to each of the four outputs before the max and a NaN wins, as in the
    fused pooling kernels (``_numba_pool.bias_act_max_pool2x2_forward``).
    """
    n_batch, th, tw, filters = y.shape
    zero = y.dtype.type(0)
    t = 0
    for n in range(n_batch):
        for a in range(th):
            for b in range(tw):
                row = m[t]
                out = y[n, a, b]
                for f in range(filters):
                    m0 = row[f]
                    m1 = row[filters + f]
                    m2 = row[2 * filters + f]
                    m3 = row[3 * filters + f]
                    m4 = row[4 * filters + f]
                    m5 = row[5 * filters + f]
                    m6 = row[6 * filters + f]
                    m7 = row[7 * filters + f]
                    m8 = row[8 * filters + f]
                    m9 = row[9 * filters + f]
                    m10 = row[10 * filters + f]
                    m11 = row[11 * filters + f]
                    m12 = row[12 * filters + f]
                    m13 = row[13 * filters + f]
                    m14 = row[14 * filters + f]
                    m15 = row[15 * filters + f]
                    # A^T M: rows 0 + 1 + 2 and 1 - 2 - 3 of the 4x4 tile
                    p0 = m0 + m4 + m8
                    p1 = m1 + m5 + m9
                    p2 = m2 + m6 + m10
                    p3 = m3 + m7 + m11
                    q0 = m4 - m8 - m12
                    q1 = m5 - m9 - m13
                    q2 = m6 - m10 - m14
                    q3 = m7 - m11 - m15
                    bf = bias[f]
                    best = p0 + p1 + p2 + bf
                    cand = p1 - p2 - p3 + bf
                    win = (cand > best) | (cand != cand)
                    best = cand if win else best
                    cand = q0 + q1 + q2 + bf
                    win = (cand > best) | (cand != cand)
                    best = cand if win else best
                    cand = q1 - q2 - q3 + bf
                    win = (cand > best) | (cand != cand)
                    best = cand if win else best
                    if relu:
                        best = best if (best > zero) | (best != best) else zero
                    out[f] = best
                t += 1


@numba.njit(**_OPTS)
def output_tiles(m, bias, relu, y):  # pragma: no cover - compiled; tested via winograd.py
    """y[n, 2a:2a+2, 2b:2b+2] = act(A^T M A + bias) of tile t, the cells inside y only."""
    n_batch, oh, ow, filters = y.shape
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    zero = y.dtype.type(0)
    t = 0
    for n in range(n_batch):
        for a in range(th):
            for b in range(tw):
                row = m[t]
                for i in range(2):
                    r = 2 * a + i
                    if r >= oh:
                        continue
                    for j in range(2):
                        c = 2 * b + j
                        if c >= ow:
                            continue
                        out = y[n, r, c]
                        for f in range(filters):
                            # rows (i = 0: 0 + 1 + 2, i = 1: 1 - 2 - 3), then columns (j)
                            s0 = row[4 * filters + f]
                            s1 = row[5 * filters + f]
                            s2 = row[6 * filters + f]
                            s3 = row[7 * filters + f]
                            e0 = row[8 * filters + f]
                            e1 = row[9 * filters + f]
                            e2 = row[10 * filters + f]
                            e3 = row[11 * filters + f]
                            if i == 0:
                                p0 = row[f] + s0 + e0
                                p1 = row[filters + f] + s1 + e1
                                p2 = row[2 * filters + f] + s2 + e2
                                p3 = row[3 * filters + f] + s3 + e3
                            else:
                                p0 = s0 - e0 - row[12 * filters + f]
                                p1 = s1 - e1 - row[13 * filters + f]
                                p2 = s2 - e2 - row[14 * filters + f]
                                p3 = s3 - e3 - row[15 * filters + f]
                            v = (p0 + p1 + p2 if j == 0 else p1 - p2 - p3) + bias[f]
                            if relu:
                                v = v if (v > zero) | (v != v) else zero
                            out[f] = v
                t += 1
