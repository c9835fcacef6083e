"""Worked example 7 (the X's and O's, after Brandon Rohrer): the data two test files share."""

import numpy as np

FILTERS = {
    "diag": np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]]),
    "x": np.array([[1, -1, 1], [-1, 1, -1], [1, -1, 1]]),
    "anti": np.array([[-1, -1, 1], [-1, 1, -1], [1, -1, -1]]),
}

# The valid correlation of the 9x9 X with the diag filter, divided by 9 in the slides: times 9.
DIAG_MAP_TIMES_9 = [
    [7, -1, 1, 3, 5, -1, 3],
    [-1, 9, -1, 3, -1, 1, -1],
    [1, -1, 9, -3, 1, -1, 5],
    [3, 3, -3, 5, -3, 3, 3],
    [5, -1, 1, -3, 9, -1, 1],
    [-1, 1, -1, 3, -1, 9, -1],
    [3, -1, 5, 3, 1, -1, 7],
]


def x_image(dtype="float32"):
    """The 9x9 X: -1 background, +1 on both diagonals of the inner 7x7."""
    img = -np.ones((9, 9), dtype=dtype)
    for i in range(1, 8):
        img[i, i] = img[i, 8 - i] = 1
    return img
