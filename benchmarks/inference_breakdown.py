"""Where filterbank's inference time goes, and what the inference-only kernels buy.

For each seed model, in one process (threads as in the harness: 2 by default):

1. per step: every step the graph engine predicts with (``Graph.predict_runs``: fused conv + pool steps,
   convolutions, dense layers) timed one by one around its ``predict``;
2. A/B: the whole ``predict_on_batch`` with the inference kernels (Winograd and direct
   convolutions) against the same model, same weights, with ``FILTERBANK_DISABLE_FAST_CONV=1``
   (the im2col GEMM everywhere), in alternating blocks; the speed-up is the median of the
   per-round ratios.

Both use one random batch (``benchmarks/frameworks.make_data``). Prints a Markdown table;
``--json PATH`` also writes the numbers.

Examples:
    python benchmarks/inference_breakdown.py
    python benchmarks/inference_breakdown.py --batch 1 --rounds 20
    python benchmarks/inference_breakdown.py --archs functional --image 112 --batch 16
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import THREAD_VARS  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--image", type=int, default=28, help="image size (default 28)")
    p.add_argument("--rounds", type=int, default=40, help="alternating rounds (default 40)")
    p.add_argument("--calls", type=int, default=5, help="calls per timed block (default 5)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--archs", default="functional,sequential", help="models (default both)")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    return p.parse_args(argv)


def _blocks(fns: dict, rounds: int, calls: int) -> dict:
    """name -> list of seconds per call, one entry per round; the functions alternate."""
    import time as _t

    out = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = _t.perf_counter()
            for _ in range(calls):
                fn()
            out[name].append((_t.perf_counter() - t) / calls)
    return out


def measure(arch: str, batch: int, rounds: int, calls: int, image: int = 28) -> dict:
    import numpy as np

    from benchmarks.archs import channels_of
    from benchmarks.frameworks import FilterbankAdapter, make_data

    adapter = FilterbankAdapter(threads=0)
    x, _ = make_data(batch, image, seed=0, channels=channels_of(arch))
    fast = adapter.build(arch, image, seed=0)
    fast.predict_on_batch(x)  # builds the lean per-shape functions (and compiles kernels)
    os.environ["FILTERBANK_DISABLE_FAST_CONV"] = "1"
    try:
        plain = adapter.build(arch, image, seed=0)
        plain.set_weights(fast.get_weights())
        plain.predict_on_batch(x)
    finally:
        del os.environ["FILTERBANK_DISABLE_FAST_CONV"]
    diff = float(np.abs(fast.predict_on_batch(x) - plain.predict_on_batch(x)).max())

    runs = fast._graph.predict_runs  # what predict runs (folded steps included)
    inputs = [x]
    for run in runs[:-1]:  # every step's input, from one pass
        inputs.append(run.predict(inputs[-1]))
    step_fns = {
        i: (lambda run=run, v=v: run.predict(v)) for i, (run, v) in enumerate(zip(runs, inputs))
    }
    step_times = _blocks(step_fns, rounds, calls)
    steps = [
        {
            "step": " + ".join(layer.name for layer in run.layers),
            "kernel": _kernel_of(run, inputs[i]),
            "us": float(np.median(step_times[i])) * 1e6,
        }
        for i, run in enumerate(runs)
    ]
    total = sum(s["us"] for s in steps)
    for s in steps:
        s["share"] = s["us"] / total

    ab = _blocks(
        {"fast": lambda: fast.predict_on_batch(x), "plain": lambda: plain.predict_on_batch(x)},
        rounds,
        calls,
    )
    ratios = np.array(ab["plain"]) / np.array(ab["fast"])
    return {
        "arch": arch,
        "batch": batch,
        "image": image,
        "steps": steps,
        "steps_total_us": total,
        "fast_samples_per_s": batch / float(np.median(ab["fast"])),
        "plain_samples_per_s": batch / float(np.median(ab["plain"])),
        "speedup": float(np.median(ratios)),
        "speedup_min": float(ratios.min()),
        "speedup_max": float(ratios.max()),
        "max_abs_difference": diff,
    }


def _kernel_of(run, x) -> str:
    """Which convolution kernel a step runs for this input in inference (direct, winograd or
    gemm, from ``kernel_for``: filterbank.ops.kernels), "-" for other layers."""
    if not any(type(la).__name__ == "Conv2D" for la in run.layers):
        return "-"
    # gemm+pool, gemm+rows, gemm+numpy-pool: all an im2col GEMM.
    return run.kernel_for(x.shape, x.dtype).name.split("+")[0]


def to_markdown(results: list[dict]) -> str:
    out = []
    for r in results:
        out.append(f"### {r['arch']}, batch {r['batch']}, {r['image']}x{r['image']}")
        out.append("")
        out.append("| step | kernel | us | share |")
        out.append("|---|---|---|---|")
        for s in r["steps"]:
            out.append(f"| {s['step']} | {s['kernel']} | {s['us']:,.0f} | {s['share']:.0%} |")
        out.append(f"| sum of steps | | {r['steps_total_us']:,.0f} | |")
        out.append("")
        out.append(
            f"Whole `predict_on_batch`: {r['fast_samples_per_s']:,.0f} samples/s with the "
            f"inference kernels, {r['plain_samples_per_s']:,.0f} without "
            f"(`FILTERBANK_DISABLE_FAST_CONV=1`): **{r['speedup']:.2f}x** (per-round "
            f"min-max {r['speedup_min']:.2f}-{r['speedup_max']:.2f}); largest output "
            f"difference {r['max_abs_difference']:.1e}."
        )
        out.append("")
    return "\n".join(out)


def main(argv=None):
    args = parse_args(argv)
    for var in THREAD_VARS:  # before NumPy loads: the harness's thread settings
        os.environ[var] = str(args.threads)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    results = [
        measure(arch, args.batch, args.rounds, args.calls, args.image)
        for arch in args.archs.split(",")
    ]
    md = (
        f"Inference breakdown, {started}, {args.threads} threads, {os.getloadavg()[0]:.2f} "
        f"load at end\n\n" + to_markdown(results)
    )
    print(md)
    if args.json:
        args.json.write_text(
            json.dumps({"date": started, "threads": args.threads, "results": results}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
