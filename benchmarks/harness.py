"""The orchestrator's machinery: worker processes, alternating timed rounds, statistics.

Why this shape (see /work/shared/engineering-notes.md, "Speed"): the machine is noisy, so only
ratios measured in the same run mean anything; each framework runs in its own process (one
framework's spinning BLAS/OpenMP threads halve the other's speed in a shared process); the
timed blocks alternate, one framework at a time while the others sleep, with a pause before
each block so the previous framework's threads have stopped spinning.

Example:
    >>> w = WorkerProc("numpy", threads=2)                                  # doctest: +SKIP
    >>> w.request("setup", id="a", task="infer", arch="functional", batch=64, image=28)
    >>> entries = [Entry("numpy", w, "a", steps=10)]
    >>> contest(entries, rounds=3, pause=0.1)["numpy"]                      # 3 timed blocks
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")

# What `import <module>` loads each framework.
IMPORT_MODULE = {
    "filterbank": "filterbank",
    "torch": "torch",
    "numpy": "numpy",
    "onnxruntime": "onnxruntime",
}


class WorkerError(RuntimeError):
    """A worker answered with an error, or died; ``detail`` holds its traceback/stderr."""

    def __init__(self, label, message, detail=""):
        super().__init__(f"{label}: {message}")
        self.label, self.detail = label, detail

    def summary(self) -> str:
        """The last line of the traceback (the exception and its message), or the message."""
        lines = [ln for ln in self.detail.strip().splitlines() if ln.strip()]
        return lines[-1].strip() if lines else str(self)


# glibc returns large freed blocks to the OS (mmap threshold, heap trimming), so a later
# allocation of the same size pays a page fault per 4 KiB again. Whether that happens to a
# process depends on its history (glibc raises the threshold after freeing mmapped blocks):
# PyTorch's batch-64 inference measured ~6,000-7,500 samples/s in processes that fault and
# ~12,000-17,000 in processes that do not. "keep" fixes both thresholds at 1 GiB in every
# worker: no fresh page faults, PyTorch's fast mode every time.
MALLOC_KEEP = {"MALLOC_MMAP_THRESHOLD_": str(2**30), "MALLOC_TRIM_THRESHOLD_": str(2**30)}


def apply_malloc(mode: str) -> None:
    """Set (``keep``) or leave as they are (``default``) the glibc variables that the
    workers inherit."""
    if mode == "keep":
        os.environ.update(MALLOC_KEEP)
    elif mode != "default":
        raise ValueError(f"--malloc must be 'default' or 'keep', got {mode!r}")


OPENBLAS_PIN_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def apply_openblas(mode: str) -> dict:
    """``user`` (default): drop the variables that pin OpenBLAS to its AVX2 (Haswell) kernels,
    so the workers run the kernels a user's machine picks (AVX-512 where the CPU has it; the
    project's machines set them for old OpenBLAS builds, see the engineering notes). PyTorch and
    ONNX Runtime ignore them. ``pinned`` keeps them. Only the benchmark's own processes are
    affected: tests and CI keep the machine's settings. Returns what was removed."""
    if mode == "pinned":
        return {}
    if mode != "user":
        raise ValueError(f"--openblas must be 'user' or 'pinned', got {mode!r}")
    return {v: os.environ.pop(v) for v in OPENBLAS_PIN_VARS if v in os.environ}


def worker_env(threads: int) -> dict:
    """The environment every worker (and timed subprocess) gets: same thread counts, and this
    checkout first on the import path."""
    env = os.environ.copy()
    for var in THREAD_VARS:
        env[var] = str(threads)
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    return env


class WorkerProc:
    """One framework worker process (``python -m benchmarks.worker FRAMEWORK THREADS``)."""

    def __init__(
        self, framework: str, threads: int, label: str | None = None, timeout: float = 900.0
    ):
        self.framework, self.label, self.timeout = framework, label or framework, timeout
        self.errfile = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker", framework, str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errfile,
            text=True,
            cwd=ROOT,
            env=worker_env(threads),
            bufsize=1,
        )
        reply = self._read()
        if not reply.get("ok"):
            self.close()
            raise WorkerError(self.label, "failed to start", reply.get("error", ""))
        self.hello = self.request("hello")

    def _stderr_tail(self, n=4000) -> str:
        self.errfile.seek(0)
        return self.errfile.read()[-n:]

    def _read(self) -> dict:
        # One request, one answer line: nothing is ever left in the pipe's buffer, so select
        # on the raw pipe is safe.
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        if not ready:
            self.kill()
            raise WorkerError(
                self.label, f"no answer within {self.timeout:.0f} s", self._stderr_tail()
            )
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise WorkerError(self.label, f"worker died (exit code {code})", self._stderr_tail())
        return json.loads(line)

    def request(self, op: str, **kwargs) -> dict:
        if self.proc.poll() is not None:
            raise WorkerError(self.label, "worker is not running", self._stderr_tail())
        self.proc.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if not reply.get("ok"):
            raise WorkerError(self.label, f"{op} failed", reply.get("error", ""))
        return reply

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self.errfile.close()


@dataclass
class Entry:
    """One participant of a contest: a bench living in a worker, timed ``steps`` calls at a
    time (``per_call``: each call timed too, for latencies)."""

    key: object
    worker: WorkerProc
    bench_id: str
    steps: int
    per_call: bool = False
    blocks: list = field(default_factory=list)
    error: WorkerError | None = None


def contest(entries: list[Entry], rounds: int, pause: float, on_round=None) -> dict:
    """Time every entry once per round, one at a time, with ``pause`` seconds of sleep before
    each block. The order rotates each round so no entry always follows the same one. An entry
    whose worker fails is dropped from the remaining rounds (``entry.error`` says why).

    Returns {key: [reply of each block]} (reply: elapsed seconds, and calls if per_call).
    """
    n = len(entries)
    for r in range(rounds):
        for e in entries[r % n :] + entries[: r % n]:
            if e.error is not None:
                continue
            time.sleep(pause)
            try:
                e.blocks.append(
                    e.worker.request("time", id=e.bench_id, steps=e.steps, per_call=e.per_call)
                )
            except WorkerError as exc:
                e.error = exc
        if on_round:
            on_round(r)
    return {e.key: e.blocks for e in entries}


def summary(values) -> dict | None:
    """median, min, max and count of some numbers (None when there are none)."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    n = len(values)
    med = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
    return {"median": med, "min": values[0], "max": values[-1], "n": n}


def linear_fit(xs, ys) -> dict | None:
    """Least-squares y = a + b x, with R^2 (pure Python: the orchestrator does no BLAS work)."""
    pts = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    if len(pts) < 2:
        return None
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return None
    b = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    a = my - b * mx
    ss_tot = sum((p[1] - my) ** 2 for p in pts)
    ss_res = sum((p[1] - a - b * p[0]) ** 2 for p in pts)
    return {"intercept": a, "slope": b, "r2": 1 - ss_res / ss_tot if ss_tot else 1.0, "points": n}


def timed_import(module: str | None, threads: int) -> float:
    """Wall seconds of a fresh ``python -c "import module"`` (``pass`` when module is None)."""
    code = "pass" if module is None else f"import {module}"
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=worker_env(threads),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0
