"""The contract battery: every class in ``filterbank.layers.LAYER_CLASSES``, every check.

Cases come from every ``tests/layers/battery_cases*.py`` module (each defines
``CASES = {"ClassName": [dict(kwargs={...}, input_shape=(batch, ...)), ...]}``; a list of
shapes for merge layers; optional ``gradcheck=False`` for a case too large for finite
differences). A registered class without a case fails :func:`test_every_layer_has_a_case`.

Per case:

* the output shape equals ``compute_output_shape`` (eager and symbolic);
* ``get_config`` -> JSON -> ``from_config`` rebuilds the same layer, computing the same;
* ``model.save`` -> ``load_model`` gives the same predictions, bit for bit;
* float64 centered differences agree with the input gradient and every weight gradient
  (inference mode, and training mode where the training forward is deterministic);
* the lean inference function (``inference_fn``, what ``predict`` runs) agrees with
  ``forward``;
* every combination of the three switches (numba, fast convolutions, fusion: 8) gives the
  same predictions and weight gradients within ``SWITCH_TOL`` (float32, relative to the
  largest magnitude); a Conv2D also runs followed by a MaxPooling2D, the fused pair;
* PyTorch agrees (float64) where a mapping exists (:data:`TORCH`); the random-config
  comparisons live in tests/ops/test_*_torch.py and tests/layers/test_*_torch.py.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from filterbank.ops import kernels
from tests.gradcheck import check_layer

HERE = Path(__file__).parent
SWITCHES = ("FILTERBANK_DISABLE_NUMBA", "FILTERBANK_DISABLE_FAST_CONV", "FILTERBANK_DISABLE_FUSION")
# float32: fast kernels sum in other orders (Winograd transforms, compiled col2im, the fused
# pool's bias gradient); measured differences stay below 1e-6 of the largest value.
SWITCH_TOL = 2e-5
INFERENCE_TOL = 1e-5


def _load_cases() -> dict[str, list]:
    merged: dict[str, list] = {}
    for path in sorted(HERE.glob("battery_cases*.py")):
        spec = importlib.util.spec_from_file_location(f"_battery_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, cases in module.CASES.items():
            merged.setdefault(name, []).extend((path.name, c) for c in cases)
    return merged


CASES = _load_cases()
PARAMS = [
    pytest.param(name, case, id=f"{name}-{i}")
    for name in sorted(CASES)
    for i, (_, case) in enumerate(CASES[name])
]
NOT_CALLED = {"InputLayer"}  # made by keras.Input, never called on data


def test_every_layer_has_a_case():
    missing = sorted(set(layers.LAYER_CLASSES) - set(CASES))
    assert not missing, (
        f"Layers without a battery case: {missing}. Add entries to a "
        "tests/layers/battery_cases*.py module (see tests/layers/battery_cases.py)."
    )
    unknown = sorted(set(CASES) - set(layers.LAYER_CLASSES))
    assert not unknown, f"Battery cases for classes not in LAYER_CLASSES: {unknown}"


# ---- helpers -------------------------------------------------------------------------------
def _multi(case):
    return isinstance(case["input_shape"], list)


def _shapes(case):
    return case["input_shape"] if _multi(case) else [case["input_shape"]]


def _inputs(case, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(s).astype(dtype) for s in _shapes(case)]
    return xs if _multi(case) else xs[0]


def _make(name, case):
    return layers.LAYER_CLASSES[name](**case["kwargs"])


def _randomize(layer_list, seed=1):
    """Random weights everywhere (variances positive), so round trips compare real numbers."""
    rng = np.random.default_rng(seed)
    for layer in layer_list:
        weights = []
        for name, w in layer.params.items():
            v = rng.standard_normal(w.shape)
            weights.append(np.abs(v) + 0.5 if "variance" in name else v)
        layer.set_weights(weights)


def _model(name, case, pool=False, config=None):
    """Input(s) -> the layer (-> MaxPooling2D when ``pool``): a functional model."""
    ins = [keras.Input(shape=s[1:]) for s in _shapes(case)]
    layer = (
        layers.LAYER_CLASSES[name].from_config(config) if config is not None else _make(name, case)
    )
    out = layer(ins if _multi(case) else ins[0])
    if pool:
        out = layers.MaxPooling2D(2)(out)
    return keras.Model(ins if _multi(case) else ins[0], out), layer


def _skip_input_layer(name):
    if name in NOT_CALLED:
        pytest.skip(f"{name} is made by keras.Input and never called on data")


def _close(ours, ref, tol, what):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} vs {ref.shape}"
    scale = max(1.0, float(np.abs(ref).max()) if ref.size else 1.0)
    err = float(np.abs(ours - ref).max()) if ref.size else 0.0
    assert err <= tol * scale, f"{what}: max abs difference {err:.3g} > {tol} x {scale:.3g}"


# ---- the checks ----------------------------------------------------------------------------
@pytest.mark.parametrize("name, case", PARAMS)
def test_output_shape_matches_compute_output_shape(name, case):
    if name in NOT_CALLED:
        t = keras.Input(shape=case["kwargs"]["shape"])
        layer = t.node.layer
        assert t.shape == layer.compute_output_shape((None, *case["input_shape"][1:]))
        return
    layer = _make(name, case)
    y = layer(_inputs(case))
    symbolic = [(None, *s[1:]) for s in _shapes(case)]
    expected = layer.compute_output_shape(symbolic if _multi(case) else symbolic[0])
    assert (None, *y.shape[1:]) == tuple(expected)
    model, _ = _model(name, case)
    assert model.outputs[0].shape == tuple(expected)


@pytest.mark.parametrize("name, case", PARAMS)
def test_config_round_trip(name, case):
    if name in NOT_CALLED:
        t = keras.Input(shape=case["kwargs"]["shape"])
        config = json.loads(json.dumps(t.node.layer.get_config()))
        assert layers.InputLayer.from_config(config).get_config() == config
        return
    layer = _make(name, case)
    x = _inputs(case)
    layer(x)
    _randomize([layer])
    config = json.loads(json.dumps(layer.get_config()))  # what a model file holds
    clone = layers.LAYER_CLASSES[name].from_config(config)
    assert json.loads(json.dumps(clone.get_config())) == config
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x), layer(x))


@pytest.mark.parametrize("name, case", PARAMS)
def test_save_load_round_trip(name, case, tmp_path):
    pytest.importorskip("safetensors", reason="model files need safetensors (the io extra)")
    _skip_input_layer(name)
    model, layer = _model(name, case)
    _randomize(model.layers)
    x = _inputs(case)
    y = model.predict(x, verbose=0)
    model.save(tmp_path / "m.fbk")
    loaded = keras.models.load_model(tmp_path / "m.fbk")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), y)
    assert [type(la).__name__ for la in loaded.layers] == [type(la).__name__ for la in model.layers]


@pytest.mark.parametrize("name, case", PARAMS)
def test_gradients_match_finite_differences(name, case, float64):
    _skip_input_layer(name)
    if case.get("gradcheck", True) is False:
        pytest.skip("case marked gradcheck=False (too large); smaller cases check the code")
    x = _inputs(case, "float64")
    layer = _make(name, case)
    layer(x)
    _randomize([layer])
    assert check_layer(layer, x, training=False) > 0
    a = layer(x, training=True)
    if np.array_equal(a, layer(x, training=True)):  # deterministic: check training mode too
        check_layer(layer, x, training=True)


@pytest.mark.parametrize("name, case", PARAMS)
def test_inference_function_matches_forward(name, case):
    _skip_input_layer(name)
    model, layer = _model(name, case)
    _randomize([layer])
    x = _inputs(case)
    ref = layer.forward(x, training=False)
    if not _multi(case):
        fn = layer.inference_fn(x.shape, x.dtype)
        if fn is not None:
            _close(fn(x), ref, INFERENCE_TOL, "inference_fn")
    for _ in range(2):  # the second call runs the kept functions
        _close(model.predict_on_batch(x), ref, INFERENCE_TOL, "predict_on_batch")


def _fusable(name, case):
    """A Conv2D whose relu/linear output a 2x2 pooling fits: run it fused too."""
    if name != "Conv2D" or case["kwargs"].get("activation", "linear") not in ("relu", "linear"):
        return False
    out = _make(name, case).compute_output_shape((None, *case["input_shape"][1:]))
    return min(out[1:3]) >= 2


def _run_with_switches(name, case, pool, config, weights, combo, monkeypatch):
    for var, off in zip(SWITCHES, combo):
        monkeypatch.setenv(var, "1" if off else "0")
    kernels.refresh()
    model, _ = _model(name, case, pool, config)
    model.set_weights(weights)
    x = _inputs(case)
    pred = [model.predict_on_batch(x) for _ in range(2)][1]
    y = np.random.default_rng(2).standard_normal(pred.shape).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    loss = model.train_on_batch(x, y)
    grads = [la.grads[n].copy() for la in model.layers for n in la.trainable_param_names()]
    plan = model.kernel_plan(case["input_shape"][0] if not _multi(case) else 2)
    return pred, loss, grads, plan


@pytest.mark.parametrize("name, case", PARAMS)
def test_every_switch_combination_agrees(name, case, monkeypatch):
    _skip_input_layer(name)
    for pool in [False, True] if _fusable(name, case) else [False]:
        model, layer = _model(name, case, pool)
        _randomize(model.layers)
        config, weights = layer.get_config(), model.get_weights()
        combos = list(itertools.product((True, False), repeat=3))  # all off first: the reference
        ref_pred, ref_loss, ref_grads, _ = _run_with_switches(
            name, case, pool, config, weights, combos[0], monkeypatch
        )
        names = set()
        for combo in combos[1:]:
            pred, loss, grads, plan = _run_with_switches(
                name, case, pool, config, weights, combo, monkeypatch
            )
            what = f"{name} pool={pool} switches off={combo}"
            _close(pred, ref_pred, SWITCH_TOL, what + " predict")
            _close(loss, ref_loss, SWITCH_TOL, what + " loss")
            for g, r in zip(grads, ref_grads):
                _close(g, r, SWITCH_TOL, what + " gradient")
            names.update(r.predict for r in plan)
        kernels.refresh()
        assert names  # the plan was made under every combination


# ---- PyTorch -------------------------------------------------------------------------------
def _torch_conv(layer, x):
    from tests import torch_oracle as oracle

    w = layer.params["kernel"]
    b = layer.params.get("bias", np.zeros(w.shape[-1]))
    y = oracle.conv(x, w, b, layer.strides, layer.padding, layer.dilation_rate)[0]
    return layer.activation.forward(y)


def _torch_dense(layer, x):
    from tests import torch_oracle as oracle

    torch = oracle.load()
    y = torch.tensor(x) @ torch.tensor(layer.params["kernel"])
    if "bias" in layer.params:
        y = y + torch.tensor(layer.params["bias"])
    act = {
        "relu": torch.relu,
        "tanh": torch.tanh,
        "linear": lambda t: t,
        "softmax": lambda t: torch.softmax(t, -1),
    }[layer.activation.name]
    return act(y).numpy()


def _torch_pool(kind):
    def run(layer, x):
        from tests import torch_oracle as oracle

        rank = x.ndim - 2
        ks = layer.pool_size if rank == 2 else layer.pool_size[:1]
        strides = layer.strides if rank == 2 else layer.strides[:1]
        return oracle.pool(x, ks, strides, layer.padding, kind)[0]

    return run


TORCH = {
    "Conv1D": _torch_conv,
    "Conv2D": _torch_conv,
    "Dense": _torch_dense,
    "MaxPooling1D": _torch_pool("max"),
    "MaxPooling2D": _torch_pool("max"),
    "AveragePooling1D": _torch_pool("avg"),
    "AveragePooling2D": _torch_pool("avg"),
}


@pytest.mark.parametrize("name, case", [p for p in PARAMS if p.values[0] in TORCH])
def test_forward_matches_torch(name, case, float64):
    from tests import torch_oracle as oracle

    oracle.load()
    x = _inputs(case, "float64")
    layer = _make(name, case)
    layer(x)
    _randomize([layer])
    oracle.close(layer(x), TORCH[name](layer, x), what=f"{name} forward")
