"""What ``compile()`` resolves: per model output a loss, a loss weight and metrics.

``loss``, ``loss_weights`` and ``metrics`` take Keras's forms: one value for
every output, a list in output order, or a dict keyed by output name (the name
of the layer producing the output). Names are resolved by
:mod:`filterbank.losses` / :mod:`filterbank.metrics` (their errors carry the
"Did you mean" hints); objects that already have the interface (a Loss with
``forward_backward``, a Metric with ``update_state``/``result``) are used as is.

Log names follow Keras: "loss", and for a single output the metric names
("accuracy"); with several outputs also "<output>_loss" and "<output>_<metric>".

Example:
    >>> m = RunningMean()
    >>> m.update(2.0, 3); m.update(4.0, 1); m.result()
    2.5
"""

from __future__ import annotations

import copy
import numbers

import numpy as np

from ..errors import did_you_mean


class RunningMean:
    """A weighted running mean (the epoch loss: batch losses weighted by batch size)."""

    def __init__(self):
        self.total = 0.0
        self.count = 0.0

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update(self, value: float, weight: float) -> None:
        self.total += float(value) * float(weight)
        self.count += float(weight)

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


def resolve_loss(identifier):
    if identifier is None:
        return None
    if hasattr(identifier, "forward_backward") and not isinstance(identifier, type):
        return identifier
    from .. import losses

    return losses.get(identifier)


def resolve_metric(identifier, loss):
    if (
        hasattr(identifier, "update_state")
        and hasattr(identifier, "result")
        and not isinstance(identifier, type)
    ):
        return identifier
    from .. import metrics

    return metrics.get(identifier, loss=loss)


def resolve_optimizer(identifier):
    if hasattr(identifier, "apply_gradients") and not isinstance(identifier, type):
        return identifier
    from .. import optimizers

    return optimizers.get(identifier)


def _leaves(structure):
    if isinstance(structure, dict):
        return list(structure.values())
    if isinstance(structure, (list, tuple)):
        return list(structure)
    return [structure]


class OutputSpec:
    """One model output: its name, loss (or None), loss weight, metrics and trackers."""

    def __init__(self, name, loss, weight, metrics):
        self.name = name
        self.loss = loss
        self.weight = weight
        self.metrics = metrics
        self.tracker = RunningMean()
        self.fused = False  # softmax/sigmoid + cross-entropy computed from the logits


