"""Training step of two checkouts, best-of: ``python benchmarks/train_ab.py OLD NEW``.

For a loaded machine: each checkout runs in a fresh process (``PYTHONPATH`` = the checkout),
alternating ``--repeats`` times; each process times ``--blocks`` blocks of ``--steps``
``train_on_batch`` calls of a benchmarked model (``benchmarks/frameworks.py``, RMSprop,
batch 64) and keeps its fastest block (load only slows a block down). Also reported: the
process CPU time per step over all blocks, which another job's load inflates less than wall
time. One BLAS thread by default (``--threads``): on a shared 2-core machine two spinning
OpenBLAS threads turn every other job's burst into a stall.

Example:
    python benchmarks/train_ab.py /tmp/base . --archs functional,cifar --repeats 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the benchmarks package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.ab import run_checkout  # noqa: E402

HERE = Path(__file__).resolve().parent.parent

WORKER = r"""
import json, sys, time
sys.path.append(sys.argv[1])
import filterbank
from benchmarks.archs import ARCH_INPUT
from benchmarks.frameworks import FilterbankAdapter, make_data
arch, blocks, steps = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
image, channels = ARCH_INPUT[arch]
model = FilterbankAdapter(1).build(arch, image, 0)
x, y = make_data(64, image, 0, channels)
for _ in range(3):
    model.train_on_batch(x, y)
best, c0 = 1e9, time.process_time()
for _ in range(blocks):
    t = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    best = min(best, (time.perf_counter() - t) / steps)
cpu = (time.process_time() - c0) / (blocks * steps)
print(json.dumps({"best": best, "cpu": cpu, "path": filterbank.__file__}))
"""


def run(checkout, arch, args):
    return run_checkout(checkout, WORKER, [HERE, arch, args.blocks, args.steps], args.threads)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--archs", default="functional,sequential,cifar")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--blocks", type=int, default=5)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    print("| model | old best ms/step | new best ms/step | speed-up | old / new CPU ms/step |")
    print("|---|---|---|---|---|")
    for arch in args.archs.split(","):
        res = {"old": [], "new": []}
        for _ in range(args.repeats):
            for key in ("old", "new"):
                res[key].append(run(getattr(args, key), arch, args))
        assert all(
            r["path"].startswith(str(Path(getattr(args, k)).resolve())) for k in res for r in res[k]
        ), "a worker imported filterbank from elsewhere"
        ob = min(r["best"] for r in res["old"])
        nb = min(r["best"] for r in res["new"])
        oc = min(r["cpu"] for r in res["old"])
        nc = min(r["cpu"] for r in res["new"])
        print(
            f"| {arch} | {ob * 1e3:.2f} | {nb * 1e3:.2f} | {ob / nb:.2f}x | "
            f"{oc * 1e3:.1f} / {nc * 1e3:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
