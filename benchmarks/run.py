"""Benchmark filterbank against PyTorch on this machine: ``python benchmarks/run.py``.

Each framework runs in its own worker process; timed blocks alternate between them, and every
ratio is taken within a round. Writes ``benchmarks/results/<date>-<host>.json`` and
``benchmarks/results/latest.md`` (and prints the Markdown). See BENCHMARKS.md.

Examples:
    python benchmarks/run.py                          # every figure (several minutes)
    python benchmarks/run.py --quick --only train     # a fast look at the training step
    python benchmarks/run.py --only import,rss --threads 2
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.figures import FIGURES, Session  # noqa: E402
from benchmarks.harness import THREAD_VARS, apply_malloc, apply_openblas  # noqa: E402
from benchmarks.report import machine_info, render_markdown  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def _ints(text):
    return [int(t) for t in text.split(",") if t.strip()]


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="few short rounds and fewer scaling points (smoke test, development)",
    )
    p.add_argument(
        "--rounds", type=int, help="alternating rounds per figure (default 15; --quick: 3)"
    )
    p.add_argument(
        "--only",
        default=",".join(FIGURES),
        help=f"comma-separated figures to run, from {','.join(FIGURES)} (default all)",
    )
    p.add_argument("--threads", type=int, default=2, help="threads per framework (default 2)")
    p.add_argument("--block", type=float, help="seconds per timed block (default 0.3; quick 0.1)")
    p.add_argument(
        "--pause", type=float, help="seconds of sleep before each block (default 0.3; quick 0.1)"
    )
    p.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--subject",
        default="filterbank",
        help="the framework measured (default filterbank; 'numpy' is a stand-in)",
    )
    p.add_argument(
        "--baseline",
        default="torch",
        help="the framework compared with (default torch; 'numpy' is a stand-in)",
    )
    p.add_argument(
        "--torch-layout",
        default="auto",
        choices=["auto", "nchw", "channels_last"],
        help="torch memory format; auto probes both once per task and model and "
        "keeps the faster (default)",
    )
    p.add_argument(
        "--malloc",
        default="default",
        choices=["default", "keep"],
        help="glibc allocator in the workers: 'default' (as users run), or 'keep' "
        "(freed memory stays in the process: no fresh page faults; PyTorch's fast "
        "mode)",
    )
    p.add_argument(
        "--openblas",
        default="user",
        choices=["user", "pinned"],
        help="'user' (default): unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in the "
        "workers, so NumPy runs the kernels a user's CPU gets (AVX-512 here); "
        "'pinned': keep this machine's AVX2 pin",
    )
    p.add_argument(
        "--models",
        default="functional,sequential,cifar",
        help="models of the train/infer/latency figures, from functional, "
        "sequential, cifar (default all three)",
    )
    p.add_argument("--no-ort", action="store_true", help="leave ONNX Runtime out even if installed")
    p.add_argument("--sgemm-n", type=int, default=4096, help="matmul size for the peak figure")
    p.add_argument(
        "--rss-samples",
        type=int,
        default=8000,
        help="samples of the fit in the rss figure (default 8000)",
    )
    p.add_argument(
        "--import-rounds", type=int, help="fresh imports per module (default 7; quick 3)"
    )
    p.add_argument("--scaling-batches", type=_ints, help="default 1,8,64,256,512 (quick 1,8,64)")
    p.add_argument("--scaling-images", type=_ints, help="default 28,56,112,224 (quick 28,56)")
    p.add_argument(
        "--scaling-image-batch",
        type=int,
        default=16,
        help="batch size of the image-size series (default 16)",
    )
    p.add_argument(
        "--scaling-rounds", type=int, help="rounds per scaling point (default 3; quick 2)"
    )
    p.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="results folder (default benchmarks/results)"
    )
    a = p.parse_args(argv)
    q = a.quick
    a.rounds = a.rounds or (3 if q else 15)
    a.block = a.block if a.block is not None else (0.1 if q else 0.3)
    a.pause = a.pause if a.pause is not None else (0.1 if q else 0.3)
    a.import_rounds = a.import_rounds or (3 if q else 7)
    a.scaling_batches = a.scaling_batches or ([1, 8, 64] if q else [1, 8, 64, 256, 512])
    a.scaling_images = a.scaling_images or ([28, 56] if q else [28, 56, 112, 224])
    a.scaling_rounds = a.scaling_rounds or (2 if q else 3)
    a.only = [f.strip() for f in a.only.split(",") if f.strip()]
    from benchmarks.archs import ARCH_INPUT

    a.models = [m.strip() for m in a.models.split(",") if m.strip()]
    unknown = [m for m in a.models if m not in ARCH_INPUT]
    if unknown:
        p.error(f"--models: unknown model(s) {unknown}; choose from {sorted(ARCH_INPUT)}")
    unknown = [f for f in a.only if f not in FIGURES]
    if unknown:
        p.error(
            f"unknown figure(s) {', '.join(unknown)} in --only; choose from {', '.join(FIGURES)}"
        )
    if a.rounds < 1 or a.threads < 1:
        p.error("--rounds and --threads must be at least 1")
    return a


def _torch_layouts(figures, baseline_label):
    found = {}
    for res in figures.values():
        for case in res.get("cases", []) + res.get("points", []):
            info = case["frameworks"].get(baseline_label, {}).get("info", {})
            if "layout" in info:
                found.setdefault(f"{case['task']}/{case['arch']}", info["layout"])
    return found


def main(argv=None):
    args = parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    for var in THREAD_VARS:  # the orchestrator does no numeric work, but stay consistent
        os.environ.setdefault(var, str(args.threads))
    apply_malloc(args.malloc)
    unpinned = apply_openblas(args.openblas)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    now = datetime.datetime.now()
    machine = machine_info()
    machine["openblas_vars_unset"] = unpinned
    sess = Session(args, log)
    figures = {}
    try:
        for name in args.only:
            figures[name] = FIGURES[name](sess)
    finally:
        sess.close()
    machine["loadavg_end"] = list(os.getloadavg())
    results = {
        "date": now.strftime("%Y-%m-%d %H:%M:%S"),
        "command": shlex.join(["python", "benchmarks/run.py", *argv]),
        "machine": machine,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "workers": sess.hellos,
        "torch_layouts": _torch_layouts(figures, sess.label("baseline")),
        "figures": figures,
        "errors": sess.errors,
        "wall_s": time.perf_counter() - t0,
    }
    md = render_markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"{now.strftime('%Y-%m-%d-%H%M%S')}-{machine['host']}"
    json_path = args.out / f"{stem}.json"
    json_path.write_text(json.dumps(results, indent=1))
    (args.out / "latest.md").write_text(md)
    print(md)
    log(f"wrote {json_path} and {args.out / 'latest.md'}")
    return 1 if sess.errors else 0


if __name__ == "__main__":
    sys.exit(main())