class CompiledOutputs:
    """The compile() arguments, resolved; bound to the model's outputs once it has a graph."""

    def __init__(self, loss, loss_weights, metrics):
        self.raw_loss = loss
        self.raw_loss_weights = loss_weights
        self.raw_metrics = metrics
        # Resolve every name now, so a typo fails in compile() and not in fit().
        if isinstance(loss, dict):
            self.loss = {k: resolve_loss(v) for k, v in loss.items()}
        elif isinstance(loss, (list, tuple)):
            self.loss = [resolve_loss(v) for v in loss]
        else:
            self.loss = resolve_loss(loss)
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            raise TypeError(
                "compile() argument metrics expects a list (e.g. metrics=['accuracy']) or a dict "
                f"by output name, got {type(metrics).__name__} {metrics!r}."
            )
        probe_loss = self.loss if not isinstance(self.loss, (list, dict)) else None
        for leaf in _leaves(metrics) if metrics is not None else []:
            for m in leaf if isinstance(leaf, (list, tuple)) else [leaf]:
                if m is not None:
                    resolve_metric(m, probe_loss)
        self.outputs: list[OutputSpec] = []
        self.total_tracker = RunningMean()

    # ---- binding to the outputs --------------------------------------------------------------
    def bind(self, model) -> None:
        names = model.output_names
        n = len(names)
        losses = self._per_output(self.loss, names, "loss", model.name)
        weights = self._per_output(self.raw_loss_weights, names, "loss_weights", model.name)
        metric_lists = self._metrics_per_output(names, model.name)
        self.outputs = []
        seen_metric_ids = set()
        for j in range(n):
            w = 1.0 if weights[j] is None else weights[j]
            if isinstance(w, bool) or not isinstance(w, numbers.Real) or not np.isfinite(w):
                raise ValueError(
                    f"compile() argument loss_weights for output '{names[j]}' must be a number, "
                    f"got {w!r}."
                )
            ms = []
            for ident in metric_lists[j]:
                m = resolve_metric(ident, losses[j])
                if id(m) in seen_metric_ids:  # one metric object given for several outputs
                    m = copy.deepcopy(m)
                seen_metric_ids.add(id(m))
                ms.append(m)
            self.outputs.append(OutputSpec(names[j], losses[j], float(w), ms))
        graph = model._graph
        for j, spec in enumerate(self.outputs):
            spec.fused = self._can_fuse(spec.loss, graph, j)

    @staticmethod
    def _can_fuse(loss, graph, j) -> bool:
        target = getattr(loss, "fuses_with", None) if loss is not None else None
        if not target:
            return False
        tensor = graph.outputs[j]
        layer = tensor.node.layer
        if layer.fused_activation != target:  # the layer contract's loss-fusion hook
            return False
        slot = graph.output_slots[j]
        # dLoss/dz replaces the layer's whole output gradient only if nothing else reads it.
        return graph.consumers[slot] == 0 and graph.output_slots.count(slot) == 1

    @staticmethod
    def _per_output(value, names, arg, model_name):
        n = len(names)
        if isinstance(value, dict):
            for k in value:
                if k not in names:
                    raise ValueError(
                        f"compile() argument {arg} has key {k!r}, which is not an output of model "
                        f"'{model_name}'. " + did_you_mean(k, names)
                    )
            return [value.get(k) for k in names]
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ValueError(
                    f"compile() argument {arg} is a list of {len(value)}, but model '{model_name}' "
                    f"has {n} output{'s' if n != 1 else ''} {names}. Pass one entry per output (or "
                    "a dict by output name)."
                )
            return list(value)
        return [value] * n

    def _metrics_per_output(self, names, model_name):
        metrics = self.raw_metrics
        n = len(names)
        if metrics is None:
            return [[] for _ in range(n)]
        if isinstance(metrics, dict):
            per = self._per_output(metrics, names, "metrics", model_name)
            return [
                [] if m is None else (list(m) if isinstance(m, (list, tuple)) else [m]) for m in per
            ]
        if (
            n > 1
            and len(metrics) == n
            and all(isinstance(m, (list, tuple)) or m is None for m in metrics)
        ):
            return [[] if m is None else list(m) for m in metrics]
        # A flat list applies to every output (as Keras 2).
        return [list(metrics) for _ in range(n)]

    # ---- bookkeeping -------------------------------------------------------------------------
    @property
    def has_loss(self) -> bool:
        if self.outputs:
            return any(spec.loss is not None for spec in self.outputs)
        return any(v is not None for v in _leaves(self.loss))

    @property
    def losses(self) -> list:
        return [spec.loss for spec in self.outputs]

    def reset(self) -> None:
        self.total_tracker.reset()
        for spec in self.outputs:
            spec.tracker.reset()
            for m in spec.metrics:
                m.reset_state()

    def update_metrics(self, ys, outs, sws) -> None:
        for spec, y, out, sw in zip(self.outputs, ys, outs, sws):
            if y is None:
                continue
            for m in spec.metrics:
                m.update_state(y, out, sample_weight=sw)

    def logs(self) -> dict:
        logs = {"loss": self.total_tracker.result()}
        multi = len(self.outputs) > 1
        if multi:
            for spec in self.outputs:
                if spec.loss is not None:
                    logs[f"{spec.name}_loss"] = spec.tracker.result()
        for spec in self.outputs:
            for m in spec.metrics:
                key = f"{spec.name}_{m.name}" if multi else m.name
                logs[key] = float(m.result())
        return logs

    def metrics_names(self) -> list[str]:
        names = ["loss"]
        multi = len(self.outputs) > 1
        if multi:
            names += [f"{s.name}_loss" for s in self.outputs if s.loss is not None]
        for spec in self.outputs:
            names += [f"{spec.name}_{m.name}" if multi else m.name for m in spec.metrics]
        return names
