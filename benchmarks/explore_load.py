"""A bounded burst of concurrent requests against a local ``filterbank explore`` server.

Starts ``filterbank explore MODEL --port P`` as its own process (as a user would), waits for
it, then runs ``--clients`` threads, each sending ``--requests`` requests one after another:
a mix of what the page sends -- predictions with every layer's activations (base64, as the
page asks), plain predictions, and cell explanations of a random layer and cell -- on real
MNIST test digits. Reports the throughput, the latency percentiles per kind and overall, and
the error count (any status other than 200, or a failed connection), which must be zero: the
exit status is 1 otherwise.

MODEL: a model file or run folder (default: runs/main if it exists, else a seed CNN trained
here for a few steps into a temporary folder).

Examples:
    python benchmarks/explore_load.py                       # 20 clients x 50 requests
    python benchmarks/explore_load.py runs/main --clients 40 --requests 25 --json load.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

MIX = (("predict+activations", 0.5), ("predict", 0.2), ("explain", 0.3))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model_path(arg, workdir: Path) -> Path:
    if arg:
        return Path(arg)
    if (Path("runs/main") / "model.fbk").is_file():
        return Path("runs/main")
    from filterbank.cli import main

    out = workdir / "run"
    print(f"(no runs/main: training a seed CNN for a few steps into {out})", flush=True)
    if (
        main(
            [
                "train",
                "--train-samples",
                "2000",
                "--epochs",
                "1",
                "--out",
                str(out),
                "--verbose",
                "0",
            ]
        )
        != 0
    ):
        raise SystemExit("training the benchmark's model failed")
    return out


def _start_server(model: Path, port: int) -> subprocess.Popen:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "filterbank.cli", "explore", str(model), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stdout.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/model", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not answer within 60 s")


def _plan(model_info: dict, digits: np.ndarray, n: int, seed: int) -> list:
    rng = random.Random(seed)
    layers = [la for la in model_info["layers"]]
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    jobs = []
    for _ in range(n):
        kind = rng.choices(kinds, weights)[0]
        pixels = digits[rng.randrange(len(digits))]
        if kind == "explain":
            layer = rng.choice(layers)
            index = [rng.randrange(d) for d in layer["output_shape"]]
            jobs.append(
                (kind, "/api/explain", {"pixels": pixels, "layer": layer["name"], "index": index})
            )
        else:
            jobs.append(
                (
                    kind,
                    "/api/predict",
                    {"pixels": pixels, "encoding": "base64", "activations": kind != "predict"},
                )
            )
    return jobs


def run(url: str, clients: int, requests: int, seed: int) -> dict:
    import httpx

    from filterbank.datasets import mnist

    info = httpx.get(url + "api/model", timeout=30).json()
    h, w, c = info["input_shape"]
    (_, _), (x_test, _) = mnist.load_data(source="bundled")
    digits = (
        [(x_test[i] / 255.0).round(4).tolist() for i in range(32)]
        if (h, w, c) == (28, 28, 1)
        else [np.random.default_rng(i).random((h, w, c)).round(4).tolist() for i in range(8)]
    )
    plans = [_plan(info, digits, requests, seed + k) for k in range(clients)]
    results: list[list] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def client(k):
        with httpx.Client(base_url=url, timeout=120) as http:
            barrier.wait()
            for kind, path, body in plans[k]:
                t0 = time.perf_counter()
                try:
                    status = http.post(path, json=body).status_code
                except httpx.HTTPError as exc:
                    status = f"{type(exc).__name__}"
                results[k].append((kind, time.perf_counter() - t0, status))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    flat = [r for rs in results for r in rs]

    def stats(rows):
        lat = np.array([r[1] for r in rows]) * 1000
        return {
            "requests": len(rows),
            "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p95_ms": round(float(np.percentile(lat, 95)), 1),
            "max_ms": round(float(lat.max()), 1),
            "errors": sum(1 for r in rows if r[2] != 200),
        }

    report = {
        "clients": clients,
        "requests_per_client": requests,
        "wall_seconds": round(wall, 2),
        "throughput_rps": round(len(flat) / wall, 1),
        "all": stats(flat),
        "by_kind": {
            k: stats([r for r in flat if r[0] == k]) for k, _ in MIX if any(r[0] == k for r in flat)
        },
        "error_statuses": sorted({str(r[2]) for r in flat if r[2] != 200}),
        "model": info["name"],
        "params": info["params"],
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_before": None,
    }
    return report


def markdown(r: dict) -> str:
    lines = [
        f"{r['clients']} clients x {r['requests_per_client']} requests against "
        f"`filterbank explore` ({r['model']}, {r['params']:,} parameters), "
        f"{r['cores']} cores: {r['all']['requests']} requests in {r['wall_seconds']} s, "
        f"**{r['throughput_rps']} requests/s, {r['all']['errors']} errors**.",
        "",
        "| requests | count | p50 ms | p95 ms | max ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in [*r["by_kind"].items(), ("all", r["all"])]:
        lines.append(
            f"| {name} | {s['requests']} | {s['p50_ms']} | {s['p95_ms']} | "
            f"{s['max_ms']} | {s['errors']} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default=None, help="model file or run folder")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50, help="requests per client")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        model = _model_path(args.model, Path(tmp))
        port = _free_port()
        load = os.getloadavg() if hasattr(os, "getloadavg") else None
        server = _start_server(model, port)
        try:
            report = run(f"http://127.0.0.1:{port}/", args.clients, args.requests, args.seed)
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
    report["loadavg_before"] = list(load) if load else None
    print(markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if report["all"]["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
