"""Run by the MPI tests under ``mpirun -n K``: ``python mpi_worker.py SCENARIO OUT_DIR``.

Each rank writes ``OUT_DIR/<scenario>-rank<r>.npz``; the tests (one process) compare.
"""

from __future__ import annotations

import hashlib
import os
import sys

import numpy as np

import filterbank as keras
from filterbank import backend, distributed, layers, zoo

MODELS = ["seed-sequential", "seed-functional", "lenet5", "xo", "bn"]


def build(name, shape=(28, 28, 1), classes=10):
    if name == "bn":
        # No bias before a BatchNormalization: its true gradient is 0, so its value after a
        # step is rounding noise in any process, with nothing to compare.
        return keras.Sequential([
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
        ], name="bn_model")
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
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def one_step(name, batch, shards):
    """One fit step on the first `batch` samples (global batch); returns the weights."""
    model = make(name)
    x, y = data(name, batch)
    if shards:
        x, y = distributed.shard(x, y)
    history = model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    return model.get_weights(), history.history


def weights_digest(model) -> bytes:
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.digest()


def main():
    scenario, out = sys.argv[1], sys.argv[2]
    distributed.initialize(timeout=float(os.environ.get("WORKER_TIMEOUT", "60")))
    r = distributed.rank()
    result = {}
    if scenario in ("exact", "exact-shards"):
        backend.set_floatx("float64")
        for name in MODELS:
            ws, hist = one_step(name, 7, scenario == "exact-shards")
            for i, w in enumerate(ws):
                result[f"{name}/{i}"] = w
            result[f"{name}/loss"] = np.array(hist["loss"])
            result[f"{name}/accuracy"] = np.array(hist["accuracy"])
    elif scenario == "drift":
        # several steps of rmsprop with dropout and batch norm, float32: the ranks must agree
        model = keras.Sequential([
            keras.Input(shape=(12, 10, 3)), layers.Conv2D(4, 3), layers.BatchNormalization(),
            layers.ReLU(), layers.Flatten(), layers.Dropout(0.3), layers.Dense(10,
                                                                              activation="softmax")])
        keras.utils.set_random_seed(2)
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        x, y = data("bn", 50)
        model.fit(x, y, batch_size=9, epochs=2, verbose=0)
        result["digest"] = np.frombuffer(weights_digest(model), dtype=np.uint8)
        result["eval"] = np.array(model.evaluate(x, y, batch_size=16, verbose=0))
    np.savez(os.path.join(out, f"{scenario}-rank{r}.npz"), **result)


if __name__ == "__main__":
    main()
