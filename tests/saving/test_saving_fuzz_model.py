"""Fuzz ``load_model`` on a real saved CNN: >= 1,000 mutated files, each loads or raises
ModelFileError, writes nothing, stays in bounded memory and leaves global state alone."""

import os

import numpy as np
from hypothesis import HealthCheck, given, seed, settings

import filterbank as keras
from filterbank import backend, layers
from filterbank.saving import load_model
from tests.saving.fuzzcheck import RSS_GROWTH_LIMIT, Harness, members_of
from tests.saving.zipfuzz import KINDS, mutated_files

# A longer soak run, exploring other cases than CI's fixed ones (from the repository root):
#   FILTERBANK_FUZZ_EXAMPLES=20000 FILTERBANK_FUZZ_SEED=7 pytest tests/saving/ -k fuzz_load
EXAMPLES = int(os.environ.get("FILTERBANK_FUZZ_EXAMPLES", 1100))
SEED = os.environ.get("FILTERBANK_FUZZ_SEED")


def small_cnn():
    inp = keras.Input(shape=(6, 6, 2))
    a = layers.Conv2D(3, 3, padding="same", activation="relu")(inp)
    b = layers.Conv2D(3, 1)(inp)
    x = layers.Add()([a, b])
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.2)(x)
    out = layers.Dense(4, activation="softmax", kernel_regularizer="l2")(x)
    model = keras.Model(inp, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    model.fit(
        rng.random((8, 6, 6, 2), dtype="float32"),
        rng.integers(0, 4, 8),
        epochs=1,
        batch_size=4,
        verbose=0,
    )
    return model


def test_fuzz_load_model(tmp_path):
    (tmp_path / "valid").mkdir()
    valid = tmp_path / "valid" / "model.fbk"
    small_cnn().save(valid)
    members = members_of(valid)
    assert "optimizer.safetensors" in members
    work = tmp_path / "work"
    work.mkdir()
    harness = Harness(work)
    x = np.random.default_rng(1).random((2, 6, 6, 2), dtype="float32")
    original = load_model(valid)
    want = original.predict(x, verbose=0)
    config = original.get_config()

    def loader(path):
        rng_state, floatx = backend.get_rng_state(), backend.floatx()
        try:
            model = load_model(path)
        finally:
            assert backend.get_rng_state() == rng_state and backend.floatx() == floatx
        if model.get_config() == config:
            # What loads with the original architecture must be the original model, exactly.
            # (A benign edit may change the architecture -- e.g. another BatchNormalization
            # epsilon -- and then predictions may differ.)
            assert np.array_equal(model.predict(x, verbose=0), want)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=mutated_files(members))
    def run(case):
        kind, data = case
        harness.check(loader, kind, data)

    if SEED is not None:
        run = seed(int(SEED))(run)

    run()
    print(
        f"\n{harness.cases} cases: {dict(harness.outcomes)}; "
        f"peak {harness.peak / 2**20:.1f} MiB; per kind {sorted(harness.by_kind.items())}"
    )
    assert harness.cases >= min(1000, EXAMPLES)
    assert set(harness.kinds) == set(KINDS)
    assert harness.outcomes["ModelFileError"] > harness.cases // 2
    assert harness.rss_growth() < RSS_GROWTH_LIMIT
