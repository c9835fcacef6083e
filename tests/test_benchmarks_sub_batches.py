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


def test_two_parts_are_gradient_accumulation():
    x, y = _data(48)  # batches of 16 = 8 + 8: no partial batch, whose weighting differs
    acc = _model(optimizers.RMSprop(gradient_accumulation_steps=2))
    acc.fit(x, y, batch_size=8, epochs=2, verbose=0)
    parts = _model(sub_batch_optimizer("rmsprop"))
    fit_sub_batches(parts, x, y, batch_size=16, k=2, epochs=2)
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
