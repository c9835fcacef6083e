"""Where filterbank's training step goes: each engine step's forward and backward, timed.

For each model (the benchmarked ones, built by ``benchmarks/frameworks.py`` as the harness
builds them, RMSprop, batch 64 by default): every step the graph engine runs
(``Graph.runs``: fused conv + pool steps, layers), its forward and its backward are timed
with ``time.perf_counter`` around the calls; so are the loss, the optimizer update and the
whole ``train_on_batch``. The rest ("other") is the step's own Python, input checks and
metrics. Timers cost ~1 us a call (~30 calls a step), well under 1% of a step.

Each step's forward and backward also get their GFLOP/s and the fraction of this process's
sgemm peak (one n x n float32 matmul, best of a few, measured in the same run): the
convolutions' and dense layers' multiply-adds (backward: the weight gradient, and the input
gradient where the engine computes it); the other steps have none and show "-".

The OpenBLAS pin variables (``OPENBLAS_CORETYPE``, ``OPENBLAS_L2_SIZE``) are dropped before
NumPy loads, as ``benchmarks/run.py --openblas user`` does (``--openblas pinned`` keeps them).

The figures are those of the fastest of ``--rounds`` rounds of ``--steps`` steps each (the
machine may be shared: the least disturbed round, whose parts add up to its step). Prints a
Markdown table; ``--json PATH`` also writes the numbers.

The checkout measured is the one ``filterbank`` imports from: ``PYTHONPATH=/other/checkout
python benchmarks/train_breakdown.py`` measures another one with this script.

Examples:
    python benchmarks/train_breakdown.py
    python benchmarks/train_breakdown.py --archs cifar --rounds 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the benchmarks package, after PYTHONPATH
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import THREAD_VARS, apply_openblas  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    p.add_argument("--steps", type=int, default=10, help="steps per round (default 10)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--archs", default="functional,cifar", help="models (default functional,cifar)")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    p.add_argument("--openblas", choices=("user", "pinned"), default="user")
    p.add_argument("--sgemm-n", type=int, default=2048, help="matmul size of the peak probe")
    return p.parse_args(argv)


class _Timers:
    """name -> seconds accumulated over the current round."""

    def __init__(self):
        self.acc: dict[str, float] = {}

    def wrap(self, obj, method: str, name: str):
        fn = getattr(obj, method)
        acc = self.acc
        acc.setdefault(name, 0.0)
        clock = time.perf_counter

        def timed(*args, **kwargs):
            t = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                acc[name] += clock() - t

        setattr(obj, method, timed)

    def reset(self):
        for k in self.acc:
            self.acc[k] = 0.0


def _label(run) -> str:
    return " + ".join(type(la).__name__ for la in run.layers)


def sgemm_peak(n: int, repeats: int = 5) -> float:
    """This process's float32 matmul speed in GFLOP/s: the best of ``repeats`` n x n products."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    np.matmul(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def run_flops(graph, run, batch: int) -> tuple[int, int]:
    """(forward, backward) FLOPs of one engine step on a batch: the multiply-adds of its
    convolutions and dense layers (backward: weight gradient, plus the input gradient when
    the layer computes it); 0 for steps without any."""
    from filterbank.layers.convolutional import Conv2D
    from filterbank.layers.core import Dense

    shape = (batch, *graph.slot_shapes[run.in_slots[0]][1:]) if not run.multi else None
    fwd = bwd = 0
    for layer in run.layers:
        macs = 0
        if type(layer) is Conv2D:
            out = layer.compute_output_shape(shape)
            kh, kw = layer.kernel_size
            macs = batch * out[1] * out[2] * kh * kw * shape[-1] * layer.filters
        elif type(layer) is Dense:
            macs = batch * shape[-1] * layer.units
        fwd += 2 * macs
        bwd += 2 * macs * (2 if layer.compute_input_grad else 1)
        if shape is not None:
            shape = layer.compute_output_shape(shape)
    return fwd, bwd


