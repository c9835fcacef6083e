"""Accuracy figure 1: the seed's Sequential MNIST recipe on the bundled digits, seeds 0, 1, 2.

The recipe is the seed listing, unchanged: the Sequential CNN of worked example 9 (93,322
parameters), ``compile(optimizer="rmsprop", loss="categorical_crossentropy",
metrics=["accuracy"])`` on one-hot labels, images ``x / 255`` as float32 (n, 28, 28, 1),
``fit(epochs=5, batch_size=64)``. Data: the bundled 8,000/2,000 split of real MNIST digits
(``mnist.load_data(source="bundled")``). The bar is a mean test accuracy >= 96% over seeds 0-2;
PyTorch with the same recipe and Keras's initialisation scored 94.3, 96.5, 97.4 (mean 96.1).

Writes ``benchmarks/results/accuracy_mnist.json`` and ``.md`` (the latest run) and prints them.

Examples:
    python benchmarks/accuracy_mnist.py                   # seeds 0,1,2, 5 epochs (several minutes)
    python benchmarks/accuracy_mnist.py --seeds 0 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import filterbank as keras  # noqa: E402
from benchmarks.report import machine_info  # noqa: E402
from filterbank import zoo  # noqa: E402
from filterbank.cli.report import EpochTimer  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BAR = 0.96
PYTORCH_REFERENCE = {0: 0.943, 1: 0.965, 2: 0.974}


def provenance_lines(result: dict) -> list[str]:
    """Where and when a result was measured: the machine, its load, the commit."""
    m = result["machine"]
    return [
        f"Machine: {m['cpu_model']}, {m['usable_cores']} usable cores, load average "
        f"{m['loadavg_start'][0]:.2f} at the start and {result['loadavg_end'][0]:.2f} at the end "
        "(on a shared machine timings are pessimistic; the fastest epoch is the best guide to an "
        "unloaded machine).",
        f"filterbank commit: {result['commit']}; finished {result['date']}.",
    ]


def git_commit() -> str | None:
    """The checkout's commit (with '+dirty' when files differ), or None outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty.strip() else "")


def run_recipe(arch, data, loss, seed, epochs, batch_size, verbose=2, return_model=False):
    """Train ``arch`` with rmsprop on ``data`` from seed ``seed``; test accuracy and timings
    (a dict; with ``return_model=True``, the dict and the trained model).

    Args:
        arch: a :mod:`filterbank.zoo` name.
        data: ``((x_train, y_train), (x_test, y_test))``: float32 (n, h, w, c) images and
            integer labels (n,).
        loss: "categorical_crossentropy" (labels one-hot encoded here) or
            "sparse_categorical_crossentropy" (integer labels as they are).
    """
    (x_train, y_train), (x_test, y_test) = data
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    if loss == "categorical_crossentropy":
        t_train = keras.utils.to_categorical(y_train, num_classes)
        t_test = keras.utils.to_categorical(y_test, num_classes)
    else:
        t_train, t_test = y_train.astype(np.int64), y_test.astype(np.int64)
    keras.utils.set_random_seed(seed)
    model = zoo.build(arch, x_train.shape[1:], num_classes)
    model.compile(optimizer="rmsprop", loss=loss, metrics=["accuracy"])
    timer = EpochTimer()
    start = time.perf_counter()
    history = model.fit(
        x_train, t_train, epochs=epochs, batch_size=batch_size, verbose=verbose, callbacks=[timer]
    )
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    logs = model.evaluate(x_test, t_test, batch_size=256, verbose=0, return_dict=True)
    eval_seconds = time.perf_counter() - start
    result = {
        "seed": seed,
        "params": model.count_params(),
        "train_samples": len(x_train),
        "test_accuracy": float(logs["accuracy"]),
        "test_loss": float(logs["loss"]),
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        "epoch_seconds": [round(s, 3) for s in timer.seconds],
        "train_seconds": round(train_seconds, 3),
        "train_samples_per_second": round(len(x_train) * len(timer.seconds) / train_seconds, 1),
        "evaluate_seconds": round(eval_seconds, 3),
    }
    return (result, model) if return_model else result


