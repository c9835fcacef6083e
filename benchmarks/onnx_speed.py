"""Inference speed of the exported seed model: ONNX Runtime vs filterbank's own predict.

Each framework runs in its own worker process; the parent alternates timed blocks between
them (a ~0.3 s pause between blocks lets spinning BLAS/ORT threads settle) and reports medians
over the rounds, in samples per second at batch 64 and microseconds at batch 1. The machine
this runs on is shared and noisy: trust only the ratio of the same run.

    python benchmarks/onnx_speed.py --rounds 7 --model seed-functional
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

WORKER = r"""
import json, sys, time
import numpy as np
kind, path, batch, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
x = np.random.default_rng(0).normal(size=(batch, 28, 28, 1)).astype("float32")
if kind == "ort":
    import onnxruntime as ort
    opts = ort.SessionOptions(); opts.intra_op_num_threads = 2
    s = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    run = lambda: s.run(None, {name: x})
else:
    import filterbank as keras
    m = keras.models.load_model(path, compile=False)
    run = lambda: m.predict(x, batch_size=batch, verbose=0)
for _ in range(3):
    run()
print("ready", flush=True)
for line in sys.stdin:
    t = time.perf_counter()
    for _ in range(reps):
        run()
    print(json.dumps((time.perf_counter() - t) / reps), flush=True)
"""


def _worker(kind, path, batch, reps):
    env = dict(os.environ)
    if kind == "filterbank":  # a user's machine does not pin OpenBLAS (engineering notes)
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    p = subprocess.Popen(
        [sys.executable, "-c", WORKER, kind, path, str(batch), str(reps)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert p.stdout.readline().strip() == "ready"
    return p


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="seed-functional")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    from filterbank import zoo
    from filterbank.onnx import export_model

    tmp = tempfile.mkdtemp()
    model = zoo.build(args.model, (28, 28, 1), 10)
    fbk, onnx_path = os.path.join(tmp, "m.fbk"), os.path.join(tmp, "m.onnx")
    model.save(fbk)
    export_model(model, onnx_path)
    results = {}
    for batch, reps in ((64, 20), (1, 200)):
        procs = {
            "filterbank": _worker("filterbank", fbk, batch, reps),
            "onnxruntime": _worker("ort", onnx_path, batch, reps),
        }
        times = {k: [] for k in procs}
        for _ in range(args.rounds):
            for k, p in procs.items():
                time.sleep(0.3)
                p.stdin.write("go\n")
                p.stdin.flush()
                times[k].append(json.loads(p.stdout.readline()))
        for p in procs.values():
            p.stdin.close()
            p.wait()
        results[batch] = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.model}, {args.rounds} alternating rounds, medians (shared, noisy machine):")
    for k in ("filterbank", "onnxruntime"):
        print(
            f"  {k:12s} batch 64: {64 / results[64][k]:9,.0f} samples/s   "
            f"batch 1: {results[1][k] * 1e6:7.0f} us"
        )
    print(
        f"  ONNX Runtime / filterbank at batch 64: "
        f"{results[64]['filterbank'] / results[64]['onnxruntime']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
