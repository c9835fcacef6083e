"""The im2col + GEMM core of every convolution, resolved once per input shape.

:class:`ConvPlan` holds everything about one convolution that depends only on shapes
(output size, padding, which column-matrix layout, which kernels), so a layer that sees
the same input shape again (every training step, every prediction) skips the argument
normalisation and checks, and its temporaries can come from a
:class:`~filterbank.ops.workspace.Workspace` instead of fresh allocations.

Column-matrix layouts (``plan.layout``):

* "pointwise": a 1x1 kernel without padding: the (strided) input is already the column
  matrix, (M, C) with M = N*Ho*Wo;
* "channel": few input channels (C <= ``FEW_CHANNELS``): colT (kh*kw*C, M), channel-major,
  which NumPy fills with long row copies (the "special im2col" for 1-channel images);
* "pixel": (M, kh*kw*C), filled by one NumPy strided copy.

Forward: ``y2 = col @ w2`` (or ``colT.T @ w2``) written straight into the output (or a
caller's buffer); backward: ``dw = col.T @ dy2``, ``dcol = dy2 @ w2.T`` and ``col2im``.

Shapes: x (N, H, W, C), w (kh, kw, C, F), y and dy (N, Ho, Wo, F), b and db (F,).

Example:
    >>> import numpy as np
    >>> plan = ConvPlan((2, 5, 5, 3), (3, 3, 3, 4), (1, 1), ((0, 0), (0, 0)), (1, 1))
    >>> plan.out_shape, plan.layout
    ((2, 3, 3, 4), 'channel')
    >>> y, col = plan.forward(np.ones((2, 5, 5, 3), "float32"), np.ones((3, 3, 3, 4), "float32"))
    >>> float(y[0, 0, 0, 0])
    27.0
"""

from __future__ import annotations

import numpy as np

from ..errors import unknown_name
from . import im2col as _np_kernels
from . import kernels as _kernels
from .padding import output_size
from .workspace import Workspace as _Workspace

# Inputs with at most this many channels use the channel-major column matrix (see im2col.py).
FEW_CHANNELS = 4


def numba_kernels():
    """The compiled im2col/col2im module, or None (numba missing, or FILTERBANK_DISABLE_NUMBA=1).

    Loaded by :func:`filterbank.ops.kernels.compiled`, the one loader of compiled code."""
    return _kernels.compiled("ops._numba_conv")


def compiled_module(name: str):
    """``filterbank.ops.<name>``, a module of numba kernels, or None (see
    :func:`filterbank.ops.kernels.compiled`)."""
    return _kernels.compiled(f"ops.{name}")


def kernels(impl):
    """The im2col/col2im module for ``impl``: None (numba when available), "numpy", "numba"."""
    if impl is None:
        return numba_kernels() or _np_kernels
    if impl == "numpy":
        return _np_kernels
    if impl == "numba":
        mod = numba_kernels()
        if mod is None:
            raise RuntimeError(
                "impl='numba' needs numba (pip install filterbank[fast]) and "
                "FILTERBANK_DISABLE_NUMBA unset."
            )
        return mod
    raise unknown_name("impl", impl, ["numpy", "numba"])


conv_output_size = output_size  # the name ops.conv and older code import


def _add_bias(y, b):
    """y (N, Ho, Wo, F) += b (F,) in place.

    A broadcast add runs its inner loop over only F values and is loop-overhead-bound; adding
    the bias tiled over a whole sample's map (one long row per sample) is ~3x faster.
    """
    n, ho, wo, _ = y.shape
    if ho * wo >= 8 and y.flags.c_contiguous:
        rows = y.reshape(n, -1)  # a view, so the add lands in y
        rows += np.tile(b, ho * wo)
    else:
        y += b


# The column matrix of one convolution call is capped near this many elements (2 MiB of
# float32); a larger batch or image runs in chunks of samples. Two reasons:
# * cache blocking: a chunk's column matrix is written by im2col and read by the GEMM (and
#   its gradient by col2im) while it is still in cache. Measured on the seed models, batch
#   64, 2 cores (1 MiB L2 each): limits of 0.4-0.5 Mi elements beat no chunking by 11-15%
#   (8 Mi: 14.4 ms/step, 1 Mi: 14.5, 0.5 Mi: 12.7, 0.25 Mi: 13.4);
# * bounded memory: the column matrix (kh*kw*C values per output pixel) never grows with
#   the batch or the image; only the layer outputs do, as in any framework.
COL_LIMIT_ELEMENTS = 2**19


