"""Data-parallel speed: samples/s, time in the gradient Allreduce and bytes per step for K ranks,
an Allreduce microbenchmark, and an alpha-beta model of ring allreduce for K machines.

For each K it runs ``mpirun -n K`` (K = 1 runs without mpirun) of this file in ``--worker``
mode: every rank builds the seed Sequential CNN (93,322 parameters, float32), trains
``--steps`` steps of global batch ``--batch`` on synthetic 28x28 digits after two warm-up
steps, and reports what ``filterbank.distributed`` measured (``DataParallel.stats``): seconds
inside the gradient Allreduce (which includes waiting for the slowest rank) and the bytes of
the fused buffer. Then ``--microbench`` times bare ``Iallreduce`` calls of 8 bytes (latency)
and of the model's gradient size (bandwidth) on the same ranks.

Each rank uses one BLAS thread (``OMP_NUM_THREADS=1`` etc.); K = 1 is also timed with two.
The machine this was written on has 2 cores shared with other jobs: K > 2 is oversubscribed
(useful for the communication figures only) and every number is noisy.

The model (``--model``; also printed after a run): for K machines and global batch B,
``T(K) = c * ceil(B / K) + 2 (K - 1) / K * n / bw + 2 (K - 1) * alpha`` with ``c`` the measured
compute seconds per sample (K = 1, one thread), ``n`` the measured bytes per step, ``bw`` the
network's bandwidth and ``alpha`` its per-message latency. Speed-up = T(1) / T(K).

Examples:
    python benchmarks/distributed_speed.py                       # K = 1, 2 (about a minute)
    python benchmarks/distributed_speed.py --ks 1,2,3,4 --steps 20
    python benchmarks/distributed_speed.py --model               # the model from the last result
"""

from __future__ import annotations

import argparse
import json
import math
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

# Networks of the model: (name, bandwidth in bytes/s, per-message latency alpha in seconds).
# alpha: ~50 us for MPI over TCP on 10 Gbit Ethernet; ~3 us on a 100 Gbit RDMA fabric
# (InfiniBand / RoCE). Assumptions, not measurements; the loopback figures are measured.
NETWORKS = [("10 Gbit/s Ethernet (TCP)", 10e9 / 8, 50e-6), ("100 Gbit/s RDMA", 100e9 / 8, 3e-6)]
MODEL_KS = (8, 32, 128)


