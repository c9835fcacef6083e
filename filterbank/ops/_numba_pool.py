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


@numba.njit(inline="always")
def _window(o, stride, pad, size, extent):  # pragma: no cover
    """Output cell ``o``'s window along one axis: its first input index, and the range
    [k0, k1) of window offsets that fall inside the input (the rest is padding)."""
    start = o * stride - pad
    return start, max(0, -start), min(size, extent - start)


def _window_scan(add_bias):
    """The scan of one window by the max-pool forward kernels: ``o`` gets the maximum per
    channel (of ``src + bias`` when ``add_bias``), ``best_k`` its first offset ky * pw + kx.
    ``add_bias`` is fixed when the kernel compiles, so the channel loops stay branch-free;
    without it pass any 1-D array of src's dtype as ``bias`` (it is not read)."""

    @numba.njit(inline="always", error_model="numpy")
    def scan(src, n, y0, x0, ky0, ky1, kx0, kx1, pw, bias, o, best_k):  # pragma: no cover
        channels = o.shape[0]
        # Seed with the first real cell of the window, then scan the rest.
        first = ky0 * pw + kx0
        row = src[n, y0 + ky0, x0 + kx0]
        for c in range(channels):
            o[c] = row[c] + bias[c] if add_bias else row[c]
            best_k[c] = first
        for ky in range(ky0, ky1):
            for kx in range(kx0, kx1):
                k = ky * pw + kx
                if k == first:
                    continue
                kk = np.int32(k)
                row = src[n, y0 + ky, x0 + kx]
                for c in range(channels):
                    v = row[c] + bias[c] if add_bias else row[c]
                    best = o[c]
                    wins = (v > best) | (v != v)
                    o[c] = v if wins else best
                    best_k[c] = kk if wins else best_k[c]

    return scan


_scan = _window_scan(False)
_scan_with_bias = _window_scan(True)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def max_pool2d_forward(x, ph, pw, sh, sw, pad_top, pad_left, out, argmax):  # pragma: no cover
    n_batch, height, width, channels = x.shape
    oh, ow = out.shape[1], out.shape[2]
    best_k = np.empty(channels, np.int32)  # int32 scratch: see the module docstring
    unused_bias = x[0, 0, 0]
    for n in range(n_batch):
        for oy in range(oh):
            y0, ky0, ky1 = _window(oy, sh, pad_top, ph, height)
            for ox in range(ow):
                x0, kx0, kx1 = _window(ox, sw, pad_left, pw, width)
                o = out[n, oy, ox]
                _scan(x, n, y0, x0, ky0, ky1, kx0, kx1, pw, unused_bias, o, best_k)
                a = argmax[n, oy, ox]
                for c in range(channels):
                    a[c] = best_k[c]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def max_pool2d_backward(
    grad, argmax, ph, pw, sh, sw, pad_top, pad_left, dx, accumulate
):  # pragma: no cover
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
            y0, ky0, ky1 = _window(oy, sh, pad_top, ph, height)
            for ox in range(ow):
                x0, kx0, kx1 = _window(ox, sw, pad_left, pw, width)
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


@numba.njit(cache=True, nogil=True, error_model="numpy")
def bias_act_max_pool2d_forward(
    z, bias, relu, ph, pw, sh, sw, pad_top, pad_left, out, argmax, want_arg
):  # pragma: no cover
    """``out = max over each window of act(z + bias)``, without materialising ``z + bias``.

    The bias is added in registers while the window is scanned, so the maximum and its
    argmax are those of the rounded sums ``z + bias`` -- bit for bit what the unfused
    conv -> bias -> activation -> pool computes. ``relu`` (a monotone function, so it
    commutes with max) is applied once per window, to the maximum. ``want_arg`` False
    (inference): ``argmax`` is not touched (pass any small array).

    Shapes: z (N, H, W, C), bias (C,), out and argmax (N, OH, OW, C).
    """
    n_batch, height, width, channels = z.shape
    oh, ow = out.shape[1], out.shape[2]
    best_k = np.empty(channels, np.int32)
    for n in range(n_batch):
        for oy in range(oh):
            y0, ky0, ky1 = _window(oy, sh, pad_top, ph, height)
            for ox in range(ow):
                x0, kx0, kx1 = _window(ox, sw, pad_left, pw, width)
                o = out[n, oy, ox]
                _scan_with_bias(z, n, y0, x0, ky0, ky1, kx0, kx1, pw, bias, o, best_k)
                if relu:
                    zero = o.dtype.type(0)
                    for c in range(channels):
                        v = o[c]
                        # As np.maximum(v, 0): NaN stays NaN, -0.0 becomes 0.0.
                        o[c] = v if (v > zero) | (v != v) else zero
                if want_arg:
                    a = argmax[n, oy, ox]
                    for c in range(channels):
                        a[c] = best_k[c]


