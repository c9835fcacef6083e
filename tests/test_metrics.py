"""Metrics: Keras's documented values, streaming == concatenated, accuracy resolution, names."""

import json

import numpy as np
import pytest

from filterbank import losses, metrics


def test_keras_documented_values():
    yt, yp = np.array([[0, 0, 1], [0, 1, 0]]), np.array([[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    w = np.array([0.7, 0.3])
    assert metrics.CategoricalAccuracy()(yt, yp) == pytest.approx(0.5)
    assert metrics.CategoricalAccuracy()(yt, yp, sample_weight=w) == pytest.approx(0.3)
    assert metrics.SparseCategoricalAccuracy()(np.array([[2], [1]]), yp) == pytest.approx(0.5)
    assert metrics.SparseCategoricalAccuracy()(np.array([2, 1]), yp, w) == pytest.approx(0.3)
    assert metrics.TopKCategoricalAccuracy(k=1)(yt, yp) == pytest.approx(0.5)
    assert metrics.TopKCategoricalAccuracy(k=1)(yt, yp, w) == pytest.approx(0.3)
    assert metrics.SparseTopKCategoricalAccuracy(k=1)(np.array([2, 1]), yp) == pytest.approx(0.5)
    assert metrics.TopKCategoricalAccuracy(k=2)(yt, yp) == pytest.approx(1.0)
    b_true, b_pred = np.array([[1], [1], [0], [0]]), np.array([[0.98], [1], [0], [0.6]])
    assert metrics.BinaryAccuracy()(b_true, b_pred) == pytest.approx(0.75)
    assert metrics.BinaryAccuracy()(b_true, b_pred, np.array([1, 0, 0, 1])) == pytest.approx(0.5)
    assert metrics.BinaryAccuracy(threshold=0.99)(b_true, b_pred) == pytest.approx(0.75)
    assert metrics.Accuracy()(
        np.array([[1], [2], [3], [4]]), np.array([[0], [2], [3], [4]])
    ) == pytest.approx(0.75)
    r_true, r_pred = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[1.0, 1.0], [1.0, 0.0]])
    assert metrics.MeanSquaredError()(r_true, r_pred) == pytest.approx(0.5)
    assert metrics.MeanAbsoluteError()(r_true, r_pred, np.array([1, 0])) == pytest.approx(0.5)
    assert metrics.RootMeanSquaredError()(r_true, r_pred) == pytest.approx(np.sqrt(0.5))
    assert metrics.Mean()(np.array([1, 3, 5, 7])) == pytest.approx(4.0)
    assert metrics.Mean()(np.array([1, 3, 5, 7]), sample_weight=[1, 1, 0, 0]) == pytest.approx(2.0)


def _random_batch(rng, kind, n):
    c = 5
    if kind in ("categorical", "top_k"):
        return np.eye(c)[rng.integers(0, c, n)], rng.uniform(size=(n, c))
    if kind in ("sparse", "sparse_top_k", "scce"):
        return rng.integers(0, c, n), rng.uniform(0.01, 1, size=(n, c))
    if kind == "binary":
        return rng.integers(0, 2, (n, 3)), rng.uniform(size=(n, 3))
    return rng.standard_normal((n, 2, 3)), rng.standard_normal((n, 2, 3))


STREAMING = {
    "categorical": metrics.CategoricalAccuracy,
    "sparse": metrics.SparseCategoricalAccuracy,
    "binary": metrics.BinaryAccuracy,
    "top_k": lambda: metrics.TopKCategoricalAccuracy(k=2),
    "sparse_top_k": lambda: metrics.SparseTopKCategoricalAccuracy(k=3),
    "mse": metrics.MeanSquaredError,
    "mae": metrics.MeanAbsoluteError,
    "rmse": metrics.RootMeanSquaredError,
    "scce": metrics.SparseCategoricalCrossentropy,
}


@pytest.mark.parametrize("kind", STREAMING)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_streaming_equals_concatenated(kind, weighted, seed):
    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in rng.integers(1, 9, 4)]
    batches = [_random_batch(rng, kind, n) for n in sizes]
    weights = [rng.uniform(0, 2, n) if weighted else None for n in sizes]
    streamed = STREAMING[kind]()
    for (yt, yp), w in zip(batches, weights):
        streamed.update_state(yt, yp, sample_weight=w)
    whole = STREAMING[kind]()
    whole.update_state(
        np.concatenate([b[0] for b in batches]),
        np.concatenate([b[1] for b in batches]),
        sample_weight=np.concatenate(weights) if weighted else None,
    )
    assert streamed.result() == pytest.approx(whole.result(), rel=1e-12)
    streamed.reset_state()
    assert streamed.result() == 0.0


