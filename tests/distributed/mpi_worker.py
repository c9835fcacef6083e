"""Run by the MPI tests under ``mpirun -n K``: ``python mpi_worker.py SCENARIO OUT_DIR``.

Each rank writes ``OUT_DIR/<scenario>-rank<r>.npz``; the tests (one process) compare.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import time

import numpy as np

import filterbank as keras
from filterbank import backend, distributed, layers, zoo

MODELS = ["seed-sequential", "seed-functional", "lenet5", "xo", "bn"]
SHARD_MODELS = ["xo", "bn"]  # the mechanics are the same for every model: two suffice


def build(name, shape=(28, 28, 1), classes=10):
    if name == "bn":
        # No bias before a BatchNormalization: its true gradient is 0, so its value after a
        # step is rounding noise in any process, with nothing to compare.
        return keras.Sequential(
            [
                keras.Input(shape=(12, 10, 3)),
                layers.Conv2D(6, 3, use_bias=False),
                layers.BatchNormalization(momentum=0.9),
                layers.ReLU(),
                layers.Conv2D(5, 3, strides=2, use_bias=False),
                layers.BatchNormalization(),
                layers.ReLU(),
                layers.Flatten(),
                layers.Dense(8, use_bias=False),
                layers.BatchNormalization(),
                layers.Activation("relu"),
                layers.Dense(classes, activation="softmax"),
            ],
            name="bn_model",
        )
    if name == "xo":
        return zoo.build("xo", (9, 9, 1), 2)
    return zoo.build(name, shape, classes)


def data(name, n, seed=0):
    rng = np.random.default_rng(seed)
    shape, classes = {"bn": ((12, 10, 3), 10), "xo": ((9, 9, 1), 2)}.get(name, ((28, 28, 1), 10))
    x = rng.uniform(0, 1, size=(n, *shape)).astype(backend.floatx())
    y = rng.integers(0, classes, size=n)
    return x, y


def make(name, optimizer=None):
    # rmsprop (the seed recipe) divides by the gradient's root mean square: a bias feeding a
    # BatchNormalization has a true gradient of 0, so its rmsprop step is the sign of rounding
    # noise in any process. The BN model takes SGD with momentum.
    optimizer = optimizer or ("rmsprop" if name != "bn" else "sgd")
    keras.utils.set_random_seed(1)
    model = build(name)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def one_step(name, batch, shards, order=None):
    """fit on `batch` + 1 samples with batch_size=`batch` (the global batch): step 1 takes
    `batch` samples, step 2 one (most ranks then have none). Returns the weights after step 1,
    after step 2, the History and evaluate()'s [loss, accuracy]."""
    model = make(name)
    x, y = data(name, batch + 1)
    if order is not None:
        x, y = x[order], y[order]
    if shards:
        x, y = distributed.shard(x, y)
    after_first = []

    def snapshot(step, logs):
        if step == 0:
            after_first.extend(w.copy() for w in model.get_weights())

    history = model.fit(
        x,
        y,
        batch_size=batch,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=snapshot)],
    )
    scores = model.evaluate(x, y, batch_size=3, verbose=0)
    return after_first, model.get_weights(), history.history, scores


def shuffled(name="xo"):
    """Two shuffled epochs of 20 samples in batches of 7: the order is decided once for all
    ranks, so the weights equal one process's."""
    model = make(name)
    x, y = data(name, 20)
    model.fit(x, y, batch_size=7, epochs=2, verbose=0)
    return model.get_weights()


def small_model():
    """Conv, batch norm, dropout: every kind of per-rank state."""
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 10, 3)),
            layers.Conv2D(4, 3),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def weights_digest(model) -> bytes:
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.digest()


def main():
    scenarios, out = sys.argv[1], sys.argv[2]
    distributed.initialize(timeout=float(os.environ.get("WORKER_TIMEOUT", "60")))
    for scenario in scenarios.split(","):
        run(scenario, out)


