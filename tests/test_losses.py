"""Losses: finite-difference gradients, Keras's documented values, shapes, errors, lookup."""

import zlib

import numpy as np
import pytest
from gradcheck import assert_close, numeric_grad

from filterbank import backend, losses

# ---- helpers -------------------------------------------------------------------------------


def _seed(*parts):
    return zlib.crc32(repr(parts).encode())  # stable across processes, unlike hash()


def _probs(rng, shape):
    z = rng.standard_normal(shape)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _onehot(rng, shape):
    return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]


def _case(kind, rng, shape):
    """(loss, y_true, y_pred or logits) for one loss family, in float64."""
    if kind == "cce":
        return _onehot(rng, shape), rng.uniform(0.05, 1.0, shape)
    if kind == "scce":
        return rng.integers(0, shape[-1], shape[:-1]), rng.uniform(0.05, 1.0, shape)
    if kind == "bce":
        return rng.integers(0, 2, shape).astype(float), rng.uniform(0.05, 0.95, shape)
    return rng.standard_normal(shape), rng.standard_normal(shape)  # mse / mae


LOSSES = {
    "cce": lambda **kw: losses.CategoricalCrossentropy(**kw),
    "scce": lambda **kw: losses.SparseCategoricalCrossentropy(**kw),
    "bce": lambda **kw: losses.BinaryCrossentropy(**kw),
    "mse": lambda **kw: losses.MeanSquaredError(**kw),
    "mae": lambda **kw: losses.MeanAbsoluteError(**kw),
}
SMOOTHABLE = {"cce", "bce"}


def _grid():
    for kind in LOSSES:
        for shape in [(5, 4), (3, 2, 3, 3)]:
            for weighted in (False, True):
                smooths = (0.0, 0.2) if kind in SMOOTHABLE else (0.0,)
                for ls in smooths:
                    yield kind, shape, weighted, ls


# ---- 1. finite differences -----------------------------------------------------------------


@pytest.mark.parametrize("kind,shape,weighted,ls", list(_grid()))
def test_forward_backward_matches_finite_differences(kind, shape, weighted, ls):
    rng = np.random.default_rng(_seed(kind, shape, weighted, ls))
    kw = {"label_smoothing": ls} if kind in SMOOTHABLE else {}
    loss = LOSSES[kind](**kw)
    y_true, y_pred = _case(kind, rng, shape)
    if kind == "mae":  # keep |d| away from its kink
        y_pred = y_true + np.sign(rng.standard_normal(shape)) * rng.uniform(0.1, 1.0, shape)
    w = rng.uniform(0.0, 2.0, shape[0]) if weighted else None
    value, grad = loss.forward_backward(y_true, y_pred, w)
    assert value == pytest.approx(loss(y_true, y_pred, w), rel=1e-12)
    assert grad.dtype == np.float64 and grad.shape == y_pred.shape
    assert_close(grad, numeric_grad(lambda: loss(y_true, y_pred, w), y_pred), what=kind)


@pytest.mark.parametrize(
    "kind,shape,weighted,ls", [c for c in _grid() if c[0] in ("cce", "scce", "bce")]
)
@pytest.mark.parametrize("path", ["fused", "from_logits"])
def test_logits_paths_match_finite_differences(kind, shape, weighted, ls, path):
    rng = np.random.default_rng(_seed(kind, shape, weighted, ls, path))
    kw = {"label_smoothing": ls} if kind in SMOOTHABLE else {}
    y_true, _ = _case(kind, rng, shape)
    z = 3.0 * rng.standard_normal(shape)
    w = rng.uniform(0.0, 2.0, shape[0]) if weighted else None
    if path == "fused":
        loss = LOSSES[kind](**kw)
        assert loss.fuses_with == ("sigmoid" if kind == "bce" else "softmax")
        f = lambda: loss.forward_backward_logits(y_true, z, w)[0]  # noqa: E731
        value, grad = loss.forward_backward_logits(y_true, z, w)
    else:
        loss = LOSSES[kind](from_logits=True, **kw)
        assert loss.fuses_with is None
        f = lambda: loss(y_true, z, w)  # noqa: E731
        value, grad = loss.forward_backward(y_true, z, w)
    assert value == pytest.approx(f(), rel=1e-12)
    assert_close(grad, numeric_grad(f, z), what=f"{kind} {path}")