# ---- the common case, 2x2 windows with stride 2 inside the map, fully unrolled ----------------
# The generic kernels keep the running maximum in scratch arrays; here the four cells of a
# window are compared in registers, so LLVM vectorises the channel loop with no stores in
# between (3-4x faster on a 26x26x32 map).


@numba.njit(cache=True, nogil=True, error_model="numpy")
def bias_act_max_pool2x2_forward(z, bias, relu, out, argmax, want_arg):  # pragma: no cover
    """:func:`bias_act_max_pool2d_forward` for 2x2 windows, stride 2, no padding.

    Windows are (2*oy .. 2*oy+1, 2*ox .. 2*ox+1); a last odd row/column of z is ignored.
    Same argmax convention (offset ky * 2 + kx, first maximum), same NaN rule.
    """
    n_batch, _, _, channels = z.shape
    oh, ow = out.shape[1], out.shape[2]
    zero = z.dtype.type(0)
    for n in range(n_batch):
        for oy in range(oh):
            for ox in range(ow):
                r0 = z[n, 2 * oy, 2 * ox : 2 * ox + 2]
                r1 = z[n, 2 * oy + 1, 2 * ox : 2 * ox + 2]
                o = out[n, oy, ox]
                a = argmax[n, oy, ox] if want_arg else argmax[0, 0, 0]
                for c in range(channels):
                    bc = bias[c]
                    m = r0[0, c] + bc
                    k = 0
                    v = r0[1, c] + bc
                    w = (v > m) | (v != v)
                    m = v if w else m
                    k = 1 if w else k
                    v = r1[0, c] + bc
                    w = (v > m) | (v != v)
                    m = v if w else m
                    k = 2 if w else k
                    v = r1[1, c] + bc
                    w = (v > m) | (v != v)
                    m = v if w else m
                    k = 3 if w else k
                    if relu:
                        m = m if (m > zero) | (m != m) else zero
                    o[c] = m
                    if want_arg:
                        a[c] = k


@numba.njit(cache=True, nogil=True, error_model="numpy")
def bias_act_max_pool2x2_backward(grad, y, argmax, relu, dz, db):  # pragma: no cover
    """Backward of :func:`bias_act_max_pool2x2_forward`: fills every cell of ``dz``.

    ``grad * (y > 0)`` (relu) or ``grad`` goes to each window's argmax cell, zeros to the
    other cells (and to a last odd row/column). ``db`` (C,) float64 receives the sum of
    the routed gradients (it is added to, so pass zeros).

    The masked gradient of a window goes to a scratch row first, then each of the four
    cells is one short loop with a single store stream: LLVM vectorises those (one loop
    storing to four rows at once ran 2.5x slower).
    """
    n_batch, oh, ow, channels = grad.shape
    height, width = dz.shape[1], dz.shape[2]
    zero = dz.dtype.type(0)
    gm = np.empty(channels, dz.dtype)
    for n in range(n_batch):
        for oy in range(oh):
            for ox in range(ow):
                g = grad[n, oy, ox]
                a = argmax[n, oy, ox]
                if relu:
                    yy = y[n, oy, ox]
                    for c in range(channels):
                        gm[c] = g[c] if yy[c] > zero else zero
                else:
                    for c in range(channels):
                        gm[c] = g[c]
                for c in range(channels):
                    db[c] += gm[c]
                for k in range(4):
                    d = dz[n, 2 * oy + (k >> 1), 2 * ox + (k & 1)]
                    kk = a.dtype.type(k)
                    for c in range(channels):
                        d[c] = gm[c] if a[c] == kk else zero
        if 2 * ow < width:  # the odd last column no window covers
            for h in range(height):
                for c in range(channels):
                    dz[n, h, width - 1, c] = zero
        if 2 * oh < height:
            for w in range(width):
                for c in range(channels):
                    dz[n, height - 1, w, c] = zero
