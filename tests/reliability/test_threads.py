"""#17.1: predict / evaluate from another thread while fit runs change neither the training nor
the predictions: fit ends with the weights of a serial run, and every concurrent prediction is
the serial prediction on the weights of some step."""

import threading
import time

import numpy as np

import filterbank as keras
from filterbank import layers


def _model():
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            layers.Conv2D(4, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class _Snapshots(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append(self.model.get_weights())


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, size=96)
    return x, y


def test_fit_with_concurrent_predict_and_evaluate_matches_serial_run():
    x, y = _data()
    probe = x[:5]

    serial = _model()
    snaps = _Snapshots()
    hist_serial = serial.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[snaps])
    # Every weight state a concurrent predict may see: the initial one and one per step.
    states = [_model().get_weights()] + snaps.weights

    model = _model()
    preds, errors, stop = [], [], threading.Event()

    def reader():
        try:
            while not stop.is_set():
                preds.append(model.predict(probe, verbose=0))
                model.evaluate(x[:16], y[:16], verbose=0)
                preds.append(model(probe))
        except Exception as e:  # pragma: no cover - the failure the test looks for
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    try:
        hist = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert time.monotonic() - t0 < 60
    assert not errors, errors
    for a, b in zip(model.get_weights(), serial.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert hist.history == hist_serial.history  # evaluate did not disturb the epoch metrics
    assert len(preds) >= 2

    checker = _model()
    expected = []
    for w in states:
        checker.set_weights(w)
        expected.append(checker.predict(probe, verbose=0))
    for p in preds:
        assert any(np.array_equal(p, e) for e in expected), "a prediction saw torn weights"


def test_a_feature_model_sharing_layers_predicts_safely_during_fit():
    x, y = _data()
    serial = _model()
    serial.fit(x, y, epochs=2, batch_size=16, verbose=0)

    model = _model()
    features = keras.Model(model.inputs, model.layers[1].output)  # the pooled feature maps
    errors, stop, seen = [], threading.Event(), []

    def reader():
        try:
            while not stop.is_set():
                seen.append(features.predict(x[:4], verbose=0))
        except Exception as e:  # pragma: no cover - the failure the test looks for
            errors.append(e)

    t = threading.Thread(target=reader)
    t.start()
    try:
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    finally:
        stop.set()
        t.join(timeout=30)
    assert not errors, errors
    assert seen and all(s.shape == (4, 3, 3, 4) for s in seen)
    for a, b in zip(model.get_weights(), serial.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_evaluate_during_fit_leaves_delegating_metrics_alone():
    from filterbank.models.locking import fitting

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])  # resolved at batch 1
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[np.arange(8) % 2]
    model.train_on_batch(x, y)
    before = model._compiled.logs()
    perfect = np.eye(2, dtype="float32")[model.predict(x, verbose=0).argmax(-1)]
    with fitting(model):  # as if a fit ran in another thread
        assert model.evaluate(x, perfect, verbose=0, return_dict=True)["accuracy"] == 1.0
    assert before["accuracy"] != 1.0
    assert model._compiled.logs() == before


def test_lock_sharing_follows_layers_through_builds_and_copies():
    import copy

    from filterbank.models.locking import model_lock

    model = keras.Sequential([layers.Dense(4), layers.Dense(2)])  # built by its first call
    lock = model_lock(model)
    model.predict(np.ones((2, 3), "float32"), verbose=0)
    features = keras.Model(model.inputs, model.layers[0].output)
    assert model_lock(model) is lock and model_lock(features) is lock
    twin = copy.deepcopy(model)
    assert model_lock(twin) is not lock
    assert model_lock(keras.Model(twin.inputs, twin.layers[0].output)) is model_lock(twin)