@pytest.mark.parametrize("kind", ["cce", "scce", "bce"])
def test_fused_path_equals_probability_path_away_from_clipping(kind, rng):
    y_true, _ = _case(kind, rng, (6, 5))
    z = rng.standard_normal((6, 5))
    loss = LOSSES[kind]()
    act = 1 / (1 + np.exp(-z)) if kind == "bce" else np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    v1, g_logits = loss.forward_backward_logits(y_true, z)
    v2, g_probs = loss.forward_backward(y_true, act)
    assert v1 == pytest.approx(v2, rel=1e-10)
    # Chain rule through the activation gives the same logit gradient.
    if kind == "bce":
        chained = g_probs * act * (1 - act)
    else:
        chained = act * (g_probs - (g_probs * act).sum(-1, keepdims=True))
    np.testing.assert_allclose(g_logits, chained, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["cce", "scce", "bce"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_logits_stay_finite(kind, dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0]], dtype=dtype)
    y_true = {
        "cce": np.eye(3)[[1, 1]],
        "scce": np.array([1, 0]),
        "bce": np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]),
    }[kind]
    for loss, fb in [
        (LOSSES[kind](), "forward_backward_logits"),
        (LOSSES[kind](from_logits=True), "forward_backward"),
    ]:
        value, grad = getattr(loss, fb)(y_true, z)
        assert np.isfinite(value) and np.all(np.isfinite(grad)), (kind, fb)
        assert grad.dtype == np.dtype(dtype)
    # Row 0 of cce: the true class has logit -2e4 below the max, loss ~ 2e4 / 2 per sample.
    if kind == "cce":
        assert value == pytest.approx((2e4 + 0.0) / 2 + np.log1p(np.exp(-2e4 + 3)) / 2, rel=1e-6)


def test_probability_path_clips_like_keras():
    loss = losses.CategoricalCrossentropy()
    y_true = np.array([[0.0, 1.0, 0.0]])
    y_pred = np.array([[0.5, 0.0, 0.5]])  # the true class has probability exactly 0
    value, grad = loss.forward_backward(y_true, y_pred)
    assert value == pytest.approx(-np.log(backend.epsilon()))
    assert np.all(grad == 0)  # the clip passes no gradient below eps
    # Renormalisation: unnormalised scores give the same loss as their normalised version.
    y = np.array([[2.0, 6.0, 2.0]])
    assert loss(y_true, y) == pytest.approx(loss(y_true, y / 10.0))


# ---- 2. Keras's documented values ----------------------------------------------------------

YT = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
YP = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])


def test_keras_documented_values():
    # The numbers of Keras's docstrings (given there to 3-4 decimals).
    close = dict(abs=5e-4)
    cce = losses.CategoricalCrossentropy()
    assert cce(YT, YP) == pytest.approx(1.177, **close)
    assert cce(YT, YP, sample_weight=np.array([0.3, 0.7])) == pytest.approx(0.814, **close)
    assert losses.CategoricalCrossentropy(reduction="sum")(YT, YP) == pytest.approx(2.354, **close)
    np.testing.assert_allclose(losses.categorical_crossentropy(YT, YP), [0.0513, 2.303], atol=5e-4)
    scce = losses.SparseCategoricalCrossentropy()
    assert scce(np.array([1, 2]), YP) == pytest.approx(1.177, **close)
    assert scce(np.array([[1], [2]]), YP, np.array([0.3, 0.7])) == pytest.approx(0.814, **close)
    bce = losses.BinaryCrossentropy()
    yt, yp = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]])
    assert bce(yt, yp) == pytest.approx(0.815, **close)
    assert bce(yt, yp, sample_weight=np.array([1.0, 0.0])) == pytest.approx(0.458, **close)
    np.testing.assert_allclose(losses.binary_crossentropy(yt, yp), [0.916, 0.714], atol=5e-4)
    logits = np.array([-18.6, 0.51, 2.94, -12.8])
    bce_logits = losses.BinaryCrossentropy(from_logits=True)
    assert bce_logits(np.array([0.0, 1.0, 0.0, 0.0]), logits) == pytest.approx(0.865, **close)
    yt, yp = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[1.0, 1.0], [1.0, 0.0]])
    assert losses.MeanSquaredError()(yt, yp) == pytest.approx(0.5)
    assert losses.MeanSquaredError()(yt, yp, np.array([0.7, 0.3])) == pytest.approx(0.25)
    assert losses.MeanAbsoluteError()(yt, yp) == pytest.approx(0.5)
    np.testing.assert_allclose(losses.mean_absolute_error(yt, yp), [0.5, 0.5])
    assert losses.mean_squared_error(np.array([1.0, 2.0]), np.array([1.0, 4.0])) == 2.0


