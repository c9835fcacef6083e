"""Where filterbank's training step goes: each engine step's forward and backward, timed.

For each model (the benchmarked ones, built by ``benchmarks/frameworks.py`` as the harness
builds them, RMSprop, batch 64 by default): every step the graph engine runs
(``Graph.runs``: fused conv + pool steps, layers), its forward and its backward are timed
with ``time.perf_counter`` around the calls; so are the loss, the optimizer update and the
whole ``train_on_batch``. The rest ("other") is the step's own Python, input checks and
metrics. Timers cost ~1 us a call (~30 calls a step), well under 1% of a step.

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

from benchmarks.harness import THREAD_VARS  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    p.add_argument("--steps", type=int, default=10, help="steps per round (default 10)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--archs", default="functional,cifar", help="models (default functional,cifar)")
    p.add_argument("--json", type=Path, help="also write the numbers here")
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


def breakdown(arch: str, batch: int, rounds: int, steps: int) -> dict:
    from benchmarks.archs import ARCH_INPUT, train_flops
    from benchmarks.frameworks import FilterbankAdapter, make_data

    image, channels = ARCH_INPUT[arch]
    model = FilterbankAdapter(2).build(arch, image, 0)
    x, y = make_data(batch, image, 0, channels)
    model.train_on_batch(x, y)  # builds, compiles, plans
    graph = model._graph
    timers = _Timers()
    names = []
    for i, run in enumerate(graph.runs):
        name = f"{i}: {_label(run)}"
        names.append(name)
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
        "seconds": med,
        "median_step": statistics.median(per_round["step"]),
        "samples_per_s": batch / med["step"],
        "gflops": flops / med["step"] / 1e9,
    }


def render(res: dict) -> str:
    sec = res["seconds"]
    step = sec["step"]
    lines = [
        f"**{res['arch']}**, batch {res['batch']}: {step * 1e3:.2f} ms per step (fastest round; "
        f"median {res['median_step'] * 1e3:.2f}), {res['samples_per_s']:,.0f} samples/s, "
        f"{res['gflops']:.1f} GFLOP/s",
        "",
        "| step | forward | backward | share |",
        "|---|---|---|---|",
    ]
    for name in res["steps"]:
        f, b = sec[f"{name} fwd"], sec[f"{name} bwd"]
        lines.append(f"| {name} | {f * 1e6:,.0f} us | {b * 1e6:,.0f} us | {(f + b) / step:.0%} |")
    for name in ("loss", "optimizer", "other"):
        lines.append(f"| {name} | {sec[name] * 1e6:,.0f} us | | {sec[name] / step:.0%} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    for var in THREAD_VARS:
        os.environ[var] = str(args.threads)
    import filterbank

    print(f"filterbank from {os.path.dirname(filterbank.__file__)}\n")
    results = []
    for arch in args.archs.split(","):
        res = breakdown(arch.strip(), args.batch, args.rounds, args.steps)
        results.append(res)
        print(render(res) + "\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
