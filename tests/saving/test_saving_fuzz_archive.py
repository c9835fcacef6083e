"""Fuzz the container layer: >= 1,000 mutated files, each must load or raise ModelFileError."""

import numpy as np
from hypothesis import HealthCheck, given, settings

from filterbank.saving import read_archive, write_archive
from filterbank.saving.archive import OPTIMIZER, WEIGHTS
from tests.saving.fuzzcheck import RSS_GROWTH_LIMIT, Harness, members_of
from tests.saving.zipfuzz import KINDS, mutated_files

CONFIG = {
    "class_name": "Sequential",
    "config": {
        "name": "sequential",
        "layers": [
            {"class_name": "InputLayer", "config": {"name": "input", "batch_shape": [None, 4]}},
            {"class_name": "Dense", "config": {"name": "dense", "units": 3, "activation": "relu"}},
        ],
    },
}
TENSORS = {
    WEIGHTS: {
        "dense/kernel": np.arange(12, dtype="float32").reshape(4, 3),
        "dense/bias": np.ones(3, "float32"),
    },
    OPTIMIZER: {"iterations": np.int64(7), "dense/kernel/m": np.zeros((4, 3), "float32")},
}
EXAMPLES = 500  # the load_model fuzz (test_saving_fuzz_model.py) runs 1,100 more


def test_fuzz_read_archive(tmp_path):
    (tmp_path / "valid").mkdir()
    valid = tmp_path / "valid" / "model.fbk"
    write_archive(valid, CONFIG, {}, TENSORS)
    members = members_of(valid)
    work = tmp_path / "work"
    work.mkdir()
    harness = Harness(work)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=mutated_files(members))
    def run(case):
        kind, data = case
        harness.check(read_archive, kind, data)

    run()
    print(
        f"\n{harness.cases} cases: {dict(harness.outcomes)}; "
        f"peak {harness.peak / 2**20:.1f} MiB; "
        f"per kind {sorted(harness.by_kind.items())}"
    )
    assert harness.cases >= EXAMPLES - 50  # hypothesis never runs a case twice
    assert set(harness.kinds) == set(KINDS), "every kind of mutation must be exercised"
    assert harness.outcomes["ModelFileError"] > harness.cases // 2
    assert harness.rss_growth() < RSS_GROWTH_LIMIT
