"""K data-parallel ranks' gradient arithmetic, in one process (for distributed_accuracy.py).

``mpirun -n K`` with the full arrays on every rank splits each global batch into K contiguous
parts (``split_sizes``), and the gradient applied is ``sum_k(g_k * b_k) / n``: each rank's
mean-loss gradient g_k times its sample count b_k, summed over the ranks, divided by the
batch's n (filterbank/distributed/data_parallel.py). :func:`fit_sub_batches` does the same sums
in one process: fit's shuffled order, each global batch's K parts trained one after the other
(``train_on_batch``), an optimizer that keeps ``g_k * b_k`` in float32 and applies
``((g_0 b_0 + g_1 b_1) + ...) / n`` after the K-th. Summing in rank order is what an in-place
MPI Allreduce of two ranks does too (a + b = b + a); with three or more, Open MPI may add in
another order (and another for each segment of the buffer), which rounds differently.

``shards=True`` takes the samples as K ranks each holding its own block of the data
(``distributed.shard``) take them: each rank's block in its own shuffled order, so each step
holds other samples than one process's batch (a different order, not only other rounding).

Regularizer gradients, which the ranks add after their Allreduce, are added here to each
part's gradient: use it for models without regularizers (the seed recipe has none).

Where the parts are equal powers of two (K = 2 or 4 at batch 64) this is also Keras 3's
``gradient_accumulation_steps=K`` at ``batch_size=64 // K`` (tests/test_benchmarks_sub_batches.py
checks K = 1 against fit and K = 2, 4 against gradient accumulation, bit for bit).

Example:
    >>> import numpy as np
    >>> import filterbank as keras
    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    >>> model.compile(optimizer=sub_batch_optimizer("sgd"), loss="mse")
    >>> x, y = np.ones((10, 3), "float32"), np.zeros((10, 2), "float32")
    >>> fit_sub_batches(model, x, y, batch_size=4, k=3, epochs=1)
    3
"""

from __future__ import annotations

import math

import numpy as np

from filterbank import backend, optimizers
from filterbank.distributed.sharding import split_bounds, split_sizes


def sub_batch_optimizer(name: str = "rmsprop", **kwargs):
    """An optimizer of class ``name`` (e.g. "rmsprop") that sums sub-batch gradients as K
    ranks do; :func:`fit_sub_batches` tells it each global batch's part sizes."""
    base = type(optimizers.get(name))

    class SubBatchSum(base):
        def begin_batch(self, sizes) -> None:
            self._sizes = [b for b in sizes if b]
            self._part = 0
            self._sum = None

        def apply_gradients(self, grads_and_vars):
            items = list(grads_and_vars)
            b = self._sizes[self._part]
            # One rank's share, as FusedBuffer.pack makes it: g * b in the gradient's dtype.
            scaled = [np.multiply(g, b) for g, _, _ in items]
            if self._sum is None:
                self._sum = scaled
            else:
                for total, s in zip(self._sum, scaled):
                    total += s
            self._part += 1
            if self._part < len(self._sizes):
                return
            n = float(sum(self._sizes))
            super().apply_gradients(
                [
                    ((total / n).astype(p.dtype, copy=False), p, key)
                    for total, (_, p, key) in zip(self._sum, items)
                ]
            )

    SubBatchSum.__name__ = f"SubBatchSum{base.__name__}"
    return SubBatchSum(**kwargs)


def fit_sub_batches(
    model, x, y, batch_size: int, k: int, epochs: int = 1, shards: bool = False
) -> int:
    """Train as ``mpirun -n k`` would (see the module docstring); returns the optimizer steps.

    ``model`` must be compiled with :func:`sub_batch_optimizer`. The epoch's order is drawn
    from ``backend.rng()`` as ``fit(shuffle=True)`` draws it. With ``shards=True``, as each of
    k ranks holding its block of ``x`` (``distributed.shard``) would: each block in its own
    order, ``split_sizes(batch_size, k)[r]`` samples from block r per step, until the longest
    block is used up (filterbank/distributed/data_parallel.py)."""
    opt = model.optimizer
    if not hasattr(opt, "begin_batch"):
        raise TypeError(
            "fit_sub_batches: compile the model with sub_batch_optimizer(...), got "
            f"{type(opt).__name__}."
        )
    n = len(x)
    rng = backend.rng()
    steps = 0
    for _ in range(epochs):
        batches = (
            _shard_batches(rng, n, k, batch_size) if shards else _batches(rng, n, k, batch_size)
        )
        for parts in batches:
            opt.begin_batch([len(p) for p in parts])
            for part in parts:
                if len(part):
                    model.train_on_batch(x[part], y[part])
            steps += 1
    return steps


def _batches(rng, n, k, batch_size):
    """One epoch of the full arrays on k ranks: each batch's k contiguous parts."""
    perm = rng.permutation(n)
    for lo in range(0, n, batch_size):
        idx = perm[lo : lo + batch_size]
        bounds = np.cumsum([0, *split_sizes(len(idx), k)])
        yield [idx[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _shard_batches(rng, n, k, batch_size):
    """One epoch of k shards: DataParallel.permutation's orders, batch_index's parts."""
    seed = int(rng.integers(2**63))  # the draw every rank makes, in step
    orders, local = [], split_sizes(batch_size, k)
    for r in range(k):
        lo, hi = split_bounds(n, k, r)
        orders.append(lo + np.random.default_rng([seed, r]).permutation(hi - lo))
    steps = max(math.ceil(len(o) / b) for o, b in zip(orders, local))
    for step in range(steps):
        yield [o[step * b : (step + 1) * b] for o, b in zip(orders, local)]
