"""Image warps: Keras's 8-number affine transform and the half-pixel resize, with adjoints.

One op serves every geometric augmentation layer (rotation, translation, zoom): an output
pixel at column ``x``, row ``y`` reads the input at

    x_in = (a0*x + a1*y + a2) / k,   y_in = (b0*x + b1*y + b2) / k,   k = c0*x + c1*y + 1

for ``transform = [a0, a1, a2, b0, b1, b2, c0, c1]`` (Keras's and TensorFlow's convention:
the transform maps *output* points to *input* points). The input is first extended beyond
its border by ``fill_mode`` (as ``np.pad`` would):

* ``"reflect"``  -- ``d c b a | a b c d | d c b a`` (the edge pixel repeated, period 2n);
* ``"wrap"``     -- ``a b c d | a b c d | a b c d``;
* ``"nearest"``  -- ``a a a a | a b c d | d d d d``;
* ``"constant"`` -- ``k k k k | a b c d | k k k k`` with ``k = fill_value``;

then sampled bilinearly (the four neighbours, weights from the fractional parts) or at the
nearest pixel (``floor(x + 0.5)``). The sampling is linear in the image, so it is kept as a
*plan* (for each output pixel, four flat source indices and four weights, plus the weight of
the fill value) that the forward pass applies with a gather and the backward pass transposes
with a scatter-add: the exact gradient of the warp with respect to its input.

Example:
    >>> import numpy as np
    >>> img = np.arange(6, dtype="float32").reshape(1, 2, 3, 1)
    >>> shift = [1, 0, 1, 0, 1, 0, 0, 0]          # x_in = x + 1: the image moves left by one
    >>> affine_transform(img, shift, fill_mode="constant")[0, :, :, 0]
    array([[1., 2., 0.],
           [4., 5., 0.]], dtype=float32)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import unknown_name

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


@dataclass
class WarpPlan:
    """A linear map from images (b, h, w, c) to images (b, oh, ow, c), as gathers.

    ``index`` (b*oh*ow, k) flat positions into the input's (b*h*w) pixels, ``weight``
    (b*oh*ow, k) their weights, ``fill`` (b*oh*ow,) the weight of the fill value (or None).
    """

    in_shape: tuple
    out_hw: tuple
    index: np.ndarray
    weight: np.ndarray
    fill: np.ndarray | None


def _fold(idx: np.ndarray, n: int, mode: str):
    """Integer positions (any range) -> positions in [0, n) by the fill rule; mask of real ones."""
    if mode == "nearest":
        return np.clip(idx, 0, n - 1), None
    if mode == "wrap":
        return np.mod(idx, n), None
    if mode == "reflect":
        m = np.mod(idx, 2 * n)
        return np.where(m >= n, 2 * n - 1 - m, m), None
    inside = (idx >= 0) & (idx < n)
    return np.clip(idx, 0, n - 1), inside


def check_transform_args(interpolation: str, fill_mode: str, where: str = "affine_transform"):
    if interpolation not in INTERPOLATIONS:
        raise unknown_name("interpolation", interpolation, INTERPOLATIONS, where)
    if fill_mode not in FILL_MODES:
        raise unknown_name("fill_mode", fill_mode, FILL_MODES, where)


def plan_from_coords(in_shape, src_y, src_x, interpolation="bilinear", fill_mode="constant"):
    """The plan sampling input (b, h, w, c) at float positions ``src_y``, ``src_x`` (b, oh, ow)."""
    check_transform_args(interpolation, fill_mode)
    b, h, w = in_shape[0], in_shape[1], in_shape[2]
    oh, ow = src_y.shape[1], src_y.shape[2]
    base = (np.arange(b, dtype=np.int64) * (h * w))[:, None, None]
    if interpolation == "nearest":
        corners = [
            (
                np.floor(src_y + 0.5).astype(np.int64),
                np.floor(src_x + 0.5).astype(np.int64),
                np.ones_like(src_y),
            )
        ]
    else:
        y0 = np.floor(src_y)
        x0 = np.floor(src_x)
        fy, fx = src_y - y0, src_x - x0
        y0 = y0.astype(np.int64)
        x0 = x0.astype(np.int64)
        corners = [
            (y0, x0, (1 - fy) * (1 - fx)),
            (y0, x0 + 1, (1 - fy) * fx),
            (y0 + 1, x0, fy * (1 - fx)),
            (y0 + 1, x0 + 1, fy * fx),
        ]
    index = np.empty((b * oh * ow, len(corners)), dtype=np.int64)
    weight = np.empty((b * oh * ow, len(corners)), dtype=np.float64)
    fill = np.zeros(b * oh * ow) if fill_mode == "constant" else None
    for k, (iy, ix, wk) in enumerate(corners):
        fy_, in_y = _fold(iy, h, fill_mode)
        fx_, in_x = _fold(ix, w, fill_mode)
        wk = np.broadcast_to(wk, iy.shape)
        if fill is not None:
            real = in_y & in_x
            fill += np.where(real, 0.0, wk).reshape(-1)
            wk = np.where(real, wk, 0.0)
        index[:, k] = (base + fy_ * w + fx_).reshape(-1)
        weight[:, k] = wk.reshape(-1)
    return WarpPlan(tuple(in_shape), (oh, ow), index, weight, fill)


def _as_transforms(transform, b: int) -> np.ndarray:
    t = np.asarray(transform, dtype=np.float64)
    if t.ndim == 1:
        t = np.broadcast_to(t, (b, t.shape[0]))
    if t.ndim != 2 or t.shape[1] != 8 or t.shape[0] not in (1, b):
        raise ValueError(
            f"affine_transform expects transform of shape (8,) or ({b}, 8) -- "
            f"[a0, a1, a2, b0, b1, b2, c0, c1] per image -- got shape {np.shape(transform)}."
        )
    return np.broadcast_to(t, (b, 8))


def affine_plan(
    in_shape, transform, interpolation="bilinear", fill_mode="constant", output_size=None
) -> WarpPlan:
    """The sampling plan of :func:`affine_transform` (reuse it for the backward pass)."""
    b, h, w = in_shape[0], in_shape[1], in_shape[2]
    oh, ow = (h, w) if output_size is None else output_size
    t = _as_transforms(transform, b)
    y, x = np.mgrid[0:oh, 0:ow].astype(np.float64)
    a0, a1, a2, b0, b1, b2, c0, c1 = (t[:, i, None, None] for i in range(8))
    k = c0 * x + c1 * y + 1.0
    src_x = (a0 * x + a1 * y + a2) / k
    src_y = (b0 * x + b1 * y + b2) / k
    return plan_from_coords(in_shape, src_y, src_x, interpolation, fill_mode)


def apply_plan(images: np.ndarray, plan: WarpPlan, fill_value=0.0) -> np.ndarray:
    """Forward: gather and weigh the source pixels of every output pixel."""
    b, _, _, c = images.shape
    flat = images.reshape(-1, c)
    dt = images.dtype
    out = flat[plan.index[:, 0]] * plan.weight[:, 0, None].astype(dt)
    for k in range(1, plan.index.shape[1]):
        out += flat[plan.index[:, k]] * plan.weight[:, k, None].astype(dt)
    if plan.fill is not None and fill_value != 0:
        out += dt.type(fill_value) * plan.fill[:, None].astype(dt)
    return out.reshape(b, *plan.out_hw, c)


def apply_plan_adjoint(grad: np.ndarray, plan: WarpPlan) -> np.ndarray:
    """Backward: dLoss/dInput = the transposed gather (a scatter-add) of dLoss/dOutput."""
    b, h, w = plan.in_shape[0], plan.in_shape[1], plan.in_shape[2]
    c = grad.shape[-1]
    g = grad.reshape(-1, c).astype(np.float64)
    idx = plan.index.reshape(-1)
    out = np.empty((b * h * w, c), dtype=grad.dtype)
    for ch in range(c):
        contrib = (plan.weight * g[:, ch, None]).reshape(-1)
        out[:, ch] = np.bincount(idx, weights=contrib, minlength=b * h * w)
    return out.reshape(b, h, w, c)


def affine_transform(
    images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0.0
):
    """Warp a batch of NHWC images by Keras's 8-number transforms (see the module docstring).

    Args:
        images: (b, h, w, c) float array.
        transform: (8,) for all images or (b, 8), one per image.
        interpolation: "bilinear" or "nearest".
        fill_mode: "reflect", "wrap", "constant" or "nearest".
        fill_value: the value outside the image for fill_mode="constant".

    Example:
        >>> import numpy as np
        >>> img = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
        >>> flip = [-1, 0, 1, 0, 1, 0, 0, 0]       # x_in = 1 - x: a mirror image
        >>> affine_transform(img, flip)[0, :, :, 0]
        array([[1., 0.],
               [3., 2.]], dtype=float32)
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"affine_transform expects images of 4 dims (batch, height, width, channels), got "
            f"shape {images.shape}. Add a batch axis with images[None]."
        )
    check_transform_args(interpolation, fill_mode)
    plan = affine_plan(images.shape, transform, interpolation, fill_mode)
    return apply_plan(images, plan, fill_value)


