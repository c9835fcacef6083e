"""Winograd F(2x2, 3x3) in training (ops/winograd_train.py): forward and input gradient
against the im2col reference and the PyTorch oracle, the kernel choice and its switches."""

from __future__ import annotations

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from filterbank.ops import conv_gemm, kernels, winograd, winograd_train
from tests import torch_oracle

HAVE_NUMBA = winograd.numba_kernels() is not None
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed or disabled")

# float32: the transforms add before they multiply, so results differ from the GEMM's in
# the last bits; 2e-5 of the largest value holds with margin (measured ~1e-6).
TOL32 = 2e-5
TOL64 = 1e-12


def _configs():
    """Seeded random geometries: non-square, odd and even sizes, both paddings, batch 1
    and 64, few and many channels."""
    rng = np.random.default_rng(16)
    out = [
        ((64, 16, 16, 32), 64, "same"),
        ((64, 13, 13, 32), 64, "valid"),
        ((1, 5, 4, 3), 2, "same"),
    ]
    for _ in range(5):
        n = int(rng.choice([1, 2, 64]))
        h, w = (int(v) for v in rng.integers(3, 12, size=2))
        out.append(((n, h, w, int(rng.integers(1, 17))), int(rng.integers(1, 20)), "valid"))
        out.append(((n, h, w, int(rng.integers(1, 17))), int(rng.integers(1, 20)), "same"))
    return out


CONFIGS = _configs()


def _run(x_shape, filters, padding, dtype, rng):
    x = rng.standard_normal(x_shape).astype(dtype)
    w = (rng.standard_normal((3, 3, x_shape[3], filters)) / 3).astype(dtype)
    b = rng.standard_normal(filters).astype(dtype)
    pads = ((1, 1), (1, 1)) if padding == "same" else ((0, 0), (0, 0))
    plan = conv_gemm.ConvPlan(x_shape, w.shape, (1, 1), pads, (1, 1))
    train = winograd_train.WinogradTrainConv(plan, padding, dtype, winograd_dx=padding == "same")
    y = train.forward(x, w, b)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = train.backward(dy, w, None, True, True, x=x)
    return x, w, b, dy, plan, (y, dx, dw, db)


def _close(got, want, tol, what):
    scale = max(float(np.abs(want).max()), 1e-30)
    err = float(np.abs(got - want).max()) / scale
    assert err <= tol, f"{what}: max error {err:.2e} of the largest value, tolerance {tol:.0e}"


@needs_numba
@pytest.mark.parametrize("x_shape, filters, padding", CONFIGS)
@pytest.mark.parametrize("dtype, tol", [(np.float32, TOL32), (np.float64, TOL64)])
def test_equals_the_im2col_reference(x_shape, filters, padding, dtype, tol, rng):
    x, w, b, dy, plan, (y, dx, dw, db) = _run(x_shape, filters, padding, dtype, rng)
    ref_y, col = plan.forward(x, w, b)
    ref_dx, ref_dw, ref_db = plan.backward(dy, w, col, True, True, x=x)
    for got, want, what in [(y, ref_y, "y"), (dx, ref_dx, "dx"), (dw, ref_dw, "dw")]:
        assert got.dtype == dtype and got.shape == want.shape, what
        _close(got, want, tol, what)
    np.testing.assert_array_equal(db, ref_db)


@needs_numba
@pytest.mark.parametrize("x_shape, filters, padding", CONFIGS[:7])
def test_forward_and_dx_equal_the_torch_oracle(x_shape, filters, padding, rng):
    x, w, b, dy, _, (y, dx, dw, _) = _run(x_shape, filters, padding, np.float64, rng)
    ty, tdx, tdw, _ = torch_oracle.conv(x, w, b, (1, 1), padding, (1, 1), dy=dy)
    _close(y, ty, TOL64, "y")
    _close(dx, tdx, TOL64, "dx")
    _close(dw, tdw, TOL64, "dw")
    x32, w32, b32, dy32 = (a.astype(np.float32) for a in (x, w, b, dy))
    pads = ((1, 1), (1, 1)) if padding == "same" else ((0, 0), (0, 0))
    plan = conv_gemm.ConvPlan(x.shape, w.shape, (1, 1), pads, (1, 1))
    train = winograd_train.WinogradTrainConv(plan, padding, np.float32, padding == "same")
    _close(train.forward(x32, w32, b32), ty, TOL32, "y float32")
    _close(train.backward(dy32, w32, None, True, True, x=x32)[0], tdx, TOL32, "dx float32")


