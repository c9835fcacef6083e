"""compile / fit / evaluate / predict and the one-batch methods."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers, losses, regularizers
from tests.models.doubles import PlainSGD


def blobs(n=300, seed=0, classes=3):
    """Gaussian blobs, one per class, well separated: a linearly separable problem."""
    rng = np.random.default_rng(seed)
    centers = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])[:classes]
    y = rng.integers(0, classes, n)
    x = centers[y] + rng.normal(scale=0.7, size=(n, 2))
    return x.astype("float32"), y


def mlp(classes=3, dropout=False):
    stack = [keras.Input(shape=(2,)), layers.Dense(16, activation="relu")]
    if dropout:
        stack.append(layers.Dropout(0.3))
    stack.append(layers.Dense(classes, activation="softmax"))
    return keras.Sequential(stack)


HOOKS = [
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
]


class Recording(keras.callbacks.Callback):
    """Records every hook call (name and epoch/batch index); can stop training."""

    def __init__(self, stop_at_epoch=None):
        super().__init__()
        self.calls = []
        self.stop_at_epoch = stop_at_epoch
        for hook in HOOKS:
            setattr(self, hook, self._recorder(hook))

    def _recorder(self, hook):
        def record(*args, logs=None):
            args = [a for a in args if not isinstance(a, dict)]
            self.calls.append((hook, *args))
            if hook == "on_epoch_end" and args[0] == self.stop_at_epoch:
                self.model.stop_training = True

        return record


def test_fit_learns_a_separable_problem():
    keras.utils.set_random_seed(0)
    x, y = blobs()
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    assert history.history["loss"][-1] < history.history["loss"][0]
    x_test, y_test = blobs(200, seed=1)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc > 0.9


def test_fit_learns_with_one_hot_labels_and_rmsprop():
    keras.utils.set_random_seed(1)
    x, y = blobs(classes=2)
    model = mlp(classes=2)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, keras.utils.to_categorical(y, 2), epochs=10, verbose=0)
    assert history.history["accuracy"][-1] > 0.9


def test_history_keys_and_model_history():
    x, y = blobs(100)
    model = mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=16, validation_data=(x[:20], y[:20]), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    assert history is model.history
    assert model.metrics_names == ["loss", "accuracy"]


def test_validation_split_takes_the_last_fraction_before_shuffling():
    x, y = blobs(100)
    model = mlp()
    # learning rate 0: weights never move, so the logged losses are plain evaluations
    model.compile(
        optimizer=PlainSGD(0.0), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    history = model.fit(
        x, y, epochs=2, batch_size=10, validation_split=0.25, shuffle=True, verbose=0
    )
    train_loss, train_acc = model.evaluate(x[:75], y[:75], batch_size=10, verbose=0)
    val_loss, val_acc = model.evaluate(x[75:], y[75:], batch_size=10, verbose=0)
    assert history.history["loss"] == pytest.approx([train_loss] * 2, rel=1e-6)
    assert history.history["accuracy"] == pytest.approx([train_acc] * 2)
    assert history.history["val_loss"] == pytest.approx([val_loss] * 2, rel=1e-6)
    assert history.history["val_accuracy"] == pytest.approx([val_acc] * 2)
    assert val_loss != pytest.approx(train_loss, rel=1e-3)


def test_epoch_loss_is_the_sample_mean_over_uneven_batches():
    x, y = blobs(10)
    model = mlp()
    model.compile(optimizer=PlainSGD(0.0), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)  # batches 4, 4, 2
    per_sample = losses.SparseCategoricalCrossentropy(reduction="none")(
        y, model.predict(x, verbose=0)
    )
    assert history.history["loss"][0] == pytest.approx(per_sample.mean(), rel=1e-6)


def test_seeded_fits_are_bit_identical():
    x, y = blobs(120)

    def run(seed):
        keras.utils.set_random_seed(seed)
        model = mlp(dropout=True)
        model.compile(
            optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        h = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0)
        return model.get_weights(), h.history

    w1, h1 = run(5)
    w2, h2 = run(5)
    w3, _ = run(6)
    assert h1 == h2
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))
    assert not all(np.array_equal(a, b) for a, b in zip(w1, w3))


def test_evaluate_return_forms():
    x, y = blobs(50)
    model = mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    loss = model.evaluate(x, y, verbose=0)
    assert isinstance(loss, float)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    values = model.evaluate(x, y, batch_size=7, verbose=0)
    assert (
        isinstance(values, list) and len(values) == 2 and values[0] == pytest.approx(loss, rel=1e-6)
    )
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy"} and logs["loss"] == pytest.approx(loss, rel=1e-6)


def test_predict_is_batched_and_matches_one_call():
    x, _ = blobs(70)
    model = mlp()
    p = model.predict(x, batch_size=16, verbose=0)
    assert p.shape == (70, 3) and p.dtype == np.float32
    np.testing.assert_allclose(p, model(x), rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x[:5]), p[:5], rtol=1e-6)


def test_one_batch_methods():
    x, y = blobs(32)
    model = mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    loss, acc = model.train_on_batch(x, y)
    assert 0 <= acc <= 1 and loss > 0
    assert not np.array_equal(before[0], model.get_weights()[0])
    assert model.optimizer.iterations == 1
    logs = model.test_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert model.test_on_batch(x, y)[0] == pytest.approx(logs["loss"])


def test_multi_output_fit_logs_and_loss_weights():
    rng = np.random.default_rng(0)
    inp = keras.Input(shape=(3,))
    h = layers.Dense(8, activation="relu")(inp)
    cls = layers.Dense(2, activation="softmax", name="cls")(h)
    reg = layers.Dense(1, name="reg")(h)
    model = keras.Model(inp, [cls, reg])
    model.compile(
        optimizer=PlainSGD(0.0),
        loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
        loss_weights={"cls": 1.0, "reg": 0.5},
        metrics={"cls": ["accuracy"]},
    )
    x = rng.normal(size=(40, 3)).astype("float32")
    y_cls, y_reg = rng.integers(0, 2, 40), rng.normal(size=40)
    h = model.fit(x, {"cls": y_cls, "reg": y_reg}, epochs=1, batch_size=40, verbose=0)
    assert set(h.history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy"}
    total = h.history["cls_loss"][0] + 0.5 * h.history["reg_loss"][0]
    assert h.history["loss"][0] == pytest.approx(total, rel=1e-6)
    assert model.metrics_names == ["loss", "cls_loss", "reg_loss", "cls_accuracy"]
    preds = model.predict(x, verbose=0)
    assert [p.shape for p in preds] == [(40, 2), (40, 1)]
    values = model.evaluate(x, [y_cls, y_reg[:, None]], batch_size=40, verbose=0)
    assert values[0] == pytest.approx(total, rel=1e-6)


def test_regularization_is_added_to_the_loss():
    x, y = blobs(20)
    model = keras.Sequential(
        [
            keras.Input(shape=(2,)),
            layers.Dense(3, activation="softmax", kernel_regularizer=regularizers.l2(0.1)),
        ]
    )
    model.compile(optimizer=PlainSGD(0.0), loss="sparse_categorical_crossentropy")
    data_loss = losses.SparseCategoricalCrossentropy()(y, model.predict(x, verbose=0))
    penalty = 0.1 * float((model.layers[0].params["kernel"].astype("float64") ** 2).sum())
    h = model.fit(x, y, batch_size=20, verbose=0)
    assert h.history["loss"][0] == pytest.approx(data_loss + penalty, rel=1e-5)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(data_loss + penalty, rel=1e-5)


def test_class_weight_equals_the_matching_sample_weight():
    x, y = blobs(48)

    def run(**kw):
        keras.utils.set_random_seed(3)
        model = mlp()
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=16, verbose=0, **kw)
        return model.get_weights()

    table = {0: 1.0, 1: 3.0, 2: 0.5}
    a = run(class_weight=table)
    b = run(sample_weight=np.array([table[int(c)] for c in y]))
    c = run()
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))


def test_callback_hooks_in_keras_order_and_stop_training():
    x, y = blobs(30)
    model = mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rec = Recording(stop_at_epoch=1)
    h = model.fit(x, y, epochs=5, batch_size=16, validation_data=(x, y), callbacks=[rec], verbose=0)
    assert len(h.history["loss"]) == 2
    calls = [c for c in rec.calls if not c[0].startswith("on_test_batch")]
    assert calls == [
        ("on_train_begin",),
        ("on_epoch_begin", 0),
        ("on_train_batch_begin", 0),
        ("on_train_batch_end", 0),
        ("on_train_batch_begin", 1),
        ("on_train_batch_end", 1),
        ("on_test_begin",),
        ("on_test_end",),
        ("on_epoch_end", 0),
        ("on_epoch_begin", 1),
        ("on_train_batch_begin", 0),
        ("on_train_batch_end", 0),
        ("on_train_batch_begin", 1),
        ("on_train_batch_end", 1),
        ("on_test_begin",),
        ("on_test_end",),
        ("on_epoch_end", 1),
        ("on_train_end",),
    ]


def test_initial_epoch_steps_per_epoch_and_validation_freq():
    x, y = blobs(64)
    model = mlp()
    opt = PlainSGD(0.01)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    rec = Recording()
    h = model.fit(
        x,
        y,
        epochs=4,
        initial_epoch=1,
        steps_per_epoch=2,
        batch_size=8,
        validation_data=(x, y),
        validation_freq=2,
        callbacks=[rec],
        verbose=0,
    )
    assert [c[1] for c in rec.calls if c[0] == "on_epoch_begin"] == [1, 2, 3]
    assert opt.iterations == 3 * 2
    # validation after the 2nd and 4th epochs (indices 1 and 3), as Keras counts validation_freq
    assert len(h.history["loss"]) == 3 and len(h.history["val_loss"]) == 2
    with pytest.warns(UserWarning, match="steps_per_epoch=100 is more than the 8 batches"):
        model.fit(x, y, epochs=1, steps_per_epoch=100, batch_size=8, verbose=0)


def test_uint8_inputs_are_converted_without_rescaling():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(2, 2, 1)), layers.Flatten(), layers.Dense(2)])
    x = np.array([[[0, 255], [128, 7]]], dtype=np.uint8)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), model(x.astype("float32")[..., None]), rtol=1e-6
    )
    np.testing.assert_allclose(model.predict(x, verbose=0), model(x.astype("float32")), rtol=1e-6)
    assert np.abs(model.predict(x, verbose=0)).max() > 5  # not rescaled to [0, 1]


def test_fit_with_float64_model(float64):
    x, y = blobs(40)
    model = mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert model.predict(x, verbose=0).dtype == np.float64


def test_lazy_sequential_fit_and_compile_before_build():
    x, y = blobs(40)
    model = keras.Sequential(
        [layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, epochs=1, verbose=0)
    assert set(h.history) == {"loss", "accuracy"} and model.input_shape == (None, 2)
    assert model._compiled.outputs[0].fused


def bars(n, seed):
    """8x8 images holding one vertical (class 0) or horizontal (class 1) bar, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    pos = rng.integers(1, 7, n)
    x = rng.normal(scale=0.2, size=(n, 8, 8)).astype("float32")
    idx = np.arange(n)
    x[idx[y == 0], :, pos[y == 0]] += 1.0
    x[idx[y == 1], pos[y == 1], :] += 1.0
    return x, y  # no channel axis: the 1-channel model adds it


