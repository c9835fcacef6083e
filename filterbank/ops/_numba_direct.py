"""Numba-compiled serial kernel: direct 3x3 convolution of a one-channel image fused with
2x2 max pooling, bias and ReLU (see :mod:`filterbank.ops.direct`).

Imported lazily, only when numba is installed and ``FILTERBANK_DISABLE_NUMBA`` is unset.
For each pooled cell the 4x4 input patch is read once into registers; the loop over the
filters (contiguous in w and y) is the vectorized one. The four 9-term sums are written
as three row sums each so that they do not form one long dependency chain; ``contract``
lets LLVM fuse multiplies and adds (one rounding fewer), nothing more.

Shapes: x (N, H, W) one channel; w (9, F) = kernel (3, 3, 1, F) raveled; b (F,);
y (N, OH, OW, F) with OH <= (H - 2) // 2, OW <= (W - 2) // 2.
"""

from __future__ import annotations

import numba


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def conv3x3_max_pool2x2(x, w, b, relu, y):  # pragma: no cover - compiled; tested via direct.py
    """y[n, i, j, f] = act(max over the 2x2 window (2i.., 2j..) of conv3x3(x)[..., f] + b[f]).

    The bias is added after the max (max commutes with it), the ReLU last; a NaN wins the
    max, as in the pooling kernels.
    """
    n_batch, oh, ow, filters = y.shape
    zero = y.dtype.type(0)
    for n in range(n_batch):
        for i in range(oh):
            r = 2 * i
            for j in range(ow):
                c = 2 * j
                p00, p01, p02, p03 = x[n, r, c], x[n, r, c + 1], x[n, r, c + 2], x[n, r, c + 3]
                p10, p11 = x[n, r + 1, c], x[n, r + 1, c + 1]
                p12, p13 = x[n, r + 1, c + 2], x[n, r + 1, c + 3]
                p20, p21 = x[n, r + 2, c], x[n, r + 2, c + 1]
                p22, p23 = x[n, r + 2, c + 2], x[n, r + 2, c + 3]
                p30, p31 = x[n, r + 3, c], x[n, r + 3, c + 1]
                p32, p33 = x[n, r + 3, c + 2], x[n, r + 3, c + 3]
                out = y[n, i, j]
                for f in range(filters):
                    w0, w1, w2 = w[0, f], w[1, f], w[2, f]
                    w3, w4, w5 = w[3, f], w[4, f], w[5, f]
                    w6, w7, w8 = w[6, f], w[7, f], w[8, f]
                    best = (
                        (p00 * w0 + p01 * w1 + p02 * w2)
                        + (p10 * w3 + p11 * w4 + p12 * w5)
                        + (p20 * w6 + p21 * w7 + p22 * w8)
                    )
                    cand = (
                        (p01 * w0 + p02 * w1 + p03 * w2)
                        + (p11 * w3 + p12 * w4 + p13 * w5)
                        + (p21 * w6 + p22 * w7 + p23 * w8)
                    )
                    win = (cand > best) | (cand != cand)
                    best = cand if win else best
                    cand = (
                        (p10 * w0 + p11 * w1 + p12 * w2)
                        + (p20 * w3 + p21 * w4 + p22 * w5)
                        + (p30 * w6 + p31 * w7 + p32 * w8)
                    )
                    win = (cand > best) | (cand != cand)
                    best = cand if win else best
                    cand = (
                        (p11 * w0 + p12 * w1 + p13 * w2)
                        + (p21 * w3 + p22 * w4 + p23 * w5)
                        + (p31 * w6 + p32 * w7 + p33 * w8)
                    )
                    win = (cand > best) | (cand != cand)
                    best = cand if win else best
                    best += b[f]
                    if relu:
                        best = best if (best > zero) | (best != best) else zero
                    out[f] = best
