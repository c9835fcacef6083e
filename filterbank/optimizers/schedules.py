"""Learning-rate schedules: the learning rate as a function of the optimizer step, as Keras.

An optimizer built with a schedule evaluates it at ``optimizer.iterations`` (the
number of updates done so far) before each update.

Example:
    >>> from filterbank import optimizers
    >>> sched = optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    >>> round(sched(10), 6), round(sched(5), 6)
    (0.05, 0.070711)
    >>> opt = optimizers.SGD(learning_rate=sched)
    >>> opt.current_learning_rate()
    0.1
"""

from __future__ import annotations

import bisect
import math

from .._serial import checked_config, keras_dict
from ..errors import unknown_name


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step) -> float`` and ``get_config()``.

    Example:
        >>> class Halving(LearningRateSchedule):
        ...     def __init__(self, lr):
        ...         self.lr = lr
        ...     def __call__(self, step):
        ...         return self.lr / 2 ** step
        ...     def get_config(self):
        ...         return {"lr": self.lr}
        >>> Halving(1.0)(3)
        0.125
    """

    def __call__(self, step) -> float:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override __call__(self, step)."
        )

    def get_config(self) -> dict:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override get_config() "
            "to be serializable."
        )

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


def _positive(name, cls, value):
    if not value > 0:
        raise ValueError(f"{cls} expects {name} > 0, got {name}={value!r}.")


class _ArgsSchedule(LearningRateSchedule):
    """A built-in schedule: its config is its constructor's arguments, kept as attributes
    of the same names (``_private`` ones with a leading underscore, as Keras keeps them)."""

    _private: tuple = ()

    def _keep_args(self, args: dict, steps_arg: str) -> None:
        """Keep ``args`` (``locals()`` at the start of ``__init__``); ``steps_arg`` must be > 0."""
        _positive(steps_arg, type(self).__name__, args[steps_arg])
        self._config_keys = [k for k in args if k not in ("self", "__class__")]
        for key in self._config_keys:
            setattr(self, "_" + key if key in self._private else key, args[key])

    def get_config(self):
        return {k: getattr(self, "_" + k if k in self._private else k) for k in self._config_keys}


class _StepDecay(_ArgsSchedule):
    """Shared by ExponentialDecay and InverseTimeDecay: the same arguments, and progress
    ``step / decay_steps`` (floored when ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        self._keep_args(locals(), "decay_steps")
        self.name = name or type(self).__name__

    def _progress(self, step) -> float:
        p = float(step) / self.decay_steps
        return math.floor(p) if self.staircase else p


class ExponentialDecay(_StepDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    With ``staircase=True`` the exponent is ``floor(step / decay_steps)``.

    Example:
        >>> ExponentialDecay(1.0, decay_steps=2, decay_rate=0.5, staircase=True)(3)
        0.5
    """

    def __call__(self, step):
        p = self._progress(step)
        return float(self.initial_learning_rate) * float(self.decay_rate) ** p


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while step <= boundaries[0], ``values[i]`` while
    boundaries[i-1] < step <= boundaries[i], ``values[-1]`` after the last boundary.

    Example:
        >>> s = PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
        >>> s(10), s(11), s(21)
        (1.0, 0.5, 0.1)
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                f"PiecewiseConstantDecay expects one more value than boundaries, got "
                f"{len(boundaries)} boundaries and {len(values)} values."
            )
        if any(lo >= hi for lo, hi in zip(boundaries, boundaries[1:])):
            raise ValueError(
                f"PiecewiseConstantDecay expects strictly increasing boundaries, got {boundaries}."
            )
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        return float(self.values[bisect.bisect_left(self.boundaries, step)])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(_ArgsSchedule):
    """``(initial - end) * (1 - min(step, decay_steps) / decay_steps) ** power + end``.

    With ``cycle=True`` decay_steps grows to the first multiple above the step.

    Example:
        >>> PolynomialDecay(1.0, decay_steps=4, end_learning_rate=0.0)(1)
        0.75
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        end_learning_rate=0.0001,
        power=1.0,
        cycle=False,
        name="PolynomialDecay",
    ):
        self._keep_args(locals(), "decay_steps")

    def __call__(self, step):
        step = float(step)
        decay_steps = float(self.decay_steps)
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / self.decay_steps)
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        end = float(self.end_learning_rate)
        return (float(self.initial_learning_rate) - end) * (1.0 - p) ** self.power + end


