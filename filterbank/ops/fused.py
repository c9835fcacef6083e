"""Bias + activation + max pooling in one pass: the second half of a fused conv + pool.

``Conv2D(activation="relu")`` followed by ``MaxPooling2D`` computes
``y = maxpool(relu(conv(x) + b))``. Max pooling commutes with any non-decreasing function
applied elementwise, and a per-channel bias is such a function of each cell, so

    maxpool(relu(z + b)) == relu(maxpool(z + b))        with z = conv(x)

and the bias and ReLU can run on the pooled map (4x fewer cells for 2x2 pooling) instead
of the full convolution output. In floating point the identity is exact: rounding is
monotone, so ``max(fl(z_i + b)) == fl(max(z_i) + b)``.

Three implementations, all giving the same forward values:

* ``impl="reference"`` -- the unfused composition (bias, activation, then
  :func:`filterbank.ops.pool.max_pool2d_forward`): the readable definition.
* ``impl="numpy"`` -- pool the raw map first, then add the bias and apply the activation
  on the small map. Its argmax can differ from the reference only where two different
  ``z`` round to the same ``z + b`` (a tie created by rounding); the gradient then goes to
  the other one of two equal cells.
* ``impl="numba"`` -- one compiled pass that adds the bias in registers while scanning each
  window: bit-identical to the reference, argmax included (the default when numba is
  available).

Backward: dLoss/dy (pooled) -> through the activation at the pooled cells
(``y > 0`` for ReLU: the pooled output is the activation of the winning cell) ->
``db = sum(dLoss/d(z+b))`` over batch and pixels, and ``dz`` = that gradient routed to each
window's argmax cell (zeros elsewhere), exactly what the unfused backward produces.

Activations: "linear" and "relu" (both non-decreasing, so they commute with max).

Shapes: z (N, H, W, C), bias (C,) or None, y and argmax (N, OH, OW, C), dz like z, db (C,).

Example:
    >>> import numpy as np
    >>> z = np.array([[-3, 1], [2, -1]], "float32").reshape(1, 2, 2, 1)
    >>> y, arg = bias_act_max_pool2d_forward(z, np.array([-2.5], "float32"), "relu", (2, 2),
    ...                                      return_argmax=True)
    >>> float(y[0, 0, 0, 0]), int(arg[0, 0, 0, 0])      # relu(max(z) - 2.5), at offset 2
    (0.0, 2)
    >>> dz, db = bias_act_max_pool2d_backward(np.ones_like(y), y, arg, z.shape, "relu", (2, 2))
    >>> dz.ravel().tolist(), db.tolist()                # relu was off: no gradient
    ([0.0, 0.0, 0.0, 0.0], [0.0])
"""

from __future__ import annotations

import numpy as np

from ..errors import unknown_name
from . import pool as _pool
from .activations import relu_forward

ACTIVATIONS = ("linear", "relu")
IMPLS = ("reference", "numpy", "numba")


def _check(activation, impl, dtype):
    if activation not in ACTIVATIONS:
        raise unknown_name("fused pooling activation", activation, ACTIVATIONS)
    if impl is None:
        # The compiled kernels exist for float32/float64 only.
        ok = dtype in (np.float32, np.float64) and _pool.numba_kernels() is not None
        return "numba" if ok else "numpy"
    if impl not in IMPLS:
        raise unknown_name("fused pooling implementation", impl, IMPLS)
    if impl == "numba" and _pool.numba_kernels() is None:
        raise RuntimeError(
            "impl='numba' needs numba (pip install numba) and FILTERBANK_DISABLE_NUMBA unset."
        )
    return impl


def _activate(y, activation, inplace):
    if activation == "relu":
        return np.maximum(y, 0, out=y) if inplace else relu_forward(y)
    return y


def _is_2x2(pool_size, strides, pads):
    """2x2 windows, stride 2, no padding: the unrolled kernels apply."""
    return pool_size == (2, 2) and strides == (2, 2) and pads == ((0, 0), (0, 0))


