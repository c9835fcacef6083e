"""X's and O's: the toy images of Brandon Rohrer's "How CNNs work" (seed 004, worked example 7).

Each image is ``size x size`` pixels of -1 (background) with +1 where a stroke passes: float32,
exactly two values, -1.0 and +1.0. Label 0 is an O, label 1 an X (:data:`CLASS_NAMES`).

The untransformed shapes (``render("x")``, ``render("o")``) are the slides' drawings: for
``size=9`` the X is +1 on both diagonals of the inner 7x7 (``X[i, i] = X[i, 8 - i] = 1`` for
i = 1..7) and the O is the ring of pixels 2.5..3.5 from the centre. The slides' "trickier cases"
are translation, scaling, rotation and weight (stroke width); :func:`load_data` applies each of
them independently with probability 1/2 (``transform_probability``; 0 gives only the plain
drawings) to every image, so the set runs from the plain drawings
(1 image in 16) to shapes shifted, squashed, tilted and thickened at once:

* scaling: size factor in [0.8, 1.0] times an aspect ratio in [0.85, 1/0.85] (ellipses, wide
  or tall X's);
* rotation: -20..20 degrees (an X turned by 45 degrees would be a "+");
* translation: up to size/9 pixels (1 pixel at size 9) each way, keeping the shape's skeleton
  inside the frame;
* weight: stroke half-width 0.72..0.72 + size/40 pixels instead of 0.5 (2-3 pixel strokes).

A pixel is +1 when its centre lies within the stroke half-width of the shape's skeleton (two
segments for the X, a 48-sided polygon for the O), so images are crisp, as on the slides.

Example:
    >>> from filterbank.datasets import xo
    >>> (x_train, y_train), (x_test, y_test) = xo.load_data(n=100)
    >>> x_train.shape, x_train.dtype, sorted(set(x_train.ravel().tolist()))
    ((80, 9, 9), dtype('float32'), [-1.0, 1.0])
"""

from __future__ import annotations

import numpy as np

from ..errors import unknown_name

CLASS_NAMES = ("O", "X")
_POLYGON_SIDES = 48
_MAX_ANGLE = np.deg2rad(20.0)
_THIN = 0.5
# Limits that keep every image recognisable, so a tiny CNN reaches 100% test accuracy.
_SHIFT_FRACTION = 1 / 9  # at most 1 pixel each way at size 9
_MIN_SCALE = 0.8


def _skeleton(label: int) -> np.ndarray:
    """Segments (S, 2, 2) of the shape in unit coordinates (row, col), centred at 0."""
    if label == 1:
        return np.array([[[-1.0, -1.0], [1.0, 1.0]], [[-1.0, 1.0], [1.0, -1.0]]])
    t = np.linspace(0.0, 2.0 * np.pi, _POLYGON_SIDES + 1)
    ring = np.stack([np.sin(t), np.cos(t)], axis=-1)
    return np.stack([ring[:-1], ring[1:]], axis=1)


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 7:
        raise ValueError(f"xo size expects an integer >= 7 (pixels per side), got {size!r}.")
    return int(size)


def _rasterize(segments: np.ndarray, half_width: np.ndarray, size: int) -> np.ndarray:
    """Images (n, size, size) of +1 where a pixel centre is within `half_width` of a segment.

    segments: (n, S, 2, 2) in pixel coordinates (row, col); half_width: (n,).
    """
    rows, cols = np.meshgrid(
        np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64), indexing="ij"
    )
    pr, pc = rows.ravel()[None, :], cols.ravel()[None, :]  # (1, P)
    dist2 = np.full((segments.shape[0], size * size), np.inf)
    # One pass per segment (2 for an X, 48 for an O) keeps memory at (n, P).
    for k in range(segments.shape[1]):
        ar, ac = segments[:, k, 0, 0:1], segments[:, k, 0, 1:2]  # (n, 1)
        dr, dc = segments[:, k, 1, 0:1] - ar, segments[:, k, 1, 1:2] - ac
        length2 = np.maximum(dr * dr + dc * dc, 1e-12)
        t = np.clip(((pr - ar) * dr + (pc - ac) * dc) / length2, 0.0, 1.0)
        np.minimum(dist2, (pr - ar - t * dr) ** 2 + (pc - ac - t * dc) ** 2, out=dist2)
    on = dist2 <= (half_width[:, None] ** 2)
    return np.where(on, 1.0, -1.0).astype(np.float32).reshape(-1, size, size)