def breakdown(arch: str, batch: int, rounds: int, steps: int) -> dict:
    from benchmarks.archs import ARCH_INPUT, train_flops
    from benchmarks.frameworks import FilterbankAdapter, make_data

    image, channels = ARCH_INPUT[arch]
    model = FilterbankAdapter(2).build(arch, image, 0)
    x, y = make_data(batch, image, 0, channels)
    model.train_on_batch(x, y)  # builds, compiles, plans
    graph = model._graph
    timers = _Timers()
    names, flops_of = [], {}
    for i, run in enumerate(graph.runs):
        name = f"{i}: {_label(run)}"
        names.append(name)
        flops_of[name] = run_flops(graph, run, batch)
        timers.wrap(run, "forward", f"{name} fwd")
        timers.wrap(run, "backward", f"{name} bwd")
        if hasattr(run, "backward_preactivation"):
            timers.wrap(run, "backward_preactivation", f"{name} bwd")
    timers.wrap(model, "_loss_and_output_grads", "loss")
    timers.wrap(model, "_apply_gradients", "optimizer")
    for _ in range(3):
        model.train_on_batch(x, y)
    per_round = {k: [] for k in [*timers.acc, "step"]}
    for _ in range(rounds):
        timers.reset()
        t = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        total = (time.perf_counter() - t) / steps
        per_round["step"].append(total)
        for k, v in timers.acc.items():
            per_round[k].append(v / steps)
    # The fastest round, all its parts: on a shared machine the least disturbed one, and its
    # parts add up (medians of parts taken from different rounds need not).
    best = min(range(rounds), key=lambda r: per_round["step"][r])
    med = {k: v[best] for k, v in per_round.items()}
    med["other"] = med["step"] - sum(v for k, v in med.items() if k != "step")
    flops = train_flops(arch, image, channels) * batch
    return {
        "arch": arch,
        "batch": batch,
        "steps": names,
        "flops": flops_of,
        "seconds": med,
        "median_step": statistics.median(per_round["step"]),
        "samples_per_s": batch / med["step"],
        "gflops": flops / med["step"] / 1e9,
    }


def _rate(flops: int, seconds: float, peak: float) -> str:
    if not flops or seconds <= 0:
        return "-"
    g = flops / seconds / 1e9
    return f"{g:.0f} GFLOP/s, {g / peak:.0%}"


def render(res: dict, peak: float) -> str:
    sec = res["seconds"]
    step = sec["step"]
    lines = [
        f"**{res['arch']}**, batch {res['batch']}: {step * 1e3:.2f} ms per step (fastest round; "
        f"median {res['median_step'] * 1e3:.2f}), {res['samples_per_s']:,.0f} samples/s, "
        f"{res['gflops']:.1f} GFLOP/s = {res['gflops'] / peak:.0%} of the sgemm peak "
        f"({peak:.0f} GFLOP/s)",
        "",
        "| step | forward | backward | share | forward, of peak | backward, of peak |",
        "|---|---|---|---|---|---|",
    ]
    for name in res["steps"]:
        f, b = sec[f"{name} fwd"], sec[f"{name} bwd"]
        ff, fb = res["flops"][name]
        lines.append(
            f"| {name} | {f * 1e6:,.0f} us | {b * 1e6:,.0f} us | {(f + b) / step:.0%} "
            f"| {_rate(ff, f, peak)} | {_rate(fb, b, peak)} |"
        )
    for name in ("loss", "optimizer", "other"):
        lines.append(f"| {name} | {sec[name] * 1e6:,.0f} us | | {sec[name] / step:.0%} | | |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    for var in THREAD_VARS:
        os.environ[var] = str(args.threads)
    dropped = apply_openblas(args.openblas)  # before NumPy loads OpenBLAS
    import filterbank
    from benchmarks.frameworks import numpy_blas

    print(f"filterbank from {os.path.dirname(filterbank.__file__)}; dropped {sorted(dropped)}")
    print(f"OpenBLAS: {numpy_blas()}")
    peak = sgemm_peak(args.sgemm_n)
    print(f"sgemm peak ({args.sgemm_n}^3, {args.threads} threads): {peak:.0f} GFLOP/s\n")
    results = []
    for arch in args.archs.split(","):
        res = breakdown(arch.strip(), args.batch, args.rounds, args.steps)
        res["sgemm_peak_gflops"] = peak
        results.append(res)
        print(render(res, peak) + "\n", flush=True)
    peak_after = sgemm_peak(args.sgemm_n)
    print(f"sgemm peak again at the end: {peak_after:.0f} GFLOP/s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
