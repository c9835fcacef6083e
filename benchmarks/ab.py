"""What the two-checkout A/B scripts share (``best_of_ab``, ``infer_ab``, ``train_ab``,
``image_ab``): one worker process per checkout and call, and the best-of table.

A worker is Python source run as ``python -c WORKER ARGS...`` in the checkout's folder with
the checkout first on the import path (``python -c`` puts the working folder first, so
``import filterbank`` is the checkout's), with ``threads`` BLAS/numba threads; it prints one
JSON object on its last line.

Example:
    >>> src = BEST_OF + "print(json.dumps({'x': best(lambda: None, 1, blocks=1) >= 0}))"
    >>> run_checkout(".", src)
    {'x': True}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmarks.harness import OPENBLAS_PIN_VARS

# Worker prelude: the fastest of ``blocks`` blocks of ``calls`` calls, after a warm-up (load
# only slows a block down, so the minimum is the figure least touched by it).
BEST_OF = r"""
import json, sys, time

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
"""


def run_checkout(checkout, worker: str, argv=(), threads: int = 1, drop_openblas=False) -> dict:
    """Run ``worker`` for ``checkout``; its last output line, parsed. ``drop_openblas``: unset
    the OpenBLAS pin variables, as ``run.py --openblas user`` does."""
    root = os.path.abspath(checkout)
    env = dict(os.environ, PYTHONPATH=root)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(threads)
    if drop_openblas:
        for var in OPENBLAS_PIN_VARS:
            env.pop(var, None)
    cmd = [sys.executable, "-c", worker, *map(str, argv)]
    out = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_of_table(old, new, repeats: int, run) -> None:
    """Alternate ``run(old)`` and ``run(new)`` (each a dict figure -> value) ``repeats`` times
    and print each figure's minimum on both sides as a Markdown table."""
    best: dict = {"old": {}, "new": {}}
    for _ in range(repeats):
        for side, path in (("old", old), ("new", new)):
            for k, v in run(path).items():
                best[side][k] = min(v, best[side].get(k, float("inf")))
    print("| figure | old (best) | new (best) | new/old |")
    print("|---|---|---|---|")
    for k in best["old"]:
        o, n = best["old"][k], best["new"][k]
        print(f"| {k} | {o:,.1f} | {n:,.1f} | {n / o:.3f} |")