def test_loss_tracking_mean_weights_by_batch_size():
    m = metrics.Mean(name="loss")
    m.update_state(1.0, sample_weight=64)
    m.update_state(4.0, sample_weight=16)  # a smaller last batch counts less
    assert m.result() == pytest.approx((64 + 64) / 80)
    state = m.get_state()
    again = metrics.Mean()
    again.set_state(state)
    assert again.result() == m.result()


def test_crossentropy_metrics_equal_the_losses(rng):
    yt = rng.integers(0, 4, 6)
    yp = rng.uniform(0.05, 1, (6, 4))
    assert metrics.get("sparse_categorical_crossentropy")(yt, yp) == pytest.approx(
        losses.SparseCategoricalCrossentropy()(yt, yp)
    )
    onehot = np.eye(4)[yt]
    m = metrics.CategoricalCrossentropy(label_smoothing=0.1)
    assert m(onehot, yp) == pytest.approx(
        losses.CategoricalCrossentropy(label_smoothing=0.1)(onehot, yp)
    )
    b = rng.integers(0, 2, (6, 1))
    p = rng.uniform(0.05, 0.95, (6, 1))
    assert metrics.get("bce")(b, p) == pytest.approx(losses.BinaryCrossentropy()(b, p))


def test_top_k_ties_count_as_hits():
    y_pred = np.array([[0.5, 0.5, 0.5, 0.1]])
    assert metrics.sparse_top_k_categorical_accuracy(np.array([2]), y_pred, k=1)[0] == 1.0
    assert metrics.sparse_top_k_categorical_accuracy(np.array([3]), y_pred, k=3)[0] == 0.0
    assert metrics.sparse_top_k_categorical_accuracy(np.array([3]), y_pred, k=4)[0] == 1.0


# ---- accuracy resolution -------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss,cls",
    [
        ("categorical_crossentropy", metrics.CategoricalAccuracy),
        (losses.CategoricalCrossentropy(from_logits=True), metrics.CategoricalAccuracy),
        ("sparse_categorical_crossentropy", metrics.SparseCategoricalAccuracy),
        (losses.SparseCategoricalCrossentropy(), metrics.SparseCategoricalAccuracy),
        ("binary_crossentropy", metrics.BinaryAccuracy),
        ({"class_name": "BinaryCrossentropy", "config": {}}, metrics.BinaryAccuracy),
    ],
)
@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_accuracy_resolved_by_loss_keeps_user_name(loss, cls, name):
    m = metrics.get(name, loss=loss)
    assert type(m) is cls and m.name == name


@pytest.mark.parametrize(
    "y_true_shape,y_pred_shape,cls",
    [
        ((8, 1), (8, 1), metrics.BinaryAccuracy),  # sigmoid output
        ((8,), (8, 1), metrics.BinaryAccuracy),
        ((8,), (8, 10), metrics.SparseCategoricalAccuracy),
        ((8, 1), (8, 10), metrics.SparseCategoricalAccuracy),
        ((8, 10), (8, 10), metrics.CategoricalAccuracy),
    ],
)
def test_accuracy_resolved_by_shapes_when_loss_does_not_decide(y_true_shape, y_pred_shape, cls):
    rng = np.random.default_rng(0)
    m = metrics.get("accuracy", loss="mse")
    assert isinstance(m, metrics.AutoAccuracy) and m.name == "accuracy"
    if cls is metrics.CategoricalAccuracy:
        y_true = np.eye(10)[rng.integers(0, 10, 8)]
    elif cls is metrics.SparseCategoricalAccuracy:
        y_true = rng.integers(0, 10, y_true_shape)
    else:
        y_true = rng.integers(0, 2, y_true_shape)
    y_pred = rng.uniform(size=y_pred_shape)
    m.update_state(y_true, y_pred)
    assert type(m.resolved) is cls and m.resolved.name == "accuracy"
    direct = cls()
    direct.update_state(y_true, y_pred)
    assert m.result() == direct.result()
    m.reset_state()
    assert m.result() == 0.0 and type(m.resolved) is cls