# ---- transforms --------------------------------------------------------------------------
def rotation_transforms(angles_deg, height: int, width: int) -> np.ndarray:
    """(b, 8) transforms rotating each image by ``angles_deg`` about its centre (Keras's matrix).

    A positive angle turns the picture counter-clockwise as displayed (rows down), as Keras.
    """
    a = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    cos, sin = np.cos(a), np.sin(a)
    zero = np.zeros_like(a)
    return np.stack(
        [cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos, zero, zero],
        axis=1,
    )


def translation_transforms(dy, dx) -> np.ndarray:
    """(b, 8) transforms moving each image down by ``dy`` and right by ``dx`` pixels."""
    dy = np.asarray(dy, dtype=np.float64)
    dx = np.asarray(dx, dtype=np.float64)
    one, zero = np.ones_like(dx), np.zeros_like(dx)
    return np.stack([one, zero, -dx, zero, one, -dy, zero, zero], axis=1)


def zoom_transforms(zy, zx, height: int, width: int) -> np.ndarray:
    """(b, 8) transforms scaling the sampling grid about the centre by ``zx``, ``zy``.

    A factor above 1 reads a larger region: the picture shrinks (zooms out), as Keras.
    """
    zy = np.asarray(zy, dtype=np.float64)
    zx = np.asarray(zx, dtype=np.float64)
    zero = np.zeros_like(zx)
    return np.stack(
        [
            zx,
            zero,
            (width - 1) / 2.0 * (1 - zx),
            zero,
            zy,
            (height - 1) / 2.0 * (1 - zy),
            zero,
            zero,
        ],
        axis=1,
    )


