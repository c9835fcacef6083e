"""Optimizers against a literal transcription of Keras 3's formulas, schedules, clipping,
state round trips, configs and error messages."""

import json
import warnings

import numpy as np
import pytest
from optimizer_reference import run

from filterbank import optimizers
from filterbank.optimizers import schedules

CONFIGS = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.5, "nesterov": True}),
    ("RMSprop", {}),
    ("RMSprop", {"rho": 0.8, "momentum": 0.7, "epsilon": 1e-3}),
    ("RMSprop", {"centered": True, "epsilon": 1e-2}),
    ("RMSprop", {"centered": True, "momentum": 0.3}),
    ("Adam", {}),
    ("Adam", {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-2}),
    ("Adam", {"amsgrad": True, "epsilon": 1e-3}),
    ("AdamW", {"epsilon": 1e-3}),
]
EXTRAS = [  # (weight_decay, clipping, schedule?)
    (None, None, False),
    (0.05, {"clipnorm": 0.5}, True),
    (None, {"global_clipnorm": 0.7}, False),
    (0.01, {"clipvalue": 0.2}, True),
]


def _problem(seed, dtype=np.float64, steps=6):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(5).astype(dtype)]
    grads = [[rng.standard_normal(p.shape).astype(dtype) for p in params] for _ in range(steps)]
    return params, grads


def _apply(opt, params, grad_seq):
    params = [p.copy() for p in params]
    for grads in grad_seq:
        opt.apply_gradients([(g, p, f"layer/w{i}") for i, (g, p) in enumerate(zip(grads, params))])
    return params


@pytest.mark.parametrize("cls_name,hyper", CONFIGS)
@pytest.mark.parametrize("extra", range(len(EXTRAS)))
def test_matches_keras_formulas(cls_name, hyper, extra):
    weight_decay, clips, scheduled = EXTRAS[extra]
    if cls_name == "AdamW":
        weight_decay = weight_decay or 0.004
    params, grads = _problem(seed=extra * 31 + len(hyper))
    if scheduled:
        lr = schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5)
        lr_fn = lr.__call__
    else:
        lr, lr_fn = 0.05, (lambda step: 0.05)
    opt = getattr(optimizers, cls_name)(
        learning_rate=lr, weight_decay=weight_decay, **(clips or {}), **hyper
    )
    ours = _apply(opt, params, grads)
    ref, ref_states = run(cls_name, hyper, params, grads, lr_fn, weight_decay, clips)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    state = opt.get_state()
    assert int(state["iterations"]) == len(grads)
    for i, ref_state in enumerate(ref_states):
        slots = {k.rpartition("/")[2] for k in state if k.startswith(f"layer/w{i}/")}
        assert slots == set(ref_state)
        for slot, value in ref_state.items():
            np.testing.assert_allclose(state[f"layer/w{i}/{slot}"], value, rtol=1e-12, atol=1e-14)


def test_keras_docstring_example():
    # keras.optimizers.RMSprop docstring: var1 = 10, loss = var1**2 / 2, one step at lr 0.1.
    w = np.array(10.0)
    optimizers.RMSprop(learning_rate=0.1).apply_gradients([(w.copy(), w, "var1")])
    assert float(w) == pytest.approx(9.683772, abs=1e-6)


def test_keras_sgd_momentum_differs_from_pytorch_when_lr_changes():
    # Keras's velocity carries lr inside; PyTorch's buffer does not. Ours follows Keras.
    w = np.array([0.0])
    opt = optimizers.SGD(learning_rate=1.0, momentum=0.5)
    opt.apply_gradients([(np.array([1.0]), w, "w")])  # v = -1, w = -1
    opt.learning_rate = 0.1
    opt.apply_gradients([(np.array([1.0]), w, "w")])  # v = -0.5 - 0.1 = -0.6, w = -1.6
    assert w[0] == pytest.approx(-1.6)  # PyTorch: buf = 1.5, w = -1 - 0.15 = -1.15


