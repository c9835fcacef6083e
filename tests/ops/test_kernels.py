"""The kernel registry (filterbank/ops/kernels.py): switches, the one loader, choices, plans."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers, zoo
from filterbank.ops import activations, conv_gemm, direct, kernels, pool, winograd
from filterbank.optimizers import adaptive

HAVE_NUMBA = kernels.compiled("ops._numba_conv") is not None
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed, or disabled")
LOADERS = [
    conv_gemm.numba_kernels,
    pool.numba_kernels,
    activations.rows_kernels,
    winograd.numba_kernels,
    direct.numba_kernels,
    adaptive._rmsprop_kernel,
]


def test_switches_read_the_environment_now(monkeypatch):
    for var in (
        "FILTERBANK_DISABLE_NUMBA",
        "FILTERBANK_DISABLE_FAST_CONV",
        "FILTERBANK_DISABLE_FUSION",
    ):
        monkeypatch.delenv(var, raising=False)
    assert kernels.switches() == kernels.Switches(True, True, True)
    monkeypatch.setenv("FILTERBANK_DISABLE_FAST_CONV", "1")
    monkeypatch.setenv("FILTERBANK_DISABLE_FUSION", "0")  # "0" means not set
    assert kernels.switches() == kernels.Switches(numba=True, fast_conv=False, fusion=True)


@needs_numba
def test_a_late_numba_switch_turns_off_every_compiled_module(monkeypatch):
    assert all(load() is not None for load in LOADERS)  # loaded once
    monkeypatch.setenv("FILTERBANK_DISABLE_NUMBA", "1")
    assert [load() for load in LOADERS] == [None] * len(LOADERS)
    # ... pooling included (it used to keep the module it had loaded)
    y, arg = pool.max_pool2d_forward(np.ones((1, 4, 4, 1)), 2, return_argmax=True)
    assert arg.dtype == np.uint8
    with pytest.raises(RuntimeError, match="FILTERBANK_DISABLE_NUMBA"):
        pool.max_pool2d_forward(np.ones((1, 4, 4, 1)), 2, return_argmax=True, impl="numba")
    monkeypatch.delenv("FILTERBANK_DISABLE_NUMBA")
    assert all(load() is not None for load in LOADERS)


def test_a_missing_module_is_none_not_an_error():
    assert kernels.compiled("ops._no_such_module") is None


def _query(shape, channels_dtype="float32", **kw):
    base = dict(
        kernel_size=(3, 3),
        strides=(1, 1),
        dilation=(1, 1),
        padding="valid",
        activation="relu",
        pool_size=(2, 2),
        pool_strides=(2, 2),
    )
    return kernels.Query(shape, np.dtype(channels_dtype), **{**base, **kw})


@needs_numba
def test_choices_for_the_seed_geometries(monkeypatch):
    monkeypatch.delenv("FILTERBANK_DISABLE_FAST_CONV", raising=False)
    choose = kernels.choose
    assert choose("conv2d+maxpool", _query((64, 28, 28, 1))).name == "direct"
    assert choose("conv2d+maxpool", _query((64, 13, 13, 32))).name == "winograd"
    assert choose("conv2d+maxpool", _query((1, 13, 13, 32))).name == "winograd"  # 25 cells
    assert choose("conv2d+maxpool", _query((1, 9, 9, 32))).name == "gemm+pool"  # 9: too few
    k = choose("conv2d+maxpool", _query((1, 13, 13, 32), "float16"))
    assert k.name == "gemm+numpy-pool" and k.fn is not None and k.reason
    assert choose("conv2d", _query((64, 5, 5, 64))).name == "gemm"  # 3x3 output: few tiles
    assert choose("conv2d", _query((64, 16, 16, 32))).name == "winograd"
    monkeypatch.setenv("FILTERBANK_DISABLE_FAST_CONV", "1")
    assert choose("conv2d+maxpool", _query((64, 28, 28, 1))).name == "gemm+pool"
    assert choose("conv2d", _query((64, 16, 16, 32))).name == "gemm"
    assert choose("maxpool", _query((2, 4, 4, 3))).name == "numba"
    assert (
        choose("epilogue", kernels.Query((2, 10), np.dtype("float32"), activation="softmax")).name
        == "rows"
    )


def test_reference_kernels_without_numba(monkeypatch):
    monkeypatch.setenv("FILTERBANK_DISABLE_NUMBA", "1")
    assert kernels.choose("conv2d+maxpool", _query((64, 28, 28, 1))).name == "gemm+numpy-pool"
    assert kernels.choose("conv2d", _query((64, 16, 16, 32))).name == "gemm"
    k = kernels.choose("maxpool", _query((2, 4, 4, 3)))
    assert (k.name, k.fn) == ("numpy", pool.max_pool2d_forward)


def test_unknown_operation_names_the_choices():
    with pytest.raises(ValueError, match="Unknown kernel operation 'conv3d'.*conv2d"):
        kernels.choose("conv3d", _query((1, 4, 4, 1)))


@needs_numba
def test_refresh_makes_kept_choices_again(monkeypatch):
    monkeypatch.delenv("FILTERBANK_DISABLE_FAST_CONV", raising=False)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16, 16, 32)), layers.Conv2D(8, 3, activation="relu")])
    x = np.random.default_rng(0).standard_normal((64, 16, 16, 32)).astype("float32")
    fast = model.predict_on_batch(x)
    assert model.kernel_plan(64)[0].predict == "winograd"
    monkeypatch.setenv("FILTERBANK_DISABLE_FAST_CONV", "1")
    assert model.kernel_plan(64)[0].predict == "gemm+rows"
    kernels.refresh()  # the kept Winograd function is dropped: the next call runs the GEMM
    plain = model.predict_on_batch(x)
    assert not np.array_equal(fast, plain)  # other kernels, other rounding ...
    np.testing.assert_allclose(fast, plain, rtol=1e-5, atol=1e-5)  # ... the same numbers


def test_summary_with_kernels_and_the_plan(capsys):
    model = zoo.seed_functional((28, 28, 1), 10)
    model.summary(kernels=True, batch_size=64)
    out = capsys.readouterr().out
    assert "Kernels at batch 64" in out and "predict" in out and "fit" in out
    rows = kernels.plan(model, 64)
    assert [r.input_shape[0] for r in rows] == [64] * len(rows)
    assert rows[-1].layers == ("dense",)
    table = kernels.describe(rows)
    assert all(name in table for r in rows for name in r.layers)
    with pytest.raises(ValueError, match="batch_size expects a positive integer, got 0"):
        model.kernel_plan(0)


def test_fusion_switch_is_read_when_the_graph_is_built(monkeypatch):
    monkeypatch.setenv("FILTERBANK_DISABLE_FUSION", "1")
    rows = zoo.seed_functional((28, 28, 1), 10).kernel_plan(8)
    assert rows[0].layers == ("conv2d",)
    monkeypatch.delenv("FILTERBANK_DISABLE_FUSION")
    rows = zoo.seed_functional((28, 28, 1), 10).kernel_plan(8)
    assert len(rows[0].layers) == 2


def test_kernel_and_bias_attributes():
    dense = layers.Dense(3, use_bias=False)
    with pytest.raises(AttributeError, match="not built yet"):
        _ = dense.kernel
    dense.build((None, 2))
    assert dense.kernel is dense.params["kernel"] and dense.bias is None
    conv = layers.Conv2D(4, 3)
    conv.build((None, 5, 5, 2))
    assert conv.kernel.shape == (3, 3, 2, 4) and conv.bias.shape == (4,)
    flatten = layers.Flatten()
    flatten(np.zeros((1, 2, 2), "float32"))
    with pytest.raises(
        AttributeError, match="'flatten' \\(Flatten\\) has no weight named 'kernel'"
    ):
        _ = flatten.kernel
