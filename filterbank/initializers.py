"""Weight initializers with Keras names, formulas and defaults.

Fans follow Keras: a Dense kernel (in, out) has fan_in=in, fan_out=out; a conv
kernel (*spatial, in, out) multiplies both by the receptive field size. Draws
come from :func:`filterbank.backend.rng` unless a ``seed`` is given.

Example:
    >>> from filterbank import initializers
    >>> w = initializers.get("glorot_uniform")((3, 3, 1, 32))
    >>> w.shape, w.dtype
    ((3, 3, 1, 32), dtype('float32'))
"""

from __future__ import annotations

import math

import numpy as np

from . import backend
from .errors import unknown_name


def compute_fans(shape) -> tuple[float, float]:
    shape = tuple(shape)
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


class Initializer:
    """Base: ``init(shape, dtype=None) -> ndarray``; ``get_config()`` for saving."""

    def __call__(self, shape, dtype=None):
        dtype = np.dtype(dtype or backend.floatx())
        return np.asarray(self.sample(tuple(int(d) for d in shape)), dtype=dtype)

    def sample(self, shape):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @property
    def _gen(self):
        return backend.seed_generator(getattr(self, "seed", None))


class Zeros(Initializer):
    def sample(self, shape):
        return np.zeros(shape)


class Ones(Initializer):
    def sample(self, shape):
        return np.ones(shape)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = float(value)

    def sample(self, shape):
        return np.full(shape, self.value)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def sample(self, shape):
        return self._gen.normal(self.mean, self.stddev, size=shape)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def sample(self, shape):
        return self._gen.uniform(self.minval, self.maxval, size=shape)


def _truncated_normal(gen, stddev, shape):
    """Normal draws, redrawn where they fall outside two standard deviations."""
    out = gen.standard_normal(size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = gen.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * stddev


class VarianceScaling(Initializer):
    """Keras's VarianceScaling: variance = scale / fan (fan_in, fan_out or their mean)."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise unknown_name("VarianceScaling mode", mode, ["fan_in", "fan_out", "fan_avg"])
        dists = ["truncated_normal", "untruncated_normal", "uniform"]
        if distribution not in dists:
            raise unknown_name("VarianceScaling distribution", distribution, dists)
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def sample(self, shape):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return self._gen.uniform(-limit, limit, size=shape)
        if self.distribution == "untruncated_normal":
            return self._gen.normal(0.0, math.sqrt(variance), size=shape)
        # 0.8796... is the std of a unit normal truncated at +-2; dividing keeps the variance.
        return _truncated_normal(self._gen, math.sqrt(variance) / 0.87962566103423978, shape)


class GlorotUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform", seed)


class GlorotNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)


class HeNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)


class HeUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform", seed)


class LecunNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)


class LecunUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "uniform", seed)


_REGISTRY = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "lecun_normal": LecunNormal,
    "lecun_uniform": LecunUniform,
}
_CLASS_NAMES = {cls.__name__: name for name, cls in _REGISTRY.items()}


def get(identifier) -> Initializer:
    """Resolve a name, a config dict or an :class:`Initializer` instance."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _REGISTRY:
            return _REGISTRY[key]()
        raise unknown_name("initializer", identifier, _REGISTRY)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return _Callable(identifier)
    raise TypeError(
        f"initializer must be a name such as 'glorot_uniform' or an Initializer, got {identifier!r}."
    )


class _Callable(Initializer):
    def __init__(self, fn):
        self._fn = fn

    def __call__(self, shape, dtype=None):
        return np.asarray(self._fn(tuple(shape)), dtype=dtype or backend.floatx())


def serialize(init: Initializer) -> dict:
    name = _CLASS_NAMES.get(type(init).__name__)
    if name is None:
        raise TypeError(f"Initializer {init!r} cannot be saved: only built-in initializers can.")
    config = init.get_config()
    if isinstance(init, VarianceScaling) and type(init) is not VarianceScaling:
        config = {"seed": init.seed}
    return {"class_name": name, "config": config}


def deserialize(config: dict) -> Initializer:
    name = config.get("class_name")
    if name not in _REGISTRY:
        raise unknown_name("initializer", name, _REGISTRY)
    return _REGISTRY[name](**config.get("config", {}))
