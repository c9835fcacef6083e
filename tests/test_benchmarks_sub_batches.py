"""benchmarks/sub_batches.py: K ranks' gradient sums in one process, bit for bit where
another path computes the same sums (K = 1: plain fit; K = 2: gradient accumulation)."""

import numpy as np
import pytest

import filterbank as keras
from benchmarks.sub_batches import fit_sub_batches, sub_batch_optimizer
from filterbank import optimizers, zoo


def _data(n=40):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(n, 28, 28, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, size=n), 10)
    return x, y


def _model(optimizer):
    keras.utils.set_random_seed(4)
    model = zoo.build("seed-sequential", (28, 28, 1), 10)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy")
    return model


def _same(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_one_part_is_plain_fit():
    x, y = _data()
    plain = _model("rmsprop")
    plain.fit(x, y, batch_size=16, epochs=2, verbose=0)
    parts = _model(sub_batch_optimizer("rmsprop"))
    assert fit_sub_batches(parts, x, y, batch_size=16, k=1, epochs=2) == 6
    _same(plain, parts)


@pytest.mark.parametrize("k", [2, 4])
def test_equal_power_of_two_parts_are_gradient_accumulation(k):
    x, y = _data(48)  # batches of 16 = k parts of 16 / k: no partial batch (weighted otherwise)
    acc = _model(optimizers.RMSprop(gradient_accumulation_steps=k))
    acc.fit(x, y, batch_size=16 // k, epochs=2, verbose=0)
    parts = _model(sub_batch_optimizer("rmsprop"))
    fit_sub_batches(parts, x, y, batch_size=16, k=k, epochs=2)
    _same(acc, parts)


def test_three_parts_weight_each_by_its_size():
    # 10 = 4 + 3 + 3: the weighted sum is the whole batch's gradient up to rounding.
    x, y = _data(10)
    whole = _model("sgd")
    whole.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    parts = _model(sub_batch_optimizer("sgd"))
    fit_sub_batches(parts, x, y, batch_size=10, k=3, epochs=1)
    for wa, wb in zip(whole.get_weights(), parts.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_needs_its_optimizer():
    x, y = _data(4)
    with pytest.raises(TypeError, match="sub_batch_optimizer"):
        fit_sub_batches(_model("sgd"), x, y, batch_size=4, k=2)


class _Comm:  # what DataParallel.permutation and batch_index touch
    def __init__(self, rank, size):
        self.rank, self.size, self.where = rank, size, ""


@pytest.mark.parametrize("n, k, batch", [(650, 3, 64), (40, 2, 16), (11, 3, 4)])
def test_shard_order_is_what_ranks_holding_shards_take(n, k, batch):
    from benchmarks.sub_batches import _shard_batches
    from filterbank.distributed.data_parallel import DataParallel
    from filterbank.distributed.sharding import split_bounds, split_sizes

    ours = list(_shard_batches(np.random.default_rng(7), n, k, batch))
    local = split_sizes(batch, k)
    assert len(ours) == max(
        -(-(hi - lo) // b) for (lo, hi), b in zip([split_bounds(n, k, r) for r in range(k)], local)
    )  # begin_fit's steps per epoch
    for r in range(k):
        dp = DataParallel(_Comm(r, k))
        dp.mode, dp._local_batch = "shards", split_sizes(batch, k)[r]
        lo, hi = split_bounds(n, k, r)
        perm = dp.permutation(np.random.default_rng(7), hi - lo)
        for step, parts in enumerate(ours):
            idx = dp.batch_index(step, perm, hi - lo, batch)
            want = [] if dp.batch_stats.phantom else list(lo + np.asarray(idx))
            assert list(parts[r]) == want, (r, step)
