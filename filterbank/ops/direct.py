"""Direct 3x3 convolution of a one-channel image, fused with 2x2 max pooling (inference).

The first layer of an MNIST CNN (28x28x1 -> 26x26x32 -> pooled 13x13x32) is a poor GEMM:
its column matrix has K = 9, so the product is bound by writing the full 26x26x32 map
(5.5 MB at batch 64), which the pooling then reads back. Computed directly, each pooled
cell reads its 4x4 input patch once, forms the four 3x3 dot products per filter, keeps
their max and writes only the pooled map: the seed models' first step ran ~1.3x faster
and their whole prediction ~1.08x (batch 64, ``benchmarks/``).

The inference path of the fused ``Conv2D(3x3, 1 channel) -> MaxPooling2D(2)`` step
(``models/fusion.py``); training keeps the im2col GEMM. The sums run in another order than
the GEMM's: equal within float rounding (tests: 1e-6 of the largest output in float32).

Shapes: x (N, H, W, 1), w (3, 3, 1, F), b (F,) -> y (N, (H-2)//2, (W-2)//2, F) for
"valid"; "same" pads x by one pixel on each side first (y (N, H//2, W//2, F)).

Example:
    >>> import numpy as np
    >>> from filterbank.ops import direct
    >>> plan = direct.DirectConvPool((2, 6, 7, 1), 4, np.float32)  # needs numba  # doctest: +SKIP
    >>> plan.out_shape  # doctest: +SKIP
    (2, 2, 2, 4)
"""

from __future__ import annotations

import numpy as np

from .conv_gemm import compiled_module
from .winograd import SamePadding, conv_out_hw, fits_3x3_pool2x2, require


def numba_kernels():
    """The compiled kernel module (:mod:`filterbank.ops._numba_direct`) or None (numba
    missing, or ``FILTERBANK_DISABLE_NUMBA=1``)."""
    return compiled_module("_numba_direct")


def supports(
    kernel_size, strides, dilation, padding, pool_size, pool_strides, pool_padding, x_shape
) -> bool:
    """True for a one-channel input and the 3x3 conv + 2x2 pool geometry of
    :func:`filterbank.ops.winograd.fits_3x3_pool2x2`."""
    return x_shape[3] == 1 and fits_3x3_pool2x2(
        kernel_size, strides, dilation, padding, pool_size, pool_strides, pool_padding, x_shape
    )


class DirectConvPool:
    """The compiled direct conv + 2x2 max pool for one input shape (N, H, W, 1).

    ``run(x, w, b, relu, out)`` writes ``maxpool2x2(act(conv3x3(x, w) + b))`` into ``out``
    (N, OH, OW, F); w is the layer's (3, 3, 1, F) kernel. Calls must not overlap when
    padding is "same" (:class:`~filterbank.ops.winograd.SamePadding` reuses its buffer).
    """

    kernel = "direct"  # what the lean inference functions report (``fn.kernel``)

    def __init__(self, x_shape, filters, dtype, padding="valid"):
        self.kernels = require(numba_kernels(), "DirectConvPool")
        self.pad = SamePadding(x_shape, dtype, padding)
        oh, ow = conv_out_hw(x_shape, padding)
        self.out_shape = (x_shape[0], oh // 2, ow // 2, filters)
        self._no_bias = np.zeros(filters, dtype)

    def run(self, x, w, b, relu, out):
        x = self.pad(x)
        self.kernels.conv3x3_max_pool2x2(
            x.reshape(x.shape[:3]),
            w.reshape(9, w.shape[-1]),
            self._no_bias if b is None else b,
            relu,
            out,
        )
        return out
