"""The thread-safety contract of a model: one re-entrant lock per model, taken per batch.

A model's layers keep per-call state (the caches ``backward`` reads, reusable workspaces), and
its compiled metrics accumulate over an epoch, so two threads must not run the same model at
the same moment. Every public entry point that runs or changes a model takes its lock:

* ``fit`` holds it for one training step at a time (forward, backward and update of one
  batch, plus that batch's callbacks' view of the logs) and releases it between batches, so a
  ``predict`` from another thread runs between two steps and sees the weights of one step;
* ``predict``, ``evaluate``, ``predict_on_batch``, ``train_on_batch``, ``test_on_batch``,
  ``model(x)``, ``get_weights``, ``set_weights``, ``save`` and ``load_weights`` hold it for
  their whole work;
* ``evaluate`` during a ``fit`` (from any thread) leaves the epoch's training metrics as they
  were.

The lock is re-entrant, so callbacks that call ``predict`` or ``save`` from inside ``fit`` work.
``copy.deepcopy(model)`` gets a fresh one. Models that share layers (``keras.Model(model.inputs,
model.layers[2].output)`` for feature maps) share one lock. Calling *layers* (or
``train_step``) directly from several threads is not covered.

Example:
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> from filterbank.models.locking import model_lock
    >>> model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)])
    >>> with model_lock(model):      # re-entrant: predict takes it again inside
    ...     model.predict(np.ones((1, 3), "float32"), verbose=0).shape
    (1, 2)
"""

from __future__ import annotations

import functools
import threading
import weakref

import numpy as np

_FITTING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


class LockBox:
    """A re-entrant lock that copies as a fresh lock (deepcopy, pickle): a copy of a model must
    not share its original's lock, and a lock itself cannot be copied."""

    __slots__ = ("lock",)

    def __init__(self):
        self.lock = threading.RLock()

    def __deepcopy__(self, memo):
        return LockBox()

    def __copy__(self):
        return LockBox()

    def __reduce__(self):
        return (LockBox, ())


def _layers(model) -> list:
    try:
        return list(model.layers) if getattr(model, "built", False) else []
    except Exception:
        return []


def _shared_box(model) -> LockBox:
    """The lock of the first of ``model``'s layers that has one, else a new one; every layer
    then carries it, so models that share layers (a feature-extraction model built from a
    trained model's layers) share one lock, and never run those layers at the same time."""
    layers = _layers(model)
    box = (
        next((lay.__dict__["_lock_box"] for lay in layers if "_lock_box" in lay.__dict__), None)
        or LockBox()
    )
    for lay in layers:
        lay.__dict__.setdefault("_lock_box", box)
    return box


class ModelState:
    """Per-model runtime state that is never copied: the lock and a cached activation plan.

    ``copy.deepcopy(model)`` and pickling give the copy a fresh one (a lock cannot be copied,
    and a copy must not share its original's lock).
    """

    __slots__ = ("box", "plan", "graph")

    def __init__(self, box: LockBox | None = None, graph=None):
        self.box = box  # None: not resolved yet (a copy takes its copied layers' lock)
        self.plan = None
        self.graph = graph  # the graph whose layers carry ``box``

    @property
    def lock(self):
        return self.box.lock

    def __deepcopy__(self, memo):
        return ModelState()

    def __copy__(self):
        return ModelState()

    def __reduce__(self):
        return (ModelState, ())


def model_state(model) -> ModelState:
    """The :class:`ModelState` of ``model`` (made on first use, once even under races)."""
    state = model.__dict__.get("_runtime_state")
    graph = model.__dict__.get("_graph")
    if state is None or state.graph is not graph:
        with _GUARD:
            state = model.__dict__.get("_runtime_state")
            if state is None:
                state = model.__dict__["_runtime_state"] = ModelState(_shared_box(model), graph)
            elif state.box is None:  # a deep copy: its layers carry their own (new) lock
                state.box, state.graph = _shared_box(model), graph
            elif state.graph is not graph:  # built or rebuilt since: its layers get the lock
                for lay in _layers(model):
                    lay.__dict__.setdefault("_lock_box", state.box)
                state.graph = graph
    return state


def model_lock(model) -> threading.RLock:
    """The re-entrant lock of ``model`` (made on first use)."""
    return model_state(model).lock


def locked(method):
    """Decorator: run a model method while holding the model's lock."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with model_state(self).lock:
            return method(self, *args, **kwargs)

    return wrapper


class fitting:
    """Context manager marking ``model`` as inside ``fit`` (counts nested/parallel fits)."""

    def __init__(self, model):
        self.model = model

    @staticmethod
    def wrap(method):
        """Decorator for ``fit``: mark the model as fitting while the method runs."""

        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            with fitting(self):
                return method(self, *args, **kwargs)

        return wrapper

    def __enter__(self):
        with _GUARD:
            _FITTING[self.model] = _FITTING.get(self.model, 0) + 1
        return self

    def __exit__(self, *exc):
        with _GUARD:
            left = _FITTING.get(self.model, 1) - 1
            if left:
                _FITTING[self.model] = left
            else:
                _FITTING.pop(self.model, None)
        return False


def is_fitting(model) -> bool:
    """True while a ``fit`` of ``model`` runs (in any thread).

    Example:
        >>> import filterbank as keras
        >>> is_fitting(keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)]))
        False
    """
    return _FITTING.get(model, 0) > 0


def _stateful(compiled) -> list:
    objs = [compiled.total_tracker]
    for spec in getattr(compiled, "outputs", []):
        objs.append(spec.tracker)
        objs.extend(spec.metrics)
    # Metrics that delegate (``"accuracy"`` resolving to a concrete accuracy) keep their state
    # in an inner metric: include every metric reachable through attributes.
    seen = {id(o) for o in objs}
    stack = list(objs)
    while stack:
        for value in vars(stack.pop()).values():
            if (
                hasattr(value, "reset_state")
                and hasattr(value, "__dict__")
                and id(value) not in seen
            ):
                seen.add(id(value))
                objs.append(value)
                stack.append(value)
    return objs


def _copy_value(v):
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, (list, dict)):
        import copy

        return copy.deepcopy(v)
    return v


class preserved_metrics:
    """Context manager: restore the compiled trackers and metrics of ``model`` on exit.

    ``evaluate`` uses it while a ``fit`` is running, so the training epoch's running loss and
    metrics are not reset or polluted by the evaluation.
    """

    def __init__(self, model):
        self.compiled = getattr(model, "_compiled", None)
        self.saved = None

    def __enter__(self):
        if self.compiled is not None:
            self.saved = [
                (obj, {k: _copy_value(v) for k, v in vars(obj).items()})
                for obj in _stateful(self.compiled)
            ]
        return self

    def __exit__(self, *exc):
        for obj, state in self.saved or []:
            obj.__dict__.update(state)
        return False
