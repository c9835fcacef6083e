"""The exactness property of explain.cell over random models (102: 24 per kernel path in 2D,
30 in 1D), every layer, random positions: the
explained output equals the model's own activation (a sub-model ending at the layer, run
through the prediction path's kernels), and sum of products + bias equals the
pre-activation (checked against a linear copy of the layer via feature_maps)."""

import json

import numpy as np
import pytest
from explain_random_models import random_model_1d, random_model_2d, random_model_winograd

import filterbank as keras
from filterbank import explain
from filterbank.layers.input_layer import InputLayer

PATHS = {
    "default": {},
    "no-fast-conv": {"FILTERBANK_DISABLE_FAST_CONV": "1"},
    "no-fusion": {"FILTERBANK_DISABLE_FUSION": "1"},
}


def _check_model(model, x, rng, per_layer=3):
    checked = 0
    pre_maps = explain.feature_maps(model, x, pre_activation=True)
    for layer in model.layers:
        if isinstance(layer, InputLayer):
            continue
        own = keras.Model(model.inputs, layer.output)(x[None])[0]
        for _ in range(per_layer):
            idx = tuple(int(rng.integers(0, n)) for n in own.shape)
            e = explain.cell(model, x, layer.name, idx)
            assert e.output == pytest.approx(float(own[idx]), rel=1e-4, abs=1e-5), (layer.name, idx)
            assert e.model_output == pytest.approx(float(own[idx]), rel=1e-6, abs=1e-6)
            if e.products is not None:
                assert e.sum == pytest.approx(float(np.sum(e.products)), abs=1e-9)
                z = e.sum + (e.bias or 0.0)
                assert e.pre_activation == pytest.approx(z, abs=1e-9)
                assert e.pre_activation == pytest.approx(
                    float(pre_maps[layer.name][idx]), rel=1e-4, abs=1e-5
                )
            d = json.loads(json.dumps(e.to_dict()))
            assert d["index"] == list(idx) and d["text"]
            checked += 1
    return checked


@pytest.mark.parametrize("path", list(PATHS))
def test_cell_equals_the_models_activation_2d(path, monkeypatch):
    for k, v in PATHS[path].items():
        monkeypatch.setenv(k, v)
    total = 0
    for seed in range(24):
        keras.utils.clear_session()
        model, x = random_model_2d(seed)
        total += _check_model(model, x, np.random.default_rng(seed + 100))
    assert total >= 24 * 20


def test_cell_equals_the_models_activation_1d():
    total = 0
    for seed in range(30):
        keras.utils.clear_session()
        model, x = random_model_1d(seed)
        total += _check_model(model, x, np.random.default_rng(seed + 200), per_layer=2)
    assert total >= 30 * 12


def test_cell_equals_the_models_activation_winograd_shapes():
    """Inputs large enough that prediction runs the Winograd kernels (unpooled and fused
    with the pool); the explanation redoes the plain arithmetic."""
    total = 0
    for seed in range(4):
        keras.utils.clear_session()
        model, x = random_model_winograd(seed)
        total += _check_model(model, x, np.random.default_rng(seed + 300), per_layer=4)
    assert total >= 4 * 20


def test_snapshot_cells_equal_cell():
    for seed in range(4):
        keras.utils.clear_session()
        model, x = random_model_2d(seed)
        snap = explain.Snapshot(model, x)
        rng = np.random.default_rng(seed)
        maps = snap.maps()
        for layer in model.layers[1:]:
            idx = tuple(int(rng.integers(0, n)) for n in maps[layer.name].shape)
            a, b = (
                snap.cell(layer.name, idx).to_dict(),
                explain.cell(model, x, layer, idx).to_dict(),
            )
            # Equal within float32 rounding, not bit for bit: explain.cell runs the layers
            # before ``layer`` through the prediction path, where a Conv2D -> BatchNormalization
            # -> Activation -> MaxPooling2D chain runs folded (models/fold.py).
            np.testing.assert_allclose(
                np.asarray(a["window"], float), np.asarray(b["window"], float), 1e-5, 1e-6
            )
            assert a["output"] == pytest.approx(b["output"], rel=1e-5, abs=1e-6)
            assert a["model_output"] == pytest.approx(b["model_output"], rel=1e-5, abs=1e-6)