def _place(label: int, size: int, scale, angle: float, shift) -> np.ndarray:
    """Skeleton segments (S, 2, 2) in pixel coordinates after scale, rotation and shift."""
    base = (size - 3) / 2.0  # half-extent of the plain shape: a 1-pixel border
    sy, sx = scale
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    points = _skeleton(label) * (base * np.array([sy, sx]))
    points = points @ rotation.T
    centre = (size - 1) / 2.0
    return points + centre + np.asarray(shift, dtype=np.float64)


def render(
    shape: str,
    size: int = 9,
    scale=(1.0, 1.0),
    angle: float = 0.0,
    shift=(0.0, 0.0),
    weight: float = _THIN,
) -> np.ndarray:
    """Draw one X or O: a float32 (size, size) image of -1 with +1 strokes.

    Args:
        shape: ``"x"`` or ``"o"``.
        size: pixels per side (>= 7).
        scale: (vertical, horizontal) factors of the plain shape's half-extent (size - 3) / 2.
        angle: rotation in degrees (positive turns the image counter-clockwise as displayed).
        shift: (down, right) translation in pixels.
        weight: stroke half-width in pixels (0.5 draws 1-pixel lines).

    Example:
        >>> img = render("x")
        >>> [int(img[i, i]) for i in range(9)]
        [-1, 1, 1, 1, 1, 1, 1, 1, -1]
    """
    key = str(shape).lower()
    if key not in ("x", "o"):
        raise unknown_name("xo shape", shape, ("x", "o"))
    size = _check_size(size)
    # Rows grow downwards, so a counter-clockwise turn on screen is a negative angle here.
    segments = _place(int(key == "x"), size, scale, -np.deg2rad(angle), shift)
    return _rasterize(segments[None], np.array([float(weight)]), size)[0]


def _random_parameters(
    labels: np.ndarray, size: int, rng: np.random.RandomState, probability: float = 0.5
):
    """Per-image skeletons (list of (S_i, 2, 2)) and half-widths (n,); each transform is
    applied with ``probability`` (0: the plain drawings)."""
    n = len(labels)
    use = rng.random_sample((n, 4)) < probability  # scaling, rotation, translation, weight
    s = np.where(use[:, 0], rng.uniform(_MIN_SCALE, 1.0, n), 1.0)
    aspect = np.where(use[:, 0], np.exp(rng.uniform(np.log(0.85), -np.log(0.85), n)), 1.0)
    angle = np.where(use[:, 1], rng.uniform(-_MAX_ANGLE, _MAX_ANGLE, n), 0.0)
    u_shift = rng.random_sample((n, 2))
    half_width = np.where(use[:, 3], rng.uniform(0.72, 0.72 + size / 40.0, n), _THIN)

    centre = (size - 1) / 2.0
    max_shift = size * _SHIFT_FRACTION
    skeletons = []
    for i in range(n):  # a handful of small matrix ops per image, not per pixel
        scale = (s[i] / np.sqrt(aspect[i]), s[i] * np.sqrt(aspect[i]))
        seg = _place(int(labels[i]), size, scale, angle[i], (0.0, 0.0)) - centre
        # A rotated shape may reach past the frame: shrink it until its skeleton fits.
        reach = np.abs(seg).max()
        if reach > centre:
            seg *= centre / reach
        if use[i, 2]:
            low = np.maximum(-centre - seg.reshape(-1, 2).min(axis=0), -max_shift)
            high = np.minimum(centre - seg.reshape(-1, 2).max(axis=0), max_shift)
            seg = seg + low + u_shift[i] * (high - low)
        skeletons.append(seg + centre)
    return skeletons, half_width