def load_bundled():
    """The bundled 8,000/2,000 digits as float32 (n, 28, 28, 1) in [0, 1] and uint8 labels."""
    from filterbank.datasets import mnist

    (x_train, y_train), (x_test, y_test) = mnist.load_data(source="bundled")
    # As the seed listing: reshape to (n, 28, 28, 1), astype('float32') / 255.
    return (
        (x_train[..., None].astype("float32") / 255, y_train),
        (x_test[..., None].astype("float32") / 255, y_test),
    )


def _markdown(result: dict) -> str:
    lines = [
        "# Accuracy: seed Sequential recipe on the bundled MNIST digits",
        "",
        f"Recipe: {result['recipe']}.",
        f"Data: {result['data']}.",
        "",
        "| seed | test accuracy | PyTorch (same recipe) | test loss | s/epoch (fastest, median) "
        "| samples/s (fastest epoch, overall) |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        ref = PYTORCH_REFERENCE.get(r["seed"])
        lines.append(
            f"| {r['seed']} | {100 * r['test_accuracy']:.2f}% | "
            f"{'-' if ref is None else f'{100 * ref:.1f}%'} | {r['test_loss']:.4f} | "
            f"{min(r['epoch_seconds']):.1f}, {float(np.median(r['epoch_seconds'])):.1f} | "
            f"{r['train_samples'] / min(r['epoch_seconds']):,.0f}, "
            f"{r['train_samples_per_second']:,.0f} |"
        )
    verdict = "passes" if result["passes"] else "FAILS"
    lines += [
        "",
        f"Mean test accuracy: **{100 * result['mean_test_accuracy']:.2f}%** (bar >= "
        f"{100 * BAR:.0f}%: {verdict}; PyTorch mean 96.1%).",
        "",
        *provenance_lines(result),
        "",
    ]
    return "\n".join(lines)


def render(json_path: Path) -> str:
    """Re-render the Markdown of a saved result (e.g. after changing the table)."""
    result = json.loads(Path(json_path).read_text())
    for r in result["runs"]:
        r.setdefault("train_samples", 8000)
    return _markdown(result)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="benchmarks/accuracy_mnist.py", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the result files")
    p.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]

    machine, commit = machine_info(), git_commit()  # before the run: files may change
    data = load_bundled()
    runs = []
    for seed in seeds:
        print(f"--- seed {seed}", flush=True)
        r = run_recipe(
            "seed-sequential",
            data,
            "categorical_crossentropy",
            seed,
            args.epochs,
            args.batch_size,
            verbose=args.verbose,
        )
        runs.append(r)
        print(
            f"seed {seed}: test accuracy {100 * r['test_accuracy']:.2f}% "
            f"(loss {r['test_loss']:.4f}); epochs took "
            f"{', '.join(f'{s:.1f}' for s in r['epoch_seconds'])} s",
            flush=True,
        )
    mean = float(np.mean([r["test_accuracy"] for r in runs]))
    result = {
        "figure": "accuracy_mnist",
        "recipe": (
            f"seed Sequential CNN ({runs[0]['params']:,} params), rmsprop (Keras "
            f"defaults), categorical_crossentropy on one-hot labels, batch "
            f"{args.batch_size}, {args.epochs} epochs, images x/255 float32"
        ),
        "data": (
            f"bundled MNIST subset, {len(data[0][0]):,} train / {len(data[1][0]):,} test "
            "(real MNIST training digits 0-9999, split 80/20 per digit)"
        ),
        "seeds": seeds,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "runs": runs,
        "mean_test_accuracy": mean,
        "bar": BAR,
        "passes": mean >= BAR,
        "pytorch_reference": {str(k): v for k, v in PYTORCH_REFERENCE.items()},
        "machine": machine,
        "loadavg_end": list(os.getloadavg()),
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "accuracy_mnist.json").write_text(json.dumps(result, indent=2) + "\n")
    markdown = _markdown(result)
    (args.out / "accuracy_mnist.md").write_text(markdown)
    print()
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
