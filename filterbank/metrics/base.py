"""Metric base classes: Metric, Mean (a running weighted mean) and MeanMetricWrapper.

Every built-in metric is the weighted mean of per-sample values (Keras's
``reduce_to_samplewise_values``): values of shape (N, ...) are averaged over their
non-batch axes, each sample counts with its weight, so streaming over batches gives
the result over their concatenation.

Example:
    >>> from filterbank.metrics import Mean
    >>> m = Mean()
    >>> m.update_state([1.0, 2.0, 3.0])
    >>> m.result()
    2.0
"""

from __future__ import annotations

import numpy as np

from ..errors import fmt_shape
from ..losses import squeeze_or_expand_to_same_rank


class Metric:
    """Base class: ``reset_state()``, ``update_state(y_true, y_pred, sample_weight=None)``,
    ``result() -> float``; calling the metric updates it and returns the result."""

    default_name = "metric"

    def __init__(self, name=None, dtype=None):
        self.name = name or self.default_name
        self.dtype = dtype
        self.reset_state()

    def reset_state(self) -> None:
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError

    def __call__(self, *args, **kwargs) -> float:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


def _samplewise(values, sample_weight):
    """Keras's reduce_to_samplewise_values: (weighted per-sample values, per-sample weights).

    values (N, ...) -> mean over the non-batch axes; weights (N,) or shaped like values.
    """
    values = np.asarray(values, dtype=np.float64)
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        values, w = squeeze_or_expand_to_same_rank(values, w)
        if values.ndim > w.ndim:
            values = values.mean(axis=tuple(range(w.ndim, values.ndim)))
        try:
            w = np.broadcast_to(w, values.shape)
        except ValueError:
            raise ValueError(
                f"sample_weight of shape {fmt_shape(w.shape)} does not fit the metric values of "
                f"shape {fmt_shape(values.shape)}. Pass one weight per sample."
            ) from None
        values = values * w
        if w.ndim > 1:
            w = w.mean(axis=tuple(range(1, w.ndim)))
    else:
        w = None
    if values.ndim > 1:
        values = values.mean(axis=tuple(range(1, values.ndim)))
    return values, w


class Mean(Metric):
    """Running weighted mean of values (used to track the loss).

    ``update_state(values, sample_weight=None)``: values of shape (N, ...) are first
    averaged per sample; each sample counts with its weight (1 by default). A scalar
    value with ``sample_weight=batch_size`` counts as that many samples.

    Example:
        >>> m = Mean()
        >>> m.update_state(2.0, sample_weight=3)
        >>> m.update_state(6.0)
        >>> m.result()
        3.0
    """

    default_name = "mean"

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        values, w = _samplewise(values, sample_weight)
        self.total += float(values.sum())
        if w is not None:
            self.count += float(w.sum())
        else:
            self.count += float(values.shape[0]) if values.ndim else 1.0

    def result(self):
        return self.total / self.count if self.count else 0.0

    def get_state(self) -> dict[str, np.ndarray]:
        return {"total": np.array(self.total), "count": np.array(self.count)}

    def set_state(self, state) -> None:
        self.total, self.count = float(state["total"]), float(state["count"])


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred, **kwargs)`` (per-sample values) over all samples."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        self._fn = fn
        self._fn_kwargs = kwargs
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}
