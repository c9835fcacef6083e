"""Winograd F(2x2, 3x3): a 3x3 convolution followed by 2x2 max pooling, for inference.

A stride-1 3x3 convolution computes each 2x2 block of outputs from a 4x4 block of input
``d`` (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):

    Y = A^T [ (G g G^T) * (B^T d B) ] A        (* elementwise, 4x4)

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

That is 16 multiplications per input/output channel pair where the direct convolution
(im2col + GEMM) needs 36: 2.25x fewer. Summed over the input channels, the elementwise
product becomes 16 matrix products, one per position k of the 4x4 tile,

    M_k = V_k @ U_k      V_k: (tiles, C) transformed inputs, U_k: (C, F) transformed filters

which BLAS runs. Followed by a 2x2, stride-2 max pooling, each pooled cell is exactly one
2x2 output tile, so the output transform also pools, adds the bias and applies the ReLU:
the full convolution map is never written (the same reordering as ``ops/fused.py``).

It is the inference path of the fused ``Conv2D(3x3) -> MaxPooling2D(2)`` step
(``models/fusion.py``), where it makes the seed models' largest layer ~1.3x faster, and of
a 3x3 ``Conv2D`` with no pooling after it (``layers/convolutional.py``,
:class:`WinogradConv`: the output transform writes the 2x2 tiles, an odd-sized output is
covered over one extra zero row/column). Training keeps the im2col GEMM, whose gradients
are the tested reference.

Not bit-identical to the GEMM: the transforms add and subtract inputs before the
multiplications, so float32 results differ in the last bits (tests: within 1e-5 of the
largest output; float64 within 1e-12). The coefficients are 0, +-1 and 1/2, which keeps
the rounding error of F(2x2, 3x3) at the level of a reordered sum.

Shapes: x (N, H, W, C), w (3, 3, C, F), b (F,) -> y (N, (H-2)//2, (W-2)//2, F) for
"valid"; x is padded by one pixel on each side first for "same" (y (N, H//2, W//2, F)).

Example:
    >>> import numpy as np
    >>> from filterbank.ops import winograd, conv
    >>> rng = np.random.default_rng(0)
    >>> x, w = rng.standard_normal((2, 8, 7, 3)), rng.standard_normal((3, 3, 3, 4))
    >>> y = winograd.conv3x3_max_pool2x2(x, w)
    >>> z, _ = conv.conv2d_forward(x, w)  # (2, 6, 5, 4): pooled 2x2 -> (2, 3, 2, 4)
    >>> ref = z[:, :6, :4].reshape(2, 3, 2, 2, 2, 4).max(axis=(2, 4))
    >>> bool(np.allclose(y, ref))
    True
"""

from __future__ import annotations

import numpy as np

from ..backend import weights_epoch
from .conv_gemm import compiled_module
from .kernels import fast_conv_enabled  # noqa: F401  (re-exported: it was defined here)
from .padding import output_size

BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float64)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64)

# Samples per chunk: the products M of one chunk stay below this many elements (4 MB in
# float32), which bounds memory for large batches. Chunks of 32 seed images (3.3 MB)
# measured 1.1x faster than one chunk of 64 and 1.4x faster than chunks of 8 (the
# transforms then read what the GEMMs just wrote from cache; smaller GEMMs are slower).
CHUNK_ELEMENTS = 2**20

# Fewer input channels make the 16 GEMMs too thin (K = C), and fewer tiles over the whole
# batch make them too short (16 small BLAS calls cost more than one): the im2col GEMM is
# then as fast or faster (measured: 1 image of the seed models 0.97x, 16 images 1.11x).
MIN_CHANNELS = 8
MIN_TILES = 256
MIN_CONV_SAVING = 1.5
# Fused with a 2x2 pooling, from far fewer tiles: since the filter transform is kept
# between calls (see _WinogradPlan.run), one image wins too. Measured one thread, batch 1,
# the step alone (benchmarks/inference_breakdown.py): the seed models' conv2 (25 tiles,
# C=32) 25-40 us against 62-77 us for the im2col GEMM step; the CIFAR-size model's conv2
# (64 tiles, C=32) 64 against 252 us, conv3 (16 tiles, C=64) 55 against 245 us.
MIN_POOLED_CELLS = 16


