"""Two checkouts, best-of timings: ``python benchmarks/best_of_ab.py OLD NEW [--repeats 3]``.

For a loaded machine, where medians of ratios spread too widely: each checkout runs in a fresh
process (``PYTHONPATH`` = the checkout, one BLAS thread), alternating ``--repeats`` times, and
each figure keeps its fastest block (load only ever slows a block down, so the minimum is the
figure least touched by it). Figures: batch-1 and batch-64 ``predict_on_batch`` on the seed
Sequential model, batch-64 ``train_on_batch`` (rmsprop) on the seed functional model.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

WORKER = r"""
import json, time
import numpy as np
import filterbank as keras
from filterbank import zoo

def best(fn, calls, blocks=5):
    for _ in range(3):
        fn()
    out = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        out.append((time.perf_counter() - t0) / calls)
    return min(out)

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


def run(checkout: str) -> dict:
    env = dict(
        os.environ,
        PYTHONPATH=os.path.abspath(checkout),
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        NUMBA_NUM_THREADS="1",
    )
    out = subprocess.run(
        [sys.executable, "-c", WORKER], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    best: dict = {"old": {}, "new": {}}
    for _ in range(a.repeats):
        for side, path in (("old", a.old), ("new", a.new)):
            for k, v in run(path).items():
                best[side][k] = min(v, best[side].get(k, float("inf")))
    print("| figure | old (best) | new (best) | new/old |")
    print("|---|---|---|---|")
    for k in best["old"]:
        o, n = best["old"][k], best["new"][k]
        print(f"| {k} | {o:,.1f} | {n:,.1f} | {n / o:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
