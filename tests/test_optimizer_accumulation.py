"""gradient_accumulation_steps (filterbank/optimizers/accumulation.py): Keras 3's semantics,
with real Keras (torch backend) as the oracle where it is installed."""

import os

import numpy as np
import pytest

import filterbank as keras
from filterbank import optimizers


def _grads(steps, shape=(3, 2), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype("float32") for _ in range(steps)]


def test_updates_every_n_calls_with_the_mean():
    w = np.ones(3, "float32")
    opt = optimizers.SGD(0.5, gradient_accumulation_steps=3)
    g = [np.full(3, v, "float32") for v in (1.0, 2.0, 6.0, 4.0)]
    for i, gi in enumerate(g[:2]):
        opt.apply_gradients([(gi, w, "w")])
        assert w.tolist() == [1, 1, 1] and opt.iterations == 0 and opt._iterations == i + 1
    opt.apply_gradients([(g[2], w, "w")])
    np.testing.assert_array_equal(w, np.float32(1) - np.float32(0.5) * np.float32(3))
    assert opt.iterations == 1 and not opt._slots["w"]["gradient_accumulator"].any()
    opt.apply_gradients([(g[3], w, "w")])  # starts the next accumulation only
    assert opt.iterations == 1 and opt._slots["w"]["gradient_accumulator"].tolist() == [4] * 3


@pytest.mark.parametrize("bad", [1, -2, 2.5, True, "2"])
def test_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        optimizers.Adam(gradient_accumulation_steps=bad)


def test_config_and_state_round_trip():
    opt = optimizers.RMSprop(gradient_accumulation_steps=2)
    assert opt.get_config()["gradient_accumulation_steps"] == 2
    assert optimizers.RMSprop.from_config(opt.get_config()).gradient_accumulation_steps == 2
    w = np.ones((3, 2), "float32")
    g = _grads(5)
    for gi in g[:3]:  # stop mid-accumulation: the accumulator is state
        opt.apply_gradients([(gi, w, "w")])
    state = opt.get_state()
    assert int(state["iterations"]) == 3 and "w/gradient_accumulator" in state
    other = optimizers.RMSprop(gradient_accumulation_steps=2)
    other.set_state(state)
    w2 = w.copy()
    for gi in g[3:]:
        opt.apply_gradients([(gi, w, "w")])
        other.apply_gradients([(gi, w2, "w")])
    np.testing.assert_array_equal(w, w2)
    assert other.iterations == opt.iterations == 2


def test_adam_bias_correction_counts_updates():
    # Two calls accumulated once are one Adam step on their mean: t = 1.
    g = _grads(2)
    w1, w2 = np.ones((3, 2), "float32"), np.ones((3, 2), "float32")
    optimizers.Adam(0.1).apply_gradients([((g[0] + g[1]) / 2, w1, "w")])
    optimizers_acc = optimizers.Adam(0.1, gradient_accumulation_steps=2)
    for gi in g:
        optimizers_acc.apply_gradients([(gi, w2, "w")])
    np.testing.assert_array_equal(w1, w2)


def test_fit_with_accumulation_matches_a_manual_loop():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = rng.normal(size=(40, 1)).astype("float32")

    def model(opt):
        keras.utils.set_random_seed(3)
        m = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
        m.compile(optimizer=opt, loss="mse")
        return m

    fitted = model(optimizers.SGD(0.1, gradient_accumulation_steps=2))
    fitted.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert fitted.optimizer.iterations == 2 and fitted.optimizer._iterations == 5
    manual = model(optimizers.SGD(0.1))
    kernel, bias = manual.layers[0].params["kernel"], manual.layers[0].params["bias"]
    grads = []
    for lo in range(0, 40, 8):
        xb, yb = x[lo : lo + 8], y[lo : lo + 8]
        err = (xb @ kernel + bias - yb) * np.float32(2 / 8)
        grads.append((xb.T @ err, err.sum(0)))
        if len(grads) == 2:
            gk = (grads[1][0] + grads[0][0]) / 2
            gb = (grads[1][1] + grads[0][1]) / 2
            kernel -= np.float32(0.1) * gk
            bias -= np.float32(0.1) * gb
            grads = []
    np.testing.assert_allclose(fitted.layers[0].params["kernel"], kernel, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fitted.layers[0].params["bias"], bias, rtol=1e-5, atol=1e-6)


def _keras_oracle():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch", reason="real Keras runs on its torch backend here")
    real = pytest.importorskip("keras", reason="the Keras oracle needs keras 3")
    if real.backend.backend() != "torch":  # pragma: no cover
        pytest.skip("the Keras oracle runs with KERAS_BACKEND=torch")
    return real


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
        ("RMSprop", {"learning_rate": 0.01}),
        ("Adam", {"learning_rate": 0.01, "weight_decay": 0.1, "clipnorm": 1.0}),
    ],
)
def test_matches_keras_3(name, kwargs):
    real = _keras_oracle()
    steps, calls = 3, 8  # 2 updates, and 2 calls left in the accumulators
    g = _grads(calls)
    w0 = np.random.default_rng(5).normal(size=(3, 2)).astype("float32")
    ours = getattr(optimizers, name)(gradient_accumulation_steps=steps, **kwargs)
    w = w0.copy()
    theirs = getattr(real.optimizers, name)(gradient_accumulation_steps=steps, **kwargs)
    v = real.Variable(w0.copy())
    for gi in g:
        ours.apply_gradients([(gi, w, "w")])
        theirs.apply_gradients([(real.ops.convert_to_tensor(gi), v)])
    np.testing.assert_allclose(w, real.ops.convert_to_numpy(v), rtol=1e-6, atol=1e-7)
    assert ours.iterations == int(real.ops.convert_to_numpy(theirs.iterations)) == 2


def test_a_saved_model_resumes_mid_accumulation(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(24, 4)).astype("float32")
    y = rng.normal(size=(24, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizers.Adam(0.01, gradient_accumulation_steps=2), loss="mse")
    model.train_on_batch(x[:8], y[:8])  # one gradient waiting in the accumulators
    model.save(tmp_path / "m.fbk")
    again = keras.models.load_model(tmp_path / "m.fbk")
    assert again.optimizer.gradient_accumulation_steps == 2 and again.optimizer._iterations == 1
    for m in (model, again):
        m.train_on_batch(x[8:16], y[8:16])
        m.train_on_batch(x[16:], y[16:])
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert again.optimizer.iterations == 1
