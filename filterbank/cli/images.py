"""Image files (PNG, JPEG, ...) turned into a model's input, for ``filterbank predict``.

The rule, in order (Pillow does the decoding and resizing):

1. Transparency is flattened onto white (a digit drawn on a transparent canvas is a dark
   digit on white paper).
2. The image is converted to the model's channels: 1 -> grayscale ("L"), 3 -> RGB,
   4 -> RGBA, and resized to the model's height x width with bilinear filtering (antialiased
   when shrinking; the aspect ratio is not kept: crop the image to a square first).
3. Pixels are scaled to [0, 1] (``x / 255``).
4. Inversion (``--invert``): MNIST, Fashion-MNIST and the X's and O's are light objects on a
   dark background, while a digit on paper or on screen is usually dark on light. With
   ``auto`` (the default) an image is inverted (``1 - x``) when its background -- the mean of
   its outermost rows and columns after resizing, compared with mid-grey 0.5 -- is light and
   the model's training images were light on dark (or the other way round). The training
   images' polarity is known for mnist, fashion_mnist and xo (light on dark), measured the
   same way for a grayscale image folder and recorded in ``metrics.json``; for colour images,
   or when it is unknown, ``auto`` never inverts. ``yes`` always inverts, ``no`` never.
5. The [0, 1] values are mapped to the range the model was trained on: unchanged for [0, 1],
   ``2 x - 1`` for the X's and O's' [-1, 1].

MNIST digits fill the central 20x20 pixels of their 28x28 frame: leave a margin around a digit
for the best results.

Example:
    >>> import numpy as np
    >>> light = np.full((4, 4, 1), 0.9); light[1:3, 1:3] = 0.1     # dark blob on light paper
    >>> should_invert(light, "auto", light_on_dark=True)
    True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..datasets.safe_images import CHANNEL_MODES as _MODES
from ..datasets.safe_images import open_image, to_channels
from .common import CLIError

INVERT_CHOICES = ("auto", "yes", "no")


def border_mean(image: np.ndarray) -> float:
    """Mean of the outermost rows and columns of an (h, w, c) image."""
    h, w = image.shape[:2]
    if h <= 2 or w <= 2:
        return float(image.mean())
    ring = np.ones((h, w), dtype=bool)
    ring[1:-1, 1:-1] = False
    return float(image[ring].mean())


def should_invert(image: np.ndarray, mode: str, light_on_dark: bool | None) -> bool:
    """Apply the ``--invert`` rule (module docstring, step 4) to an (h, w, c) image in [0, 1].

    ``light_on_dark``: whether the training images were light on dark (True), dark on light
    (False) or unknown/colour (None: ``auto`` never inverts).
    """
    if mode == "yes":
        return True
    if mode == "no" or light_on_dark is None:
        return False
    light_background = border_mean(image) > 0.5
    return bool(light_background == light_on_dark)


def read_image(path, shape) -> np.ndarray:
    """One image file as float32 (h, w, c) in [0, 1] for a model taking ``shape`` (h, w, c)."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:
        raise CLIError(
            "reading images needs Pillow: pip install filterbank[io] (or: pip install pillow)."
        ) from exc
    h, w, c = shape
    if c not in _MODES:
        raise CLIError(f"the model takes {c}-channel images; image files give 1, 3 or 4.")
    path = Path(path)
    if path.is_dir():
        raise CLIError(
            f"{str(path)!r} is a folder; expected an image file (PNG, JPEG, ...). "
            f"To predict every image in it, pass them: {str(path / '*.png')}"
        )
    if not path.exists():
        raise CLIError(f"image file {str(path)!r} does not exist.")
    try:
        with open_image(path) as img:
            img = to_channels(img, c)
            if img.size != (w, h):
                img = img.resize((w, h), resample=Image.Resampling.BILINEAR)
            array = np.asarray(img, dtype=np.float32)
    except ValueError as exc:
        message = str(exc)
        if not message.startswith("cannot read image"):
            message = f"cannot read image {str(path)!r}: {message}"
        raise CLIError(message) from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise CLIError(f"cannot read image {str(path)!r}: {exc}") from exc
    return array.reshape(h, w, c) / np.float32(255.0)


def prepare(paths, shape, *, invert: str, light_on_dark: bool | None, value_range):
    """Images (n, h, w, c) float32 ready for the model, and for each whether it was inverted."""
    low, high = value_range
    images, inverted = [], []
    for path in paths:
        image = read_image(path, shape)
        flip = should_invert(image, invert, light_on_dark)
        if flip:
            image = 1.0 - image
        images.append(low + (high - low) * image)
        inverted.append(flip)
    return np.stack(images).astype(np.float32), inverted


__all__ = ["INVERT_CHOICES", "border_mean", "prepare", "read_image", "should_invert"]