class InverseTimeDecay(_StepDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (floored if staircase).

    Example:
        >>> InverseTimeDecay(1.0, decay_steps=1, decay_rate=0.5)(2)
        0.5
    """

    def __call__(self, step):
        p = self._progress(step)
        return float(self.initial_learning_rate) / (1.0 + float(self.decay_rate) * p)


class CosineDecay(_ArgsSchedule):
    """Cosine decay from the initial rate (or ``warmup_target``) to ``alpha`` times it.

    Without warmup: ``lr0 * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps)
    / decay_steps)) + alpha)``. With ``warmup_target``, the rate first rises linearly from
    ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps``, then decays.

    Example:
        >>> CosineDecay(1.0, decay_steps=10)(5)
        0.5
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        alpha=0.0,
        name="CosineDecay",
        warmup_target=None,
        warmup_steps=0,
    ):
        self._keep_args(locals(), "decay_steps")

    def _decay(self, step, from_lr):
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return from_lr * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step = float(step)
        lr0 = float(self.initial_learning_rate)
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), lr0)
        step = min(step, self.decay_steps + self.warmup_steps)
        target = float(self.warmup_target)
        if step < self.warmup_steps:
            return (target - lr0) * step / self.warmup_steps + lr0
        return self._decay(step - self.warmup_steps, target)


class CosineDecayRestarts(_ArgsSchedule):
    """Cosine decay with warm restarts (SGDR): periods grow by ``t_mul``, peaks by ``m_mul``.

    Example:
        >>> s = CosineDecayRestarts(1.0, first_decay_steps=10, t_mul=1.0)
        >>> s(5), s(10)
        (0.5, 1.0)
    """

    _private = ("t_mul", "m_mul")

    def __init__(
        self,
        initial_learning_rate,
        first_decay_steps,
        t_mul=2.0,
        m_mul=1.0,
        alpha=0.0,
        name="SGDRDecay",
    ):
        self._keep_args(locals(), "first_decay_steps")

    def __call__(self, step):
        fraction = float(step) / self.first_decay_steps
        t_mul = float(self._t_mul)
        if t_mul == 1.0:
            i_restart = math.floor(fraction)
            fraction -= i_restart
        else:
            i_restart = math.floor(math.log(1.0 - fraction * (1.0 - t_mul)) / math.log(t_mul))
            sum_r = (1.0 - t_mul**i_restart) / (1.0 - t_mul)
            fraction = (fraction - sum_r) / t_mul**i_restart
        cosine = 0.5 * float(self._m_mul) ** i_restart * (1.0 + math.cos(math.pi * fraction))
        return float(self.initial_learning_rate) * ((1.0 - self.alpha) * cosine + self.alpha)


_SCHEDULES = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        InverseTimeDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}


def serialize(schedule: LearningRateSchedule) -> dict:
    """A JSON-ready dict laid out as Keras's: module, class_name, config, registered_name."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(f"serialize expects a LearningRateSchedule, got {type(schedule).__name__}.")
    return keras_dict("keras.optimizers.schedules", schedule)


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """Inverse of :func:`serialize` (``custom_objects`` maps names to user schedule classes)."""
    checked_config(config, "A learning rate schedule")
    classes = {**_SCHEDULES, **(custom_objects or {})}
    cls = classes.get(config["class_name"])
    if cls is None:
        raise unknown_name("learning rate schedule", config["class_name"], classes)
    return cls.from_config(dict(config.get("config") or {}))


__all__ = ["LearningRateSchedule", *_SCHEDULES, "serialize", "deserialize"]
