"""The data-parallel strategy with K ranks as threads of this process (fake_comm.py): the
weighting of uneven shards, synchronised batch norm, sharded evaluation, the start-up checks
and which callbacks run where. No MPI needed."""

import os

import numpy as np
import pytest

import filterbank as keras
from filterbank import backend, callbacks, layers
from filterbank.distributed.data_parallel import DataParallel
from filterbank.distributed.sharding import split_sizes
from tests.distributed.fake_comm import run_ranks


def dense_model(units=5, bn=False, seed=0):
    keras.utils.set_random_seed(seed)
    stack = [keras.Input(shape=(6,)), layers.Dense(units, use_bias=not bn)]
    if bn:
        stack.append(layers.BatchNormalization())
    stack += [layers.Activation("tanh"), layers.Dense(3, activation="softmax")]
    model = keras.Sequential(stack)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n=11, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)), rng.integers(0, 3, size=n)


def data_parallel(k, build, body, rank_streams=False):
    """Models built one after another, then body(model, rank) on k threads, each model with
    its own DataParallel. The threads share filterbank's one global generator, so these tests
    do not shuffle (the MPI tests do)."""
    models = [build() for _ in range(k)]

    def fn(comm):
        model = models[comm.rank]
        model._distribution = DataParallel(comm, rank_streams=rank_streams)
        return body(model, comm)

    return run_ranks(k, fn)


@pytest.mark.parametrize("bn", [False, True])
@pytest.mark.parametrize("k", [2, 3, 4])
def test_uneven_shards_give_exactly_the_global_batch_step(float64, k, bn):
    """11 samples, batch 7: step 1 splits 7 unevenly (4+3, 3+2+2, 2+2+2+1), step 2 has 4
    samples (on 4 ranks one each; on 3 ranks 2+1+1). Weights after the epoch, the logged loss
    and accuracy and evaluate() equal one process's."""
    x, y = data()
    ref = dense_model(bn=bn)
    hist = ref.fit(x, y, batch_size=7, epochs=2, shuffle=False, verbose=0).history
    scores = ref.evaluate(x, y, batch_size=4, verbose=0)

    def body(model, comm):
        backend.set_floatx("float64")
        h = model.fit(x, y, batch_size=7, epochs=2, shuffle=False, verbose=0).history
        return model.get_weights(), h, model.evaluate(x, y, batch_size=4, verbose=0)

    for weights, h, s in data_parallel(k, lambda: dense_model(bn=bn), body):
        for got, want in zip(weights, ref.get_weights()):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(h["loss"], hist["loss"], rtol=1e-12)
        assert h["accuracy"] == hist["accuracy"]
        np.testing.assert_allclose(s, scores, rtol=1e-12)


def test_plain_averaging_of_uneven_shards_would_be_wrong(float64):
    """Why gradients are weighted by shard size: with 7 = 4 + 3 the mean of the two ranks'
    mean-loss gradients differs from the global batch's gradient."""
    x, y = data(7)
    grads = []
    for part in (slice(0, 7), slice(0, 4), slice(4, 7)):
        model = dense_model()
        model.train_step([x[part]], [y[part]])  # sgd: kernel_new = kernel - 0.01 * g
        start = dense_model().get_weights()[0]
        grads.append((start - model.get_weights()[0]) / 0.01)
    weighted = (4 * grads[1] + 3 * grads[2]) / 7
    np.testing.assert_allclose(weighted, grads[0], rtol=1e-9, atol=1e-12)
    assert np.max(np.abs((grads[1] + grads[2]) / 2 - grads[0])) > 1e-3


def test_one_fused_allreduce_per_step_and_broadcast_at_start():
    x, y = data(20)

    def body(model, comm):
        model.fit(x, y, batch_size=6, epochs=1, verbose=0)
        return list(comm.calls)

    for calls in data_parallel(2, dense_model, body):
        assert calls.count("Allreduce (gradients)") == 4  # ceil(20 / 6) steps
        assert calls.count("Bcast (weights)") == 1
        assert not any("batch-norm" in c for c in calls)


def test_rank_0_weights_win_at_start():
    x, y = data(8)
    models = [dense_model(seed=0), dense_model(seed=99)]
    want = [w.copy() for w in models[0].get_weights()]

    def fn(comm):
        model = models[comm.rank]
        model._distribution = DataParallel(comm, rank_streams=False)
        model.fit(x, y, batch_size=8, epochs=0, verbose=0)
        return model.get_weights()

    for weights in run_ranks(2, fn):
        for got, w in zip(weights, want):
            np.testing.assert_array_equal(got, w)


def test_batch_norm_statistics_are_those_of_the_global_batch(float64):
    x, y = data(9)
    ref = dense_model(bn=True)
    ref.fit(x, y, batch_size=9, epochs=1, shuffle=False, verbose=0)

    def body(model, comm):
        model.fit(x, y, batch_size=9, epochs=1, shuffle=False, verbose=0)
        return model.layers[1].get_weights()

    for got in data_parallel(3, lambda: dense_model(bn=True), body):
        for g, w in zip(got, ref.layers[1].get_weights()):  # gamma, beta, moving mean and var
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)


