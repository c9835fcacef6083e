"""The Optimizer base class: learning rate (or schedule), clipping, weight decay, state.

An optimizer updates parameters in place from ``(grad, param, key)`` triples; its
per-parameter state ("slots", e.g. Adam's momentum and velocity) is keyed by ``key``
(e.g. "conv2d/kernel"), so it survives rebuilding the arrays and can be saved with
``get_state()`` and restored bit-identically with ``set_state()``.

Order of one ``apply_gradients`` call, as Keras 3: learning rate = schedule(iterations);
clip the gradients (clipnorm per tensor, or global_clipnorm, or clipvalue); decoupled
weight decay ``param -= lr * weight_decay * param``; the optimizer's update; iterations += 1.
With ``gradient_accumulation_steps=N`` the gradients are first added up over N calls and only
the N-th call runs those steps, on their mean (``accumulation.py``).

Example:
    >>> import numpy as np
    >>> from filterbank import optimizers
    >>> w = np.array([1.0, 2.0], dtype="float32")
    >>> opt = optimizers.SGD(learning_rate=0.1)
    >>> opt.apply_gradients([(np.array([1.0, -1.0], dtype="float32"), w, "dense/kernel")])
    >>> w, opt.iterations
    (array([0.9, 2.1], dtype=float32), 1)
"""

from __future__ import annotations

import numbers
import re
import warnings

import numpy as np

from .._argspec import user_stacklevel
from ..backend import weights_changed
from ..errors import did_you_mean, fmt_shape
from . import accumulation as _accumulation
from . import schedules as _schedules

# Keras base-optimizer arguments that filterbank accepts only at their defaults.
_UNSUPPORTED_DEFAULTS = {
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
}


def clip_by_norm(grad: np.ndarray, clipnorm: float) -> np.ndarray:
    """Scale ``grad`` so its L2 norm is at most ``clipnorm``: g * c / max(||g||, c)."""
    norm = float(np.sqrt(np.vdot(grad, grad)))
    if norm <= clipnorm:
        return grad
    return grad * (clipnorm / norm)


def clip_by_global_norm(grads: list[np.ndarray], clipnorm: float) -> list[np.ndarray]:
    """Scale all gradients by c / max(global_norm, c); a non-finite norm gives NaN, as Keras."""
    norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads)))
    if norm <= clipnorm:
        return grads
    scale = clipnorm / norm + (norm - norm)  # inf - inf = NaN makes a broken step visible
    return [g * scale for g in grads]


def _check_number(owner, name, value, low=None, high=None, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{owner} expects {name} to be a finite number, got {name}={value!r}.")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{owner} expects {name} {bounds}, got {name}={value!r}.")
    return float(value)