def _check_probability(p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p <= 1:
        raise ValueError(
            f"xo transform_probability expects a number in [0, 1] (0: the plain "
            f"drawings, as on the slides), got {p!r}."
        )
    return float(p)


def generate(n: int, size: int = 9, seed: int = 0, transform_probability: float = 0.5):
    """``n`` images (n, size, size) float32 and labels (n,) uint8, alternating O, X, O, ...

    Each transform (scaling, rotation, translation, weight) is applied with
    ``transform_probability``; 0 gives the slides' untransformed drawings. Deterministic: the
    same arguments always give the same images (the legacy ``np.random.RandomState``, whose
    stream NumPy keeps fixed, draws the transforms).

    Example:
        >>> images, labels = generate(4, transform_probability=0)
        >>> bool((images[1] == render("x")).all()), bool((images[0] == render("o")).all())
        (True, True)
    """
    size = _check_size(size)
    p = _check_probability(transform_probability)
    rng = np.random.RandomState(seed)
    labels = (np.arange(n) % 2).astype(np.uint8)
    skeletons, half_width = _random_parameters(labels, size, rng, p)
    images = np.empty((n, size, size), dtype=np.float32)
    for label in (0, 1):  # X's have 2 segments, O's 48: rasterize each kind together
        index = np.flatnonzero(labels == label)
        for start in range(0, len(index), 1024):  # bounded memory: (1024, size * size)
            chunk = index[start : start + 1024]
            segments = np.stack([skeletons[i] for i in chunk])
            images[chunk] = _rasterize(segments, half_width[chunk], size)
    return images, labels


def load_data(
    n: int = 1000,
    size: int = 9,
    seed: int = 0,
    test_split: float = 0.2,
    transform_probability: float = 0.5,
):
    """X's and O's, Keras style: ``((x_train, y_train), (x_test, y_test))``.

    Args:
        n: total number of images (half O's, half X's).
        size: pixels per side (>= 7; 9 is the slides' size).
        seed: non-negative integer; the same arguments always give the same arrays.
        test_split: fraction of the shuffled images kept for testing (the last
            ``int(n * test_split)``), in [0, 1).
        transform_probability: how often each transform is applied (0: every image is one
            of the two plain drawings).

    Returns:
        x_train float32 (n_train, size, size) in {-1, +1}, y_train uint8 (n_train,) with
        0 = O and 1 = X, and the same for the test split. Add a channel axis for Conv2D:
        ``x_train[..., None]``.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data(n=10, test_split=0.2)
        >>> x_train.shape, x_test.shape, y_train.dtype
        ((8, 9, 9), (2, 9, 9), dtype('uint8'))
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"xo.load_data n expects an integer >= 2 (number of images), got {n!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"xo.load_data seed expects a non-negative integer, got {seed!r}.")
    if not isinstance(test_split, (int, float, np.floating)) or not 0.0 <= test_split < 1.0:
        raise ValueError(
            f"xo.load_data test_split expects a fraction in [0, 1), got "
            f"{test_split!r}. Use 0 for no test images."
        )
    images, labels = generate(int(n), size, int(seed), transform_probability)
    # A separate stream for the shuffle, so the images drawn do not depend on it.
    order = np.random.RandomState(int(seed) + 1).permutation(n)
    images, labels = images[order], labels[order]
    n_train = n - int(n * test_split)
    return (images[:n_train], labels[:n_train]), (images[n_train:], labels[n_train:])


def lecture_filters(as_kernel: bool = False):
    """The lecture's three 3x3 filters (worked example 7): ``diag`` (the "\\" diagonal),
    ``x`` (the small X) and ``anti`` (the "/" diagonal), +1 and -1, float32.

    ``as_kernel=True`` stacks them as a Conv2D kernel (3, 3, 1, 3) in that order.

    Example:
        >>> f = lecture_filters()
        >>> list(f), f["diag"].tolist()[0]
        (['diag', 'x', 'anti'], [1.0, -1.0, -1.0])
        >>> lecture_filters(as_kernel=True).shape
        (3, 3, 1, 3)
    """
    filters = {
        "diag": np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]], np.float32),
        "x": np.array([[1, -1, 1], [-1, 1, -1], [1, -1, 1]], np.float32),
        "anti": np.array([[-1, -1, 1], [-1, 1, -1], [1, -1, -1]], np.float32),
    }
    if as_kernel:
        return np.stack(list(filters.values()), axis=-1)[:, :, None, :]
    return filters


__all__ = ["CLASS_NAMES", "generate", "lecture_filters", "load_data", "render"]