def run(scenario, out):
    r = distributed.rank()
    result = {}
    backend.set_floatx("float32")
    if scenario in ("exact", "exact-shards"):
        backend.set_floatx("float64")
        for name in MODELS if scenario == "exact" else SHARD_MODELS:
            first, second, hist, scores = one_step(name, 7, scenario == "exact-shards")
            for i, (w1, w2) in enumerate(zip(first, second)):
                result[f"{name}/step1/{i}"] = w1
                result[f"{name}/step2/{i}"] = w2
            result[f"{name}/loss"] = np.array(hist["loss"])
            result[f"{name}/accuracy"] = np.array(hist["accuracy"])
            result[f"{name}/evaluate"] = np.array(scores)
        if scenario == "exact":
            for i, w in enumerate(shuffled()):
                result[f"shuffled/{i}"] = w
    elif scenario == "drift":
        # several steps of rmsprop with dropout and batch norm, float32: the ranks must agree
        model = small_model()
        x, y = data("bn", 50)
        history = model.fit(x, y, batch_size=9, epochs=2, verbose=0, validation_split=0.2)
        result["digest"] = np.frombuffer(weights_digest(model), dtype=np.uint8)
        result["eval"] = np.array(model.evaluate(x, y, batch_size=16, verbose=0))
        result["val_loss"] = np.array(history.history["val_loss"])
    elif scenario == "accumulate":
        # float32 rmsprop, two shuffled epochs of 64 samples. Under mpirun -n 2: global batches
        # of 16 (8 per rank). Alone: batches of 8 with gradient_accumulation_steps=2, the same
        # sums (g0 * 8 + g1 * 8) / 16 = (g0 + g1) / 2, so the weights must match bit for bit.
        alone = distributed.size() == 1
        opt = keras.optimizers.RMSprop(gradient_accumulation_steps=2) if alone else "rmsprop"
        model = make("seed-sequential", opt)
        x, y = data("seed-sequential", 64)
        model.fit(x, y, batch_size=8 if alone else 16, epochs=2, verbose=0)
        for i, w in enumerate(model.get_weights()):
            result[f"w{i}"] = w
        result["updates"] = np.array(model.optimizer.iterations)
        scenario = "accumulate-alone" if alone else "accumulate"
    elif scenario in ("kill", "raise", "hang"):
        model = small_model()
        x, y = data("bn", 60)

        def fault(batch, logs):
            if r == 1 and batch == 2:
                if scenario == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                elif scenario == "raise":
                    raise RuntimeError("a fault injected on rank 1")
                else:
                    time.sleep(600)

        model.fit(
            x,
            y,
            batch_size=8,
            epochs=2,
            verbose=0,
            callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=fault)],
        )
    elif scenario.startswith("resume"):
        # resume-full: an unbroken run; resume-killed: rank 1 dies at epoch 1, batch 3;
        # resume-again: the killed run's command rerun, resuming from its backup.
        model = small_model()
        x, y = data("bn", 60)
        backup = os.path.join(out, "backup-full" if scenario == "resume-full" else "backup")
        callbacks = [keras.callbacks.BackupAndRestore(backup, save_freq=2)]
        if scenario == "resume-killed":

            def die(batch, logs):
                if r == 1 and batch == 3 and model.optimizer.iterations > 8:
                    os.kill(os.getpid(), signal.SIGKILL)

            callbacks.insert(0, keras.callbacks.LambdaCallback(on_train_batch_end=die))
        history = model.fit(x, y, batch_size=9, epochs=3, verbose=0, callbacks=callbacks)
        result["digest"] = np.frombuffer(weights_digest(model), dtype=np.uint8)
        result["loss"] = np.array(history.history["loss"])
        scenario = "resume-full" if scenario == "resume-full" else "resume-done"
    np.savez(os.path.join(out, f"{scenario}-rank{r}.npz"), **result)


if __name__ == "__main__":
    main()
