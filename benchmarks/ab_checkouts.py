"""Two checkouts of filterbank, A/B on the seed models: is a branch as fast as main?

    python benchmarks/ab_checkouts.py /path/to/main /path/to/branch [--rounds 9]

Each round runs one fresh worker process per checkout (``PYTHONPATH`` = the checkout), in
alternating order, timing ``train_on_batch`` (batch 64, rmsprop), ``predict_on_batch``
(batch 64) and batch-1 ``predict_on_batch`` on both seed models (~0.4 s per timed block,
after two warm-up calls). The ratio branch/main is taken per round, so load that comes and
goes on a shared machine hits both sides of a ratio alike; the median and min-max of the
ratios are printed (> 1: the branch is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

WORKER = r"""
import json, time
import numpy as np
import filterbank as keras
from filterbank import zoo

def seconds_per_call(fn, block=0.4):
    fn(); fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn(); n += 1
        t = time.perf_counter() - t0
        if t >= block:
            return t / n

out = {}
for arch in ("functional", "sequential"):
    keras.utils.set_random_seed(0)
    make = zoo.seed_functional if arch == "functional" else zoo.seed_sequential
    m = make((28, 28, 1), 10)
    m.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    x1 = x[:1].copy()
    out["train/" + arch] = seconds_per_call(lambda: m.train_on_batch(x, y))
    out["infer/" + arch] = seconds_per_call(lambda: m.predict_on_batch(x))
    out["latency/" + arch] = seconds_per_call(lambda: m.predict_on_batch(x1))
print(json.dumps(out))
"""


def run(checkout: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(checkout), "PYTHONDONTWRITEBYTECODE": "1"}
    res = subprocess.run(
        [sys.executable, "-c", WORKER],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=checkout,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("main")
    p.add_argument("branch")
    p.add_argument("--rounds", type=int, default=9)
    args = p.parse_args(argv)
    ratios: dict[str, list] = {}
    times: dict[str, dict] = {"main": {}, "branch": {}}
    for r in range(args.rounds):
        order = [("main", args.main), ("branch", args.branch)]
        if r % 2:
            order.reverse()
        got = {side: run(path) for side, path in order}
        for key in got["main"]:
            ratios.setdefault(key, []).append(got["main"][key] / got["branch"][key])
            for side in got:
                times[side].setdefault(key, []).append(got[side][key])
        print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
    print("| figure | main (median) | branch (median) | main/branch time ratio, median | min-max |")
    print("|---|---|---|---|---|")
    for key, vals in ratios.items():
        a = float(np.median(times["main"][key])) * 1e6
        b = float(np.median(times["branch"][key])) * 1e6
        print(
            f"| {key} | {a:,.0f} us | {b:,.0f} us | {np.median(vals):.3f} | "
            f"{min(vals):.2f}-{max(vals):.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
