"""Does a data-parallel run land where one process does? The spread that rounding alone
causes, then where ``mpirun -n 2`` and ``-n 3`` fall.

Recipe: the seed Sequential CNN on the bundled 8,000/2,000 MNIST digits, rmsprop,
categorical cross-entropy, batch 64 (the global batch), float32, **one epoch**
(``benchmarks/accuracy_mnist.py``'s ``run_recipe``). For each seed, one process is run in
every combination of BLAS/numba threads (``--threads``, default 1, 2: OpenBLAS splits a
GEMM's sums differently for each) and fast paths on/off (``FILTERBANK_DISABLE_NUMBA=1`` and
``FILTERBANK_DISABLE_FAST_CONV=1`` together; with one thread also each alone): the same
arithmetic in a different rounding order each time. Their test accuracies span the rounding
spread. Then ``mpirun -n 2`` and ``-n 3`` (one thread per rank, fast paths on and off;
``--ranks``) train the same recipe data-parallel, and the script says whether each lands
inside the spread.

Writes ``benchmarks/results/distributed_accuracy.json`` and ``.md``.

Examples:
    python benchmarks/distributed_accuracy.py                 # seeds 0,1 (~30 min on 2 busy cores)
    python benchmarks/distributed_accuracy.py --seeds 1 --train-samples 2000
    python benchmarks/distributed_accuracy.py --threads "" --ranks 3 --append   # add 3 ranks
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
FAST_OFF = ("FILTERBANK_DISABLE_NUMBA", "FILTERBANK_DISABLE_FAST_CONV")


def worker(args) -> None:
    from benchmarks.accuracy_mnist import load_bundled, run_recipe
    from filterbank import distributed

    distributed.initialize(timeout=600)
    (x_train, y_train), test = load_bundled()
    if args.train_samples:
        x_train, y_train = x_train[: args.train_samples], y_train[: args.train_samples]
    r = run_recipe(
        "seed-sequential",
        ((x_train, y_train), test),
        "categorical_crossentropy",
        args.seed,
        1,
        64,
        verbose=0,
    )
    if distributed.rank() == 0:
        print("RESULT " + json.dumps(r), flush=True)


# Fast-path settings: True = all on, False = all off, or one switch off.
PARTIAL = {
    "numba off": ("FILTERBANK_DISABLE_NUMBA",),
    "fast conv off": ("FILTERBANK_DISABLE_FAST_CONV",),
}


def _label(fast) -> str:
    return fast if isinstance(fast, str) else ("on" if fast else "off")


def launch(seed: int, threads: int, fast, ranks: int, args) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMI"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update({var: str(threads) for var in THREAD_VARS})
    off = PARTIAL[fast] if isinstance(fast, str) else (() if fast else FAST_OFF)
    for var in FAST_OFF:
        env.pop(var, None)
    for var in off:
        env[var] = "1"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--seeds", str(seed)]
    if args.train_samples:
        cmd += ["--train-samples", str(args.train_samples)]
    if ranks > 1:
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            raise SystemExit("mpirun not found: apt-get install openmpi-bin libopenmpi-dev")
        pre = [mpirun, "--oversubscribe", "-n", str(ranks)]
        if os.geteuid() == 0:
            pre.append("--allow-run-as-root")
        for var in ("PYTHONPATH", *THREAD_VARS, *off):
            pre += ["-x", var]
        cmd = pre + cmd
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=3600)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[len("RESULT ") :])
            r.update(
                ranks=ranks,
                threads=threads,
                fast=fast,
                wall_seconds=round(time.perf_counter() - start, 1),
            )
            return r
    raise SystemExit(
        f"seed {seed}, {ranks} rank(s) failed (exit {proc.returncode}):\n"
        f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    )


def markdown(result: dict) -> str:
    lines = [
        f"Recipe: {result['recipe']}.",
        "",
        "| seed | one process: test accuracy per (threads, fast paths) | spread (max - min) "
        "| K ranks (fast paths) | inside the spread? |",
        "|---|---|---|---|---|",
    ]
    for seed in result["seeds"]:
        one = [r for r in result["runs"] if r["seed"] == seed and r["ranks"] == 1]
        two = [r for r in result["runs"] if r["seed"] == seed and r["ranks"] > 1]
        accs = [r["test_accuracy"] for r in one]
        lo, hi = min(accs), max(accs)
        cells = ", ".join(
            f"{100 * r['test_accuracy']:.2f} ({r['threads']}t, {_label(r['fast'])})" for r in one
        )
        dist = ", ".join(
            f"{100 * r['test_accuracy']:.2f} ({r['ranks']}, {_label(r['fast'])})" for r in two
        )
        inside = ", ".join(
            "yes"
            if lo <= r["test_accuracy"] <= hi
            else f"no ({100 * (r['test_accuracy'] - (lo if r['test_accuracy'] < lo else hi)):+.2f} pp)"
            for r in two
        )
        lines.append(f"| {seed} | {cells} | {100 * (hi - lo):.2f} pp | {dist} | {inside} |")
    lines += [
        "",
        f"Load average {result['machine']['loadavg_start'][0]:.1f} at the start; "
        f"finished {result['date']}.",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="benchmarks/distributed_accuracy.py", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--seeds", default="0,1")
    p.add_argument(
        "--train-samples",
        type=int,
        default=None,
        help="train on the first N digits only (a quicker, rougher look)",
    )
    p.add_argument(
        "--threads",
        default="1,2",
        help="BLAS thread counts of the one-process "
        "runs (default 1,2; more are slow on a busy 2-core machine)",
    )
    p.add_argument(
        "--ranks",
        default="2,3",
        help="rank counts of the distributed runs (default 2,3), each with fast paths on and off",
    )
    p.add_argument(
        "--partial",
        default="numba off,fast conv off",
        help="one-process runs (1 thread) with only one fast path off",
    )
    p.add_argument(
        "--append",
        action="store_true",
        help="add these runs to the saved result (e.g. more thread counts or rank counts later)",
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if args.worker:
        args.seed = seeds[0]
        worker(args)
        return 0
    from benchmarks.report import machine_info

    machine = machine_info()
    runs = []
    saved = args.out / "distributed_accuracy.json"
    if args.append and saved.exists():
        previous = json.loads(saved.read_text())
        runs = previous["runs"]
        seeds = sorted(set(seeds) | set(previous["seeds"]))
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        threads_list = [int(t) for t in args.threads.split(",") if t.strip()]
        plan = [(t, f, 1) for t in threads_list for f in (True, False)]
        plan += [(1, f, 1) for f in args.partial.split(",") if f.strip()]
        plan += [(1, f, int(k)) for k in args.ranks.split(",") if k.strip() for f in (True, False)]
        for threads, fast, ranks in plan:
            r = launch(seed, threads, fast, ranks, args)
            runs.append(r)
            print(
                f"seed {seed}, {ranks} rank(s), {threads} thread(s), fast "
                f"{_label(fast)}: test accuracy {100 * r['test_accuracy']:.2f}% "
                f"({r['wall_seconds']} s)",
                flush=True,
            )
    result = {
        "figure": "distributed_accuracy",
        "seeds": seeds,
        "runs": runs,
        "recipe": (
            "seed Sequential CNN, rmsprop, categorical_crossentropy, global batch 64, "
            f"1 epoch, float32, bundled MNIST ({args.train_samples or 8000:,} train / "
            "2,000 test)"
        ),
        "machine": machine,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "distributed_accuracy.json").write_text(json.dumps(result, indent=2) + "\n")
    md = markdown(result)
    (args.out / "distributed_accuracy.md").write_text(md + "\n")
    print()
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
