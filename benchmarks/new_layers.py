"""Training-step speed of the new layers (issue #11): filterbank against PyTorch eager.

Two models, one training step each (forward, loss, backward, Adam update), batch 32:

* ``separable``: 32x32x32 input -> SeparableConv2D(64, 3, "same") -> BatchNormalization ->
  ReLU -> SeparableConv2D(64, 3, "same") -> MaxPooling2D(2) -> GlobalAveragePooling2D ->
  Dense(10, softmax), sparse categorical cross-entropy (torch: a depthwise ``Conv2d``
  with ``groups=C`` and no bias, then a 1x1 ``Conv2d``);
* ``autoencoder``: keras.io's convolutional denoising autoencoder on 28x28x1: Conv2D(32, 3,
  relu, same) -> MaxPooling2D(2, same) -> Conv2D(32, 3, relu, same) -> MaxPooling2D(2,
  same) -> Conv2DTranspose(32, 3, strides=2, relu, same) x 2 -> Conv2D(1, 3, sigmoid,
  same), binary cross-entropy (torch: ``ConvTranspose2d(padding=1, output_padding=1)``,
  the same sizes and work, its window one cell off Keras's; ``BCEWithLogits``).

Method (benchmarks/harness.py, the engineering notes' rules): each framework in its own
process with the same thread count, timed blocks alternating between them with a pause
before each, the order rotating every round; the figure is the median block. The machine
is shared and noisy: compare ratios within one run, not absolute figures across runs.

Usage:
    python -m benchmarks.new_layers [--rounds 9] [--threads 2] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks import harness

MODELS = ("separable", "autoencoder")
BATCH = 32


# ---- the worker side ----------------------------------------------------------------------
def _data(model, batch, seed):
    rng = np.random.default_rng(seed)
    if model == "separable":
        return (
            rng.standard_normal((batch, 32, 32, 32)).astype("float32"),
            rng.integers(0, 10, batch),
        )
    x = rng.random((batch, 28, 28, 1)).astype("float32")
    return x, x


def filterbank_step(model_name, batch, seed):
    import filterbank as keras
    from filterbank import layers

    keras.utils.set_random_seed(seed)
    x, y = _data(model_name, batch, seed)
    if model_name == "separable":
        model = keras.Sequential(
            [
                keras.Input(shape=(32, 32, 32)),
                layers.SeparableConv2D(64, 3, padding="same"),
                layers.BatchNormalization(),
                layers.ReLU(),
                layers.SeparableConv2D(64, 3, padding="same"),
                layers.MaxPooling2D(2),
                layers.GlobalAveragePooling2D(),
                layers.Dense(10, activation="softmax"),
            ]
        )
        loss = "sparse_categorical_crossentropy"
    else:
        model = keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),
                layers.Conv2D(32, 3, activation="relu", padding="same"),
                layers.MaxPooling2D(2, padding="same"),
                layers.Conv2D(32, 3, activation="relu", padding="same"),
                layers.MaxPooling2D(2, padding="same"),
                layers.Conv2DTranspose(32, 3, strides=2, activation="relu", padding="same"),
                layers.Conv2DTranspose(32, 3, strides=2, activation="relu", padding="same"),
                layers.Conv2D(1, 3, activation="sigmoid", padding="same"),
            ]
        )
        loss = "binary_crossentropy"
    model.compile(optimizer="adam", loss=loss)

    def step():
        return model.train_on_batch(x, y)

    return step, model.count_params()


def torch_step(model_name, batch, seed):
    import torch

    nn, F = torch.nn, torch.nn.functional
    torch.manual_seed(seed)
    x, y = _data(model_name, batch, seed)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).clone(memory_format=torch.contiguous_format)
    if model_name == "separable":
        net = nn.Sequential(
            nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False),
            nn.Conv2d(32, 64, 1),
            nn.BatchNorm2d(64, eps=1e-3, momentum=0.01),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False),
            nn.Conv2d(64, 64, 1),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(64, 10),
        )
        yt = torch.from_numpy(y)

        def loss_fn(out):
            return F.cross_entropy(out, yt)
    else:
        net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.ConvTranspose2d(32, 32, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 1, 3, padding=1),
        )
        yt = xt

        def loss_fn(out):
            return F.binary_cross_entropy_with_logits(out, yt)

    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xt))
        loss.backward()
        opt.step()
        return loss.item()

    return step, sum(p.numel() for p in net.parameters())


class Worker:
    def __init__(self, framework, threads):
        self.framework = framework
        if framework == "torch":
            import torch

            torch.set_num_threads(threads)
        self.benches = {}

    def op_hello(self):
        versions = {"numpy": np.__version__}
        if self.framework == "torch":
            import torch

            versions["torch"] = torch.__version__
        else:
            from benchmarks.frameworks import numpy_blas

            versions["blas"] = numpy_blas()
        return {"framework": self.framework, "versions": versions, "pid": os.getpid()}

    def op_setup(self, id, model, batch, seed=0, warmup=3):
        make = torch_step if self.framework == "torch" else filterbank_step
        step, params = make(model, batch, seed)
        for _ in range(warmup):
            step()
        self.benches[id] = step
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        return {"params": int(params), "step_s": sorted(times)[1]}

    def op_time(self, id, steps, per_call=False):
        step = self.benches[id]
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(steps):
            step()
        # CPU time too: on a shared machine a process that waits for a core loses wall time
        # but not CPU time (with 1 thread it is the step's own work; with more it also counts
        # threads spinning while they wait for each other).
        return {"elapsed": time.perf_counter() - t0, "cpu": time.process_time() - c0}


def worker_main(framework, threads):
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # nothing a library prints can corrupt the protocol

    def send(obj):
        proto.write(json.dumps(obj) + "\n")

    try:
        worker = Worker(framework, threads)
    except Exception as exc:
        send({"ok": False, "error": repr(exc)})
        return 1
    send({"ok": True, "ready": True})
    for line in sys.stdin:
        req = json.loads(line)
        op = req.pop("op")
        if op == "quit":
            send({"ok": True})
            break
        try:
            send({"ok": True, **getattr(worker, "op_" + op)(**req)})
        except Exception as exc:
            import traceback

            send({"ok": False, "error": traceback.format_exc(), "type": type(exc).__name__})
    return 0


# ---- the orchestrator ---------------------------------------------------------------------
class Proc(harness.WorkerProc):
    """A harness worker process running this module's worker instead of benchmarks.worker."""

    def __init__(self, framework, threads, timeout=900.0):
        self.framework, self.label, self.timeout = framework, framework, timeout
        self.errfile = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.new_layers", "--worker", framework, str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errfile,
            text=True,
            cwd=harness.ROOT,
            env=harness.worker_env(threads),
            bufsize=1,
        )
        if not self._read().get("ok"):
            raise harness.WorkerError(framework, "failed to start", self._stderr_tail())
        self.hello = self.request("hello")