def test_forcing_winograd_dx_on_valid_padding_says_how_to_fix():
    plan = conv_gemm.ConvPlan((1, 6, 6, 2), (3, 3, 2, 2), (1, 1), ((0, 0), (0, 0)), (1, 1))
    with pytest.raises(ValueError, match="padding='same'.*winograd_dx=None"):
        winograd_train.WinogradTrainConv(plan, "valid", np.float32, winograd_dx=True)


def _query(x_shape, padding, filters, dtype=np.float32):
    return kernels.Query(
        x_shape, np.dtype(dtype), (3, 3), (1, 1), (1, 1), padding, "relu", True, filters=filters
    )


@needs_numba
def test_the_choice_and_its_switches(monkeypatch):
    for var in ("FILTERBANK_DISABLE_NUMBA", "FILTERBANK_DISABLE_FAST_CONV"):
        monkeypatch.delenv(var, raising=False)
    assert kernels.choose("conv2d-train", _query((64, 16, 16, 32), "same", 64)).name == "winograd"
    valid = kernels.choose("conv2d-train", _query((64, 13, 13, 32), "valid", 64))
    assert valid.name == "winograd+gemm-dx"
    # The first layers (1 or 3 channels) and small batches keep the GEMM.
    for shape in [(64, 32, 32, 3), (64, 28, 28, 1), (1, 16, 16, 32)]:
        assert kernels.choose("conv2d-train", _query(shape, "same", 32)).name.startswith("gemm")
    for var in ("FILTERBANK_DISABLE_FAST_CONV", "FILTERBANK_DISABLE_NUMBA"):
        monkeypatch.setenv(var, "1")
        name = kernels.choose("conv2d-train", _query((64, 16, 16, 32), "same", 64)).name
        assert name.startswith("gemm+"), (var, name)
        monkeypatch.delenv(var)


def _cifar_like(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.Conv2D(16, 3, activation="relu"),  # no pooling next: not a fused pair
            layers.GlobalAveragePooling2D(),
            layers.Dense(2, activation="softmax"),
        ]
    )


@needs_numba
def test_kernel_plan_shows_it_and_a_small_fit_learns(monkeypatch):
    monkeypatch.delenv("FILTERBANK_DISABLE_FAST_CONV", raising=False)
    model = _cifar_like()
    fits = [row.fit for row in model.kernel_plan(64)]
    assert "winograd" in fits and "winograd+gemm-dx" in fits, fits
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 16, 16, 3)).astype("float32")
    labels = (x[:, :8].mean(axis=(1, 2, 3)) > x[:, 8:].mean(axis=(1, 2, 3))).astype("int64")
    x[labels == 1, :8] += 0.5  # a top/bottom brightness difference to learn
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, labels, batch_size=64, epochs=8, verbose=0)
    assert model.evaluate(x, labels, verbose=0)[1] >= 0.9


@needs_numba
@pytest.mark.parametrize("padding, shape", [("same", (64, 9, 12, 8)), ("valid", (64, 11, 8, 9))])
def test_the_layer_trains_through_it_like_the_gemm_in_float64(padding, shape, monkeypatch, rng):
    monkeypatch.delenv("FILTERBANK_DISABLE_FAST_CONV", raising=False)
    layer = layers.Conv2D(12, 3, padding=padding, activation="relu", dtype="float64")
    layer.build(shape)
    x = rng.standard_normal(shape)
    y = layer.forward(x, training=True)
    assert layer._cache.train is not None  # the Winograd step ran
    dy = rng.standard_normal(y.shape)
    dx, dw, db = layer.backward(dy), layer.grads["kernel"].copy(), layer.grads["bias"].copy()
    ref_y = layer.forward(x)  # inference's forward keeps the im2col cache for backward
    assert layer._cache.train is None
    _close(y, ref_y, TOL64, "y")
    _close(dx, layer.backward(dy), TOL64, "dx")
    _close(dw, layer.grads["kernel"], TOL64, "dw")
    _close(db, layer.grads["bias"], TOL64, "db")


@needs_numba
def test_a_refresh_after_a_switch_goes_back_to_the_gemm(monkeypatch, rng):
    monkeypatch.delenv("FILTERBANK_DISABLE_FAST_CONV", raising=False)
    layer = layers.Conv2D(16, 3, padding="same")
    layer.build((64, 8, 8, 8))
    x = rng.standard_normal((64, 8, 8, 8)).astype("float32")
    layer.forward(x, training=True)
    assert layer._cache.train is not None
    monkeypatch.setenv("FILTERBANK_DISABLE_FAST_CONV", "1")
    kernels.refresh()
    layer.forward(x, training=True)
    assert layer._cache.train is None
    kernels.refresh()
