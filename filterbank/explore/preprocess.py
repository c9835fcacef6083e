"""Turn pixels and image files into a model's input, with strict limits.

Three ways in, one rule out: every input ends as float32 ``(h, w, c)`` values in ``[0, 1]``
(light strokes on a dark background for MNIST-like models), which :func:`to_model_range` maps
to the range the model was trained on (``[-1, 1]`` for the X's and O's).

* ``pixels``: nested lists from a JSON body, already the model's size; checked for shape,
  type and finiteness, never resized.
* an uploaded image file: decoded by Pillow from bytes (PNG, JPEG, GIF, BMP, WebP only), with
  the byte and pixel limits checked *before* the pixels are decompressed, flattened onto white
  if transparent, converted to the model's channels and resized; inverted when its polarity
  differs from the training images' (the ``filterbank predict --invert auto`` rule); and for
  MNIST-like models optionally framed like MNIST (:func:`mnist_frame`).
* a drawing on the page: the same :func:`mnist_frame` rule, written again in ``app.js``.

MNIST's framing (LeCun et al.): the digit's bounding box is scaled to fit a 20x20 box keeping
its aspect ratio, then placed in the 28x28 frame so that its centre of mass is the centre.

Example:
    >>> import numpy as np
    >>> img = np.zeros((50, 80)); img[10:20, 30:70] = 1.0      # a wide bar, off centre
    >>> out = mnist_frame(img, 28)
    >>> out.shape, round(float(out.max()), 2), [round(v, 1) for v in center_of_mass(out)]
    ((28, 28), 1.0, [13.5, 14.0])
"""

from __future__ import annotations

import io

import numpy as np

from ..datasets.safe_images import CHANNEL_MODES as _MODES
from ..datasets.safe_images import to_channels

MAX_UPLOAD_BYTES = 8 * 1024 * 1024  # an image file; a photo of a digit is far smaller
MAX_IMAGE_PIXELS = 4096 * 4096  # refused before decompression (bombs)
MAX_IMAGE_SIDE = 8192
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")