@pytest.mark.parametrize("cls_name,hyper", CONFIGS)
def test_float32_stays_float32_in_place(cls_name, hyper):
    params, grads = _problem(seed=7, dtype=np.float32)
    opt = getattr(optimizers, cls_name)(learning_rate=0.01, **hyper)
    arrays = [p.copy() for p in params]
    ids = [id(a) for a in arrays]
    for step_grads in grads:
        opt.apply_gradients([(g, p, f"k{i}") for i, (g, p) in enumerate(zip(step_grads, arrays))])
    assert [id(a) for a in arrays] == ids
    assert all(a.dtype == np.float32 for a in arrays)
    assert all(
        v.dtype == np.float32
        for k, v in opt.get_state().items()
        if k not in ("iterations", "learning_rate")
    )
    ref = _apply(
        getattr(optimizers, cls_name)(learning_rate=0.01, **hyper),
        [p.astype(np.float64) for p in params],
        [[g.astype(np.float64) for g in s] for s in grads],
    )
    for a, b in zip(arrays, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_gradients_are_not_modified(rng):
    g = rng.standard_normal((4, 4)) * 10
    before = g.copy()
    for clip in ({"clipnorm": 1.0}, {"clipvalue": 0.1}, {"global_clipnorm": 1.0}):
        optimizers.Adam(**clip).apply_gradients([(g, rng.standard_normal((4, 4)), "k")])
    np.testing.assert_array_equal(g, before)


def test_clip_helpers():
    g = np.array([3.0, 4.0])
    np.testing.assert_allclose(optimizers.clip_by_norm(g, 1.0), [0.6, 0.8])
    assert optimizers.clip_by_norm(g, 10.0) is g
    a, b = optimizers.clip_by_global_norm([np.array([3.0]), np.array([4.0])], 2.5)
    np.testing.assert_allclose([a[0], b[0]], [1.5, 2.0])
    (a,) = optimizers.clip_by_global_norm([np.array([np.inf])], 1.0)
    assert np.isnan(a[0])  # as Keras: a non-finite norm shows up as NaN


# ---- state ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls_name,hyper", CONFIGS)
def test_state_round_trip_resumes_bit_identically(cls_name, hyper):
    params, grads = _problem(seed=3, dtype=np.float32, steps=8)
    lr = schedules.CosineDecay(0.05, decay_steps=6)
    opt = getattr(optimizers, cls_name)(learning_rate=lr, **hyper)
    first = _apply(opt, params, grads[:4])
    state = opt.get_state()
    saved = {k: v.copy() for k, v in state.items()}
    # Straight on.
    straight = _apply(opt, first, grads[4:])
    # Resumed: a fresh optimizer from the config (as after loading a file), then the state.
    fresh = optimizers.deserialize(json.loads(json.dumps(optimizers.serialize(opt))))
    fresh.set_state(state)
    resumed = _apply(fresh, first, grads[4:])
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)
    for k, v in saved.items():  # get_state gave copies: later steps did not touch them
        np.testing.assert_array_equal(state[k], v)


def test_state_keeps_a_changed_learning_rate():
    opt = optimizers.RMSprop(learning_rate=0.01)
    w = np.ones(3)
    opt.apply_gradients([(np.ones(3), w, "w")])
    opt.learning_rate = 0.002  # what ReduceLROnPlateau does
    fresh = optimizers.RMSprop(learning_rate=0.01)
    fresh.set_state(opt.get_state())
    assert fresh.learning_rate == 0.002 and fresh.iterations == 1


def test_set_state_validates():
    adam = optimizers.Adam()
    w = np.ones((2, 2))
    adam.apply_gradients([(np.ones((2, 2)), w, "dense/kernel")])
    state = adam.get_state()
    with pytest.raises(
        ValueError,
        match=r"unexpected key 'dense/kernel/momentum'.*slots "
        r"\['velocity'\].*different optimizer",
    ):
        optimizers.RMSprop().set_state(state)
    with pytest.raises(ValueError, match="needs an 'iterations' entry"):
        optimizers.Adam().set_state({k: v for k, v in state.items() if k != "iterations"})
    with pytest.raises(ValueError, match=r"'dense/kernel' lacks slots \['velocity'\]"):
        optimizers.Adam().set_state(
            {k: v for k, v in state.items() if k != "dense/kernel/velocity"}
        )
    bad = dict(state, **{"dense/kernel/velocity": np.zeros(3)})
    with pytest.raises(ValueError, match="disagree in shape"):
        optimizers.Adam().set_state(bad)
    with pytest.raises(ValueError, match="non-negative integer"):
        optimizers.Adam().set_state(dict(state, iterations=np.array(1.5)))
    # A shape change between the state and the model is caught at the next update.
    fresh = optimizers.Adam()
    fresh.set_state(state)
    with pytest.raises(
        ValueError,
        match=r"state 'dense/kernel/momentum' of shape \(2, 2\).*"
        r"has shape \(3, 2\)",
    ):
        fresh.apply_gradients([(np.ones((3, 2)), np.ones((3, 2)), "dense/kernel")])
    sched = optimizers.SGD(learning_rate=schedules.InverseTimeDecay(0.1, 1, 0.5))
    with pytest.raises(ValueError, match="uses a schedule"):
        sched.set_state({"iterations": np.array(2), "learning_rate": np.array(0.1)})