def test_reductions():
    w = np.array([0.3, 0.7])
    per_sample = losses.categorical_crossentropy(YT, YP)
    assert losses.CategoricalCrossentropy(reduction="sum")(YT, YP, w) == pytest.approx(
        (per_sample * w).sum()
    )
    assert losses.CategoricalCrossentropy(reduction="mean_with_sample_weight")(
        YT, YP, w
    ) == pytest.approx((per_sample * w).sum() / w.sum())
    np.testing.assert_allclose(
        losses.CategoricalCrossentropy(reduction="none")(YT, YP, w), per_sample * w
    )
    # A zero weight still counts in sum_over_batch_size's divisor (not a weighted mean).
    assert losses.CategoricalCrossentropy()(YT, YP, np.array([0.0, 1.0])) == pytest.approx(
        per_sample[1] / 2
    )
    with pytest.raises(ValueError, match="reduction='none'.*Use the default"):
        losses.CategoricalCrossentropy(reduction="none").forward_backward(YT, YP)
    with pytest.raises(ValueError, match="expected one of"):
        losses.MeanSquaredError(reduction="avg")


def test_label_smoothing_formulas():
    ls = 0.1
    smoothed = YT * (1 - ls) + ls / 3
    assert losses.CategoricalCrossentropy(label_smoothing=ls)(YT, YP) == pytest.approx(
        losses.CategoricalCrossentropy()(smoothed, YP)
    )
    yt, yp = np.array([[0.0, 1.0]]), np.array([[0.3, 0.8]])
    assert losses.BinaryCrossentropy(label_smoothing=ls)(yt, yp) == pytest.approx(
        losses.BinaryCrossentropy()(yt * (1 - ls) + 0.5 * ls, yp)
    )


def test_spatial_losses_and_sample_weight_broadcast(rng):
    y_true = rng.integers(0, 4, (2, 3, 5))
    y_pred = _probs(rng, (2, 3, 5, 4))
    w = np.array([1.0, 3.0])
    loss = losses.SparseCategoricalCrossentropy()
    per = losses.sparse_categorical_crossentropy(y_true, y_pred)
    assert per.shape == (2, 3, 5)
    assert loss(y_true, y_pred, w) == pytest.approx((per * w[:, None, None]).sum() / per.size)
    # One weight per value works too.
    wv = rng.uniform(size=(2, 3, 5))
    assert loss(y_true, y_pred, wv) == pytest.approx((per * wv).sum() / per.size)


def test_rank_fix_for_single_output_losses(rng):
    y = rng.integers(0, 2, 6).astype(float)
    p = rng.uniform(0.1, 0.9, (6, 1))
    bce = losses.BinaryCrossentropy()
    value, grad = bce.forward_backward(y, p)  # (N,) labels vs (N, 1) predictions
    assert grad.shape == (6, 1)
    assert value == pytest.approx(bce(y[:, None], p))
    value1d, grad1d = bce.forward_backward(y, p[:, 0])  # (N,) vs (N,)
    assert value1d == pytest.approx(value) and grad1d.shape == (6,)
    np.testing.assert_allclose(grad1d, grad[:, 0])
    w = rng.uniform(size=6)  # per-sample weights on 1-D predictions
    assert losses.MeanSquaredError()(y, p[:, 0], w) == pytest.approx(
        np.mean((y - p[:, 0]) ** 2 * w)
    )


