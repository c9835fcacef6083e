"""Same seed, same run: History and weights are bit-identical, in fresh processes too.

Each run below is a new Python process (fresh imports, fresh layer-name counters, a different
string-hash seed, the compiled kernels if numba is installed), so nothing can leak from one
run to the next through module state.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

import filterbank as keras
from filterbank import layers

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import filterbank as keras
    from filterbank import layers

    seed, out = int(sys.argv[1]), sys.argv[2]
    keras.utils.set_random_seed(seed)
    data = np.random.default_rng(0)  # the data is fixed; only the training seed varies
    x = data.normal(size=(40, 9, 9, 2)).astype("float32")
    y = data.integers(0, 4, size=40)
    inputs = keras.Input(shape=(9, 9, 2))
    h = layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    h = layers.BatchNormalization()(h)
    h = layers.MaxPooling2D()(h)
    h = layers.Dropout(0.3)(h)
    h = layers.Flatten()(h)
    outputs = layers.Dense(4, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, shuffle=True,
                        verbose=0)
    np.savez(out, *model.get_weights())
    with open(out + ".json", "w") as f:
        json.dump(history.history, f)
""")


def _run(tmp_path, seed, name, hash_seed):
    script = tmp_path / "train.py"
    if not script.exists():
        script.write_text(SCRIPT)
    out = tmp_path / name
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, str(script), str(seed), str(out)],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()
    with np.load(str(out) + ".npz", allow_pickle=False) as data:
        weights = [data[f"arr_{i}"] for i in range(len(data.files))]
    with open(str(out) + ".json") as f:
        return weights, json.load(f)


def test_same_seed_gives_bit_identical_history_and_weights_in_fresh_processes(tmp_path):
    weights_a, history_a = _run(tmp_path, seed=5, name="a", hash_seed="1")
    weights_b, history_b = _run(tmp_path, seed=5, name="b", hash_seed="2")
    assert sorted(history_a) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history_a == history_b  # floats compared exactly (JSON round-trips them)
    assert len(weights_a) == len(weights_b) == 8
    for a, b in zip(weights_a, weights_b):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    # ...and the seed is what decides: another one gives another run.
    weights_c, history_c = _run(tmp_path, seed=6, name="c", hash_seed="1")
    assert history_c["loss"] != history_a["loss"]
    assert weights_c[0].tobytes() != weights_a[0].tobytes()


def test_same_seed_gives_the_same_run_in_one_process():
    def run():
        keras.utils.set_random_seed(11)
        x = np.random.default_rng(1).normal(size=(24, 5)).astype("float32")
        y = np.random.default_rng(2).integers(0, 2, size=24)
        model = keras.Sequential(
            [
                keras.Input(shape=(5,)),
                layers.Dense(8, activation="relu"),
                layers.Dropout(0.5),
                layers.Dense(2, activation="softmax"),
            ]
        )
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
        history = model.fit(x, y, epochs=3, batch_size=5, verbose=0)
        return history.history, model.get_weights()

    (history_a, weights_a), (history_b, weights_b) = run(), run()
    assert history_a == history_b
    assert all(a.tobytes() == b.tobytes() for a, b in zip(weights_a, weights_b, strict=True))
