"""compile / fit / evaluate / predict, and their one-batch versions, as Keras.

The loops slice mini-batches from arrays converted once per call (no
per-sample Python) and run one of three step functions:

* :meth:`TrainingMixin.train_step` -- forward (training=True), loss and
  dLoss/dOutput, backward through the graph, regularizer gradients, one
  optimizer update;
* :meth:`TrainingMixin.test_step` -- forward (training=False), loss, metrics;
* :meth:`TrainingMixin.predict_step` -- forward only.

Data conversion rule: inputs become the model's float dtype (float32 by
default) *without rescaling*; uint8 images stay 0..255 -- divide by 255 first
if the model expects [0, 1]. bool, integer and float16 data convert exactly
(integers up to 2**24 in float32); float64 data is rounded to float32; values
beyond the float type's range (3.4e38 for float32) are refused rather than
turned into inf. ``model(x)`` converts the same way. Integer labels stay
integers for sparse losses.

Randomness: shuffling draws from :func:`filterbank.backend.rng`, so
``keras.utils.set_random_seed(s)`` before building and fitting makes a whole
run (initial weights, shuffles, dropout) bit-identical.

Example:
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> keras.utils.set_random_seed(0)
    >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    >>> y = (x[:, 0] > 0).astype("int64")
    >>> model = keras.Sequential([layers.Dense(2, activation="softmax", input_shape=(2,))])
    >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'loss']
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import backend
from ..errors import did_you_mean
from . import data_adapters as DA
from . import validation as V
from .compile_utils import CompiledOutputs, resolve_optimizer
from .labels import class_weight_to_sample_weight
from .locking import fitting, is_fitting, locked, model_lock, preserved_metrics
from .memory import guard_memory
from .steps import StepsMixin

# compile() arguments Keras has that mean nothing on NumPy (no graph compilation, one device).
_NOOP_COMPILE_ARGS = {"run_eagerly", "jit_compile", "steps_per_execution", "auto_scale_loss"}


class TrainingMixin(StepsMixin):
    """Keras's training API on top of the graph engine (``self._graph``)."""

    # ---- compile -----------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, **kwargs):
        """Configure training: ``compile(optimizer="adam", loss="...", metrics=["accuracy"])``.

        Args:
            optimizer: a name ("sgd", "rmsprop", "adam", ...) or an optimizer instance.
            loss: a name, a Loss, a list (one per output) or a dict by output name.
            metrics: a list of names/Metric objects (applied to every output), a list of lists
                (one per output) or a dict by output name.
            loss_weights: scalars weighting each output's loss in the total (list or dict).
        """
        for k in kwargs:
            if k not in _NOOP_COMPILE_ARGS:
                raise TypeError(
                    f"compile() got an unexpected keyword argument {k!r}. "
                    + did_you_mean(
                        k, ["optimizer", "loss", "metrics", "loss_weights", *_NOOP_COMPILE_ARGS]
                    )
                )
        compiled = CompiledOutputs(loss, loss_weights, metrics)
        self.optimizer = resolve_optimizer(optimizer)
        self.loss = loss
        self._compiled = compiled
        self._compile_config = {
            "optimizer": optimizer,
            "loss": loss,
            "metrics": metrics,
            "loss_weights": loss_weights,
        }
        if self._graph is not None:
            compiled.bind(self)
        self.compiled = True

    def _assert_compiled(self, method: str):
        if not self.compiled:
            raise ValueError(
                f"Model '{self.name}' must be compiled before {method}(): call "
                "model.compile(optimizer=..., loss=..., metrics=[...]) first."
            )
        if self._compiled is None or not self._compiled.has_loss:
            raise ValueError(
                f"Model '{self.name}' was compiled without a loss, so {method}() has nothing to "
                "compute. Pass loss= to compile(), e.g. loss='sparse_categorical_crossentropy'."
            )

    @property
    def metrics_names(self) -> list[str]:
        """Log keys in the order ``evaluate`` returns them: ["loss", "accuracy", ...]."""
        if self._compiled is None or not self._compiled.outputs:
            return []
        return self._compiled.metrics_names()

    @property
    def compiled_state(self):
        """The compiled losses and metrics with their running state (None before ``compile``):
        what a callback that saves and restores metric state (``BackupAndRestore``) and
        ``filterbank.distributed`` (which sums it over ranks) work on."""
        return self._compiled

    @property
    def compile_arguments(self) -> dict | None:
        """The arguments ``compile`` was given, as given (objects, not serialized); None before
        ``compile``. :meth:`get_compile_config` is the JSON form."""
        return None if self._compile_config is None else dict(self._compile_config)

    def resume_at(self, epoch: int, step: int | None = None) -> None:
        """Make the ``fit`` that is starting continue at ``epoch`` (0-based) and, for a backup
        taken mid-epoch, at batch ``step`` of it. A resuming callback (``BackupAndRestore``)
        calls this from ``on_train_begin``.

        Example:
            >>> import filterbank as keras
            >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
            >>> m.resume_at(3, 5)
        """
        self._initial_epoch, self._initial_step = epoch, step

    def get_compile_config(self) -> dict | None:
        """The compile() arguments, JSON-serialisable (None if not compiled)."""
        from .config import compile_config

        return compile_config(self)

    def compile_from_config(self, config: dict) -> None:
        from .config import compile_from_config

        compile_from_config(self, config)

    # ---- fit ---------------------------------------------------------------------------------
    @fitting.wrap
    @guard_memory("fit", training=True)
    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
    ):
        """Train for ``epochs`` passes over (x, y); returns a ``History``.

        Args (as Keras):
            x: an array (batch, ...) or a list / dict of arrays for several inputs. It is
                converted once to the model's float dtype without rescaling (uint8 images stay
                0..255: divide by 255 first if the model expects [0, 1]). Or, as Keras: a
                dataset from ``image_dataset_from_directory``, a ``keras.utils.PyDataset`` or
                a generator / iterable of ``(x, y[, sample_weight])`` batches (then y is None;
                see ``models/data_adapters.py``).
            y: targets: class ids (sparse losses), one-hot rows, or values; a list / dict for
                several outputs.
            batch_size: samples per step (None -> 32).
            epochs: index of the last epoch (training runs initial_epoch..epochs-1).
            verbose: "auto" (=1), 0 silent, 1 progress bar, 2 one line per epoch.
            callbacks: a list of ``keras.callbacks`` objects.
            validation_split: fraction in [0, 1) held out from the *end* of the data, before
                shuffling (as Keras); ignored when validation_data is given.
            validation_data: (x_val, y_val) or (x_val, y_val, sample_weight_val), or a
                dataset / PyDataset / generator of such batches.
            shuffle: reshuffle the training samples every epoch (from backend.rng()).
            class_weight: {class_id: weight}, turned into per-sample weights.
            sample_weight: (n,) weights per sample (or a list / dict per output).
            initial_epoch: epoch to start from (to resume a run; a
                ``callbacks.BackupAndRestore`` backup overrides it).
            steps_per_epoch: batches per epoch (default: all, ceil(n / batch_size); for a
                generator: until it ends).
            validation_steps: batches per validation pass (default: all).
            validation_batch_size: batch size of the validation pass (default: batch_size).
            validation_freq: validate every this many epochs.

        The logged "loss" of an epoch is the mean of the batch losses weighted by batch size
        (regularization penalties included); metrics accumulate over the epoch.
        """
        self._assert_compiled("fit")
        batch_size = V.check_positive_int(batch_size, "batch_size", "fit", allow_none_default=32)
        epochs = V.check_nonnegative_int(epochs, "epochs", "fit")
        initial_epoch = V.check_nonnegative_int(initial_epoch, "initial_epoch", "fit")
        if steps_per_epoch is not None:
            steps_per_epoch = V.check_positive_int(steps_per_epoch, "steps_per_epoch", "fit")
        val_batch = V.check_positive_int(
            validation_batch_size, "validation_batch_size", "fit", allow_none_default=batch_size
        )
        validation_freq = V.check_positive_int(validation_freq, "validation_freq", "fit")
        verbose = V.check_verbose(verbose, "fit")
        validation_split = V.check_validation_split(validation_split)
        if validation_steps is not None:
            validation_steps = V.check_positive_int(validation_steps, "validation_steps", "fit")
        if DA.is_stream(x) or DA.is_stream(validation_data):
            return DA.fit_stream(
                self,
                x,
                y=y,
                batch_size=batch_size,
                epochs=epochs,
                verbose=verbose,
                callbacks=callbacks,
                validation_split=validation_split,
                validation_data=validation_data,
                validation_steps=validation_steps,
                shuffle=shuffle,
                class_weight=class_weight,
                sample_weight=sample_weight,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps_per_epoch,
                validation_batch_size=val_batch,
                validation_freq=validation_freq,
            )

        xs, ys, sws = self._prepare_data(x, y, sample_weight, "fit", class_weight=class_weight)
        n = V.num_samples(xs)
        val = None
        if validation_data is not None:
            val = self._prepare_validation_data(validation_data)
        elif validation_split > 0.0:
            split_at = int(math.floor(n * (1.0 - validation_split)))
            if split_at == 0 or split_at == n:
                raise ValueError(
                    f"fit(): validation_split={validation_split} of {n} samples leaves {split_at} "
                    f"for training and {n - split_at} for validation; both need at least one. Use "
                    "more data or another validation_split."
                )
            # class_weight shapes training only: the held-out part is scored unweighted (Keras).
            val_sws = (
                [None] * len(sws)
                if class_weight is not None
                else [_cut(w, split_at, None) for w in sws]
            )
            val = ([a[split_at:] for a in xs], [_cut(b, split_at, None) for b in ys], val_sws)
            xs = [a[:split_at] for a in xs]
            ys = [_cut(b, None, split_at) for b in ys]
            sws = [_cut(w, None, split_at) for w in sws]
            n = split_at

        n_batches = math.ceil(n / batch_size)
        dist = self._distribution
        if dist is not None:  # filterbank.distributed: a step is one global batch over all ranks
            n_batches = dist.begin_fit(self, xs, ys, sws, batch_size)
            callbacks = dist.fit_callbacks(callbacks)
        steps = n_batches
        if steps_per_epoch is not None:
            if steps_per_epoch > n_batches:
                warnings.warn(
                    f"fit(): steps_per_epoch={steps_per_epoch} is more than the {n_batches} "
                    f"batches of {batch_size} in {n} samples; each epoch runs {n_batches}.",
                    stacklevel=2,
                )
            steps = min(steps_per_epoch, n_batches)

        cbl, initial_epoch, first_step = _begin_fit(
            self, callbacks, verbose, epochs, steps, initial_epoch
        )
        epoch_logs: dict = {}
        rng = backend.rng()
        lock = model_lock(self)  # taken per batch: predictions from other threads interleave
        for epoch in range(initial_epoch, epochs):
            with lock:
                self._compiled.reset()
            cbl.on_epoch_begin(epoch)
            perm = None
            if shuffle:
                perm = rng.permutation(n) if dist is None else dist.permutation(rng, n)
            logs: dict = {}
            for step in range(first_step, steps):
                start = step * batch_size
                idx = (
                    slice(start, min(start + batch_size, n))
                    if perm is None
                    else perm[start : start + batch_size]
                )
                if dist is not None:
                    idx = dist.batch_index(step, perm, n, batch_size)
                cbl.on_train_batch_begin(step)
                with lock:
                    self.train_step(
                        [a[idx] for a in xs],
                        [_take(b, idx) for b in ys],
                        [_take(w, idx) for w in sws],
                    )
                    logs = self._compiled.logs()
                cbl.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            first_step = 0
            epoch_logs = dict(logs)
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_steps = (
                    None
                    if validation_steps is None
                    else min(validation_steps, math.ceil(V.num_samples(val[0]) / val_batch))
                )
                with lock:
                    val_logs = self._test_loop(
                        *val, batch_size=val_batch, cbl=cbl, max_steps=val_steps
                    )
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            cbl.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        return _end_fit(self, cbl, epoch_logs)

    def _prepare_data(self, x, y, sample_weight, where, class_weight=None):
        xs = V.prepare_inputs(self, x, where)
        self._assert_bound()
        n = V.num_samples(xs)
        ys = V.prepare_targets(self, y, n, self._compiled.losses, where)
        sws = V.prepare_sample_weight(self, sample_weight, n, where)
        if class_weight is not None:
            if len(ys) > 1:
                raise ValueError(
                    f"{where}(): class_weight works for models with one output; model "
                    f"'{self.name}' has {len(ys)}. Pass per-sample weights with sample_weight "
                    "instead."
                )
            if sample_weight is not None:
                raise ValueError(
                    f"{where}(): pass class_weight or sample_weight, not both. Fold the class "
                    "weights into sample_weight (sample_weight * class_weight_of_each_sample)."
                )
            sws = [
                class_weight_to_sample_weight(
                    class_weight,
                    ys[0],
                    self._compiled.losses[0],
                    xs[0].dtype if xs[0].dtype.kind == "f" else "float32",
                )
            ]
        return xs, ys, sws

    def _assert_bound(self):
        comp = self._compiled
        if comp is not None and len(comp.outputs) != len(self._graph.outputs):
            comp.bind(self)

    def _prepare_validation_data(self, validation_data):
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            got = (
                f"a {type(validation_data).__name__} of length {len(validation_data)}"
                if isinstance(validation_data, (tuple, list))
                else type(validation_data).__name__
            )
            raise ValueError(
                "fit() argument validation_data expects a tuple (x_val, y_val) or (x_val, y_val, "
                f"sample_weight_val), got {got}."
            )
        vx, vy = validation_data[0], validation_data[1]
        vsw = validation_data[2] if len(validation_data) == 3 else None
        return self._prepare_data(vx, vy, vsw, "fit(validation_data)")

    # ---- evaluate ----------------------------------------------------------------------------
    @locked
    @guard_memory("evaluate")
    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose="auto",
        sample_weight=None,
        steps=None,
        callbacks=None,
        return_dict=False,
    ):
        """Loss and metrics on (x, y) in inference mode, batched.

        Returns:
            The loss (a float) if there are no metrics and one output; otherwise a list in
            :attr:`metrics_names` order; a dict if ``return_dict``.
        """
        self._assert_compiled("evaluate")
        batch_size = V.check_positive_int(
            batch_size, "batch_size", "evaluate", allow_none_default=32
        )
        verbose = V.check_verbose(verbose, "evaluate")
        if DA.is_stream(x):
            if steps is not None:
                steps = V.check_positive_int(steps, "steps", "evaluate")
            return DA.evaluate_stream(
                self,
                x,
                y=y,
                sample_weight=sample_weight,
                steps=steps,
                verbose=verbose,
                callbacks=callbacks,
                return_dict=return_dict,
            )
        xs, ys, sws = self._prepare_data(x, y, sample_weight, "evaluate")
        n = V.num_samples(xs)
        n_batches = math.ceil(n / batch_size)
        if steps is not None:
            n_batches = min(V.check_positive_int(steps, "steps", "evaluate"), n_batches)
        cbl = _callback_list(
            self, callbacks, add_history=False, verbose=verbose, epochs=1, steps=n_batches
        )
        if is_fitting(self):  # leave the running epoch's training metrics as they are
            with preserved_metrics(self):
                logs = self._test_loop(xs, ys, sws, batch_size, cbl, max_steps=n_batches)
        else:
            logs = self._test_loop(xs, ys, sws, batch_size, cbl, max_steps=n_batches)
        return self._format_logs(logs, return_dict)

    def _test_loop(self, xs, ys, sws, batch_size, cbl, max_steps=None) -> dict:
        n = V.num_samples(xs)
        n_batches = math.ceil(n / batch_size) if max_steps is None else max_steps
        self._compiled.reset()
        dist = self._distribution
        local = None if dist is None else dist.begin_eval(self, xs, ys, sws)
        cbl.on_test_begin()
        logs: dict = {}
        for step in range(n_batches):
            idx = slice(step * batch_size, min((step + 1) * batch_size, n))
            if local is not None:  # this rank's part of the batch (None: no sample this time)
                idx = local(idx)
            cbl.on_test_batch_begin(step)
            if idx is not None:
                self.test_step(
                    [a[idx] for a in xs], [_take(b, idx) for b in ys], [_take(w, idx) for w in sws]
                )
            logs = self._compiled.logs()
            cbl.on_test_batch_end(step, logs)
        if dist is not None:  # sums of losses, metric totals and counts over the ranks
            dist.end_eval(self)
            logs = self._compiled.logs()
        cbl.on_test_end(logs)
        return logs

    def _format_logs(self, logs: dict, return_dict: bool):
        if return_dict:
            return dict(logs)
        values = [logs[k] for k in self.metrics_names if k in logs]
        return values[0] if len(values) == 1 else values

    # ---- predict -----------------------------------------------------------------------------
    @locked
    @guard_memory("predict")
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for every sample of ``x``, computed in batches (inference mode).

        Returns an array (n, *output_shape[1:]), or a list of them for several outputs.

        In float32 the results can differ in the last bits with ``batch_size``: which
        kernel runs (Winograd, the direct kernel, the im2col GEMM, and how a batch is
        chunked) depends on the batch's shape, and each sums in its own order
        (``model.kernel_plan(batch_size)`` says which runs). float64 differs by ~1e-15.
        """
        batch_size = V.check_positive_int(
            batch_size, "batch_size", "predict", allow_none_default=32
        )
        verbose = V.check_verbose(verbose, "predict")
        if DA.is_stream(x):
            if steps is not None:
                steps = V.check_positive_int(steps, "steps", "predict")
            return DA.predict_stream(self, x, steps=steps, verbose=verbose, callbacks=callbacks)
        xs = V.prepare_inputs(self, x, "predict")
        n = V.num_samples(xs)
        n_batches = math.ceil(n / batch_size)
        if steps is not None:
            n_batches = min(V.check_positive_int(steps, "steps", "predict"), n_batches)
            n = min(n, n_batches * batch_size)
        cbl = _callback_list(
            self, callbacks, add_history=False, verbose=verbose, epochs=1, steps=n_batches
        )
        cbl.on_predict_begin()
        results: list | None = None
        for step in range(n_batches):
            lo, hi = step * batch_size, min((step + 1) * batch_size, n)
            cbl.on_predict_batch_begin(step)
            outs = self.predict_step([a[lo:hi] for a in xs])
            if results is None:
                results = [np.empty((n, *o.shape[1:]), dtype=o.dtype) for o in outs]
            for r, o in zip(results, outs):
                r[lo:hi] = o
            cbl.on_predict_batch_end(step, {"outputs": outs if len(outs) > 1 else outs[0]})
        cbl.on_predict_end()
        return results[0] if self._single_output else results

    # ---- one batch ---------------------------------------------------------------------------
    @locked
    @guard_memory("train_on_batch", training=True)
    def train_on_batch(
        self,
        x,
        y=None,
        sample_weight=None,
        class_weight=None,
        reset_metrics=True,
        return_dict=False,
    ):
        """One training step on exactly this batch; returns its loss (and metrics).

        ``reset_metrics=True`` (Keras 2's default) reports this batch alone; False accumulates
        over calls (Keras 3's behaviour).
        """
        self._assert_compiled("train_on_batch")
        xs, ys, sws = self._prepare_data(
            x, y, sample_weight, "train_on_batch", class_weight=class_weight
        )
        if reset_metrics:
            self._compiled.reset()
        self.train_step(xs, ys, sws)
        return self._format_logs(self._compiled.logs(), return_dict)

    @locked
    @guard_memory("test_on_batch")
    def test_on_batch(self, x, y=None, sample_weight=None, reset_metrics=True, return_dict=False):
        """Loss (and metrics) of this batch in inference mode."""
        self._assert_compiled("test_on_batch")
        xs, ys, sws = self._prepare_data(x, y, sample_weight, "test_on_batch")
        if reset_metrics:
            self._compiled.reset()
        self.test_step(xs, ys, sws)
        return self._format_logs(self._compiled.logs(), return_dict)

    @locked
    @guard_memory("predict_on_batch")
    def predict_on_batch(self, x):
        """Outputs for this batch in one forward pass (inference mode)."""
        xs = self._batch_inputs(x, "predict_on_batch")
        outs = self.predict_step(xs)
        return outs[0] if self._single_output else outs


def _take(a, idx):
    return None if a is None else a[idx]


def _cut(a, lo, hi):
    return None if a is None else a[lo:hi]


# ---- callbacks ---------------------------------------------------------------------------------
def _callback_list(model, callbacks, add_history, verbose, epochs, steps):
    from ..callbacks import CallbackList

    dist = model._distribution
    if dist is not None and not dist.is_root:
        verbose = 0  # only rank 0 shows progress
    return CallbackList(
        callbacks,
        model=model,
        add_history=add_history,
        add_progbar=verbose != 0,
        verbose=verbose,
        epochs=epochs,
        steps=steps,
    )


def _begin_fit(model, callbacks, verbose, epochs, steps, initial_epoch):
    """Start a fit (arrays or a stream): the callback list, after on_train_begin, and the
    epoch and batch to start from."""
    cbl = _callback_list(
        model, callbacks, add_history=True, verbose=verbose, epochs=epochs, steps=steps
    )
    model.stop_training = False
    # A callback resuming an interrupted run (BackupAndRestore) sets these in on_train_begin:
    # the epoch to continue from and, for a mid-epoch backup, the first batch of that epoch.
    model._initial_epoch = model._initial_step = None
    cbl.on_train_begin()
    if model._initial_epoch is not None:
        initial_epoch = model._initial_epoch
    return cbl, initial_epoch, model._initial_step or 0


def _end_fit(model, cbl, epoch_logs):
    """Finish a fit: on_train_end, then the History the callbacks kept, as model.history."""
    cbl.on_train_end(epoch_logs)
    history = getattr(cbl, "history", None)
    if history is not None:
        model.history = history
    return model.history