# ---- the worker (one rank) ------------------------------------------------------------------
def worker(args) -> None:
    import numpy as np

    import filterbank as keras
    from filterbank import distributed, zoo

    strategy = distributed.initialize(timeout=120)
    rank, size = distributed.rank(), distributed.size()
    rng = np.random.default_rng(0)
    n = args.batch * (args.steps + 2)
    x = rng.uniform(0, 1, size=(n, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=n)
    keras.utils.set_random_seed(0)
    model = zoo.build("seed-sequential", (28, 28, 1), 10)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    model.fit(
        x[: 2 * args.batch],
        y[: 2 * args.batch],
        batch_size=args.batch,
        epochs=1,
        verbose=0,
        shuffle=False,
    )  # warm-up: numba compilation, buffers
    if strategy is not None:
        strategy.stats.reset()
    start = time.perf_counter()
    model.fit(
        x[2 * args.batch :],
        y[2 * args.batch :],
        batch_size=args.batch,
        epochs=1,
        verbose=0,
        shuffle=False,
    )
    seconds = time.perf_counter() - start
    result = {
        "k": size,
        "threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0),
        "batch": args.batch,
        "steps": args.steps,
        "seconds": seconds,
        "step_seconds": seconds / args.steps,
        "samples_per_second": args.batch * args.steps / seconds,
        "params": model.count_params(),
    }
    if strategy is not None:
        stats = strategy.stats.as_dict()
        result.update(
            allreduce_seconds_per_step=stats["allreduce_seconds_per_step"],
            bytes_per_step=stats["bytes_per_step"],
        )
        if args.microbench:
            result["microbench"] = microbench(strategy.comm, int(stats["bytes_per_step"]))
    else:
        result.update(
            allreduce_seconds_per_step=0.0, bytes_per_step=4 * model.count_params() + 4 * 4
        )
    if rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def microbench(comm, nbytes: int, repeats: int = 30) -> dict:
    """Median seconds of one in-place Allreduce of 8 bytes and of ``nbytes`` (float32)."""
    import numpy as np

    out = {}
    for label, count in (("small", 2), ("gradients", max(nbytes // 4, 1))):
        buf = np.ones(count, dtype=np.float32)
        times = []
        for _ in range(repeats):
            comm.allreduce_(np.zeros(1, np.float32), "barrier-like warm-up")
            start = time.perf_counter()
            comm.allreduce_(buf, "microbenchmark")
            times.append(time.perf_counter() - start)
        out[label] = {
            "bytes": buf.nbytes,
            "median_seconds": float(np.median(times)),
            "min_seconds": float(np.min(times)),
        }
    return out


# ---- the orchestrator ---------------------------------------------------------------------
def launch(k: int, threads: int, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.update({var: str(threads) for var in THREAD_VARS})
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--steps",
        str(args.steps),
        "--batch",
        str(args.batch),
    ] + (["--microbench"] if k > 1 else [])
    if k > 1:
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            raise SystemExit("mpirun not found: apt-get install openmpi-bin libopenmpi-dev")
        pre = [mpirun, "--oversubscribe", "-n", str(k)]
        if os.geteuid() == 0:
            pre.append("--allow-run-as-root")
        for var in ("PYTHONPATH", *THREAD_VARS):
            pre += ["-x", var]
        cmd = pre + cmd
    else:
        env = {key: v for key, v in env.items() if not key.startswith(("OMPI_", "PMI"))}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise SystemExit(
        f"K={k} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    )


# ---- the model ------------------------------------------------------------------------------
def ring_seconds(k: int, nbytes: float, bandwidth: float, alpha: float) -> float:
    """Ring allreduce: reduce-scatter + allgather, 2 (K-1) messages of n/K bytes each."""
    return 2 * (k - 1) / k * nbytes / bandwidth + 2 * (k - 1) * alpha


def model_rows(compute_per_sample: float, nbytes: float, batch: int) -> list[dict]:
    rows = []
    t1 = compute_per_sample * batch
    for name, bw, alpha in NETWORKS:
        for k in MODEL_KS:
            comm = ring_seconds(k, nbytes, bw, alpha)
            tk = compute_per_sample * math.ceil(batch / k) + comm
            # Smallest global batch at which a step's compute (c B / K) is at least its
            # communication: below it, more than half of each step is waiting for the network.
            b_half = math.ceil(k * comm / compute_per_sample)
            # At this global batch, the K beyond which adding machines makes a step slower:
            # dT/dK = 0 with T(K) = c B / K + 2 n / bw (1 - 1/K) + 2 alpha (K - 1).
            k_best = math.sqrt(max(t1 - 2 * nbytes / bw, 0.0) / (2 * alpha))
            rows.append(
                {
                    "network": name,
                    "k": k,
                    "step_ms": 1e3 * tk,
                    "comm_ms": 1e3 * comm,
                    "speedup": t1 / tk,
                    "efficiency": t1 / tk / k,
                    "batch_for_half_efficiency": b_half,
                    "k_best_at_batch": k_best,
                }
            )
    return rows


def model_markdown(result: dict) -> str:
    one = next(r for r in result["runs"] if r["k"] == 1 and r["threads"] == 1)
    c = one["step_seconds"] / one["batch"]
    nbytes = max(r["bytes_per_step"] for r in result["runs"])
    batch = result["batch"]
    lines = [
        f"Inputs (measured here): compute c = {1e3 * c:.3f} ms per sample (K = 1, one thread, "
        f"{1e3 * one['step_seconds']:.1f} ms per step of {batch}); n = {nbytes:,.0f} bytes "
        "per step (the fused float32 gradients of 93,322 parameters plus 16 bytes of loss "
        "and metric counts).",
        "",
        f"| network | K | step (ms) | of which allreduce | speed-up at global batch {batch} "
        "| efficiency | global batch for 50% efficiency | K beyond which batch "
        f"{batch} gets slower |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in model_rows(c, nbytes, batch):
        lines.append(
            f"| {row['network']} | {row['k']} | {row['step_ms']:.2f} | {row['comm_ms']:.2f} | "
            f"{row['speedup']:.1f}x | {100 * row['efficiency']:.0f}% | "
            f"{row['batch_for_half_efficiency']:,} | {row['k_best_at_batch']:.0f} |"
        )
    return "\n".join(lines)


def result_markdown(result: dict) -> str:
    lines = [
        f"Seed Sequential CNN, float32, global batch {result['batch']}, {result['steps']} timed "
        f"steps after 2 warm-up steps. Load average {result['loadavg'][0]:.1f} at the start "
        "(2 cores shared with other jobs: noisy; K > 2 is oversubscribed).",
        "",
        "| K | threads per rank | samples/s | step (ms) | in Allreduce per step (ms) | bytes per "
        "step | Allreduce 8 B (us) | Allreduce of the gradients (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        mb = r.get("microbench") or {}
        small = mb.get("small", {}).get("median_seconds")
        grads = mb.get("gradients", {}).get("median_seconds")
        lines.append(
            f"| {r['k']} | {r['threads']} | {r['samples_per_second']:,.0f} | "
            f"{1e3 * r['step_seconds']:.1f} | {1e3 * r['allreduce_seconds_per_step']:.2f} | "
            f"{r['bytes_per_step']:,.0f} | {'-' if small is None else f'{1e6 * small:.0f}'} | "
            f"{'-' if grads is None else f'{1e3 * grads:.2f}'} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="benchmarks/distributed_speed.py", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--ks", default="1,2", help="rank counts (default 1,2)")
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--batch", type=int, default=64, help="global batch (default 64)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--model", action="store_true", help="print the model from the last result")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--microbench", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    path = args.out / "distributed_speed.json"
    if args.model:
        print(model_markdown(json.loads(path.read_text())))
        return 0
    from benchmarks.report import machine_info

    machine = machine_info()
    runs = []
    for k in [int(s) for s in args.ks.split(",") if s.strip()]:
        for threads in (1, 2) if k == 1 else (1,):
            print(f"--- K={k}, {threads} thread(s) per rank", flush=True)
            runs.append(launch(k, threads, args))
            print(json.dumps(runs[-1]), flush=True)
    result = {
        "figure": "distributed_speed",
        "batch": args.batch,
        "steps": args.steps,
        "runs": runs,
        "machine": machine,
        "loadavg": machine["loadavg_start"],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    markdown = result_markdown(result) + "\n\n" + model_markdown(result) + "\n"
    (args.out / "distributed_speed.md").write_text(markdown)
    print()
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