# ---- learning rate and schedules -----------------------------------------------------------


def test_schedule_is_evaluated_at_iterations():
    sched = schedules.PiecewiseConstantDecay([1, 2], [1.0, 0.5, 0.25])
    opt = optimizers.SGD(learning_rate=sched)
    w = np.zeros(1)
    seen = []
    for _ in range(4):
        seen.append(opt.current_learning_rate())
        opt.apply_gradients([(np.ones(1), w, "w")])
    assert seen == [1.0, 1.0, 0.5, 0.25]
    assert w[0] == pytest.approx(-2.75)
    assert opt.learning_rate is sched
    with pytest.raises(TypeError, match="created with a LearningRateSchedule.*float"):
        opt.learning_rate = 0.1


@pytest.mark.parametrize(
    "schedule,steps,expected",
    [
        (
            schedules.ExponentialDecay(0.1, 10, 0.5),
            [0, 5, 10, 25],
            [0.1, 0.1 * 0.5**0.5, 0.05, 0.1 * 0.5**2.5],
        ),
        (schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True), [9, 10, 25], [0.1, 0.05, 0.025]),
        (schedules.InverseTimeDecay(1.0, 2, 0.5), [0, 2, 3], [1.0, 1 / 1.5, 1 / 1.75]),
        (schedules.InverseTimeDecay(1.0, 2, 0.5, staircase=True), [3], [1 / 1.5]),
        (schedules.PolynomialDecay(1.0, 10, 0.0, power=2.0), [0, 5, 20], [1.0, 0.25, 0.0]),
        (schedules.PolynomialDecay(1.0, 10, 0.0, cycle=True), [0, 5, 15], [1.0, 0.5, 0.25]),
        (schedules.CosineDecay(1.0, 10, alpha=0.1), [0, 5, 10, 30], [1.0, 0.55, 0.1, 0.1]),
        (
            schedules.CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=4),
            [0, 2, 4, 9, 14, 99],
            [0.0, 0.5, 1.0, 0.5, 0.0, 0.0],
        ),
        (schedules.CosineDecayRestarts(1.0, 10), [0, 5, 10, 20, 30], [1.0, 0.5, 1.0, 0.5, 1.0]),
        (schedules.CosineDecayRestarts(1.0, 10, t_mul=1.0, m_mul=0.5), [10, 15], [0.5, 0.25]),
        (
            schedules.PiecewiseConstantDecay([10, 20], [3.0, 2.0, 1.0]),
            [0, 10, 11, 20, 21],
            [3.0, 3.0, 2.0, 2.0, 1.0],
        ),
    ],
)
def test_schedule_values(schedule, steps, expected):
    np.testing.assert_allclose([schedule(s) for s in steps], expected, atol=1e-12)
    again = schedules.deserialize(json.loads(json.dumps(schedules.serialize(schedule))))
    assert type(again) is type(schedule) and again.get_config() == schedule.get_config()
    assert [again(s) for s in steps] == [schedule(s) for s in steps]


def test_schedule_errors():
    with pytest.raises(ValueError, match="decay_steps > 0"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="one more value than boundaries"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        schedules.PiecewiseConstantDecay([2, 1], [1.0, 2.0, 3.0])
    with pytest.raises(
        ValueError,
        match="Unknown learning rate schedule 'ExponentialDecy'. Did you mean 'ExponentialDecay'",
    ):
        schedules.deserialize({"class_name": "ExponentialDecy", "config": {}})


def test_exclude_from_weight_decay():
    opt = optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    k, b = np.ones(2), np.ones(2)
    opt.apply_gradients([(np.zeros(2), k, "dense/kernel"), (np.zeros(2), b, "dense/bias")])
    np.testing.assert_allclose(k, 0.95)
    np.testing.assert_array_equal(b, 1.0)


# ---- config, lookup, errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name,cls,defaults",
    [
        (
            "rmsprop",
            optimizers.RMSprop,
            {
                "learning_rate": 0.001,
                "rho": 0.9,
                "momentum": 0.0,
                "epsilon": 1e-7,
                "centered": False,
                "name": "rmsprop",
            },
        ),
        (
            "adam",
            optimizers.Adam,
            {
                "learning_rate": 0.001,
                "beta_1": 0.9,
                "beta_2": 0.999,
                "epsilon": 1e-7,
                "amsgrad": False,
                "name": "adam",
            },
        ),
        (
            "SGD",
            optimizers.SGD,
            {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False, "name": "SGD"},
        ),
        (
            "AdamW",
            optimizers.AdamW,
            {"learning_rate": 0.001, "weight_decay": 0.004, "epsilon": 1e-7, "name": "adamw"},
        ),
    ],
)
def test_get_gives_keras_defaults(name, cls, defaults):
    opt = optimizers.get(name)
    assert type(opt) is cls
    config = opt.get_config()
    assert {k: config[k] for k in defaults} == defaults
    assert config["clipnorm"] is None and config["global_clipnorm"] is None
    assert optimizers.get(opt) is opt
    assert type(optimizers.get(cls)) is cls
    again = optimizers.get(json.loads(json.dumps(optimizers.serialize(opt))))
    assert type(again) is cls and again.get_config() == config


