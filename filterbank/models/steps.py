"""The three step functions the loops run, one batch each: train, test, predict.

``train_step`` is the whole optimisation step in one place (forward with
training=True, loss and dLoss/dOutput, backward through the graph, regularizer
gradients, one optimizer update), so a speed pass can work on it alone.

Shapes: ``x_batch`` is a list with one (batch, *input_shape) array per model
input; ``y_batch`` one target array per output (None where the output has no
loss); ``sample_weight`` one (batch,) array or None per output.

Example:
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> loss = model.train_step([np.ones((4, 3), "float32")], [np.zeros((4, 1), "float32")])
    >>> isinstance(loss, float)
    True
"""

from __future__ import annotations

import numpy as np

from . import validation as V


class StepsMixin:
    """train_step / test_step / predict_step on ``self._graph`` and ``self._compiled``."""

    # The data-parallel hook: None (one process) unless filterbank.distributed.initialize()
    # installed its strategy here. train_step then calls ``begin_step(model)`` first and
    # ``end_backward(model, loss, batch) -> (loss, batch)`` after backward (one Allreduce of the
    # gradients, the loss and the metric counts); fit and evaluate ask it for each rank's part of
    # a batch (filterbank/distributed/data_parallel.py). A model may set its own (tests do).
    _distribution = None

    def train_step(self, x_batch, y_batch, sample_weight=None) -> float:
        """One optimisation step on one batch; returns the batch's total loss.

        Args:
            x_batch: list of input arrays, each (batch, *input_shape).
            y_batch: list of targets, one per output (None where the output has no loss).
            sample_weight: list of (batch,) weights or None, one per output (or None).
        """
        graph = self._graph
        comp = self._compiled
        if sample_weight is None:
            sample_weight = [None] * len(comp.outputs)
        dist = self._distribution
        if dist is not None:
            dist.begin_step(self)
        outs = graph.forward(x_batch, training=True)
        total, grads, fused = self._loss_and_output_grads(y_batch, outs, sample_weight)
        comp.update_metrics(y_batch, outs, sample_weight)
        graph.backward(grads, fused)
        batch = x_batch[0].shape[0]
        if dist is not None:  # gradients, loss and metrics of the global batch, on every rank
            total, batch = dist.end_backward(self, total, batch)
        total += self._apply_gradients()
        comp.total_tracker.update(total, batch)
        return total

    def _loss_and_output_grads(self, y_batch, outs, sample_weight):
        """Weighted loss over the outputs, and dLoss/dOutput per output.

        Where an output layer's activation fuses with its loss (softmax/sigmoid +
        cross-entropy), the gradient is dLoss/dz of the pre-activation instead (fused[j]).
        Returns (total_loss_without_regularization, grads, fused).
        """
        graph = self._graph
        batch = outs[0].shape[0]
        grads, fused = [], []
        total = 0.0
        for spec, tensor, y, out, sw in zip(
            self._compiled.outputs, graph.outputs, y_batch, outs, sample_weight
        ):
            if spec.loss is None or y is None:
                grads.append(None)
                fused.append(False)
                continue
            # The fused path needs the layer's pre-activation (same shape as the output); a
            # layer that does not keep one takes the plain path, which is exact too.
            z = tensor.node.layer.preactivation() if spec.fused else None
            use_z = z is not None and z.shape == out.shape
            if use_z:
                value, g = spec.loss.forward_backward_logits(y, z, sw)
            else:
                value, g = spec.loss.forward_backward(y, out, sw)
            if spec.weight != 1.0:
                g = g * spec.weight
            spec.tracker.update(value, batch)
            total += spec.weight * value
            grads.append(g)
            fused.append(use_z)
        return total, grads, fused

    def _apply_gradients(self) -> float:
        """Add regularizer gradients, update trainable weights; returns the regularization loss."""
        reg = 0.0
        pairs = []
        for layer in self._graph.layers:
            names = layer.trainable_param_names()
            if not names:
                continue
            # Penalties are taken at the weights the forward pass used, before the update.
            reg += layer.regularization_loss()
            layer.add_regularization_grads()
            for n in names:
                pairs.append((layer.grads[n], layer.params[n], f"{layer.name}/{n}"))
        if pairs:
            self.optimizer.apply_gradients(pairs)
        return reg

    def test_step(self, x_batch, y_batch, sample_weight=None) -> float:
        """Loss and metrics on one batch (inference mode); returns the batch's total loss."""
        comp = self._compiled
        if sample_weight is None:
            sample_weight = [None] * len(comp.outputs)
        graph = self._graph
        # With a fused softmax/sigmoid + cross-entropy output the loss comes from the logits,
        # as in train_step (and Keras's TensorFlow backend), so fit and evaluate report the
        # same number even where the probabilities saturate. That needs the layers' cached
        # pre-activations, which the lean predict path does not keep.
        fused = any(spec.fused and spec.loss is not None for spec in comp.outputs)
        outs = graph.forward(x_batch, training=False) if fused else graph.predict(x_batch)
        batch = x_batch[0].shape[0]
        total = 0.0
        for spec, tensor, y, out, sw in zip(
            comp.outputs, graph.outputs, y_batch, outs, sample_weight
        ):
            if spec.loss is None or y is None:
                continue
            z = tensor.node.layer.preactivation() if spec.fused else None
            if z is not None and z.shape == out.shape:
                value, _ = spec.loss.forward_backward_logits(y, z, sw)
            else:
                value = float(spec.loss(y, out, sample_weight=sw))
            spec.tracker.update(value, batch)
            total += spec.weight * value
        total += sum(layer.regularization_loss() for layer in self._graph.layers)
        comp.total_tracker.update(total, batch)
        comp.update_metrics(y_batch, outs, sample_weight)
        return total

    def predict_step(self, x_batch) -> list[np.ndarray]:
        """Outputs for one batch (inference mode), one array per output."""
        return self._graph.predict(x_batch)

    def _batch_inputs(self, x, where: str) -> list[np.ndarray]:
        """``validation.prepare_inputs`` with a fast lane for one-batch calls.

        An array that already is what the model takes (one input, its dtype, its shape,
        C-contiguous) needs no conversion: only the NaN/inf scan runs (about 1 us for one
        28x28 image, 1% of a batch-64 prediction). Anything else takes the full path, with
        its conversions and messages.
        """
        graph = self._graph
        if graph is not None and type(x) is np.ndarray and graph.takes_as_is(x):
            if not _all_finite(x):
                V.check_finite(x, "x", where)  # raises, with the count and the first sample
            return [x]
        return V.prepare_inputs(self, x, where)


