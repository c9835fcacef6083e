"""Numba-compiled serial kernels for 2D max pooling (NHWC): forward with argmax, backward.

Imported lazily by :mod:`filterbank.ops.pool` (never by ``import filterbank``) and only
when numba is installed and ``FILTERBANK_DISABLE_NUMBA`` is unset. The kernels run on the
calling thread on purpose: numba threads beside OpenBLAS's threads made a training step
several times slower (engineering notes), so all parallelism is left to the GEMMs.

Conventions shared with the NumPy path (``filterbank/ops/pool.py``):

* the window of output cell (oy, ox) starts at input row ``oy * sh - pad_top`` and column
  ``ox * sw - pad_left``; cells outside the input are padding and never win;
* ``argmax`` holds the winning offset inside the window, ``ky * pw + kx``, choosing the
  first maximum in row-major window order on ties (as PyTorch);
* a NaN in a window makes the output NaN, as ``np.maximum`` and PyTorch do.

The channel loops are written as branch-free selects so LLVM vectorizes them; the scan
keeps the argmax in an int32 scratch row and stores it once per window (a select
straight into a uint8 argmax did not vectorize and ran 5x slower).

Shapes: x (N, H, W, C); out, argmax, grad (N, OH, OW, C); dx (N, H, W, C).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def max_pool2d_forward(x, ph, pw, sh, sw, pad_top, pad_left, out, argmax):  # pragma: no cover
    n_batch, height, width, channels = x.shape
    oh, ow = out.shape[1], out.shape[2]
    best_k = np.empty(channels, np.int32)  # int32 scratch: see the module docstring
    for n in range(n_batch):
        for oy in range(oh):
            y0 = oy * sh - pad_top
            ky0 = max(0, -y0)
            ky1 = min(ph, height - y0)
            for ox in range(ow):
                x0 = ox * sw - pad_left
                kx0 = max(0, -x0)
                kx1 = min(pw, width - x0)
                o = out[n, oy, ox]
                a = argmax[n, oy, ox]
                # Seed with the first real cell of the window, then scan the rest.
                first = ky0 * pw + kx0
                row = x[n, y0 + ky0, x0 + kx0]
                for c in range(channels):
                    o[c] = row[c]
                    best_k[c] = first
                for ky in range(ky0, ky1):
                    for kx in range(kx0, kx1):
                        k = ky * pw + kx
                        if k == first:
                            continue
                        kk = np.int32(k)
                        row = x[n, y0 + ky, x0 + kx]
                        for c in range(channels):
                            v = row[c]
                            best = o[c]
                            wins = (v > best) | (v != v)
                            o[c] = v if wins else best
                            best_k[c] = kk if wins else best_k[c]
                for c in range(channels):
                    a[c] = best_k[c]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def max_pool2d_backward(grad, argmax, ph, pw, sh, sw, pad_top, pad_left, dx,
                        accumulate):  # pragma: no cover
    """Route each output gradient to its window's argmax cell of ``dx``.

    ``accumulate`` (overlapping windows): add into ``dx``, which the caller zeroed.
    Otherwise every window cell is written (the gradient or 0), so a ``dx`` fully tiled by
    the windows may come uninitialised.
    """
    n_batch, oh, ow, channels = grad.shape
    height, width = dx.shape[1], dx.shape[2]
    zero = dx.dtype.type(0)
    for n in range(n_batch):
        for oy in range(oh):
            y0 = oy * sh - pad_top
            ky0 = max(0, -y0)
            ky1 = min(ph, height - y0)
            for ox in range(ow):
                x0 = ox * sw - pad_left
                kx0 = max(0, -x0)
                kx1 = min(pw, width - x0)
                g = grad[n, oy, ox]
                a = argmax[n, oy, ox]
                for ky in range(ky0, ky1):
                    for kx in range(kx0, kx1):
                        k = a.dtype.type(ky * pw + kx)
                        d = dx[n, y0 + ky, x0 + kx]
                        if accumulate:
                            for c in range(channels):
                                d[c] += g[c] if a[c] == k else zero
                        else:
                            for c in range(channels):
                                d[c] = g[c] if a[c] == k else zero
