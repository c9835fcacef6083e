"""Inference of two checkouts, best-of timings: ``python benchmarks/infer_ab.py OLD NEW``.

For a loaded machine: each checkout runs in a fresh process (``PYTHONPATH`` = the checkout,
``--threads`` BLAS threads), alternating ``--repeats`` times, and each figure keeps its
fastest block (load only slows a block down). Figures: ``predict_on_batch`` at batch 1 and
64 on the harness's models (``benchmarks/archs.py``: functional, sequential, cifar), built
by the harness's own adapter so they are the models ``benchmarks/run.py`` measures.
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
from benchmarks.archs import ARCH_INPUT
from benchmarks.frameworks import FilterbankAdapter, make_data

res = {}
adapter = FilterbankAdapter(threads=0)
for arch in sys.argv[1].split(","):
    image, channels = ARCH_INPUT[arch]
    model = adapter.build(arch, image, seed=0)
    for batch, calls in ((1, 200), (64, 10)):
        x, _ = make_data(batch, image, seed=0, channels=channels)
        res[f"{arch} b{batch} (us)"] = best(
            lambda: model.predict_on_batch(x), calls, blocks=7) * 1e6
print(json.dumps(res))
"""
)


def run(checkout: str, archs: str, threads: int) -> dict:
    return run_checkout(checkout, WORKER, [archs], threads, drop_openblas=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--archs", default="functional,sequential,cifar")
    a = p.parse_args(argv)
    best_of_table(a.old, a.new, a.repeats, lambda path: run(path, a.archs, a.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