# ---- resizing ----------------------------------------------------------------------------
def resize_matrix(n_in: int, n_out: int, interpolation: str = "bilinear") -> np.ndarray:
    """(n_out, n_in) weights of a 1-D resize with half-pixel centres (as TensorFlow and JAX).

    Output cell ``i`` is centred at input position ``(i + 0.5) * n_in / n_out - 0.5``;
    bilinear blends the two nearest input cells (edges clamped), nearest takes
    ``floor((i + 0.5) * n_in / n_out)``. No antialiasing (Keras's default ``antialias=False``).

    Example:
        >>> resize_matrix(2, 4)
        array([[1.  , 0.  ],
               [0.75, 0.25],
               [0.25, 0.75],
               [0.  , 1.  ]])
    """
    if interpolation not in INTERPOLATIONS:
        raise unknown_name("interpolation", interpolation, INTERPOLATIONS, "resize")
    scale = n_in / n_out
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    if interpolation == "nearest":
        m[rows, np.minimum(np.floor((rows + 0.5) * scale).astype(int), n_in - 1)] = 1.0
        return m
    pos = np.clip((rows + 0.5) * scale - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    np.add.at(m, (rows, lo), 1 - frac)
    np.add.at(m, (rows, hi), frac)
    return m


def resize(images: np.ndarray, height: int, width: int, interpolation="bilinear"):
    """Resize NHWC images to (height, width); separable, so two small matrix products."""
    mh = resize_matrix(images.shape[1], height, interpolation).astype(images.dtype)
    mw = resize_matrix(images.shape[2], width, interpolation).astype(images.dtype)
    return np.einsum("ih,bhwc,jw->bijc", mh, images, mw, optimize=True)


def resize_backward(grad: np.ndarray, in_hw, interpolation="bilinear"):
    """dLoss/dInput of :func:`resize`: the transposed matrices."""
    mh = resize_matrix(in_hw[0], grad.shape[1], interpolation).astype(grad.dtype)
    mw = resize_matrix(in_hw[1], grad.shape[2], interpolation).astype(grad.dtype)
    return np.einsum("ih,bijc,jw->bhwc", mh, grad, mw, optimize=True)


def aspect_crop_box(height: int, width: int, target_h: int, target_w: int):
    """(top, left, crop_h, crop_w): the largest centred window with the target aspect ratio."""
    crop_h = max(min(height, int(float(width * target_h) / target_w)), 1)
    crop_w = max(min(width, int(float(height * target_w) / target_h)), 1)
    return int((height - crop_h) / 2), int((width - crop_w) / 2), crop_h, crop_w


__all__ = [
    "FILL_MODES",
    "INTERPOLATIONS",
    "WarpPlan",
    "affine_plan",
    "affine_transform",
    "apply_plan",
    "apply_plan_adjoint",
    "aspect_crop_box",
    "plan_from_coords",
    "resize",
    "resize_backward",
    "resize_matrix",
    "rotation_transforms",
    "translation_transforms",
    "zoom_transforms",
]