def numba_kernels():
    """The compiled transforms (:mod:`filterbank.ops._numba_winograd`), or None (numba
    missing, or ``FILTERBANK_DISABLE_NUMBA=1``)."""
    return compiled_module("_numba_winograd")


def _is_3x3_unit(kernel_size, strides, dilation, padding) -> bool:
    """A 3x3, stride-1, undilated "valid" or "same" convolution: what the transforms do."""
    return (
        tuple(kernel_size) == (3, 3)
        and tuple(strides) == (1, 1)
        and tuple(dilation) == (1, 1)
        and padding in ("valid", "same")
    )


def conv_out_hw(x_shape, padding) -> tuple:
    """(OH, OW) of that convolution on x_shape (N, H, W, C)."""
    _, h, w, _ = x_shape
    pads = (1, 1) if padding == "same" else (0, 0)  # Keras's "same" for 3x3, stride 1
    return output_size(h, 3, 1, pads), output_size(w, 3, 1, pads)


def fits_3x3_pool2x2(
    kernel_size, strides, dilation, padding, pool_size, pool_strides, pool_padding, x_shape
) -> bool:
    """True for a 3x3, stride-1, undilated "valid" or "same" convolution followed by a
    "valid" 2x2 pooling of stride 2 with at least one pooled cell: the pair whose pooled
    cells are exactly the 2x2 output tiles (here and in :mod:`filterbank.ops.direct`)."""
    oh, ow = conv_out_hw(x_shape, padding)
    return (
        _is_3x3_unit(kernel_size, strides, dilation, padding)
        and tuple(pool_size) == (2, 2)
        and tuple(pool_strides) == (2, 2)
        and pool_padding == "valid"
        and oh >= 2
        and ow >= 2
    )


