"""Batches from datasets, generators and ``PyDataset`` objects for fit / evaluate / predict.

``fit(x)`` takes, besides arrays (the loops in ``training.py``), what Keras 3 takes:

* the dataset of :func:`filterbank.datasets.image_dataset_from_directory` -- its batches are
  decoded from the image files as they are needed, so a folder larger than memory trains in
  bounded memory (``benchmarks/streaming_memory.py``);
* a ``keras.utils.PyDataset`` (``__len__`` batches, ``__getitem__(i)``, ``on_epoch_end``);
  ``fit(shuffle=True)`` visits its batches in a new order each epoch;
* a Python generator or iterator of ``(x, y)`` or ``(x, y, sample_weight)`` batches (``x``
  alone for ``predict``), with ``steps_per_epoch`` batches per epoch (without it, an epoch
  ends when the generator does, and the progress bar shows ``n/Unknown``);
* any other iterable of such batches (a fresh pass each epoch), e.g. a list-free loader.

Each batch is checked and converted as arrays are (dtype, NaN/inf, labels against the loss),
and the shapes of every batch are checked against the model's inputs: a batch that differs is
an error naming its index. As Keras, when a generator runs out before ``steps_per_epoch``,
``fit`` warns and ends the epoch there (and ends training if an epoch got no batch at all).

Determinism and ``BackupAndRestore``: the shuffled order of a ``PyDataset`` comes from
:func:`filterbank.backend.rng` and the order of an image dataset from its ``seed`` and the
epoch number, so both resume *exactly* (mid-epoch too). A Python generator cannot be rewound:
a resumed run restores the weights, optimizer, random state, callbacks and the epoch/step
counters, then trains on what the new generator yields from its start.

Example:
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> def batches():
    ...     rng = np.random.default_rng(0)
    ...     while True:
    ...         x = rng.normal(size=(16, 2)).astype("float32")
    ...         yield x, (x[:, 0] > 0).astype("int64")
    >>> model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(2, activation="softmax")])
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> history = model.fit(batches(), steps_per_epoch=5, epochs=2, verbose=0)
    >>> len(history.history["loss"])
    2
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import backend
from ..datasets.py_dataset import PyDataset
from ..errors import fmt_shape
from . import validation as V

RAN_OUT = (
    "Your input ran out of data; interrupting training. Make sure that your dataset or "
    "generator can generate at least `steps_per_epoch * epochs` batches."
)


def is_stream(x) -> bool:
    """True for the inputs this module handles (anything iterable that is not array data)."""
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)):
        return False
    if hasattr(x, "__array__") or hasattr(x, "__array_interface__"):
        return False  # tensors, data frames: array data
    if isinstance(x, PyDataset) or _is_image_dataset(x):
        return True
    return hasattr(x, "__iter__") or hasattr(x, "__next__")


def _is_image_dataset(x) -> bool:
    from ..datasets.image_folder import ImageDataset

    return isinstance(x, ImageDataset)


def _looks_like_pydataset(x) -> bool:
    return isinstance(x, PyDataset) or (
        hasattr(x, "__getitem__")
        and hasattr(x, "__len__")
        and hasattr(x, "on_epoch_end")
        and not hasattr(x, "__next__")
    )


# ---- sources: one object per input, yielding raw batches ---------------------------------------
class Source:
    """Raw batches of one input, epoch by epoch.

    ``begin_epoch(epoch)`` is called right after the callbacks' ``on_epoch_begin`` (a shuffled
    order is drawn there, where BackupAndRestore expects it); ``batches(start)`` yields the
    epoch's batches from index ``start``; ``end_epoch()`` after the epoch.
    """

    kind = "dataset"
    steps: int | None = None  # batches per epoch, None when unknown
    exact_resume = True

    def begin_epoch(self, epoch: int) -> None:
        pass

    def batches(self, start: int = 0):
        raise NotImplementedError

    def end_epoch(self) -> None:
        pass


class ArraySource(Source):
    """Arrays already prepared by ``training.py``'s checks, sliced into batches."""

    kind = "arrays"

    def __init__(self, xs, ys, sws, batch_size, shuffle, steps=None):
        self.xs, self.ys, self.sws = xs, ys, sws
        self.n = V.num_samples(xs)
        self.batch_size = batch_size
        self.shuffle = shuffle
        n_batches = -(-self.n // batch_size)
        self.steps = n_batches if steps is None else min(steps, n_batches)
        self._perm = None

    def begin_epoch(self, epoch):
        self._perm = backend.rng().permutation(self.n) if self.shuffle else None

    def batches(self, start=0):
        for step in range(start, self.steps):
            lo = step * self.batch_size
            idx = (
                slice(lo, min(lo + self.batch_size, self.n))
                if self._perm is None
                else self._perm[lo : lo + self.batch_size]
            )
            yield Prepared(
                (
                    [a[idx] for a in self.xs],
                    [_take(b, idx) for b in self.ys],
                    [_take(w, idx) for w in self.sws],
                )
            )


class Prepared(tuple):
    """A batch (xs, ys, sws) that was converted and checked already."""


def _take(a, idx):
    return None if a is None else a[idx]


class PyDatasetSource(Source):
    kind = "PyDataset"

    def __init__(self, data, steps, shuffle, where):
        self.data = data
        try:
            n = len(data)
        except NotImplementedError as exc:
            raise NotImplementedError(f"{where}(): {exc}") from None
        name = type(data).__name__
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(
                f"{where}() got a PyDataset ({name}) whose __len__() is {n!r}, so it has no "
                "batches. __len__ must return the number of batches (>= 1), e.g. "
                "math.ceil(len(self.x) / self.batch_size)."
            )
        self.n = int(n)
        self.steps = self.n if steps is None else steps
        self.shuffle = shuffle
        self._order = None

    def begin_epoch(self, epoch):
        hook = getattr(self.data, "on_epoch_begin", None)
        if callable(hook):
            hook()
        self._order = backend.rng().permutation(self.n) if self.shuffle else np.arange(self.n)

    def batches(self, start=0):
        for step in range(start, self.steps):
            if step >= self.n:
                warnings.warn(RAN_OUT + f" The PyDataset has {self.n} batches.", stacklevel=4)
                return
            yield self.data[int(self._order[step])]

    def end_epoch(self):
        hook = getattr(self.data, "on_epoch_end", None)
        if callable(hook):
            hook()


class ImageDatasetSource(Source):
    kind = "image dataset"

    def __init__(self, data, steps, where):
        if data.batch_size is None:
            raise ValueError(
                f"{where}() got an image dataset made with batch_size=None (single images). "
                "Pass batch_size=32 (or another size) to image_dataset_from_directory."
            )
        self.data = data
        self.n = len(data)
        if self.n == 0:
            raise ValueError(f"{where}() got an empty image dataset (0 files).")
        self.steps = self.n if steps is None else steps
        self._order = None

    def begin_epoch(self, epoch):
        self._order = self.data.epoch_order(epoch)

    def batches(self, start=0):
        bs = self.data.batch_size
        for step in range(start, self.steps):
            if step >= self.n:
                warnings.warn(RAN_OUT + f" The dataset has {self.n} batches.", stacklevel=4)
                return
            yield self.data.load_batch(self._order[step * bs : (step + 1) * bs])


class IterableSource(Source):
    """A generator/iterator (one stream for the whole run) or a re-iterable (a pass per epoch)."""

    def __init__(self, data, steps):
        self.data = data
        self.one_shot = hasattr(data, "__next__")
        self.kind = "generator" if self.one_shot else "iterable"
        self.exact_resume = False
        self.requested = steps
        if steps is None and not self.one_shot and hasattr(data, "__len__"):
            steps = len(data)
        self.steps = steps
        self._it = iter(data) if self.one_shot else None

    def begin_epoch(self, epoch):
        if not self.one_shot:
            self._it = iter(self.data)

    def batches(self, start=0):
        step = 0 if self.one_shot else start  # a generator cannot be rewound: no skipping
        if not self.one_shot:
            for _ in range(start):
                if next(self._it, _END) is _END:
                    return
        while self.steps is None or step < self.steps:
            batch = next(self._it, _END)
            if batch is _END:
                if self.requested is not None:
                    warnings.warn(RAN_OUT, stacklevel=4)
                return
            step += 1
            yield batch


_END = object()


def make_source(x, steps, shuffle, where) -> Source:
    """The Source for fit/evaluate/predict input ``x`` (a stream, see :func:`is_stream`)."""
    if _is_image_dataset(x):
        return ImageDatasetSource(x, steps, where)
    if _looks_like_pydataset(x):
        return PyDatasetSource(x, steps, shuffle, where)
    return IterableSource(x, steps)


# ---- one batch ---------------------------------------------------------------------------------
def unpack(batch):
    """Keras's rule: a tuple/list of 1-3 items is (x[, y[, sample_weight]]); anything else is x."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if isinstance(batch, tuple):
        if len(batch) in (1, 2, 3):
            return (*batch, None, None)[:3]
        raise ValueError(
            f"a batch is a tuple of {len(batch)} items; expected (x, y) or "
            "(x, y, sample_weight). Put several inputs in one list or dict: ((x1, x2), y)."
        )
    return batch, None, None


class BatchChecker:
    """Converts raw batches like arrays, and names the batch whose shapes do not fit."""

    def __init__(self, model, source: Source, where: str, class_weight=None, targets=True):
        self.model = model
        self.source = source
        self.where = where
        self.class_weight = class_weight
        self.targets = targets
        self.first_y = None

    def _fail(self, index, message):
        for head in (f"{self.where}(): ", f"{self.where}() "):
            if message.startswith(head):
                message = message[len(head) :]
        return ValueError(f"{self.where}(): batch {index} of the {self.source.kind}: {message}")

    def prepare(self, batch, index):
        if isinstance(batch, Prepared):
            return tuple(batch) if self.targets else batch[0]
        try:
            x, y, sw = unpack(batch)
        except ValueError as exc:
            raise self._fail(index, str(exc)) from None
        if not self.targets:
            try:
                xs = V.prepare_inputs(self.model, x, self.where)
            except ValueError as exc:
                raise self._fail(index, str(exc)) from None
            self._check_x(xs, index)
            return xs
        if y is None and self.model._compiled is not None and self.model._compiled.has_loss:
            raise self._fail(
                index,
                "it has no targets (x only), but the model was compiled with a loss. "
                "Yield (x, y) batches, or make the dataset with labels.",
            )
        try:
            xs, ys, sws = self.model._prepare_data(x, y, sw, self.where, self.class_weight)
        except ValueError as exc:
            raise self._fail(index, str(exc)) from None
        self._check_x(xs, index)
        shapes = [None if a is None else a.shape[1:] for a in ys]
        if self.first_y is None:
            self.first_y = shapes
        elif shapes != self.first_y:
            raise self._fail(
                index,
                (
                    f"its targets y have shape(s) {_shapes(ys)} but earlier batches had "
                    f"{', '.join('None' if s is None else fmt_shape((None, *s)) for s in self.first_y)}. "
                    "Every batch must have the same label layout."
                ),
            )
        return xs, ys, sws

    def _check_x(self, xs, index):
        for i, (a, t) in enumerate(zip(xs, self.model._graph.inputs)):
            want = t.shape
            if len(a.shape) != len(want) or any(
                w is not None and w != g for w, g in zip(want[1:], a.shape[1:])
            ):
                raise self._fail(
                    index,
                    (
                        f"x{'' if len(xs) == 1 else f' for input {i}'} has shape "
                        f"{fmt_shape(a.shape)}, but the model's input '{t.node.layer.name}' expects "
                        f"{fmt_shape(want)}. Make every batch the same shape (e.g. resize the "
                        "images in the generator)."
                    ),
                )


def _shapes(arrays):
    return ", ".join("None" if a is None else fmt_shape(a.shape) for a in arrays)


# ---- loops -------------------------------------------------------------------------------------
def fit_stream(
    model,
    x,
    *,
    y,
    batch_size,
    epochs,
    verbose,
    callbacks,
    validation_split,
    validation_data,
    validation_steps,
    shuffle,
    class_weight,
    sample_weight,
    initial_epoch,
    steps_per_epoch,
    validation_batch_size,
    validation_freq,
):
    """``fit`` for a stream input (or array input with a stream as validation_data)."""
    from .locking import model_lock
    from .training import _begin_fit, _end_fit

    if model._distribution is not None:
        raise ValueError(
            "fit(): data-parallel training (filterbank.distributed) takes NumPy arrays, not a "
            "dataset, generator or PyDataset. Load the arrays (dataset.to_numpy()) and give each "
            "rank the same arrays or its own part (distributed.shard)."
        )
    lock = model_lock(model)  # taken per batch, as in fit on arrays: predictions interleave

    if is_stream(x):
        for arg, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None:
                raise ValueError(
                    f"fit() argument {arg} must be None when x is a dataset, generator or "
                    f"PyDataset (got a {type(value).__name__}): the batches carry it. Yield "
                    "(x, y) or (x, y, sample_weight) batches."
                )
        if validation_split:
            raise ValueError(
                f"fit() argument validation_split={validation_split} works with arrays only, "
                "not with a dataset, generator or PyDataset. Make a validation set (e.g. "
                "image_dataset_from_directory(..., validation_split=0.2, subset='both', "
                "seed=1)) and pass it as validation_data."
            )
        source = make_source(x, steps_per_epoch, shuffle, "fit")
        batch_class_weight = class_weight
    else:
        xs, ys, sws = model._prepare_data(x, y, sample_weight, "fit", class_weight=class_weight)
        source = ArraySource(xs, ys, sws, batch_size, shuffle, steps_per_epoch)
        batch_class_weight = None
    checker = BatchChecker(model, source, "fit", batch_class_weight)
    val = None
    if validation_data is not None:
        if is_stream(validation_data):
            val = make_source(validation_data, validation_steps, False, "fit(validation_data)")
        else:
            vx, vy, vsw = model._prepare_validation_data(validation_data)
            val = ArraySource(vx, vy, vsw, validation_batch_size, False, validation_steps)

    steps = source.steps
    cbl, initial_epoch, first_step = _begin_fit(
        model, callbacks, verbose, epochs, steps, initial_epoch
    )
    epoch_logs: dict = {}
    for epoch in range(initial_epoch, epochs):
        with lock:
            model._compiled.reset()
        cbl.on_epoch_begin(epoch)
        source.begin_epoch(epoch)
        logs: dict = {}
        step = first_step - 1
        for step, batch in enumerate(source.batches(first_step), start=first_step):
            xs, ys, sws = checker.prepare(batch, step)
            cbl.on_train_batch_begin(step)
            with lock:
                model.train_step(xs, ys, sws)
                logs = model._compiled.logs()
            cbl.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        source.end_epoch()
        if step < first_step:
            warnings.warn(
                f"fit(): epoch {epoch + 1} got no batches from the {source.kind}; training "
                "stops here. " + RAN_OUT,
                stacklevel=3,
            )
            break
        first_step = 0
        epoch_logs = dict(logs)
        if val is not None and (epoch + 1) % validation_freq == 0:
            with lock:
                val_logs = run_test_loop(model, val, cbl, "fit(validation_data)")
            epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
        cbl.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    return _end_fit(model, cbl, epoch_logs)


def run_test_loop(model, source: Source, cbl, where="evaluate") -> dict:
    """The test loop over a source (validation inside fit, or evaluate)."""
    checker = BatchChecker(model, source, where)
    model._compiled.reset()
    cbl.on_test_begin()
    source.begin_epoch(0)
    logs: dict = {}
    for step, batch in enumerate(source.batches(0)):
        xs, ys, sws = checker.prepare(batch, step)
        cbl.on_test_batch_begin(step)
        model.test_step(xs, ys, sws)
        logs = model._compiled.logs()
        cbl.on_test_batch_end(step, logs)
    source.end_epoch()
    cbl.on_test_end(logs)
    return logs


def evaluate_stream(model, x, *, y, sample_weight, steps, verbose, callbacks, return_dict):
    from .training import _callback_list

    if y is not None or sample_weight is not None:
        raise ValueError(
            "evaluate() arguments y and sample_weight must be None when x is a dataset, "
            "generator or PyDataset: the batches carry them."
        )
    source = make_source(x, steps, False, "evaluate")
    cbl = _callback_list(
        model, callbacks, add_history=False, verbose=verbose, epochs=1, steps=source.steps
    )
    logs = run_test_loop(model, source, cbl, "evaluate")
    if not logs:
        raise ValueError(f"evaluate() got no batches from the {source.kind}.")
    return model._format_logs(logs, return_dict)


def predict_stream(model, x, *, steps, verbose, callbacks):
    from .training import _callback_list

    source = make_source(x, steps, False, "predict")
    checker = BatchChecker(model, source, "predict", targets=False)
    cbl = _callback_list(
        model, callbacks, add_history=False, verbose=verbose, epochs=1, steps=source.steps
    )
    cbl.on_predict_begin()
    source.begin_epoch(0)
    parts: list = []
    for step, batch in enumerate(source.batches(0)):
        xs = checker.prepare(batch, step)
        cbl.on_predict_batch_begin(step)
        outs = model.predict_step(xs)
        parts.append(outs)
        cbl.on_predict_batch_end(step, {"outputs": outs if len(outs) > 1 else outs[0]})
    source.end_epoch()
    cbl.on_predict_end()
    if not parts:
        raise ValueError(f"predict() got no batches from the {source.kind}.")
    results = [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]
    return results[0] if model._single_output else results
