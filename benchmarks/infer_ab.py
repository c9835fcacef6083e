"""Inference of two checkouts, best-of timings: ``python benchmarks/infer_ab.py OLD NEW``.

For a loaded machine: each checkout runs in a fresh process (``PYTHONPATH`` = the checkout,
``--threads`` BLAS threads), alternating ``--repeats`` times, and each figure keeps its
fastest block (load only slows a block down). Figures: ``predict_on_batch`` at batch 1 and
64 on the harness's models (``benchmarks/archs.py``: functional, sequential, cifar), built
by the harness's own adapter so they are the models ``benchmarks/run.py`` measures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

WORKER = r"""
import json, sys, time
import numpy as np
from benchmarks.archs import ARCH_INPUT
from benchmarks.frameworks import FilterbankAdapter, make_data

def best(fn, calls, blocks=7):
    for _ in range(3):
        fn()
    out = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        out.append((time.perf_counter() - t0) / calls)
    return min(out)

res = {}
adapter = FilterbankAdapter(threads=0)
for arch in sys.argv[1].split(","):
    image, channels = ARCH_INPUT[arch]
    model = adapter.build(arch, image, seed=0)
    for batch, calls in ((1, 200), (64, 10)):
        x, _ = make_data(batch, image, seed=0, channels=channels)
        res[f"{arch} b{batch} (us)"] = best(lambda: model.predict_on_batch(x), calls) * 1e6
print(json.dumps(res))
"""


def run(checkout: str, archs: str, threads: int) -> dict:
    n = str(threads)
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout), OMP_NUM_THREADS=n)
    env.update(OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n, NUMBA_NUM_THREADS=n)
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # as run.py's "--openblas user"
        env.pop(var, None)
    out = subprocess.run(
        [sys.executable, "-c", WORKER, archs],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.abspath(checkout),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--archs", default="functional,sequential,cifar")
    a = p.parse_args(argv)
    best: dict = {"old": {}, "new": {}}
    for _ in range(a.repeats):
        for side, path in (("old", a.old), ("new", a.new)):
            for k, v in run(path, a.archs, a.threads).items():
                best[side][k] = min(v, best[side].get(k, float("inf")))
    print("| figure | old (best) | new (best) | new/old |")
    print("|---|---|---|---|")
    for k in best["old"]:
        o, n = best["old"][k], best["new"][k]
        print(f"| {k} | {o:,.1f} | {n:,.1f} | {n / o:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
