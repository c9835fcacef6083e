"""numba-compiled row-wise epilogues of a GEMM: bias + ReLU, bias + softmax, in place.

For the lean inference path (one sample, small maps), where NumPy's per-call overhead
(a few microseconds per ufunc) outweighs the arithmetic: ``y += b; np.maximum(y, 0)`` is
two calls, a bias + softmax six. One compiled call each instead; the same formulas as
:mod:`filterbank.ops.activations` (softmax: subtract the row maximum, exponentiate,
divide by the row sum), equal to them within float rounding (``exp`` may differ in the
last bit from NumPy's).

Imported lazily (never by ``import filterbank``); serial, like every filterbank kernel.

Shapes: y (M, F) C-contiguous, b (F,).
"""

from __future__ import annotations

import math

import numba


@numba.njit(cache=True, nogil=True, error_model="numpy")
def bias_relu_rows(y, b, relu):  # pragma: no cover
    """y = relu(y + b) (or y + b), in place, row by row."""
    m, f = y.shape
    zero = y.dtype.type(0)
    for i in range(m):
        row = y[i]
        for j in range(f):
            v = row[j] + b[j]
            if relu:
                v = v if (v > zero) | (v != v) else zero  # as np.maximum(v, 0)
            row[j] = v


@numba.njit(cache=True, nogil=True, error_model="numpy")
def bias_softmax_rows(z, b, has_bias):  # pragma: no cover
    """z = softmax(z + b) over each row, in place."""
    m, f = z.shape
    for i in range(m):
        row = z[i]
        if has_bias:
            for j in range(f):
                row[j] = row[j] + b[j]
        top = row[0]
        for j in range(1, f):
            top = max(top, row[j])
        total = row.dtype.type(0)
        for j in range(f):
            e = math.exp(row[j] - top)
            row[j] = e
            total += e
        for j in range(f):
            row[j] = row[j] / total