def run(rounds=9, threads=2, block_s=0.6, pause=0.3, models=MODELS, log=print):
    procs = {fw: Proc(fw, threads) for fw in ("filterbank", "torch")}
    results = {
        "threads": threads,
        "rounds": rounds,
        "batch": BATCH,
        "load_at_start": os.getloadavg(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "versions": {fw: p.hello["versions"] for fw, p in procs.items()},
        "models": {},
    }
    try:
        for model in models:
            entries = []
            setup = {}
            for fw, p in procs.items():
                setup[fw] = p.request("setup", id=model, model=model, batch=BATCH)
            # The same number of steps per block for both, from the slower one's step time.
            steps = max(1, round(block_s / max(s["step_s"] for s in setup.values())))
            for fw, p in procs.items():
                entries.append(harness.Entry(fw, p, model, steps))
            blocks = harness.contest(entries, rounds, pause)
            row = {}
            for e in entries:
                if e.error is not None:
                    raise e.error
                per_step = harness.summary([b["elapsed"] / steps for b in blocks[e.key]])
                cpu = harness.summary([b["cpu"] / steps for b in blocks[e.key]])
                row[e.key] = {
                    "params": setup[e.key]["params"],
                    "step_ms": per_step["median"] * 1e3,
                    "cpu_ms": cpu["median"] * 1e3,
                    "step_ms_min": per_step["min"] * 1e3,
                    "step_ms_max": per_step["max"] * 1e3,
                    "samples_per_s": BATCH / per_step["median"],
                    "steps": steps,
                }
            row["torch_over_filterbank"] = row["torch"]["step_ms"] / row["filterbank"]["step_ms"]
            row["cpu_torch_over_filterbank"] = row["torch"]["cpu_ms"] / row["filterbank"]["cpu_ms"]
            results["models"][model] = row
            log(
                f"{model:12s} filterbank {row['filterbank']['step_ms']:7.1f} ms/step "
                f"({row['filterbank']['samples_per_s']:6.0f} samples/s, "
                f"{row['filterbank']['params']:,} params)   torch "
                f"{row['torch']['step_ms']:7.1f} ms/step ({row['torch']['samples_per_s']:6.0f}"
                f" samples/s, {row['torch']['params']:,} params)   filterbank speed = "
                f"{row['torch_over_filterbank']:.2f}x torch's (CPU time: "
                f"{row['filterbank']['cpu_ms']:.1f} vs {row['torch']['cpu_ms']:.1f} ms, "
                f"{row['cpu_torch_over_filterbank']:.2f}x)"
            )
    finally:
        for p in procs.values():
            p.close()
    results["load_at_end"] = os.getloadavg()
    return results


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        return worker_main(argv[1], int(argv[2]))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--block", type=float, default=0.6, help="seconds per timed block")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args(argv)
    results = run(args.rounds, args.threads, args.block, models=args.models)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