class ConvPlan:
    """One 2D convolution's geometry for one input shape (validated on creation).

    Args:
        x_shape: (N, H, W, C); w_shape: (kh, kw, C, F).
        strides, dilation: (rows, cols) ints; pads: ((top, bottom), (left, right)).
        impl: None (numba when available), "numpy" or "numba".
        where: how error messages name the operation.
        col_limit: the column-matrix size (elements) above which the batch runs in chunks
            (default ``COL_LIMIT_ELEMENTS``; None: never chunk).
        crop_hw: compute only the first (rows, cols) of the output (at most the full size):
            for a consumer that never reads the last rows/columns (a "valid" pooling whose
            windows stop short of the edge). The input gradient is still x's full shape.

    ``chunk`` is the number of samples per chunk (N when the column matrix fits). A chunked
    forward keeps no column matrix (``col`` is None): the backward rebuilds it chunk by
    chunk from x.
    """

    __slots__ = (
        "x_shape",
        "w_shape",
        "kernel",
        "strides",
        "pads",
        "dilation",
        "out_hw",
        "out_shape",
        "layout",
        "impl",
        "chunk",
        "_geometry",
        "_subs",
    )

    def __init__(
        self,
        x_shape,
        w_shape,
        strides,
        pads,
        dilation,
        impl=None,
        where="conv2d",
        col_limit="default",
        crop_hw=None,
    ):
        if len(x_shape) != 4 or len(w_shape) != 4:
            raise ValueError(
                f"{where} expects x (N, H, W, C) and kernel (kh, kw, C, F), got shapes "
                f"{tuple(x_shape)} and {tuple(w_shape)}."
            )
        n, h, wd, c = x_shape
        kh, kw, cin, f = w_shape
        if cin != c:
            raise ValueError(
                f"{where}: input has {c} channels but the kernel {tuple(w_shape)} expects {cin}."
            )
        ho = conv_output_size(h, kh, strides[0], pads[0], dilation[0])
        wo = conv_output_size(wd, kw, strides[1], pads[1], dilation[1])
        if ho < 1 or wo < 1:
            raise ValueError(
                f"{where}: kernel {(kh, kw)} (dilation {dilation}) does not fit input {(h, wd)} "
                f"padded by {pads}; output would be {(ho, wo)}."
            )
        if crop_hw is not None:
            if not (1 <= crop_hw[0] <= ho and 1 <= crop_hw[1] <= wo):
                raise ValueError(f"{where}: crop {crop_hw} is not within the output {(ho, wo)}.")
            ho, wo = crop_hw
        self.x_shape, self.w_shape = tuple(x_shape), tuple(w_shape)
        self.kernel, self.strides, self.pads, self.dilation = (kh, kw), strides, pads, dilation
        self.out_hw, self.out_shape = (ho, wo), (n, ho, wo, f)
        self.impl = impl
        if kh == kw == 1 and pads == ((0, 0), (0, 0)):
            self.layout = "pointwise"
        elif c <= FEW_CHANNELS:
            # NumPy copies few-channel windows fastest channel-major (numba gains nothing here).
            self.layout = "channel"
        else:
            self.layout = "pixel"
        kernels(impl)  # checks impl now (the module is looked up when used: plans can be copied)
        self._geometry = (self.kernel, strides, pads, dilation, self.out_hw)
        if col_limit == "default":
            col_limit = COL_LIMIT_ELEMENTS  # read now, so tests can lower it
        per_sample = ho * wo * kh * kw * c
        self.chunk = n
        if col_limit is not None and self.layout != "pointwise" and n * per_sample > col_limit:
            self.chunk = max(1, col_limit // per_sample)
        self._subs: dict[int, ConvPlan] = {}

    def sub(self, n: int) -> ConvPlan:
        """The same convolution for a batch of ``n`` samples, never chunked (cached)."""
        plan = self._subs.get(n)
        if plan is None:
            plan = ConvPlan(
                (n, *self.x_shape[1:]),
                self.w_shape,
                self.strides,
                self.pads,
                self.dilation,
                self.impl,
                col_limit=None,
                crop_hw=self.out_hw,
            )
            self._subs[n] = plan
        return plan

    def chunks(self, size=None):
        """[(start, stop, plan)] covering the batch in chunks of ``size`` (default ``chunk``)."""
        n = self.x_shape[0]
        size = self.chunk if size is None else size
        if size >= n:
            return [(0, n, self)]
        return [(i, min(i + size, n), self.sub(min(i + size, n) - i)) for i in range(0, n, size)]

    # ---- forward ------------------------------------------------------------------------------
    def im2col(self, x, ws=None):
        """The column matrix of x: (M, K) ("pixel"), (K, M) ("channel") or (M, C) ("pointwise")."""
        n, _, _, c = self.x_shape
        kh, kw = self.kernel
        ho, wo = self.out_hw
        if self.layout == "pointwise":
            sh, sw = self.strides
            # A view (no copy) unless strided or cropped.
            return np.ascontiguousarray(x[:, ::sh, ::sw, :][:, :ho, :wo, :]).reshape(-1, c)
        out = None
        if self.layout == "channel":
            if ws is not None:
                out = ws.get("col", (kh, kw, c, n, ho, wo), x.dtype)
            col = _np_kernels.im2col_cmajor(x, *self._geometry, out=out)
            return col.reshape(kh * kw * c, -1)
        if ws is not None:
            out = ws.get("col", (n, ho, wo, kh, kw, c), x.dtype)
        # NumPy's single strided copy runs as fast as the compiled loop (faster for large
        # batches: it copies whole kw*C rows), so im2col is NumPy whatever ``impl`` says;
        # col2im, a scatter-add, is where the compiled kernel wins (5-10x).
        return _np_kernels.im2col(x, *self._geometry, out=out).reshape(-1, kh * kw * c)

    def im2col_fn(self, dtype):
        """``x -> col`` for C-contiguous inputs of exactly ``x_shape`` and ``dtype``, into a
        buffer of its own, with the strided view worked out once: the im2col of the lean
        inference path (one view and one copy per call). Same result as :meth:`im2col`."""
        n, h, w, c = self.x_shape
        kh, kw = self.kernel
        ho, wo = self.out_hw
        if (
            self.pads != ((0, 0), (0, 0))
            or self.layout == "pointwise"
            or (self.layout == "channel" and c != 1)
        ):
            own = _Workspace()
            return lambda x: self.im2col(x, own)
        (sh, sw), (dh, dw) = self.strides, self.dilation
        item = np.dtype(dtype).itemsize
        s_n, s_h, s_w = h * w * c * item, w * c * item, c * item
        if self.layout == "channel":  # one channel: x is (1, N, H, W) in memory already
            shape = (kh, kw, 1, n, ho, wo)
            strides = (s_h * dh, s_w * dw, item, s_n, s_h * sh, s_w * sw)
            buf = np.empty(shape, dtype)
            col = buf.reshape(kh * kw, -1)
        else:
            shape = (n, ho, wo, kh, kw, c)
            strides = (s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, item)
            buf = np.empty(shape, dtype)
            col = buf.reshape(-1, kh * kw * c)

        def im2col(x):
            np.copyto(buf, np.ndarray(shape, dtype, buffer=x, strides=strides))
            return col

        return im2col

    def forward(self, x, w, b=None, *, ws=None, out=None):
        """(y, col): y = conv(x, w) (+ b) as (N, Ho, Wo, F), written into ``out`` if given.

        x must be C-contiguous of shape ``x_shape`` and w of the same dtype. ``col`` is the
        column matrix for :meth:`backward`, or None when the batch ran in chunks.
        """
        f = self.w_shape[3]
        w2 = w.reshape(-1, f)
        if self.chunk < self.x_shape[0]:
            y = np.empty(self.out_shape, dtype=x.dtype) if out is None else out
            for i, j, plan in self.chunks():
                plan.forward(x[i:j], w, None, ws=ws, out=y[i:j])
            col = None
        else:
            col = self.im2col(x, ws)
            y2 = None if out is None else out.reshape(-1, f)
            y2 = np.matmul(col.T if self.layout == "channel" else col, w2, out=y2)
            y = y2.reshape(self.out_shape)
        if b is not None:
            _add_bias(y, b)
        return y, col

    # ---- backward -----------------------------------------------------------------------------
    def backward(
        self, dy, w, col, need_dx=True, need_db=True, ws=None, x=None, dx_out=None, dw_out=None
    ):
        """(dx, dw, db) from dy (N, Ho, Wo, F); dx/db None when not needed.

        ``col`` is the forward's column matrix; when it is None (a chunked forward) the input
        ``x`` must be given and the column matrix is rebuilt chunk by chunk. ``dx_out`` /
        ``dw_out``: optional C-contiguous arrays of ``x_shape`` / ``w_shape`` to write dx and
        dw into (the GEMM writes dw there directly).
        """
        if col is None:
            return self._backward_chunks(dy, w, x, need_dx, need_db, ws, dx_out, dw_out)
        kh, kw, c, f = self.w_shape
        w2 = w.reshape(-1, f)
        dy2 = dy.reshape(-1, f)
        dw2 = None if dw_out is None else dw_out.reshape(-1, f)
        dw = np.matmul(col if self.layout == "channel" else col.T, dy2, out=dw2).reshape(
            self.w_shape
        )
        db = None
        if need_db:
            # A BLAS matrix-vector product: several times faster than dy2.sum(axis=0) for few
            # columns, and it sums in blocks, so float32 loses less.
            db = np.ones(dy2.shape[0], dtype=dy2.dtype) @ dy2
        if not need_dx:
            return None, dw, db
        n = self.x_shape[0]
        ho, wo = self.out_hw
        geometry = (self.x_shape, self.kernel, self.strides, self.pads, self.dilation)
        kern = kernels(self.impl) if c > FEW_CHANNELS else _np_kernels
        if self.layout == "pointwise":
            dx = self._pointwise_input_grad(dy2 @ w2.T)
        elif kern is _np_kernels and (c <= FEW_CHANNELS or 2 * wo >= c):
            # NumPy's slice-adds are fastest over long rows: channel-major unless the
            # channels outnumber the output columns.
            dcolt = None if ws is None else ws.get("dcol", (kh * kw * c, n * ho * wo), dy.dtype)
            dcolt = np.matmul(w2, dy2.T, out=dcolt).reshape(kh, kw, c, n, ho, wo)
            dx = _np_kernels.col2im_cmajor(dcolt, *geometry)
        else:
            dcol = None if ws is None else ws.get("dcol", (n * ho * wo, kh * kw * c), dy.dtype)
            dcol = np.matmul(dy2, w2.T, out=dcol).reshape(n, ho, wo, kh, kw, c)
            if kern is not _np_kernels:
                return kern.col2im(dcol, *geometry, out=dx_out), dw, db
            dx = kern.col2im(dcol, *geometry)
        if dx_out is not None:
            dx_out[...] = dx
            dx = dx_out
        return dx, dw, db

    def _backward_chunks(self, dy, w, x, need_dx, need_db, ws, dx_out=None, dw_out=None):
        if x is None:
            raise ValueError("ConvPlan.backward needs x when the forward kept no column matrix.")
        dx = None
        if need_dx:
            dx = np.empty(self.x_shape, dtype=dy.dtype) if dx_out is None else dx_out
        dw = db = None
        for i, j, plan in self.chunks():
            col = plan.im2col(x[i:j], ws)
            # The first chunk writes dw (into dw_out), the others add their part to it.
            part = (
                dw_out
                if dw is None
                else (None if ws is None else ws.get("dw_part", self.w_shape, dy.dtype))
            )
            _, dwc, dbc = plan.backward(
                dy[i:j],
                w,
                col,
                need_dx,
                need_db,
                ws,
                dx_out=dx[i:j] if need_dx else None,
                dw_out=part,
            )
            if dw is None:
                dw = dwc
            else:
                dw += dwc
            if need_db:
                db = dbc if db is None else db + dbc
        return dx, dw, db

    def _pointwise_input_grad(self, dcol):
        """dx of a 1x1 convolution: dcol (N*Ho*Wo, C) placed on the strided input pixels."""
        n, h, w, c = self.x_shape
        if self.strides == (1, 1) and self.out_hw == (h, w):
            return dcol.reshape(self.x_shape)
        (sh, sw), (ho, wo) = self.strides, self.out_hw
        dx = np.zeros(self.x_shape, dtype=dcol.dtype)
        dx[:, : sh * ho : sh, : sw * wo : sw, :] = dcol.reshape(n, ho, wo, c)
        return dx
