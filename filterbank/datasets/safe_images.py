"""Opening image files warily: regular files only, a pixel limit checked before decoding, and
every failure one ``ValueError`` naming the file.

* A FIFO, device or socket named ``a.png`` is never opened (opening a FIFO waits forever for a
  writer): :func:`is_regular_file` tells the folder walker to skip it with a warning.
* A "decompression bomb" (a small PNG that declares 30000 x 30000 pixels) is refused from its
  header, before the pixels are decoded: at most :data:`MAX_IMAGE_PIXELS` pixels.
* A damaged, truncated, empty or non-image file raises ``ValueError("cannot read image ...")``
  instead of Pillow's various exceptions.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "empty.png")
    >>> open(path, "wb").close()
    >>> try:
    ...     with open_image(path):
    ...         pass
    ... except ValueError as e:
    ...     print(str(e)[-44:])
    it is empty (0 bytes). Remove or replace it.
"""

from __future__ import annotations

import contextlib
import os
import stat

MAX_IMAGE_PIXELS = 64 * 1024 * 1024
"""Most pixels an image file may declare (64 Mpx, e.g. 8192 x 8192): any photo a CNN of this
library is trained on, far below what a crafted file can claim."""


def is_regular_file(path) -> bool:
    """True for a regular file (or a link to one); False for FIFOs, devices, sockets, folders.

    Example:
        >>> import os
        >>> is_regular_file(os.devnull), is_regular_file(__file__)
        (False, True)
    """
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def skip_irregular(paths: list) -> list:
    """``paths`` without the ones that are not regular files, with one warning naming them."""
    import warnings

    kept = [p for p in paths if is_regular_file(p)]
    if len(kept) != len(paths):
        skipped = [os.fspath(p) for p in paths if not is_regular_file(p)]
        warnings.warn(
            f"skipped {len(skipped)} file(s) that are not regular files (FIFOs, "
            f"devices or broken links): {', '.join(skipped[:3])}"
            + (" ..." if len(skipped) > 3 else ""),
            stacklevel=3,
        )
    return kept


CHANNEL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
"""Pillow's image mode for each channel count a model's input may have."""


def to_channels(img, channels: int):
    """A PIL image converted to 1 (L), 3 (RGB) or 4 (RGBA) channels; transparent pixels are
    laid on white first unless 4 channels keep the alpha.

    Example:
        >>> from PIL import Image
        >>> to_channels(Image.new("RGBA", (1, 1), (0, 0, 0, 0)), 3).getpixel((0, 0))
        (255, 255, 255)
    """
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        if channels != 4:
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, rgba)
        else:
            img = rgba
    return img.convert(CHANNEL_MODES[channels])


@contextlib.contextmanager
def open_image(path, max_pixels: int | None = None):
    """``PIL.Image.open(path)`` after the checks above; yields the loaded image."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(
            "Reading images needs Pillow: pip install filterbank[io]  (or: pip install pillow)"
        ) from exc
    limit = MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    where = f"cannot read image {os.fspath(path)!r}"
    try:
        st = os.stat(path)
    except OSError as e:
        raise ValueError(f"{where}: {e.strerror or e}.") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(
            f"{where}: it is not a regular file (a FIFO, device or folder). Give an image file."
        )
    if st.st_size == 0:
        raise ValueError(f"{where}: it is empty (0 bytes). Remove or replace it.")
    saved = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None  # our own check below, with our own message
        with Image.open(path) as img:
            w, h = img.size
            if w * h > limit:
                raise ValueError(
                    f"{where}: it declares {w} x {h} = {w * h:,} pixels, more than the "
                    f"{limit:,} an image may have (a decompression bomb, or a huge scan). "
                    "Shrink it first."
                )
            img.load()
            yield img
    except ValueError as e:
        if str(e).startswith(where):
            raise
        raise ValueError(f"{where}: {e}") from None
    except (OSError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        # Pillow: UnidentifiedImageError (an OSError) for non-images, OSError for truncation,
        # SyntaxError / EOFError from some decoders on damage.
        raise ValueError(
            f"{where}: {e or type(e).__name__}. The file is damaged or not an "
            "image; remove or replace it."
        ) from None
    finally:
        Image.MAX_IMAGE_PIXELS = saved