class BadInput(ValueError):
    """A request's input cannot be used; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def check_pixels(pixels, shape) -> np.ndarray:
    """JSON ``pixels`` (h x w, or h x w x c) in [0, 1] as float32 (h, w, c) for ``shape``.

    Example:
        >>> check_pixels([[0, 1], [0.5, 0]], (2, 2, 1)).shape
        (2, 2, 1)
        >>> try:
        ...     check_pixels([[0, 1]], (2, 2, 1))
        ... except BadInput as exc:
        ...     print(exc.status, str(exc)[:47])
        400 pixels must have shape (2, 2) or (2, 2, 1) (the
    """
    h, w, c = shape
    expected = f"({h}, {w}, {c})" if c != 1 else f"({h}, {w}) or ({h}, {w}, 1)"
    if not isinstance(pixels, list):
        raise BadInput(
            f"pixels must be a nested list of numbers of shape {expected}, got "
            f"{type(pixels).__name__}."
        )
    try:
        x = np.asarray(pixels, dtype=np.float64)
    except (ValueError, TypeError):
        raise BadInput(
            f"pixels must be a nested list of numbers of shape {expected} with "
            "rows of equal length; got ragged rows or non-numbers."
        ) from None
    if x.ndim == 2 and c == 1:
        x = x[..., None]
    if x.shape != (h, w, c):
        got = tuple(x.shape[:-1]) if x.ndim == 3 and c == 1 and x.shape[-1] == 1 else x.shape
        raise BadInput(
            f"pixels must have shape {expected} (the model's input, height x width "
            f"x channels), got {tuple(got)}."
        )
    bad = ~np.isfinite(x)
    if bad.any():
        r, col = (int(v) for v in np.argwhere(bad)[0][:2])
        raise BadInput(
            f"pixels hold {int(bad.sum())} NaN or infinite value(s) (first at row "
            f"{r}, column {col}); every pixel must be a number in [0, 1]."
        )
    if x.min() < 0 or x.max() > 1:
        raise BadInput(
            f"pixels must lie in [0, 1] (0 dark, 1 bright), got values from "
            f"{x.min():g} to {x.max():g}; divide 0..255 values by 255."
        )
    return x.astype(np.float32)


def to_model_range(x: np.ndarray, value_range) -> np.ndarray:
    """[0, 1] pixels mapped to the model's training range ``(low, high)``."""
    low, high = value_range
    return (np.float32(low) + np.float32(high - low) * x).astype(np.float32)


def from_model_range(x: np.ndarray, value_range) -> np.ndarray:
    """The inverse of :func:`to_model_range`, clipped to [0, 1] (for display)."""
    low, high = value_range
    return np.clip((np.asarray(x, np.float32) - low) / (high - low), 0.0, 1.0)


def center_of_mass(img: np.ndarray) -> tuple[float, float]:
    """(row, column) centre of mass of a 2-D non-negative image (its centre when empty)."""
    total = float(img.sum())
    h, w = img.shape
    if total <= 0:
        return (h / 2, w / 2)
    rows = np.arange(h) + 0.5
    cols = np.arange(w) + 0.5
    return (float(img.sum(axis=1) @ rows) / total, float(img.sum(axis=0) @ cols) / total)


def mnist_frame(
    img: np.ndarray, size: int = 28, box: int | None = None, threshold: float = 0.05
) -> np.ndarray:
    """Frame a light-on-dark 2-D image like MNIST: bounding box -> ``box`` px -> centred by mass.

    ``box`` defaults to ``round(size * 20 / 28)`` (20 for 28). Returns float32 (size, size) in
    [0, 1]; an empty image (nothing above ``threshold``) stays empty.
    """
    from PIL import Image

    img = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    box = box or max(1, round(size * 20 / 28))
    ink = np.argwhere(img > threshold)
    out = np.zeros((size, size), np.float32)
    if len(ink) == 0:
        return out
    (r0, c0), (r1, c1) = ink.min(axis=0), ink.max(axis=0) + 1
    crop = img[r0:r1, c0:c1]
    ch, cw = crop.shape
    scale = box / max(ch, cw)
    nh, nw = max(1, round(ch * scale)), max(1, round(cw * scale))
    small = Image.fromarray((crop * 255).astype(np.uint8)).resize(
        (nw, nh), resample=Image.Resampling.BILINEAR
    )
    small = np.asarray(small, np.float32) / 255.0
    # Place the box in the middle, then shift by whole pixels so its mass sits at the centre.
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = small
    cy, cx = center_of_mass(out)
    dy, dx = round(size / 2 - cy), round(size / 2 - cx)
    shifted = np.zeros_like(out)
    ys, xs = slice(max(0, dy), min(size, size + dy)), slice(max(0, dx), min(size, size + dx))
    ys0, xs0 = slice(max(0, -dy), min(size, size - dy)), slice(max(0, -dx), min(size, size - dx))
    shifted[ys, xs] = out[ys0, xs0]
    return shifted


def decode_image(data: bytes, shape, *, light_on_dark: bool | None, frame: bool) -> tuple:
    """An uploaded image file as float32 (h, w, c) in [0, 1] for ``shape``; (pixels, notes).

    Raises :class:`BadInput` (413 too large, 415 not an image) with a message.
    """
    from PIL import Image, UnidentifiedImageError

    from ..cli.images import should_invert

    h, w, c = shape
    if len(data) > MAX_UPLOAD_BYTES:
        raise BadInput(
            f"the image file is {len(data):,} bytes; the limit is {MAX_UPLOAD_BYTES:,} bytes.", 413
        )
    if not data:
        raise BadInput("the uploaded file is empty; send a PNG or JPEG image.", 415)
    if c not in _MODES:
        raise BadInput(f"the model takes {c}-channel images; image files give 1, 3 or 4.", 400)
    notes = []
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as img:
            # The header gives the size before any pixel is decompressed: refuse bombs here.
            iw, ih = img.size
            if iw * ih > MAX_IMAGE_PIXELS or max(iw, ih) > MAX_IMAGE_SIDE:
                raise BadInput(
                    f"the image is {iw}x{ih} pixels; the limit is "
                    f"{MAX_IMAGE_PIXELS:,} pixels and {MAX_IMAGE_SIDE} per side. "
                    "Shrink it first.",
                    413,
                )
            img.seek(0)
            img.load()
            img = to_channels(img, c)
            full = np.asarray(img, dtype=np.float32).reshape(ih, iw, c) / 255.0
    except BadInput:
        raise
    except Image.DecompressionBombError as exc:
        raise BadInput(
            f"the image is too large to decode ({exc}); the limit is "
            f"{MAX_IMAGE_PIXELS:,} pixels. Shrink it first.",
            413,
        ) from None
    except UnidentifiedImageError:
        raise BadInput(
            "the uploaded file is not an image Pillow can read (PNG, JPEG, GIF, BMP "
            "or WebP expected).",
            415,
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise BadInput(f"the image file is damaged or truncated: {exc}", 415) from None
    if should_invert(full, "auto", light_on_dark):
        full = 1.0 - full
        notes.append("inverted to match the training images (light on dark)")
    if frame and c == 1 and h == w:
        x = mnist_frame(full[..., 0], h)[..., None]
        notes.append(
            "framed like MNIST: bounding box scaled into "
            f"{max(1, round(h * 20 / 28))}x{max(1, round(h * 20 / 28))}, "
            "centred by mass"
        )
    else:
        pil = Image.fromarray(
            np.round(full * 255).astype(np.uint8).squeeze(-1)
            if c == 1
            else np.round(full * 255).astype(np.uint8)
        )
        if pil.size != (w, h):
            pil = pil.resize((w, h), resample=Image.Resampling.BILINEAR)
            notes.append(f"resized from {iw}x{ih} to {w}x{h}")
        x = np.asarray(pil, np.float32).reshape(h, w, c) / 255.0
    return x.astype(np.float32), notes


__all__ = [
    "ALLOWED_FORMATS",
    "BadInput",
    "MAX_IMAGE_PIXELS",
    "MAX_UPLOAD_BYTES",
    "center_of_mass",
    "check_pixels",
    "decode_image",
    "from_model_range",
    "mnist_frame",
    "to_model_range",
]
