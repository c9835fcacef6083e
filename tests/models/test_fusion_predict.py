"""The lean inference path (Graph.predict, per-shape inference functions, the fast input lane
of predict_on_batch) against the plain layer forward, and the buffer-reuse rules: nothing a
caller receives is ever overwritten by a later call."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from filterbank.models.graph import Graph
from filterbank.ops import activations as act_ops


@pytest.fixture(autouse=True)
def _fusion_on(monkeypatch):
    """These tests are about fusion: on whatever the CI run's switches say."""
    monkeypatch.delenv("FILTERBANK_DISABLE_FUSION", raising=False)


def cnn(c=1, conv_kwargs=None, image=11):
    conv_kwargs = conv_kwargs or {}
    inp = keras.Input(shape=(image, image, c))
    x = layers.Conv2D(4, 3, activation="relu", **conv_kwargs)(inp)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(5, 2, activation="relu")(x)
    x = layers.Flatten()(x)
    out = layers.Dense(3, activation="softmax")(x)
    return keras.Model(inp, out)


def reference(model, x):
    """The plain layer-by-layer forward: no fusion, no inference functions."""
    graph = Graph(model.inputs, model.outputs, fuse=False)
    outs, _ = graph.forward([x], keep=True)
    return outs[0]


@pytest.mark.parametrize("c", [1, 3, 6])
@pytest.mark.parametrize(
    "conv_kwargs",
    [{}, {"padding": "same"}, {"strides": 2}, {"use_bias": False}, {"dilation_rate": 2}],
)
@pytest.mark.parametrize("n", [1, 5])
def test_predict_matches_the_plain_forward(c, conv_kwargs, n, rng):
    model = cnn(c, conv_kwargs)
    x = rng.random((n, 11, 11, c)).astype("float32")
    ref = reference(model, x)
    for _ in range(2):  # the second call runs the kept inference functions
        np.testing.assert_allclose(model.predict_on_batch(x), ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model(x), ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.predict(x, batch_size=2, verbose=0), ref, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("activation", ["relu", "linear", "tanh", "softmax", "sigmoid"])
def test_layer_inference_functions_equal_forward(activation, compiled, rng, monkeypatch):
    if not compiled:  # the NumPy epilogues: the same operations as forward, bit for bit
        monkeypatch.setattr(act_ops, "rows_kernels", lambda: None)
    elif act_ops.rows_kernels() is None:
        pytest.skip("numba not installed")
    conv = layers.Conv2D(3, 2, activation=activation if activation != "softmax" else "relu")
    dense = layers.Dense(4, activation=activation)
    for layer, shape in ((conv, (2, 5, 6, 3)), (dense, (7, 9))):
        x = rng.standard_normal(shape).astype("float32")
        y = layer(x)
        fn = layer.inference_fn(x.shape, x.dtype)
        if compiled:  # compiled exp and row sums: equal within float32 rounding
            np.testing.assert_allclose(fn(x), y, rtol=1e-6, atol=1e-7)
        else:
            np.testing.assert_array_equal(fn(x), y)
        assert layer.inference_fn(x.shape, np.dtype("float64")) is None  # another dtype


def test_compiled_row_epilogues_propagate_nan():
    rows = act_ops.rows_kernels()
    if rows is None:
        pytest.skip("numba not installed")
    z = np.array([[1.0, np.nan, -2.0], [-1.0, 0.0, -0.0]], "float32")
    rows.bias_relu_rows(z, np.zeros(3, "float32"), True)
    np.testing.assert_array_equal(
        z, np.maximum(np.array([[1.0, np.nan, -2.0], [-1.0, 0.0, -0.0]], "float32"), 0)
    )
    s = np.array([[1.0, 2.0, 3.0], [np.nan, 0.0, 1.0]], "float32")
    rows.bias_softmax_rows(s, np.array([0.5, 0.0, -0.5], "float32"), True)
    ref = act_ops.softmax_forward(np.array([[1.5, 2.0, 2.5]], "float32"))
    np.testing.assert_allclose(s[0], ref[0], rtol=1e-6)
    assert np.isnan(s[1]).all()


def test_returned_arrays_are_never_reused(rng):
    model = cnn()
    x1 = rng.random((2, 11, 11, 1)).astype("float32")
    x2 = rng.random((2, 11, 11, 1)).astype("float32")
    y1 = model.predict_on_batch(x1)
    keep = y1.copy()
    model.predict_on_batch(x2)
    np.testing.assert_array_equal(y1, keep)
    # A pooled map that is a model output is not a workspace either.
    inp = keras.Input(shape=(8, 8, 1))
    pooled = layers.MaxPooling2D(2)(layers.Conv2D(2, 3, activation="relu")(inp))
    model2 = keras.Model(inp, pooled)
    assert type(model2._graph.runs[0]).__name__ == "FusedConvPool"
    a = model2.predict_on_batch(x1[:, :8, :8])
    a_keep = a.copy()
    model2.predict_on_batch(x2[:, :8, :8])
    np.testing.assert_array_equal(a, a_keep)
    # Input gradients handed out by Graph.backward are copies.
    graph = model._graph
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    outs = graph.forward([x1], training=True)
    _, grads, fused = model._loss_and_output_grads([np.array([0, 1])], outs, [None])
    (dx1,) = graph.backward(grads, fused, input_grads=True)
    keep_dx = dx1.copy()
    graph.forward([x2], training=True)
    graph.backward(grads, fused, input_grads=True)
    np.testing.assert_array_equal(dx1, keep_dx)


def test_training_after_predict_uses_fresh_state(rng):
    """Predictions between steps share the layers' buffers; the next step must not notice."""
    x = rng.random((6, 11, 11, 1)).astype("float32")
    y = rng.integers(0, 3, 6)
    results = []
    for interleave in (False, True):
        keras.utils.set_random_seed(2)
        model = cnn()
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
        losses = []
        for _ in range(3):
            losses.append(model.train_on_batch(x, y))
            if interleave:
                model.predict_on_batch(x[:1])
                model.predict(x, batch_size=4, verbose=0)
        results.append((losses, model.get_weights()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [4, 100])  # small and large arrays take different tests
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_fast_input_lane_still_reports_nan_and_inf(bad, n, rng):
    model = cnn()
    x = rng.random((n, 11, 11, 1)).astype("float32")
    assert model.predict_on_batch(x).shape == (n, 3)
    x[2, 5, 5, 0] = bad
    with pytest.raises(
        ValueError,
        match=r"predict_on_batch\(\) found 1 NaN or infinite value "
        r"in x \(first in sample 2\)",
    ):
        model.predict_on_batch(x)


def test_inputs_off_the_fast_lane_are_converted(rng):
    model = cnn()
    x = rng.random((3, 11, 11, 1)).astype("float32")
    ref = model.predict_on_batch(x)
    for other in (x.astype("float64"), x[..., 0], np.asfortranarray(x), x.tolist()):
        np.testing.assert_allclose(model.predict_on_batch(other), ref, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="expects 4 dims"):
        model.predict_on_batch(x[0])
    with pytest.raises(ValueError, match="empty"):
        model.predict_on_batch(x[:0])


def test_direct_layer_calls_get_new_arrays(rng):
    """Only the graph engine may receive reused buffers; a direct backward call never does."""
    for layer, shape in (
        (layers.Conv2D(3, 2, activation="relu"), (2, 5, 6, 3)),
        (layers.Dense(4, activation="relu"), (3, 5)),
    ):
        x = rng.standard_normal(shape).astype("float32")
        y = layer(x)
        g = rng.standard_normal(y.shape).astype("float32")
        dx1 = layer.backward(g)
        keep = dx1.copy()
        layer.forward(x * 2)
        dx2 = layer.backward(g * 3)
        assert not np.shares_memory(dx1, dx2)
        np.testing.assert_array_equal(dx1, keep)
        assert layer.engine_internal_dx is False


def test_engine_flag_is_scoped_to_the_call(rng):
    model = cnn()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    steps = {s.layer.name: s for s in model._graph.steps}
    assert steps["conv2d"].internal_dx is False  # reads the model input
    assert steps["conv2d_1"].internal_dx is True and steps["dense"].internal_dx is True
    x = rng.random((2, 11, 11, 1)).astype("float32")
    model.train_on_batch(x, np.array([0, 2]))
    assert not any(getattr(la, "engine_internal_dx", False) for la in model.layers)
    # Reset even when a backward raises.
    conv = model.get_layer("conv2d_1")
    step = steps["conv2d_1"]

    def boom(grad):
        assert conv.engine_internal_dx is True
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        step._engine_call(boom, None)
    assert conv.engine_internal_dx is False


def test_a_deep_copy_runs_on_its_own_weights(rng):
    import copy

    model = cnn()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    x = rng.random((3, 11, 11, 1)).astype("float32")
    y = np.array([0, 1, 2])
    model.train_on_batch(x, y)
    before = model.predict_on_batch(x)  # builds the inference functions
    twin = copy.deepcopy(model)
    np.testing.assert_array_equal(twin.predict_on_batch(x), before)
    for _ in range(3):
        twin.train_on_batch(x, y)
    moved = twin.predict_on_batch(x)
    assert not np.allclose(moved, before)
    np.testing.assert_allclose(moved, reference(twin, x), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(model.predict_on_batch(x), before)  # the original: untouched


def test_predictions_from_threads_agree(rng):
    import threading

    model = cnn()
    xs = [rng.random((2, 11, 11, 1)).astype("float32") for _ in range(4)]
    refs = [reference(model, x) for x in xs]
    errors = []

    def work(i):
        for _ in range(30):
            got = model.predict_on_batch(xs[i])
            if not np.allclose(got, refs[i], rtol=1e-5, atol=1e-7):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_other_float_types_predict_and_train(dtype, rng):
    from filterbank import backend

    backend.set_floatx(dtype)
    model = cnn()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    x = rng.random((3, 11, 11, 1)).astype(dtype)
    model.train_on_batch(x, np.array([0, 1, 2]))
    got = model.predict_on_batch(x)
    assert got.dtype == np.dtype(dtype)
    tol = 1e-2 if dtype == "float16" else 1e-12
    np.testing.assert_allclose(got, reference(model, x), rtol=tol, atol=tol)


def count_runs(monkeypatch, kernel_class):
    """A list that gets one item per ``kernel_class.run`` call (the call still runs)."""
    calls = []
    run = kernel_class.run
    monkeypatch.setattr(kernel_class, "run", lambda self, *a: calls.append(1) or run(self, *a))
    return calls


def winograd_cnn(padding="valid", use_bias=True, pooled_output=False):
    """A second Conv2D 3x3 with 8 input channels before a 2x2 pooling: Winograd territory."""
    inp = keras.Input(shape=(14, 13, 2))
    x = layers.Conv2D(8, 3, activation="relu")(inp)
    x = layers.Conv2D(6, 3, activation="relu", padding=padding, use_bias=use_bias)(x)
    x = layers.MaxPooling2D(2)(x)
    if pooled_output:
        return keras.Model(inp, x)
    out = layers.Dense(3, activation="softmax")(layers.Flatten()(x))
    return keras.Model(inp, out)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("pooled_output", [False, True])
def test_winograd_predictions_match_the_plain_forward(
    padding, use_bias, pooled_output, rng, monkeypatch
):
    from filterbank.ops import winograd

    if winograd.numba_kernels() is None:
        pytest.skip("numba not installed")
    calls = count_runs(monkeypatch, winograd.WinogradConvPool)
    model = winograd_cnn(padding, use_bias, pooled_output)
    x = rng.standard_normal((24, 14, 13, 2)).astype("float32")  # 24 x 5 x 5 >= 256 tiles
    ref = reference(model, x)
    got = model.predict_on_batch(x)
    assert calls, "the Winograd path did not run"
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    keep = got.copy()
    model.predict_on_batch(x[::-1].copy())  # a second call reuses the buffers...
    np.testing.assert_array_equal(got, keep)  # ...never the array a caller holds
    # One image (5 x 4 = 20 pooled cells, >= MIN_POOLED_CELLS) runs it too, and agrees.
    calls.clear()
    np.testing.assert_allclose(
        model.predict_on_batch(x[:1]), ref[:1], rtol=1e-5, atol=1e-6 * np.abs(ref).max()
    )
    assert calls


def test_winograd_can_be_turned_off(rng, monkeypatch):
    from filterbank.ops import winograd

    monkeypatch.setenv("FILTERBANK_DISABLE_FAST_CONV", "1")
    monkeypatch.setattr(winograd.WinogradConvPool, "run", lambda *a: pytest.fail("ran"))
    model = winograd_cnn()
    x = rng.standard_normal((24, 14, 13, 2)).astype("float32")
    np.testing.assert_allclose(model.predict_on_batch(x), reference(model, x), rtol=1e-5, atol=1e-7)


def test_one_channel_first_layers_run_the_direct_kernel(rng, monkeypatch):
    from filterbank.ops import direct

    if direct.numba_kernels() is None:
        pytest.skip("numba not installed")
    calls = count_runs(monkeypatch, direct.DirectConvPool)
    for padding in ("valid", "same"):
        model = cnn(1, {"padding": padding})
        for n in (1, 7):  # any batch: no BLAS call to amortise
            x = rng.random((n, 11, 11, 1)).astype("float32")
            calls.clear()
            np.testing.assert_allclose(
                model.predict_on_batch(x), reference(model, x), rtol=1e-5, atol=1e-7
            )
            assert calls


def test_unpooled_3x3_convolutions_run_winograd_in_predict(rng, monkeypatch):
    from filterbank.ops import winograd

    if winograd.numba_kernels() is None:
        pytest.skip("numba not installed")
    calls = count_runs(monkeypatch, winograd.WinogradConv)
    inp = keras.Input(shape=(15, 14, 3))
    x = layers.Conv2D(8, 3, activation="relu")(inp)
    x = layers.Conv2D(5, 3, activation="linear", padding="same")(x)  # no pooling after it
    model = keras.Model(inp, layers.Dense(2)(layers.Flatten()(x)))
    xb = rng.standard_normal((8, 15, 14, 3)).astype("float32")  # 8 x 7 x 6 tiles >= 256
    ref = reference(model, xb)
    np.testing.assert_allclose(
        model.predict_on_batch(xb), ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max()
    )
    assert calls