class Optimizer:
    """Base class of all optimizers (Keras's ``keras.optimizers.Optimizer``).

    Subclasses set ``default_name``, implement ``_slot_names()`` (the per-parameter
    state they keep) and ``_update(grad, param, slots, lr)`` (in place).

    Args:
        learning_rate: a float or a ``schedules.LearningRateSchedule``.
        weight_decay: decoupled decay: ``param -= lr * weight_decay * param`` before each
            update (None: none).
        clipnorm: clip each gradient tensor to this L2 norm.
        clipvalue: clip each gradient element to [-clipvalue, clipvalue].
        global_clipnorm: clip all gradients together to this global L2 norm.
        gradient_accumulation_steps: update the weights every N calls with the mean of the N
            gradients (Keras 3's semantics: ``optimizers/accumulation.py``); None: every call.
        name: the optimizer's name.

    Only one of clipnorm, clipvalue and global_clipnorm may be set.
    """

    default_name = "optimizer"

    def __init__(
        self,
        learning_rate,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        cls = type(self).__name__
        if "lr" in kwargs:
            warnings.warn(
                f"{cls}: the argument `lr` was renamed `learning_rate` (Keras 2.3+); "
                "use learning_rate=.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
            learning_rate = kwargs.pop("lr")
        if kwargs.pop("decay", None) is not None:
            warnings.warn(
                f"{cls}: the argument `decay` is no longer supported and is ignored, as in "
                "Keras 3. Use a learning rate schedule such as "
                "optimizers.schedules.InverseTimeDecay.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        for key, default in _UNSUPPORTED_DEFAULTS.items():
            if key in kwargs:
                value = kwargs.pop(key)
                if value != default:
                    raise ValueError(
                        f"{cls} got {key}={value!r}, which filterbank does not implement. "
                        f"Leave it at its default ({default!r})."
                    )
        if kwargs:
            bad = next(iter(kwargs))
            raise TypeError(
                f"{cls}() got an unexpected keyword argument {bad!r}. "
                + did_you_mean(bad, self._arg_names())
            )
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in clips.values()) > 1:
            raise ValueError(
                f"{cls} accepts only one of clipnorm, clipvalue and global_clipnorm, got "
                + ", ".join(f"{k}={v}" for k, v in clips.items())
                + ". Keep one of them."
            )
        self.clipnorm = _check_number(cls, "clipnorm", clipnorm, low=0, allow_none=True)
        self.clipvalue = _check_number(cls, "clipvalue", clipvalue, low=0, allow_none=True)
        self.global_clipnorm = _check_number(
            cls, "global_clipnorm", global_clipnorm, low=0, allow_none=True
        )
        self.weight_decay = _check_number(cls, "weight_decay", weight_decay, allow_none=True)
        self.gradient_accumulation_steps = _accumulation.check_steps(
            cls, gradient_accumulation_steps
        )
        self.name = name or self.default_name
        self._learning_rate = None
        self.learning_rate = learning_rate
        self._iterations = 0  # apply_gradients calls; ``iterations`` counts weight updates
        self._slots: dict[str, dict[str, np.ndarray]] = {}
        self._decay_exclusions: list[str] = []
        self._scratch_buffers: dict[np.dtype, np.ndarray] = {}

    @classmethod
    def _arg_names(cls):
        import inspect

        names = set(_UNSUPPORTED_DEFAULTS)
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is not None and klass is not object:
                names |= {
                    p for p in inspect.signature(init).parameters if p not in ("self", "kwargs")
                }
        return sorted(names)

    @property
    def iterations(self) -> int:
        """Weight updates made: the calls of ``apply_gradients``, divided by
        ``gradient_accumulation_steps`` when accumulating (as Keras 3). Setting it sets the
        number of updates (and, when accumulating, starts a fresh accumulation)."""
        steps = self.gradient_accumulation_steps
        return self._iterations // steps if steps else self._iterations

    @iterations.setter
    def iterations(self, value) -> None:
        self._iterations = int(value) * (self.gradient_accumulation_steps or 1)

    # ---- learning rate -------------------------------------------------------------------
    @property
    def learning_rate(self):
        """The learning rate as given: a float or a LearningRateSchedule (settable)."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, _schedules.LearningRateSchedule):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, _schedules.LearningRateSchedule):
            raise TypeError(
                f"Optimizer '{self.name}' was created with a LearningRateSchedule, so its "
                "learning rate cannot be set to a number. Create the optimizer with a float "
                "learning_rate if it must be settable (e.g. by ReduceLROnPlateau)."
            )
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value.item()
        if callable(value):
            raise TypeError(
                f"Optimizer '{self.name}' got a callable learning_rate; pass a float or a "
                "subclass of optimizers.schedules.LearningRateSchedule (its __call__(step) "
                "gets the optimizer step)."
            )
        self._learning_rate = _check_number(type(self).__name__, "learning_rate", value, low=0)

    def current_learning_rate(self) -> float:
        """The learning rate of the next update: the schedule evaluated at the number of
        ``apply_gradients`` calls (``iterations`` unless accumulating, as Keras 3)."""
        lr = self._learning_rate
        if isinstance(lr, _schedules.LearningRateSchedule):
            return float(lr(self._iterations))
        return lr

    # ---- the update ----------------------------------------------------------------------
    def _slot_names(self) -> tuple[str, ...]:
        return ()

    def _all_slot_names(self) -> tuple[str, ...]:
        """The subclass's slots, and the gradient accumulator when accumulating."""
        extra = (_accumulation.SLOT,) if self.gradient_accumulation_steps else ()
        return self._slot_names() + extra

    def _update(self, grad: np.ndarray, param: np.ndarray, slots: dict, lr: float) -> None:
        """Update ``param`` in place; ``self._scratch(param)`` is free working memory."""
        raise NotImplementedError

    def _scratch(self, param: np.ndarray) -> np.ndarray:
        """A work array shaped like ``param``, shared by all parameters of its dtype.

        Updates write their temporaries here (``out=``) instead of allocating new arrays
        on every step; it is not state, so it is never saved.
        """
        buf = self._scratch_buffers.get(param.dtype)
        if buf is None or buf.size < param.size:
            buf = np.empty(max(param.size, 1), dtype=param.dtype)
            self._scratch_buffers[param.dtype] = buf
        return buf[: param.size].reshape(param.shape)

    def exclude_from_weight_decay(self, var_names=None) -> None:
        """Skip weight decay for parameters whose key matches any of these regexes (Keras).

        Example: ``opt.exclude_from_weight_decay(var_names=["bias"])``.
        """
        self._decay_exclusions = list(var_names or [])

    def apply_gradients(self, grads_and_vars) -> None:
        """Update each ``param`` in place from its gradient; then ``iterations += 1``.

        With ``gradient_accumulation_steps=N`` only every N-th call updates (with the mean of
        the N gradients); the others add theirs to the accumulators.

        Args:
            grads_and_vars: iterable of ``(grad, param, key)``: grad and param arrays of
                the same shape, key a string naming the parameter (e.g. "dense/kernel").
        """
        items = self._validate(grads_and_vars)
        if not items:
            return
        accumulated = None
        if self.gradient_accumulation_steps:
            accumulated = _accumulation.accumulate(self, items)
            if accumulated is None:
                self._iterations += 1
                return
            items = accumulated
        lr = self.current_learning_rate()
        grads = self._clip([g for g, _, _ in items])
        if self.weight_decay:
            for _, param, key in items:
                if not any(re.search(p, key) for p in self._decay_exclusions):
                    # Keras's form; `param *= 1 - lr*wd` would round the factor to float32.
                    decay = np.multiply(param, lr * self.weight_decay, out=self._scratch(param))
                    param -= decay
        for grad, (_, param, key) in zip(grads, items):
            grad = grad.astype(param.dtype, copy=False)
            self._update(grad, param, self._slots_for(key, param), lr)
        if accumulated is not None:
            _accumulation.reset(self, accumulated)
        self._iterations += 1
        weights_changed()  # inference steps holding folded weights recompute them

    def _validate(self, grads_and_vars):
        items = []
        seen = set()
        for item in grads_and_vars:
            if not isinstance(item, (tuple, list)) or len(item) != 3:
                raise ValueError(
                    f"Optimizer '{self.name}'.apply_gradients expects (grad, param, key) triples, "
                    f"got {type(item).__name__} of length "
                    f"{len(item) if hasattr(item, '__len__') else '?'}. "
                    "Give each parameter a key such as 'dense/kernel'."
                )
            grad, param, key = item
            if grad is None:
                warnings.warn(
                    f"Optimizer '{self.name}': no gradient for '{key}'; skipped.", stacklevel=3
                )
                continue
            if not isinstance(param, np.ndarray) or param.dtype.kind != "f":
                raise TypeError(
                    f"Optimizer '{self.name}' updates float NumPy arrays in place; parameter "
                    f"'{key}' is {type(param).__name__}"
                    f"{' of dtype ' + str(param.dtype) if isinstance(param, np.ndarray) else ''}."
                )
            grad = np.asarray(grad)
            if grad.shape != param.shape:
                raise ValueError(
                    f"Optimizer '{self.name}' got a gradient of shape {fmt_shape(grad.shape)} for "
                    f"parameter '{key}' of shape {fmt_shape(param.shape)}. The gradient must "
                    "have the parameter's shape."
                )
            if key in seen:
                raise ValueError(
                    f"Optimizer '{self.name}' got parameter key '{key}' twice in one update. "
                    "Each parameter needs a unique key."
                )
            seen.add(key)
            items.append((grad, param, str(key)))
        return items

    def _clip(self, grads):
        if self.clipnorm:
            return [clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm:
            return clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def _slots_for(self, key: str, param: np.ndarray) -> dict:
        slots = self._slots.get(key)
        if slots is None:
            slots = {n: np.zeros_like(param) for n in self._all_slot_names()}
            self._slots[key] = slots
            return slots
        for n, arr in slots.items():
            if arr.shape != param.shape:
                raise ValueError(
                    f"Optimizer '{self.name}' holds state '{key}/{n}' of shape "
                    f"{fmt_shape(arr.shape)}, but parameter '{key}' has shape "
                    f"{fmt_shape(param.shape)}. The model changed since this state was made: "
                    "create a new optimizer (or compile again)."
                )
            if arr.dtype != param.dtype:
                slots[n] = arr.astype(param.dtype)
        return slots

    # ---- state ---------------------------------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        """Copies of everything needed to resume bit-identically.

        Keys: "iterations" (the ``apply_gradients`` calls, as Keras's saved variable),
        "learning_rate" (when it is a float, since callbacks may have changed it) and
        "<param key>/<slot>" (e.g. "conv2d/kernel/velocity", "dense/bias/gradient_accumulator").
        """
        state = {"iterations": np.array(self._iterations, dtype=np.int64)}
        if not isinstance(self._learning_rate, _schedules.LearningRateSchedule):
            state["learning_rate"] = np.array(self._learning_rate, dtype=np.float64)
        for key, slots in self._slots.items():
            for n, arr in slots.items():
                state[f"{key}/{n}"] = arr.copy()
        return state

    def set_state(self, state: dict) -> None:
        """Restore what :meth:`get_state` returned (validated before anything changes)."""
        where = f"Optimizer '{self.name}' ({type(self).__name__}).set_state"
        state = dict(state)
        if "iterations" not in state:
            raise ValueError(f"{where} needs an 'iterations' entry; got keys {sorted(state)}.")
        it = np.asarray(state.pop("iterations"))
        if it.shape != () or it.dtype.kind not in "iu" or int(it) < 0:
            raise ValueError(
                f"{where} expects 'iterations' to be a non-negative integer, got {it!r}."
            )
        lr = state.pop("learning_rate", None)
        if lr is not None:
            lr = np.asarray(lr)
            if lr.shape != ():
                raise ValueError(f"{where} expects a scalar 'learning_rate', got shape {lr.shape}.")
            if isinstance(self._learning_rate, _schedules.LearningRateSchedule):
                raise ValueError(
                    f"{where} got a float learning_rate but this optimizer uses a schedule. "
                    "Resume with the optimizer configuration the state was saved from."
                )
        names = set(self._all_slot_names())
        slots: dict[str, dict[str, np.ndarray]] = {}
        for full_key, arr in state.items():
            key, _, slot = str(full_key).rpartition("/")
            if not key or slot not in names:
                raise ValueError(
                    f"{where} got an unexpected key {full_key!r}: this optimizer keeps slots "
                    f"{sorted(names) or 'none'} per parameter ('<param key>/<slot>'). The state "
                    "was saved from a different optimizer or configuration; resume with that one."
                )
            arr = np.asarray(arr)
            if arr.dtype.kind != "f":
                raise ValueError(f"{where}: {full_key!r} must be a float array, got {arr.dtype}.")
            slots.setdefault(key, {})[slot] = np.array(arr, copy=True)
        for key, got in slots.items():
            missing = names - set(got)
            if missing:
                raise ValueError(f"{where}: parameter '{key}' lacks slots {sorted(missing)}.")
            shapes = {a.shape for a in got.values()}
            existing = self._slots.get(key)
            if existing:
                shapes |= {a.shape for a in existing.values()}
            if len(shapes) > 1:
                raise ValueError(
                    f"{where}: the slots of '{key}' disagree in shape "
                    f"({', '.join(fmt_shape(s) for s in shapes)}). The state belongs to a "
                    "different model."
                )
        self._iterations = int(it)
        if lr is not None:
            self._learning_rate = float(lr)
        self._slots = {k: {n: v[n] for n in self._all_slot_names()} for k, v in slots.items()}

    # ---- config --------------------------------------------------------------------------
    def get_config(self) -> dict:
        lr = self._learning_rate
        if isinstance(lr, _schedules.LearningRateSchedule):
            lr = _schedules.serialize(lr)
        return {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            **_UNSUPPORTED_DEFAULTS,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        # tf.keras 2.11+ configs carry these; they mean nothing without TensorFlow.
        for key in ("jit_compile", "is_legacy_optimizer"):
            config.pop(key, None)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = _schedules.deserialize(
                config["learning_rate"], custom_objects
            )
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self._learning_rate!r}>"