def test_config_round_trip_with_schedule():
    opt = optimizers.Adam(
        learning_rate=schedules.ExponentialDecay(0.01, 100, 0.9, staircase=True),
        amsgrad=True,
        clipnorm=1.0,
        name="my_adam",
    )
    data = json.loads(json.dumps(optimizers.serialize(opt)))
    assert data["config"]["learning_rate"]["class_name"] == "ExponentialDecay"
    again = optimizers.deserialize(data)
    assert again.get_config() == opt.get_config()
    assert again.current_learning_rate() == pytest.approx(0.01)


def test_loads_a_keras_3_config():
    # What keras.optimizers.serialize(keras.optimizers.Adam()) writes (Keras 3).
    data = {
        "module": "keras.optimizers",
        "class_name": "Adam",
        "registered_name": None,
        "config": {
            "name": "adam",
            "learning_rate": 0.0005,
            "weight_decay": None,
            "clipnorm": None,
            "global_clipnorm": None,
            "clipvalue": None,
            "use_ema": False,
            "ema_momentum": 0.99,
            "ema_overwrite_frequency": None,
            "loss_scale_factor": None,
            "gradient_accumulation_steps": None,
            "beta_1": 0.9,
            "beta_2": 0.999,
            "epsilon": 1e-07,
            "amsgrad": False,
        },
    }
    opt = optimizers.deserialize(data)
    assert type(opt) is optimizers.Adam and opt.learning_rate == 0.0005
    assert opt.get_config() == data["config"]
    legacy = dict(data["config"], jit_compile=True, is_legacy_optimizer=False)
    assert optimizers.Adam.from_config(legacy).get_config() == data["config"]


def test_optimizer_errors():
    with pytest.raises(ValueError, match="Unknown optimizer 'rmsprob'. Did you mean 'rmsprop'"):
        optimizers.get("rmsprob")
    with pytest.raises(TypeError, match="Could not interpret optimizer"):
        optimizers.get(0.1)
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="learning_rate >= 0"):
        optimizers.Adam(learning_rate=-1.0)
    with pytest.raises(ValueError, match="momentum in \\[0, 1\\]"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(TypeError, match="keyword argument 'beta1'.*Did you mean 'beta_1'"):
        optimizers.Adam(beta1=0.9)
    with pytest.raises(ValueError, match="use_ema=True.*does not implement"):
        optimizers.Adam(use_ema=True)
    with pytest.raises(ValueError, match="AdamW expects weight_decay to be a float"):
        optimizers.AdamW(weight_decay=None)
    opt = optimizers.SGD()
    with pytest.raises(
        ValueError,
        match=r"gradient of shape \(3,\) for parameter 'd/k' of "
        r"shape \(2,\)",
    ):
        opt.apply_gradients([(np.ones(3), np.ones(2), "d/k")])
    with pytest.raises(ValueError, match="key 'd/k' twice"):
        opt.apply_gradients([(np.ones(2), np.ones(2), "d/k"), (np.ones(2), np.ones(2), "d/k")])
    with pytest.raises(ValueError, match=r"\(grad, param, key\) triples"):
        opt.apply_gradients([(np.ones(2), np.ones(2))])
    with pytest.raises(TypeError, match="float NumPy arrays in place"):
        opt.apply_gradients([(np.ones(2), [1.0, 2.0], "d/k")])
    assert opt.iterations == 0  # failed calls changed nothing
    opt.apply_gradients([])
    assert opt.iterations == 0


def test_legacy_arguments():
    with pytest.warns(UserWarning, match="renamed `learning_rate`"):
        opt = optimizers.Adam(lr=0.01)
    assert opt.learning_rate == 0.01
    with pytest.warns(UserWarning, match="`decay` is no longer supported"):
        optimizers.SGD(decay=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizers.Adam(use_ema=False, ema_momentum=0.99)  # Keras config defaults load silently


@pytest.mark.parametrize(
    "module",
    [
        "filterbank.optimizers",
        "filterbank.optimizers.base",
        "filterbank.optimizers.sgd",
        "filterbank.optimizers.adaptive",
        "filterbank.optimizers.schedules",
    ],
)
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
