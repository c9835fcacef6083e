"""Max and average pooling, 1D and 2D, forward and backward, channels-last.

Shapes: 2D x (N, H, W, C) -> (N, OH, OW, C); 1D x (N, L, C) -> (N, OL, C). ``strides``
defaults to ``pool_size``. ``padding`` follows Keras (:mod:`filterbank.ops.padding`):
"valid" drops the cells no full window covers; "same" gives ``ceil(n / s)`` outputs and
pads ``max((out-1)*s + k - n, 0)`` cells, the odd one at the end. Padding never wins a
max (it is -inf) and never counts in an average: a "same" average divides by the number
of real cells in its window, as TensorFlow/JAX Keras do.

Max-pool backward routes each gradient to the window's maximum, the first one in
row-major window order on ties (as PyTorch). The forward can return that choice as
``argmax`` (the window offset ``ky * pw + kx``), which the backward consumes. 1D pooling
is 2D pooling of height 1.

Two implementations give identical results: NumPy (a loop over the pool_size offsets of
whole-batch strided slices) and, for the max-pool forward-with-argmax and backward,
numba-compiled serial kernels (loaded on first use, not at ``import filterbank``; set
``FILTERBANK_DISABLE_NUMBA=1`` to turn them off). ``impl=None`` picks numba when it is
available. The plain max forward (no argmax: inference) is always NumPy, which measured
faster than a compiled loop for it.

Example:
    >>> import numpy as np
    >>> x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], "float32")
    >>> max_pool2d_forward(x[None, :, :, None], (2, 2))[0, :, :, 0]
    array([[6., 8.],
           [3., 4.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from ..errors import unknown_name
from . import kernels as _kernels
from .padding import PADDINGS, output_size, pad_amounts

IMPLS = ("numpy", "numba")


def numba_kernels():
    """The compiled kernels module, or None when numba is missing or disabled (asked on
    every call: :func:`filterbank.ops.kernels.compiled`)."""
    return _kernels.compiled("ops._numba_pool")


def _resolve_impl(impl, dtype):
    if impl is None:
        # The kernels are compiled for float32/float64 only (float16 stays on NumPy).
        compiled = dtype in (np.float32, np.float64)
        return "numba" if compiled and numba_kernels() is not None else "numpy"
    if impl not in IMPLS:
        raise unknown_name("pooling implementation", impl, IMPLS)
    if impl == "numba" and numba_kernels() is None:
        raise RuntimeError(
            "impl='numba' needs numba (pip install numba) and FILTERBANK_DISABLE_NUMBA unset."
        )
    return impl


# ---- geometry -----------------------------------------------------------------------------
def _pair(value, n, what):
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{what} expects {n} integers, got {value!r}.")
    return value


def pool_geometry(spatial, pool_size, strides=None, padding="valid"):
    """Output sizes and (before, after) pads of a pooling window on each spatial axis.

    Args:
        spatial: the input's spatial sizes, e.g. (H, W).
        pool_size, strides: one integer per spatial axis (strides None: pool_size).
        padding: "valid" or "same".

    Returns:
        (out_sizes, pads) with pads a tuple of (before, after) pairs.

    Example:
        >>> pool_geometry((7, 7), (2, 2), None, "same")
        ((4, 4), ((0, 1), (0, 1)))
    """
    n = len(spatial)
    pool_size = _pair(pool_size, n, "pool_size")
    strides = pool_size if strides is None else _pair(strides, n, "strides")
    if padding not in PADDINGS:
        raise unknown_name("padding", padding, PADDINGS)
    out, pads = [], []
    for size, k, s in zip(spatial, pool_size, strides):
        if k < 1 or s < 1:
            raise ValueError(
                f"pool_size and strides must be positive, got {pool_size} and {strides}."
            )
        if padding == "valid" and size < k:
            raise ValueError(
                f"Pool window {k} is larger than the input ({size}) with padding='valid': "
                f"output size = floor(({size} - {k}) / {s}) + 1 = {(size - k) // s + 1}. "
                "Use padding='same' or a smaller pool_size."
            )
        pads.append(pad_amounts(size, k, s, padding))
        out.append(output_size(size, k, s, pads[-1]))
    return tuple(out), tuple(pads)


def _norm(pool_size, strides, n):
    pool_size = _pair(pool_size, n, "pool_size")
    strides = pool_size if strides is None else _pair(strides, n, "strides")
    return pool_size, strides


def _pad_hw(x, pads, value):
    """Copy x (N, H, W, C) into a larger array filled with `value` (no copy when no pad)."""
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return x
    n, h, w, c = x.shape
    out = np.full((n, h + pt + pb, w + pl + pr, c), value, dtype=x.dtype)
    out[:, pt : pt + h, pl : pl + w] = x
    return out


def _window(xp, ky, kx, strides, out_hw):
    """The input cells under window offset (ky, kx) of every output cell: (N, OH, OW, C)."""
    (sh, sw), (oh, ow) = strides, out_hw
    return xp[:, ky : ky + sh * (oh - 1) + 1 : sh, kx : kx + sw * (ow - 1) + 1 : sw]


def _argmax_dtype(pool_size):
    return np.uint8 if pool_size[0] * pool_size[1] <= 256 else np.int32


# ---- 2D max -------------------------------------------------------------------------------
def max_pool2d_forward(
    x, pool_size=(2, 2), strides=None, padding="valid", *, return_argmax=False, impl=None
):
    """Max pooling of x (N, H, W, C) -> y (N, OH, OW, C) [, argmax (N, OH, OW, C)].

    ``argmax`` is the offset ``ky * pw + kx`` of each window's first maximum; pass it to
    :func:`max_pool2d_backward`.

    Example:
        >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
        >>> y, arg = max_pool2d_forward(x, 2, return_argmax=True)
        >>> y[0, :, :, 0].tolist(), arg[0, :, :, 0].tolist()
        ([[5.0, 7.0], [13.0, 15.0]], [[3, 3], [3, 3]])
    """
    pool_size, strides = _norm(pool_size, strides, 2)
    out_hw, pads = pool_geometry(x.shape[1:3], pool_size, strides, padding)
    impl = _resolve_impl(impl, x.dtype)
    if impl == "numba" and return_argmax:
        x = np.ascontiguousarray(x)
        y = np.empty((x.shape[0], *out_hw, x.shape[3]), dtype=x.dtype)
        arg = np.empty(y.shape, dtype=_argmax_dtype(pool_size))
        numba_kernels().max_pool2d_forward(x, *pool_size, *strides, pads[0][0], pads[1][0], y, arg)
        return y, arg

    xp = _pad_hw(x, pads, -np.inf)
    ph, pw = pool_size
    y = _window(xp, 0, 0, strides, out_hw).copy()
    if not return_argmax:
        for k in range(1, ph * pw):
            np.maximum(y, _window(xp, k // pw, k % pw, strides, out_hw), out=y)
        return y
    arg = np.zeros(y.shape, dtype=_argmax_dtype(pool_size))
    won = np.empty(y.shape, dtype=bool)
    for k in range(1, ph * pw):
        cells = _window(xp, k // pw, k % pw, strides, out_hw)
        # Strictly greater keeps the first maximum on ties (a NaN still reaches y through
        # np.maximum; where it came from does not matter to anyone).
        np.greater(cells, y, out=won)
        np.maximum(y, cells, out=y)
        # arg = where(won, k, arg), written as arithmetic: much faster than np.where here.
        arg -= won * arg
        arg += won * arg.dtype.type(k)
    return y, arg


def _overlapping(pool_size, strides):
    return any(s < k for k, s in zip(pool_size, strides))


def _tiled(spatial, pool_size, strides, padding):
    """True when the windows cover every (padded) input cell exactly once."""
    if any(s != k for k, s in zip(pool_size, strides)):
        return False
    # "same" with stride == pool pads to exactly out * k; "valid" drops the remainder.
    return padding == "same" or all(n % k == 0 for n, k in zip(spatial, pool_size))


def max_pool2d_backward(
    grad,
    argmax,
    input_shape,
    pool_size=(2, 2),
    strides=None,
    padding="valid",
    *,
    impl=None,
    out=None,
):
    """dLoss/dx (N, H, W, C) from grad (N, OH, OW, C) and the forward's argmax.

    Each output gradient goes to the input cell that won its window; cells that win
    several overlapping windows receive the sum. ``out``: an optional C-contiguous
    ``input_shape`` array of grad's dtype to write dx into (fully overwritten).
    """
    pool_size, strides = _norm(pool_size, strides, 2)
    input_shape = tuple(input_shape)
    out_hw, pads = pool_geometry(input_shape[1:3], pool_size, strides, padding)
    impl = _resolve_impl(impl, grad.dtype)
    overlap = _overlapping(pool_size, strides)
    tiled = _tiled(input_shape[1:3], pool_size, strides, padding)
    if impl == "numba":
        if out is None:
            dx = (np.empty if tiled else np.zeros)(input_shape, dtype=grad.dtype)
        else:
            dx = out
            if not tiled:
                dx.fill(0)
        numba_kernels().max_pool2d_backward(
            np.ascontiguousarray(grad),
            np.ascontiguousarray(argmax),
            *pool_size,
            *strides,
            pads[0][0],
            pads[1][0],
            dx,
            overlap,
        )
        return dx

    (pt, pb), (pl, pr) = pads
    n, h, w, c = input_shape
    if out is not None and not (pt or pb or pl or pr):
        dxp = out
        if not tiled:
            dxp.fill(0)
    else:
        dxp = (np.empty if tiled else np.zeros)((n, h + pt + pb, w + pl + pr, c), dtype=grad.dtype)
    ph, pw = pool_size
    buf = np.empty(grad.shape, dtype=grad.dtype) if overlap else None
    hit = np.empty(grad.shape, dtype=bool)
    for k in range(ph * pw):
        np.equal(argmax, k, out=hit)
        target = _window(dxp, k // pw, k % pw, strides, out_hw)
        if overlap:
            np.multiply(grad, hit, out=buf)
            target += buf
        else:  # each input cell lies in at most one window: write, do not add
            np.multiply(grad, hit, out=target)
    dx = _crop(dxp, pads)
    if out is not None and dx is not out:
        out[...] = dx
        dx = out
    return dx


def _crop(xp, pads):
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return xp
    return np.ascontiguousarray(xp[:, pt : xp.shape[1] - pb, pl : xp.shape[2] - pr])


# ---- 2D average ---------------------------------------------------------------------------
def _window_counts(spatial, pool_size, strides, out_hw, pads, dtype):
    """Real (non-padding) cells in each window: (OH, OW, 1)."""
    counts = []
    for size, k, s, o, (before, _) in zip(spatial, pool_size, strides, out_hw, pads):
        start = np.arange(o) * s - before
        counts.append(np.minimum(start + k, size) - np.maximum(start, 0))
    return np.multiply.outer(counts[0], counts[1]).astype(dtype)[:, :, None]


def avg_pool2d_forward(x, pool_size=(2, 2), strides=None, padding="valid"):
    """Average pooling of x (N, H, W, C) -> (N, OH, OW, C); "same" ignores padding cells.

    Example:
        >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
        >>> avg_pool2d_forward(x, 2, padding="same")[0, :, :, 0]
        array([[2. , 3.5],
               [6.5, 8. ]])
    """
    pool_size, strides = _norm(pool_size, strides, 2)
    out_hw, pads = pool_geometry(x.shape[1:3], pool_size, strides, padding)
    xp = _pad_hw(x, pads, 0)
    ph, pw = pool_size
    y = _window(xp, 0, 0, strides, out_hw).copy()
    for k in range(1, ph * pw):
        y += _window(xp, k // pw, k % pw, strides, out_hw)
    if xp is x:  # no padding: every window is full
        y *= y.dtype.type(1.0 / (ph * pw))
    else:
        y /= _window_counts(x.shape[1:3], pool_size, strides, out_hw, pads, y.dtype)
    return y


def avg_pool2d_backward(grad, input_shape, pool_size=(2, 2), strides=None, padding="valid"):
    """dLoss/dx (N, H, W, C): each window's gradient shared equally by its real cells."""
    pool_size, strides = _norm(pool_size, strides, 2)
    input_shape = tuple(input_shape)
    out_hw, pads = pool_geometry(input_shape[1:3], pool_size, strides, padding)
    (pt, pb), (pl, pr) = pads
    n, h, w, c = input_shape
    if pt or pb or pl or pr:
        share = grad / _window_counts((h, w), pool_size, strides, out_hw, pads, grad.dtype)
    else:
        share = grad * grad.dtype.type(1.0 / (pool_size[0] * pool_size[1]))
    tiled = _tiled((h, w), pool_size, strides, padding)
    dxp = (np.empty if tiled else np.zeros)((n, h + pt + pb, w + pl + pr, c), dtype=grad.dtype)
    ph, pw = pool_size
    overlap = _overlapping(pool_size, strides)
    for k in range(ph * pw):
        target = _window(dxp, k // pw, k % pw, strides, out_hw)
        if overlap:
            target += share
        else:
            target[...] = share
    return _crop(dxp, pads)


# ---- 1D: 2D pooling of height 1 -----------------------------------------------------------
def _as_2d(pool_size, strides):
    pool_size = _pair(pool_size, 1, "pool_size")
    strides = pool_size if strides is None else _pair(strides, 1, "strides")
    return (1, pool_size[0]), (1, strides[0])


def max_pool1d_forward(
    x, pool_size=2, strides=None, padding="valid", *, return_argmax=False, impl=None
):
    """Max pooling of x (N, L, C) -> (N, OL, C) [, argmax (N, OL, C): window offsets]."""
    k, s = _as_2d(pool_size, strides)
    res = max_pool2d_forward(x[:, None], k, s, padding, return_argmax=return_argmax, impl=impl)
    if return_argmax:
        return res[0][:, 0], res[1][:, 0]
    return res[:, 0]


def max_pool1d_backward(
    grad, argmax, input_shape, pool_size=2, strides=None, padding="valid", *, impl=None
):
    """dLoss/dx (N, L, C) from grad (N, OL, C) and the forward's argmax."""
    k, s = _as_2d(pool_size, strides)
    n, length, c = input_shape
    return max_pool2d_backward(
        grad[:, None], argmax[:, None], (n, 1, length, c), k, s, padding, impl=impl
    )[:, 0]


def avg_pool1d_forward(x, pool_size=2, strides=None, padding="valid"):
    """Average pooling of x (N, L, C) -> (N, OL, C)."""
    k, s = _as_2d(pool_size, strides)
    return avg_pool2d_forward(x[:, None], k, s, padding)[:, 0]


def avg_pool1d_backward(grad, input_shape, pool_size=2, strides=None, padding="valid"):
    """dLoss/dx (N, L, C) from grad (N, OL, C)."""
    k, s = _as_2d(pool_size, strides)
    n, length, c = input_shape
    return avg_pool2d_backward(grad[:, None], (n, 1, length, c), k, s, padding)[:, 0]


# ---- global pooling over every spatial axis -----------------------------------------------
def global_max_pool_forward(x, keepdims=False):
    """Max over the spatial axes: (N, *spatial, C) -> (N, C), or (N, 1, ..., 1, C).

    Example:
        >>> global_max_pool_forward(np.arange(12.0).reshape(1, 2, 3, 2))
        array([[10., 11.]])
    """
    return x.max(axis=tuple(range(1, x.ndim - 1)), keepdims=keepdims)


def global_max_pool_backward(grad, x, keepdims=False):
    """dLoss/dx (N, *spatial, C): the gradient goes to the first maximum of each channel."""
    n, c = x.shape[0], x.shape[-1]
    flat = x.reshape(n, -1, c)
    first = flat.argmax(axis=1)[:, None, :]
    dx = np.zeros(flat.shape, dtype=grad.dtype)
    np.put_along_axis(dx, first, grad.reshape(n, 1, c), axis=1)
    return dx.reshape(x.shape)


def global_avg_pool_forward(x, keepdims=False):
    """Mean over the spatial axes: (N, *spatial, C) -> (N, C), or (N, 1, ..., 1, C)."""
    return x.mean(axis=tuple(range(1, x.ndim - 1)), keepdims=keepdims)


def global_avg_pool_backward(grad, input_shape, keepdims=False):
    """dLoss/dx (N, *spatial, C): each cell gets 1/(number of cells) of its channel's grad."""
    input_shape = tuple(input_shape)
    n, c = input_shape[0], input_shape[-1]
    cells = int(np.prod(input_shape[1:-1]))
    share = grad.reshape((n,) + (1,) * (len(input_shape) - 2) + (c,)) / grad.dtype.type(cells)
    return np.broadcast_to(share, input_shape).copy()
