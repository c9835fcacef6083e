"""Large-image steps of two checkouts: ``python benchmarks/image_ab.py OLD NEW``.

The check behind "nothing gets slower" for the scaling figure's large images, where
``benchmarks/run.py``'s three-round scaling points are too few to compare two checkouts:
each checkout runs in a fresh process (``PYTHONPATH`` = the checkout), alternating
``--repeats`` times; each process builds the functional model at one image size (batch 16,
as the scaling figure), warms up, and times ``--calls`` ``predict_on_batch`` and then
``train_on_batch`` calls. Reported per checkout: the best call over all processes, and each
process's median call (their spread shows how far fresh processes differ from each other).
The OpenBLAS pin variables are dropped and two threads used, as ``run.py`` does.

Example:
    python benchmarks/image_ab.py /tmp/base . --images 112,224 --repeats 3
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
from benchmarks.frameworks import FilterbankAdapter, make_data
image, calls = int(sys.argv[2]), int(sys.argv[3])
model = FilterbankAdapter(2).build("functional", image, 0)
x, y = make_data(16, image, 0)
out = {"path": filterbank.__file__}
for task, call in (("infer", lambda: model.predict_on_batch(x)),
                   ("train", lambda: model.train_on_batch(x, y))):
    for _ in range(2):
        call()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    out[task] = sorted(times)
print(json.dumps(out))
"""


def run(checkout, image, args):
    return run_checkout(checkout, WORKER, [HERE, image, args.calls], args.threads, True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--images", default="112,224")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--calls", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    print("| image | task | old best ms | new best ms | old per-process medians | new ... |")
    print("|---|---|---|---|---|---|")
    for image in (int(i) for i in args.images.split(",")):
        res = {"old": [], "new": []}
        for _ in range(args.repeats):
            for key in ("old", "new"):
                res[key].append(run(getattr(args, key), image, args))
        assert all(
            r["path"].startswith(str(Path(getattr(args, k)).resolve())) for k in res for r in res[k]
        ), "a worker imported filterbank from elsewhere"
        for task in ("infer", "train"):
            best = {k: min(r[task][0] for r in v) * 1e3 for k, v in res.items()}
            meds = {
                k: ", ".join(f"{r[task][len(r[task]) // 2] * 1e3:.0f}" for r in v)
                for k, v in res.items()
            }
            print(
                f"| {image} | {task} | {best['old']:.1f} | {best['new']:.1f} | "
                f"{meds['old']} | {meds['new']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
