"""What the ranks sum besides gradients: batch-norm statistics, and the cost of the gradient
Allreduce (for benchmarks).

Example (one rank: the statistics are this rank's own)::

    reducer = BatchStatsReducer(comm)         # comm: see comm.py
    total, mean, m2 = reducer.moments(count, mean, m2)
"""

from __future__ import annotations

import numpy as np


class StepStats:
    """What the gradient Allreduce cost: steps, seconds and bytes (for benchmarks)."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.steps = 0
        self.allreduce_seconds = 0.0
        self.bytes = 0

    def as_dict(self) -> dict:
        per = max(self.steps, 1)
        return {
            "steps": self.steps,
            "allreduce_seconds": self.allreduce_seconds,
            "allreduce_seconds_per_step": self.allreduce_seconds / per,
            "bytes_per_step": self.bytes / per,
        }


class BatchStatsReducer:
    """BatchNormalization's hook: the whole global batch's statistics from every rank's part.

    ``moments`` gathers each rank's (count, mean, centred sum of squares) and combines them in
    rank order (Chan et al.), so every rank gets the same numbers and the variance keeps its
    two-pass accuracy; ``sums`` returns the count-weighted sum of each rank's vectors (the
    backward pass's sums of dy and dy * x_hat). Both are one Allgather.
    """

    def __init__(self, comm):
        self.comm = comm
        self.phantom = False  # this rank computes a stand-in sample that must not count

    def moments(self, count, mean, m2):
        c = mean.shape[0]
        row = np.zeros(1 + 2 * c, dtype=np.float64)
        if not self.phantom:
            row[0], row[1 : 1 + c], row[1 + c :] = count, mean, m2
        table = self.comm.allgather(row, "Allgather (batch-norm statistics)")
        counts = table[:, :1]
        total = float(counts.sum())
        means, m2s = table[:, 1 : 1 + c], table[:, 1 + c :]
        mean_g = (counts * means).sum(axis=0) / total
        m2_g = m2s.sum(axis=0) + (counts * np.square(means - mean_g)).sum(axis=0)
        return total, mean_g, m2_g

    def sums(self, count, *vectors):
        sizes = [v.shape[0] for v in vectors]
        row = np.concatenate([[float(count)], *[np.asarray(v, np.float64) for v in vectors]])
        if self.phantom:
            row[...] = 0
        table = self.comm.allgather(row, "Allgather (batch-norm gradient sums)")
        weights = table[:, :1] / table[:, 0].sum()
        out, lo = [], 1
        for s in sizes:
            out.append((weights * table[:, lo : lo + s]).sum(axis=0))
            lo += s
        return out


__all__ = ["BatchStatsReducer", "StepStats"]