def bias_act_max_pool2d_forward(
    z,
    bias,
    activation,
    pool_size=(2, 2),
    strides=None,
    padding="valid",
    *,
    return_argmax=False,
    impl=None,
    out=None,
    argmax_out=None,
):
    """``maxpool(act(z + bias))`` of z (N, H, W, C) -> y (N, OH, OW, C) [, argmax].

    ``argmax`` (the window offset ``ky * pw + kx`` of each window's first maximum, as
    :func:`filterbank.ops.pool.max_pool2d_forward`) feeds
    :func:`bias_act_max_pool2d_backward`. ``out`` / ``argmax_out``: optional C-contiguous
    arrays to write y (z's dtype) and the argmax (uint8 for windows of at most 256 cells,
    else int32) into. ``z`` is never modified.
    """
    impl = _check(activation, impl, z.dtype)
    pool_size, strides = _pool._norm(pool_size, strides, 2)
    if impl == "reference":
        a = z if bias is None else z + np.asarray(bias, dtype=z.dtype)
        a = _activate(a, activation, inplace=a is not z)
        res = _pool.max_pool2d_forward(
            a, pool_size, strides, padding, return_argmax=return_argmax, impl="numpy"
        )
        return _into(res, return_argmax, out, argmax_out)
    out_hw, pads = _pool.pool_geometry(z.shape[1:3], pool_size, strides, padding)
    shape = (z.shape[0], *out_hw, z.shape[3])
    if impl == "numba":
        z = np.ascontiguousarray(z)
        y = np.empty(shape, dtype=z.dtype) if out is None else out
        b = np.zeros(z.shape[3], dtype=z.dtype) if bias is None else np.asarray(bias, dtype=z.dtype)
        if not return_argmax:
            arg = np.empty((1, 1, 1, 1), dtype=np.uint8)
        elif argmax_out is None:
            arg = np.empty(shape, dtype=_pool._argmax_dtype(pool_size))
        else:
            arg = argmax_out
        kernels = _pool.numba_kernels()
        if _is_2x2(pool_size, strides, pads):
            kernels.bias_act_max_pool2x2_forward(z, b, activation == "relu", y, arg, return_argmax)
        else:
            kernels.bias_act_max_pool2d_forward(
                z,
                b,
                activation == "relu",
                *pool_size,
                *strides,
                pads[0][0],
                pads[1][0],
                y,
                arg,
                return_argmax,
            )
        return (y, arg) if return_argmax else y
    # numpy: pool the raw map, then bias and activation on the (smaller) pooled map.
    res = _pool.max_pool2d_forward(
        z, pool_size, strides, padding, return_argmax=return_argmax, impl="numpy"
    )
    res = _into(res, return_argmax, out, argmax_out)
    y, arg = res if return_argmax else (res, None)
    if bias is not None:
        y += np.asarray(bias, dtype=y.dtype)
    y = _activate(y, activation, inplace=True)
    return (y, arg) if return_argmax else y


def _into(res, return_argmax, out, argmax_out):
    """Copy (y[, argmax]) into the caller's buffers when given."""
    y, arg = res if return_argmax else (res, None)
    if out is not None:
        out[...] = y
        y = out
    if argmax_out is not None and arg is not None:
        argmax_out[...] = arg
        arg = argmax_out
    return (y, arg) if return_argmax else y


def bias_act_max_pool2d_backward(
    grad,
    y,
    argmax,
    z_shape,
    activation,
    pool_size=(2, 2),
    strides=None,
    padding="valid",
    *,
    need_db=True,
    impl=None,
    out=None,
):
    """(dz, db) from dLoss/dy ``grad`` (N, OH, OW, C), the forward's ``y`` and ``argmax``.

    dz has ``z_shape`` (N, H, W, C); db (C,) is None when ``need_db`` is False. ``out``: an
    optional z-shaped array to write dz into (it is fully overwritten).
    """
    impl = _check(activation, impl, grad.dtype)
    pool_size, strides = _pool._norm(pool_size, strides, 2)
    z_shape = tuple(z_shape)
    if impl == "numba":
        _, pads = _pool.pool_geometry(z_shape[1:3], pool_size, strides, padding)
        if _is_2x2(pool_size, strides, pads):
            dz = np.empty(z_shape, dtype=grad.dtype) if out is None else out
            db = np.zeros(z_shape[3], dtype=np.float64)
            _pool.numba_kernels().bias_act_max_pool2x2_backward(
                np.ascontiguousarray(grad),
                np.ascontiguousarray(y),
                np.ascontiguousarray(argmax),
                activation == "relu",
                dz,
                db,
            )
            return dz, db.astype(grad.dtype) if need_db else None
    g = grad * (y > 0) if activation == "relu" else grad
    db = None
    if need_db:
        g2 = g.reshape(-1, g.shape[-1])
        # A BLAS matrix-vector product: faster than g2.sum(axis=0) for few columns.
        db = np.ones(g2.shape[0], dtype=g2.dtype) @ g2
    pool_impl = "numba" if impl == "numba" else "numpy"
    dz = _pool.max_pool2d_backward(
        g, argmax, z_shape, pool_size, strides, padding, impl=pool_impl, out=out
    )
    return dz, db
