"""Winograd F(2x2, 3x3) in training: the forward and the input gradient of a 3x3 conv.

The forward is :class:`~filterbank.ops.winograd.WinogradConv` (the inference transforms).
The input gradient of a stride-1 3x3 convolution is itself a 3x3 convolution: a full
correlation of dy with the kernel rotated by 180 degrees and its channel axes swapped,

    dx = conv3x3(pad(dy), w_rot),   w_rot[i, j, f, c] = w[2 - i, 2 - j, c, f]

which for "same" padding is the "same" convolution of dy (dy has x's height and width), so
the same plan runs it. The kernel gradient stays the im2col GEMM (``ConvPlan.backward``
with the column matrix rebuilt from x, as a chunked forward already does): a Winograd dw
needs the transform of dy per tile and of x per tile plus 16 GEMMs over the batch, and
would save nothing on these sizes.

When it runs (decided by measurement, ``benchmarks/winograd_train_proto.py``, batch 64,
one BLAS thread, best of 20; BENCHMARKS.md "Round 2: Winograd in training"):

* the forward: whenever :func:`winograd.supports_conv` (>= 8 input channels, enough tiles,
  little waste): 1.3-1.7x faster than im2col + GEMM on the seed and CIFAR layers;
* the input gradient: "same" padding only. CIFAR's 16x16x32->64 and 8x8x64->128 layers
  measured 1.2-1.3x faster; a "valid" layer's dy must first be copied into a zero border
  of 2 and its odd-sized result wastes tiles: the seed's 13x13x32->64 layer ran 1.6x
  *slower*, so "valid" keeps the GEMM + col2im.

Not bit-identical to the GEMM (the transforms add before they multiply): float32 within
~1e-5 of the largest output, float64 within 1e-12 (tests/ops/test_winograd_train.py).

Shapes: x (N, H, W, C), w (3, 3, C, F), b (F,) -> y (N, OH, OW, F); dy like y.
"""

from __future__ import annotations

import numpy as np

from .conv_gemm import ConvPlan
from .winograd import WinogradConv, conv_out_hw, supports_conv


def supports_dx(padding, x_shape, filters) -> bool:
    """True when the input gradient runs here too: "same" padding, and dy (N, H, W, F) as
    a convolution input passes :func:`winograd.supports_conv` (F >= 8 channels, ...)."""
    n, h, w, _ = x_shape
    return padding == "same" and supports_conv((3, 3), (1, 1), (1, 1), "same", (n, h, w, filters))


def rotated_kernel(w: np.ndarray) -> np.ndarray:
    """w (3, 3, C, F) -> (3, 3, F, C): turned by 180 degrees, input/output swapped."""
    return np.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2))


class WinogradTrainConv:
    """One 3x3 stride-1 convolution's training step for one input shape.

    ``forward(x, w, b)`` -> y; ``backward(dy, w, None, ..., x=x)`` -> (dx, dw, db) with dw and db
    (and dx for "valid") from ``plan`` (the im2col reference), dx for "same" through the
    Winograd transforms. ``winograd_dx``: None (decide: :func:`supports_dx`), True or
    False (force; tests). Buffers are reused: calls must not overlap.
    """

    kernel = "winograd"

    def __init__(self, plan: ConvPlan, padding: str, dtype, winograd_dx=None):
        n, _, _, c = plan.x_shape
        f = plan.w_shape[3]
        if winograd_dx is None:  # decided by measurement (the module's docstring)
            winograd_dx = supports_dx(padding, plan.x_shape, f)
        if winograd_dx and padding != "same":
            raise ValueError(
                f"WinogradTrainConv: winograd_dx=True needs padding='same' (dy then has "
                f"x's size), got padding={padding!r}; pass winograd_dx=None or False."
            )
        self.plan = plan
        self.dtype = np.dtype(dtype)
        self._fwd = WinogradConv(plan.x_shape, f, self.dtype, padding)
        oh, ow = conv_out_hw(plan.x_shape, padding)
        self.out_shape = (n, oh, ow, f)
        self._dx = WinogradConv(self.out_shape, c, self.dtype, "same") if winograd_dx else None
        self._zero = np.zeros(c, self.dtype)
        self.dx_kernel = "winograd" if self._dx is not None else "gemm"

    def forward(self, x, w, b=None, out=None):
        y = np.empty(self.out_shape, self.dtype) if out is None else out
        return self._fwd.run(x, w, b, False, y)

    def backward(
        self, dy, w, col=None, need_dx=True, need_db=True, ws=None, x=None, dx_out=None, dw_out=None
    ):
        """(dx or None, dw, db or None) from dy (N, OH, OW, F): ``ConvPlan.backward``'s
        signature; ``col`` is ignored (None: the forward kept none), ``x`` is required."""
        wino_dx = need_dx and self._dx is not None
        dx, dw, db = self.plan.backward(
            dy,
            w,
            None,
            need_dx and not wino_dx,
            need_db,
            ws=ws,
            x=x,
            dx_out=dx_out,
            dw_out=dw_out,
        )
        if wino_dx:
            dx = np.empty(self.plan.x_shape, self.dtype) if dx_out is None else dx_out
            self._dx.run(dy, rotated_kernel(w), self._zero, False, dx)
        return dx, dw, db
