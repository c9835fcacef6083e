"""Two checkouts, best-of timings: ``python benchmarks/best_of_ab.py OLD NEW [--repeats 3]``.

For a loaded machine, where medians of ratios spread too widely: each checkout runs in a fresh
process (``PYTHONPATH`` = the checkout, one BLAS thread), alternating ``--repeats`` times, and
each figure keeps its fastest block (load only ever slows a block down, so the minimum is the
figure least touched by it). Figures: batch-1 and batch-64 ``predict_on_batch`` on the seed
Sequential model, batch-64 ``train_on_batch`` (rmsprop) on the seed functional model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the benchmarks package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.ab import BEST_OF, best_of_table, run_checkout  # noqa: E402

WORKER = (
    BEST_OF
    + r"""
import numpy as np
import filterbank as keras
from filterbank import zoo

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
seq = zoo.build("seed-sequential", (28, 28, 1), 10)
x1 = rng.random((1, 28, 28, 1), dtype=np.float32)
x64 = rng.random((64, 28, 28, 1), dtype=np.float32)
fun = zoo.build("seed-functional", (28, 28, 1), 10)
fun.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
y64 = rng.integers(0, 10, 64)
print(json.dumps({
    "predict b1 (us)": best(lambda: seq.predict_on_batch(x1), 300) * 1e6,
    "predict b64 (us)": best(lambda: seq.predict_on_batch(x64), 20) * 1e6,
    "train b64 (ms)": best(lambda: fun.train_on_batch(x64, y64), 10) * 1e3,
}))
"""
)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    best_of_table(a.old, a.new, a.repeats, lambda path: run_checkout(path, WORKER, threads=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