def test_sparse_labels_float_and_column(rng):
    p = _probs(rng, (4, 3))
    ints = np.array([0, 2, 1, 2])
    loss = losses.SparseCategoricalCrossentropy()
    ref = loss(ints, p)
    assert loss(ints.astype(np.float32), p) == pytest.approx(ref)
    assert loss(ints[:, None], p) == pytest.approx(ref)
    assert loss(ints.astype(np.uint8), p) == pytest.approx(ref)
    onehot = np.eye(3)[ints]
    assert losses.CategoricalCrossentropy()(onehot, p) == pytest.approx(ref)


def test_ignore_class(rng):
    p = _probs(rng, (5, 3))
    labels = np.array([0, 255, 2, 1, 255])
    loss = losses.SparseCategoricalCrossentropy(ignore_class=255)
    keep = labels != 255
    expected = losses.sparse_categorical_crossentropy(labels[keep], p[keep]).mean()
    value, grad = loss.forward_backward(labels, p)
    assert value == pytest.approx(expected)
    assert np.all(grad[~keep] == 0)
    per = losses.sparse_categorical_crossentropy(labels, p, ignore_class=255)
    assert per[1] == 0 and per[4] == 0


def test_float32_in_float32_out(rng):
    y = np.eye(4, dtype=np.float32)[[0, 1, 2]]
    p = _probs(rng, (3, 4)).astype(np.float32)
    for loss in (
        losses.CategoricalCrossentropy(),
        losses.MeanSquaredError(),
        losses.BinaryCrossentropy(),
    ):
        value, grad = loss.forward_backward(y, p)
        assert isinstance(value, float) and grad.dtype == np.float32
        _, grad64 = loss.forward_backward(y.astype(np.float64), p.astype(np.float64))
        np.testing.assert_allclose(grad, grad64, rtol=2e-4, atol=1e-7)


def test_axis_argument(rng):
    y = np.eye(3)[rng.integers(0, 3, (4, 2))]  # (4, 2, 3)
    p = _probs(rng, (4, 2, 3))
    channels_first = losses.CategoricalCrossentropy(axis=1)
    v, g = channels_first.forward_backward(np.moveaxis(y, -1, 1), np.moveaxis(p, -1, 1))
    v_ref, g_ref = losses.CategoricalCrossentropy().forward_backward(y, p)
    assert v == pytest.approx(v_ref)
    np.testing.assert_allclose(g, np.moveaxis(g_ref, -1, 1))


# ---- 3. errors -----------------------------------------------------------------------------


