"""fit / evaluate / predict on datasets, generators and PyDataset objects (models/data_adapters)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import filterbank as keras
from filterbank import callbacks, layers
from filterbank.callbacks.backup_and_restore import BackupAndRestore

X = np.random.default_rng(0).normal(size=(40, 5, 4, 2)).astype("float32")
Y = (X[:, :, :, 0].mean(axis=(1, 2)) > 0).astype("int64")
W = np.random.default_rng(1).uniform(0.5, 2.0, size=40).astype("float32")


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(5, 4, 2)),
            layers.Conv2D(3, 2, activation="relu"),
            layers.Dropout(0.2),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class Batches(keras.utils.PyDataset):
    """X, Y (and W) in batches of 8, in order."""

    def __init__(self, weights=False, n_batches=None, **kwargs):
        super().__init__(**kwargs)
        self.weights = weights
        self.n_batches = n_batches
        self.ends = 0
        self.seen = []

    def __len__(self):
        return math.ceil(len(X) / 8) if self.n_batches is None else self.n_batches

    def __getitem__(self, i):
        self.seen.append(i)
        s = slice(8 * i, 8 * i + 8)
        return (X[s], Y[s], W[s]) if self.weights else (X[s], Y[s])

    def on_epoch_end(self):
        self.ends += 1


def _gen(n=5, weights=False):
    for i in range(n):
        s = slice(8 * i, 8 * i + 8)
        yield (X[s], Y[s], W[s]) if weights else (X[s], Y[s])


def _same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


# ---- the same training as arrays ---------------------------------------------------------
@pytest.mark.parametrize("weights", [False, True])
def test_pydataset_without_shuffle_trains_exactly_like_the_arrays(weights):
    ref = _model()
    h_ref = ref.fit(
        X, Y, sample_weight=W if weights else None, batch_size=8, epochs=2, shuffle=False, verbose=0
    )
    model = _model()
    data = Batches(weights=weights, workers=4, use_multiprocessing=True, max_queue_size=3)
    h = model.fit(data, epochs=2, shuffle=False, verbose=0)
    _same_weights(ref, model)
    assert h.history == h_ref.history
    assert data.ends == 2
    assert data.seen == list(range(5)) * 2
    assert (data.workers, data.use_multiprocessing, data.max_queue_size) == (4, True, 3)


def test_generator_with_sample_weights_trains_exactly_like_the_arrays():
    ref = _model()
    ref.fit(X, Y, sample_weight=W, batch_size=8, epochs=1, shuffle=False, verbose=0)
    model = _model()
    model.fit(_gen(weights=True), epochs=1, verbose=0)
    _same_weights(ref, model)


def test_pydataset_shuffle_visits_every_batch_once_per_epoch_in_a_new_order():
    model, data = _model(), Batches()
    model.fit(data, epochs=3, verbose=0)
    epochs = [data.seen[i : i + 5] for i in range(0, 15, 5)]
    assert all(sorted(e) == list(range(5)) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1


def test_runs_are_deterministic_under_set_random_seed():
    runs = []
    for _ in range(2):
        model = _model(seed=7)
        model.fit(Batches(), epochs=2, verbose=0)
        runs.append(model)
    _same_weights(*runs)


def test_evaluate_and_predict_take_streams_and_equal_the_arrays():
    model = _model()
    model.fit(X, Y, epochs=1, verbose=0)
    want = model.evaluate(X, Y, batch_size=8, verbose=0)
    assert model.evaluate(Batches(), verbose=0) == pytest.approx(want, rel=1e-12)
    assert model.evaluate(_gen(), verbose=0) == pytest.approx(want, rel=1e-12)
    p = model.predict(X, verbose=0)
    np.testing.assert_allclose(model.predict(Batches(), verbose=0), p, rtol=1e-6)
    np.testing.assert_allclose(
        model.predict((X[i : i + 8] for i in range(0, 40, 8)), verbose=0), p, rtol=1e-6
    )
    assert model.predict(Batches(), steps=2, verbose=0).shape == (16, 2)


def test_validation_data_may_be_a_stream_and_validation_steps_limits_it():
    model = _model()
    h = model.fit(Batches(), validation_data=Batches(), validation_steps=2, epochs=1, verbose=0)
    want = model.evaluate(X[:16], Y[:16], verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(want[0], rel=1e-12)
    # arrays for training, a generator for validation
    model = _model()
    h = model.fit(X, Y, validation_data=_gen(2), epochs=1, verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(
        model.evaluate(X[:16], Y[:16], verbose=0)[0], rel=1e-12
    )


def test_an_iterable_is_passed_over_afresh_each_epoch():
    class Loader:
        def __iter__(self):
            return _gen()

    model = _model()
    h = model.fit(Loader(), epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2


# ---- generators and steps ----------------------------------------------------------------
def test_generator_with_steps_per_epoch_continues_across_epochs():
    model, seen = _model(), []

    def endless():
        i = 0
        while True:
            seen.append(i)
            yield X[8 * (i % 5) : 8 * (i % 5) + 8], Y[8 * (i % 5) : 8 * (i % 5) + 8]
            i += 1

    model.fit(endless(), steps_per_epoch=3, epochs=2, verbose=0)
    assert seen == list(range(6))


def test_generator_running_out_before_steps_per_epoch_warns_and_ends_the_epoch():
    model = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = model.fit(_gen(5), steps_per_epoch=3, epochs=3, verbose=0)
    assert len(h.history["loss"]) == 2  # 3 batches, then 2, then none: training stops


def test_generator_without_steps_has_an_unknown_length_until_it_ends(capsys):
    seen = {}
    cb = callbacks.LambdaCallback(on_train_begin=lambda logs: seen.update(cb.params))
    _model().fit(_gen(5), epochs=1, verbose=1, callbacks=[cb])
    assert seen["steps"] is None  # the progress bar shows n/Unknown while live
    assert "5/5 [" in capsys.readouterr().out  # and the count once the epoch is over


def test_class_weight_applies_to_stream_batches():
    ref = _model()
    ref.fit(X, Y, class_weight={0: 0.5, 1: 2.0}, batch_size=8, shuffle=False, verbose=0)
    model = _model()
    model.fit(_gen(), class_weight={0: 0.5, 1: 2.0}, verbose=0)
    _same_weights(ref, model)


def test_callbacks_see_every_batch_of_a_stream():
    seen = []
    cb = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    _model().fit(Batches(), epochs=2, callbacks=[cb], verbose=0)
    assert seen == list(range(5)) * 2


# ---- errors ------------------------------------------------------------------------------
def test_a_batch_of_the_wrong_shape_mid_epoch_names_the_batch_and_both_shapes():
    def bad():
        yield from _gen(3)
        yield X[:8, :, :3], Y[:8]

    with pytest.raises(
        ValueError,
        match=r"fit\(\): batch 3 of the generator: .*\(None, 5, 4, 2\)"
        r".*\(8, 5, 3, 2\)",
    ):
        _model().fit(bad(), verbose=0)


def test_labels_that_change_layout_mid_epoch_are_named():
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 3), "float32")

    def gen():
        yield x, np.ones((4, 2), "float32")
        yield x, np.ones((4, 1), "float32")

    with pytest.raises(ValueError, match="batch 1 of the generator"):
        model.fit(gen(), verbose=0)


def test_a_pydataset_of_length_zero_is_refused():
    with pytest.raises(ValueError, match=r"PyDataset \(Batches\) whose __len__\(\) is 0"):
        _model().fit(Batches(n_batches=0), verbose=0)


def test_a_pydataset_without_len_says_what_to_implement():
    class NoLen(keras.utils.PyDataset):
        def __getitem__(self, i):
            return X[:8], Y[:8]

        def on_epoch_end(self):
            pass

    with pytest.raises(NotImplementedError, match="must implement __len__"):
        _model().fit(NoLen(), verbose=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(y=Y), "argument y must be None"),
        (dict(sample_weight=W), "argument sample_weight must be None"),
        (dict(validation_split=0.2), "validation_split=0.2 works with arrays only"),
    ],
)
def test_arguments_that_a_stream_carries_itself_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _model().fit(Batches(), verbose=0, **kwargs)


def test_batches_without_targets_are_refused_by_fit():
    with pytest.raises(ValueError, match="batch 0 of the generator: it has no targets"):
        _model().fit((X[i : i + 8] for i in range(0, 40, 8)), verbose=0)


def test_a_tuple_of_four_is_not_a_batch():
    with pytest.raises(ValueError, match=r"batch 0 .* tuple of 4 items"):
        _model().fit(iter([(X[:8], Y[:8], W[:8], W[:8])]), verbose=0)


def test_array_like_inputs_are_not_streams():
    from filterbank.models.data_adapters import is_stream

    assert not any(is_stream(v) for v in (X, [X], (X, X), {"a": X}, None, "x"))
    assert all(is_stream(v) for v in (_gen(), Batches(), iter([1]), range(3)))


# ---- resuming --------------------------------------------------------------------------
class Interrupt(callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("save_freq, at", [("epoch", (2, 1)), (2, (1, 2))])
def test_backup_and_restore_resumes_a_shuffled_pydataset_bit_identically(tmp_path, save_freq, at):
    def fit(extra, folder):
        model = _model(seed=3)
        cbs = [BackupAndRestore(tmp_path / folder, save_freq=save_freq), *extra]
        return model, model.fit(
            Batches(), epochs=4, callbacks=cbs, validation_data=Batches(), verbose=0
        )

    ref, h_ref = fit([], "ref")
    with pytest.raises(KeyboardInterrupt):
        fit([Interrupt(*at)], "b")
    resumed, h = fit([], "b")
    _same_weights(ref, resumed)
    assert h.history == h_ref.history


def test_warnings_are_not_raised_for_a_complete_generator():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _model().fit(_gen(5), epochs=1, verbose=0)