def test_shards_mode_each_rank_its_own_part(float64):
    """Ranks holding shards of 6 and 5 samples, batch 4 = 2 + 2: an epoch of 3 steps, the
    last with rank 1's shard used up after 2 steps... plus one sample left on rank 0."""
    x, y = data(11)
    bounds = [(0, 6), (6, 11)]
    order = []
    for step in range(3):
        for lo, hi in bounds:
            order += list(range(lo, hi))[step * 2 : (step + 1) * 2]
    ref = dense_model()
    ref.fit(x[order], y[order], batch_size=4, epochs=1, shuffle=False, verbose=0)

    def body(model, comm):
        lo, hi = bounds[comm.rank]
        model.fit(x[lo:hi], y[lo:hi], batch_size=4, epochs=1, shuffle=False, verbose=0)
        return model.get_weights(), model._distribution.mode

    for weights, mode in data_parallel(2, dense_model, body):
        assert mode == "shards"
        for got, want in zip(weights, ref.get_weights()):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_different_models_are_refused_on_every_rank():
    x, y = data(8)
    built = iter([dense_model(units=5), dense_model(units=4)])
    with pytest.raises(
        ValueError,
        match=r"the model on rank 1 differs from rank 0's: layer 0 is "
        r"Dense with weights kernel \(6, 5\).* on rank 0 but "
        r"Dense with weights kernel \(6, 4\)",
    ):
        data_parallel(2, lambda: next(built), lambda m, c: m.fit(x, y, batch_size=4, verbose=0))


def test_different_data_shapes_are_refused():
    x, y = data(8)

    def body(model, comm):
        weights = None if comm.rank == 0 else np.ones(8)  # only rank 1 weights its samples
        model.fit(x, y, sample_weight=weights, batch_size=4, verbose=0)

    with pytest.raises(
        ValueError,
        match=r"fit\(\) got data of other shapes on rank 1 than on "
        r"rank 0: \(6,\) float32, \(\) int64, \(\) float32 vs "
        r"\(6,\) float32, \(\) int64, None",
    ):
        data_parallel(2, dense_model, body)


def test_only_rank_0_prints_and_writes(tmp_path):
    x, y = data(8)

    class Verbosity(callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seen = self.params["verbose"]

    def body(model, comm):
        cbs = [
            callbacks.CSVLogger(str(tmp_path / f"log{comm.rank}.csv")),
            callbacks.ModelCheckpoint(str(tmp_path / f"m{comm.rank}.fbk")),
            Verbosity(),
        ]
        kept = model._distribution.fit_callbacks(cbs)
        model.fit(x, y, batch_size=4, epochs=1, verbose=2, callbacks=cbs)
        return [type(c).__name__ for c in kept], cbs[-1].seen

    (kept0, seen0), (kept1, seen1) = data_parallel(2, dense_model, body)
    assert kept0 == ["CSVLogger", "ModelCheckpoint", "Verbosity"] and kept1 == ["Verbosity"]
    assert sorted(os.listdir(tmp_path)) == ["log0.csv", "m0.fbk"]
    assert seen0 == 2 and seen1 == 0


def test_rank_streams_differ_by_rank_and_step_and_repeat():
    class Stub:
        def __init__(self, rank):
            self.rank, self.size = rank, 2

    keras.utils.set_random_seed(3)
    state = backend.get_rng_state()
    a0, a1 = (DataParallel(Stub(r)).step_generator(5).random(4) for r in (0, 1))
    b0 = DataParallel(Stub(0)).step_generator(6).random(4)
    assert backend.get_rng_state() == state  # the common generator does not move
    again = DataParallel(Stub(0)).step_generator(5).random(4)
    assert (a0 == again).all() and not np.allclose(a0, a1) and not np.allclose(a0, b0)


def test_global_batch_smaller_than_the_ranks_in_shards_mode_is_refused():
    x, y = data(8)

    def body(model, comm):
        model.fit(x[comm.rank :: 2], y[comm.rank :: 2], batch_size=1, verbose=0)

    with pytest.raises(ValueError, match="must be at least 2"):
        data_parallel(2, dense_model, body)


def test_split_sizes_used_for_local_batches():
    assert split_sizes(7, 3) == [3, 2, 2]


def test_a_loss_summed_over_the_batch_is_refused():
    x, y = data(8)

    def build():
        model = dense_model()
        model.compile(
            optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(reduction="sum")
        )
        return model

    with pytest.raises(ValueError, match=r"reduction='sum'.*Use reduction='sum_over_batch_size'"):
        data_parallel(2, build, lambda m, c: m.fit(x, y, batch_size=4, verbose=0))