def test_tiny_conv_model_learns_bars():
    keras.utils.set_random_seed(0)
    x, y = bars(256, seed=0)
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            layers.Conv2D(4, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    x_test, y_test = bars(128, seed=1)
    assert model.evaluate(x_test, y_test, verbose=0)[1] > 0.9


def test_predict_and_evaluate_hooks():
    x, y = blobs(20)
    model = mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rec = Recording()
    model.predict(x, batch_size=8, callbacks=[rec], verbose=0)
    assert rec.calls == [
        ("on_predict_begin",),
        ("on_predict_batch_begin", 0),
        ("on_predict_batch_end", 0),
        ("on_predict_batch_begin", 1),
        ("on_predict_batch_end", 1),
        ("on_predict_batch_begin", 2),
        ("on_predict_batch_end", 2),
        ("on_predict_end",),
    ]
    rec.calls.clear()
    model.evaluate(x, y, batch_size=16, callbacks=[rec], verbose=0)
    assert rec.calls == [
        ("on_test_begin",),
        ("on_test_batch_begin", 0),
        ("on_test_batch_end", 0),
        ("on_test_batch_begin", 1),
        ("on_test_batch_end", 1),
        ("on_test_end",),
    ]


def test_save_load_through_model_methods(tmp_path):
    x, y = blobs(30)
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.fbk")
    loaded = keras.models.load_model(tmp_path / "m.fbk")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.metrics_names == ["loss", "accuracy"]
    model.save_weights(tmp_path / "w.weights.safetensors")
    keras.utils.clear_session()  # weights are matched by layer name: rebuild with the same names
    fresh = mlp()
    fresh.load_weights(tmp_path / "w.weights.safetensors")
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


def test_softmax_endings_train_alike():
    """Dense(softmax), Dense+Activation, Dense+Softmax layer and logits + from_logits agree."""
    x, y = blobs(64)
    endings = [
        ([layers.Dense(3, activation="softmax")], "sparse_categorical_crossentropy"),
        ([layers.Dense(3), layers.Activation("softmax")], "sparse_categorical_crossentropy"),
        ([layers.Dense(3), layers.Softmax()], "sparse_categorical_crossentropy"),
        ([layers.Dense(3)], losses.SparseCategoricalCrossentropy(from_logits=True)),
    ]
    results = []
    for last, loss in endings:
        keras.utils.set_random_seed(0)
        hidden = layers.Dense(8, activation="relu")
        model = keras.Sequential([keras.Input(shape=(2,)), hidden, *last])
        model.compile(optimizer="sgd", loss=loss)
        h = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        results.append((model.get_weights(), h.history["loss"]))
    for weights, loss_curve in results[1:]:
        np.testing.assert_allclose(loss_curve, results[0][1], rtol=1e-5)
        for a, b in zip(weights, results[0][0]):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_class_weight_does_not_weight_the_validation_split():
    x, y = blobs(40)
    model = mlp()
    model.compile(optimizer=PlainSGD(0.0), loss="sparse_categorical_crossentropy")
    h = model.fit(
        x, y, batch_size=40, validation_split=0.25, class_weight={0: 5.0, 1: 0.1, 2: 1.0}, verbose=0
    )
    val_loss = model.evaluate(x[30:], y[30:], verbose=0)
    unweighted_train_loss = model.evaluate(x[:30], y[:30], verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(val_loss, rel=1e-6)
    assert h.history["loss"][0] != pytest.approx(unweighted_train_loss, rel=1e-3)