# Zeros for _all_finite's dot products, one block per float dtype: at most a few of 256 Ki
# elements (1 MB in float32), whatever the size of the arrays checked.
_ZERO_BLOCK = 1 << 18
_ZEROS: dict = {}


def _all_finite(x: np.ndarray) -> bool:
    """True when float array x has no NaN or inf.

    Large arrays: ``x . 0`` is 0 for finite x and NaN as soon as one value is NaN or +-inf
    (inf * 0 is NaN), so BLAS dot products answer it, 4x faster than
    ``np.isfinite(x).all()`` and with no temporary array; they run over blocks of
    ``_ZERO_BLOCK`` values, so the zeros kept stay small. Small arrays (one image): the
    plain test, cheaper than the dot product's error-state bookkeeping.

    Example:
        >>> _all_finite(np.ones(100_000, "float32")), _all_finite(np.array([1.0, np.inf]))
        (True, False)
    """
    if x.size < 8192:
        return bool(np.isfinite(x).all())
    flat = x.reshape(-1)
    zeros = _ZEROS.get(flat.dtype)
    if zeros is None:
        zeros = _ZEROS[flat.dtype] = np.zeros(_ZERO_BLOCK, flat.dtype)
    with np.errstate(invalid="ignore"):  # inf * 0: the answer, not a problem
        for i in range(0, flat.size, _ZERO_BLOCK):
            part = flat[i : i + _ZERO_BLOCK]
            if not np.isfinite(part @ zeros[: part.size]):
                return False
    return True
