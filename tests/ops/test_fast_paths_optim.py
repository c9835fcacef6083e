"""The compiled RMSprop update against the NumPy one: bit for bit, float32 and float64."""

import numpy as np
import pytest

from filterbank.optimizers import RMSprop, adaptive


def _run(monkeypatch, compiled, dtype, steps=4, **kwargs):
    if not compiled:
        monkeypatch.setattr(adaptive, "_rmsprop_kernel", lambda: None)
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(dtype) for s in [(3, 3, 2, 4), (4,), (7, 5)]]
    opt = RMSprop(learning_rate=0.01, **kwargs)
    for _ in range(steps):
        grads = [rng.standard_normal(p.shape).astype(dtype) for p in params]
        opt.apply_gradients([(g, p, f"w{i}") for i, (g, p) in enumerate(zip(grads, params))])
    monkeypatch.undo()
    return params, opt.get_state()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", [{}, {"rho": 0.8, "epsilon": 1e-3}])
def test_compiled_rmsprop_is_bit_identical(dtype, kwargs, monkeypatch):
    if adaptive._rmsprop_kernel() is None:
        pytest.skip("numba not installed, or FILTERBANK_DISABLE_NUMBA is set")
    fast, fast_state = _run(monkeypatch, True, dtype, **kwargs)
    slow, slow_state = _run(monkeypatch, False, dtype, **kwargs)
    for a, b in zip(fast, slow):
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a, b)
    assert fast_state.keys() == slow_state.keys()
    for k in fast_state:
        np.testing.assert_array_equal(fast_state[k], slow_state[k])


def test_other_rmsprop_variants_and_layouts_take_the_numpy_path(monkeypatch):
    calls = []
    kernel = adaptive._rmsprop_kernel()
    if kernel is None:
        pytest.skip("numba not installed")
    monkeypatch.setattr(
        adaptive, "_rmsprop_kernel", lambda: lambda *a: calls.append(a) or kernel(*a)
    )
    w = np.ones((4, 3), "float32")
    RMSprop(centered=True).apply_gradients([(np.ones((4, 3), "float32"), w, "a")])
    RMSprop(momentum=0.5).apply_gradients([(np.ones((4, 3), "float32"), w, "a")])
    RMSprop().apply_gradients([(np.ones((3, 4), "float32").T, w, "a")])  # F-ordered grad
    assert calls == []
    RMSprop().apply_gradients([(np.ones((4, 3), "float32"), w, "a")])
    assert len(calls) == 1
