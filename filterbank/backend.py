"""Global numeric settings: the float type and the one random generator.

Every random draw in filterbank (initializers, shuffling, dropout) comes from
the generator returned by :func:`rng`, so :func:`set_random_seed` makes a whole
fit reproducible and its state can be saved and restored (BackupAndRestore).

Example:
    >>> import filterbank as keras
    >>> keras.utils.set_random_seed(0)
    >>> keras.backend.floatx()
    'float32'
"""

from __future__ import annotations

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7
# Made on first use: numpy.random is a fifth of the cost of `import numpy`, and
# `import filterbank` should not pay it before anything random happens.
_RNG = None


_WEIGHTS_EPOCH = [0]


def weights_changed() -> None:
    """Say that some layer's weights (or BatchNormalization statistics) changed.

    Inference steps that keep values derived from weights (BatchNormalization folded into a
    convolution, Winograd's transformed filters) recompute them when :func:`weights_epoch`
    moved. filterbank calls this wherever it writes weights (see ``layers/base.py``); code
    writing into weight arrays in place by itself calls it too.
    """
    _WEIGHTS_EPOCH[0] += 1


def weights_epoch() -> int:
    """The counter :func:`weights_changed` bumps (compare two readings, never the value)."""
    return _WEIGHTS_EPOCH[0]


def floatx() -> str:
    """The default float type of new weights and converted inputs ('float32')."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float type: 'float32' (fast) or 'float64' (gradient checks)."""
    global _FLOATX
    if value not in ("float16", "float32", "float64"):
        raise ValueError(f"set_floatx expects 'float16', 'float32' or 'float64', got {value!r}.")
    _FLOATX = value


def epsilon() -> float:
    """The fuzz factor used by losses and metrics to keep logs finite (1e-7, as Keras)."""
    return _EPSILON


def rng() -> np.random.Generator:
    """The process-wide generator behind every random draw in filterbank."""
    global _RNG
    if _RNG is None:
        _RNG = np.random.default_rng()
    return _RNG


def set_random_seed(seed: int) -> None:
    """Seed filterbank's generator (and NumPy's legacy one, for user code)."""
    global _RNG
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"set_random_seed expects a non-negative integer seed, got {seed!r}.")
    _RNG = np.random.default_rng(int(seed))
    np.random.seed(int(seed) % 2**32)


def get_rng_state() -> dict:
    """The generator's state as a JSON-serialisable dict (for backups)."""
    return rng().bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state saved by :func:`get_rng_state`."""
    rng().bit_generator.state = state


def swap_rng(generator: np.random.Generator) -> np.random.Generator:
    """Make ``generator`` the process-wide generator; returns the one it replaces.

    :mod:`filterbank.distributed` uses it around each training step so that dropout and
    augmentation draw from the rank's own stream while shuffling stays common to all ranks.

    Example:
        >>> import numpy as np
        >>> old = swap_rng(np.random.default_rng(1))
        >>> _ = swap_rng(old)
    """
    global _RNG
    previous = rng()
    _RNG = generator
    return previous


def seed_generator(seed: int | None) -> np.random.Generator:
    """A generator for one consumer: its own if `seed` is given, else the global one."""
    if seed is None:
        return rng()
    return np.random.default_rng(int(seed))