def supports(
    kernel_size, strides, dilation, padding, pool_size, pool_strides, pool_padding, x_shape
) -> bool:
    """True when a Conv2D -> MaxPooling2D pair of these settings, on inputs of shape
    x_shape (N, H, W, C), is worth running here: :func:`fits_3x3_pool2x2`, at least
    ``MIN_CHANNELS`` input channels and ``MIN_POOLED_CELLS`` pooled cells over the batch."""
    oh, ow = conv_out_hw(x_shape, padding)
    return (
        fits_3x3_pool2x2(
            kernel_size, strides, dilation, padding, pool_size, pool_strides, pool_padding, x_shape
        )
        and x_shape[3] >= MIN_CHANNELS
        and x_shape[0] * (oh // 2) * (ow // 2) >= MIN_POOLED_CELLS
    )


def supports_conv(kernel_size, strides, dilation, padding, x_shape) -> bool:
    """True when a Conv2D (no pooling after it) of these settings is worth running here:
    3x3, stride 1, no dilation, "valid" or "same", ``MIN_CHANNELS`` input channels,
    ``MIN_TILES`` tiles over the batch, and whole tiles wasting little: the 2.25x fewer
    multiplications must stay >= ``MIN_CONV_SAVING`` after the padding to even sizes (a
    3x3 output is 4 tiles for 9 outputs: 1.27x, left to the GEMM)."""
    if len(x_shape) != 4 or not _is_3x3_unit(kernel_size, strides, dilation, padding):
        return False
    oh, ow = conv_out_hw(x_shape, padding)
    tiles = -(-oh // 2) * -(-ow // 2)
    return (
        oh >= 1
        and ow >= 1
        and x_shape[3] >= MIN_CHANNELS
        and x_shape[0] * tiles >= MIN_TILES
        and 9 * oh * ow >= MIN_CONV_SAVING * 16 * tiles
    )


# ---- the NumPy reference ------------------------------------------------------------------
def kernel_transform(w: np.ndarray) -> np.ndarray:
    """U (16, C, F): ``G g G^T`` of every 3x3 filter ``g = w[:, :, c, f]``, raveled."""
    u = np.einsum("ai,ijcf,bj->abcf", G, w, G)
    return u.reshape(16, *w.shape[2:]).astype(w.dtype)


def input_transform(x: np.ndarray, th: int, tw: int) -> np.ndarray:
    """V (N*th*tw, 16*C): ``B^T d B`` of the 4x4 tiles ``d = x[n, 2a:2a+4, 2b:2b+4, c]``."""
    n, _, _, c = x.shape
    s = x.strides
    tiles = np.lib.stride_tricks.as_strided(
        x, (n, th, tw, 4, 4, c), (s[0], 2 * s[1], 2 * s[2], s[1], s[2], s[3]), writeable=False
    )
    v = np.einsum("ai,ntsijc,bj->ntsabc", BT, tiles, BT)
    return v.reshape(n * th * tw, 16 * c).astype(x.dtype)


def output_max_pool(m: np.ndarray, b, relu: bool, n: int, th: int, tw: int) -> np.ndarray:
    """y (n, th, tw, F) = act(max over each tile's 2x2 outputs ``A^T M A`` + b)."""
    f = m.shape[1] // 16
    y = np.einsum("ai,ntsijf,bj->ntsabf", AT, m.reshape(n, th, tw, 4, 4, f), AT)
    if b is not None:
        y = y + b
    y = y.max(axis=(3, 4)).astype(m.dtype)
    return np.maximum(y, 0) if relu else y


def conv3x3_max_pool2x2(x, w, b=None, relu=False, padding="valid"):
    """maxpool2x2(act(conv3x3(x, w) + b)) through the Winograd transforms, in NumPy.

    The reference of :class:`WinogradConvPool` (same transforms, plain array code).
    """
    if padding == "same":
        x = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    n, h, wd, _ = x.shape
    th, tw = (h - 2) // 2, (wd - 2) // 2
    v = input_transform(x, th, tw).reshape(-1, 16, x.shape[3]).transpose(1, 0, 2)
    m = np.matmul(v, kernel_transform(w))  # (16, tiles, F)
    return output_max_pool(m.transpose(1, 0, 2).reshape(m.shape[1], -1), b, relu, n, th, tw)


# ---- the compiled path --------------------------------------------------------------------
def _row_length(elements: int, itemsize: int) -> int:
    """A row length >= ``elements`` whose byte size is not a multiple of 1 KiB.

    The GEMMs read and write these rows with a stride; strides at multiples of 4 KiB
    (16 * 64 float32 = 4096 bytes) map every row to the same cache sets, and measured
    ~25% slower GEMMs here.
    """
    step = max(1, 64 // itemsize)  # one cache line
    n = elements + step
    while (n * itemsize) % 1024 == 0:
        n += step
    return n


class SamePadding:
    """x as it is ("valid"), or copied into a zero-bordered buffer: one pixel on each side
    for "same" (what Keras pads for a 3x3 kernel of stride 1), plus ``extra`` (rows,
    columns) at the bottom and right (so that whole 2x2 tiles cover an odd-sized output).
    The border is written once; the interior on every call, so calls must not overlap."""

    def __init__(self, x_shape, dtype, padding, extra=(0, 0)):
        n, h, w, c = x_shape
        self.buffer = None
        lead = 1 if padding == "same" else 0
        hp, wp = h + 2 * lead + extra[0], w + 2 * lead + extra[1]
        if (hp, wp) != (h, w):
            self.buffer = np.zeros((n, hp, wp, c), dtype)
            self._inner = self.buffer[:, lead : lead + h, lead : lead + w]

    def __call__(self, x):
        if self.buffer is None:
            return x
        self._inner[...] = x
        return self.buffer


def require(kernels, who: str):
    """``kernels``, or a RuntimeError saying that ``who`` needs numba."""
    if kernels is None:
        raise RuntimeError(
            f"{who} needs numba (pip install numba) and FILTERBANK_DISABLE_NUMBA unset."
        )
    return kernels


class _WinogradPlan:
    """Buffers and the chunked transform -> 16 GEMMs -> output loop, for ``tiles`` (th, tw)
    tiles per image of a padded input; subclasses say what the output transform writes."""

    def __init__(self, x_shape, filters, dtype, pad, tiles_hw, out_shape, who):
        self.kernels = require(numba_kernels(), who)
        n, _, _, c = x_shape
        dtype = np.dtype(dtype)
        self.pad = pad
        self.th, self.tw = tiles_hw
        self.out_shape = out_shape
        tiles = self.th * self.tw
        row_m = _row_length(16 * filters, dtype.itemsize)
        pieces = -(-n * tiles * row_m // CHUNK_ELEMENTS)  # even chunks under the limit
        self.chunk = -(-n // pieces)
        rows = self.chunk * tiles
        self._v = np.empty((rows, _row_length(16 * c, dtype.itemsize)), dtype)
        self._m = np.empty((rows, row_m), dtype)
        self._u = np.empty((16, c, filters), dtype)
        self._u_of = (None, None)  # (weights epoch, w) that self._u was transformed from
        self._no_bias = np.zeros(filters, dtype)
        self._c, self._f = c, filters

    def _gemm_views(self, rows):
        """(V_k, M_k) stacks over k: (16, rows, C) and (16, rows, F) views of the rows."""
        c, f = self._c, self._f
        v = self._v[:rows, : 16 * c].reshape(rows, 16, c).transpose(1, 0, 2)
        m = self._m[:rows, : 16 * f].reshape(rows, 16, f).transpose(1, 0, 2)
        return v, m

    def _output(self, m, b, relu, out):
        raise NotImplementedError

    def run(self, x, w, b, relu, out):
        k = self.kernels
        x = self.pad(x)
        # The filter transform (~9 us for 3x3x32x64, a tenth of a batch-1 prediction) is
        # redone only when the weights may have changed: another array, or the epoch moved
        # (filterbank.backend.weights_changed). The array itself is kept: its id is not reused.
        epoch = weights_epoch()
        if self._u_of[0] != epoch or self._u_of[1] is not w:
            k.kernel_transform(w, self._u)
            self._u_of = (epoch, w)
        tiles = self.th * self.tw
        b = self._no_bias if b is None else b
        for i in range(0, x.shape[0], self.chunk):
            j = min(i + self.chunk, x.shape[0])
            rows = (j - i) * tiles
            k.input_transform(x[i:j], self.th, self.tw, self._v)
            v, m = self._gemm_views(rows)
            np.matmul(v, self._u, out=m)
            self._output(self._m, b, relu, out[i:j])
        return out


class WinogradConvPool(_WinogradPlan):
    """The compiled F(2x2, 3x3) conv + 2x2 max pool for one input shape, with its buffers.

    ``run(x, w, b, relu, out)`` writes ``maxpool2x2(act(conv3x3(x, w) + b))`` into ``out``
    (N, th, tw, F); x is C-contiguous of ``x_shape`` (before "same" padding). Needs
    :func:`numba_kernels`. Calls must not overlap (the buffers are reused).
    """

    kernel = "winograd"  # what the lean inference functions report (``fn.kernel``)

    def __init__(self, x_shape, filters, dtype, padding="valid"):
        oh, ow = conv_out_hw(x_shape, padding)
        th, tw = oh // 2, ow // 2  # pooled cells = whole tiles; an odd last row/column unread
        super().__init__(
            x_shape,
            filters,
            dtype,
            SamePadding(x_shape, dtype, padding),
            (th, tw),
            (x_shape[0], th, tw, filters),
            "WinogradConvPool",
        )

    def _output(self, m, b, relu, out):
        self.kernels.output_max_pool(m, b, relu, out)


class WinogradConv(_WinogradPlan):
    """The compiled F(2x2, 3x3) convolution (no pooling) for one input shape.

    ``run(x, w, b, relu, out)`` writes ``act(conv3x3(x, w) + b)`` into ``out`` (N, OH, OW,
    F). An odd OH or OW is covered by whole tiles over one extra zero row or column of
    input; the tile outputs past the edge are not written.
    """

    kernel = "winograd"

    def __init__(self, x_shape, filters, dtype, padding="valid"):
        oh, ow = conv_out_hw(x_shape, padding)
        pad = SamePadding(x_shape, dtype, padding, extra=(oh % 2, ow % 2))
        super().__init__(
            x_shape,
            filters,
            dtype,
            pad,
            (-(-oh // 2), -(-ow // 2)),
            (x_shape[0], oh, ow, filters),
            "WinogradConv",
        )

    def _output(self, m, b, relu, out):
        self.kernels.output_tiles(m, b, relu, out)