@pytest.mark.parametrize(
    "name,cls",
    [
        ("mse", metrics.MeanSquaredError),
        ("mean_squared_error", metrics.MeanSquaredError),
        ("MeanAbsoluteError", metrics.MeanAbsoluteError),
        ("mae", metrics.MeanAbsoluteError),
        ("categorical_accuracy", metrics.CategoricalAccuracy),
        ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy),
        ("binary_accuracy", metrics.BinaryAccuracy),
        ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
        ("sparse_top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy),
        ("rmse", metrics.RootMeanSquaredError),
    ],
)
def test_get_by_name_keeps_the_spelling(name, cls):
    m = metrics.get(name)
    assert type(m) is cls and m.name == name


def test_binary_accuracy_on_logits_thresholds_at_zero():
    m = metrics.get("accuracy", loss=losses.BinaryCrossentropy(from_logits=True))
    assert type(m) is metrics.BinaryAccuracy and m._fn_kwargs["threshold"] == 0.0
    assert m(np.array([[1], [0], [1]]), np.array([[0.2], [-0.3], [-1.0]])) == pytest.approx(2 / 3)


def test_get_other_identifiers():
    assert type(metrics.get(metrics.CategoricalAccuracy)) is metrics.CategoricalAccuracy
    assert type(losses.get(losses.MeanSquaredError)) is losses.MeanSquaredError
    m = metrics.TopKCategoricalAccuracy(k=3, name="top3")
    assert metrics.get(m) is m
    again = metrics.get(json.loads(json.dumps(metrics.serialize(m))))
    assert type(again) is metrics.TopKCategoricalAccuracy and again.get_config() == m.get_config()
    assert again.name == "top3" and again._fn_kwargs == {"k": 3}

    def wrong_sign(y_true, y_pred):
        return (np.sign(y_true) != np.sign(y_pred)).mean(axis=-1)

    f = metrics.get(wrong_sign)
    assert f.name == "wrong_sign"
    assert f(np.array([[1.0], [-1.0]]), np.array([[1.0], [1.0]])) == 0.5
    assert metrics.get(None) is None
    with pytest.raises(ValueError, match="Unknown metric 'acuracy'. Did you mean 'accuracy'"):
        metrics.get("acuracy")
    with pytest.raises(TypeError, match="Could not interpret metric 3"):
        metrics.get(3)


def test_metric_shape_errors():
    with pytest.raises(
        ValueError,
        match=r"sparse_categorical_accuracy.*\(4,\).*\(4, 10\).*"
        r"one-hot labels use the categorical",
    ):
        metrics.SparseCategoricalAccuracy()(np.eye(10)[:4], np.ones((4, 10)))
    with pytest.raises(ValueError, match="categorical_accuracy.*sparse_categorical_accuracy"):
        metrics.CategoricalAccuracy()(np.arange(4), np.ones((4, 10)))
    with pytest.raises(ValueError, match=r"labels in \[0, 9\]"):
        metrics.SparseTopKCategoricalAccuracy()(np.array([10]), np.ones((1, 10)))
    with pytest.raises(ValueError, match="sample_weight of shape"):
        metrics.Mean()(np.ones(4), sample_weight=np.ones(3))


@pytest.mark.parametrize(
    "module",
    [
        "filterbank.metrics",
        "filterbank.metrics.base",
        "filterbank.metrics.accuracy",
        "filterbank.metrics.regression",
    ],
)
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
