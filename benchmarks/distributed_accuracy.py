"""Does a data-parallel run land where one process does? The spread that rounding alone
causes, then where ``mpirun -n 2`` and ``-n 3`` fall.

Recipe: the seed Sequential CNN on the bundled 8,000/2,000 MNIST digits, rmsprop,
categorical cross-entropy, batch 64 (the global batch), float32, **one epoch**
(``benchmarks/accuracy_mnist.py``'s ``run_recipe``).

The one-process spread: the same arithmetic in other rounding orders. For each seed, one
process runs

* plain, in every combination of BLAS/numba threads (``--threads``, default 1, 2: OpenBLAS
  splits a GEMM's sums differently for each) and fast paths on/off (off:
  ``FILTERBANK_DISABLE_NUMBA``, ``_FAST_CONV`` and ``_FUSION`` together); with one thread
  also each of ``--partial`` alone;
* with each global batch's gradient summed over K contiguous sub-batches
  (``--sub-batches``, default 2, 3, 4; one thread, fast paths on and off):
  ``sum_k(g_k * b_k) / 64``, the sums K ranks make, in one process
  (``benchmarks/sub_batches.py``; for K = 2 and 4 that is also Keras 3's
  ``gradient_accumulation_steps=K`` at batch 64 / K).

Outside the spread, as a control (``--shard-order``, default 2, 3): one process taking the
samples in the order K ranks holding shards take them, with the same K sub-batch sums.

Then ``mpirun -n K`` (``--ranks``, default 2, 3; one thread per rank, fast paths on and off)
trains the same recipe with the full arrays on every rank (the same shuffled order as one
process) and with each rank holding its shard (``distributed.shard``: each rank shuffles its
own shard, so the batches hold other samples: a different order, not only other rounding).
The script says whether each lands inside the spread, and whether its weights equal those of
the one-process run with K sub-batch sums in the same order (same K, same fast paths) bit for
bit.

Writes ``benchmarks/results/distributed_accuracy.json`` and ``.md``.

Examples:
    python benchmarks/distributed_accuracy.py                 # seeds 0,1 (44 runs, ~8 min)
    python benchmarks/distributed_accuracy.py --seeds 1 --train-samples 2000
    python benchmarks/distributed_accuracy.py --threads 3,4 --partial "" --sub-batches "" \\
        --shard-order "" --ranks "" --append                  # more thread counts
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
FAST_OFF = ("FILTERBANK_DISABLE_NUMBA", "FILTERBANK_DISABLE_FAST_CONV", "FILTERBANK_DISABLE_FUSION")
# One fast path off, the others on (one thread).
PARTIAL = {
    "numba off": ("FILTERBANK_DISABLE_NUMBA",),
    "fusion off": ("FILTERBANK_DISABLE_FUSION",),
    "fast conv off": ("FILTERBANK_DISABLE_FAST_CONV",),
}
BATCH = 64


def worker(args) -> None:
    import numpy as np

    from benchmarks.accuracy_mnist import load_bundled, run_recipe
    from filterbank import distributed

    distributed.initialize(timeout=600)
    (x_train, y_train), test = load_bundled()
    if args.train_samples:
        x_train, y_train = x_train[: args.train_samples], y_train[: args.train_samples]
    if args.shards:
        x_train, y_train = distributed.shard(x_train, y_train)
    if args.sub_k:
        r, model = sub_batch_recipe(
            ((x_train, y_train), test), args.seed, args.sub_k, args.in_shard_order
        )
    else:
        r, model = run_recipe(
            "seed-sequential",
            ((x_train, y_train), test),
            "categorical_crossentropy",
            args.seed,
            1,
            BATCH,
            verbose=0,
            return_model=True,
        )
    if distributed.rank() == 0:
        if args.save_weights:
            np.savez(args.save_weights, *model.get_weights())
        print("RESULT " + json.dumps(r), flush=True)


def sub_batch_recipe(data, seed: int, k: int, shards: bool = False):
    """``run_recipe``'s one epoch, each batch's gradient summed over ``k`` sub-batches (in the
    order k ranks holding shards take the samples, with ``shards``)."""
    import filterbank as keras
    from benchmarks.sub_batches import fit_sub_batches, sub_batch_optimizer
    from filterbank import zoo

    (x_train, y_train), (x_test, y_test) = data
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    t_train = keras.utils.to_categorical(y_train, num_classes)
    t_test = keras.utils.to_categorical(y_test, num_classes)
    keras.utils.set_random_seed(seed)  # then build, compile, shuffle: run_recipe's order
    model = zoo.build("seed-sequential", x_train.shape[1:], num_classes)
    model.compile(
        optimizer=sub_batch_optimizer("rmsprop"),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    fit_sub_batches(model, x_train, t_train, BATCH, k, epochs=1, shards=shards)
    train_seconds = time.perf_counter() - start
    logs = model.evaluate(x_test, t_test, batch_size=256, verbose=0, return_dict=True)
    r = {
        "seed": seed,
        "train_samples": len(x_train),
        "test_accuracy": float(logs["accuracy"]),
        "test_loss": float(logs["loss"]),
        "train_seconds": round(train_seconds, 3),
    }
    return r, model


def _label(fast) -> str:
    return fast if isinstance(fast, str) else ("fast on" if fast else "fast off")


def describe(r: dict) -> str:
    if r["mode"] == "one":
        return f"one process, {r['threads']} thread(s), {_label(r['fast'])}"
    if r["mode"] == "sub":
        order = " in shard order" if r.get("data") == "shards" else ""
        return f"one process, {r['k']} sub-batch sums{order}, {_label(r['fast'])}"
    return f"mpirun -n {r['k']}, {r['data']}, {_label(r['fast'])}"


def launch(seed: int, spec: dict, args, weights_dir: Path) -> dict:
    mode, k, threads, fast = spec["mode"], spec["k"], spec["threads"], spec["fast"]
    env = {key: v for key, v in os.environ.items() if not key.startswith(("OMPI_", "PMI"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update({var: str(threads) for var in THREAD_VARS})
    off = PARTIAL[fast] if isinstance(fast, str) else (() if fast else FAST_OFF)
    for var in FAST_OFF:
        env.pop(var, None)
    for var in off:
        env[var] = "1"
    tag = f"s{seed}-{mode}{k}-{spec.get('data', '')}-{threads}t-{_label(fast).replace(' ', '_')}"
    weights = weights_dir / f"{tag}.npz"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--seeds", str(seed)]
    cmd += ["--save-weights", str(weights)]
    if args.train_samples:
        cmd += ["--train-samples", str(args.train_samples)]
    if mode == "sub":
        cmd += ["--sub-k", str(k)]
        if spec["data"] == "shards":
            cmd.append("--in-shard-order")
    if mode == "mpirun":
        if spec["data"] == "shards":
            cmd.append("--shards")
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            raise SystemExit("mpirun not found: apt-get install openmpi-bin libopenmpi-dev")
        pre = [mpirun, "--oversubscribe", "-n", str(k)]
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
            r.update(spec, wall_seconds=round(time.perf_counter() - start, 1))
            r["weights_file"] = str(weights)
            return r
    raise SystemExit(
        f"seed {seed}, {describe(spec)} failed (exit {proc.returncode}):\n"
        f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    )


def compare_weights(runs: list) -> None:
    """For each full-array mpirun run: its weights against the one-process run with as many
    sub-batches and the same fast paths (bit-identical? largest relative difference)."""
    import numpy as np

    def load(r):
        with np.load(r["weights_file"], allow_pickle=False) as f:
            return [f[name] for name in f.files]

    for r in runs:
        if r["mode"] != "mpirun" or "weights_file" not in r:  # (appended: compared before)
            continue
        twin = next(
            (
                o
                for o in runs
                if o["mode"] == "sub"
                and o["seed"] == r["seed"]
                and o["k"] == r["k"]
                and o["fast"] == r["fast"]
                and o["data"] == r["data"]
            ),
            None,
        )
        if twin is None or not Path(twin.get("weights_file", "")).is_file():
            continue
        a, b = load(r), load(twin)
        rel = max(
            float(np.max(np.abs(x - y))) / max(float(np.max(np.abs(y))), 1e-30)
            for x, y in zip(a, b)
        )
        r["vs_sub_batches"] = {
            "bit_identical": all(np.array_equal(x, y) for x, y in zip(a, b)),
            "max_rel_weight_diff": rel,
            "equal_fraction": float(
                sum(int((x == y).sum()) for x, y in zip(a, b)) / sum(x.size for x in a)
            ),
        }


def markdown(result: dict) -> str:
    lines = [f"Recipe: {result['recipe']}.", ""]
    for seed in result["seeds"]:
        runs = [r for r in result["runs"] if r["seed"] == seed]
        one = [r for r in runs if r["mode"] != "mpirun" and r.get("data") != "shards"]
        plain = [r["test_accuracy"] for r in one if r["mode"] == "one"]
        accs = [r["test_accuracy"] for r in one]
        if not accs:
            continue
        lo, hi = min(accs), max(accs)
        without = (
            f"; without the sub-batch sums {100 * min(plain):.2f}-{100 * max(plain):.2f}%"
            if plain
            else ""
        )
        lines += [
            f"Seed {seed}: one-process spread {100 * lo:.2f}-{100 * hi:.2f}% "
            f"({100 * (hi - lo):.2f} pp over {len(accs)} runs{without}).",
            "",
            "| run | test accuracy | inside the one-process spread? | weights vs the one-process run "
            "with K sub-batch sums in the same order |",
            "|---|---|---|---|",
        ]
        for r in runs:
            acc = r["test_accuracy"]
            inside = ""
            if r["mode"] == "mpirun" or r.get("data") == "shards":
                inside = (
                    "yes"
                    if lo <= acc <= hi
                    else f"no ({100 * (acc - (lo if acc < lo else hi)):+.2f} pp)"
                )
            cmp = r.get("vs_sub_batches")
            twin = ""
            if cmp:
                twin = (
                    "bit-identical"
                    if cmp["bit_identical"]
                    else f"differ: max rel {cmp['max_rel_weight_diff']:.1e}, "
                    f"{100 * cmp['equal_fraction']:.0f}% of weights equal"
                )
            lines.append(f"| {describe(r)} | {100 * acc:.2f} | {inside} | {twin} |")
        lines.append("")
    lines += [
        f"Load average {result['machine']['loadavg_start'][0]:.1f} at the start; "
        f"finished {result['date']}.",
    ]
    return "\n".join(lines)


def plan(args) -> list[dict]:
    def ints(text):
        return [int(t) for t in text.split(",") if t.strip()]

    specs = [
        {"mode": "one", "k": 1, "threads": t, "fast": f}
        for t in ints(args.threads)
        for f in (True, False)
    ]
    specs += [
        {"mode": "one", "k": 1, "threads": 1, "fast": f.strip()}
        for f in args.partial.split(",")
        if f.strip()
    ]
    specs += [
        {"mode": "sub", "k": k, "threads": 1, "fast": f, "data": d}
        for d, ks in (("full", args.sub_batches), ("shards", args.shard_order))
        for k in ints(ks)
        for f in (True, False)
    ]
    specs += [
        {"mode": "mpirun", "k": k, "threads": 1, "fast": f, "data": d}
        for k in ints(args.ranks)
        for d in ("full", "shards")
        for f in (True, False)
    ]
    return specs


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
    p.add_argument("--threads", default="1,2", help="BLAS thread counts of the plain runs")
    p.add_argument(
        "--partial",
        default="numba off,fusion off",
        help=f"plain runs (1 thread) with only this fast path off: any of {', '.join(PARTIAL)}",
    )
    p.add_argument(
        "--sub-batches",
        default="2,3,4",
        help="K of the one-process runs that sum each batch's gradient over K sub-batches",
    )
    p.add_argument(
        "--shard-order",
        default="2,3",
        help="K of the one-process runs taking the samples in K ranks' shard order (a control)",
    )
    p.add_argument("--ranks", default="2,3", help="rank counts of the mpirun runs")
    p.add_argument(
        "--append",
        action="store_true",
        help="add these runs to the saved result (e.g. more thread counts later)",
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--shards", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--sub-k", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--in-shard-order", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--save-weights", default=None, help=argparse.SUPPRESS)
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
    weights_dir = Path(tempfile.mkdtemp(prefix="distributed-accuracy-"))
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        for spec in plan(args):
            r = launch(seed, spec, args, weights_dir)
            runs.append(r)
            print(
                f"seed {seed}, {describe(r)}: test accuracy {100 * r['test_accuracy']:.2f}% "
                f"({r['wall_seconds']} s)",
                flush=True,
            )
    compare_weights(runs)
    for r in runs:
        r.pop("weights_file", None)
    shutil.rmtree(weights_dir, ignore_errors=True)
    result = {
        "figure": "distributed_accuracy",
        "seeds": seeds,
        "runs": runs,
        "recipe": (
            f"seed Sequential CNN, rmsprop, categorical_crossentropy, global batch {BATCH}, "
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