def test_shape_errors_name_the_loss_and_the_fix(rng):
    p = _probs(rng, (4, 10))
    scce = losses.SparseCategoricalCrossentropy()
    with pytest.raises(
        ValueError,
        match=r"sparse_categorical_crossentropy.*\(4, 10\).*"
        r"use loss='categorical_crossentropy'",
    ):
        scce(np.eye(10)[[1, 2, 3, 4]], p)
    with pytest.raises(
        ValueError,
        match=r"labels in \[0, 9\].*10 classes.*from 0 to 10.*"
        r"at least 11 units",
    ):
        scce(np.array([0, 1, 2, 10]), p)
    with pytest.raises(ValueError, match=r"from -1 to 3.*class indices"):
        scce(np.array([0, -1, 2, 3]), p)
    with pytest.raises(ValueError, match="non-integer values"):
        scce(np.array([0.5, 1, 2, 3]), p)
    with pytest.raises(ValueError, match="integer class labels, got dtype <U1"):
        scce(np.array(["a", "b", "c", "d"]), p)
    cce = losses.CategoricalCrossentropy()
    with pytest.raises(
        ValueError,
        match=r"categorical_crossentropy.*\(4, 10\).*\(4,\).*"
        r"sparse_categorical_crossentropy.*"
        r"to_categorical\(y, 10\)",
    ):
        cce(np.array([1, 2, 3, 4]), p)
    with pytest.raises(ValueError, match="different numbers of samples"):
        cce(np.eye(10)[[1, 2, 3]], p)
    with pytest.raises(ValueError, match="binary_crossentropy.*sparse_categorical_crossentropy"):
        losses.BinaryCrossentropy()(np.array([1, 0, 1, 1]), p)
    with pytest.raises(ValueError, match=r"mean_squared_error.*\(4, 10\).*\(4, 3\)"):
        losses.MeanSquaredError()(np.zeros((4, 3)), p)
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\).*shape \(4,\)"):
        cce(np.eye(10)[[1, 2, 3, 4]], p, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="label_smoothing in \\[0, 1\\]"):
        losses.CategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match="cannot be fused"):
        losses.MeanSquaredError().forward_backward_logits(np.zeros((2, 2)), np.zeros((2, 2)))


# ---- 4. lookup and serialisation -----------------------------------------------------------


@pytest.mark.parametrize(
    "name,cls",
    [
        ("categorical_crossentropy", losses.CategoricalCrossentropy),
        ("CategoricalCrossentropy", losses.CategoricalCrossentropy),
        ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
        ("binary_crossentropy", losses.BinaryCrossentropy),
        ("bce", losses.BinaryCrossentropy),
        ("mse", losses.MeanSquaredError),
        ("MSE", losses.MeanSquaredError),
        ("MeanSquaredError", losses.MeanSquaredError),
        ("mean_absolute_error", losses.MeanAbsoluteError),
        ("mae", losses.MeanAbsoluteError),
    ],
)
def test_get_by_name(name, cls):
    loss = losses.get(name)
    assert type(loss) is cls
    assert loss.name == cls.default_name


def test_unknown_name_suggests():
    with pytest.raises(
        ValueError,
        match="Unknown loss 'categorical_crossentropyy'. Did you mean 'categorical_crossentropy'",
    ):
        losses.get("categorical_crossentropyy")
    with pytest.raises(TypeError, match="no automatic differentiation"):
        losses.get(lambda y, p: 0.0)
    with pytest.raises(TypeError, match="Could not interpret loss 3"):
        losses.get(3)
    assert losses.get(None) is None


@pytest.mark.parametrize(
    "loss",
    [
        losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        losses.SparseCategoricalCrossentropy(ignore_class=0, name="my_loss"),
        losses.BinaryCrossentropy(label_smoothing=0.2, reduction="sum"),
        losses.MeanSquaredError(),
        losses.MeanAbsoluteError(reduction="mean_with_sample_weight"),
    ],
)
def test_config_round_trip(loss):
    import json

    data = json.loads(json.dumps(losses.serialize(loss)))
    again = losses.deserialize(data)
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
    assert losses.get(data).get_config() == loss.get_config()
    assert again.fuses_with == loss.fuses_with
    same = losses.get(loss)
    assert same is loss


def test_custom_subclass_trains_through_the_base_class(rng):
    class Cubic(losses.Loss):
        def call(self, y_true, y_pred):
            return ((y_pred - y_true) ** 3).sum(axis=-1)

        def call_backward(self, y_true, y_pred, upstream):
            return 3 * (y_pred - y_true) ** 2 * upstream[..., None]

    loss = Cubic(name="cubic")
    y, p = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    w = rng.uniform(size=4)
    value, grad = loss.forward_backward(y, p, w)
    assert value == pytest.approx(((p - y) ** 3).sum(-1) @ w / 4)
    assert_close(grad, numeric_grad(lambda: loss(y, p, w), p))


@pytest.mark.parametrize(
    "module",
    [
        "filterbank.losses",
        "filterbank.losses.base",
        "filterbank.losses.probabilistic",
        "filterbank.losses.regression",
    ],
)
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
